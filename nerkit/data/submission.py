"""Writing predictions in the CMeEE format, and checking a submission file.

The CBLUE leaderboard takes a file named ``CMeEE_test.json``: a JSON list with
every test record, in the input order, each ``{"text", "entities": [{"start_idx",
"end_idx", "type", "entity"}]}`` with ``end_idx`` inclusive.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from ..errors import DataError
from ..types import CMEEE_LABELS, Entity
from ..util import file_mode
from .encoding import read_text_file
from .readers import detect_format

PathLike = Union[str, Path]


def _as_entity(item: Any) -> Entity:
    if len(item) == 2 and isinstance(item[0], tuple):  # a scored (Entity, score) pair
        item = item[0]
    start, end, label = item
    return Entity(int(start), int(end), str(label))


def cmeee_records(
    texts: Sequence[str], entities: Sequence[Sequence[Entity]]
) -> List[Dict[str, Any]]:
    """CMeEE records for texts and their entities (``Entity`` or ``(Entity, score)``)."""
    if len(texts) != len(entities):
        raise ValueError(
            f"{len(texts)} texts but {len(entities)} entity lists; give one list per text."
        )
    records = []
    for i, (text, ents) in enumerate(zip(texts, entities, strict=True)):
        out = []
        for e in sorted({_as_entity(x) for x in ents}):
            if not 0 <= e.start <= e.end < len(text):
                raise ValueError(
                    f"record {i}: entity {tuple(e)} is outside the text (length {len(text)}); "
                    "offsets must be record coordinates with end inclusive."
                )
            out.append(
                {
                    "start_idx": e.start,
                    "end_idx": e.end,
                    "type": e.label,
                    "entity": text[e.start : e.end + 1],
                }
            )
        records.append({"text": text, "entities": out})
    return records


def write_cmeee(
    path: PathLike,
    texts: Sequence[str],
    entities: Sequence[Sequence[Entity]],
    indent: Union[int, None] = None,
) -> Path:
    """Write a UTF-8 CMeEE JSON list, records in input order, entities sorted.

    The file is written to a temporary name and renamed, so an interrupted run
    never leaves half a file. Returns the path written.
    """
    path = Path(path)
    records = cmeee_records(texts, entities)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, file_mode())  # mkstemp makes 0600; a written file gets the usual mode
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(records, f, ensure_ascii=False, indent=indent)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _load_records(path: Path, what: str, problems: List[str]) -> Any:
    """The decoded content of a JSON list (or, for ``.jsonl``, JSON Lines) file; None on a problem."""
    if not path.is_file():
        problems.append(f"{what} file not found: {path}")
        return None
    try:
        content = read_text_file(path)
    except DataError as err:
        problems.append(str(err))
        return None
    lines = detect_format(path, content) == "jsonl"
    if lines:
        chunks = [(i, line) for i, line in enumerate(content.splitlines(), start=1) if line.strip()]
    else:
        chunks = [(0, content)]
    records = []
    for offset, chunk in chunks:
        try:
            records.append(json.loads(chunk))
        except json.JSONDecodeError as err:
            line = offset or err.lineno
            problems.append(f"{path}: invalid JSON at line {line}, column {err.colno}: {err.msg}.")
            return None
    return records if lines else records[0]


def submission_name_warning(pred_path: PathLike, input_path: PathLike) -> Optional[str]:
    """A warning when predictions for ``CMeEE_test.json`` are written under another name.

    The CBLUE leaderboard wants the file named ``CMeEE_test.json``; any other name
    is a valid prediction file, only not uploadable as it is.
    """
    pred_path, input_path = Path(pred_path), Path(input_path)
    if input_path.name == "CMeEE_test.json" and pred_path.name != "CMeEE_test.json":
        return (
            f"{pred_path} is a valid prediction file, but the CBLUE leaderboard expects it to be named "
            "CMeEE_test.json: rename it (or zip it under that name) before uploading."
        )
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_submission(
    pred_path: PathLike,
    input_path: PathLike,
    labels: Sequence[str] = CMEEE_LABELS,
) -> List[str]:
    """Problems that would make ``pred_path`` an invalid submission for ``input_path``.

    Checks: a JSON list with as many records as the input, the same texts in the
    same order, an ``entities`` list in every record, integer offsets inside the
    text with ``end_idx >= start_idx``, types among ``labels``, and an ``entity``
    string (if given) equal to the text span. An empty list means the file is
    valid (the leaderboard's file name is :func:`submission_name_warning`'s concern).
    """
    pred_path, input_path = Path(pred_path), Path(input_path)
    problems: List[str] = []
    gold = _load_records(input_path, "input", problems)
    pred = _load_records(pred_path, "prediction", problems)
    if gold is None or pred is None:
        return problems
    if not isinstance(pred, list):
        return problems + [
            f"{pred_path}: expected a JSON list of records, got {type(pred).__name__}."
        ]
    if not isinstance(gold, list):
        return problems + [
            f"{input_path}: expected a JSON list of records, got {type(gold).__name__}."
        ]
    if len(pred) != len(gold):
        problems.append(
            f"{pred_path}: {len(pred)} records but the input {input_path} has {len(gold)}."
        )
    allowed = set(labels)
    for i, (rec, src) in enumerate(zip(pred, gold, strict=False)):
        where = f"{pred_path}, record {i}"
        if not isinstance(rec, dict):
            problems.append(f"{where}: expected an object, got {type(rec).__name__}.")
            continue
        text = rec.get("text")
        src_text = src.get("text") if isinstance(src, dict) else None
        if text != src_text:
            problems.append(
                f"{where}, text: differs from record {i} of the input (records must keep the input order)."
            )
        if not isinstance(text, str):
            continue
        ents = rec.get("entities")
        if not isinstance(ents, list):
            problems.append(f"{where}, entities: expected a list, got {type(ents).__name__}.")
            continue
        n = len(text)
        for j, ent in enumerate(ents):
            field = f"{where}, entities[{j}]"
            if not isinstance(ent, dict):
                problems.append(f"{field}: expected an object, got {type(ent).__name__}.")
                continue
            start, end, label = ent.get("start_idx"), ent.get("end_idx"), ent.get("type")
            ok = True
            for name, value in (("start_idx", start), ("end_idx", end)):
                if not _is_int(value):
                    problems.append(f"{field}.{name}: expected an integer, got {value!r}.")
                    ok = False
                elif not 0 <= value < n:
                    problems.append(f"{field}.{name}: {value} is outside the text (length {n}).")
                    ok = False
            if ok and end < start:
                problems.append(f"{field}.end_idx: {end} is before start_idx {start}.")
                ok = False
            if not isinstance(label, str) or label not in allowed:
                problems.append(f"{field}.type: {label!r} is not one of {', '.join(labels)}.")
            surface = ent.get("entity")
            if ok and surface is not None and surface != text[start : end + 1]:
                problems.append(
                    f"{field}.entity: {surface!r} differs from the text span {text[start : end + 1]!r}."
                )
    return problems
