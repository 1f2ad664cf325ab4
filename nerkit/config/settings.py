"""The settings sections ``[system]``, ``[corpora]`` and ``[training]``: pydantic models
that forbid unknown keys, and their problems in nerkit's words.

Defaults of the settings live here (the models' fields); defaults of components live
in their builders' signatures.
"""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional, Tuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .values import show, suggest, type_name

SETTINGS_SECTIONS = ("paths", "system", "corpora", "training")


class StrictSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, strict=True)


class SystemSettings(StrictSettings):
    seed: int = 42
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", "mps"
    mixed_precision: Literal["no", "auto", "bf16", "fp16"] = "auto"
    num_threads: int = Field(0, ge=0)  # 0: leave torch's default

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        from ..util import device_problem

        problem = device_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class CorporaSettings(StrictSettings):
    train: Optional[str] = None
    dev: Optional[str] = None
    test: Optional[str] = None
    reader: Dict[str, Any]
    max_train_records: int = 0  # 0: all; >0 keeps the first N (quick runs)
    max_dev_records: int = 0
    # dev entities whose label the model is not trained on: an error unless allowed
    # (then they are scored as missed entities)
    allow_unseen_labels: bool = False


class TrainingSettings(StrictSettings):
    max_epochs: int = Field(5, ge=0)  # 0: no epoch limit (then max_steps must be set)
    max_steps: int = Field(0, ge=0)  # 0: no limit; stops after this many optimizer steps
    batch_size: int = Field(16, ge=1)
    eval_batch_size: int = Field(64, ge=1)
    accumulate_gradient: int = Field(1, ge=1)
    grad_clip: float = Field(1.0, ge=0)  # 0: no clipping
    eval_frequency: int = Field(
        0, ge=0
    )  # optimizer steps between evaluations; 0: end of epoch only
    patience: int = Field(0, ge=0)  # evaluations without improvement before stopping; 0: never
    length_bucketing: bool = True
    bucket_size: int = Field(100, ge=1)  # batches per sorted bucket
    log_every: int = Field(10, ge=0)  # 0: no step lines
    optimizer: Dict[str, Any]
    schedule: Dict[str, Any]
    adversarial: Dict[str, Any]
    logger: Dict[str, Any]
    averaging: Optional[Dict[str, Any]] = None  # e.g. nerkit.EMA.v1; None: the training weights

    @model_validator(mode="after")
    def _stops(self) -> TrainingSettings:
        if self.max_epochs == 0 and self.max_steps == 0:
            raise ValueError(
                "max_epochs = 0 and max_steps = 0: training would never stop. Set max_epochs "
                "(e.g. --training.max_epochs 5) or max_steps (e.g. --training.max_steps 1000)."
            )
        return self


SETTINGS_SCHEMAS = {
    "system": SystemSettings,
    "corpora": CorporaSettings,
    "training": TrainingSettings,
}


def check_settings(
    section: str, values: Dict[str, Any], schema: type[BaseModel]
) -> Tuple[Optional[BaseModel], List[str]]:
    """The validated settings model of one section (None if invalid) and its problems."""
    # Promise sub-sections (e.g. training.optimizer) are checked separately;
    # for the schema they are opaque dicts.
    try:
        return schema.model_validate(values), []
    except ValidationError as err:
        out = []
        fields = list(schema.model_fields)
        for e in err.errors():
            loc = ".".join(str(x) for x in e["loc"])
            path = f"{section}.{loc}" if loc else f"[{section}]"
            ctx = e.get("ctx") or {}
            if e["type"] == "value_error":
                out.append(f"{path}: {ctx.get('error', e['msg'])}")
            elif e["type"] in ("greater_than_equal", "greater_than"):
                bound = ctx.get("ge", ctx.get("gt"))
                op = "at least" if e["type"] == "greater_than_equal" else "more than"
                out.append(
                    f"{path}: must be {op} {bound}, got {show(e.get('input'))}. Fix it in the config or with --{path} VALUE."
                )
            elif e["type"] == "extra_forbidden":
                out.append(
                    f"{path}: unknown setting{suggest(str(e['loc'][0]), fields)}. "
                    f"Settings of [{section}]: {', '.join(fields)}."
                )
            elif e["type"] == "missing":
                out.append(f"{path}: missing required setting.")
            else:
                expected = type_name(schema.model_fields[str(e["loc"][0])].annotation)
                out.append(f"{path}: expected {expected}, got {show(e.get('input'))}")
        return None, out


def with_settings_defaults(data: Dict[str, Any]) -> Dict[str, Any]:
    """``data`` with every settings default written out (in place; returned)."""
    for name, schema in SETTINGS_SCHEMAS.items():
        if name in data:
            for field, info in schema.model_fields.items():
                if field not in data[name] and not info.is_required():
                    data[name][field] = info.default
    return data
