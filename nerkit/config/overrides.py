"""Command-line overrides in spaCy's style: ``--training.max_epochs 3``."""

from __future__ import annotations

import json
from typing import Any, Dict, Sequence

from confection import Config

from ..errors import ConfigError
from .values import as_dict, merge, suggest


def parse_overrides(args: Sequence[str]) -> Dict[str, Any]:
    """``["--training.max_epochs", "3", "--paths.train=x.json"]`` -> dict.

    Values are parsed as JSON where possible (``3``, ``0.1``, ``true``,
    ``null``, ``["a"]``), otherwise kept as strings.
    """
    out: Dict[str, Any] = {}
    i = 0
    args = list(args)
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) <= 2:
            raise ConfigError(
                f"Can't read the override '{arg}': overrides look like "
                "'--section.key value', e.g. '--training.max_epochs 3'."
            )
        key = arg[2:]
        if "=" in key:
            key, raw = key.split("=", 1)
        else:
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                raise ConfigError(f"The override '--{key}' has no value.")
            i += 1
            raw = args[i]
        if "." not in key:
            raise ConfigError(
                f"The override '--{key}' does not name a section: use '--section.key', "
                f"e.g. '--training.{key}'."
            )
        out[key.replace("-", "_")] = parse_value(raw)
        i += 1
    return out


def parse_value(raw: str) -> Any:
    """A command-line value: JSON where it parses, else the string."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def apply_overrides(cfg: Config, overrides: Dict[str, Any], strict_paths: bool = False) -> Config:
    """``cfg`` with each dotted override set; a ConfigError for a section it lacks.

    strict_paths: an override of a ``[paths]`` key the config does not define is an error.
    """
    data = as_dict(cfg)
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        node = data
        for i, part in enumerate(parts[:-1]):
            if part not in node or not isinstance(node[part], dict):
                where = ".".join(parts[: i + 1])
                options = sorted(k for k, v in node.items() if isinstance(v, dict))
                raise ConfigError(
                    f"--{dotted}: the config has no section '{where}'"
                    f"{suggest(part, options)}. Sections here: {', '.join(options) or '(none)'}."
                )
            node = node[part]
        leaf = parts[-1]
        if strict_paths and parts[0] == "paths" and len(parts) == 2 and leaf not in node:
            keys = sorted(node)
            raise ConfigError(
                f"--{dotted}: the config's [paths] has no key '{leaf}'{suggest(leaf, keys)}. "
                f"Its keys: {', '.join(keys) or '(none)'}. A command-line override can only change "
                "a path the config defines; to add one, write it in the config's [paths] section."
            )
        node.update(merge(node, {leaf: value}))
    return Config(data, is_interpolated=False)
