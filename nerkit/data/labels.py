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


def overlapping_label_pairs(examples: Iterable[Example]) -> Dict[str, Set[str]]:
    """label -> the other labels that some entity of it overlaps (nested, crossing or same span)."""
    pairs: Dict[str, Set[str]] = {}
    for ex in examples:
        ents = sorted(set(ex.entities))
        for i, a in enumerate(ents):
            for b in ents[i + 1 :]:
                if b.start > a.end:
                    break
                if a.label != b.label:
                    pairs.setdefault(a.label, set()).add(b.label)
                    pairs.setdefault(b.label, set()).add(a.label)
    return pairs


def nesting_layers(examples: Sequence[Example], labels: Sequence[str]) -> List[List[str]]:
    """A partition of ``labels`` into tag layers such that two labels whose entities
    overlap in ``examples`` are in different layers (greedy colouring: labels with
    the most overlapping partners first, then the more frequent, then by name; each
    into the first layer where it overlaps nothing). Labels in no overlap share the
    first layer. Entities of one label that overlap each other cannot be separated
    by layers; the scheme's conflict rule keeps the longer one."""
    pairs = overlapping_label_pairs(examples)
    counts = label_counts(examples)
    order = sorted(labels, key=lambda lab: (-len(pairs.get(lab, ())), -counts[lab], lab))
    layers: List[List[str]] = []
    for lab in order:
        for layer in layers:
            if not pairs.get(lab, set()) & set(layer):
                layer.append(lab)
                break
        else:
            layers.append([lab])
    rank = {lab: i for i, lab in enumerate(labels)}
    return [sorted(layer, key=rank.__getitem__) for layer in layers] or [list(labels)]
