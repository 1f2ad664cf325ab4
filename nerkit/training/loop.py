"""The training loop.

Everything it uses comes from one resolved run (:mod:`nerkit.training.initialize`):
the reader and corpora, the model, and ``[training]``'s optimizer, schedule,
adversarial strategy and loggers.
It adds what a days-long GPU run needs: length-bucketed batches, gradient
accumulation and clipping, mixed precision on CUDA, evaluation every N steps
and per epoch, early stopping, atomic ``model-best`` / ``model-last``
checkpoints, exact resume, and data parallelism under ``torchrun``.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from confection import Config
from torch import nn

from ..data.labels import label_counts
from ..errors import ConfigError
from ..models.batching import Batch, make_batches
from ..models.io import load_model, save_model
from ..models.ner_model import NERModel
from ..models.prediction import predict
from ..scoring import score
from ..types import Example
from ..util import atomic_dir, check_output_dir, recover_dir, remove_outputs, resolve_device
from .averaging import WeightAveraging, Weights
from .initialize import (
    TRAIN_SECTIONS,
    ResolvedRun,
    checkpoint_learned,
    learned_anything,
    resolve_run,
)
from .labels import check_corpus_labels

RESUME_SECTIONS = ("corpora", "training")

STATE_DIR = "training_state"


@dataclass
class TrainState:
    step: int = 0  # optimizer steps done
    epoch: int = 0  # current epoch (0-based)
    batches_done: int = 0  # batches consumed in the current epoch
    best_score: float = -1.0
    best_step: int = -1
    bad_evals: int = 0  # evaluations since the last improvement
    finished: bool = False


@dataclass
class TrainResult:
    best_score: float
    best_step: int
    steps: int
    output_dir: Optional[Path]
    history: List[Dict[str, Any]]


# ---------------------------------------------------------------------------
# Distributed
# ---------------------------------------------------------------------------


@dataclass
class Dist:
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


class _LossModule(nn.Module):
    """Makes ``model.loss`` the forward pass, so DistributedDataParallel can wrap it."""

    def __init__(self, model: NERModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.model.loss(batch)


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
# Steps (shared with nerkit.training.pretrain)
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


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------


def evaluate(
    model: NERModel, examples: Sequence[Example], batch_size: int = 64, **kw: Any
) -> Dict[str, Any]:
    preds = predict(model, examples, batch_size=batch_size, **kw)
    gold = [ex.entities for ex in examples]
    return score(gold, [[e for e, _ in p] for p in preds], labels=model.labels)


# ---------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------


class Trainer:
    """A training run over a :class:`~nerkit.training.initialize.ResolvedRun`.

    ``cfg``: a resolved run, or a config (``Trainer(cfg, output, resume)`` resolves it with
    :func:`~nerkit.training.initialize.resolve_run`: corpora, model and training; on
    ``--resume`` the model comes from the checkpoint and its files are not checked).
    """

    def __init__(
        self,
        cfg: Union[Config, ResolvedRun],
        output_dir: Optional[Path] = None,
        resume: Optional[Path] = None,
        stop_after_steps: Optional[int] = None,
        overwrite: bool = False,
    ) -> None:
        # a finished run in output_dir is never replaced by accident (before any work)
        replace = output_dir is not None and check_output_dir(
            output_dir, overwrite, resume is not None
        )
        if isinstance(cfg, ResolvedRun):
            run = cfg
        else:  # a resumed run rebuilds its model from the checkpoint
            run = resolve_run(cfg, RESUME_SECTIONS if resume else TRAIN_SECTIONS)
        if run.components is None or run.reader is None:
            raise ConfigError("Trainer: the run must be resolved with [corpora] and [training].")
        self.run_config = run
        self.system, self.training, self.corpora = run.system, run.training, run.corpora
        self.output_dir = Path(output_dir) if output_dir else None
        self.stop_after_steps = stop_after_steps  # testing hook: simulate a kill
        self.dist = Dist.from_env()
        self.device = self.dist.device(self.system)
        self.train_examples = run.train_examples
        self.dev_examples = run.dev_examples

        self.state = TrainState()
        if self.output_dir is not None and self.dist.main:
            # The writer, not the readers, recovers interrupted saves of its checkpoints.
            for name in CHECKPOINTS:
                recover_dir(self.output_dir / name)
        resume_dir = _resume_dir(resume) if resume else None
        if resume_dir is not None:
            # the model actually trained, labels included, is the checkpoint's
            self.model, checkpoint_cfg = load_model(resume_dir, device="cpu")
            learned, self.labels_learned = checkpoint_learned(resume_dir, checkpoint_cfg)
        else:
            if run.model is None:
                raise ConfigError("Trainer: the run must be resolved with [model].")
            # labels the config leaves out are learned from the training corpus here
            # (recorded in config.cfg; the same corpus gives the same labels when resuming)
            self.model = run.initialize()
            learned = self.model.label_config()
            self.labels_learned = learned_anything(learned)
        self.cfg = run.filled_config(learned)
        check_corpus_labels(
            self.model.labels,
            self.train_examples,
            self.dev_examples,
            self.corpora.allow_unseen_labels,
        )
        self.model.to(self.device)
        self.model.train()

        components = run.components
        self.train_feats = self.model.featurize(self.train_examples, with_entities=True)
        per_epoch = math.ceil(len(self._epoch_batches(0)) / self.training.accumulate_gradient)
        total = per_epoch * self.training.max_epochs
        if self.training.max_steps:
            total = (
                min(total, self.training.max_steps)
                if self.training.max_epochs
                else self.training.max_steps
            )
        self.total_steps = max(1, total)
        self.optimizer = components.optimizer(self.model)
        self.scheduler = components.schedule(self.optimizer, self.total_steps)
        self.adversarial = components.adversarial
        self.averaging: WeightAveraging = components.averaging
        self.averaging.start(self.model)
        if replace and self.dist.main:  # --overwrite: the old run goes whole, log included
            remove_outputs(self.output_dir)
        self.logger = components.logger(self.output_dir if self.dist.main else None, self.cfg)
        self.amp_dtype, self.scaler = self._mixed_precision()
        self.history: List[Dict[str, Any]] = []
        if resume_dir is not None:
            self._load_training_state(resume_dir / STATE_DIR)
        self.net: nn.Module = self.dist.wrap(_LossModule(self.model), self.device)

    def summary(self) -> Dict[str, Any]:
        """What this run is about to do: device, sizes, labels (``nerkit train``'s start banner)."""
        from ..about import __version__

        params = list(self.model.parameters())
        precision = PRECISION[self.amp_dtype]
        return {
            "version": __version__,
            "device": str(self.device),
            "precision": precision,
            "seed": self.system.seed,
            "parameters": sum(p.numel() for p in params),
            "trainable": sum(p.numel() for p in params if p.requires_grad),
            "train_records": len(self.train_examples),
            "train_windows": len(self.train_feats),
            "train_path": self.corpora.train,
            "dev_records": len(self.dev_examples),
            "dev_path": self.corpora.dev,
            "labels": list(self.model.labels),
            "total_steps": self.total_steps,
            "batch_size": self.training.batch_size,
            "step": self.state.step,
            "output": str(self.output_dir) if self.output_dir else None,
        }

    # -- setup helpers ----------------------------------------------------------

    def _mixed_precision(self):
        return mixed_precision(self.device, self.system.mixed_precision)

    def _epoch_batches(self, epoch: int) -> List[List[int]]:
        t = self.training
        batches = make_batches(
            self.train_feats,
            t.batch_size,
            self.system.seed,
            epoch,
            t.length_bucketing,
            t.bucket_size,
        )
        if self.dist.world > 1:
            usable = len(batches) - len(batches) % self.dist.world
            batches = batches[self.dist.rank : usable : self.dist.world]
        return batches

    # -- checkpoints ------------------------------------------------------------

    def _save(
        self,
        name: str,
        scores: Optional[Dict[str, Any]] = None,
        with_state: bool = False,
        raw: Optional[Weights] = None,
    ) -> None:
        """Write a model directory; ``raw``: the training weights when the model holds an average."""
        if self.output_dir is None or not self.dist.main:
            return
        meta = {
            "step": self.state.step,
            "epoch": self.state.epoch,
            "labels_learned": self.labels_learned,
            "label_counts": dict(sorted(label_counts(self.train_examples).items())),
        }
        if scores is not None:
            meta["scores"] = {k: scores[k] for k in ("precision", "recall", "f1")}
            meta["per_type"] = scores.get("per_type", {})
        with atomic_dir(self.output_dir / name) as tmp:
            save_model(self.model, tmp, self.cfg, meta)
            if with_state:
                self._save_training_state(tmp / STATE_DIR, raw)

    def _save_training_state(self, path: Path, raw: Optional[Weights] = None) -> None:
        save_state_blob(path, self.optimizer, self.scheduler, self.scaler, self.averaging, raw)
        (path / "trainer.json").write_text(
            json.dumps({"state": asdict(self.state), "history": self.history}, indent=1)
        )

    def _load_training_state(self, path: Path) -> None:
        if not (path / "trainer.json").exists():
            raise ConfigError(
                f"--resume: {path.parent} has no training state ({STATE_DIR}/); only model-last "
                "directories written during training can be resumed."
            )
        info = json.loads((path / "trainer.json").read_text())
        self.state = TrainState(**info["state"])
        self.history = info["history"]
        load_state_blob(
            path, self.optimizer, self.scheduler, self.scaler, self.averaging, self.model
        )

    # -- steps ----------------------------------------------------------------

    def _autocast(self):
        return autocast(self.amp_dtype)

    def _train_batch(self, idx: List[int]) -> float:
        batch = self.model.collate([self.train_feats[i] for i in idx], with_targets=True).to(
            self.device
        )
        return micro_step(
            self.adversarial,
            self.model,
            self.net,
            batch,
            self.amp_dtype,
            self.scaler,
            self.training.accumulate_gradient,
        )

    def _optimizer_step(self) -> None:
        optimizer_step(
            self.optimizer, self.scheduler, self.scaler, self.model, self.training.grad_clip
        )
        self.averaging.update(self.model)

    def _evaluate(self, loss: float, started: float) -> bool:
        """Evaluate, log, checkpoint (the averaged weights, if any); True when early stopping says stop."""
        with self.averaging.applied(self.model) as raw:
            return self._evaluate_and_save(loss, started, raw)

    def _evaluate_and_save(self, loss: float, started: float, raw: Optional[Weights]) -> bool:
        scores = evaluate(
            self.model,
            self.dev_examples,
            self.training.eval_batch_size,
            autocast_dtype=self.amp_dtype,
        )
        self.model.train()
        st = self.state
        improved = scores["f1"] > st.best_score
        if improved:
            st.best_score, st.best_step, st.bad_evals = scores["f1"], st.step, 0
        else:
            st.bad_evals += 1
        row = {
            "epoch": st.epoch,
            "step": st.step,
            "loss": loss,
            "precision": scores["precision"],
            "recall": scores["recall"],
            "f1": scores["f1"],
            "score": scores["f1"],
            "best": improved,
            "seconds": round(time.time() - started, 2),
        }
        self.history.append(row)
        if self.dist.main:
            self.logger.log_eval(row)
        if improved:
            self._save("model-best", scores)
        stop = bool(self.training.patience and st.bad_evals >= self.training.patience)
        self._save("model-last", scores, with_state=True, raw=raw)
        self.dist.barrier()
        return stop

    def run(self) -> TrainResult:
        t = self.training
        st = self.state
        enc = self.model.encoder
        freeze = enc.freeze_steps
        started = time.time()
        progress = self.logger.progress(self.total_steps) if self.dist.main else None
        if progress is not None and st.step:
            progress.update(st.step, None)
        losses: List[float] = []
        stop = st.finished
        while not stop and (not t.max_epochs or st.epoch < t.max_epochs):
            batches = self._epoch_batches(st.epoch)
            while st.batches_done < len(batches) and not stop:
                if freeze:
                    enc.set_frozen(st.step < freeze)
                group = batches[st.batches_done : st.batches_done + t.accumulate_gradient]
                step_loss = sum(self._train_batch(idx) for idx in group) / len(group)
                st.batches_done += len(group)
                self._optimizer_step()
                st.step += 1
                losses.append(step_loss)
                if progress is not None:
                    progress.update(1, step_loss)
                if self.dist.main and t.log_every and st.step % t.log_every == 0:
                    lr = max(self.scheduler.get_last_lr())
                    self.logger.log_step(
                        st.step,
                        {
                            "epoch": st.epoch,
                            "loss": float(np.mean(losses[-t.log_every :])),
                            "lr": lr,
                        },
                    )
                at_max = bool(t.max_steps) and st.step >= t.max_steps
                if (t.eval_frequency and st.step % t.eval_frequency == 0) or at_max:
                    stop = (
                        self._evaluate(float(np.mean(losses)) if losses else 0.0, started) or at_max
                    )
                    losses = []
                if self.stop_after_steps is not None and st.step >= self.stop_after_steps:
                    if progress is not None:
                        progress.close()
                    raise KeyboardInterrupt(f"stopped after {st.step} steps (stop_after_steps)")
            if not stop and st.batches_done >= len(batches):
                # (resumed from the checkpoint of this very evaluation: not evaluated twice)
                done = bool(self.history) and self.history[-1]["step"] == st.step
                if (not t.eval_frequency or st.step % t.eval_frequency) and not done:
                    stop = self._evaluate(float(np.mean(losses)) if losses else 0.0, started)
                    losses = []
                st.epoch += 1
                st.batches_done = 0
        st.finished = True
        if progress is not None:
            progress.close()
        with self.averaging.applied(self.model) as raw:
            self._save(
                "model-last", self.history[-1] if self.history else None, with_state=True, raw=raw
            )
        self.logger.close()
        return TrainResult(st.best_score, st.best_step, st.step, self.output_dir, self.history)


CHECKPOINTS = ("model-best", "model-last")


def _resume_dir(path: Path) -> Path:
    path = Path(path)
    for candidate in (path / "model-last", path):
        recover_dir(candidate)
        if (candidate / STATE_DIR).exists():
            return candidate
    raise ConfigError(
        f"--resume {path}: no resumable checkpoint there. Pass the --output directory of the "
        "interrupted run (it holds model-last/training_state/)."
    )


def train(
    cfg: Config,
    output_dir: Optional[Path] = None,
    resume: Optional[Path] = None,
    stop_after_steps: Optional[int] = None,
    overwrite: bool = False,
) -> TrainResult:
    """Train the model a config describes; see ``Trainer``."""
    return Trainer(cfg, output_dir, resume, stop_after_steps, overwrite).run()
