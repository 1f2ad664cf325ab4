"""Label sets learned from a corpus.

When a config lists no ``labels``, ``nerkit train`` takes them from the
training corpus (:func:`collect_labels`: every label that occurs, in Python
string order, so the same corpus always gives the same ids) and, for schemes
with several tag layers, the layers too (:func:`nesting_layers`). Any string is
a label: Chinese names, spaces, mixed case.
"""

from __future__ import annotations

from collections import Counter
from typing import Dict, Iterable, List, Sequence, Set

from ..types import Example


def label_counts(examples: Iterable[Example]) -> Counter:
    """Entities per label (duplicates within a record once)."""
    counts: Counter = Counter()
    for ex in examples:
        counts.update(e.label for e in set(ex.entities))
    return counts


def collect_labels(examples: Iterable[Example]) -> List[str]:
    """Every label of the corpus, sorted (Python string order)."""
    return sorted(label_counts(examples))


def unknown_labels(examples: Iterable[Example], labels: Sequence[str]) -> Counter:
    """Entities per label for the labels that are not in ``labels``."""
    known = set(labels)
    return Counter({lab: n for lab, n in label_counts(examples).items() if lab not in known})


def overlap_counts(examples: Iterable[Example]) -> Counter:
    """(label a, label b), a < b -> how many pairs of their entities overlap (nested,
    crossing or the same span), duplicates within a record once."""
    counts: Counter = Counter()
    for ex in examples:
        ents = sorted(set(ex.entities))  # by start, then end
        for i, a in enumerate(ents):
            for b in ents[i + 1 :]:
                if b.start > a.end:
                    break
                if a.label != b.label:
                    counts[tuple(sorted((a.label, b.label)))] += 1
    return counts


def overlapping_label_pairs(examples: Iterable[Example]) -> Dict[str, Set[str]]:
    """label -> the other labels that some entity of it overlaps (nested, crossing or same span)."""
    pairs: Dict[str, Set[str]] = {}
    for a, b in overlap_counts(examples):
        pairs.setdefault(a, set()).add(b)
        pairs.setdefault(b, set()).add(a)
    return pairs


# A new tag layer opens only for overlaps worth at least this share of all entities.
MIN_LAYER_SHARE = 0.005


def nesting_layers(
    examples: Sequence[Example], labels: Sequence[str], min_share: float = MIN_LAYER_SHARE
) -> List[List[str]]:
    """A partition of ``labels`` into tag layers that keeps the entities of labels
    which overlap often apart.

    Terms: two labels *share a layer at a cost*: the number of their overlapping entity
    pairs (one entity of each pair is lost in that layer: the scheme's conflict rule
    keeps the longer). The *budget* is ``min_share`` of all entities.

    Rule: labels are placed in order (the most overlapping entity pairs first, then the
    more frequent, then by name), each into the existing layer where its cost against
    the labels already there is lowest (the first such layer on ties), or into a new
    layer when even that cost is over the budget. Overlaps cheaper than the budget
    (on CMeEE: annotation noise such as ``dis`` inside ``pro``, 6 pairs in 16,000
    entities) so do not cost a layer; ``min_share = 0`` keeps every overlapping pair
    apart. Entities of one label that overlap each other cannot be separated by layers.
    """
    costs = overlap_counts(examples)
    counts = label_counts(examples)
    budget = min_share * sum(counts.values())
    overlapping: Counter = Counter()
    for (a, b), n in costs.items():
        overlapping[a] += n
        overlapping[b] += n

    def cost(lab: str, layer: List[str]) -> int:
        return sum(costs.get(tuple(sorted((lab, other))), 0) for other in layer)

    order = sorted(labels, key=lambda lab: (-overlapping[lab], -counts[lab], lab))
    layers: List[List[str]] = []
    for lab in order:
        best = min(range(len(layers)), key=lambda k: cost(lab, layers[k]), default=None)
        if best is not None and cost(lab, layers[best]) <= budget:
            layers[best].append(lab)
        else:
            layers.append([lab])
    rank = {lab: i for i, lab in enumerate(labels)}
    return [sorted(layer, key=rank.__getitem__) for layer in layers] or [list(labels)]
