"""The files a config reads, all checked at once before a run starts.

:func:`find_assets` walks a config's corpora and every block whose registered
builder declares file arguments (:func:`nerkit.registry.file_args`, next to the
builder: built-ins and plugins alike), and :func:`check_assets` raises one
:class:`~nerkit.errors.AssetError` listing every missing one with where to get
it. Names that :func:`nerkit.util.looks_local` does not call local (hub ids
such as ``bert-base-chinese``, named pkuseg models such as ``medicine``) are
left to their component, which may download them; a local-looking name is
never sent to the hub.

Where to get a file: the project's own word first. A ``nerkit-sources.json`` in
the folder of a missing file or any folder above it (a project's folder) maps
``[paths]`` keys to where to get each file and may say where to read more::

    {"where": "README.md (Assets)",
     "sources": {"bert": "`hf download google-bert/bert-base-chinese --local-dir {path}`"}}

Otherwise the declaration's ``source``, if it gives one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from confection import Config

from .config import INIT_SECTION, as_dict, with_initialize
from .config import interpolated as _interpolated
from .data.formats.base import declaration
from .errors import AssetError
from .registry import FileArg, declared_file_args, registry
from .util import looks_local

CORPUS_KEYS = ("train", "dev", "test")
SOURCES_FILE = "nerkit-sources.json"  # a project's word on where to get its files


@dataclass(frozen=True)
class AssetRef:
    """One file or directory a config reads."""

    where: str  # config path, e.g. "initialize.model.encoder.name_or_path"
    value: str  # the path (after interpolation)
    kind: str  # "file" or "dir"
    what: str
    paths_key: Optional[str] = None  # the [paths] key it comes from (${paths.KEY})
    needs: Tuple[str, ...] = ()  # files a directory must hold
    source: str = ""  # where to get it, as its component declares ("{path}": the value)

    def problem(self) -> Optional[str]:
        """Why the asset is not usable here, or None."""
        path = Path(self.value).expanduser()
        if not path.exists():
            return f"{'directory' if self.kind == 'dir' else 'file'} not found"
        if self.kind == "dir" and not path.is_dir():
            return f"is a file; expected a directory ({self.what})"
        if self.kind == "file" and path.is_dir():  # kind "path": a file or a directory
            return f"is a directory; expected a file ({self.what})"
        lacking = [f for f in self.needs if not (path / f).exists()]
        if lacking:
            return f"incomplete: lacks {', '.join(lacking)}"
        return None


def _builder(node: Any) -> Any:
    """The registered function a config block names (None: not a block, or unknown; config
    validation reports unknown names)."""
    if not isinstance(node, dict):
        return None
    ref = next(((k[1:], v) for k, v in node.items() if k.startswith("@")), None)
    if ref is None or not isinstance(ref[1], str) or not registry.has(*ref):
        return None
    return registry.get(*ref)


def _spec(spec: FileArg) -> Tuple[str, str]:
    return spec.kind, spec.what or "file"


def _paths_key(raw: Any) -> Optional[str]:
    match = re.fullmatch(r"\$\{paths\.(\w+)\}", raw) if isinstance(raw, str) else None
    return match.group(1) if match else None


def find_assets(
    cfg: Config,
    sections: Sequence[str] = ("corpora", "model"),
    interpolated: Optional[Config] = None,
) -> List[AssetRef]:
    """Every local file or directory the given sections of ``cfg`` name, in config order.

    ``cfg`` as written (its ``${paths.KEY}`` references name the origin of each file);
    ``interpolated``: the same config interpolated, where the caller has it already."""
    raw = as_dict(cfg)
    data = as_dict(interpolated if interpolated is not None else _interpolated(cfg))
    found: List[AssetRef] = []
    if "corpora" in sections:
        corpora, raw_corpora = data.get("corpora", {}), raw.get("corpora", {})
        reader = corpora.get("reader", {})
        folder = declaration(_builder(reader)).folder  # its corpus may be a folder (brat)
        for key in CORPUS_KEYS:
            value = corpora.get(key)
            if isinstance(value, str) and value:
                found.append(
                    AssetRef(
                        f"corpora.{key}",
                        value,
                        "path" if folder else "file",
                        f"{key} corpus",
                        _paths_key(raw_corpora.get(key)),
                    )
                )

    for item in declared_files(data, raw, [s for s in sections if s != "corpora"]):
        if looks_local(item.value):
            spec = item.spec
            key = _paths_key(item.raw)
            found.append(
                AssetRef(item.where, item.value, *_spec(spec), key, spec.needs, spec.source)
            )
    return found


@dataclass(frozen=True)
class DeclaredFile:
    """A file argument a component declares (:func:`nerkit.registry.file_args`), as set in a config."""

    block: str  # the component's block, e.g. "model.lexicon.segmenter"
    arg: str
    where: str  # where the user wrote it, e.g. "initialize.model.encoder.name_or_path"
    value: str  # after interpolation
    raw: Any  # as written (``${paths.KEY}``)
    spec: FileArg


def declared_files(
    data: Dict[str, Any], raw: Dict[str, Any], sections: Sequence[str]
) -> List[DeclaredFile]:
    """Every declared file argument set in ``sections`` of the config ``data`` (interpolated;
    ``raw`` as written), in config order; ``model`` as training builds it, with the
    ``[initialize]`` resources overlaid."""
    found: List[DeclaredFile] = []

    def walk(node: Any, raw_node: Any, where: str, init_node: Any) -> None:
        if not isinstance(node, dict):
            return
        raw_node = raw_node if isinstance(raw_node, dict) else {}
        init_node = init_node if isinstance(init_node, dict) else {}
        for arg, spec in declared_file_args(_builder(node)).items():
            value = node.get(arg)
            if isinstance(value, str) and value:
                # where the user wrote it: [initialize.model...] for init-only resources
                at = f"{INIT_SECTION}.{where}.{arg}" if arg in init_node else f"{where}.{arg}"
                found.append(DeclaredFile(where, arg, at, value, raw_node.get(arg), spec))
        for key, child in node.items():
            walk(child, raw_node.get(key), f"{where}.{key}", init_node.get(key))

    for section in sections:
        if section == "model":  # as training builds it: with the [initialize] resources overlaid
            init = (data.get(INIT_SECTION) or {}).get("model")
            walk(
                with_initialize(data).get("model"), with_initialize(raw).get("model"), "model", init
            )
        else:
            walk(data.get(section), raw.get(section), section, None)
    return found


def missing_assets(
    cfg: Config,
    sections: Sequence[str] = ("corpora", "model"),
    interpolated: Optional[Config] = None,
) -> List[Tuple[AssetRef, str]]:
    """(asset, problem) for each unusable asset of ``cfg``."""
    refs = find_assets(cfg, sections, interpolated)
    return [(ref, p) for ref in refs if (p := ref.problem()) is not None]


def check_assets(
    cfg: Config,
    sections: Sequence[str] = ("corpora", "model"),
    interpolated: Optional[Config] = None,
) -> None:
    """Raise one AssetError listing every missing asset of ``cfg``, or return."""
    missing = missing_assets(cfg, sections, interpolated)
    if not missing:
        return
    lines = []
    more: List[str] = []  # what the projects' own files say about where to get them
    for ref, problem in missing:
        origin = f" (${{paths.{ref.paths_key}}})" if ref.paths_key else ""
        project = project_sources(Path(ref.value).expanduser().absolute())
        source = project.get("sources", {}).get(ref.paths_key or "") or ref.source
        get = f" Source: {source.format(path=ref.value)}." if source else ""
        lines.append(f"  - {ref.where} = {ref.value}{origin}: {problem}.{get}")
        if project.get("where") and project["where"] not in more:
            more.append(project["where"])
    keys = [ref.paths_key for ref, _ in missing if ref.paths_key]
    fix = f"--paths.{keys[0]} PATH" if keys else "--section.key PATH"
    if "assets" in (as_dict(cfg).get("paths") or {}):
        fix = f"--paths.assets DIR (the folder that holds them all) or {fix}"
    n = len(missing)
    where = f"\nWhere to get each asset: {'; '.join(more)}. " if more else "\n"
    raise AssetError(
        f"{n} file{'s' if n > 1 else ''} this config reads {'are' if n > 1 else 'is'} missing:\n"
        + "\n".join(lines)
        + where
        + "If yours are elsewhere, override the path, e.g. "
        f"{fix} (paths in a config file are relative to its folder, on the command line to {Path.cwd()})."
    )


def project_sources(path: Path) -> Dict[str, Any]:
    """The ``nerkit-sources.json`` of the nearest folder holding ``path`` (see the module
    docstring); empty where there is none or it can't be read."""
    for folder in path.parents:
        found = _read_sources(folder / SOURCES_FILE)
        if found is not None:
            return found
    return {}


def _read_sources(file: Path) -> Optional[Dict[str, Any]]:
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text(encoding="utf8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}  # a hint file that can't be read gives no hints, never an error
    return data if isinstance(data, dict) else {}
