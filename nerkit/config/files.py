"""Reading config files: ``[nerkit] extends``, merging, and paths relative to the file."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

from confection import Config, ConfigValidationError

from ..errors import ConfigError
from ..util import looks_local
from .overrides import apply_overrides
from .resolving import interpolated
from .values import as_dict, merge

# Settings that hold file-system paths, resolved against the folder of the file that
# writes them (None: every key of the section).
FILE_PATH_SETTINGS: Dict[str, Optional[Tuple[str, ...]]] = {
    "paths": None,
    "corpora": ("train", "dev", "test"),
}
# The source checkout nerkit runs from (it has projects/: the quickstart corpus and tiny BERT);
# None for an installed wheel.
_CHECKOUT = Path(__file__).resolve().parents[2]
CHECKOUT: Optional[Path] = _CHECKOUT if (_CHECKOUT / "projects").is_dir() else None


def load_config(
    path: Union[str, Path],
    overrides: Optional[Dict[str, Any]] = None,
    interpolate: bool = False,
    strict_paths: bool = False,
) -> Config:
    """Read a config file, following ``[nerkit] extends``, and apply overrides.

    strict_paths: an override of a ``[paths]`` key the file does not define is an
        error (the command line's rule: ``--paths.trian`` is a typo, not a new path).
    """
    path = Path(path)
    raw = _load_with_bases(path, seen=())
    cfg = Config(raw, is_interpolated=False)
    if overrides:
        cfg = apply_overrides(cfg, overrides, strict_paths)
    if interpolate:
        cfg = interpolated(cfg)
    return cfg


def _load_with_bases(path: Path, seen: Tuple[Path, ...]) -> Dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"Config file not found: {path}. Pass the path of a .cfg file.")
    if path.resolve() in seen:
        chain = " -> ".join(str(p) for p in (*seen, path.resolve()))
        raise ConfigError(f"Config files extend each other in a cycle: {chain}")
    try:
        cfg = Config().from_str(
            _add_parent_sections(path.read_text(encoding="utf8")), interpolate=False
        )
    except ConfigValidationError as err:
        raise ConfigError(f"{path}: can't parse the config: {err.text.strip()}") from None
    except Exception as err:  # configparser errors
        raise ConfigError(f"{path}: can't parse the config: {err}") from None
    data = as_dict(cfg)
    _resolve_file_paths(data, Path(os.path.abspath(path)).parent)
    meta = data.pop("nerkit", {})
    base = meta.get("extends")
    if base is None:
        return data
    base_path = (path.parent / base).resolve()
    base_data = _load_with_bases(base_path, seen=(*seen, path.resolve()))
    return merge(base_data, data)


def _resolve_file_paths(data: Dict[str, Any], folder: Path) -> None:
    """Make the relative paths a config file writes relative to its ``folder`` (in place)."""
    for section, keys in FILE_PATH_SETTINGS.items():
        values = data.get(section)
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if (keys is None or key in keys) and isinstance(value, str):
                values[key] = relative_to(value, folder, hub_ids=section == "paths")


def relative_to(value: str, folder: Union[str, Path], hub_ids: bool = False) -> str:
    """``value`` as a path from ``folder`` (absolute, ``~`` expanded), or from the nerkit
    checkout where only that one exists; ``""`` and values with a ``${...}`` reference
    unchanged. With ``hub_ids``, a Hugging Face hub id stays as written: a value that is no
    file here, is not local-looking (:func:`nerkit.util.looks_local`) and has no file
    suffix (``bert-base-chinese``, ``hfl/chinese-roberta-wwm-ext``)."""
    if not value or "${" in value:
        return value
    path = os.path.expanduser(value)
    if os.path.isabs(path):
        return path
    found = os.path.normpath(os.path.join(os.fspath(folder), path))
    if CHECKOUT is not None and not os.path.exists(found):
        bundled = os.path.normpath(os.path.join(CHECKOUT, path))
        if os.path.exists(bundled):
            return bundled
    if hub_ids and not os.path.exists(found) and not looks_local(value) and not Path(value).suffix:
        return value
    return found


def _add_parent_sections(text: str) -> str:
    """Declare missing parent sections, so a file that extends a base can set
    ``[model.decoder]`` without an empty ``[model]`` header. Each missing parent is
    declared just before the first section that needs it."""
    declared = set(re.findall(r"^\[([^\]]+)\]\s*$", text, flags=re.M))
    emitted: set = set()

    def add_parents(match: re.Match[str]) -> str:
        parts = match.group(1).split(".")
        missing = []
        for i in range(1, len(parts)):
            parent = ".".join(parts[:i])
            if parent not in declared and parent not in emitted:
                emitted.add(parent)
                missing.append(f"[{parent}]\n\n")
        return "".join(missing) + match.group(0)

    return re.sub(r"^\[([^\]]+)\]\s*$", add_parents, text, flags=re.M)
