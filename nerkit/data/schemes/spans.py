"""Span targets for span decoders (``nerkit.Spans.v1``).

Each entity becomes ``(start, end inclusive, label id)`` with the label id indexing
``labels``. There is no conflict rule: every entity is kept, nested and overlapping
ones included; exact duplicates are removed. Entities not fully inside ``[0, length)``
are left out. Output is sorted by (start, end, label id).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from ...registry import name_of
from ...types import Entity
from .base import GetExamples, SpanScheme
from .labels import check_entity, label_ids, learn_labels


class SpanLabelScheme(SpanScheme):
    """Entities as (start, end, label id) triples; ``num_labels`` classes."""

    def __init__(self, *, labels: Optional[Sequence[str]], name: str) -> None:
        self.name = name
        self._learned: Dict[str, Any] = {}
        if labels is not None:
            self.labels, self.label_to_id = label_ids(labels, name)

    def initialize(self, get_examples: GetExamples) -> None:
        """Learn the labels the config left out from the training examples."""
        if self.initialized:
            return
        labels = learn_labels(get_examples(), self.name)
        self._learned["labels"] = list(labels)
        self.labels, self.label_to_id = label_ids(labels, self.name)

    def label_config(self) -> Dict[str, Any]:
        return dict(self._learned)

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def encode(self, entities: Sequence[Entity], length: int) -> List[Tuple[int, int, int]]:
        out = set()
        for ent in entities:
            ent = Entity(*ent)
            check_entity(ent, self.name, self.labels, self.label_to_id)
            if ent.end < length:
                out.add((ent.start, ent.end, self.label_to_id[ent.label]))
        return sorted(out)

    def decode(self, spans: Sequence[Tuple[int, int, int]]) -> List[Entity]:
        out = set()
        for start, end, lab in spans:
            if not 0 <= int(lab) < len(self.labels):
                raise ValueError(
                    f"{self.name}: label id {lab} of span ({start}, {end}) is out of range; the "
                    f"scheme has {len(self.labels)} labels {list(self.labels)}."
                )
            out.add(Entity(int(start), int(end), self.labels[int(lab)]))
        return sorted(out)

    def __repr__(self) -> str:
        if not self.initialized:
            return f"{type(self).__name__}(labels learned at initialisation)"
        return f"{type(self).__name__}(labels={list(self.labels)})"


def span_scheme(labels: Optional[List[str]] = None) -> SpanLabelScheme:
    """(start, end, label id) spans over ``labels``; keeps every entity.

    labels: the entity types; left out, ``nerkit train`` learns them from the training corpus.
    """
    return SpanLabelScheme(labels=labels, name=name_of("label_schemes", span_scheme))
