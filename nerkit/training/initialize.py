"""One resolved run: a config validated, interpolated and built once (spaCy's ``init_nlp``).

Every command that works on a training config (``nerkit train``, ``debug config``,
``debug data``, ``debug vectors``; ``nerkit sweep`` checks each grid point here before
any trial trains, and trains each through ``Trainer``) starts here and takes the returned
object; nothing downstream reads, interpolates or resolves the config again. A
pretraining config (no ``[corpora]``; ``[pretraining]`` and ``[vectors]`` instead) takes
the same steps once in ``training/pretrain_config.py:pretrain_run``::

    from nerkit.training.initialize import resolve_run

    run = resolve_run(cfg)                    # cfg: nerkit.config.load_config(...)'s Config
    model = run.initialize()                  # labels learned, lexicon vocabulary, heads built
    run.training.batch_size                   # validated settings (pydantic models)
    run.components.optimizer(model)           # the built [training] components
    run.filled_config(model.label_config())   # what a model directory's config.cfg records

``resolve_run(cfg, sections=("corpora", "model", "training"), *, check_files=True) ->
ResolvedRun`` interpolates ``cfg`` once, validates it once (every problem in one
ConfigError), checks that the device exists, lists every missing file at once
(AssetError; ``check_files=False`` leaves that to the caller, see
:meth:`ResolvedRun.missing_files`), seeds the random generators from ``[system]`` (as
``init_nlp`` does, before any weight is drawn) and builds the requested ``sections`` in a
single ``registry.resolve`` call (``[model]`` with the ``[initialize]`` resources overlaid).
``sections=()`` builds nothing: validation, the settings and the filled config only.

:class:`ResolvedRun` (frozen) holds:

* ``config`` (as written, overrides applied; its ``${paths.KEY}`` references name each
  file's origin), ``interpolated`` (the same, interpolated), ``sections`` (built);
* ``system``, ``corpora``, ``training``: the validated settings sections;
* ``reader`` (``[corpora.reader]``, None unless "corpora" is built), ``model`` (an
  uninitialised ``NERModel``, None unless "model" is built), ``components``
  (:class:`TrainingComponents`, None unless "training" is built);
* ``train_examples`` / ``dev_examples`` / ``test_examples``: read on first use, once,
  with ``max_train_records`` / ``max_dev_records`` applied; ``examples(split)``;
  ``get_examples()`` returns the training examples (the ``get_examples`` callable of
  ``NERModel.initialize``);
* ``initialize() -> NERModel``: the model initialised from the training examples (its
  label scheme learns what the config leaves out; the lexicon's vocabulary comes from the
  train and dev texts);
* ``filled_config(learned=None, interpolate=True) -> Config``: every default written
  out and ``learned`` (``model.label_config()``: labels, layers) set into ``[model]``;
  ``interpolate=False`` keeps the ``${...}`` references (``debug config``'s print);
* ``missing_files() -> [(AssetRef, problem)]``: every file the built sections read that
  is not usable here; ``check_files()`` raises them as one AssetError.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from confection import Config

from ..assets import AssetRef, check_assets, missing_assets
from ..config import (
    CorporaSettings,
    SystemSettings,
    TrainingSettings,
    as_dict,
    check_data,
    filled_config,
    interpolated,
    overlay,
    resolve_sections,
    with_initialize,
)
from ..data.corpus import read_corpus
from ..errors import ConfigError
from ..models.ner_model import NERModel
from ..types import Example
from ..util import resolve_device
from .averaging import NoAveraging, WeightAveraging

TRAIN_SECTIONS = ("corpora", "model", "training")
SPLITS = ("train", "dev", "test")


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


@dataclass(frozen=True)
class TrainingComponents:
    """The built ``[training]`` components."""

    optimizer: Callable[..., torch.optim.Optimizer]  # (model) -> optimizer
    schedule: Callable[..., Any]  # (optimizer, total_steps) -> LR scheduler
    adversarial: Any  # an @adversarial strategy: step(model, forward_loss, backward)
    averaging: WeightAveraging
    logger: Callable[..., Any]  # (output_dir or None, filled config) -> logger


@dataclass(frozen=True)
class ResolvedRun:
    """A config validated, interpolated and built once; see the module docstring."""

    config: Config
    interpolated: Config
    sections: Tuple[str, ...]
    system: SystemSettings
    corpora: CorporaSettings
    training: TrainingSettings
    reader: Optional[Callable[[str], List[Example]]] = None
    model: Optional[NERModel] = None
    components: Optional[TrainingComponents] = None

    # -- corpora (read on first use) ----------------------------------------------------

    def examples(self, split: str) -> List[Example]:
        """The records of ``split`` ("train", "dev" or "test"); a ConfigError when the
        config sets no file for it, a DataError when it is missing or empty."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return getattr(self, f"{split}_examples")

    @cached_property
    def train_examples(self) -> List[Example]:
        return self._read("train", self.corpora.max_train_records)

    @cached_property
    def dev_examples(self) -> List[Example]:
        return self._read("dev", self.corpora.max_dev_records)

    @cached_property
    def test_examples(self) -> List[Example]:
        return self._read("test", 0)

    def get_examples(self) -> List[Example]:
        """The training examples (pass the method itself as a ``get_examples`` callable)."""
        return self.train_examples

    def _read(self, split: str, limit: int) -> List[Example]:
        if self.reader is None:
            raise ConfigError(f"corpora.{split}: this run was resolved without [corpora].")
        return read_corpus(self.reader, getattr(self.corpora, split), f"paths.{split}", limit)

    # -- the model ----------------------------------------------------------------------

    def initialize(self) -> NERModel:
        """The run's model initialised from the training examples (labels the config leaves
        out learned, the lexicon's vocabulary from the train and dev texts, heads built);
        once: later calls return the same model."""
        if self.model is None:
            raise ConfigError("model: this run was resolved without [model].")
        if self.model.initialized:
            return self.model
        texts = [ex.text for ex in self.train_examples + self.dev_examples]
        self.model.initialize(self.get_examples, texts)
        return self.model

    # -- what the run writes and checks -------------------------------------------------

    def filled_config(
        self, learned: Optional[Dict[str, Any]] = None, interpolate: bool = True
    ) -> Config:
        """The config with every default written out and ``learned`` (what the model learned
        at initialisation, ``NERModel.label_config()``) set into ``[model]``; the config a
        model directory records. ``interpolate=False``: the ``${...}`` references kept."""
        data = as_dict(self.interpolated if interpolate else self.config)
        if learned:
            data["model"] = overlay(data.get("model", {}), learned)
        return filled_config(Config(data, is_interpolated=interpolate))

    def check_files(self) -> None:
        """Raise one AssetError listing every file of :meth:`missing_files`, or return."""
        check_assets(self.config, self._file_sections(), interpolated=self.interpolated)

    def missing_files(self) -> List[Tuple[AssetRef, str]]:
        """(file, problem) for every file the built sections read that is not usable here
        (the corpora and the model's resources; all of them with nothing built)."""
        return missing_assets(self.config, self._file_sections(), interpolated=self.interpolated)

    def _file_sections(self) -> Tuple[str, ...]:
        built = self.sections or ("corpora", "model")
        return tuple(s for s in ("corpora", "model") if s in built)


def resolve_run(
    cfg: Config, sections: Sequence[str] = TRAIN_SECTIONS, *, check_files: bool = True
) -> ResolvedRun:
    """Validate, interpolate and build ``cfg`` once; see the module docstring."""
    sections = tuple(sections)
    unknown = [s for s in sections if s not in TRAIN_SECTIONS]
    if unknown:
        raise ValueError(f"sections must be among {TRAIN_SECTIONS}, got {unknown}")
    written = cfg  # as written: asset errors name the ${paths.KEY} of each file
    done = interpolated(cfg)  # the only interpolation of the run
    data = as_dict(done)
    validated = check_data(data)
    system = validated["system"]
    resolve_device(system.device)  # a device this machine lacks fails before anything is read
    run = ResolvedRun(
        config=written,
        interpolated=done,
        sections=sections,
        system=system,
        corpora=validated["corpora"],
        training=validated["training"],
    )
    if check_files:  # every missing corpus, model and vectors file at once
        run.check_files()
    if not sections:
        return run
    if system.num_threads:
        torch.set_num_threads(system.num_threads)
    seed_all(system.seed)
    built = resolve_sections(with_initialize(data), sections)
    return replace(
        run,
        reader=built["corpora"]["reader"] if "corpora" in built else None,
        model=built.get("model"),
        components=training_components(built["training"]) if "training" in built else None,
    )


def training_components(training: Dict[str, Any]) -> TrainingComponents:
    """The components of a built ``[training]`` section (no averaging: ``NoAveraging``)."""
    return TrainingComponents(
        optimizer=training["optimizer"],
        schedule=training["schedule"],
        adversarial=training["adversarial"],
        averaging=training.get("averaging") or NoAveraging(),
        logger=training["logger"],
    )


def learned_anything(learned: Dict[str, Any], key: str = "labels") -> bool:
    """Whether a ``label_config()`` dict holds ``key`` at any depth."""
    return any(
        k == key or (isinstance(v, dict) and learned_anything(v, key)) for k, v in learned.items()
    )


def checkpoint_learned(path: Path, cfg: Config) -> Tuple[Dict[str, Any], bool]:
    """What a resumed run records for its model: the checkpoint's own ``[model]`` (the model
    actually trained, labels included) and whether its labels were learned."""
    meta_path = Path(path) / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf8")) if meta_path.exists() else {}
    return as_dict(cfg).get("model", {}), bool(meta.get("labels_learned", False))
