"""Check that the assets an experiment needs are in place, before a long run.

Which assets: those a config refers to through ``${paths.<key>}`` (the
experiment's config, following ``[nerkit] extends``), or every known asset
when no config is given. Where: the config's ``[paths]`` values (relative to
the config file's folder; configs/base.cfg puts them under
``${paths.assets}``, this folder's ``assets/``), after any ``--paths.<key>
VALUE`` overrides (relative to the working directory). ``--root DIR`` checks
another copy of this folder: ``DIR/assets`` for ``paths.assets``, overrides
relative to ``DIR``. Each asset is checked for presence, for the files a
directory must hold, and for its SHA-256 where one is known (``--sha256
KEY=HEX`` pins your own copy). Exit status 1 when anything is wrong, with a
message that says where to get the asset.

    python check_assets.py                                   # every asset
    python check_assets.py --config ../../configs/best.cfg   # what best.cfg needs
    python check_assets.py --config ../../configs/best.cfg --paths.train assets/cmeee-split/train.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set

from nerkit.assets import SOURCES_FILE
from nerkit.lexicon.pkuseg import FEATURE_FILES as PKUSEG_FEATURE_FILES
from nerkit.lexicon.pkuseg import MODEL_FILES as PKUSEG_MODEL_FILES

REPO = Path(__file__).resolve().parents[2]
# Where to get each asset, by [paths] key: this project's nerkit-sources.json, which
# `nerkit train` and `nerkit debug config` quote too when one is missing.
SOURCES: Dict[str, str] = json.loads(
    (Path(__file__).resolve().parent / SOURCES_FILE).read_text(encoding="utf8")
)["sources"]
BASE_CONFIG = REPO / "configs" / "base.cfg"
# config.json, a tokenizer, weights: each inner list, one of them
MODEL_FILES = [
    ["config.json"],
    ["vocab.txt", "tokenizer.json"],
    ["model.safetensors", "pytorch_model.bin"],
]


@dataclass
class Asset:
    """One downloadable asset, named by its ``[paths]`` key."""

    key: str
    what: str
    source: str  # where to get it; "{path}" stands for where it goes
    kind: str = "file"  # "file" or "dir"
    sha256: Optional[str] = None  # of the file; None: unknown
    needs: List[List[str]] = field(
        default_factory=list
    )  # dir: each inner list, one of them must exist
    archive: Optional[str] = None  # file name of the downloaded archive, beside the path
    archive_sha256: Optional[str] = None


# What each asset of configs/base.cfg is; where to get it: SOURCES.
ASSETS: Dict[str, Asset] = {
    a.key: a
    for a in [
        Asset("train", "CMeEE training set (15,000 records)", SOURCES["train"]),
        Asset("dev", "CMeEE dev set (5,000 records)", SOURCES["dev"]),
        Asset("test", "CMeEE test set (3,000 records, unlabelled)", SOURCES["test"]),
        Asset("bert", "bert-base-chinese", SOURCES["bert"], kind="dir", needs=MODEL_FILES),
        Asset(
            "roberta",
            "hfl/chinese-roberta-wwm-ext",
            SOURCES["roberta"],
            kind="dir",
            needs=MODEL_FILES,
        ),
        Asset(
            "roberta_large",
            "hfl/chinese-roberta-wwm-ext-large",
            SOURCES["roberta_large"],
            kind="dir",
            needs=MODEL_FILES,
        ),
        Asset(
            "sgns",
            "sgns.merge.word, 300-d word2vec text vectors (Mixed-large, Word)",
            SOURCES["sgns"],
        ),
        Asset("medvec", "Medical.txt, 512-d medical word2vec text vectors", SOURCES["medvec"]),
        Asset(
            "pkuseg",
            "pkuseg 'medicine' word segmentation model (directory)",
            SOURCES["pkuseg"],
            kind="dir",
            needs=[list(PKUSEG_MODEL_FILES), list(PKUSEG_FEATURE_FILES)],
            archive="medicine.zip",
            # the hash spacy-pkuseg pins for this file (spacy_pkuseg/config.py)
            archive_sha256="773d655713acd27dd1ea9f97d91349cc1b6aa2fc5b158cd742dc924e6f239dfc",
        ),
    ]
}


@dataclass
class Result:
    key: str
    path: Path
    ok: bool
    message: str


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_asset(asset: Asset, path: Path, verify: bool = True) -> Result:
    """Presence, required files and checksums of one asset at ``path``."""
    get = f"Source: {asset.source.replace('{path}', str(path))}."
    if not path.exists():
        return Result(asset.key, path, False, f"missing: {asset.what} not found at {path}. {get}")
    if asset.kind == "dir":
        if not path.is_dir():
            return Result(
                asset.key,
                path,
                False,
                f"{path} is a file; expected a directory with {asset.what}. {get}",
            )
        lacking = [
            " or ".join(alts) for alts in asset.needs if not any((path / a).exists() for a in alts)
        ]
        if lacking:
            return Result(
                asset.key,
                path,
                False,
                f"incomplete: {path} lacks {'; '.join(lacking)}. Download {asset.what} again. {get}",
            )
    elif not path.is_file():
        return Result(
            asset.key, path, False, f"{path} is a directory; expected the file {asset.what}. {get}"
        )
    notes = []
    if verify and asset.kind == "file" and asset.sha256:
        digest = sha256_of(path)
        if digest != asset.sha256.lower():
            return Result(
                asset.key,
                path,
                False,
                f"checksum mismatch: {path} has SHA-256 {digest}, expected {asset.sha256}. "
                f"The file is corrupt, truncated or a different version. {get}",
            )
        notes.append("sha256 ok")
    if verify and asset.archive and asset.archive_sha256:
        archive = path.parent / asset.archive
        if archive.exists():
            digest = sha256_of(archive)
            if digest != asset.archive_sha256.lower():
                return Result(
                    asset.key,
                    path,
                    False,
                    f"checksum mismatch: {archive} has SHA-256 {digest}, expected {asset.archive_sha256}. "
                    f"Download it again. {get}",
                )
            notes.append(f"{asset.archive} sha256 ok")
    if not notes:
        notes.append("present (checksum unknown)" if verify else "present")
    return Result(asset.key, path, True, ", ".join(notes))


def referenced_paths(data: Any) -> Set[str]:
    """The ``[paths]`` keys a config's sections other than ``[paths]`` refer to."""
    found: Set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            found.update(re.findall(r"\$\{paths\.(\w+)\}", node))

    walk({k: v for k, v in data.items() if k != "paths"})
    return found


def config_paths(config: Path, overrides: Dict[str, Any]) -> tuple[Dict[str, str], Set[str]]:
    """(resolved [paths] values, keys the config uses) of a config file."""
    from nerkit.config import load_config

    cfg = load_config(config, overrides)
    used = referenced_paths(dict(cfg))
    paths = dict(cfg.interpolate().get("paths", {}))
    return {k: str(v) for k, v in paths.items()}, used


def check(
    keys: Iterable[str],
    paths: Dict[str, str],
    root: Path,
    assets: Optional[Dict[str, Asset]] = None,
    verify: bool = True,
    overridden: Iterable[str] = (),
) -> List[Result]:
    """Check the assets named by ``keys`` at ``root / paths[key]``.

    Keys in ``overridden`` (set with ``--paths.KEY``) point at the user's own
    files: only presence is checked there, with no download advice.
    """
    assets = ASSETS if assets is None else assets
    overridden = set(overridden)
    out: List[Result] = []
    for key in keys:
        if key not in paths:
            out.append(
                Result(key, Path("?"), False, f"[paths] has no key '{key}'. Add it to the config.")
            )
            continue
        value = paths[key]
        path = Path(value) if Path(value).is_absolute() else root / value
        if key not in assets or (key in overridden and not assets[key].sha256):
            # the user's own file (e.g. the dev split) or a path unknown here: presence only
            source = (
                f"the --paths.{key} override (for the dev split run `make split-dev` first)"
                if key in overridden
                else "the config's [paths] section, which names it"
            )
            asset = Asset(key, f"[paths] {key}", source, kind="dir" if path.is_dir() else "file")
        else:
            asset = assets[key]
        out.append(check_asset(asset, path, verify))
    return out


def report(results: Sequence[Result]) -> str:
    width = max((len(r.key) for r in results), default=0)
    lines = [
        f"{'ok     ' if r.ok else 'PROBLEM'} {r.key:<{width}}  {r.path}: {r.message}"
        for r in results
    ]
    bad = sum(not r.ok for r in results)
    lines.append(
        f"{len(results) - bad} of {len(results)} assets in place."
        + ("" if not bad else f" Fix the {bad} problem(s) above; see projects/cmeee/README.md.")
    )
    return "\n".join(lines)


def _parse_args(argv: Optional[Sequence[str]]) -> tuple[argparse.Namespace, Dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config",
        type=Path,
        action="append",
        default=[],
        help="experiment config (repeatable); default: check every known asset",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="a folder laid out like this one: DIR/assets holds the assets, and "
        "relative --paths overrides start from DIR (default: the working directory)",
    )
    parser.add_argument(
        "--no-checksums", action="store_true", help="skip SHA-256 checks (large files)"
    )
    parser.add_argument(
        "--sha256",
        action="append",
        default=[],
        metavar="KEY=HEX",
        help="expected SHA-256 of the file of [paths] KEY (repeatable)",
    )
    args, rest = parser.parse_known_args(argv)
    from nerkit.config import parse_overrides
    from nerkit.errors import ConfigError

    try:
        overrides = parse_overrides(rest)
    except ConfigError as err:
        parser.error(str(err))
    bad = [k for k in overrides if not k.startswith("paths.")]
    if bad:
        parser.error(f"only --paths.KEY overrides are read here, got --{bad[0]}")
    return args, overrides


def main(argv: Optional[Sequence[str]] = None) -> int:
    from nerkit.errors import NerkitError

    args, overrides = _parse_args(argv)
    assets = dict(ASSETS)
    for item in args.sha256:
        key, sep, digest = item.partition("=")
        if not sep or not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
            print(f"check_assets: --sha256 {item}: expected KEY=<64 hex digits>.", file=sys.stderr)
            return 2
        base = assets.get(key, Asset(key, f"[paths] {key}", "wherever you made it"))
        assets[key] = Asset(**{**base.__dict__, "sha256": digest.lower()})
    overridden = [k.split(".", 1)[1] for k in overrides]
    if args.root is not None and "paths.assets" not in overrides:
        overrides["paths.assets"] = str(args.root / "assets")
    try:
        if args.config:
            paths: Dict[str, str] = {}
            keys: List[str] = []
            for config in args.config:
                cfg_paths, used = config_paths(config, overrides)
                paths.update(cfg_paths)
                keys += [k for k in sorted(used) if k not in keys]
        else:
            paths, _ = config_paths(BASE_CONFIG, overrides)
            # every asset of base.cfg; "assets" is the folder that holds them, not one of them
            keys = [k for k in ASSETS if k in paths] + [
                k for k in paths if k not in ASSETS and k != "assets"
            ]
    except NerkitError as err:
        print(f"check_assets: {err}", file=sys.stderr)
        return 2
    results = check(
        keys,
        paths,
        args.root or Path("."),
        assets,
        verify=not args.no_checksums,
        overridden=overridden,
    )
    print(report(results))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
