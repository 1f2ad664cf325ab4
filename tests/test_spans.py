"""SpanArrays: the array form of predictions every decoder returns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nerkit.models.base import Decoder
from nerkit.spans import SpanArrays
from nerkit.types import Entity

LABELS = ("sym", "dis", "bod")  # not alphabetical: output order follows the names


def test_build_sorts_by_name_and_keeps_best_score_of_duplicates():
    # rows: (seq, start, end, label id, score)
    rows = [
        (1, 0, 1, 0, 0.2),
        (0, 3, 4, 0, 0.5),
        (0, 3, 4, 1, 0.1),
        (0, 3, 4, 0, 0.9),
        (0, 0, 2, 2, 0.3),
    ]
    seq, start, end, label, score = zip(*rows, strict=True)
    spans = SpanArrays.build(3, seq, start, end, label, score, LABELS)
    assert spans.entities() == [
        [(Entity(0, 2, "bod"), 0.3), (Entity(3, 4, "dis"), 0.1), (Entity(3, 4, "sym"), 0.9)],
        [(Entity(0, 1, "sym"), 0.2)],
        [],
    ]
    assert spans.bounds() == [0, 3, 4, 4]


def test_keep_drops_entities_no_row_keeps_but_scores_over_all_rows():
    seq, start, end, label = [0, 0, 0, 0], [1, 1, 5, 7], [2, 2, 6, 7], [0, 0, 1, 1]
    score = [0.9, 0.4, 0.8, 0.3]
    keep = np.array([False, True, False, False])
    spans = SpanArrays.build(1, seq, start, end, label, score, LABELS, keep=keep)
    assert spans.entities() == [[(Entity(1, 2, "sym"), 0.9)]]  # kept via row 2, best score of row 1


def _reference_build(size, rows, keep):
    """Dict-based rule: best score per (seq, start, end, label); kept if any row is kept."""
    best, kept = {}, {}
    for (b, s, e, lab, sc), k in zip(rows, keep, strict=True):
        key = (b, s, e, LABELS[lab])
        best[key] = max(best.get(key, -1.0), sc)
        kept[key] = kept.get(key, False) or k
    out = [[] for _ in range(size)]
    for b, s, e, name in sorted(k for k in best if kept[k]):
        out[b].append((Entity(s, e, name), best[(b, s, e, name)]))
    return out


@pytest.mark.parametrize(
    "far", [10, 2_000_000_000]
)  # 2e9: the composite key would overflow: lexsort path
def test_build_equals_a_dict_reference_on_random_rows(far):
    rng = np.random.default_rng(far)
    for _ in range(20):
        n, size = int(rng.integers(1, 60)), int(rng.integers(1, 5))
        seq = rng.integers(0, size, n)
        start = rng.choice([0, 1, 2, far - 2], n)
        end = start + rng.integers(0, 2, n)
        label, score = rng.integers(0, len(LABELS), n), rng.random(n).round(2)
        keep = rng.random(n) < 0.7
        rows = list(
            zip(
                seq.tolist(),
                start.tolist(),
                end.tolist(),
                label.tolist(),
                score.tolist(),
                strict=True,
            )
        )
        spans = SpanArrays.build(size, seq, start, end, label, score, LABELS, keep=keep)
        assert spans.entities() == _reference_build(size, rows, keep.tolist())


def test_entities_round_trip_and_empty():
    per_seq = [
        [(Entity(0, 0, "bod"), 0.5), (Entity(2, 5, "sym"), 0.25)],
        [],
        [(Entity(1, 1, "dis"), 1.0)],
    ]
    spans = SpanArrays.from_entities(per_seq, LABELS)
    assert len(spans) == 3 and spans.entities() == per_seq
    assert SpanArrays.from_entities([[], []], LABELS).entities() == [[], []]
    assert SpanArrays.build(2, [], [], [], [], [], LABELS).entities() == [[], []]
    with pytest.raises(ValueError, match=r"entity labels \['foo'\] are not among"):
        SpanArrays.from_entities([[(Entity(0, 0, "foo"), 1.0)]], LABELS)


class _Scheme:
    labels = LABELS


class ListDecoder(Decoder):
    """A decoder written against the list API only, as an older plugin might be."""

    scheme = _Scheme()

    def decode(self, hidden, mask):
        return [
            [(Entity(1, 2, "dis"), 0.7), (Entity(0, 0, "sym"), 0.6)] for _ in range(hidden.size(0))
        ]


class ArrayDecoder(Decoder):
    scheme = _Scheme()

    def decode_spans(self, hidden, mask):
        return SpanArrays.build(hidden.size(0), [0], [3], [3], [2], [0.4], LABELS)


def test_decoder_defaults_convert_between_the_two_forms():
    hidden, mask = torch.zeros(2, 4, 3), torch.ones(2, 4, dtype=torch.bool)
    spans = ListDecoder().decode_spans(hidden, mask)
    assert spans.entities() == [[(Entity(0, 0, "sym"), 0.6), (Entity(1, 2, "dis"), 0.7)]] * 2
    assert ArrayDecoder().decode(hidden, mask) == [[(Entity(3, 3, "bod"), 0.4)], []]
    with pytest.raises(NotImplementedError, match="must implement decode_spans or decode"):
        Decoder().decode_spans(hidden, mask)
    with pytest.raises(NotImplementedError, match="must implement decode_spans or decode"):
        Decoder().decode(hidden, mask)
