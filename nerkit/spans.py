"""Scored spans of many sequences as parallel numpy arrays (``SpanArrays``).

Every decoder returns its predictions in this form, the model merges the
windows of long records in it, and ``Pipeline.pipe`` builds its ``Span``
objects straight from it. Keeping predictions in arrays until the end means one
Python object per entity (the one the user gets) instead of several, which
matters once a corpus yields hundreds of thousands of entities: every tracked
Python object also costs the cyclic garbage collector time.

Contract (what ``SpanArrays.build`` guarantees): rows sorted by
(seq, start, end, label name), one row per distinct (seq, start, end, label),
carrying the highest score any input row gave that entity.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .types import Entity

_new_entity = partial(tuple.__new__, Entity)


@dataclass(frozen=True)
class SpanArrays:
    """``size`` sequences' entities: row i is entity ``(start[i], end[i], labels[label[i]])``
    of sequence ``seq[i]`` with confidence ``score[i]``; ``end`` is inclusive."""

    size: int  # number of sequences (some may have no rows)
    seq: np.ndarray  # int64 [N]
    start: np.ndarray  # int64 [N]
    end: np.ndarray  # int64 [N], inclusive
    label: np.ndarray  # int64 [N], index into ``labels``
    score: np.ndarray  # float64 [N]
    labels: Tuple[str, ...]

    def __len__(self) -> int:
        return len(self.seq)

    @classmethod
    def build(
        cls,
        size: int,
        seq,
        start,
        end,
        label,
        score,
        labels: Sequence[str],
        keep: Optional[np.ndarray] = None,
    ) -> SpanArrays:
        """Sort and de-duplicate raw rows (any order, duplicates allowed).

        ``keep`` (bool [N], optional): an entity is output only if at least one
        of its rows is kept; its score is still the best over all its rows.
        """
        labels = tuple(labels)
        seq, start, end, label = (
            np.asarray(a, dtype=np.int64).reshape(-1) for a in (seq, start, end, label)
        )
        score = np.asarray(score, dtype=np.float64).reshape(-1)
        if len(seq) == 0:
            return cls.empty(size, labels)
        rank = np.argsort(np.argsort(np.asarray(labels, dtype=object)))[
            label
        ]  # alphabetical rank of the name
        # sort by (seq, start, end, label name): one composite int64 key (one sort) when it fits
        n_lab, n_pos = len(labels), int(max(start.max(), end.max())) + 1
        if (int(seq.max()) + 1) * n_pos * n_pos * n_lab < 2**62 and min(
            seq.min(), start.min()
        ) >= 0:
            key = ((seq * n_pos + start) * n_pos + end) * n_lab + rank
            order = np.argsort(key, kind="stable")
            key = key[order]
            first = np.ones(len(key), dtype=bool)
            first[1:] = key[1:] != key[:-1]
        else:
            order = np.lexsort((rank, end, start, seq))
            s, a, e, r = seq[order], start[order], end[order], rank[order]
            first = np.ones(len(s), dtype=bool)
            first[1:] = (
                (s[1:] != s[:-1]) | (a[1:] != a[:-1]) | (e[1:] != e[:-1]) | (r[1:] != r[:-1])
            )
        groups = np.flatnonzero(first)  # first row of each distinct entity
        best = np.maximum.reduceat(score[order], groups)
        rows = order[groups]
        if keep is not None:
            kept = np.logical_or.reduceat(np.asarray(keep, dtype=bool).reshape(-1)[order], groups)
            rows, best = rows[kept], best[kept]
        return cls(size, seq[rows], start[rows], end[rows], label[rows], best, labels)

    @classmethod
    def empty(cls, size: int, labels: Sequence[str]) -> SpanArrays:
        z = np.zeros(0, dtype=np.int64)
        return cls(size, z, z, z, z, np.zeros(0, dtype=np.float64), tuple(labels))

    @classmethod
    def concat(cls, parts: Sequence[SpanArrays], size: int) -> SpanArrays:
        """Stack the rows of parts that number their sequences alike (not re-sorted)."""
        if not parts:
            raise ValueError("SpanArrays.concat needs at least one part.")
        fields = ("seq", "start", "end", "label", "score")
        return cls(
            size, *(np.concatenate([getattr(p, f) for p in parts]) for f in fields), parts[0].labels
        )

    @classmethod
    def from_entities(
        cls, per_seq: Sequence[Sequence[Tuple[Entity, float]]], labels: Sequence[str]
    ) -> SpanArrays:
        """Lists of ``(Entity, score)`` per sequence -> sorted, de-duplicated arrays."""
        labels = tuple(labels)
        index = {name: i for i, name in enumerate(labels)}
        rows = [
            (b, e.start, e.end, e.label, float(s))
            for b, ents in enumerate(per_seq)
            for e, s in ents
        ]
        unknown = sorted({r[3] for r in rows} - index.keys())
        if unknown:
            raise ValueError(f"entity labels {unknown} are not among the labels {list(labels)}.")
        if not rows:
            return cls.empty(len(per_seq), labels)
        b, s, e, lab, sc = zip(*rows, strict=True)
        return cls.build(len(per_seq), b, s, e, [index[x] for x in lab], sc, labels)

    def bounds(self) -> List[int]:
        """Row ranges: sequence i has rows ``bounds[i]:bounds[i + 1]``."""
        return np.searchsorted(self.seq, np.arange(self.size + 1)).tolist()

    def entities(self) -> List[List[Tuple[Entity, float]]]:
        """Lists of ``(Entity, score)`` per sequence, sorted by (start, end, label)."""
        names = np.asarray(self.labels, dtype=object)[self.label].tolist()
        # built by C-level map/zip: no Python frame per entity
        ents = map(_new_entity, zip(self.start.tolist(), self.end.tolist(), names, strict=True))
        pairs = list(zip(ents, self.score.tolist(), strict=True))
        bounds = self.bounds()
        return [pairs[bounds[i] : bounds[i + 1]] for i in range(self.size)]
