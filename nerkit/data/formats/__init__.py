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

Every reader returns a :class:`~nerkit.data.formats.base.Corpus` of
:class:`nerkit.types.Example` (entity ends inclusive, the record's own id in
``Example.id``); every writer returns a :class:`WriteReport`.

There is one registry per kind: readers and writers are the ``readers`` and
``writers`` registries' components, plugins' entry points included. A format
name (``--from``/``--to``, :func:`read`, :func:`write`) is a registered name
(``nerkit.CoNLL.v1``) or the short name a builder declares with
:func:`corpus_format` (``conll``); :func:`detect` and :func:`output_format` read
the same declarations (suffixes, sniffers; see docs/data-formats.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ...errors import DataError
from ...registry import get_all, registry
from ...types import Example
from ..encoding import head_text
from .base import Corpus, FormatDeclaration, PathLike, WriteReport, corpus_format, declaration

HEAD_CHARS = 8192  # what a sniffer sees of a file


def declared(kind: str) -> List[Tuple[str, Callable[..., Any], FormatDeclaration]]:
    """(registered name, builder, declaration) of every ``kind`` ("readers" or "writers")
    component, in sniffing order: highest ``priority`` first, then by name."""
    found = [(name, func, declaration(func)) for name, func in get_all(kind).items()]
    return sorted(found, key=lambda item: (-item[2].priority, item[0]))


def format_name(kind: str, name: str) -> str:
    """The name a format goes by in messages: the declared short name of the component
    ``name`` (registered or short), else ``name``."""
    builder = _builder(kind, name)
    return declaration(builder).name or name


def _shown(name: str, decl: FormatDeclaration) -> str:
    return decl.name or name


def _short_names(kind: str) -> str:
    names = sorted({d.name for _, _, d in declared(kind) if d.name})
    return f"{', '.join(names)}, or any name `nerkit registry {kind}` lists" if names else "(none)"


def _builder(kind: str, name: str) -> Callable[..., Any]:
    if registry.has(kind, name):
        return registry.get(kind, name)
    matches = [(n, f) for n, f, d in declared(kind) if d.name == name]
    if len(matches) == 1:
        return matches[0][1]
    if matches:
        raise DataError(
            f"the format name {name!r} is declared by several {kind}: "
            f"{', '.join(n for n, _ in matches)}. Pass one of these registered names instead."
        )
    raise DataError(f"unknown format {name!r}. Formats: {_short_names(kind)}.")


def detect(path: PathLike) -> str:
    """The format of an existing file or folder, from the readers' declarations: a folder
    format's sniffer, else an extension a reader claims, else the content's first
    characters (each reader's sniffer, in priority order)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"file not found: {path}. Fix the path.")
    readers = declared("readers")
    if path.is_dir():
        folders = [(n, d) for n, _, d in readers if d.folder and d.sniff is not None]
        for name, decl in folders:
            if decl.sniff(path, ""):
                return _shown(name, decl)
        kinds = "; ".join(f"{_shown(n, d)}: {d.description or n}" for n, d in folders)
        raise DataError(f"{path} is a folder that no folder format reads ({kinds or 'none'}).")
    suffix = path.suffix.lower()
    for name, _, decl in readers:
        if suffix and suffix in decl.suffixes:
            return _shown(name, decl)
    head = head_text(path)[:HEAD_CHARS]
    for name, _, decl in readers:
        if decl.sniff is not None and not decl.folder and decl.sniff(path, head):
            return _shown(name, decl)
    raise DataError(
        f"{path}: can't tell its format from the extension or the content. Pass it with --from "
        f"({_short_names('readers')})."
    )


def output_format(path: PathLike) -> str:
    """The format an output path asks for, from the writers' declarations (a path without
    extension, or a folder: the folder format)."""
    path = Path(path)
    ext = path.suffix.lower()
    folder = not ext or path.is_dir()
    claims = [
        _shown(n, d)
        for n, _, d in declared("writers")
        if (d.folder if folder else ext in d.suffixes)
    ]
    claims = sorted(set(claims))
    if len(claims) == 1:
        return claims[0]
    what = "a folder" if folder else f"the extension {ext!r}"
    if claims:
        raise DataError(
            f"{path}: several writers are the default for {what} ({', '.join(claims)}). Pass one "
            "with --to."
        )
    raise DataError(
        f"{path}: can't tell the output format from {what}. Pass it with --to "
        f"({_short_names('writers')})."
    )


def read(path: PathLike, fmt: Optional[str] = None, **options: Any) -> Corpus:
    """Read a corpus in ``fmt`` (detected when None) with the format's reader options."""
    name = fmt or detect(path)
    return _configured(_builder("readers", name), options, f"the {name} reader")(path)


def write(
    path: PathLike, examples: Sequence[Example], fmt: Optional[str] = None, **options: Any
) -> WriteReport:
    """Write ``examples`` in ``fmt`` (from the output path when None)."""
    name = fmt or output_format(path)
    builder = _builder("writers", name)
    implied = declaration(builder).suffix_options.get(Path(path).suffix.lower(), {})
    options = {**implied, **options}
    return _configured(builder, options, f"the {name} writer")(path, examples)


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
    "Corpus",
    "FormatDeclaration",
    "WriteReport",
    "corpus_format",
    "declared",
    "detect",
    "format_name",
    "output_format",
    "read",
    "write",
]
