"""Decoding rules of the tag decoders: strict / lenient reading, constrained Viterbi.

Hand-made tag sequences for the reading rules, a plain left-to-right reader on random
tags against the vectorised one, and brute force over every tag sequence for the
constrained Viterbi of the linear head.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from nerkit.data.schemes import BIOScheme
from nerkit.data.schemes.bio import bio_scheme
from nerkit.data.schemes.nested_bio import nested_bio_scheme
from nerkit.errors import ConfigError
from nerkit.models.decoders.crf import crf_decoder
from nerkit.models.decoders.linear import LinearDecoder, linear_decoder
from nerkit.models.decoders.tag_decoding import viterbi
from nerkit.registry import registry
from nerkit.types import Entity


def tags_of(scheme: BIOScheme, names):
    return [[scheme.tag_id(0, n) for n in names]]


CASES = [
    # names, strict, lenient
    (["O", "I-a", "I-a", "O"], [], [Entity(1, 2, "a")]),
    (["I-a", "I-a"], [], [Entity(0, 1, "a")]),
    (["B-a", "I-b", "I-b"], [Entity(0, 0, "a")], [Entity(0, 0, "a"), Entity(1, 2, "b")]),
    (["B-a", "I-a", "B-a"], [Entity(0, 1, "a"), Entity(2, 2, "a")], None),
    (
        ["I-a", "B-a", "I-b", "O", "I-b"],
        [Entity(1, 1, "a")],
        [Entity(0, 0, "a"), Entity(1, 1, "a"), Entity(2, 2, "b"), Entity(4, 4, "b")],
    ),
    (
        ["B-a", "I-a", "I-b", "I-b", "B-b", "I-b"],
        [Entity(0, 1, "a"), Entity(4, 5, "b")],
        [Entity(0, 1, "a"), Entity(2, 3, "b"), Entity(4, 5, "b")],
    ),
    (["B-b", "I-b", "I-b"], [Entity(0, 2, "b")], None),
    (["O", "O"], [], None),
]


@pytest.mark.parametrize("names, strict, lenient", CASES)
def test_reading_rules_on_hand_made_sequences(names, strict, lenient):
    s = bio_scheme(labels=["a", "b"])
    tags = tags_of(s, names)
    assert s.decode(tags, rule="strict") == strict
    assert s.decode(tags, rule="lenient") == (strict if lenient is None else lenient)
    assert s.decode(tags) == s.decode(tags, rule="lenient")  # the scheme's default


def _read_strict(names):
    """A plain left-to-right strict reader: entities start at B- only."""
    out, cur = [], None
    for i, name in enumerate([*names, "O"]):
        if cur and name == f"I-{cur[2]}":
            cur[1] = i
            continue
        if cur:
            out.append(Entity(*cur))
        cur = [i, i, name[2:]] if name.startswith("B-") else None
    return sorted(out)


def test_strict_reading_matches_plain_reader_on_random_tags():
    rng = np.random.default_rng(0)
    s = nested_bio_scheme(labels=["a", "b", "sym"], layers=[["sym"], ["a", "b"]])
    tags = np.stack([rng.integers(0, 3, (64, 9)), rng.integers(0, 5, (64, 9))], axis=1)
    lengths = rng.integers(1, 10, 64)
    got = s.decode_batch(tags, lengths, rule="strict")
    for b in range(64):
        expect = set()
        for k in range(2):
            names = [s.layer_tags(k)[t] for t in tags[b, k, : lengths[b]]]
            expect |= set(_read_strict(names))
        assert got[b] == sorted(expect)


def test_unknown_rule_is_clear():
    with pytest.raises(ValueError, match="unknown reading rule"):
        bio_scheme(labels=["a"]).decode([[0]], rule="loose")
    with pytest.raises(ConfigError, match=r"`decoding` = 'loose'.*\[model.decoder\]"):
        registry.decoders.get("nerkit.LinearDecoder.v1")(bio_scheme(labels=["a"]), decoding="loose")
    with pytest.raises(ConfigError, match="`decoding`"):
        registry.decoders.get("nerkit.CRFNestedDecoder.v1")(decoding="x")


# -- the linear head ---------------------------------------------------------------------


def _linear_with_logits(scheme: BIOScheme, logits: torch.Tensor, decoding: str) -> LinearDecoder:
    """A linear head whose logits at position t are ``logits[t]`` (one-hot hidden states)."""
    length, n = logits.shape
    dec = linear_decoder(scheme, dropout=0.0, decoding=decoding)(length).eval()
    with torch.no_grad():
        dec.proj.weight.zero_()
        dec.proj.bias.zero_()
        dec.proj.weight[:n] = logits.t()
    return dec


def test_linear_rules_on_a_hand_made_sequence():
    s = bio_scheme(labels=["a", "b"])  # O B-a I-a B-b I-b
    # argmax: O I-a I-a B-b I-a; the stray I-a run wins over B-a by a little at 1
    logits = torch.tensor(
        [
            [3.0, 0.0, 0.0, 0.0, 0.0],
            [0.0, 1.8, 2.0, 0.0, 0.0],
            [0.0, 0.0, 3.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 3.0, 0.0],
            [0.0, 0.0, 2.0, 0.0, 1.9],
        ]
    )
    hidden = torch.eye(5)[None]
    mask = torch.ones(1, 5, dtype=torch.bool)
    found = {
        rule: [e for e, _ in _linear_with_logits(s, logits, rule).decode(hidden, mask)[0]]
        for rule in ("strict", "lenient", "constrained")
    }
    assert found["lenient"] == [Entity(1, 2, "a"), Entity(3, 3, "b"), Entity(4, 4, "a")]
    assert found["strict"] == [Entity(3, 3, "b")]
    # Viterbi: B-a I-a (1.8 + 3 beats O O) and B-b I-b (I-a cannot follow B-b)
    assert found["constrained"] == [Entity(1, 2, "a"), Entity(3, 4, "b")]
    # constrained scores: mean probability of the chosen tags
    dec = _linear_with_logits(s, logits, "constrained")
    probs = torch.softmax(logits, -1)
    (ent_a, score_a), (ent_b, score_b) = dec.decode(hidden, mask)[0]
    assert score_a == pytest.approx(((probs[1, 1] + probs[2, 2]) / 2).item(), rel=1e-5)
    assert score_b == pytest.approx(((probs[3, 3] + probs[4, 4]) / 2).item(), rel=1e-5)


def _brute_force(scheme: BIOScheme, layer: int, logp: torch.Tensor):
    """Best BIO-legal sequence by enumeration: logp [L, N] -> (tags, score)."""
    start_ok, trans_ok = scheme.transition_mask(layer)
    best, best_tags = -math.inf, None
    for seq in itertools.product(range(logp.shape[1]), repeat=logp.shape[0]):
        if not start_ok[seq[0]] or not all(trans_ok[a, b] for a, b in itertools.pairwise(seq)):
            continue
        total = sum(logp[t, y].item() for t, y in enumerate(seq))
        if total > best:
            best, best_tags = total, list(seq)
    return best_tags, best


def test_constrained_viterbi_equals_brute_force():
    """Two layers with different tag counts, padded batch: Viterbi == enumeration."""
    torch.manual_seed(0)
    s = nested_bio_scheme(labels=["a", "b", "c"], layers=[["a"], ["b", "c"]])
    dec = linear_decoder(s, dropout=0.0, decoding="constrained")(6).eval()
    lengths = [5, 3, 1, 4]
    hidden = 3 * torch.randn(4, 5, 6)
    mask = torch.arange(5)[None, :] < torch.tensor(lengths)[:, None]
    logp = dec.logits(hidden).log_softmax(-1)  # [B, K, L, N]
    tags = dec._constrained_tags(logp, mask)
    seen_illegal_argmax = False
    for b, n in enumerate(lengths):
        for k, n_tags in enumerate(dec.num_tags):
            expect, _ = _brute_force(s, k, logp[b, k, :n, :n_tags])
            assert tags[b, k, :n].tolist() == expect
            assert (tags[b, k, n:] == 0).all()
            argmax = logp[b, k, :n, :n_tags].argmax(-1).tolist()
            seen_illegal_argmax |= argmax != expect
    assert seen_illegal_argmax  # the test exercises sequences argmax gets wrong
    # the entities are those of the Viterbi tags
    pred = dec.decode(hidden, mask)
    for b, n in enumerate(lengths):
        assert [e for e, _ in pred[b]] == s.decode(tags[b, :, :n].tolist(), rule="strict")


def test_shared_viterbi_scores_match_brute_force():
    torch.manual_seed(1)
    em = torch.randn(2, 4, 3)
    trans = torch.randn(3, 3)
    start, end = torch.randn(3), torch.randn(3)
    lengths = torch.tensor([4, 2])
    mask = torch.arange(4)[None, :] < lengths[:, None]
    tags, scores = viterbi(em, lengths, mask, start, trans, end)
    for b in range(2):
        n = int(lengths[b])
        best = max(
            itertools.product(range(3), repeat=n),
            key=lambda y: (
                start[y[0]]
                + sum(em[b, t, y[t]] for t in range(n))
                + sum(trans[y[t - 1], y[t]] for t in range(1, n))
                + end[y[-1]]
            ),
        )
        assert tags[b, :n].tolist() == list(best)


# -- the CRF head ------------------------------------------------------------------------


def test_crf_rules_and_decode_time_constraints():
    """An unconstrained CRF: strict drops stray I-, constrained decodes legal paths only."""
    torch.manual_seed(0)
    s = bio_scheme(labels=["a", "b"])
    hidden = torch.randn(8, 6, 4) * 3
    mask = torch.ones(8, 6, dtype=torch.bool)
    first = crf_decoder(s, dropout=0.0, constrain_bio=False)(4).eval()
    with torch.no_grad():
        first.heads[0].bias.copy_(torch.tensor([0.0, 0.0, 3.0, 0.0, 3.0]))  # favour I-
    decs = {}
    for rule in ("strict", "lenient", "constrained"):
        decs[rule] = crf_decoder(s, dropout=0.0, constrain_bio=False, decoding=rule)(4).eval()
        decs[rule].load_state_dict(first.state_dict())
    crf, em = decs["strict"].crfs[0], decs["strict"].emissions(hidden)[0]
    free = crf.viterbi(em, mask)[0]
    start_ok, trans_ok = s.transition_mask(0)
    out = {rule: dec.decode(hidden, mask) for rule, dec in decs.items()}
    for b in range(8):
        names = [s.layer_tags(0)[t] for t in free[b].tolist()]
        assert [e for e, _ in out["strict"][b]] == _read_strict(names)
        assert [e for e, _ in out["lenient"][b]] == s.decode([free[b].tolist()], rule="lenient")
    assert out["strict"] != out["lenient"]  # stray I- exist in the free paths
    # constrained: the best legal path under the CRF's own scores, by brute force (b = 0)
    start, end, trans = crf.scores()
    legal = [
        y
        for y in itertools.product(range(5), repeat=6)
        if start_ok[y[0]] and all(trans_ok[p, q] for p, q in itertools.pairwise(y))
    ]
    ys = torch.tensor(legal)  # [P, 7]
    total = start[ys[:, 0]] + em[0].gather(1, ys.t()).sum(0) + trans[ys[:, :-1], ys[:, 1:]].sum(1)
    total = total + end[ys[:, -1]]
    best = legal[int(total.argmax())]
    assert [e for e, _ in out["constrained"][0]] == s.decode([list(best)], rule="strict")
