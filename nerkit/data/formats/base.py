"""What every corpus format shares: reading text files, checking labels and
offsets, writing files atomically, and the report a writer gives back.

Inside nerkit an entity is ``Entity(start, end, label)`` with ``end``
*inclusive* (as in CMeEE); formats whose end offset is exclusive (brat,
doccano, Label Studio, CCKS) are converted on reading and writing.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from ...errors import ConfigError, DataError
from ...types import Entity, Example
from ..encoding import read_text_file
from ..readers import Corpus

PathLike = Union[str, Path]


def describe(value: Any) -> str:
    """``type repr`` of a value, shortened, for error messages."""
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_text(
    path: PathLike, what: str, keep_newlines: bool = False, keep_bom: bool = False
) -> str:
    """Text of a file (UTF-8, or the command's --encoding); one-paragraph errors for missing
    or undecodable files.

    ``keep_newlines``: keep ``\\r\\n`` and ``\\r`` as they are (for formats whose
    offsets count them, e.g. brat); otherwise they are read as ``\\n``.
    ``keep_bom``: a leading BOM is a character of the text (brat counts it);
    otherwise it is removed.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"file not found: {path}. Fix the path.")
    if path.is_dir():
        raise DataError(f"{path} is a directory, expected {what}.")
    return read_text_file(path, keep_newlines, keep_bom)


def check_reader_labels(labels: Optional[Sequence[str]], where: str) -> Optional[frozenset]:
    """The allowed labels as a set (None: any label), or a ConfigError."""
    if labels is None:
        return None
    if not labels or not all(isinstance(lab, str) and lab for lab in labels):
        raise ConfigError(
            f"{where}.labels: expected a non-empty list of type names or null (any type), "
            f"got {list(labels)!r}."
        )
    if len(set(labels)) != len(labels):
        raise ConfigError(f"{where}.labels: {list(labels)!r} lists a type twice.")
    return frozenset(labels)


def check_span(
    place: str,
    text: str,
    start: Any,
    end: Any,
    label: Any,
    allowed: Optional[frozenset],
    exclusive: bool,
) -> Entity:
    """Validate one entity given by ``start`` and ``end`` (exclusive or inclusive) and
    return it with nerkit's inclusive end. ``place`` names file, record/line and field."""
    convention = (
        "exclusive: one past the last character" if exclusive else "inclusive: the last character"
    )
    if not is_int(start):
        raise DataError(
            f"{place}: start offset: expected an integer, got {describe(start)}. Fix the file."
        )
    if not is_int(end):
        raise DataError(
            f"{place}: end offset: expected an integer, got {describe(end)}. Fix the file."
        )
    if not isinstance(label, str) or not label:
        raise DataError(
            f"{place}: label: expected a non-empty string, got {describe(label)}. Fix the file."
        )
    if allowed is not None and label not in allowed:
        raise DataError(
            f"{place}: label '{label}' is not one of the reader's labels ({', '.join(sorted(allowed))}). "
            "Fix the label, or add it to the reader's `labels` in the config (or leave `labels` out to "
            "accept every label)."
        )
    n = len(text)
    last = end - 1 if exclusive else end
    if not 0 <= start < n or not 0 <= last < n or last < start:
        raise DataError(
            f"{place}: offsets ({start}, {end}) are not a span of the text (length {n}; the end is "
            f"{convention}). Fix the offsets."
        )
    return Entity(start, last, label)


@dataclass
class WriteReport:
    """What a writer did: records and entities written, and every entity it could not
    write as it was, counted by the rule that applied."""

    path: Path
    records: int = 0
    entities: int = 0  # entities written
    dropped: Counter = field(default_factory=Counter)  # rule -> entities left out
    changed: Counter = field(default_factory=Counter)  # rule -> entities written differently

    @property
    def lost(self) -> int:
        return sum(self.dropped.values()) + sum(self.changed.values())

    def summary(self) -> str:
        parts = [f"{self.records} records, {self.entities} entities -> {self.path}"]
        for rule, n in sorted(self.dropped.items()):
            parts.append(f"{n} entities dropped ({rule})")
        for rule, n in sorted(self.changed.items()):
            parts.append(f"{n} entities changed ({rule})")
        return "; ".join(parts)


def atomic_write(path: PathLike, write: Callable[[Any], None]) -> Path:
    """Write a UTF-8 file through ``write(f)`` to a temporary name, then rename it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def unique_entities(ex: Example) -> List[Entity]:
    """The entities of a record, exact duplicates once, sorted; a ValueError for offsets outside it."""
    ents = sorted({Entity(*e) for e in ex.entities})
    for e in ents:
        if not 0 <= e.start <= e.end < len(ex.text):
            raise DataError(
                f"record {ex.index}: entity {tuple(e)} is outside the text (length {len(ex.text)}); "
                "entities must be record coordinates with the end inclusive."
            )
    return ents


def record_id(value: Any) -> Optional[str]:
    """A record's own id (string or integer) as a string; None when absent."""
    if isinstance(value, str) or is_int(value):
        return str(value)
    return None


def id_value(ex: Example) -> Any:
    """The id to write for a record: its own id (an integer again if it was one), else its index."""
    if ex.id is None:
        return ex.index
    return int(ex.id) if ex.id.isdigit() and str(int(ex.id)) == ex.id else ex.id


@dataclass(frozen=True)
class Format:
    """A corpus format as ``nerkit convert`` sees it.

    ``reader(**options)`` returns ``path -> Corpus``; ``writer(**options)`` returns
    ``(path, examples) -> WriteReport``; ``sniff(path, head)`` says whether a file
    (or folder) looks like this format from its first characters.
    """

    name: str
    extensions: Tuple[str, ...]
    reader: Callable[..., Callable[[PathLike], Corpus]]
    writer: Callable[..., Callable[[PathLike, Sequence[Example]], WriteReport]]
    sniff: Callable[[Path, str], bool]
    description: str = ""


FORMATS: Dict[str, Format] = {}


def add_format(fmt: Format) -> Format:
    FORMATS[fmt.name] = fmt
    return fmt


def as_corpus(
    examples: Iterable[Example], path: PathLike, warnings: Optional[List[str]] = None
) -> Corpus:
    return Corpus(examples, path=str(path), warnings=warnings)


def load_json_records(path: PathLike, what: str) -> List[Tuple[str, Any]]:
    """``(place, record)`` pairs of a JSON list (place ``record i``) or JSON Lines file
    (place ``line n``; blank lines skipped), told apart by the first character."""
    import json

    path = Path(path)
    content = read_text(path, what)
    if content.lstrip().startswith("["):
        try:
            data = json.loads(content)
        except json.JSONDecodeError as err:
            raise DataError(
                f"{path}: invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}. Fix the file "
                f"({what}: a JSON list of records, or JSON Lines with one record per line)."
            ) from None
        return [(f"{path}, record {i}", rec) for i, rec in enumerate(data)]
    out: List[Tuple[str, Any]] = []
    for lineno, line in enumerate(content.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            out.append((f"{path}, line {lineno}", json.loads(line)))
        except json.JSONDecodeError as err:
            raise DataError(
                f"{path}, line {lineno}: invalid JSON at column {err.colno}: {err.msg}. Fix the line "
                f"({what}: one JSON record per line, or a JSON list of records)."
            ) from None
    return out


def require(place: str, record: Any, key: str, kind: type, what: str) -> Any:
    """``record[key]``, checked to be a ``kind``; a DataError naming the place and field otherwise."""
    if not isinstance(record, dict):
        raise DataError(
            f"{place}: expected a JSON object ({what}), got {describe(record)}. Fix the record."
        )
    if key not in record:
        raise DataError(f"{place}: '{key}' is missing ({what}). Fix the record.")
    value = record[key]
    if not isinstance(value, kind):
        raise DataError(
            f"{place}, {key}: expected {kind.__name__}, got {describe(value)}. Fix the record."
        )
    return value


def write_json_records(
    path: PathLike, records: Sequence[Any], lines: bool, indent: Optional[int] = 1
) -> Path:
    """JSON Lines (``lines``) or one JSON list (``indent``: as json.dumps), UTF-8 without escapes."""
    import json

    if lines:
        return atomic_write(
            path,
            lambda f: f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)),
        )
    return atomic_write(
        path, lambda f: f.write(json.dumps(list(records), ensure_ascii=False, indent=indent) + "\n")
    )
