"""The label scheme interfaces: entities <-> training targets.

Decoders (``nerkit.models.decoders``) take a scheme; the schemes live with the data
they describe and import nothing from ``models``.
"""

from __future__ import annotations

from typing import Any, List, Sequence, Tuple

from ...types import Entity


class LabelScheme:
    """Turns entities into training targets and back."""

    labels: Tuple[str, ...]  # entity types


class TagScheme(LabelScheme):
    """A BIO-style scheme with one or more tag layers."""

    def layer_tags(self, layer: int) -> List[str]:
        """Tag names of a layer, index 0 is "O"."""
        raise NotImplementedError

    @property
    def num_layers(self) -> int:
        raise NotImplementedError

    def encode(self, entities: Sequence[Entity], length: int) -> List[List[int]]:
        """[num_layers][length] tag ids."""
        raise NotImplementedError

    def decode(self, tags: Sequence[Sequence[int]]) -> List[Entity]:
        """[num_layers][length] tag ids -> entities (all layers merged)."""
        raise NotImplementedError

    def encode_batch(
        self, entities: Sequence[Sequence[Entity]], lengths: Sequence[int], pad: int = -100
    ) -> Any:
        """Tags of a batch: int64 array [B, num_layers, max(lengths)], ``pad`` past each length."""
        raise NotImplementedError

    def tag_spans(self, tags: Any, lengths: Any = None) -> Any:
        """Vectorised decoding: tags [B, num_layers, L] -> a ``TagSpans`` of every entity
        (arrays ``batch``, ``layer``, ``start``, ``end``, ``label``)."""
        raise NotImplementedError


class SpanScheme(LabelScheme):
    def encode(self, entities: Sequence[Entity], length: int) -> List[Tuple[int, int, int]]:
        """(start, end inclusive, label id) for each entity inside ``length``."""
        raise NotImplementedError

    def decode(self, spans: Sequence[Tuple[int, int, int]]) -> List[Entity]:
        raise NotImplementedError
