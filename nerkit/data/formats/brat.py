"""brat standoff: a folder of ``.txt`` + ``.ann`` pairs (``nerkit.Brat.v1``, ``nerkit.BratWriter.v1``).

Each ``NAME.txt`` is one record (its id is ``NAME``, the path inside the folder
without the extension; records in path order, digit runs compared as numbers,
so ``doc2`` comes before ``doc10``); ``NAME.ann`` holds its
annotations. Offsets count the characters of the ``.txt`` file exactly as
stored, as brat counts them (``\\r\\n`` is two characters; a UTF-8 BOM is a
character of the text, U+FEFF at offset 0), and the end offset is *exclusive*.
For the text ``左腿和右腿痛，有高血压``::

    T1	疾病和诊断 8 11	高血压
    T2	解剖部位 0 2;3 5	左腿 右腿

The reader checks that the entity text after the offsets equals the text at
them (fragments of a discontinuous entity joined by one space, line breaks
read as spaces) and that every ``.ann`` has its ``.txt``; a ``.txt`` without
``.ann`` is a record with no entities. Discontinuous entities (``0 2;4 5``)
are an error unless ``discontinuous = "cover"``, which keeps the span from the
first fragment's start to the last one's end (counted in the warnings).
Relations (``R``), events (``E``), attributes (``A``, ``M``), normalisations
(``N``), equivalences (``*``) and notes (``#``) are ignored and counted.

The writer writes one ``.txt`` (the text, byte for byte) and one ``.ann`` per
record, named by the record's id (else ``doc<index>``), plus an
``annotation.conf`` listing the entity types. A label with a space or tab
cannot be written (brat separates the type from the offsets by a space).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from ...errors import ConfigError, DataError
from ...types import Entity, Example
from .base import (
    Corpus,
    PathLike,
    WriteReport,
    as_corpus,
    atomic_write,
    check_reader_labels,
    corpus_format,
    read_text,
    unique_entities,
)

IGNORED = {
    "R": "relations",
    "E": "events",
    "A": "attributes",
    "M": "attributes",
    "N": "normalizations",
    "*": "equivalences",
    "#": "notes",
}
_SAFE = re.compile(r"[^\w\-.\u0080-\uffff]")
_BREAK = re.compile(r"\r\n|\r|\n")


def _natural(name: str) -> tuple:
    """Sort key: digit runs compared as numbers (doc2 before doc10)."""
    return tuple(int(x) if x.isdigit() else x for x in re.split(r"(\d+)", name))


def _one_line(text: str) -> str:
    """Entity text as an .ann line holds it: line breaks as spaces."""
    return _BREAK.sub(" ", text)


class BratReader:
    """``reader(folder) -> Corpus`` for brat standoff; see the module docstring."""

    def __init__(self, discontinuous: str, labels: Optional[Sequence[str]]) -> None:
        if discontinuous not in ("error", "cover"):
            raise ConfigError(
                f'reader.discontinuous: expected "error" or "cover", got {discontinuous!r}.'
            )
        self.discontinuous = discontinuous
        self.labels = check_reader_labels(labels, "reader")

    def __call__(self, path: PathLike) -> Corpus:
        root = Path(path)
        if not root.exists():
            raise DataError(
                f"folder not found: {root}. Pass the folder of brat .txt and .ann files."
            )
        if root.is_file():
            if root.suffix not in (".ann", ".txt"):
                raise DataError(
                    f"{root}: a brat corpus is a folder of .txt and .ann files (or one of them). Pass "
                    "the folder, or the reader of this file's format (nerkit.CoNLL.v1, nerkit.Doccano.v1, "
                    "...; docs/data-formats.md)."
                )
            stems = [root.with_suffix("")]
            base = root.parent
        else:
            base = root
            found = {
                p.with_suffix("")
                for p in root.rglob("*")
                if p.suffix in (".txt", ".ann") and p.is_file()
            }
            stems = sorted(found, key=lambda p: _natural(p.relative_to(base).as_posix()))
        examples: List[Example] = []
        warnings: List[str] = []
        ignored: Counter = Counter()
        for stem in stems:
            txt, ann = stem.with_suffix(".txt"), stem.with_suffix(".ann")
            if not txt.exists():
                raise DataError(
                    f"{ann}: there is no {txt.name} next to it; brat offsets point into the text file. "
                    "Add the text file or remove the .ann file."
                )
            text = read_text(txt, "a brat .txt file", keep_newlines=True, keep_bom=True)
            entities: List[Entity] = []
            if ann.exists():
                entities = self._read_ann(ann, text, warnings, ignored)
            doc_id = stem.relative_to(base).as_posix()
            examples.append(Example(text, entities, len(examples), str(txt), doc_id))
        if ignored:
            warnings.append(
                f"{root}: ignored "
                + ", ".join(f"{n} {what}" for what, n in sorted(ignored.items()))
                + " (nerkit reads entities only)"
            )
        return as_corpus(examples, root, warnings)

    def _read_ann(
        self, ann: Path, text: str, warnings: List[str], ignored: Counter
    ) -> List[Entity]:
        out: List[Entity] = []
        for lineno, line in enumerate(read_text(ann, "a brat .ann file").split("\n"), start=1):
            if not line.strip():
                continue
            kind = line[0]
            if kind in IGNORED:
                ignored[IGNORED[kind]] += 1
                continue
            place = f"{ann}, line {lineno}"
            if kind != "T":
                raise DataError(
                    f"{place}: {line[:40]!r} is not a brat annotation (T, R, E, A, M, N, * or # line). "
                    "Fix the line."
                )
            parts = line.split("\t")
            if len(parts) < 3:
                raise DataError(
                    f"{place}: expected 'ID<TAB>TYPE START END<TAB>TEXT', got {line!r}. Fix the line."
                )
            label, _, offsets = parts[1].partition(" ")
            if self.labels is not None and label not in self.labels:
                raise DataError(
                    f"{place}: type '{label}' is not one of the reader's labels ({', '.join(sorted(self.labels))}). "
                    "Fix the type or the reader's `labels` (or leave `labels` out to accept every label)."
                )
            frags = self._fragments(place, offsets, len(text))
            surface = "\t".join(parts[2:])
            found = " ".join(text[s:e] for s, e in frags)
            if surface != _one_line(found) and surface != found:
                raise DataError(
                    f"{place}: entity text {surface!r} does not match the text of "
                    f"{ann.with_suffix('.txt').name} at {offsets} ({found!r}; end offsets are exclusive). "
                    "Fix the offsets or the text, or check that the .txt is the file the annotation was made on."
                )
            if len(frags) > 1:
                if self.discontinuous == "error":
                    raise DataError(
                        f"{place}: discontinuous entity '{label}' at {offsets}; nerkit entities are one span. "
                        'Set the reader\'s discontinuous = "cover" (nerkit convert and score: -r '
                        "discontinuous=cover) to keep the span from its first to its last fragment, or "
                        "split it in the annotation tool."
                    )
                warnings.append(
                    f"{place}: discontinuous entity at {offsets} kept as its covering span"
                )
            out.append(Entity(frags[0][0], frags[-1][1] - 1, label))
        return out

    @staticmethod
    def _fragments(place: str, offsets: str, n: int) -> List[Tuple[int, int]]:
        frags: List[Tuple[int, int]] = []
        for frag in offsets.split(";"):
            bits = frag.split()
            if len(bits) != 2 or not all(b.isdigit() for b in bits):
                raise DataError(
                    f"{place}: offsets {offsets!r} are not 'START END' pairs of integers (joined by ';'). "
                    "Fix the line."
                )
            s, e = int(bits[0]), int(bits[1])
            if not 0 <= s < e <= n:
                raise DataError(
                    f"{place}: offsets {s} {e} are not a span of the text (length {n}; the end is exclusive). "
                    "Fix the offsets."
                )
            frags.append((s, e))
        return sorted(frags)


def _file_stem(ex: Example, used: set, width: int) -> str:
    """A record's file name: its id (unsafe characters as _), else doc<index> zero-padded
    so that path order is record order."""
    fallback = f"doc{ex.index:0{width}d}"
    if ex.id is not None:
        parts = [_SAFE.sub("_", p) for p in ex.id.split("/") if p not in ("", ".", "..")]
        name = "/".join(parts) or fallback
    else:
        name = fallback
    if name in used:
        name = f"{name}_{ex.index}"
    used.add(name)
    return name


class BratWriter:
    """``writer(folder, examples) -> WriteReport``: keeps nested and overlapping entities."""

    def __call__(self, path: PathLike, examples: Sequence[Example]) -> WriteReport:
        root = Path(path)
        if root.exists() and not root.is_dir():
            raise DataError(f"{root} is a file; brat output is a folder. Give a folder path.")
        if root.is_dir() and any(p.suffix in (".ann", ".txt") for p in root.rglob("*")):
            raise DataError(
                f"{root} already holds .txt/.ann files; writing into it would mix two corpora. "
                "Give a new folder, or remove the old files first."
            )
        report = WriteReport(root)
        used: set = set()
        labels: set = set()
        width = max(5, len(str(len(examples))))
        for ex in examples:
            ents = unique_entities(ex)
            for e in ents:
                if re.search(r"\s", e.label):
                    raise DataError(
                        f"record {ex.index}: label {e.label!r} has white space, which brat cannot hold in "
                        "an entity type. Rename the label (e.g. spaces to _) or write another format."
                    )
            stem = _file_stem(ex, used, width)
            lines = [
                f"T{k}\t{e.label} {e.start} {e.end + 1}\t{_one_line(ex.text[e.start : e.end + 1])}"
                for k, e in enumerate(ents, start=1)
            ]
            txt = root / f"{stem}.txt"
            txt.parent.mkdir(parents=True, exist_ok=True)
            txt.write_text(ex.text, encoding="utf-8", newline="")
            txt.with_suffix(".ann").write_text(
                "".join(x + "\n" for x in lines), encoding="utf-8", newline=""
            )
            labels.update(e.label for e in ents)
            report.records += 1
            report.entities += len(ents)
        conf = (
            "[entities]\n"
            + "".join(f"{lab}\n" for lab in sorted(labels))
            + "[relations]\n[events]\n[attributes]\n"
        )
        atomic_write(root / "annotation.conf", lambda f: f.write(conf))
        return report


def _sniff(path: Path, head: str) -> bool:
    if path.is_dir():
        return any(path.rglob("*.ann"))
    return path.suffix == ".ann"


@corpus_format(
    "brat",
    suffixes=(".ann",),
    sniff=_sniff,
    folder=True,
    description="brat standoff folder (.txt + .ann)",
)
def brat_reader(discontinuous: str = "error", labels: Optional[List[str]] = None) -> BratReader:
    """A folder of brat .txt + .ann files (end offsets exclusive).

    discontinuous: "error", or "cover" to keep a discontinuous entity as its covering span.
    labels: the entity types allowed (null: any).
    """
    return BratReader(discontinuous, labels)


@corpus_format(
    "brat", suffixes=(".ann",), folder=True, description="brat standoff folder (.txt + .ann)"
)
def brat_writer() -> BratWriter:
    """A folder of brat .txt + .ann files and an annotation.conf; keeps every entity."""
    return BratWriter()
