"""Interpolating, overlaying ``[initialize]``, building sections, and the filled config.

``[initialize]`` (spaCy's split) holds resources needed only to initialise a new model:
``[initialize.model.<path>]`` holds arguments of the component block ``[model.<path>]``
(pretrained weights, word-vector files, segmentation models, word lists). Training
resolves ``[model]`` with them overlaid (:func:`with_initialize`); loading a model
directory resolves ``[model]`` alone and restores the components' assets with ``from_disk``.
"""

from __future__ import annotations

from typing import Any, Dict, Sequence

from confection import Config, ConfigValidationError
from pydantic import BaseModel

from ..errors import ConfigError
from ..registrations import populate
from ..registry import registry
from .settings import SETTINGS_SCHEMAS, check_settings, with_settings_defaults
from .values import INIT_SECTION, as_dict, block_ref, format_problems

SECTION_ORDER = ["paths", "system", "corpora", "model", INIT_SECTION, "training"]


def interpolated(cfg: Config) -> Config:
    """``cfg`` with every ``${section.key}`` reference filled in (``cfg`` itself if it is)."""
    if cfg.is_interpolated:
        return cfg
    try:
        return cfg.interpolate()
    except ConfigValidationError as err:
        detail = "; ".join(
            f"{'.'.join(str(x) for x in e.get('loc', []))}: {e.get('msg')}"
            for e in err.errors or []
        )
        raise ConfigError(
            f"Can't resolve a ${{...}} reference in the config: {detail or err.desc or err.title}"
        ) from None
    except Exception as err:  # configparser interpolation errors
        raise ConfigError(f"Can't resolve a ${{...}} reference in the config: {err}") from None


def with_initialize(data: Dict[str, Any]) -> Dict[str, Any]:
    """``data`` with each ``[initialize.model.<path>]`` block overlaid on ``[model.<path>]``
    (what training builds), and without the ``[initialize]`` section."""
    out = {k: v for k, v in data.items() if k != INIT_SECTION}
    init = data.get(INIT_SECTION) or {}
    if (
        isinstance(init, dict)
        and isinstance(init.get("model"), dict)
        and isinstance(out.get("model"), dict)
    ):
        out["model"] = overlay(out["model"], init["model"])
    return out


def without_initialize(data: Dict[str, Any]) -> Dict[str, Any]:
    """``data`` without the ``[initialize]`` section (what loading a model directory builds)."""
    return {k: v for k, v in data.items() if k != INIT_SECTION}


def overlay(base: Dict[str, Any], extra: Dict[str, Any]) -> Dict[str, Any]:
    """``extra``'s values set into ``base``'s blocks (a new dict; a block of ``extra`` that
    names its own ``@registry`` function replaces the base's)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and block_ref(value) is None:
            out[key] = overlay(out[key], value)
        else:
            out[key] = value
    return out


def resolve_sections(data: Dict[str, Any], sections: Sequence[str]) -> Dict[str, Any]:
    """Build the objects of ``sections`` of an interpolated, validated config dict in one
    ``registry.resolve`` call (``data`` as built: :func:`with_initialize` applied or not)."""
    populate()
    for section in sections:
        if section not in data:
            raise ConfigError(f"[{section}]: missing section.")
    try:
        return registry.resolve({s: data[s] for s in sections}, validate=True)
    except ConfigValidationError as err:
        lines = []
        for e in err.errors or []:
            loc = ".".join(str(x) for x in e.get("loc", []) if x)
            lines.append(f"{loc}: {e.get('msg')}" if loc else str(e.get("msg")))
        title = err.title or "Config validation error"
        where = ", ".join(f"[{s}]" for s in sections)
        raise ConfigError(f"{title} in {where}:\n  " + "\n  ".join(lines)) from None


def resolve_section(cfg: Config, section: str, initialize: bool = True) -> Any:
    """Build the objects of one section (e.g. "model") of a validated config.

    ``initialize``: overlay the ``[initialize]`` arguments (training a new model);
    False builds the section from the config alone (loading a model directory).
    A run builds its sections once through ``nerkit.training.initialize.resolve_run``.
    """
    data = as_dict(interpolated(cfg))
    data = with_initialize(data) if initialize else data
    return resolve_sections(data, [section])[section]


def settings(cfg: Config, section: str) -> BaseModel:
    """The validated settings model of one settings section (for a caller that needs one
    section without validating the whole config; ``check_config`` returns them all)."""
    data = as_dict(interpolated(cfg))
    model, problems = check_settings(section, data.get(section, {}), SETTINGS_SCHEMAS[section])
    if model is None:
        raise ConfigError(format_problems(problems))
    return model


def filled_config(cfg: Config) -> Config:
    """The config with every registered function's defaults and every settings default
    written out (``cfg`` as written or interpolated; references are kept)."""
    populate()
    try:
        filled = registry.fill(cfg, validate=False)
    except ConfigValidationError as err:
        raise ConfigError(err.text) from None
    return Config(with_settings_defaults(as_dict(filled)), section_order=SECTION_ORDER)
