"""What every corpus format shares: the :class:`Corpus` a reader returns, the
declaration a reader or writer makes about its files (:func:`corpus_format`),
reading text and JSON files, checking labels and offsets, writing files
atomically, and the report a writer gives back.

Inside nerkit an entity is ``Entity(start, end, label)`` with ``end``
*inclusive* (as in CMeEE); formats whose end offset is exclusive (brat,
doccano, Label Studio, CCKS) are converted on reading and writing.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)

from ...errors import ConfigError, DataError
from ...types import Entity, Example
from ...util import file_mode
from ..encoding import read_text_file

PathLike = Union[str, Path]
JSONL_SUFFIXES = (".jsonl", ".ndjson")
UNREADABLE = object()  # the record of a JSON Lines line that is not JSON (collecting mode)
F = TypeVar("F", bound=Callable[..., Any])


class Corpus(list):
    """The records of one file, in file order: a ``list`` of :class:`Example`.

    ``path`` is the file read, ``warnings`` the fixable problems that were
    tolerated (e.g. ``on_mismatch="warn"``), one message each.
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


@dataclass(frozen=True)
class FormatDeclaration:
    """What a registered reader or writer says about the files it handles; ``nerkit
    convert``, ``score`` and ``predict`` (``--from``/``--to`` and format detection) read it.

    name: a short name for ``--from``/``--to`` besides the registered one (``conll``).
    suffixes: a reader: extensions that are this format whatever the content
        (``.ann``); a writer: output extensions it is the default writer for.
    sniff: a reader: ``sniff(path, head) -> bool``, whether a file (its first 8192
        characters) or a folder (``head`` empty) looks like this format.
    folder: the format is a folder (a reader reads folders; a writer is the default for
        an output path without extension).
    priority: the order sniffers are tried in, highest first; the built-ins' are
        negative (their sniffers are the general ones: CMeEE takes any JSON with a
        ``text``), so a plugin's format (0) is tried before them.
    suffix_options: a writer: options an output extension implies when not given
        (``.bmes``: ``scheme = "BMES"``).
    description: a few words for messages.
    """

    name: Optional[str] = None
    suffixes: Tuple[str, ...] = ()
    sniff: Optional[Callable[[Path, str], bool]] = None
    folder: bool = False
    priority: int = 0
    suffix_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    description: str = ""


def corpus_format(
    name: Optional[str] = None,
    *,
    suffixes: Sequence[str] = (),
    sniff: Optional[Callable[[Path, str], bool]] = None,
    folder: bool = False,
    priority: int = 0,
    suffix_options: Optional[Mapping[str, Mapping[str, Any]]] = None,
    description: str = "",
) -> Callable[[F], F]:
    """Declare, on a reader or writer builder, the files it handles (see
    :class:`FormatDeclaration`). It registers nothing: the builder is registered as
    any component (``nerkit/registrations.py``, or a plugin's ``nerkit_readers`` /
    ``nerkit_writers`` entry point), and the declaration travels with it::

        @corpus_format("acme", suffixes=(".acme",), sniff=looks_like_acme)
        def acme_reader(labels: Optional[List[str]] = None) -> AcmeReader: ...
    """
    declaration = FormatDeclaration(
        name,
        tuple(s.lower() for s in suffixes),
        sniff,
        folder,
        priority,
        dict(suffix_options or {}),
        description,
    )

    def declare(func: F) -> F:
        func.corpus_format = declaration  # type: ignore[attr-defined]
        return func

    return declare


def declaration(builder: Any) -> FormatDeclaration:
    """What ``builder`` declares (an empty declaration when it declares nothing)."""
    found = getattr(builder, "corpus_format", None)
    return found if isinstance(found, FormatDeclaration) else FormatDeclaration()


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
    """Write a UTF-8 file through ``write(f)`` to a temporary name, then rename it (so an
    interrupted run never leaves half a file); the file gets the usual mode (umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, file_mode())  # mkstemp makes 0600
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


def as_corpus(
    examples: Iterable[Example], path: PathLike, warnings: Optional[List[str]] = None
) -> Corpus:
    return Corpus(examples, path=str(path), warnings=warnings)


def load_json_records(
    path: PathLike,
    what: str,
    lines: Optional[bool] = None,
    problems: Optional[List[str]] = None,
) -> List[Tuple[str, Any]]:
    """``(place, record)`` pairs of a JSON list (place ``record i``) or a JSON Lines file
    (place ``line n``; blank lines skipped). ``lines`` None: told apart by the first
    character (``[`` a list, ``{`` JSON Lines), else by the extension (.jsonl, .ndjson:
    JSON Lines). ``what`` names the format in messages.

    With a ``problems`` list, a file that can't be read or a list that is not JSON is
    one problem (no records), and a line that is not JSON one problem whose record is
    :data:`UNREADABLE` (so later records keep their numbers), instead of raising.
    """
    path = Path(path)
    try:
        content = read_text(path, what)
        if lines is None:
            first = content.lstrip()[:1]
            lines = first != "[" and (first in ("{", "") or path.suffix.lower() in JSONL_SUFFIXES)
        if not lines:
            records = _json_list(path, content, what)
            return [(f"{path}, record {i}", rec) for i, rec in enumerate(records)]
    except DataError as err:
        if problems is None:
            raise
        problems.append(str(err))
        return []
    out: List[Tuple[str, Any]] = []
    for lineno, line in enumerate(content.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            out.append((f"{path}, line {lineno}", json.loads(line)))
        except json.JSONDecodeError as err:
            if problems is None:
                raise _line_error(path, content, what, lineno, err) from None
            problems.append(_line_message(path, what, lineno, err))
            out.append((f"{path}, line {lineno}", UNREADABLE))
    return out


def _json_list(path: Path, content: str, what: str) -> List[Any]:
    try:
        data = json.loads(content)
    except json.JSONDecodeError as err:
        raise DataError(
            f"{path}: invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}. Fix the file "
            f"({what}: a JSON list of records, or JSON Lines with one record per line)."
        ) from None
    if not isinstance(data, list):
        raise DataError(
            f"{path}: expected a JSON list of records (or JSON Lines, one record per line), "
            f"got {describe(data)}."
        )
    return data


def _line_message(path: Path, what: str, lineno: int, err: json.JSONDecodeError) -> str:
    return (
        f"{path}: invalid JSON at line {lineno}, column {err.colno}: {err.msg}. Fix the line "
        f"({what}: one JSON record per line, or a JSON list of records)."
    )


def _line_error(
    path: Path, content: str, what: str, lineno: int, err: json.JSONDecodeError
) -> DataError:
    try:
        whole = json.loads(content)
    except json.JSONDecodeError:
        return DataError(_line_message(path, what, lineno, err))
    return DataError(
        f"{path}: holds one JSON {type(whole).__name__} spread over several lines; expected a "
        "JSON list of records, or JSON Lines (one record per line). Wrap the records in [...]."
    )


class JsonRecordsReader:
    """``reader(path) -> Corpus`` for a format of JSON records (a JSON list or JSON Lines,
    :func:`load_json_records`) whose end offsets are exclusive: a subclass reads each
    record's text and entities (``record``); the record's ``id`` is kept, and what it
    ignores, counted in ``ignored``, becomes one corpus warning."""

    file_what = "JSON records"  # the format, in messages about the file

    def __init__(self, labels: Optional[Sequence[str]]) -> None:
        self.labels = check_reader_labels(labels, "reader")

    def __call__(self, path: PathLike) -> Corpus:
        path = Path(path)
        ignored: Counter = Counter()
        examples = []
        for i, (place, rec) in enumerate(load_json_records(path, self.file_what)):
            text, entities = self.record(place, rec, ignored)  # rec: a dict, or an error
            examples.append(Example(text, entities, i, str(path), record_id(rec.get("id"))))
        warnings = []
        if ignored:
            warnings.append(
                f"{path}: ignored " + ", ".join(f"{n} {k}" for k, n in sorted(ignored.items()))
            )
        return as_corpus(examples, path, warnings)

    def record(self, place: str, rec: Any, ignored: Counter) -> Tuple[str, List[Entity]]:
        """(text, entities) of the record ``rec``, or a DataError naming ``place`` and the field."""
        raise NotImplementedError

    def span(self, place: str, text: str, start: Any, end: Any, label: Any) -> Entity:
        """One entity (end exclusive), checked against the text and the reader's labels."""
        return check_span(place, text, start, end, label, self.labels, exclusive=True)

    def object_spans(
        self, place: str, raw: Any, keys: Tuple[str, str, str], what: str, text: str
    ) -> List[Entity]:
        """The entities of a record's ``entities`` list of objects, each holding ``keys``
        (start, end, label); a DataError naming the record and entity otherwise (``what``:
        the format)."""
        if not isinstance(raw, list):
            raise DataError(
                f"{place}, entities: expected a list, got {describe(raw)}. Fix the record."
            )
        found = []
        for j, ent in enumerate(raw):
            where = f"{place}, entities[{j}]"
            if not isinstance(ent, dict):
                raise DataError(
                    f"{where}: expected an object, got {describe(ent)}. Fix the record."
                )
            for k in keys:
                if k not in ent:
                    raise DataError(
                        f"{where}.{k}: missing; {what} entities have {', '.join(keys[:-1])} and {keys[-1]}."
                    )
            found.append(self.span(where, text, *(ent[k] for k in keys)))
        return found


class JsonRecordsWriter:
    """``writer(path, examples) -> WriteReport`` for a format of JSON records: a subclass
    turns each example and its unique entities into a record (``record``)."""

    lines = True  # JSON Lines; False: one JSON list

    def __call__(self, path: PathLike, examples: Sequence[Example]) -> WriteReport:
        return write_records(path, examples, self.record, lines=self.lines)

    def record(self, ex: Example, ents: List[Entity]) -> Dict[str, Any]:
        raise NotImplementedError


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


def write_records(
    path: PathLike,
    examples: Sequence[Example],
    record: Callable[[Example, List[Entity]], Dict[str, Any]],
    lines: bool,
    indent: Optional[int] = 1,
) -> WriteReport:
    """Write one JSON record per example, ``record(example, its unique entities)``, as
    :func:`write_json_records` does; the report counts records and entities."""
    report = WriteReport(Path(path))
    records = []
    for ex in examples:
        ents = unique_entities(ex)
        records.append(record(ex, ents))
        report.records += 1
        report.entities += len(ents)
    write_json_records(path, records, lines=lines, indent=indent)
    return report


def write_json_records(
    path: PathLike, records: Sequence[Any], lines: bool, indent: Optional[int] = 1
) -> Path:
    """JSON Lines (``lines``) or one JSON list (``indent``: as json.dumps), UTF-8 without escapes."""
    if lines:
        return atomic_write(
            path,
            lambda f: f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)),
        )
    return atomic_write(
        path, lambda f: f.write(json.dumps(list(records), ensure_ascii=False, indent=indent) + "\n")
    )
