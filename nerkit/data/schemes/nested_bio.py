"""Nested BIO: several BIO layers, each label in one (``nerkit.NestedBIO.v1``).

The study's scheme puts ``sym`` (the only type that nests others in CMeEE, mostly
sym over bod) in one layer and the other eight types in a second one, so a symptom
and the body part inside it are both kept. Within a layer the conflict rule and the
decoding rules are those of :mod:`nerkit.data.schemes.bio`: longer entity first, then
label priority, then earlier start; an entity is written only if all its positions
in its layer are free. Decoding merges the entities of all layers.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

from ...errors import ConfigError
from ...registry import name_of
from ..labels import nesting_layers
from .bio import BIOScheme


def sym_split_layers(labels: Sequence[str], name: str) -> List[List[str]]:
    """The study's split of ``labels``: [["sym"], [every other label]]."""
    labels = list(labels)
    if "sym" not in labels or len(labels) < 2:
        raise ConfigError(
            f"{name}: the default layers split 'sym' from the other labels, but `labels` is "
            f"{labels}. Give `layers` explicitly (a partition of `labels`), or leave out both "
            "`labels` and `layers` to learn them from the training corpus."
        )
    return [["sym"], [lab for lab in labels if lab != "sym"]]


class NestedBIOScheme(BIOScheme):
    """BIO tags in several layers; ``layers`` must partition ``labels``.

    Left out, the labels are learned at initialisation and so are the layers (layers that
    keep the corpus's overlapping labels apart, :func:`nerkit.data.labels.nesting_layers`),
    as they are for listed labels without ``sym``; with ``sym`` listed the default is the
    study's sym / other split.
    """

    def _learns(self, labels: Optional[Sequence[str]], layers: Optional[Sequence[Any]]) -> bool:
        return labels is None or (layers is None and "sym" not in labels)

    def _learn_layers(
        self, examples: List[Any], labels: Sequence[str], layers: Optional[Sequence[Any]]
    ) -> Optional[Sequence[Sequence[str]]]:
        if layers is None and ("labels" in self._learned or "sym" not in labels):
            return nesting_layers(examples, labels)
        return layers

    def uninitialized_error(self) -> ConfigError:
        labels = self._arguments[0]
        if labels is None:
            return super().uninitialized_error()
        return ConfigError(
            f"{self.name}: the default layers split 'sym' from the other labels, but `labels` is "
            f"{list(labels)}. Give `layers` explicitly (a partition of `labels`), or train: "
            "`nerkit train` learns layers from the training corpus."
        )

    def _default_layers(self, labels: Sequence[str]) -> List[List[str]]:
        return sym_split_layers(labels, self.name)


def nested_bio_scheme(
    labels: Optional[List[str]] = None,
    layers: Optional[List[List[str]]] = None,
    priority: Optional[List[str]] = None,
) -> NestedBIOScheme:
    """BIO layers partitioning ``labels``.

    labels: the entity types; left out, ``nerkit train`` learns them from the training corpus,
    and (with ``layers`` left out too) layers that keep its overlapping types apart.
    layers: a partition of ``labels``; default with ``labels`` given: ``sym`` / the others.
    """
    name = name_of("label_schemes", nested_bio_scheme)
    return NestedBIOScheme(labels=labels, layers=layers, priority=priority, name=name)
