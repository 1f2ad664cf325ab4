"""Corpus formats: a reader and a writer per format, one module each.

======================  ==================================  ===============
format                  reader / writer                     end offset
======================  ==================================  ===============
``cmeee``               ``nerkit.CMeEEJson.v1`` / ...       inclusive
``conll``               ``nerkit.CoNLL.v1``                 (tags)
``brat``                ``nerkit.Brat.v1``                  exclusive
``doccano``             ``nerkit.Doccano.v1``               exclusive
``labelstudio``         ``nerkit.LabelStudio.v1``           exclusive
``ccks``                ``nerkit.CCKS.v1``                  exclusive
======================  ==================================  ===============

Every reader returns a :class:`nerkit.data.readers.Corpus` of
:class:`nerkit.types.Example` (entity ends inclusive, the record's own id in
``Example.id``); every writer returns a :class:`WriteReport`. ``detect`` picks a
format from a path's extension and content (see docs/data-formats.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from ...errors import DataError
from ...types import Example
from ..encoding import head_text
from ..readers import Corpus
from . import brat, ccks, cmeee, conll, doccano, label_studio  # noqa: F401  (each registers its format)
from .base import FORMATS, Format, PathLike, WriteReport

# Output paths: the format an extension means when --to is not given.
OUTPUT_EXTENSIONS = {
    ".json": "cmeee",
    ".jsonl": "doccano",
    ".ann": "brat",
    **{ext: "conll" for ext in conll.FORMAT.extensions},
}
# CoNLL extensions that name their tag scheme.
CONLL_SCHEMES = {".bmes": "BMES", ".bioes": "BIOES"}
_CONTENT_ORDER = ("ccks", "labelstudio", "doccano", "cmeee", "conll")
# Extensions that many kinds of files have: they name a format only with its content.
_GENERIC_EXTENSIONS = {".txt", ".tsv", ".json", ".jsonl"}


def get_format(name: str) -> Format:
    if name not in FORMATS:
        raise DataError(f"unknown format {name!r}. Formats: {', '.join(sorted(FORMATS))}.")
    return FORMATS[name]


def detect(path: PathLike) -> str:
    """The format of an existing file or folder, from its extension and first characters."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"file not found: {path}. Fix the path.")
    if path.is_dir():
        if FORMATS["brat"].sniff(path, ""):
            return "brat"
        raise DataError(
            f"{path} is a folder without .ann files; the only folder format is brat (.txt + .ann)."
        )
    if path.suffix.lower() in (".ann",):
        return "brat"
    head = head_text(path)[:8192]
    for name in _CONTENT_ORDER:
        if FORMATS[name].sniff(path, head):
            return name
    claims = [n for n, f in FORMATS.items() if path.suffix.lower() in f.extensions]
    if len(claims) == 1 and path.suffix.lower() not in _GENERIC_EXTENSIONS:
        return claims[0]  # e.g. a .conll file with a bad tag: its reader names the line
    raise DataError(
        f"{path}: can't tell its format from the extension or the content. Pass it with --from "
        f"({', '.join(sorted(FORMATS))})."
    )


def output_format(path: PathLike) -> str:
    """The format an output path asks for (a path without extension: a brat folder)."""
    path = Path(path)
    ext = path.suffix.lower()
    if not ext or path.is_dir():
        return "brat"
    if ext in OUTPUT_EXTENSIONS:
        return OUTPUT_EXTENSIONS[ext]
    raise DataError(
        f"{path}: can't tell the output format from the extension {ext!r}. Pass it with --to "
        f"({', '.join(sorted(FORMATS))})."
    )


def read(path: PathLike, fmt: Optional[str] = None, **options: Any) -> Corpus:
    """Read a corpus in ``fmt`` (detected when None) with the format's reader options."""
    name = fmt or detect(path)
    return _configured(get_format(name).reader, options, f"the {name} reader")(path)


def write(
    path: PathLike, examples: Sequence[Example], fmt: Optional[str] = None, **options: Any
) -> WriteReport:
    """Write ``examples`` in ``fmt`` (from the output path when None)."""
    name = fmt or output_format(path)
    if name == "conll" and "scheme" not in options and Path(path).suffix.lower() in CONLL_SCHEMES:
        options["scheme"] = CONLL_SCHEMES[Path(path).suffix.lower()]
    return _configured(get_format(name).writer, options, f"the {name} writer")(path, examples)


def _configured(factory: Any, options: Dict[str, Any], what: str) -> Any:
    """``factory(**options)``; an option it does not take is the user's mistake, said so."""
    import difflib
    import inspect

    params = inspect.signature(factory).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        for key in options:
            if key not in params:
                close = difflib.get_close_matches(key, list(params), n=1, cutoff=0.6)
                hint = f" Did you mean {close[0]}?" if close else ""
                raise DataError(
                    f"{what}: no option {key!r}.{hint} Its options: "
                    f"{', '.join(params) or '(none)'}; docs/data-formats.md describes them."
                )
    try:
        return factory(**options)
    except TypeError as err:
        raise DataError(
            f"{what}: {err}. Fix or drop the option; docs/data-formats.md lists each "
            "format's options."
        ) from None


__all__ = [
    "FORMATS",
    "Format",
    "WriteReport",
    "detect",
    "get_format",
    "output_format",
    "read",
    "write",
]
