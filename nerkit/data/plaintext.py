"""Plain text in: one text a line (``notes.txt``, or stdin), what most users have.

Every line is a record, empty lines included (a record with no entities), so the
records and the file's lines stay aligned: a record's id is its line number,
counted from 1 (line ends: ``\\n``, ``\\r\\n`` or ``\\r``; a BOM is dropped). A ``.txt``
file with a ``.ann`` file beside it is a brat document, not plain text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator, Optional, Tuple, Union

from ..errors import DataError
from ..types import Example
from .formats.base import Corpus

TEXT = "text"  # the format name: nlp.read(path, fmt="text"), nerkit predict --from text
SUFFIXES = (".txt",)


def is_plain_text(path: Union[str, Path], fmt: Optional[str] = None) -> bool:
    """Whether ``path`` is read as plain text: ``fmt`` "text", or (no ``fmt``) a ``.txt``
    file that is not half of a brat pair."""
    if fmt is not None:
        return fmt == TEXT
    path = Path(path)
    return path.suffix.lower() in SUFFIXES and not path.with_suffix(".ann").exists()


def decoded(lines: Iterable[str], source: str) -> Iterator[str]:
    """The lines of a text-mode file or stdin; bytes that are not UTF-8 are a
    :class:`DataError` (naming the last line read before them)."""
    lineno = 0
    it = iter(lines)
    while True:
        try:
            line = next(it)
        except StopIteration:
            return
        except UnicodeDecodeError as err:
            where = f" (after line {lineno}, read in blocks)" if lineno else ""
            raise DataError(
                f"{source}: not UTF-8 text{where}: {err.reason}. Save the file as UTF-8."
            ) from None
        lineno += 1
        yield line


def text_lines(lines: Iterable[str], source: str) -> Iterator[Tuple[int, str]]:
    """(line number, text) of every line, its line end removed (see :func:`decoded`)."""
    lineno = 0
    for chunk in decoded(lines, source):  # a binary stream's lines end at "\n" only
        chunk = (
            chunk[:-2] if chunk.endswith("\r\n") else chunk[:-1] if chunk.endswith("\n") else chunk
        )
        for line in chunk.split("\r"):
            lineno += 1
            yield lineno, line


def read_text_lines(path: Union[str, Path]) -> Corpus:
    """The lines of a plain-text file as examples without entities (``id``: the line number)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"file not found: {path}. Fix the path.")
    if path.is_dir():
        raise DataError(f"{path} is a directory, expected a plain-text file (one text a line).")
    with open(path, encoding="utf-8-sig") as fh:
        examples = [
            Example(text, [], lineno - 1, str(path), str(lineno))
            for lineno, text in text_lines(fh, str(path))
        ]
    return Corpus(examples, path=str(path))
