"""Validation before anything is built, every problem at once, each naming its config path.

The settings sections are checked against their pydantic models
(:mod:`nerkit.config.settings`). Component blocks are checked by confection itself
(``registry.fill(..., validate=True)``: arguments against the function's signature,
types against its annotations); nerkit looks the functions up first (its registry's
messages list what is registered and suggest the closest name), asks confection block
by block so that every block's problems are reported at once, and rewrites
confection's errors in nerkit's words, as spaCy wraps confection's errors in its own:
``model.decoder.dropout: expected float, got "high"``.
"""

from __future__ import annotations

import inspect
import logging
import os
import typing
from typing import Any, Callable, Dict, List, Tuple

from confection import Config, ConfigValidationError
from pydantic import BaseModel

from ..errors import ConfigError, UnknownComponentError
from ..registrations import populate
from ..registry import KINDS, registry
from .resolving import interpolated, with_initialize, without_initialize
from .settings import SETTINGS_SCHEMAS, check_settings
from .values import INIT_SECTION, as_dict, block_ref, format_problems, show, suggest, type_name

logger = logging.getLogger("nerkit.config")


def validate_config(cfg: Config, initialize: bool = True) -> List[str]:
    """All problems of a config, each naming its path. Empty = valid.

    ``initialize``: check ``[model]`` as training builds it, with the ``[initialize]``
    arguments overlaid; False checks ``[model]`` alone, as loading a model builds it.
    """
    return _validate(as_dict(interpolated(cfg)), initialize)[0]


def check_config(cfg: Config, initialize: bool = True) -> Dict[str, BaseModel]:
    """Raise one ConfigError listing every problem; else return the validated settings
    sections (``"system"``, ``"corpora"``, ``"training"`` -> pydantic model), so a run
    validates each of them once."""
    return check_data(as_dict(interpolated(cfg)), initialize)


def check_data(data: Dict[str, Any], initialize: bool = True) -> Dict[str, BaseModel]:
    """:func:`check_config` of an interpolated config dict (the caller interpolated it)."""
    problems, validated = _validate(data, initialize)
    if problems:
        raise ConfigError(format_problems(problems))
    return validated


def _validate(data: Dict[str, Any], initialize: bool) -> Tuple[List[str], Dict[str, BaseModel]]:
    populate()
    problems: List[str] = []
    problems.extend(_check_initialize(data))
    from_init = _init_only_keys(data) if initialize else set()
    if initialize:
        _warn_files_in_model(data)
    data = with_initialize(data) if initialize else without_initialize(data)
    for section in ("model", "corpora", "training"):
        if section not in data:
            problems.append(f"[{section}]: missing section.")
    validated: Dict[str, BaseModel] = {}
    for name, schema in SETTINGS_SCHEMAS.items():
        if name in data or name == "system":  # [system] may be left out: its defaults
            model, found = check_settings(name, data.get(name, {}), schema)
            problems.extend(found)
            if model is not None:
                validated[name] = model
    for problem in check_blocks(data):  # an argument given only in [initialize] is named there
        where = problem.split(":", 1)[0]
        problems.append(f"{INIT_SECTION}.{problem}" if where in from_init else problem)
    return problems, validated


def _init_only_keys(data: Dict[str, Any]) -> set:
    """Dotted paths (``model.encoder.name_or_path``) of the keys that ``[initialize]`` sets and
    ``[model]`` itself does not."""
    out: set = set()

    def walk(init: Any, model: Any, where: str) -> None:
        if not isinstance(init, dict):
            return
        for key, value in init.items():
            inner = model.get(key) if isinstance(model, dict) else None
            if isinstance(value, dict):
                walk(value, inner, f"{where}.{key}")
            elif not (isinstance(model, dict) and key in model):
                out.add(f"{where}.{key}")

    init = data.get(INIT_SECTION)
    walk(init.get("model") if isinstance(init, dict) else None, data.get("model"), "model")
    return out


def check_blocks(data: Dict[str, Any]) -> List[str]:
    """The problems of every registered-component block in ``data`` (names and arguments)."""
    return [problem for path, block in _blocks(data, "") for problem in _check_block(path, block)]


def _blocks(node: Any, path: str):
    """(path, block) of every registered-component block under ``node``, pre-order
    (blocks inside plain dicts and ``*`` sections included)."""
    if not isinstance(node, dict):
        return
    if block_ref(node) is not None:
        yield path, node
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _blocks(value, f"{path}.{key}" if path else key)


def _check_block(path: str, block: Dict[str, Any]) -> List[str]:
    """The problems of one block's own arguments (its sub-blocks are checked on their own)."""
    at_key, name = block_ref(block)
    kind = at_key[1:]
    if kind not in KINDS:
        return [
            f"{path}.{at_key}: unknown registry{suggest(kind, KINDS)}. "
            f"Registries: {', '.join('@' + k for k in KINDS)}."
        ]
    if not isinstance(name, str):
        return [
            f"{path}.{at_key}: expected the name of a registered function (a string such as "
            f'"nerkit.LinearDecoder.v1"), got {show(name)}. `nerkit registry {kind}` lists them.'
        ]
    try:
        func = registry.get(kind, name)
    except UnknownComponentError as err:
        return [f"{path}.{at_key}: {err}"]
    if not all(_resolvable(inner) for _, inner in _blocks(block, path) if inner is not block):
        return []  # confection can't fill around a bad reference: that block's own check says it
    try:
        registry.fill({"block": block}, validate=True)
    except ConfigValidationError as err:
        own = [e for e in err.errors or [] if list(e.get("loc", []))[:1] == ["block"]]
        if not own and not err.errors:
            return [f"{path}: {err.title}"]
        return [_in_words(path, name, func, block, e) for e in own]
    return []


def _resolvable(block: Dict[str, Any]) -> bool:
    """Whether a block's ``@kind = "name"`` names a registered function."""
    at_key, name = block_ref(block)
    kind = at_key[1:]
    return kind in KINDS and isinstance(name, str) and registry.has(kind, name)


def _in_words(path: str, name: str, func: Callable, block: Dict[str, Any], error: Dict) -> str:
    """One confection error of the block at ``path`` in nerkit's words."""
    arg = str(list(error.get("loc", []))[-1])
    where = f"{path}.{arg}"
    msg = str(error.get("msg", ""))
    params = inspect.signature(func).parameters
    if msg.startswith("unexpected argument"):
        names = [p for p, v in params.items() if v.kind not in (v.VAR_POSITIONAL, v.VAR_KEYWORD)]
        return (
            f"{where}: '{name}' has no argument '{arg}'{suggest(arg, names)}. "
            f"Its arguments: {', '.join(names) or '(none)'}."
        )
    if msg.startswith("missing required argument"):
        return f"{where}: missing required argument of '{name}'."
    try:
        hints = typing.get_type_hints(func)
    except Exception:
        hints = {}
    annotation = hints.get(arg, params[arg].annotation if arg in params else None)
    if annotation is None or annotation is inspect.Parameter.empty:
        return f"{where}: {msg}"
    return f"{where}: expected {type_name(annotation)}, got {show(block.get(arg))}"


def _check_initialize(data: Dict[str, Any]) -> List[str]:
    """``[initialize]`` holds only ``model``, whose blocks mirror blocks of ``[model]``."""
    init = data.get(INIT_SECTION)
    if init is None:
        return []
    if not isinstance(init, dict):
        return [f"[{INIT_SECTION}]: expected a section, got {show(init)}."]
    problems = [
        f"{INIT_SECTION}.{key}: unknown setting. [{INIT_SECTION}] holds [{INIT_SECTION}.model.<path>] "
        "blocks with init-only arguments of the component at [model.<path>]."
        for key in init
        if key != "model"
    ]

    def walk(extra: Dict[str, Any], base: Any, where: str) -> None:
        if block_ref(extra) is not None:
            return  # a whole component given only at initialisation, e.g. word vectors
        if not isinstance(base, dict):
            problems.append(
                f"{INIT_SECTION}.{where}: there is no block [{where}] in the config for these "
                "init-only arguments to go to. Fix the section name (it mirrors a [model...] block)."
            )
            return
        for key, value in extra.items():
            if isinstance(value, dict) and (key in base or block_ref(value) is None):
                walk(value, base.get(key), f"{where}.{key}")

    if isinstance(init.get("model"), dict):
        walk(init["model"], data.get("model"), "model")
    return problems


def files_in_model(data: Dict[str, Any]) -> List[Tuple[str, str]]:
    """(config path, value) of each argument written in ``[model]`` itself (not in
    ``[initialize]``) whose value names an existing file or directory: an init-only resource
    in the old layout. Training reads it, but so would every load of the saved model."""
    found: List[Tuple[str, str]] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                walk(value, f"{where}.{i}")
        elif isinstance(node, str) and node and ("/" in node or os.sep in node):
            if os.path.exists(os.path.expanduser(node)):
                found.append((where, node))

    walk(data.get("model"), "model")
    return found


def _warn_files_in_model(data: Dict[str, Any]) -> None:
    for where, value in files_in_model(data):
        block, _, arg = where.rpartition(".")
        logger.warning(
            "%s = %s: a file named in [model] is read again each time the saved model loads, "
            "so the model directory is not self-contained. If it is an init-only resource "
            "(pretrained weights, word vectors, a segmentation model, a word list), move it "
            "to [%s.%s] (e.g. `%s = ${paths.KEY}` there); loading then restores it from the "
            "model directory.",
            where,
            value,
            INIT_SECTION,
            block,
            arg,
        )
