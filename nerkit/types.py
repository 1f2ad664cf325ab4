"""Core data types shared by every component."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, NamedTuple, Optional


class Entity(NamedTuple):
    """A typed span of characters. ``end`` is inclusive, as in CMeEE."""

    start: int
    end: int
    label: str

    def shift(self, offset: int) -> Entity:
        return Entity(self.start + offset, self.end + offset, self.label)


@dataclass
class Example:
    """One record: its text and (for annotated data) its gold entities."""

    text: str
    entities: List[Entity] = field(default_factory=list)
    index: int = 0  # position of the record in its source file
    source: Optional[str] = None  # the file it came from, for error messages
    id: Optional[str] = None  # the document's own id (doccano/Label Studio id, brat file name, ...)


# Scored predictions: (entity, confidence in [0, 1]).
ScoredEntity = tuple  # Tuple[Entity, float]

CMEEE_LABELS = ("dis", "sym", "pro", "equ", "dru", "ite", "bod", "dep", "mic")
