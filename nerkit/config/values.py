"""Small helpers on config values shared by the config modules and their users."""

from __future__ import annotations

import difflib
import json
import typing
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple, Union

INIT_SECTION = "initialize"


def as_dict(obj: Any) -> Any:
    """A deep copy of a config's nested dicts as plain dicts (values are shared)."""
    if isinstance(obj, dict):
        return {k: as_dict(v) for k, v in obj.items()}
    return obj


def block_ref(section: Dict[str, Any]) -> Optional[Tuple[str, str]]:
    """``("@kind", "name")`` of a registered-component block, or None for a plain section."""
    for k, v in section.items():
        if k.startswith("@"):
            return (k, v)
    return None


def merge(
    base: Dict[str, Any],
    child: Dict[str, Any],
    where: Tuple[str, ...] = (),
    replaced: Optional[List[Tuple[str, ...]]] = None,
) -> Dict[str, Any]:
    """``child`` merged onto ``base`` key by key; a block whose ``@registry`` function the
    child changes, or sets to a value, replaces the base's whole, and so does its
    ``[initialize]`` counterpart: the base's init-only arguments of the old component are
    dropped, the child's own kept. ``where``, ``replaced``: the recursion's own."""
    top = replaced is None
    replaced = [] if replaced is None else replaced
    out = dict(base)
    for key, value in child.items():
        old = out.get(key)
        if (
            isinstance(value, dict)
            and isinstance(old, dict)
            and block_ref(value) in (None, block_ref(old))
        ):
            out[key] = merge(old, value, (*where, key), replaced)
        else:
            if isinstance(old, dict):
                replaced.append((*where, key))
            out[key] = value
    if top:
        for path in replaced:
            _take_child_init(out, path, child)
    return out


def _take_child_init(out: Dict[str, Any], path: Tuple[str, ...], child: Dict[str, Any]) -> None:
    """Set ``out``'s ``[initialize.<path>]`` to the child's (copying the dicts on the way),
    or remove it when the child has none."""
    keys = (INIT_SECTION, *path)
    node = out
    for key in keys[:-1]:
        if not isinstance(node.get(key), dict):
            return
        node[key] = dict(node[key])
        node = node[key]
    mine: Any = child
    for key in keys:
        mine = mine.get(key) if isinstance(mine, dict) else None
    if mine is None:
        node.pop(keys[-1], None)
    else:
        node[keys[-1]] = mine


def suggest(name: str, options: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``options``, or ``""``."""
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def show(value: Any) -> str:
    """A config value as the user wrote it (JSON where possible)."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except TypeError:
        return repr(value)


def type_name(annotation: Any) -> str:
    """A type annotation in words: ``Optional[List[str]]`` -> ``list of str or null``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        return " or ".join(type_name(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(show(a) for a in args)
    if origin in (list, List, Sequence) or origin is typing.Sequence:
        return f"list of {type_name(args[0])}" if args else "list"
    if origin in (dict, Dict):
        return "dict"
    if origin in (tuple, Tuple):
        return "list"
    if hasattr(annotation, "__name__"):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def format_problems(problems: List[str]) -> str:
    """One paragraph for one problem, a list for several."""
    if len(problems) == 1:
        return f"Config error: {problems[0]}"
    return "Config errors:\n" + "\n".join(f"  - {p}" for p in problems)
