"""CoNLL-style column files (``nerkit.CoNLL.v1``, ``nerkit.CoNLLWriter.v1``).

One token per line, its columns separated by spaces or tabs, the token in the
first column and its tag in the last (both configurable); a blank line ends a
sentence, and each sentence is one record. With ``token_separator = ""`` (the
default) a token is a character and the record's text is the tokens joined with
nothing, so offsets are character offsets into that text; with ``" "`` the
tokens are words and the text is the words joined by one space. An entity's
offsets are those of its first token's first character and its last token's
last character (end inclusive, as everywhere inside nerkit).

Other lines:

- ``-DOCSTART-`` (a CoNLL-2003 document separator) ends a sentence and is counted.
- ``# id = X`` gives the next record its id ``X``; followed directly by a blank
  line it is an empty record. The writer writes it for every record that has an id.
- Characters that cannot stand in a column are written as ``[SPACE]`` (``" "``),
  ``[TAB]``, ``[LF]`` and ``[CR]``, and read back as those characters.

Tags: ``O`` or PREFIX SEP LABEL with SEP ``-`` or ``_`` (``B-疾病``, ``B_dis``; the
label is everything after the first separator, so it may hold ``-``, ``_`` and
spaces are not possible). Prefixes per ``scheme``: BIO and IOB1 ``B I``; BIOES
``B I E S``; BMES ``B M E S``; BIOE ``B I E``; ``auto`` accepts all of them.
Any other prefix is an error naming the file and line.

Reading rule for ill-formed sequences (``on_invalid = "repair"``, the default):
``B`` and ``S`` always start an entity (``S`` ends it too); a continuation tag
(``I``, ``M``, ``E``) continues the open entity if it has the same label, and
otherwise starts a new entity (an ``E`` then makes a one-token entity); ``O``,
a blank line or a new start ends the open entity. This reads IOB1 and BIO alike
(``O I-x I-x`` is one entity) and keeps every tagged token inside some entity.
The repaired tags are counted in the corpus warnings; ``on_invalid = "error"``
makes the first one an error.

Writing holds one tag layer: where entities overlap, the longer one is written
first (then the earlier start, then label order), an entity whose tokens are
already taken is dropped, and the writer reports how many were dropped.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

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

SCHEMES: Dict[str, str] = {
    "BIO": "BI",
    "IOB1": "BI",
    "BIOES": "BIES",
    "BMES": "BMES",
    "BIOE": "BIE",
    "auto": "BIMES",
}
ESCAPES = {" ": "[SPACE]", "\t": "[TAB]", "\n": "[LF]", "\r": "[CR]"}
UNESCAPES = {v: k for k, v in ESCAPES.items()}
ID_PREFIX = "# id = "
DOCSTART = "-DOCSTART-"
_COLUMNS = re.compile(r"[ \t]+")
_WHITE = re.compile(r"\s")


def _check_options(scheme: str, tag_separator: Optional[str], where: str) -> None:
    if scheme not in SCHEMES:
        raise ConfigError(f"{where}.scheme: expected one of {', '.join(SCHEMES)}, got {scheme!r}.")
    if tag_separator is not None and tag_separator not in ("-", "_"):
        raise ConfigError(f'{where}.tag_separator: expected "-" or "_", got {tag_separator!r}.')


class CoNLLReader:
    """``reader(path) -> Corpus`` for a CoNLL column file; see the module docstring."""

    def __init__(
        self,
        scheme: str,
        tag_column: int,
        token_column: int,
        token_separator: str,
        labels: Optional[Sequence[str]],
        on_invalid: str,
        delimiter: Optional[str],
    ) -> None:
        where = "reader"
        _check_options(scheme, None, where)
        if on_invalid not in ("repair", "error"):
            raise ConfigError(
                f'{where}.on_invalid: expected "repair" or "error", got {on_invalid!r}.'
            )
        if delimiter not in (None, "\t"):
            raise ConfigError(
                f'{where}.delimiter: expected null (tabs where a line has one, else spaces) or "\\t", got {delimiter!r}.'
            )
        self.scheme = scheme
        self.prefixes = SCHEMES[scheme]
        self.tag_column = tag_column
        self.token_column = token_column
        self.token_separator = token_separator
        self.labels = check_reader_labels(labels, where)
        self.on_invalid = on_invalid
        self.delimiter = delimiter

    def __call__(self, path: PathLike) -> Corpus:
        path = Path(path)
        content = read_text(path, "a CoNLL column file")
        examples: List[Example] = []
        warnings: List[str] = []
        tokens: List[Tuple[int, str, str]] = []  # (line number, token, tag)
        pending_id: Optional[str] = None
        id_line = 0

        def flush(lineno: int) -> None:
            nonlocal pending_id
            if tokens or (pending_id is not None and id_line == lineno - 1):
                examples.append(self._record(path, tokens, len(examples), pending_id, warnings))
                pending_id = None
            tokens.clear()

        lines = content.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        for lineno, line in enumerate(lines, start=1):
            bare = line.strip(" \t")
            if not bare:
                flush(lineno)
                continue
            if bare.startswith(DOCSTART):
                flush(lineno)
                continue
            if line.startswith(ID_PREFIX):
                flush(lineno)
                pending_id, id_line = line[len(ID_PREFIX) :].strip(), lineno
                continue
            tabs = self.delimiter == "\t" or (self.delimiter is None and "\t" in line)
            cols = line.split("\t") if tabs else _COLUMNS.split(bare)
            try:
                token, tag = cols[self.token_column], cols[self.tag_column]
            except IndexError:
                raise DataError(
                    f"{path}, line {lineno}: {len(cols)} column(s) {line!r}, but the reader takes the "
                    f"token from column {self.token_column} and the tag from column {self.tag_column}. "
                    "Fix the line, or set the reader's token_column / tag_column."
                ) from None
            if len(cols) < 2:
                raise DataError(
                    f"{path}, line {lineno}: {line!r} has one column; a CoNLL line needs a token and a "
                    "tag. Fix the line (write a space character as [SPACE])."
                )
            tokens.append((lineno, UNESCAPES.get(token, token), tag.strip(" \t")))
        flush(len(lines) + 1)
        if pending_id is not None:
            examples.append(self._record(path, [], len(examples), pending_id, warnings))
        return as_corpus(examples, path, warnings)

    def _record(
        self,
        path: Path,
        tokens: Sequence[Tuple[int, str, str]],
        index: int,
        doc_id: Optional[str],
        warnings: List[str],
    ) -> Example:
        sep = self.token_separator
        starts: List[int] = []
        pos = 0
        for k, (_, token, _) in enumerate(tokens):
            if k:
                pos += len(sep)
            starts.append(pos)
            pos += len(token)
        text = sep.join(t for _, t, _ in tokens)
        entities: List[Entity] = []
        open_start: Optional[int] = None  # token index of the open entity
        open_label: Optional[str] = None

        def close(last: int) -> None:
            nonlocal open_start, open_label
            if open_start is not None:
                _, tok, _ = tokens[last]
                entities.append(Entity(starts[open_start], starts[last] + len(tok) - 1, open_label))
            open_start, open_label = None, None

        for k, (lineno, token, tag) in enumerate(tokens):
            if not token:
                raise DataError(f"{path}, line {lineno}: empty token. Fix the line.")
            if tag == "O":
                close(k - 1)
                continue
            prefix, label = self._parse_tag(path, lineno, tag)
            if prefix in "BS":
                close(k - 1)
                open_start, open_label = k, label
            elif open_start is None or open_label != label:
                self._invalid(path, lineno, tag, open_label, warnings)
                close(k - 1)
                open_start, open_label = k, label
            if prefix in "ES":
                close(k)
        close(len(tokens) - 1)
        return Example(text, entities, index, str(path), doc_id)

    def _parse_tag(self, path: Path, lineno: int, tag: str) -> Tuple[str, str]:
        if len(tag) < 3 or tag[1] not in "-_" or tag[0] not in self.prefixes:
            allowed = ", ".join(self.prefixes)
            raise DataError(
                f"{path}, line {lineno}: tag {tag!r} is not O or PREFIX-LABEL with a prefix of the "
                f"{self.scheme} scheme ({allowed}) and separator '-' or '_'. Fix the tag, or set the "
                "reader's scheme (BIO, IOB1, BIOES, BMES, BIOE, auto) or tag_column."
            )
        label = tag[2:]
        if self.labels is not None and label not in self.labels:
            raise DataError(
                f"{path}, line {lineno}: label '{label}' of tag {tag!r} is not one of the reader's labels "
                f"({', '.join(sorted(self.labels))}). Fix the tag, or add the label to the reader's "
                "`labels` (or leave `labels` out to accept every label)."
            )
        return ("I" if tag[0] == "M" else tag[0]), label

    def _invalid(
        self, path: Path, lineno: int, tag: str, open_label: Optional[str], warnings: List[str]
    ) -> None:
        after = f"inside an entity of type '{open_label}'" if open_label else "outside any entity"
        problem = f"{path}, line {lineno}: {tag!r} continues no entity ({after})"
        if self.on_invalid == "error":
            raise DataError(
                f"{problem}. Fix the tag (start the entity with B-), or set the reader's "
                'on_invalid = "repair" to start a new entity there.'
            )
        warnings.append(problem + "; read as the start of a new entity")

    def __repr__(self) -> str:
        return f"CoNLLReader(scheme={self.scheme!r}, tag_column={self.tag_column}, token_separator={self.token_separator!r})"


def _tokens(ex: Example, sep: str) -> List[Tuple[int, int]]:
    """(first char, last char inclusive) of each token of a record's text."""
    if not sep or not ex.text:
        return [(i, i) for i in range(len(ex.text))]
    out: List[Tuple[int, int]] = []
    pos = 0
    for tok in ex.text.split(sep):
        if not tok:
            raise DataError(
                f"record {ex.index}: the text has an empty token (two separators {sep!r} in a row, or one "
                'at an end), which a CoNLL line cannot hold. Write with token_separator = "" (one '
                "character per line)."
            )
        out.append((pos, pos + len(tok) - 1))
        pos += len(tok) + len(sep)
    return out


class CoNLLWriter:
    """``writer(path, examples) -> WriteReport``: one tag layer; see the module docstring."""

    def __init__(
        self,
        scheme: str,
        tag_separator: str,
        token_separator: str,
        delimiter: str,
        docstart: bool,
    ) -> None:
        _check_options(scheme, tag_separator, "writer")
        if scheme == "auto":
            raise ConfigError(
                "writer.scheme: choose the tags to write: BIO, IOB1, BIOES, BMES or BIOE."
            )
        if delimiter not in (" ", "\t", "auto"):
            raise ConfigError(
                f'writer.delimiter: expected " ", "\\t" or "auto", got {delimiter!r}.'
            )
        self.scheme = scheme
        self.tag_separator = tag_separator
        self.token_separator = token_separator
        self.delimiter = delimiter
        self.docstart = docstart

    def __call__(self, path: PathLike, examples: Sequence[Example]) -> WriteReport:
        report = WriteReport(Path(path))
        spaced = any(_WHITE.search(e.label) for ex in examples for e in ex.entities)
        delimiter = self.delimiter
        if delimiter == "auto":
            delimiter = "\t" if spaced else " "
        elif spaced and delimiter == " ":
            raise DataError(
                'writer.delimiter = " " cannot hold labels with white space (e.g. "B-a b"): '
                'set delimiter = "\\t" (or "auto"), or rename the labels.'
            )
        chunks: List[str] = []
        if self.docstart:
            chunks.append(f"{DOCSTART}{delimiter}O\n\n")
        for ex in examples:
            chunks.append(self._record(ex, report, delimiter))
            report.records += 1
        atomic_write(path, lambda f: f.write("".join(chunks)))
        return report

    def _record(self, ex: Example, report: WriteReport, d: str) -> str:
        spans = _tokens(ex, self.token_separator)
        first = {s: k for k, (s, _) in enumerate(spans)}
        last = {e: k for k, (_, e) in enumerate(spans)}
        n = len(spans)
        owner = [-1] * n  # entity index per token
        written: List[Tuple[int, int, str]] = []  # (first token, last token, label)
        ents = unique_entities(ex)
        order = sorted(ents, key=lambda e: (e.start - e.end, e.start, e.label))
        for e in order:
            a, b = first.get(e.start), last.get(e.end)
            if a is None or b is None:  # not on token boundaries: widen to whole tokens
                a = max(k for k, (s, _) in enumerate(spans) if s <= e.start)
                b = min(k for k, (_, t) in enumerate(spans) if t >= e.end)
                report.changed["widened to whole tokens: its ends are inside a token"] += 1
            if any(owner[k] >= 0 for k in range(a, b + 1)):
                report.dropped[
                    "overlaps a longer or earlier entity; CoNLL holds one tag layer"
                ] += 1
                continue
            for k in range(a, b + 1):
                owner[k] = len(written)
            written.append((a, b, e.label))
        report.entities += len(written)
        tags = ["O"] * n
        sep = self.tag_separator
        scheme = self.scheme
        for a, b, lab in written:
            inside = "M" if scheme == "BMES" else "I"
            if a == b and scheme in ("BIOES", "BMES"):
                tags[a] = f"S{sep}{lab}"
                continue
            begin = "B"
            if scheme == "IOB1":
                prev = owner[a - 1] if a > 0 else -1
                begin = "B" if prev >= 0 and written[prev][2] == lab else "I"
            tags[a] = f"{begin}{sep}{lab}"
            for k in range(a + 1, b + 1):
                tags[k] = f"{inside}{sep}{lab}"
            if b > a and scheme in ("BIOES", "BMES", "BIOE"):
                tags[b] = f"E{sep}{lab}"
        lines = []
        if ex.id is not None:
            lines.append(f"{ID_PREFIX}{ex.id}")
        elif not n:
            lines.append(f"{ID_PREFIX}{ex.index}")
        for (s, e), tag in zip(spans, tags, strict=True):
            token = ex.text[s : e + 1]
            lines.append(f"{ESCAPES.get(token, token)}{d}{tag}")
        return "\n".join(lines) + "\n\n"


_TAG = re.compile(r"^(O|[BIMES][-_]\S+)$")


def _sniff(path: Path, head: str) -> bool:
    lines = [
        ln for ln in head.split("\n")[:-1] if ln.strip() and not ln.startswith(("#", DOCSTART))
    ]
    if not lines or head.lstrip().startswith(("{", "[")):
        return False
    return all(
        len(_COLUMNS.split(ln.strip())) >= 2 and _TAG.match(_COLUMNS.split(ln.strip())[-1])
        for ln in lines[:20]
    )


# the extensions only CoNLL files have: such a file is read as CoNLL whatever its content, so a
# bad tag is named by its line (.txt and .tsv are claimed by the content alone)
@corpus_format(
    "conll",
    suffixes=(".conll", ".bio", ".bmes", ".bioes", ".iob", ".iob2"),
    sniff=_sniff,
    priority=-5,
    description="CoNLL column file",
)
def conll_reader(
    scheme: str = "auto",
    tag_column: int = -1,
    token_column: int = 0,
    token_separator: str = "",
    labels: Optional[List[str]] = None,
    on_invalid: str = "repair",
    delimiter: Optional[str] = None,
) -> CoNLLReader:
    """CoNLL column files: a token (default: a character) and its tag per line, blank lines
    between records.

    scheme: BIO, IOB1, BIOES, BMES, BIOE, or auto (every prefix B I M E S).
    tag_column / token_column: column indices (negative: from the end).
    token_separator: "" (characters) or the string joining tokens into the text.
    labels: the labels allowed (null: any). on_invalid: "repair" or "error".
    delimiter: null (tabs in a line that has a tab, else runs of spaces) or "\\t" (tabs only).
    """
    return CoNLLReader(
        scheme, tag_column, token_column, token_separator, labels, on_invalid, delimiter
    )


@corpus_format(
    "conll",
    suffixes=(".conll", ".bio", ".bmes", ".bioes", ".iob", ".iob2", ".tsv", ".char", ".txt"),
    suffix_options={".bmes": {"scheme": "BMES"}, ".bioes": {"scheme": "BIOES"}},
    description="CoNLL column file",
)
def conll_writer(
    scheme: str = "BIO",
    tag_separator: str = "-",
    token_separator: str = "",
    delimiter: str = "auto",
    docstart: bool = False,
) -> CoNLLWriter:
    """CoNLL column files, one tag layer (overlapping entities: longer first, the rest dropped
    and counted)."""
    return CoNLLWriter(scheme, tag_separator, token_separator, delimiter, docstart)
