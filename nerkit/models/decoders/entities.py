"""Turn decoded span arrays into sorted, de-duplicated scored entities.

Shared by every decoder so their outputs follow one contract: per sequence,
a list of ``(Entity, score)`` sorted by (start, end, label), one entry per
distinct entity with the highest score any layer gave it. The sort and the
de-duplication are done with numpy over the whole batch; only building the
final Python objects loops over entities.
"""

from __future__ import annotations

from functools import partial
from typing import List, Sequence, Tuple

import numpy as np

from ...types import Entity


def scored_entities(
    batch_size: int,
    batch: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    label: np.ndarray,
    score: np.ndarray,
    labels: Sequence[str],
) -> List[List[Tuple[Entity, float]]]:
    """Parallel arrays (one row per span, label as index into ``labels``) -> entities."""
    if len(batch) == 0:
        return [[] for _ in range(batch_size)]
    batch, start, end, label = (np.asarray(a, dtype=np.int64) for a in (batch, start, end, label))
    score = np.asarray(score, dtype=np.float64)
    rank = np.argsort(np.argsort(np.asarray(labels, dtype=object)))  # label id -> alphabetical rank
    lab_rank = rank[label]
    # sort by (batch, start, end, label), best score first among duplicates
    order = np.lexsort((-score, lab_rank, end, start, batch))
    batch, start, end, label, score = batch[order], start[order], end[order], label[order], score[order]
    keep = np.ones(len(batch), dtype=bool)
    keep[1:] = (batch[1:] != batch[:-1]) | (start[1:] != start[:-1]) | (end[1:] != end[:-1]) | (label[1:] != label[:-1])
    kb = batch[keep]
    names = np.asarray(list(labels), dtype=object)[label[keep]].tolist()
    # Entity(s, e, name) built by C-level map/zip, no Python frame per entity
    ents = map(partial(tuple.__new__, Entity), zip(start[keep].tolist(), end[keep].tolist(), names, strict=True))
    pairs = list(zip(ents, score[keep].tolist(), strict=True))
    bounds = np.searchsorted(kb, np.arange(batch_size + 1)).tolist()
    return [pairs[bounds[i] : bounds[i + 1]] for i in range(batch_size)]
