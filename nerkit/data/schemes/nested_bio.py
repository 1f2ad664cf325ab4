"""Nested BIO: several BIO layers, each label in one (``nerkit.NestedBIO.v1``).

The study's scheme puts ``sym`` (the only type that nests others in CMeEE, mostly
sym over bod) in one layer and the other eight types in a second one, so a symptom
and the body part inside it are both kept. Within a layer the conflict rule and the
decoding rules are those of :mod:`nerkit.data.schemes.bio`: longer entity first, then
label priority, then earlier start; an entity is written only if all its positions
in its layer are free. Decoding merges the entities of all layers.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

from ...errors import ConfigError
from .bio import BIOScheme
from .labels import require_labels


def sym_split_layers(labels: Sequence[str], name: str = "nerkit.NestedBIO.v1") -> List[List[str]]:
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
    """BIO tags in several layers; ``layers`` must partition ``labels``."""

    @staticmethod
    def default_layers(labels: Sequence[str], name: str) -> List[List[str]]:
        """The layers when ``layers`` is left out: :func:`sym_split_layers`."""
        return sym_split_layers(labels, name)


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
    name = "nerkit.NestedBIO.v1"
    return NestedBIOScheme(
        labels=require_labels(labels, name), layers=layers, priority=priority, name=name
    )
