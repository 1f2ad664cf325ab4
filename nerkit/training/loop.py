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

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

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
from ..util import check_output_dir, remove_outputs
from .initialize import (
    TRAIN_SECTIONS,
    ResolvedRun,
    checkpoint_learned,
    learned_anything,
    resolve_run,
)
from .labels import check_corpus_labels
from .steps import (
    PRECISION,
    STATE_DIR,
    LoopResult,
    LoopState,
    StepLoop,
    micro_step,
    resume_dir,
)

RESUME_SECTIONS = ("corpora", "training")


@dataclass
class TrainState(LoopState):
    best_score: float = -1.0  # the best dev F1


@dataclass
class TrainResult(LoopResult):
    best_score: float


class _LossModule(nn.Module):
    """Makes ``model.loss`` the forward pass, so DistributedDataParallel can wrap it."""

    def __init__(self, model: NERModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.model.loss(batch)


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


class Trainer(StepLoop):
    """A training run over a :class:`~nerkit.training.initialize.ResolvedRun`.

    ``cfg``: a resolved run, or a config (``Trainer(cfg, output, resume)`` resolves it with
    :func:`~nerkit.training.initialize.resolve_run`: corpora, model and training; on
    ``--resume`` the model comes from the checkpoint and its files are not checked).
    """

    RESULT = TrainResult

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
        self._place(output_dir, stop_after_steps)
        self.train_examples = run.train_examples
        self.dev_examples = run.dev_examples

        self.state = TrainState()
        self._recover_checkpoints()
        checkpoint = resume_dir(resume) if resume else None
        if checkpoint is not None:
            # the model actually trained, labels included, is the checkpoint's
            self.model, checkpoint_cfg = load_model(checkpoint, device="cpu")
            learned, self.labels_learned = checkpoint_learned(checkpoint, checkpoint_cfg)
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

        self.train_feats = self.model.featurize(self.train_examples, with_entities=True)
        self._start_steps(run.components, len(self._epoch_batches(0)))
        if replace and self.dist.main:  # --overwrite: the old run goes whole, log included
            remove_outputs(self.output_dir)
        self.logger = run.components.logger(self.output_dir if self.dist.main else None, self.cfg)
        if checkpoint is not None:
            self._load_state(checkpoint / STATE_DIR)
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

    def _batches(self, epoch: int, skip: int) -> Iterable[List[int]]:
        return self._epoch_batches(epoch)[skip:]

    # -- checkpoints ------------------------------------------------------------

    def _write(self, path: Path, scores: Optional[Dict[str, Any]]) -> None:
        """A model directory (``scores``: the evaluation it records)."""
        meta = {
            "step": self.state.step,
            "epoch": self.state.epoch,
            "labels_learned": self.labels_learned,
            "label_counts": dict(sorted(label_counts(self.train_examples).items())),
        }
        if scores is not None:
            meta["scores"] = {k: scores[k] for k in ("precision", "recall", "f1")}
            meta["per_type"] = scores.get("per_type", {})
        save_model(self.model, path, self.cfg, meta)

    def _load_state(self, path: Path) -> None:
        if not (path / self.STATE_FILE).exists():
            raise ConfigError(
                f"--resume: {path.parent} has no training state ({STATE_DIR}/); only model-last "
                "directories written during training can be resumed."
            )
        super()._load_state(path)

    # -- steps ----------------------------------------------------------------

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

    def _train_step(self, group: List[List[int]]) -> float:
        freeze = self.model.encoder.freeze_steps
        if freeze:
            self.model.encoder.set_frozen(self.state.step < freeze)
        return super()._train_step(group)

    def _score(self) -> Tuple[Dict[str, Any], float, Dict[str, Any]]:
        scores = evaluate(
            self.model,
            self.dev_examples,
            self.training.eval_batch_size,
            autocast_dtype=self.amp_dtype,
        )
        self.model.train()
        metrics = {k: scores[k] for k in ("precision", "recall", "f1")}
        return metrics, scores["f1"], scores


def train(cfg: Config, output_dir: Optional[Path] = None, **options: Any) -> TrainResult:
    """Train the model a config describes; ``options``: the ``Trainer``'s ``resume``,
    ``stop_after_steps`` and ``overwrite``."""
    return Trainer(cfg, output_dir, **options).run()
