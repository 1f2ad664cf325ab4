"""Raw text for pretraining and word vectors, read as a stream.

Each file is read by its extension: ``.txt`` holds one document per line,
``.jsonl`` / ``.ndjson`` one JSON object per line whose ``text_field`` is the
document, and any other file is a corpus in a format nerkit reads
(:func:`nerkit.data.formats.detect`; labels are ignored). Text and JSON Lines
files are read line by line (memory does not grow with the file); a corpus in
another format is read whole by its reader, as ``nerkit train`` reads it.

Every problem is a :class:`nerkit.errors.DataError` naming the file and the
line, found by :func:`check_texts` before anything is trained or written: an
empty file, a file with only blank lines, bytes that are not UTF-8, a line of
more than ``max_chars`` characters (read in pieces, so a 10 MB line costs
``max_chars`` characters of memory), a JSON Lines record without the text field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence, Tuple

from ..errors import DataError
from .windows import split_windows

TEXT_SUFFIXES = (".txt",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")


@dataclass(frozen=True)
class Document:
    text: str
    source: str  # file path
    line: int  # 1-based line (text, JSON Lines) or record index (other corpus formats)


def _lines(path: Path, max_chars: int, key: str) -> Iterator[Tuple[int, str]]:
    """(1-based line number, line without its newline), each at most ``max_chars`` long.

    Read as bytes and decoded a line at a time, so the lines before a bad byte are
    read and the error names the line; ``readline`` is capped (a UTF-8 character has
    at most 4 bytes), so a huge line never sits whole in memory."""
    limit = 4 * max_chars + 3  # room for the longest allowed line and "\r\n"
    with open(path, "rb") as f:
        lineno = 0
        while True:
            lineno += 1
            raw = f.readline(limit)
            if not raw:
                return
            too_long = len(raw) == limit and not raw.endswith(b"\n")
            try:
                line = "" if too_long else raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(
                    f"{path}, line {lineno}: not UTF-8 text ({err.reason} at byte {err.start} of "
                    "the line). Convert the file to UTF-8, e.g. `iconv -f GB18030 -t UTF-8 "
                    f"{path.name} > {path.stem}.utf8{path.suffix}`, and point the config at the copy."
                ) from None
            body = line.rstrip("\r\n")
            if lineno == 1:
                body = body.removeprefix("\ufeff")
            if too_long or len(body) > max_chars:
                raise DataError(
                    f"{path}, line {lineno}: longer than {max_chars:,} characters. A line is one "
                    "document: split the document into lines (a paragraph each), or raise "
                    f"{key}.max_line_chars."
                )
            yield lineno, body


def iter_documents(
    paths: Sequence[str], text_field: str, max_chars: int, key: str = "pretraining"
) -> Iterator[Document]:
    """The non-blank documents of ``paths`` in order (a generator: one line in memory)."""
    for name in paths:
        path = Path(name)
        suffix = path.suffix.lower()
        if suffix in TEXT_SUFFIXES:
            for lineno, line in _lines(path, max_chars, key):
                if line.strip():
                    yield Document(line, str(path), lineno)
        elif suffix in JSONL_SUFFIXES:
            for lineno, line in _lines(path, max_chars, key):
                if line.strip():
                    yield Document(
                        _json_text(path, lineno, line, text_field, key), str(path), lineno
                    )
        else:
            from . import formats

            for i, example in enumerate(formats.read(path)):
                yield Document(example.text, str(path), i)


def _json_text(path: Path, lineno: int, line: str, field: str, key: str) -> str:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise DataError(
            f"{path}, line {lineno}: invalid JSON ({err.msg}, column {err.colno}). A JSON Lines "
            "file holds one JSON object per line; fix the line, or rename a plain-text file to .txt."
        ) from None
    text = record.get(field) if isinstance(record, dict) else None
    if not isinstance(text, str):
        found = ", ".join(sorted(record)) if isinstance(record, dict) else type(record).__name__
        raise DataError(
            f"{path}, line {lineno}: no string field '{field}' (found: {found}). Set "
            f"{key}.text_field to the field that holds the text."
        )
    return text


@dataclass
class TextStats:
    documents: int = 0
    characters: int = 0
    windows: int = 0


def check_texts(
    paths: Sequence[str],
    text_field: str,
    max_chars: int,
    window_chars: int,
    overlap: int,
    key: str,
) -> TextStats:
    """Read every file once (streaming): its problems, and the counts of documents and windows."""
    if not paths:
        raise DataError(f'{key}: no text files given. List them, e.g. {key} = ["notes.txt"].')
    total = TextStats()
    for name in paths:
        path = Path(name)
        if not path.is_file():
            what = "a folder, expected a file" if path.is_dir() else "not found"
            raise DataError(f"{key}: {path} is {what}. Fix the path in the config.")
        if path.stat().st_size == 0:
            raise DataError(
                f"{key}: {path} is empty (0 bytes). Put the text in it (one document per line) "
                "or remove it from the list."
            )
        stats = TextStats()
        for doc in iter_documents([name], text_field, max_chars, key):
            stats.documents += 1
            stats.characters += len(doc.text)
            stats.windows += len(split_windows(len(doc.text), window_chars, overlap))
        if not stats.documents:
            raise DataError(
                f"{key}: {path} holds no text (only blank lines or no records). Put the text in "
                "it (one document per line) or remove it from the list."
            )
        total.documents += stats.documents
        total.characters += stats.characters
        total.windows += stats.windows
    return total


def iter_windows(
    paths: Sequence[str], text_field: str, max_chars: int, window_chars: int, overlap: int
) -> Iterator[str]:
    """The documents cut into windows of at most ``window_chars`` characters, as training cuts them."""
    for doc in iter_documents(paths, text_field, max_chars):
        for start, end in split_windows(len(doc.text), window_chars, overlap):
            yield doc.text[start:end]
