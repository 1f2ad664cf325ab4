"""CMeEE JSON and JSON Lines (``nerkit.CMeEEJson.v1`` and friends, ``nerkit.CMeEEWriter.v1``).

A record is ``{"text": str, "entities": [{"start_idx": int, "end_idx": int,
"type": str, "entity": str}]}`` with ``end_idx`` inclusive. ``entities`` may be
missing (test files): the record then has no gold entities.

The format follows the file, whichever reader the config names: ``.jsonl`` /
``.ndjson`` files are JSON Lines; any other file is read by its content (a
first character ``[`` means one JSON list, ``{`` one record per line). So a
model trained on ``.json`` files predicts on ``.jsonl`` ones and back.

Every record is validated; a problem raises :class:`nerkit.errors.DataError`
naming the file, the record index and the field, e.g.
``CMeEE_dev.json, record 17, entities[2].end_idx: 54 is outside the text (length 40)``.
With ``on_mismatch="warn"`` an ``entity`` string that differs from
``text[start_idx:end_idx+1]`` is not an error: the entity is kept by its offsets
and the problem is recorded in ``Corpus.warnings``.

The writer writes a JSON list (or JSON Lines for a ``.jsonl`` path), entities
sorted, with an ``id`` for records that have one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ...errors import ConfigError, DataError
from ...types import Entity, Example
from ..corpus import CollectingReader
from .base import (
    UNREADABLE,
    Corpus,
    PathLike,
    WriteReport,
    check_reader_labels,
    corpus_format,
    describe,
    is_int,
    load_json_records,
    record_id,
    write_records,
)

logger = logging.getLogger("nerkit")

ON_MISMATCH = ("error", "warn")
WHAT = "CMeEE JSON"
LINES = {"auto": None, "json": False, "jsonl": True}  # reader fmt -> load_json_records(lines=)


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
                f"expected an object with 'text' and 'entities', got {describe(record)}",
            )
        text = record.get("text")
        if not isinstance(text, str):
            if "text" not in record:
                raise self.fail(
                    index, "text", "missing", "Every record needs a non-empty 'text' string."
                )
            raise self.fail(index, "text", f"expected a string, got {describe(text)}")
        if not text:
            raise self.fail(index, "text", "is empty", "Remove the record or give it its text.")
        raw = record.get("entities")
        if raw is None:
            return Example(text, [], index, self.source, record_id(record.get("id")))
        if not isinstance(raw, list):
            raise self.fail(index, "entities", f"expected a list, got {describe(raw)}")
        entities: List[Entity] = []
        for j, ent in enumerate(raw):
            try:
                entities.append(self._entity(index, j, ent, text))
            except DataError as err:
                if self.problems is None:
                    raise
                self.problems.append(str(err))  # collecting: keep the record's valid entities
        return Example(text, entities, index, self.source, record_id(record.get("id")))

    def _entity(self, index: int, j: int, ent: Any, text: str) -> Entity:
        n = len(text)
        if not isinstance(ent, dict):
            raise self.fail(index, f"entities[{j}]", f"expected an object, got {describe(ent)}")
        start = ent.get("start_idx")
        end = ent.get("end_idx")
        label = ent.get("type")
        if not is_int(start):
            raise self._bad_field(index, j, "start_idx", ent, "an integer")
        if not is_int(end):
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
            index, f"entities[{j}].{field}", f"expected {expected}, got {describe(ent[field])}"
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
    check_reader_labels(labels, "reader")


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
        if rec is UNREADABLE:
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


class CMeEEReader(CollectingReader):
    """Reads a CMeEE file into a :class:`Corpus`: ``reader(path) -> Corpus``.

    fmt: "auto" (the format follows the file, see :func:`load_json_records`), or
    "json" / "jsonl" to insist on one.
    """

    def __init__(self, labels: Optional[Sequence[str]], on_mismatch: str, fmt: str) -> None:
        _check_args(labels, on_mismatch)
        if fmt not in LINES:
            raise ConfigError(f"reader format: expected json, jsonl or auto, got {fmt!r}.")
        self.labels = tuple(labels) if labels is not None else None
        self.on_mismatch = on_mismatch
        self.fmt = fmt

    def __call__(self, path: PathLike) -> Corpus:
        records = [rec for _, rec in load_json_records(path, WHAT, LINES[self.fmt])]
        return parse_records(records, str(path), self.labels, self.on_mismatch)

    def collect(self, path: PathLike, problems: List[str]) -> Corpus:
        """Read what is valid and append every problem to ``problems`` (``nerkit debug data``)."""
        loaded = load_json_records(path, WHAT, LINES[self.fmt], problems=problems)
        records = [rec for _, rec in loaded]
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


def _sniff(path: Path, head: str) -> bool:
    """CMeEE offsets, or JSON records with a "text" (a test file has no entities)."""
    return '"start_idx"' in head[:4000] or (
        head.lstrip().startswith(("[", "{")) and '"text"' in head[:4000]
    )


@corpus_format("cmeee", sniff=_sniff, priority=-4, description="CMeEE JSON / JSONL")
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


def _cmeee_record(ex: Example, ents: List[Entity]) -> Dict[str, Any]:
    rec: Dict[str, Any] = {} if ex.id is None else {"id": ex.id}
    rec["text"] = ex.text
    rec["entities"] = [
        {
            "start_idx": e.start,
            "end_idx": e.end,
            "type": e.label,
            "entity": ex.text[e.start : e.end + 1],
        }
        for e in ents
    ]
    return rec


class CMeEEWriter:
    def __init__(self, lines: str) -> None:
        self.lines = lines

    def __call__(self, path: PathLike, examples: Sequence[Example]) -> WriteReport:
        auto = Path(path).suffix.lower() == ".jsonl"
        lines = auto if self.lines == "auto" else self.lines == "yes"
        # compact, as write_cmeee
        return write_records(path, examples, _cmeee_record, lines=lines, indent=None)


@corpus_format("cmeee", suffixes=(".json",), description="CMeEE JSON / JSONL")
def cmeee_writer(lines: str = "auto") -> CMeEEWriter:
    """CMeEE records (end_idx inclusive): a JSON list, or JSON Lines for .jsonl paths
    (lines: "auto", "yes" or "no")."""
    return CMeEEWriter(lines)
