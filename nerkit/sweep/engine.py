"""Running a sweep: one Optuna study, trials claimed one at a time, N training processes.

The study lives in Optuna's storage (SQLite in the sweep folder by default, or any URL
Optuna takes), so any number of ``nerkit sweep`` commands (on this machine or others)
share it. Each trial is a subprocess (``python -m nerkit.sweep.trial``) training into
``DIR/trials/NNNN/``; it reports its evaluations to the study (for pruning) and records its
result itself, so the study stays right if this process dies.

Claims. With the grid sampler every point is put in the study's queue once (``point``
attribute; a point with a finished, running or queued trial is never queued again) and
workers only take queued trials. Claiming runs under a file lock in the sweep folder, and
a claimed point that another trial already covers is dropped (marked ``duplicate``), so
two workers never train the same point.

Kills. A running trial whose process is gone (same host: its pid is dead; other hosts: no
heartbeat for ``GRACE`` seconds) is marked failed (``outcome = killed``, never counted) and
queued again with the same values and folder, where it resumes from its last checkpoint.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

from ..errors import ConfigError
from .components import require_optuna
from .plan import SweepPlan

DB_NAME = "sweep.db"
LOCK_NAME = ".claim.lock"
TRIALS = "trials"
GRACE = 600.0  # seconds without a heartbeat after which another host's trial counts as dead
HEARTBEAT = 30.0  # seconds between a trial's heartbeats
MAX_ATTEMPTS = 3  # a run killed this many times is given up (outcome "error")
KILLED_CODES = {130, 137, 143, -signal.SIGKILL, -signal.SIGTERM, -signal.SIGINT}
STORAGE_ENV = "NERKIT_SWEEP_STORAGE"


def default_storage(output: Path) -> str:
    return f"sqlite:///{Path(output).resolve() / DB_NAME}"


def open_storage(url: str) -> Any:
    """Optuna's storage at ``url``; one ConfigError if it cannot be opened or reached."""
    optuna = require_optuna()
    kwargs: Dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs = {"connect_args": {"timeout": 120}}
    elif url.startswith("postgresql"):
        kwargs = {"connect_args": {"connect_timeout": 10}}
    try:
        import logging

        logging.getLogger("optuna").setLevel(logging.WARNING)
        return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    except Exception as err:  # sqlalchemy's errors: bad URL, missing driver, no server
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(
            f"--storage {url}: can't open the study storage ({type(err).__name__}: {detail}). "
            "Pass a URL Optuna takes (sqlite:///path/sweep.db, postgresql://user:pass@host/db, "
            "mysql://...) of a server this machine reaches, with its driver installed; "
            "without --storage the study is a SQLite file in the sweep folder."
        ) from None


def open_study(plan: SweepPlan, storage: Any) -> Any:
    optuna = require_optuna()
    return optuna.create_study(
        storage=storage,
        study_name=plan.study,
        direction=plan.direction,
        sampler=plan.sampler.build(),
        pruner=plan.pruner(),
        load_if_exists=True,
    )


@contextlib.contextmanager
def claim_lock(output: Path) -> Iterator[None]:
    """Exclusive among the processes of this machine that claim trials of this sweep."""
    with open(Path(output) / LOCK_NAME, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _state(optuna: Any, name: str) -> Any:
    return getattr(optuna.trial.TrialState, name)


def _is_stale(trial: Any, now: float) -> bool:
    attrs = trial.user_attrs
    if attrs.get("host") == socket.gethostname():
        return not pid_alive(attrs.get("pid"))
    beat = attrs.get("heartbeat")
    if beat is None and trial.datetime_start is not None:
        beat = trial.datetime_start.timestamp()
    return beat is not None and now - float(beat) > GRACE


def fail_stale(study: Any, plan: SweepPlan) -> List[int]:
    """Mark running trials whose process is gone as killed and queue them again."""
    optuna = require_optuna()
    now = time.time()
    stale = [
        t.number
        for t in study.get_trials(deepcopy=False)
        if t.state == _state(optuna, "RUNNING") and _is_stale(t, now)
    ]
    for number in stale:
        mark_killed(study, plan, number)
    return stale


def mark_killed(study: Any, plan: SweepPlan, number: int) -> None:
    """A running trial whose process died: failed (``outcome = killed``, never counted), and
    queued again with the same values and folder (it resumes from its last checkpoint);
    given up (``outcome = error``) after MAX_ATTEMPTS kills."""
    trials = study.get_trials(deepcopy=False)
    trial = next(t for t in trials if t.number == number)
    run = trial.user_attrs.get("run", trial.number)
    kills = sum(
        1
        for t in trials
        if t.user_attrs.get("run") == run and t.user_attrs.get("outcome") == "killed"
    )
    outcome = "killed" if kills + 1 < MAX_ATTEMPTS else "error"
    error = "the trial's process died" + ("" if outcome == "killed" else f" {MAX_ATTEMPTS} times")
    _finish(study, number, "FAIL", outcome=outcome, error=error)
    if outcome != "killed":
        return
    point = trial.user_attrs.get("point")
    params = dict(trial.params)
    points = plan.points() if plan.sampler.grid else []
    if point is not None and point < len(points):
        params = points[point]
    if params:
        attrs = {"run": run, "retry_of": number}
        if point is not None:
            attrs["point"] = point
        study.enqueue_trial(params, user_attrs=attrs)


def _finish(study: Any, number: int, state: str, **attrs: Any) -> None:
    optuna = require_optuna()
    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    for key, value in attrs.items():
        study._storage.set_trial_user_attr(trial_id, key, value)
    with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError, ValueError, RuntimeError):
        study.tell(number, state=_state(optuna, state))


def queue_grid(study: Any, plan: SweepPlan) -> int:
    """Queue each grid point no trial covers (finished, running or queued); how many."""
    optuna = require_optuna()
    live = {_state(optuna, s) for s in ("COMPLETE", "PRUNED", "RUNNING", "WAITING")}
    covered = {
        t.user_attrs.get("point") for t in study.get_trials(deepcopy=False) if t.state in live
    }
    queued = 0
    for i, params in enumerate(plan.points()):
        if i not in covered:
            study.enqueue_trial(params, user_attrs={"point": i, "run": i})
            queued += 1
    return queued


def _counted(trial: Any, optuna: Any) -> bool:
    """Trials that use up a random/TPE sweep's budget: finished, running, or failed by an error."""
    if trial.state in (_state(optuna, "COMPLETE"), _state(optuna, "PRUNED")):
        return True
    if trial.state == _state(optuna, "RUNNING"):
        return True
    return trial.state == _state(optuna, "FAIL") and trial.user_attrs.get("outcome") == "error"


def claim(study: Any, plan: SweepPlan) -> Optional[Any]:
    """The next trial for this machine, its values suggested; None when none is left.
    Call under :func:`claim_lock`."""
    optuna = require_optuna()
    fail_stale(study, plan)
    while True:
        trials = study.get_trials(deepcopy=False)
        waiting = [t for t in trials if t.state == _state(optuna, "WAITING")]
        if plan.sampler.grid and not waiting:
            return None
        if not plan.sampler.grid and sum(_counted(t, optuna) for t in trials) >= plan.trials:
            return None
        trial = study.ask()
        attrs = trial.user_attrs
        if plan.sampler.grid:
            point = attrs.get("point")
            if point is None:  # the queue emptied between the look and the ask (other hosts)
                _finish(study, trial.number, "FAIL", outcome="surplus")
                return None
            busy = {_state(optuna, s) for s in ("COMPLETE", "PRUNED", "RUNNING")}
            if any(
                t.number != trial.number and t.user_attrs.get("point") == point and t.state in busy
                for t in study.get_trials(deepcopy=False)
            ):
                _finish(study, trial.number, "FAIL", outcome="duplicate")
                continue
        for space in plan.spaces:
            space.suggest(trial)
        trial.set_user_attr("run", attrs.get("run", trial.number))
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("heartbeat", time.time())
        return trial


def trial_dir(output: Path, run: int) -> Path:
    return Path(output) / TRIALS / f"{run:04d}"


def devices(workers: int) -> List[Optional[str]]:
    """What each worker slot sees: one GPU each when several are visible, else all."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids: List[str]
    if visible is not None:
        ids = [x for x in visible.split(",") if x.strip()]
    else:
        try:
            import torch

            ids = [str(i) for i in range(torch.cuda.device_count())]
        except Exception:  # no torch CUDA: CPU slots
            ids = []
    if len(ids) < 2:
        return [None] * workers
    return [ids[i % len(ids)] for i in range(workers)]


@dataclass
class Slot:
    process: subprocess.Popen
    number: int
    run: int
    directory: Path
    log: Any


def run_sweep(
    plan: SweepPlan,
    output: Path,
    workers: int = 1,
    storage_url: Optional[str] = None,
    echo: Callable[[str], None] = print,
    poll: float = 0.2,
) -> Dict[str, Any]:
    """Run the sweep's remaining trials with ``workers`` processes; its summary rows."""
    from .summary import write_summary

    if workers < 1:
        raise ConfigError(f"--workers: must be at least 1, got {workers}.")
    output = Path(output).resolve()
    output.mkdir(parents=True, exist_ok=True)
    _write_plan(plan, output)
    url = storage_url or default_storage(output)
    storage = open_storage(url)
    study = open_study(plan, storage)
    with claim_lock(output):
        fail_stale(study, plan)
        if plan.sampler.grid:
            queue_grid(study, plan)
    threads = max(1, (os.cpu_count() or 1) // workers)
    gpus = devices(workers)
    slots: Dict[int, Optional[Slot]] = {i: None for i in range(workers)}
    started = 0
    changed = True  # claim again only after a start or after a trial ended
    try:
        while True:
            for i in slots:
                if slots[i] is not None or not changed:
                    continue
                with claim_lock(output):
                    trial = claim(study, plan)
                if trial is None:
                    break
                slots[i] = _spawn(plan, output, trial, url, threads, gpus[i])
                started += 1
                echo(
                    f"ℹ trial {slots[i].run:04d} started: "
                    + ", ".join(f"{k} = {v}" for k, v in trial.params.items())
                )
            changed = False
            busy = [s for s in slots.values() if s is not None]
            if not busy:
                break
            time.sleep(poll)
            for i, slot in list(slots.items()):
                if slot is not None and slot.process.poll() is not None:
                    echo(_finished(study, plan, output, slot))
                    changed = True
                    slots[i] = None
    except BaseException:  # Ctrl-C, a kill: stop the trials; they resume on the next run
        for slot in slots.values():
            if slot is not None and slot.process.poll() is None:
                slot.process.terminate()
        for slot in slots.values():
            if slot is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    slot.process.wait(timeout=30)
                slot.log.close()
        with contextlib.suppress(Exception), claim_lock(output):
            fail_stale(study, plan)
        raise
    rows = write_summary(study, plan, output)
    return {"started": started, "rows": rows, "storage": url}


def _write_plan(plan: SweepPlan, output: Path) -> None:
    info = {
        "config": str(plan.config_path.resolve()),
        "overrides": plan.overrides,
        "cwd": os.getcwd(),
        "study": plan.study,
        "keys": plan.keys,
        "seed_key": plan.seed_key,
        "metric": plan.metric,
        "direction": plan.direction,
        "sweep": plan.section,
    }
    path = output / "sweep.json"
    if path.exists():
        old = json.loads(path.read_text(encoding="utf8"))
        if (old.get("study"), old.get("sweep")) != (info["study"], info["sweep"]):
            raise ConfigError(
                f"{output} holds another sweep (of {old.get('config')}, study "
                f"{old.get('study')!r}, [sweep] {json.dumps(old.get('sweep'))}); its trials and "
                "grid points would not match this one's. Give this sweep another --output folder."
            )
    path.write_text(json.dumps(info, indent=2, ensure_ascii=False), encoding="utf8")


def _spawn(
    plan: SweepPlan, output: Path, trial: Any, url: str, threads: int, gpu: Optional[str]
) -> Slot:
    from .plan import write_config

    run = trial.user_attrs["run"]
    directory = trial_dir(output, run)
    directory.mkdir(parents=True, exist_ok=True)
    params = dict(trial.params)
    write_config(plan.trial_config(params), directory / "config.cfg")
    info = {"number": trial.number, "trial_id": trial._trial_id, "run": run, "params": params}
    info["point"] = trial.user_attrs.get("point")
    (directory / "trial.json").write_text(json.dumps(info, indent=2), encoding="utf8")
    env = dict(os.environ)
    env[STORAGE_ENV] = url
    env.setdefault("OMP_NUM_THREADS", str(threads))
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    log = open(directory / "trial.log", "a", encoding="utf8")
    process = subprocess.Popen(
        [sys.executable, "-m", "nerkit.sweep.trial", str(output), str(run)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return Slot(process, trial.number, run, directory, log)


def _finished(study: Any, plan: SweepPlan, output: Path, slot: Slot) -> str:
    """Record a trial process's end where it could not (it died); a line for the console."""
    slot.log.close()
    optuna = require_optuna()
    code = slot.process.returncode
    trial = study._storage.get_trial(
        study._storage.get_trial_id_from_study_id_trial_number(study._study_id, slot.number)
    )
    name = f"trial {slot.run:04d}"
    if trial.state == _state(optuna, "RUNNING") and code in KILLED_CODES:
        with claim_lock(output):
            mark_killed(study, plan, slot.number)
        return f"⚠ {name} was killed (exit code {code}); it runs again from its last checkpoint."
    if trial.state == _state(optuna, "RUNNING"):
        _finish(
            study,
            slot.number,
            "FAIL",
            outcome="error",
            error=f"the trial process exited with code {code}; see {slot.directory / 'trial.log'}",
        )
        trial = study._storage.get_trial(trial._trial_id)
    if trial.state == _state(optuna, "COMPLETE"):
        return f"✔ {name} finished: {trial.value:.4f}"
    if trial.state == _state(optuna, "PRUNED"):
        return f"ℹ {name} pruned at step {trial.last_step}"
    error = trial.user_attrs.get("error", "")
    return f"✘ {name} failed: {error}"
