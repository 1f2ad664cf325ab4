"""Masked-language-model pretraining of a config's transformer encoder (``nerkit pretrain``).

The text is read as a stream (:mod:`nerkit.data.text`): each epoch walks the
files again, cuts documents into windows of ``max_length - 2`` characters as
training does, shuffles them in a bounded buffer and masks each batch with a
generator seeded by (seed, epoch, batch), so skipping the batches a killed
run consumed replays the same masks. The steps are ``nerkit train``'s
(:class:`nerkit.training.steps.StepLoop` runs both): ``[training]``'s optimizer, schedule,
accumulation, clipping, adversarial strategy, weight averaging and loggers,
mixed precision on CUDA, data parallelism under ``torchrun``, and the RNG state
saved for an exact resume. The held-out text is masked once; its MLM loss
(mean over the predicted characters) and perplexity are evaluated every
``eval_frequency`` steps (0: at each epoch's end) and at the last step, and the
lowest loss is ``model-best``. ``model-best`` and ``model-last`` are Hugging Face model
directories (config.json, tokenizer files, model.safetensors) with
``pretrain.cfg`` and ``pretraining.json`` beside them.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np
import torch
from confection import Config
from torch import nn

from ..data.text import TextStats, check_texts, iter_windows
from ..errors import ConfigError, ModelLoadError
from ..util import check_output_dir, remove_outputs, resolve_device
from .initialize import seed_all
from .masking import IGNORE, MaskVocab
from .pretrain_config import PretrainRun, differences, pretrain_run
from .steps import (
    PRECISION,
    STATE_DIR,
    LoopResult,
    LoopState,
    StepLoop,
    autocast,
    micro_step,
    resume_dir,
)

STATE_FILE = "pretraining.json"  # in training_state/: marks a resumable pretraining run


@dataclass
class PretrainState(LoopState):
    best_loss: float = math.inf  # the lowest held-out MLM loss
    BEST: ClassVar[str] = "best_loss"


@dataclass
class PretrainResult(LoopResult):
    best_loss: float


class MaskedLM(nn.Module):
    """A transformers ``*ForMaskedLM`` whose body is the encoder's transformer.

    ``encoder`` (the config's TransformerEncoder, its ``transformer`` now the MLM's
    body) gives the optimizer its layer groups and the adversarial strategies the
    word embeddings; ``forward`` returns the mean loss over the predicted positions.

    The vocabulary projection is most of a small encoder's cost (width 256 against
    21,128 characters: 5.4 M multiply-adds per position, against about 3.4 M for four
    layers), and only the predicted positions (about 15%) need it. So when the MLM is a
    body plus one per-position head (BERT's ``cls``, RoBERTa's ``lm_head``), ``forward``
    runs the body, gathers the M predicted positions' hidden states and applies the head
    to those alone: the same loss as ``mlm(**batch).loss`` (tests/test_pretrain.py), in
    [M, V] logits instead of [B, T, V]. Other MLMs take their own forward.
    """

    def __init__(self, encoder: Any, mlm: nn.Module) -> None:
        super().__init__()
        self.mlm = mlm
        encoder.transformer = mlm.base_model
        self.encoder = encoder
        self.head = mlm_head(mlm)

    def forward(self, batch: Dict[str, torch.Tensor]) -> torch.Tensor:
        # input_ids, attention_mask, labels: [B, T]
        if self.head is None:
            return self.mlm(**batch).loss
        labels = batch["labels"]
        hidden = self.mlm.base_model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        )[0]  # [B, T, H]
        chosen = labels != IGNORE  # [B, T]
        logits = self.head(hidden[chosen])  # [M, V]
        wide = torch.promote_types(logits.dtype, torch.float32)  # fp16/bf16 logits: in fp32
        return nn.functional.cross_entropy(logits.to(wide), labels[chosen])  # mean over M


def mlm_head(mlm: nn.Module) -> Optional[nn.Module]:
    """The MLM's head when it is the one module beside its body (BERT, RoBERTa, NEZHA-style
    ``*ForMaskedLM``), applied position by position; else None (its own forward is used)."""
    body = mlm.base_model
    others = [module for module in mlm.children() if module is not body]
    kinds = {"bert", "roberta", "xlm-roberta", "nezha", "ernie", "camembert"}
    if len(others) != 1 or mlm.config.model_type not in kinds:
        return None
    return others[0]


def collate(
    rows: List[Tuple[np.ndarray, np.ndarray]], cls: int, sep: int, pad: int
) -> Dict[str, torch.Tensor]:
    """(input ids, labels) of windows -> [B, T] tensors with [CLS] ... [SEP], padded."""
    width = max(len(ids) for ids, _ in rows) + 2
    input_ids = np.full((len(rows), width), pad, dtype=np.int64)
    labels = np.full((len(rows), width), IGNORE, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, (ids, lab) in enumerate(rows):
        n = len(ids)
        input_ids[i, 0], input_ids[i, n + 1] = cls, sep
        input_ids[i, 1 : n + 1] = ids
        labels[i, 1 : n + 1] = lab
        mask[i, : n + 2] = 1
    return {
        "input_ids": torch.from_numpy(input_ids),
        "attention_mask": torch.from_numpy(mask),
        "labels": torch.from_numpy(labels),
    }


def shuffled(items: Iterator[str], size: int, rng: np.random.Generator) -> Iterator[str]:
    """``items`` in a random order drawn from a buffer of ``size`` (memory: ``size`` items)."""
    buffer: List[str] = []
    for item in items:
        if len(buffer) < size:
            buffer.append(item)
            continue
        j = int(rng.integers(size))
        yield buffer[j]
        buffer[j] = item
    for j in rng.permutation(len(buffer)):
        yield buffer[j]


def build_mlm(config: Any, source: Optional[str], pretrained: bool) -> nn.Module:
    """The ``AutoModelForMaskedLM`` of ``config``: the weights of ``source`` (its MLM head too)
    when pretrained, else random."""
    from transformers import AutoModelForMaskedLM

    if not pretrained or source is None:
        return AutoModelForMaskedLM.from_config(config)
    try:
        return AutoModelForMaskedLM.from_pretrained(source, config=config)
    except Exception as err:  # OSError, ValueError: missing or broken weights
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ModelLoadError(
            f"Can't load the masked-LM weights of {source} ({first}). With pretrained = true the "
            "directory needs model.safetensors (or pytorch_model.bin); to pretrain from the config "
            "alone set --initialize.model.encoder.pretrained false."
        ) from None


def _save_quietly(mlm: nn.Module, path: Path) -> None:
    """``save_pretrained`` (safetensors) without transformers' progress bar inside our own."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        mlm.save_pretrained(str(path))
    finally:
        if shown:
            hf_logging.enable_progress_bar()


class Pretrainer(StepLoop):
    """Masked-LM pretraining over a :class:`~nerkit.training.pretrain_config.PretrainRun`
    (``cfg``: one, or a pretraining config, validated with ``pretrain_run``)."""

    STATE_FILE = STATE_FILE
    # with eval_frequency, the steps alone (the epochs of a small text are short)
    EVALUATE_EPOCH_ENDS = False
    MINIMIZE = True  # the held-out MLM loss
    RESULT = PretrainResult

    def __init__(
        self,
        cfg: Union[Config, PretrainRun],
        output_dir: Optional[Path] = None,
        resume: Optional[Path] = None,
        stop_after_steps: Optional[int] = None,
        overwrite: bool = False,
    ) -> None:
        run = cfg if isinstance(cfg, PretrainRun) else pretrain_run(cfg)
        self.run_config: PretrainRun = run
        self.system, self.training, self.settings = run.system, run.training, run.pretraining
        resolve_device(self.system.device)
        self._place(output_dir, stop_after_steps)
        seed_all(self.system.seed)

        checkpoint = self._check_resume(resume) if resume else None
        self.masker, encoder, components = run.build()
        self.window_chars = encoder.max_length - 2
        s = self.settings
        # every file read once before anything is built or written: its problems, its size
        self.train_stats: TextStats = check_texts(
            s.train_files,
            s.text_field,
            s.max_line_chars,
            self.window_chars,
            s.window_overlap,
            "pretraining.train",
        )
        self.dev_stats: TextStats = check_texts(
            s.dev_files,
            s.text_field,
            s.max_line_chars,
            self.window_chars,
            s.window_overlap,
            "pretraining.dev",
        )
        # a finished run in output_dir is never replaced by accident (nerkit train's rule),
        # said after the config and text checks, before anything is built or written
        if self.output_dir is not None and self.dist.main:
            if check_output_dir(self.output_dir, overwrite, resume is not None) and not resume:
                remove_outputs(self.output_dir)
        tok = encoder.tokenizer
        self.vocab = MaskVocab.build(
            int(encoder.transformer.config.vocab_size),
            tok.mask_token_id,
            [encoder.cls_id, encoder.sep_id, encoder.pad_id, encoder.unk_id, *tok.all_special_ids],
        )
        source = str(checkpoint) if checkpoint else run.encoder_source
        mlm = build_mlm(
            encoder.transformer.config, source, bool(checkpoint) or run.encoder_pretrained
        )
        if encoder.gradient_checkpointing:
            mlm.gradient_checkpointing_enable()
        self.model = MaskedLM(encoder, mlm).to(self.device)
        self.model.train()
        self._recover_checkpoints()
        self.dev_batches = self._dev_batches()

        t = self.training
        batches = math.ceil(self.train_stats.windows / t.batch_size)
        self.batches_per_epoch = (batches - batches % self.dist.world) // self.dist.world
        if self.batches_per_epoch < 1:
            raise ConfigError(
                f"pretraining.train: {self.train_stats.windows} windows make fewer batches of "
                f"{t.batch_size} than there are processes ({self.dist.world}). Add text or lower "
                "--training.batch_size."
            )
        self._start_steps(components, self.batches_per_epoch)
        self.logger = components.logger(self.output_dir if self.dist.main else None, run.config)
        self.state = PretrainState()
        if checkpoint is not None:
            self._load_state(checkpoint / STATE_DIR)
        self.net: nn.Module = self.dist.wrap(self.model, self.device)

    # -- data -------------------------------------------------------------------

    def _windows(self, paths: List[str]) -> Iterator[str]:
        s = self.settings
        return iter_windows(
            paths, s.text_field, s.max_line_chars, self.window_chars, s.window_overlap
        )

    def _mask(self, texts: List[str], rng: np.random.Generator) -> Dict[str, torch.Tensor]:
        enc = self.model.encoder
        rows = [self.masker(text, enc.char_ids(text), self.vocab, rng) for text in texts]
        return collate(rows, enc.cls_id, enc.sep_id, enc.pad_id)

    def _dev_batches(self) -> List[Dict[str, torch.Tensor]]:
        """The held-out windows, masked once (the same masks at every evaluation)."""
        rng = np.random.default_rng([self.system.seed, 2])
        texts: List[str] = []
        for text in self._windows(self.settings.dev_files):
            texts.append(text)
            if self.settings.max_dev_windows and len(texts) >= self.settings.max_dev_windows:
                break
        size = self.training.eval_batch_size
        return [self._mask(texts[i : i + size], rng) for i in range(0, len(texts), size)]

    def _epoch_batches(self, epoch: int, skip: int) -> Iterator[Dict[str, torch.Tensor]]:
        """This rank's batches of an epoch after the first ``skip`` (which are not masked)."""
        seed, size, world = self.system.seed, self.training.batch_size, self.dist.world
        stream = shuffled(
            self._windows(self.settings.train_files),
            self.settings.shuffle_buffer,
            np.random.default_rng([seed, 1, epoch]),
        )
        usable = self.batches_per_epoch * world
        texts: List[str] = []
        index = 0  # global batch index
        for text in stream:
            texts.append(text)
            if len(texts) < size:
                continue
            yield from self._own_batch(index, texts, epoch, skip)
            index, texts = index + 1, []
            if index >= usable:
                return
        if texts and index < usable:
            yield from self._own_batch(index, texts, epoch, skip)

    def _batches(self, epoch: int, skip: int) -> Iterator[Dict[str, torch.Tensor]]:
        return self._epoch_batches(epoch, skip)

    def _own_batch(self, index: int, texts: List[str], epoch: int, skip: int):
        if index % self.dist.world != self.dist.rank or index // self.dist.world < skip:
            return
        yield self._mask(texts, np.random.default_rng([self.system.seed, 3, epoch, index]))

    # -- checkpoints --------------------------------------------------------------

    def _check_resume(self, resume: Path) -> Path:
        found = resume_dir(resume)
        path = found / STATE_DIR / STATE_FILE
        if not path.is_file():
            raise ConfigError(
                f"--resume {resume}: {found} is a checkpoint of `nerkit train`, not of `nerkit "
                "pretrain`. Pass the --output directory of the interrupted pretraining run, or drop "
                "--resume to start a new one (in a new --output directory)."
            )
        before = json.loads(path.read_text())["fingerprint"]
        changed = differences(before, self.run_config.fingerprint)
        if changed:
            raise ConfigError(
                f"--resume {resume}: that run was started with another config, so it can't be "
                "continued exactly. Different settings:\n  "
                + "\n  ".join(changed[:10])
                + "\nResume with the interrupted run's config (it is in "
                f"{found / 'pretrain.cfg'}), or start a new run in a new --output directory."
            )
        return found

    def _write(self, path: Path, row: Optional[Dict[str, Any]]) -> None:
        """A Hugging Face model directory (``row``: the evaluation it records)."""
        _save_quietly(self.model.mlm, path)
        self.model.encoder.tokenizer.save_pretrained(str(path))
        vocab = Path(self.run_config.encoder_source or "") / "vocab.txt"
        if vocab.is_file() and not (path / "vocab.txt").exists():
            shutil.copyfile(vocab, path / "vocab.txt")  # for tools that read vocab.txt only
        self.run_config.config.to_disk(path / "pretrain.cfg")
        meta = {"step": self.state.step, "epoch": self.state.epoch, "eval": row}
        (path / "pretraining.json").write_text(json.dumps(meta, indent=1))

    def _state_info(self) -> Dict[str, Any]:
        return {"fingerprint": self.run_config.fingerprint}

    # -- steps ----------------------------------------------------------------------

    def summary(self) -> Dict[str, Any]:
        """What this run is about to do (``nerkit pretrain``'s start banner)."""
        params = list(self.model.parameters())
        return {
            "device": str(self.device),
            "precision": PRECISION[self.amp_dtype],
            "parameters": sum(p.numel() for p in params),
            "encoder": self.run_config.encoder_source,
            "from": "pretrained weights"
            if self.run_config.encoder_pretrained
            else "random weights",
            "masker": repr(self.masker),
            "train": asdict(self.train_stats),
            "dev": asdict(self.dev_stats),
            "total_steps": self.total_steps,
            "batch_size": self.training.batch_size,
            "step": self.state.step,
            "output": str(self.output_dir) if self.output_dir else None,
        }

    def _train_batch(self, batch: Dict[str, torch.Tensor]) -> float:
        batch = {k: v.to(self.device) for k, v in batch.items()}
        accum = self.training.accumulate_gradient
        return micro_step(
            self.adversarial, self.model, self.net, batch, self.amp_dtype, self.scaler, accum
        )

    @torch.no_grad()
    def evaluate(self) -> Dict[str, float]:
        """Held-out MLM loss (mean over the predicted characters) and perplexity."""
        self.model.eval()
        total, count = 0.0, 0
        for batch in self.dev_batches:
            batch = {k: v.to(self.device) for k, v in batch.items()}
            n = int((batch["labels"] != IGNORE).sum())
            with autocast(self.amp_dtype):
                total += float(self.model(batch)) * n
            count += n
        self.model.train()
        loss = total / max(count, 1)
        return {"dev_loss": loss, "perplexity": math.exp(min(loss, 700.0)), "predicted": count}

    def _score(self) -> Tuple[Dict[str, float], float, None]:
        scores = self.evaluate()
        return scores, scores["dev_loss"], None


def pretrain(cfg: Config, output_dir: Optional[Path] = None, **options: Any) -> PretrainResult:
    """Pretrain the encoder a pretraining config describes; ``options``: the ``Pretrainer``'s
    ``resume``, ``stop_after_steps`` and ``overwrite``."""
    return Pretrainer(cfg, output_dir, **options).run()
