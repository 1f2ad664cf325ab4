"""Label and entity checks shared by the label schemes (BIO, nested BIO, spans)."""

from __future__ import annotations

from typing import Dict, Iterable, List, Mapping, Sequence, Tuple

from ...errors import ConfigError, DataError
from ...types import CMEEE_LABELS, Entity, Example
from ..labels import collect_labels


def learn_labels(examples: Iterable[Example], name: str) -> List[str]:
    """The labels of the training ``examples`` (sorted), or a DataError when they have no
    entity to learn from."""
    learned = collect_labels(examples)
    if not learned:
        raise DataError(
            f"{name}: the config lists no labels, so they are learned from the training "
            "corpus, but it has no entities. Check the training file and its reader, or list "
            "the labels in the config."
        )
    return learned


def label_ids(labels: Sequence[str], name: str) -> Tuple[Tuple[str, ...], Dict[str, int]]:
    """``(labels as a tuple, label -> id)``; a ConfigError for no or duplicate labels."""
    labels = tuple(labels)
    if not labels:
        raise ConfigError(
            f"{name}: `labels` is empty. List the entity types, e.g. {list(CMEEE_LABELS)}."
        )
    dupes = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dupes:
        raise ConfigError(f"{name}: `labels` lists {dupes} more than once. Remove the duplicates.")
    return labels, {lab: i for i, lab in enumerate(labels)}


def check_entity(
    ent: Entity, name: str, labels: Sequence[str], label_to_id: Mapping[str, int]
) -> None:
    """A DataError for an entity whose label is unknown or whose offsets are invalid."""
    if ent.label not in label_to_id:
        raise DataError(
            f"{name}: entity {tuple(ent)} has label '{ent.label}', which is not among "
            f"the scheme's `labels` {list(labels)}. Add it to `labels` of the label "
            f"scheme in the config, or remove such entities from the data."
        )
    if ent.start < 0 or ent.end < ent.start:
        raise DataError(
            f"{name}: entity {tuple(ent)} has invalid offsets (need 0 <= start <= end, "
            f"end inclusive). Fix start_idx/end_idx of this entity in the data."
        )
