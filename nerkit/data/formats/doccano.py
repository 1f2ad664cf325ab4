"""doccano JSON Lines (``nerkit.Doccano.v1``, ``nerkit.DoccanoWriter.v1``).

One JSON object per line with the text under ``text`` (older exports: ``data``),
an optional ``id``, and the entities in either of doccano's two export forms,
end offsets *exclusive*::

    {"id": 7, "text": "右下腹疼痛", "label": [[0, 3, "部位"], [0, 5, "症状"]]}
    {"id": 7, "text": "右下腹疼痛", "entities": [{"id": 1, "start_offset": 0, "end_offset": 3, "label": "部位"}]}

A JSON list of such objects is read too. The reader checks every offset
against the text and every label against ``labels`` (if given); ``relations``
and other keys are ignored. The writer writes the ``label`` form (``style =
"entities"`` for the other), keeping every entity, nested ones included.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ...errors import ConfigError, DataError
from ...types import Entity, Example
from .base import JsonRecordsReader, JsonRecordsWriter, corpus_format, describe, id_value

WHAT = 'a doccano record {"text": ..., "label": [[start, end, type]]}'


KEYS = ("start_offset", "end_offset", "label")


class DoccanoReader(JsonRecordsReader):
    """``reader(path) -> Corpus`` for doccano JSON Lines; see the module docstring."""

    file_what = "doccano JSONL"

    def record(self, place: str, rec: Any, ignored: Counter) -> Tuple[str, List[Entity]]:
        if not isinstance(rec, dict):
            raise DataError(
                f"{place}: expected a JSON object ({WHAT}), got {describe(rec)}. Fix the record."
            )
        key = "text" if "text" in rec else "data"
        text = rec.get(key)
        if not isinstance(text, str):
            raise DataError(
                f"{place}, text: expected a string, got {describe(text)}. Every record needs its 'text'."
            )
        entities: List[Entity] = []
        if "label" in rec and isinstance(rec["label"], list):
            for j, item in enumerate(rec["label"]):
                where = f"{place}, label[{j}]"
                if not (isinstance(item, list) and len(item) == 3):
                    raise DataError(
                        f"{where}: expected [start, end, type], got {describe(item)}. Fix the record."
                    )
                entities.append(self.span(where, text, *item))
        elif "entities" in rec:
            entities = self.object_spans(place, rec["entities"], KEYS, "doccano", text)
        elif rec.get("label") is not None:
            raise DataError(
                f"{place}, label: expected a list of [start, end, type], got {describe(rec['label'])}."
            )
        return text, entities


class DoccanoWriter(JsonRecordsWriter):
    def __init__(self, style: str) -> None:
        if style not in ("label", "entities"):
            raise ConfigError(f'writer.style: expected "label" or "entities", got {style!r}.')
        self.style = style

    def record(self, ex: Example, ents: List[Entity]) -> Dict[str, Any]:
        rec: Dict[str, Any] = {"id": id_value(ex), "text": ex.text}
        if self.style == "label":
            rec["label"] = [[e.start, e.end + 1, e.label] for e in ents]
        else:
            rec["entities"] = [
                {"id": k, "start_offset": e.start, "end_offset": e.end + 1, "label": e.label}
                for k, e in enumerate(ents, start=1)
            ]
        return rec


def _sniff(path: Path, head: str) -> bool:
    first = head.lstrip()[:2000]
    return (
        first.startswith("{")
        and ('"label"' in first or '"start_offset"' in first)
        and '"originalText"' not in first
    )


@corpus_format("doccano", sniff=_sniff, priority=-3, description="doccano JSONL")
def doccano_reader(labels: Optional[List[str]] = None) -> DoccanoReader:
    """doccano JSON Lines ("label": [[start, end, type]] or "entities": [...]; ends exclusive).

    labels: the entity types allowed (null: any).
    """
    return DoccanoReader(labels)


@corpus_format("doccano", suffixes=(".jsonl",), description="doccano JSONL")
def doccano_writer(style: str = "label") -> DoccanoWriter:
    """doccano JSON Lines; style "label" ([[start, end, type]]) or "entities" (objects)."""
    return DoccanoWriter(style)
