"""A pretraining config -> the pieces of a pretraining run (the one place that reads it).

A pretraining config (``configs/pretrain-quickstart.cfg``) has ``[paths]``,
``[system]``, ``[model.encoder]`` with its ``[initialize.model.encoder]``
(written as in a training config, so the encoder pretrained is the one a
training config fine-tunes), ``[training]`` (the settings of ``nerkit train``:
optimizer, schedule, steps, batch size, accumulation, clipping, evaluation,
loggers), ``[pretraining]`` (:class:`PretrainingSettings`: the text and the
``[pretraining.masker]``) and, for ``nerkit vectors``, ``[vectors]``
(:class:`VectorsSettings`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Union

from confection import Config
from pydantic import BaseModel, Field

from ..config import (
    StrictSettings,
    SystemSettings,
    TrainingSettings,
    as_dict,
    check_blocks,
    check_settings,
    filled_config,
    format_problems,
    interpolated,
    resolve_sections,
    with_initialize,
)
from ..errors import ConfigError
from ..registrations import populate
from .initialize import TrainingComponents, training_components


class PretrainingSettings(StrictSettings):
    # text files (.txt: a document a line; .jsonl; any corpus format): one path, or a
    # [pretraining.train] block of named paths (name = ${paths.KEY}) for several
    train: Union[str, Dict[str, str]]
    dev: Union[str, Dict[str, str]]  # held-out text: the MLM loss and perplexity of model-best
    text_field: str = "text"  # the field of a JSON Lines record that holds the text
    window_overlap: int = Field(0, ge=0)  # characters shared by a long document's windows
    max_line_chars: int = Field(1_000_000, ge=1)  # a longer line is an error (not a document)
    shuffle_buffer: int = Field(10_000, ge=1)  # windows shuffled together (memory bound)
    max_dev_windows: int = Field(0, ge=0)  # 0: every dev window
    masker: Dict[str, Any]

    @property
    def train_files(self) -> List[str]:
        return _files(self.train)

    @property
    def dev_files(self) -> List[str]:
        return _files(self.dev)


def _files(value: Union[str, Dict[str, str]]) -> List[str]:
    return [value] if isinstance(value, str) else list(value.values())


class VectorsSettings(StrictSettings):
    dim: int = Field(100, ge=1)
    window: int = Field(5, ge=1)
    min_count: int = Field(2, ge=1)
    epochs: int = Field(5, ge=1)
    negative: int = Field(5, ge=1)  # skip-gram with negative sampling
    sample: float = Field(1e-3, ge=0)
    workers: int = Field(1, ge=1)
    segmenter: Optional[Dict[str, Any]] = None  # null: the masker's segmenter


SCHEMAS: Dict[str, type[BaseModel]] = {
    "system": SystemSettings,
    "training": TrainingSettings,
    "pretraining": PretrainingSettings,
    "vectors": VectorsSettings,
}


@dataclass
class PretrainRun:
    """A pretraining config validated and interpolated once. It builds nothing until asked
    (``nerkit vectors`` needs no model): :meth:`build` builds the trainer's parts in one
    ``registry.resolve``, :meth:`vectors_segmenter` the segmenter of ``nerkit vectors``."""

    config: Config  # filled, written beside each checkpoint as pretrain.cfg
    system: SystemSettings
    training: TrainingSettings
    pretraining: PretrainingSettings
    vectors: VectorsSettings
    encoder_source: Optional[str]  # name_or_path
    encoder_pretrained: bool  # start from the checkpoint's weights (continued pretraining)
    fingerprint: Dict[str, Any]  # what a resumed run must share with the interrupted one
    _data: Dict[str, Any]

    def build(self) -> Tuple[Any, Any, TrainingComponents]:
        """(masker, encoder, training components), built together from the interpolated
        config: ``[pretraining.masker]``, ``[model.encoder]`` with its ``[initialize]``
        arguments (tokenizer, config, random weights: the MLM weights are the trainer's
        business) and ``[training]``'s optimizer, schedule, adversarial, averaging, logger."""
        blocks = {
            "masker": self._data["pretraining"]["masker"],
            "encoder": dict(self._data["model"]["encoder"], pretrained=False),
            "training": self._data["training"],
        }
        built = resolve_sections(blocks, list(blocks))
        return built["masker"], built["encoder"], training_components(built["training"])

    def vectors_segmenter(self) -> Any:
        if self._data.get("vectors", {}).get("segmenter") is not None:
            return self._resolve("vectors", "segmenter")
        masker = self._data["pretraining"]["masker"]
        if masker.get("segmenter") is None:
            raise ConfigError(
                "vectors.segmenter: word vectors need words, and this config names no segmenter "
                "(neither [vectors.segmenter] nor [pretraining.masker.segmenter]). Add a "
                '[vectors.segmenter] block, e.g. @segmenters = "nerkit.PkusegSegmenter.v1".'
            )
        return self._resolve("pretraining.masker", "segmenter")

    def _resolve(self, section: str, key: str) -> Any:
        node = self._data
        for part in section.split("."):
            node = node[part]
        return resolve_sections({key: node[key]}, [key])[key]


def pretrain_run(cfg: Config) -> PretrainRun:
    """Validate a pretraining config (every problem at once, each naming its setting)."""
    populate()
    cfg = interpolated(cfg)
    data = with_initialize(as_dict(cfg))
    problems: List[str] = []
    found: Dict[str, BaseModel] = {}
    for name, schema in SCHEMAS.items():
        if name in ("training", "pretraining") and name not in data:
            problems.append(f"[{name}]: missing section.")
            continue
        model, errors = check_settings(name, data.get(name, {}), schema)
        problems.extend(errors)
        if model is not None:
            found[name] = model
    encoder = data.get("model", {}).get("encoder") if isinstance(data.get("model"), dict) else None
    if not isinstance(encoder, dict) or encoder.get("@encoders") != "nerkit.TransformerEncoder.v1":
        problems.append(
            "[model.encoder]: masked-LM pretraining needs a transformer encoder: a "
            '[model.encoder] block with @encoders = "nerkit.TransformerEncoder.v1" and its '
            "name_or_path in [initialize.model.encoder] (see configs/pretrain-quickstart.cfg)."
        )
    problems.extend(check_blocks(data))
    if problems:
        raise ConfigError(format_problems(problems))
    filled = filled_config(cfg)
    written = as_dict(filled)
    fingerprint = {
        "model": written.get("model"),
        "initialize": written.get("initialize"),
        "pretraining": written.get("pretraining"),
        "seed": found["system"].seed,
    }
    return PretrainRun(
        config=filled,
        system=found["system"],
        training=found["training"],
        pretraining=found["pretraining"],
        vectors=found["vectors"],
        encoder_source=encoder.get("name_or_path"),
        encoder_pretrained=bool(encoder.get("pretrained", True)),
        fingerprint=json.loads(json.dumps(fingerprint, default=str)),
        _data=data,
    )


def differences(before: Any, now: Any, where: str = "") -> List[str]:
    """The settings (dotted paths) whose values differ between two config dicts."""
    if isinstance(before, dict) and isinstance(now, dict):
        out: List[str] = []
        for key in sorted(set(before) | set(now)):
            out.extend(
                differences(before.get(key), now.get(key), f"{where}.{key}" if where else key)
            )
        return out
    return (
        []
        if before == now
        else [
            f"{where}: {json.dumps(before, ensure_ascii=False)} then, {json.dumps(now, ensure_ascii=False)} now"
        ]
    )
