"""Readers for CMeEE files: a JSON list of records, or JSON Lines.

The format follows the file, whichever reader the config names: ``.jsonl`` /
``.ndjson`` files are JSON Lines; any other file is read by its content (a
first character ``[`` means one JSON list, ``{`` one record per line). So a
model trained on ``.json`` files predicts on ``.jsonl`` ones and back.

A record is ``{"text": str, "entities": [{"start_idx": int, "end_idx": int,
"type": str, "entity": str}]}`` with ``end_idx`` inclusive. ``entities`` may be
missing (test files): the record then has no gold entities.

Every record is validated; a problem raises :class:`nerkit.errors.DataError`
naming the file, the record index and the field, e.g.
``CMeEE_dev.json, record 17, entities[2].end_idx: 54 is outside the text (length 40)``.
With ``on_mismatch="warn"`` an ``entity`` string that differs from
``text[start_idx:end_idx+1]`` is not an error: the entity is kept by its offsets
and the problem is recorded in ``Corpus.warnings``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Iterable, List, Optional, Sequence, Union

from ..errors import ConfigError, DataError
from ..types import Entity, Example
from .encoding import read_text_file

logger = logging.getLogger("nerkit")

PathLike = Union[str, Path]
ON_MISMATCH = ("error", "warn")
_UNREADABLE = object()  # a JSON Lines line that is not JSON (collecting mode)


class Corpus(list):
    """The records of one file, in file order: a ``list`` of :class:`Example`.

    ``path`` is the file read, ``warnings`` the fixable problems that were
    tolerated (``on_mismatch="warn"``), one message each.
    """

    def __init__(
        self,
        examples: Iterable[Example] = (),
        path: Optional[str] = None,
        warnings: Optional[List[str]] = None,
    ) -> None:
        super().__init__(examples)
        self.path = path
        self.warnings: List[str] = list(warnings or [])

    @property
    def texts(self) -> List[str]:
        return [ex.text for ex in self]

    @property
    def num_entities(self) -> int:
        return sum(len(ex.entities) for ex in self)


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _record_id(record: dict) -> Optional[str]:
    """A record's own ``id`` (string or integer), kept as a string; None if absent."""
    value = record.get("id")
    if isinstance(value, str) or _is_int(value):
        return str(value)
    return None


class _RecordParser:
    """Validates raw records and turns them into examples."""

    def __init__(self, source: str, labels: Optional[Sequence[str]], on_mismatch: str) -> None:
        self.source = source
        # a list: entity problems are appended to it and the entity skipped, instead of raising
        self.problems: Optional[List[str]] = None
        self.labels = frozenset(labels) if labels is not None else None
        self.label_list = ", ".join(labels or ())
        self.warn = on_mismatch == "warn"
        self.warnings: List[str] = []

    def fail(
        self, index: int, field: str, problem: str, fix: str = "Fix the record in the file."
    ) -> DataError:
        return DataError(f"{self.source}, record {index}, {field}: {problem}. {fix}")

    def parse(self, record: Any, index: int) -> Example:
        if not isinstance(record, dict):
            raise self.fail(
                index,
                "record",
                f"expected an object with 'text' and 'entities', got {_describe(record)}",
            )
        text = record.get("text")
        if not isinstance(text, str):
            if "text" not in record:
                raise self.fail(
                    index, "text", "missing", "Every record needs a non-empty 'text' string."
                )
            raise self.fail(index, "text", f"expected a string, got {_describe(text)}")
        if not text:
            raise self.fail(index, "text", "is empty", "Remove the record or give it its text.")
        raw = record.get("entities")
        if raw is None:
            return Example(text, [], index, self.source, _record_id(record))
        if not isinstance(raw, list):
            raise self.fail(index, "entities", f"expected a list, got {_describe(raw)}")
        entities: List[Entity] = []
        for j, ent in enumerate(raw):
            try:
                entities.append(self._entity(index, j, ent, text))
            except DataError as err:
                if self.problems is None:
                    raise
                self.problems.append(str(err))  # collecting: keep the record's valid entities
        return Example(text, entities, index, self.source, _record_id(record))

    def _entity(self, index: int, j: int, ent: Any, text: str) -> Entity:
        n = len(text)
        if not isinstance(ent, dict):
            raise self.fail(index, f"entities[{j}]", f"expected an object, got {_describe(ent)}")
        start = ent.get("start_idx")
        end = ent.get("end_idx")
        label = ent.get("type")
        if not _is_int(start):
            raise self._bad_field(index, j, "start_idx", ent, "an integer")
        if not _is_int(end):
            raise self._bad_field(index, j, "end_idx", ent, "an integer")
        if not isinstance(label, str):
            raise self._bad_field(index, j, "type", ent, "a string")
        if self.labels is not None and label not in self.labels:
            raise self.fail(
                index,
                f"entities[{j}].type",
                f"'{label}' is not one of the labels ({self.label_list})",
                "Fix the type, or add it to the reader's 'labels' in the config.",
            )
        if not 0 <= start < n:
            raise self.fail(
                index, f"entities[{j}].start_idx", f"{start} is outside the text (length {n})"
            )
        if not 0 <= end < n:
            raise self.fail(
                index,
                f"entities[{j}].end_idx",
                f"{end} is outside the text (length {n})",
                "Fix the record in the file (end_idx is inclusive: the last character's index).",
            )
        if end < start:
            raise self.fail(index, f"entities[{j}].end_idx", f"{end} is before start_idx {start}")
        surface = ent.get("entity")
        if surface is not None:
            span = text[start : end + 1]
            if surface != span:
                self._mismatch(index, j, surface, span, start, end)
        return Entity(start, end, label)

    def _bad_field(self, index: int, j: int, field: str, ent: dict, expected: str) -> DataError:
        if field not in ent:
            return self.fail(
                index,
                f"entities[{j}].{field}",
                "missing",
                "Every entity needs start_idx, end_idx and type.",
            )
        return self.fail(
            index, f"entities[{j}].{field}", f"expected {expected}, got {_describe(ent[field])}"
        )

    def _mismatch(self, index: int, j: int, surface: Any, span: str, start: int, end: int) -> None:
        problem = (
            f"{surface!r} does not match the text at start_idx {start}, end_idx {end} "
            f"(text[{start}:{end + 1}] = {span!r})"
        )
        if not self.warn:
            raise self.fail(
                index,
                f"entities[{j}].entity",
                problem,
                'Fix the offsets or the string, or set the reader\'s on_mismatch = "warn" '
                "to keep such entities by their offsets.",
            )
        self.warnings.append(f"{self.source}, record {index}, entities[{j}].entity: {problem}")


def _check_args(labels: Optional[Sequence[str]], on_mismatch: str) -> None:
    if on_mismatch not in ON_MISMATCH:
        raise ConfigError(f'reader.on_mismatch: expected "error" or "warn", got {on_mismatch!r}.')
    if labels is None:
        return
    if not labels or not all(isinstance(label, str) and label for label in labels):
        raise ConfigError(
            f"reader.labels: expected a non-empty list of type names, got {list(labels)!r}."
        )
    if len(set(labels)) != len(labels):
        raise ConfigError(f"reader.labels: {list(labels)!r} lists a type twice.")


def parse_records(
    records: Sequence[Any],
    source: str = "<records>",
    labels: Optional[Sequence[str]] = None,
    on_mismatch: str = "error",
    problems: Optional[List[str]] = None,
) -> Corpus:
    """Validate raw records (already decoded from JSON) into a :class:`Corpus`.

    With a ``problems`` list, every problem is appended to it (broken records and
    entities are left out) instead of raising at the first one.
    """
    _check_args(labels, on_mismatch)
    parser = _RecordParser(source, labels, on_mismatch)
    parser.problems = problems  # None: raise at the first problem
    examples: List[Example] = []
    for i, rec in enumerate(records):
        if rec is _UNREADABLE:
            continue  # a line that was not JSON, already reported
        try:
            examples.append(parser.parse(rec, i))
        except DataError as err:
            if problems is None:
                raise
            problems.append(str(err))
    corpus = Corpus(examples, path=source)
    corpus.warnings = parser.warnings
    if parser.warnings:
        logger.warning(
            "%s: %d entity strings do not match the text at their offsets; kept by their offsets. First: %s",
            source,
            len(parser.warnings),
            parser.warnings[0],
        )
    return corpus


def _read_text(path: Path) -> str:
    if not path.exists():
        raise DataError(f"file not found: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a directory, expected a CMeEE .json or .jsonl file.")
    return read_text_file(path)


def _json_error(source: str, err: json.JSONDecodeError, line: Optional[int] = None) -> DataError:
    lineno = err.lineno if line is None else line
    return DataError(
        f"{source}: invalid JSON at line {lineno}, column {err.colno}: {err.msg}. "
        "Fix the file (a CMeEE file is a JSON list of records; JSON Lines holds one record per line)."
    )


JSONL_SUFFIXES = (".jsonl", ".ndjson")


def detect_format(path: PathLike, content: str) -> str:
    """ "jsonl" or "json" for a file: by extension (.jsonl, .ndjson), else by its content."""
    if Path(path).suffix.lower() in JSONL_SUFFIXES:
        return "jsonl"
    return "jsonl" if content.lstrip()[:1] == "{" else "json"


def _json_list(source: str, content: str) -> List[Any]:
    try:
        data = json.loads(content)
    except json.JSONDecodeError as err:
        raise _json_error(source, err) from None
    if not isinstance(data, list):
        raise DataError(
            f"{source}: expected a JSON list of records (or JSON Lines, one record per line), "
            f"got {_describe(data)}."
        )
    return data


def _json_lines(source: str, content: str) -> List[Any]:
    records: List[Any] = []
    for lineno, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            try:
                whole = json.loads(content)
            except json.JSONDecodeError:
                raise _json_error(source, err, line=lineno) from None
            raise DataError(
                f"{source}: holds one JSON {type(whole).__name__} spread over several lines; expected a "
                "JSON list of records, or JSON Lines (one record per line). Wrap the records in [...]."
            ) from None
    return records


def load_records(path: PathLike, fmt: str = "auto") -> List[Any]:
    """The raw records of a CMeEE file; ``fmt`` "auto" picks the format from the file."""
    path = Path(path)
    content = _read_text(path)
    if fmt == "auto":
        fmt = detect_format(path, content)
    return _json_lines(str(path), content) if fmt == "jsonl" else _json_list(str(path), content)


def load_json_records(path: PathLike) -> List[Any]:
    """The raw records of a file holding one JSON list."""
    return load_records(path, "json")


def load_jsonl_records(path: PathLike) -> List[Any]:
    """The raw records of a JSON Lines file (blank lines are skipped)."""
    return load_records(path, "jsonl")


class CMeEEReader:
    """Reads a CMeEE file into a :class:`Corpus`: ``reader(path) -> Corpus``.

    fmt: "auto" (the format follows the file, see :func:`detect_format`), or
    "json" / "jsonl" to insist on one.
    """

    def __init__(
        self,
        labels: Optional[Sequence[str]],
        on_mismatch: str,
        fmt: str,
    ) -> None:
        _check_args(labels, on_mismatch)
        if fmt not in ("json", "jsonl", "auto"):
            raise ConfigError(f"reader format: expected json, jsonl or auto, got {fmt!r}.")
        self.labels = tuple(labels) if labels is not None else None
        self.on_mismatch = on_mismatch
        self.fmt = fmt

    def __call__(self, path: PathLike) -> Corpus:
        records = load_records(path, self.fmt)
        return parse_records(records, str(path), self.labels, self.on_mismatch)

    def collect(self, path: PathLike, problems: List[str]) -> Corpus:
        """Read what is valid and append every problem to ``problems`` (``nerkit debug data``)."""
        path = Path(path)
        try:
            content = _read_text(path)
        except DataError as err:
            problems.append(str(err))
            return Corpus(path=str(path))
        fmt = detect_format(path, content) if self.fmt == "auto" else self.fmt
        if fmt == "jsonl":
            records: List[Any] = []
            for lineno, line in enumerate(content.splitlines(), start=1):
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except json.JSONDecodeError as err:
                        problems.append(str(_json_error(str(path), err, line=lineno)))
                        records.append(_UNREADABLE)  # keeps the numbers of later records
        else:
            try:
                records = _json_list(str(path), content)
            except DataError as err:
                problems.append(str(err))
                return Corpus(path=str(path))
        return parse_records(records, str(path), self.labels, self.on_mismatch, problems=problems)

    def __repr__(self) -> str:
        shown = list(self.labels) if self.labels is not None else None
        return f"CMeEEReader(labels={shown!r}, on_mismatch={self.on_mismatch!r}, fmt={self.fmt!r})"


def read_cmeee(
    path: PathLike,
    labels: Optional[Sequence[str]] = None,
    on_mismatch: str = "error",
) -> Corpus:
    """Read a CMeEE file; the format (JSON list or JSON Lines) follows the file."""
    return CMeEEReader(labels, on_mismatch, fmt="auto")(path)


def cmeee_json_reader(
    labels: Optional[List[str]] = None, on_mismatch: str = "error"
) -> CMeEEReader:
    """CMeEE records: the official JSON list, or JSON Lines (the format follows the file).

    labels: the entity types allowed (any other type is an error); null: any type.
    on_mismatch: "error" or "warn" when an entity string differs from its text span.
    """
    return CMeEEReader(labels, on_mismatch, fmt="auto")


def jsonl_reader(labels: Optional[List[str]] = None, on_mismatch: str = "error") -> CMeEEReader:
    """CMeEE records, one JSON object per line (a JSON list file is read too: the format follows the file)."""
    return CMeEEReader(labels, on_mismatch, fmt="auto")


def cmeee_auto_reader(
    labels: Optional[List[str]] = None, on_mismatch: str = "error"
) -> CMeEEReader:
    """The same reader as nerkit.CMeEEJson.v1: the format (JSON list or JSON Lines) follows the file."""
    return CMeEEReader(labels, on_mismatch, fmt="auto")
