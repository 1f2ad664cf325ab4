"""The files a config reads, all checked at once before a run starts.

:func:`find_assets` walks a config's corpora and every registered block whose
arguments name files (:data:`ASSET_ARGS`), and :func:`check_assets` raises one
:class:`~nerkit.errors.AssetError` listing every missing one with where to get
it. Names that :func:`nerkit.util.looks_local` does not call local (hub ids
such as ``bert-base-chinese``, named pkuseg models such as ``medicine``) are
left to their component, which may download them; a local-looking name is
never sent to the hub.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from confection import Config

from .config import INIT_SECTION, as_dict, with_initialize
from .config import interpolated as _interpolated
from .errors import AssetError
from .util import looks_local

# (registry kind, registered name) -> {argument: (kind "dir"/"file", what it is, files a dir must hold)}
ASSET_ARGS: Dict[Tuple[str, str], Dict[str, Tuple[str, str, Tuple[str, ...]]]] = {
    ("encoders", "nerkit.TransformerEncoder.v1"): {
        "name_or_path": (
            "dir",
            "transformer model (config.json, tokenizer files, weights)",
            ("config.json",),
        ),
    },
    ("vectors", "nerkit.Word2Vec.v1"): {"path": ("file", "word vectors", ())},
    ("segmenters", "nerkit.LexiconMatcher.v1"): {"words_file": ("file", "word list", ())},
    ("segmenters", "nerkit.PkusegSegmenter.v1"): {
        "model": ("dir", "pkuseg model", ()),
        "user_dict": ("file", "pkuseg user dictionary", ()),
    },
}
CORPUS_KEYS = ("train", "dev", "test")
# Readers whose corpus is a folder (or one file of it): their paths may be directories.
FOLDER_READERS = ("nerkit.Brat.v1",)

_CBLUE = "the CBLUE benchmark, https://tianchi.aliyun.com/cblue (register, download CMeEE, unzip into assets/cmeee/)"
# Where to get the assets of configs/base.cfg, by [paths] key (projects/cmeee/README.md has the details).
SOURCES: Dict[str, str] = {
    "train": _CBLUE + "; without it, `make split-dev` in projects/cmeee and SPLIT=1",
    "dev": _CBLUE,
    "test": _CBLUE,
    "bert": "`hf download google-bert/bert-base-chinese --local-dir {path}`",
    "roberta": "`hf download hfl/chinese-roberta-wwm-ext --local-dir {path}`",
    "roberta_large": "`hf download hfl/chinese-roberta-wwm-ext-large --local-dir {path}`",
    "sgns": "sgns.merge.word.bz2 from https://github.com/Embedding/Chinese-Word-Vectors, then `bunzip2` it",
    "medvec": "Medical.txt from https://github.com/WENGSYX/Chinese-Word2vec-Medicine",
    "pkuseg": "medicine.zip from https://github.com/lancopku/pkuseg-python/releases (v0.0.16), unzipped",
}


@dataclass(frozen=True)
class AssetRef:
    """One file or directory a config reads."""

    where: str  # config path, e.g. "initialize.model.encoder.name_or_path"
    value: str  # the path (after interpolation)
    kind: str  # "file" or "dir"
    what: str
    paths_key: Optional[str] = None  # the [paths] key it comes from (${paths.KEY})
    needs: Tuple[str, ...] = ()  # files a directory must hold

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
        folder = isinstance(reader, dict) and reader.get("@readers") in FOLDER_READERS
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

    def walk(node: Any, raw_node: Any, where: str, init_node: Any) -> None:
        if not isinstance(node, dict):
            return
        raw_node = raw_node if isinstance(raw_node, dict) else {}
        init_node = init_node if isinstance(init_node, dict) else {}
        ref = next(((k[1:], v) for k, v in node.items() if k.startswith("@")), None)
        for arg, (kind, what, needs) in ASSET_ARGS.get(ref, {}).items() if ref else ():
            value = node.get(arg)
            if isinstance(value, str) and value and looks_local(value):
                # where the user wrote it: [initialize.model...] for init-only resources
                at = f"{INIT_SECTION}.{where}.{arg}" if arg in init_node else f"{where}.{arg}"
                found.append(AssetRef(at, value, kind, what, _paths_key(raw_node.get(arg)), needs))
        for key, child in node.items():
            walk(child, raw_node.get(key), f"{where}.{key}", init_node.get(key))

    for section in sections:
        if section == "model":  # as training builds it: with the [initialize] resources overlaid
            init = (data.get(INIT_SECTION) or {}).get("model")
            walk(
                with_initialize(data).get("model"), with_initialize(raw).get("model"), "model", init
            )
        elif section != "corpora":
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
    for ref, problem in missing:
        origin = f" (${{paths.{ref.paths_key}}})" if ref.paths_key else ""
        source = SOURCES.get(ref.paths_key or "")
        get = f" Source: {source.format(path=ref.value)}." if source else ""
        lines.append(f"  - {ref.where} = {ref.value}{origin}: {problem}.{get}")
    keys = [ref.paths_key for ref, _ in missing if ref.paths_key]
    fix = f"--paths.{keys[0]} PATH" if keys else "--section.key PATH"
    if "assets" in (as_dict(cfg).get("paths") or {}):
        fix = f"--paths.assets DIR (the folder that holds them all) or {fix}"
    n = len(missing)
    raise AssetError(
        f"{n} file{'s' if n > 1 else ''} this config reads {'are' if n > 1 else 'is'} missing:\n"
        + "\n".join(lines)
        + "\nWhere to get each asset: projects/cmeee/README.md (Assets); `make check-assets EXP=NAME` in "
        "projects/cmeee checks them with checksums. If yours are elsewhere, override the path, e.g. "
        f"{fix} (paths in a config file are relative to its folder, on the command line to {Path.cwd()})."
    )
