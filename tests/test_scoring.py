"""Strict micro P/R/F1 against hand-computed values and a brute-force count."""

from __future__ import annotations

import random

import pytest

from nerkit.scoring import format_scores, prf, score
from nerkit.types import Entity

E = Entity


def test_hand_computed_micro_and_per_type():
    gold = [
        [E(0, 1, "sym"), E(0, 0, "bod"), E(3, 5, "dis")],
        [E(2, 3, "bod")],
        [],
    ]
    pred = [
        [E(0, 1, "sym"), E(0, 0, "sym"), E(3, 4, "dis")],  # 1 tp, 2 fp (wrong type, wrong end)
        [E(2, 3, "bod"), E(2, 3, "bod")],  # duplicate counts once: 1 tp
        [E(0, 0, "dru")],  # 1 fp
    ]
    s = score(gold, pred)
    # tp 2, fp 3, fn 2 -> P 2/5, R 2/4, F1 = 2PR/(P+R) = 0.4/0.9
    assert (s["tp"], s["fp"], s["fn"]) == (2, 3, 2)
    assert s["precision"] == pytest.approx(0.4) and s["recall"] == pytest.approx(0.5)
    assert s["f1"] == pytest.approx(2 * 0.4 * 0.5 / 0.9)
    pt = s["per_type"]
    assert list(pt) == ["bod", "dis", "dru", "sym"]  # no labels given: sorted
    assert pt["sym"] == {
        "precision": 0.5,
        "recall": 1.0,
        "f1": pytest.approx(2 / 3),
        "tp": 1,
        "fp": 1,
        "fn": 0,
        "support": 1,
    }
    assert pt["bod"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "tp": 1,
        "fp": 0,
        "fn": 1,
        "support": 2,
    }
    assert pt["dis"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "tp": 0,
        "fp": 1,
        "fn": 1,
        "support": 1,
    }
    assert pt["dru"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "tp": 0,
        "fp": 1,
        "fn": 0,
        "support": 0,
    }


def test_same_entity_in_another_record_is_wrong():
    s = score([[E(0, 1, "sym")], []], [[], [E(0, 1, "sym")]])
    assert (s["tp"], s["fp"], s["fn"]) == (0, 1, 1) and s["f1"] == 0.0


def test_labels_order_and_empty_rows():
    s = score([[E(0, 0, "a")]], [[E(0, 0, "a"), E(1, 1, "zz")]], labels=["c", "a"])
    assert list(s["per_type"]) == ["c", "a", "zz"]
    assert s["per_type"]["c"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "tp": 0,
        "fp": 0,
        "fn": 0,
        "support": 0,
    }
    assert s["precision"] == 0.5 and s["recall"] == 1.0


def test_zero_division_and_empty_input():
    assert prf(0, 0, 0) == (0.0, 0.0, 0.0)
    s = score([[], []], [[], []])
    assert s["precision"] == s["recall"] == s["f1"] == 0.0 and s["per_type"] == {}
    assert score([], [])["tp"] == 0
    s = score([[E(0, 0, "a")]], [[]])
    assert (s["precision"], s["recall"], s["f1"]) == (0.0, 0.0, 0.0)


def test_accepts_scored_pairs_and_plain_tuples():
    gold = [[(0, 1, "sym")]]
    assert score(gold, [[(E(0, 1, "sym"), 0.3)]])["f1"] == 1.0
    assert score(gold, [[(0, 1, "sym")]])["f1"] == 1.0


def test_length_mismatch():
    with pytest.raises(ValueError, match="2 gold records but 1 predicted"):
        score([[], []], [[]])


def test_matches_brute_force():
    rng = random.Random(3)
    labels = ["a", "b", "c"]

    def rand_doc():
        return [
            E(s, s + rng.randint(0, 2), rng.choice(labels))
            for s in rng.sample(range(12), rng.randint(0, 6))
        ]

    gold = [rand_doc() for _ in range(50)]
    pred = [rand_doc() + g[: rng.randint(0, len(g))] for g in gold]
    s = score(gold, pred, labels=labels)
    tp = fp = fn = 0
    for g, p in zip(gold, pred, strict=True):
        gs, ps = set(g), set(p)
        tp += sum(1 for x in ps if x in gs)
        fp += sum(1 for x in ps if x not in gs)
        fn += sum(1 for x in gs if x not in ps)
    assert (s["tp"], s["fp"], s["fn"]) == (tp, fp, fn)
    assert s["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert sum(r["tp"] for r in s["per_type"].values()) == tp
    assert sum(r["support"] for r in s["per_type"].values()) == tp + fn


def test_format_scores_table():
    s = score([[E(0, 1, "sym"), E(2, 2, "bod")]], [[E(0, 1, "sym")]], labels=["sym", "bod"])
    lines = format_scores(s).splitlines()
    assert lines[0].split() == ["type", "P", "R", "F1", "TP", "FP", "FN", "support"]
    assert lines[2].split() == ["sym", "100.00", "100.00", "100.00", "1", "0", "0", "1"]
    assert lines[3].split() == ["bod", "0.00", "0.00", "0.00", "0", "0", "1", "1"]
    assert lines[-1].split() == ["micro", "100.00", "50.00", "66.67", "1", "0", "1", "2"]
