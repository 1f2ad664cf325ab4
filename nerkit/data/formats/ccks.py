"""CCKS / Yidu-S4K style records (``nerkit.CCKS.v1``, ``nerkit.CCKSWriter.v1``).

One JSON object per line (a JSON list is read too), end offsets *exclusive*::

    {"originalText": "患者因高血压入院", "entities": [{"label_type": "疾病和诊断", "start_pos": 3, "end_pos": 6, "overlap": 0}]}

The reader checks every offset against the text and every label against
``labels`` (if given); ``overlap`` and other keys are ignored, an ``id`` is kept.
The writer writes the same form (``overlap`` 0) and an ``id`` where the record has one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional, Sequence

from ...errors import DataError
from ...types import Entity, Example
from .base import (
    Corpus,
    PathLike,
    WriteReport,
    as_corpus,
    check_reader_labels,
    check_span,
    corpus_format,
    describe,
    load_json_records,
    record_id,
    require,
    unique_entities,
    write_json_records,
)

WHAT = 'a CCKS record {"originalText": ..., "entities": [{"start_pos", "end_pos", "label_type"}]}'


class CCKSReader:
    def __init__(self, labels: Optional[Sequence[str]]) -> None:
        self.labels = check_reader_labels(labels, "reader")

    def __call__(self, path: PathLike) -> Corpus:
        path = Path(path)
        examples = [
            self._record(place, rec, i, path)
            for i, (place, rec) in enumerate(load_json_records(path, "CCKS JSON"))
        ]
        return as_corpus(examples, path)

    def _record(self, place: str, rec: Any, index: int, path: Path) -> Example:
        text = require(place, rec, "originalText", str, WHAT)
        raw = rec.get("entities") or []
        if not isinstance(raw, list):
            raise DataError(
                f"{place}, entities: expected a list, got {describe(raw)}. Fix the record."
            )
        entities: List[Entity] = []
        for j, ent in enumerate(raw):
            where = f"{place}, entities[{j}]"
            if not isinstance(ent, dict):
                raise DataError(
                    f"{where}: expected an object, got {describe(ent)}. Fix the record."
                )
            for k in ("start_pos", "end_pos", "label_type"):
                if k not in ent:
                    raise DataError(
                        f"{where}.{k}: missing; CCKS entities have start_pos, end_pos and label_type."
                    )
            entities.append(
                check_span(
                    where,
                    text,
                    ent["start_pos"],
                    ent["end_pos"],
                    ent["label_type"],
                    self.labels,
                    True,
                )
            )
        return Example(text, entities, index, str(path), record_id(rec.get("id")))


class CCKSWriter:
    def __call__(self, path: PathLike, examples: Sequence[Example]) -> WriteReport:
        report = WriteReport(Path(path))
        records = []
        for ex in examples:
            ents = unique_entities(ex)
            rec: dict = {} if ex.id is None else {"id": ex.id}
            rec["originalText"] = ex.text
            rec["entities"] = [
                {"label_type": e.label, "overlap": 0, "start_pos": e.start, "end_pos": e.end + 1}
                for e in ents
            ]
            records.append(rec)
            report.records += 1
            report.entities += len(ents)
        write_json_records(path, records, lines=True)
        return report


def _sniff(path: Path, head: str) -> bool:
    return '"originalText"' in head[:4000]


@corpus_format("ccks", sniff=_sniff, priority=-1, description="CCKS / Yidu-S4K JSON Lines")
def ccks_reader(labels: Optional[List[str]] = None) -> CCKSReader:
    """CCKS / Yidu-S4K JSON Lines: originalText + entities[].start_pos/end_pos (exclusive)/label_type.

    labels: the entity types allowed (null: any).
    """
    return CCKSReader(labels)


@corpus_format("ccks", description="CCKS / Yidu-S4K JSON Lines")
def ccks_writer() -> CCKSWriter:
    """CCKS / Yidu-S4K JSON Lines."""
    return CCKSWriter()
