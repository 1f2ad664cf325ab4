"""One trial of a sweep, in its own process: ``python -m nerkit.sweep.trial SWEEP_DIR RUN``.

The sweep process claimed the trial and wrote ``SWEEP_DIR/trials/RUN/trial.json``; this
process trains the trial's config into that folder as ``nerkit train`` does (resuming from
``model-last`` when an earlier attempt left a checkpoint), reports each evaluation's metric
to the study (Optuna prunes there), and records the result in the study and in
``result.json``. The storage URL comes in the environment (``NERKIT_SWEEP_STORAGE``), not
on the command line, where a password would show.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Dict, List

from ..errors import NerkitError
from .components import require_optuna
from .engine import HEARTBEAT, STORAGE_ENV, open_storage, trial_dir
from .plan import resolve_pruner, trial_config


class TrialPruned(Exception):
    """Raised from the trial's logger when Optuna's pruner stops the trial."""


class Reporter:
    """A training logger (``log_eval`` only) that reports each evaluation to the trial."""

    def __init__(self, trial: Any, metric: str) -> None:
        self.trial = trial
        self.metric = metric

    def log_step(self, step: int, values: Dict[str, Any]) -> None:
        pass

    def progress(self, total: int, initial: int = 0) -> Any:
        from ..training.loggers import StepProgress

        return StepProgress()

    def log_eval(self, row: Dict[str, Any]) -> None:
        self.trial.report(float(row[self.metric]), int(row["step"]))
        if self.trial.should_prune():
            raise TrialPruned(f"pruned at step {row['step']}")

    def close(self) -> None:
        pass


def attach_reporter(trainer: Any, reporter: Reporter) -> None:
    """The trainer's loggers plus the reporter (the config, and so the saved models' configs,
    stay as the trial's; the reporter holds the study's storage)."""
    from ..training.loggers import MultiLogger

    trainer.logger = MultiLogger([trainer.logger, reporter])


def best_value(history: List[Dict[str, Any]], metric: str, direction: str) -> float:
    values = [float(row[metric]) for row in history if row.get(metric) is not None]
    if not values:
        raise NerkitError(f"the trial evaluated nothing, so it has no {metric}.")
    return max(values) if direction == "maximize" else min(values)


def main(output: Path, run: int) -> int:
    optuna = require_optuna()
    from ..training.loop import Trainer

    directory = trial_dir(output, run)
    sweep = json.loads((output / "sweep.json").read_text(encoding="utf8"))
    info = json.loads((directory / "trial.json").read_text(encoding="utf8"))
    storage = open_storage(os.environ[STORAGE_ENV])
    study = optuna.load_study(
        study_name=sweep["study"], storage=storage, pruner=resolve_pruner(sweep["sweep"])()
    )
    trial = optuna.trial.Trial(study, info["trial_id"])
    trial.set_user_attr("pid", os.getpid())
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT):
            try:
                trial.set_user_attr("heartbeat", time.time())
            except Exception:  # the trial was finished meanwhile
                return

    threading.Thread(target=beat, daemon=True).start()
    os.chdir(sweep["cwd"])  # the command line's relative paths are relative to it
    result: Dict[str, Any] = {"run": run, "number": info["number"], "params": info["params"]}
    result["started"] = time.time()
    try:
        cfg = trial_config(Path(sweep["config"]), {**sweep["overrides"], **info["params"]})
        resume = directory if (directory / "model-last" / "training_state").exists() else None
        trainer = Trainer(cfg, directory, resume)
        attach_reporter(trainer, Reporter(trial, sweep["metric"]))
        outcome = trainer.run()
        value = best_value(outcome.history, sweep["metric"], sweep["direction"])
        result.update(state="complete", value=value, best_step=outcome.best_step)
        result["resumed"] = resume is not None
        _write(directory, result)
        stop.set()
        study.tell(info["number"], value)
        return 0
    except TrialPruned as err:
        result.update(state="pruned", reason=str(err))
        _write(directory, result)
        stop.set()
        study.tell(info["number"], state=optuna.trial.TrialState.PRUNED)
        return 0
    except KeyboardInterrupt:
        return 130  # killed: the sweep queues the trial again
    except Exception as err:
        message = str(err) if isinstance(err, NerkitError) else traceback.format_exc()
        print(message, file=sys.stderr)
        result.update(state="failed", error=str(err))
        _write(directory, result)
        stop.set()
        trial.set_user_attr("outcome", "error")
        trial.set_user_attr("error", str(err)[:2000])
        study.tell(info["number"], state=optuna.trial.TrialState.FAIL)
        return 1


def _write(directory: Path, result: Dict[str, Any]) -> None:
    result["ended"] = time.time()
    (directory / "result.json").write_text(json.dumps(result, indent=2), encoding="utf8")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, _interrupt)  # terminated (the sweep stopped): as Ctrl-C
    sys.exit(main(Path(sys.argv[1]), int(sys.argv[2])))
