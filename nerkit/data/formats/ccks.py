"""CCKS / Yidu-S4K style records (``nerkit.CCKS.v1``, ``nerkit.CCKSWriter.v1``).

One JSON object per line (a JSON list is read too), end offsets *exclusive*::

    {"originalText": "患者因高血压入院", "entities": [{"label_type": "疾病和诊断", "start_pos": 3, "end_pos": 6, "overlap": 0}]}

The reader checks every offset against the text and every label against
``labels`` (if given); ``overlap`` and other keys are ignored, an ``id`` is kept.
The writer writes the same form (``overlap`` 0) and an ``id`` where the record has one.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ...types import Entity, Example
from .base import JsonRecordsReader, JsonRecordsWriter, corpus_format, require

WHAT = 'a CCKS record {"originalText": ..., "entities": [{"start_pos", "end_pos", "label_type"}]}'


KEYS = ("start_pos", "end_pos", "label_type")


class CCKSReader(JsonRecordsReader):
    file_what = "CCKS JSON"

    def record(self, place: str, rec: Any, ignored: Counter) -> Tuple[str, List[Entity]]:
        text = require(place, rec, "originalText", str, WHAT)
        return text, self.object_spans(place, rec.get("entities") or [], KEYS, "CCKS", text)


class CCKSWriter(JsonRecordsWriter):
    def record(self, ex: Example, ents: List[Entity]) -> Dict[str, Any]:
        rec: Dict[str, Any] = {} if ex.id is None else {"id": ex.id}
        rec["originalText"] = ex.text
        rec["entities"] = [
            {"label_type": e.label, "overlap": 0, "start_pos": e.start, "end_pos": e.end + 1}
            for e in ents
        ]
        return rec


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
