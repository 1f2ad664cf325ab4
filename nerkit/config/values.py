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


def merge(base: Dict[str, Any], child: Dict[str, Any]) -> Dict[str, Any]:
    """``child`` merged onto ``base`` key by key; a block whose ``@registry`` function
    differs from the base's replaces it whole."""
    out = dict(base)
    for key, value in child.items():
        old = out.get(key)
        if (
            isinstance(value, dict)
            and isinstance(old, dict)
            and block_ref(value) in (None, block_ref(old))
        ):
            out[key] = merge(old, value)
        else:
            out[key] = value
    return out


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
