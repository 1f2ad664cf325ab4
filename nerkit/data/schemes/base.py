"""The label scheme interfaces: entities <-> training targets.

Decoders (``nerkit.models.decoders``) take a scheme; the schemes live with the data
they describe and import nothing from ``models``.

A scheme whose config block leaves its labels out learns them when the model is
initialised, as spaCy's components learn theirs in ``initialize(get_examples)``:
``initialize(get_examples)`` reads the training examples and ``label_config()`` returns
what it learned as arguments of its own config block, which training records in the
model directory's ``config.cfg`` (a saved model then lists its labels and loads without
the corpus). Until then ``labels`` raises a ConfigError saying where labels come from.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from ...errors import ConfigError
from ...types import Entity

GetExamples = Callable[[], Iterable[Any]]  # () -> the training examples (nerkit.types.Example)


class LabelScheme:
    """Turns entities into training targets and back."""

    name: str = "label scheme"  # the registered name, for messages
    _labels: Optional[Tuple[str, ...]] = None

    @property
    def labels(self) -> Tuple[str, ...]:
        """The entity types; a ConfigError before a scheme built without them is initialised."""
        if self._labels is None:
            raise self.uninitialized_error()
        return self._labels

    def uninitialized_error(self) -> ConfigError:
        """The error for using a scheme whose labels are still to be learned."""
        return ConfigError(
            f"{self.name}: no `labels`. `nerkit train` learns them from the training corpus "
            "when the config lists none (and records them in the model directory), for a "
            "decoder that returns a nerkit.models.base.DecoderFactory; to use this component "
            'otherwise, list them, e.g. labels = ["疾病", "症状"].'
        )

    @labels.setter
    def labels(self, value: Sequence[str]) -> None:
        self._labels = tuple(value)

    @property
    def initialized(self) -> bool:
        """True once the scheme has its labels (given in the config, or learned)."""
        return self._labels is not None

    def initialize(self, get_examples: GetExamples) -> None:
        """Learn what the config left out from the training examples (a scheme whose
        labels are listed has nothing to learn)."""

    def label_config(self) -> Dict[str, Any]:
        """The arguments of this scheme's config block that :meth:`initialize` learned
        (e.g. ``{"labels": [...], "layers": [...]}``); empty when nothing was learned."""
        return {}


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

    def tag_spans(self, tags: Any, lengths: Any = None, rule: str = "lenient") -> Any:
        """Vectorised decoding: tags [B, num_layers, L] -> a ``TagSpans`` of every entity
        (arrays ``batch``, ``layer``, ``start``, ``end``, ``label``); ``rule``: "lenient"
        (a stray I- starts an entity) or "strict" (entities start at B- only)."""
        raise NotImplementedError

    def transition_mask(self, layer: int) -> Tuple[Any, Any]:
        """BIO constraints of a layer: (start_ok [n], trans_ok [n from, n to]) booleans,
        for constrained decoding."""
        raise NotImplementedError


class SpanScheme(LabelScheme):
    def encode(self, entities: Sequence[Entity], length: int) -> List[Tuple[int, int, int]]:
        """(start, end inclusive, label id) for each entity inside ``length``."""
        raise NotImplementedError

    def decode(self, spans: Sequence[Tuple[int, int, int]]) -> List[Entity]:
        raise NotImplementedError
