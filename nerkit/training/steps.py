"""The step and epoch bookkeeping that ``nerkit train`` and ``nerkit pretrain`` share.

:class:`StepLoop` runs a loop over optimizer steps: gradient accumulation, clipping,
the AMP scaler, the schedule step, weight averaging, step logging, the evaluation
cadence (every ``eval_frequency`` steps, at the last step, at each epoch's end),
patience, ``model-best`` / ``model-last`` checkpoints and the state an exact resume
needs (optimizer, schedule, scaler, RNG, averaging, the loop's counters and history).

Its contract with a loop (:class:`~nerkit.training.loop.Trainer`,
:class:`~nerkit.training.pretrain.Pretrainer`) is three methods:

* ``_batches(epoch, skip)``: this process's batches of ``epoch`` after the first
  ``skip`` (the ones a resumed run consumed already);
* ``_train_batch(batch) -> float``: forward and backward of one micro-batch (with
  :func:`micro_step`), its loss;
* ``_score() -> (metrics, score, saved)``: one evaluation: the metrics its history row
  records, the score that ranks checkpoints (higher is better; lower with ``MINIMIZE``)
  and what ``_save`` records of it for ``model-best`` / ``model-last`` (None: the row).

and ``_write(path, saved)``: a checkpoint's files, written into a temporary
directory that :meth:`StepLoop._save` renames into place.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields
from itertools import islice
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, Iterable, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from ..config import TrainingSettings
from ..errors import ConfigError
from ..util import atomic_dir, recover_dir, resolve_device
from .averaging import WeightAveraging, Weights

CHECKPOINTS = ("model-best", "model-last")

STATE_DIR = "training_state"


# ---------------------------------------------------------------------------
# Distributed
# ---------------------------------------------------------------------------


@dataclass
class Dist:
    """This process's place under ``torchrun`` (rank 0 of 1 otherwise)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> Dist:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        import torch.distributed as dist

        rank = int(os.environ["RANK"])
        local = int(os.environ.get("LOCAL_RANK", rank))
        if not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend=backend)
        return cls(rank, world, local)

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def device(self, system: Any) -> torch.device:
        """This process's device for ``[system]`` (its own GPU under torchrun); sets the threads."""
        if system.num_threads:
            torch.set_num_threads(system.num_threads)
        if self.world > 1 and torch.cuda.is_available():
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return resolve_device(system.device)

    def wrap(self, net: nn.Module, device: torch.device) -> nn.Module:
        """``net`` in DistributedDataParallel under torchrun; as it is otherwise."""
        if self.world <= 1:
            return net
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(
            net,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True,
        )


# ---------------------------------------------------------------------------
# RNG state
# ---------------------------------------------------------------------------


def _rng_state() -> Dict[str, Any]:
    state: Dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [
            x if not isinstance(x, np.ndarray) else torch.from_numpy(x.astype(np.int64))
            for x in np.random.get_state()
        ],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    np_state = state["numpy"]
    np.random.set_state((np_state[0], np.asarray(np_state[1]).astype(np.uint32), *np_state[2:]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------------------------------------------------------------------------
# One step
# ---------------------------------------------------------------------------


def mixed_precision(device: torch.device, mode: str):
    """(autocast dtype or None, GradScaler or None) for ``[system] mixed_precision`` on ``device``."""
    if device.type != "cuda" or mode == "no":
        return None, None
    if mode == "auto":
        mode = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if mode == "bf16":
        return torch.bfloat16, None
    return torch.float16, torch.amp.GradScaler("cuda")


def autocast(dtype: Optional[torch.dtype]):
    """CUDA autocast at ``dtype``; a no-op context for None (fp32)."""
    if dtype is None:
        return nullcontext()
    return torch.autocast("cuda", dtype=dtype)


PRECISION = {None: "fp32", torch.bfloat16: "bf16 autocast", torch.float16: "fp16 autocast"}


def micro_step(
    adversarial, model: nn.Module, net: nn.Module, batch: Any, amp_dtype, scaler, accum: int
) -> float:
    """Forward ``net(batch) / accum`` and backward (scaled under fp16) through the adversarial
    strategy, accumulating into ``.grad``; the clean loss of the micro-batch."""

    def forward_loss() -> torch.Tensor:
        with autocast(amp_dtype):
            return net(batch) / accum

    def backward(loss: torch.Tensor) -> None:
        if scaler is not None:
            scaler.scale(loss).backward()
        else:
            loss.backward()

    return float(adversarial.step(model, forward_loss, backward)) * accum


def optimizer_step(optimizer, scheduler, scaler, model: nn.Module, grad_clip: float) -> None:
    """Unscale (fp16), clip to ``grad_clip`` (0: no clipping), step, schedule, zero the gradients."""
    if scaler is not None:
        scaler.unscale_(optimizer)
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


def total_steps(batches_per_epoch: int, training: TrainingSettings) -> int:
    """The optimizer steps of a run (what the schedule spans): ``max_epochs`` epochs of
    ``batches_per_epoch`` batches, ``accumulate_gradient`` a step, capped by ``max_steps``."""
    t = training
    total = math.ceil(batches_per_epoch / t.accumulate_gradient) * t.max_epochs
    if t.max_steps:
        total = min(total, t.max_steps) if t.max_epochs else t.max_steps
    return max(1, total)


# ---------------------------------------------------------------------------
# Checkpoint state
# ---------------------------------------------------------------------------


def save_state_blob(
    path: Path, optimizer, scheduler, scaler, averaging: WeightAveraging, raw: Optional[Weights]
) -> None:
    """``path/state.pt``: optimizer, schedule, scaler, RNG and averaging states (and the
    training weights ``raw`` when the saved model holds an average)."""
    path.mkdir(parents=True, exist_ok=True)
    blob: Dict[str, Any] = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": _rng_state(),
        "averaging": averaging.state_dict(),
    }
    if raw is not None:  # model.safetensors holds the average: keep the training weights
        blob["raw_weights"] = {k: v.cpu() for k, v in raw.items()}
    torch.save(blob, path / "state.pt")


def load_state_blob(
    path: Path, optimizer, scheduler, scaler, averaging: WeightAveraging, model: nn.Module
) -> None:
    """Restore what :func:`save_state_blob` wrote."""
    # weights_only=True: tensors and plain containers only, no arbitrary unpickling
    blob = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    if scaler is not None and blob["scaler"] is not None:
        scaler.load_state_dict(blob["scaler"])
    _set_rng_state(blob["rng"])
    averaging.load_state_dict(blob.get("averaging", {}))
    if "raw_weights" in blob:
        params = dict(model.named_parameters())
        with torch.no_grad():
            for k, v in blob["raw_weights"].items():
                params[k].copy_(v)


def resume_dir(path: Path) -> Path:
    """The checkpoint to continue from (``path/model-last``, or ``path`` itself)."""
    path = Path(path)
    for candidate in (path / "model-last", path):
        recover_dir(candidate)
        if (candidate / STATE_DIR).exists():
            return candidate
    raise ConfigError(
        f"--resume {path}: no resumable checkpoint there. Pass the --output directory of the "
        "interrupted run (it holds model-last/training_state/)."
    )


# ---------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------


@dataclass
class LoopState:
    """A loop's counters (its state file records them for an exact resume); a subclass
    adds the field of its best score and names it in ``BEST``."""

    step: int = 0  # optimizer steps done
    epoch: int = 0  # current epoch (0-based)
    batches_done: int = 0  # this process's batches consumed in the current epoch
    best_step: int = -1
    bad_evals: int = 0  # evaluations since the last improvement
    finished: bool = False
    BEST: ClassVar[str] = "best_score"

    @property
    def best(self) -> float:
        return getattr(self, self.BEST)

    @best.setter
    def best(self, score: float) -> None:
        setattr(self, self.BEST, score)


@dataclass
class LoopResult:
    """What a run did; a subclass adds its best score (the state's ``BEST`` field)."""

    best_step: int
    steps: int
    output_dir: Optional[Path]
    history: List[Dict[str, Any]]


class StepLoop:
    """The steps, evaluations and checkpoints of a training loop; see the module docstring.

    A subclass sets ``training``, ``system``, ``dist``, ``device``, ``model``,
    ``output_dir``, ``stop_after_steps`` and ``state`` (a :class:`LoopState`), then calls
    :meth:`_start_steps` and, when resuming, :meth:`_load_state`.
    """

    STATE_FILE = "trainer.json"  # in training_state/: the loop's counters and history
    # with eval_frequency set, an epoch's end is evaluated too (unless its last step was)
    EVALUATE_EPOCH_ENDS = True
    MINIMIZE = False  # the score is a loss: lower is better (the row's "score" is minus it)
    RESULT: Callable[..., LoopResult]  # what run() returns

    training: TrainingSettings
    system: Any
    dist: Dist
    device: torch.device
    model: nn.Module
    net: nn.Module
    output_dir: Optional[Path]
    stop_after_steps: Optional[int]
    state: LoopState

    def _place(self, output_dir: Optional[Path], stop_after_steps: Optional[int]) -> None:
        """Where the run writes, this process's rank and device (``self.system`` set)."""
        self.output_dir = Path(output_dir) if output_dir else None
        self.stop_after_steps = stop_after_steps  # testing hook: simulate a kill
        self.dist = Dist.from_env()
        self.device = self.dist.device(self.system)

    def _start_steps(self, components: Any, batches_per_epoch: int) -> None:
        """Optimizer, schedule, adversarial strategy, averaging and precision of the run
        (``components``: a :class:`~nerkit.training.initialize.TrainingComponents`)."""
        self.total_steps = total_steps(batches_per_epoch, self.training)
        self.optimizer = components.optimizer(self.model)
        self.scheduler = components.schedule(self.optimizer, self.total_steps)
        self.adversarial = components.adversarial
        self.averaging: WeightAveraging = components.averaging
        self.averaging.start(self.model)
        self.amp_dtype, self.scaler = mixed_precision(self.device, self.system.mixed_precision)
        self.history: List[Dict[str, Any]] = []

    def _recover_checkpoints(self) -> None:
        """The writer, not the readers, recovers interrupted saves of its checkpoints."""
        if self.output_dir is not None and self.dist.main:
            for name in CHECKPOINTS:
                recover_dir(self.output_dir / name)

    # -- the subclass's part ------------------------------------------------------------

    def _batches(self, epoch: int, skip: int) -> Iterable[Any]:
        raise NotImplementedError

    def _train_batch(self, batch: Any) -> float:
        raise NotImplementedError

    def _score(self) -> Tuple[Dict[str, Any], float, Optional[Dict[str, Any]]]:
        raise NotImplementedError

    def _write(self, path: Path, saved: Optional[Dict[str, Any]]) -> None:
        raise NotImplementedError

    # -- checkpoints ----------------------------------------------------------------------

    def _save(
        self,
        name: str,
        saved: Optional[Dict[str, Any]] = None,
        with_state: bool = False,
        raw: Optional[Weights] = None,
    ) -> None:
        """Checkpoint ``name`` (complete or absent, by the main process): what ``_write``
        writes and, ``with_state``, the resume state; ``raw``: the training weights when the
        model holds an average."""
        if self.output_dir is None or not self.dist.main:
            return
        with atomic_dir(self.output_dir / name) as tmp:
            self._write(tmp, saved)
            if with_state:
                self._save_state(tmp / STATE_DIR, raw)

    def _state_info(self) -> Dict[str, Any]:
        """What the state file records besides the counters and the history."""
        return {}

    def _save_state(self, path: Path, raw: Optional[Weights] = None) -> None:
        save_state_blob(path, self.optimizer, self.scheduler, self.scaler, self.averaging, raw)
        info = {"state": asdict(self.state), "history": self.history, **self._state_info()}
        (path / self.STATE_FILE).write_text(json.dumps(info, indent=1))

    def _load_state(self, path: Path) -> None:
        info = json.loads((path / self.STATE_FILE).read_text())
        known = {f.name for f in fields(self.state)}  # counters of older versions dropped
        self.state = type(self.state)(**{k: v for k, v in info["state"].items() if k in known})
        self.history = info["history"]
        load_state_blob(
            path, self.optimizer, self.scheduler, self.scaler, self.averaging, self.model
        )

    # -- steps ----------------------------------------------------------------------------

    def _optimizer_step(self) -> None:
        optimizer_step(
            self.optimizer, self.scheduler, self.scaler, self.model, self.training.grad_clip
        )
        self.averaging.update(self.model)

    def _train_step(self, group: List[Any]) -> float:
        """One optimizer step over ``group`` (``accumulate_gradient`` micro-batches); its loss."""
        loss = sum(self._train_batch(b) for b in group) / len(group)
        self._optimizer_step()
        return loss

    def _evaluate(self, loss: float, started: float) -> bool:
        """Evaluate (the averaged weights, if any), log, checkpoint; True when patience says stop."""
        with self.averaging.applied(self.model) as raw:
            metrics, score, saved = self._score()
            st = self.state
            improved = score < st.best if self.MINIMIZE else score > st.best
            if improved:
                st.best, st.best_step, st.bad_evals = score, st.step, 0
            else:
                st.bad_evals += 1
            row = {
                "epoch": st.epoch,
                "step": st.step,
                "loss": loss,
                **metrics,
                "score": -score if self.MINIMIZE else score,
                "best": improved,
                "seconds": round(time.time() - started, 2),
            }
            self.history.append(row)
            if self.dist.main:
                self.logger.log_eval(row)
            if improved:
                self._save("model-best", row if saved is None else saved)
            self._save("model-last", row if saved is None else saved, with_state=True, raw=raw)
        self.dist.barrier()
        return bool(self.training.patience and st.bad_evals >= self.training.patience)

    def run(self) -> Any:
        t, st = self.training, self.state
        started = time.time()
        progress = self.logger.progress(self.total_steps) if self.dist.main else None
        if progress is not None and st.step:
            progress.update(st.step, None)
        losses: List[float] = []

        def mean_loss() -> float:
            return float(np.mean(losses)) if losses else 0.0

        stop = st.finished
        while not stop and (not t.max_epochs or st.epoch < t.max_epochs):
            batches = iter(self._batches(st.epoch, st.batches_done))
            while not stop:
                group = list(islice(batches, t.accumulate_gradient))
                if not group:
                    break
                step_loss = self._train_step(group)
                st.batches_done += len(group)
                st.step += 1
                losses.append(step_loss)
                if progress is not None:
                    progress.update(1, step_loss)
                if self.dist.main and t.log_every and st.step % t.log_every == 0:
                    values = {"epoch": st.epoch, "loss": float(np.mean(losses[-t.log_every :]))}
                    self.logger.log_step(
                        st.step, {**values, "lr": max(self.scheduler.get_last_lr())}
                    )
                at_max = bool(t.max_steps) and st.step >= t.max_steps
                if (t.eval_frequency and st.step % t.eval_frequency == 0) or at_max:
                    stop = self._evaluate(mean_loss(), started) or at_max
                    losses = []
                if self.stop_after_steps is not None and st.step >= self.stop_after_steps:
                    if progress is not None:
                        progress.close()
                    raise KeyboardInterrupt(f"stopped after {st.step} steps (stop_after_steps)")
            if stop:
                break
            # an epoch's end is evaluated once (a resumed run may have saved after it)
            done = bool(self.history) and self.history[-1]["step"] == st.step
            f = t.eval_frequency
            if (not f or (self.EVALUATE_EPOCH_ENDS and st.step % f)) and not done:
                stop = self._evaluate(mean_loss(), started)
                losses = []
            st.epoch += 1
            st.batches_done = 0
        st.finished = True
        if progress is not None:
            progress.close()
        with self.averaging.applied(self.model) as raw:
            last = self.history[-1] if self.history else None
            self._save("model-last", last, with_state=True, raw=raw)
        self.logger.close()
        best = {st.BEST: st.best}
        return self.RESULT(st.best_step, st.step, self.output_dir, self.history, **best)
