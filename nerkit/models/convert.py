"""Convert a model directory of format 1 (nerkit 0.1.0) to the current format.

    python -m nerkit.models.convert OLD_DIR NEW_DIR

Format 1 kept the init-only arguments in ``[model]`` and edited them on load;
format 2 keeps them in ``[initialize]`` and restores assets with ``from_disk``.
The old directory is only read. This one-off translation names the arguments of
nerkit 0.1.0's built-in components, which format 1 rewrote; nothing else does.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

from confection import Config

from ..config import INIT_SECTION, as_dict
from ..errors import ModelLoadError

# What format 1 rewrote on load, per component kind (nerkit 0.1.0's built-ins).
INIT_ONLY = {
    "@encoders": ("name_or_path", "pretrained"),
    "@segmenters": ("model", "user_dict", "words_file"),
}
OLD_SEGMENTERS = "lexicon/segmenters"


def _take(block: Dict[str, Any], keys: tuple) -> Dict[str, Any]:
    return {k: block.pop(k) for k in keys if k in block}


def _segmenter_blocks(node: Any) -> List[Tuple[List[str], List[str], Dict[str, Any]]]:
    """(config keys below the segmenter, directory parts below lexicon/segmenter, block)
    of each segmenter block, pre-order: the order format 1 numbered its copies in."""
    if not (isinstance(node, dict) and "@segmenters" in node):
        return []
    out: List[Tuple[List[str], List[str], Dict[str, Any]]] = [([], [], node)]
    children = node.get("*") if isinstance(node.get("*"), dict) else {}
    for i, (key, child) in enumerate(children.items()):
        out += [
            (["*", key, *keys], [str(i), *parts], b) for keys, parts, b in _segmenter_blocks(child)
        ]
    return out


def convert(old: Path, new: Path) -> None:
    old, new = Path(old), Path(new)
    meta = json.loads((old / "meta.json").read_text(encoding="utf8"))
    if meta.get("format", 1) != 1:
        raise ModelLoadError(
            f"{old}: format {meta.get('format')}, not format 1; nothing to convert."
        )
    if new.exists():
        raise ModelLoadError(f"{new} exists; pass a new directory.")
    data = as_dict(Config().from_disk(old / "config.cfg", interpolate=False))
    init: Dict[str, Any] = {}
    model = data["model"]
    enc = _take(model["encoder"], INIT_ONLY["@encoders"])
    if enc:
        init["encoder"] = enc
    lex = model.get("lexicon")
    moves = []
    if isinstance(lex, dict):
        lex_init: Dict[str, Any] = {}
        if lex.get("vectors") is not None:
            lex_init["vectors"] = lex.pop("vectors")
        for i, (keys, parts, block) in enumerate(_segmenter_blocks(lex.get("segmenter"))):
            taken = _take(block, INIT_ONLY["@segmenters"])
            if taken:
                node = lex_init.setdefault("segmenter", {})
                for k in keys:
                    node = node.setdefault(k, {})
                node.update(taken)
            moves.append((str(i), Path("lexicon/segmenter", *parts)))
        if lex_init:
            init["lexicon"] = lex_init
    data[INIT_SECTION] = {"model": init}
    shutil.copytree(old, new)
    staged = new / ".segmenters-v1"
    if (new / OLD_SEGMENTERS).exists():
        shutil.move(str(new / OLD_SEGMENTERS), str(staged))
        for src, dst in moves:
            src = staged / src
            if src.exists():
                (new / dst).parent.mkdir(parents=True, exist_ok=True)
                (src / "settings.json").unlink(missing_ok=True)
                shutil.move(str(src), str(new / dst))
        shutil.rmtree(staged)
    Config(data).to_disk(new / "config.cfg")
    meta["format"] = 2
    (new / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf8")


if __name__ == "__main__":  # pragma: no cover
    if len(sys.argv) != 3:
        sys.exit("usage: python -m nerkit.models.convert OLD_DIR NEW_DIR")
    convert(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"converted {sys.argv[1]} -> {sys.argv[2]}")
