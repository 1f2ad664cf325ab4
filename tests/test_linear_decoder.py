"""Linear (nested) softmax decoder: loss by hand, overfitting, padding invariance, registry."""

from __future__ import annotations

import math

import pytest
import torch
from confection import Config

from nerkit.data.schemes import NestedBIOScheme
from nerkit.data.schemes.bio import bio_scheme
from nerkit.data.schemes.nested_bio import nested_bio_scheme
from nerkit.data.schemes.spans import span_scheme
from nerkit.errors import ConfigError
from nerkit.models.decoders.linear import LinearDecoder, linear_decoder
from nerkit.registry import registry
from nerkit.types import CMEEE_LABELS, Entity


def small_scheme() -> NestedBIOScheme:
    # layer 0: O B-a I-a (3 tags); layer 1: O B-b I-b B-c I-c (5 tags)
    return nested_bio_scheme(labels=["a", "b", "c"], layers=[["a"], ["b", "c"]])


def test_loss_equals_hand_computation():
    torch.manual_seed(0)
    dec = linear_decoder(small_scheme(), dropout=0.0)(2)
    assert dec.proj.weight.shape == (2 * 5, 2)
    hidden = torch.tensor([[[1.0, -0.5], [0.3, 2.0], [-1.2, 0.7]]])  # [1, 3, 2]
    mask = torch.tensor([[True, True, True]])
    # layer 0 targets: B-a I-a O; layer 1: O, ignored, I-c
    tags = torch.tensor([[[1, 2, 0], [0, -100, 4]]])
    got = dec.loss(hidden, mask, {"tags": tags})

    weight, bias = dec.proj.weight.tolist(), dec.proj.bias.tolist()

    def nll(layer: int, pos: int, tag: int) -> float:
        x = hidden[0, pos].tolist()
        n_tags = (3, 5)[layer]
        rows = range(layer * 5, layer * 5 + n_tags)  # only the layer's own tags
        z = [sum(w * v for w, v in zip(weight[r], x, strict=True)) + bias[r] for r in rows]
        return math.log(sum(math.exp(v) for v in z)) - z[tag]

    layer0 = (nll(0, 0, 1) + nll(0, 1, 2) + nll(0, 2, 0)) / 3
    layer1 = (nll(1, 0, 0) + nll(1, 2, 4)) / 2  # mean over the layer's real tokens
    assert got.item() == pytest.approx((layer0 + layer1) / 2, rel=1e-5)

    # mask False ignores a position in every layer
    got_masked = dec.loss(hidden, torch.tensor([[True, True, False]]), {"tags": tags})
    expect = ((nll(0, 0, 1) + nll(0, 1, 2)) / 2 + nll(1, 0, 0)) / 2
    assert got_masked.item() == pytest.approx(expect, rel=1e-5)


def test_targets_shape_and_padding():
    dec = linear_decoder(small_scheme(), dropout=0.0)(4)
    t = dec.make_targets([[Entity(0, 1, "a"), Entity(1, 1, "c")], []], [3, 1])["tags"]
    assert t.dtype == torch.long and t.shape == (2, 2, 3)
    assert t.tolist() == [[[1, 2, 0], [0, 3, 0]], [[0, -100, -100], [0, -100, -100]]]


def nested_examples():
    # sym over bod (the CMeEE nesting), a flat dis, adjacent entities
    return (
        [
            [Entity(0, 3, "sym"), Entity(0, 1, "bod"), Entity(5, 6, "dis")],
            [Entity(1, 4, "sym"), Entity(3, 4, "bod"), Entity(6, 6, "bod"), Entity(7, 8, "dru")],
        ],
        [8, 10],
    )


def test_overfits_nested_sequences_to_exact_decoding():
    torch.manual_seed(1)
    build = registry.get("decoders", "nerkit.LinearNestedDecoder.v1")(
        dropout=0.0, labels=list(CMEEE_LABELS)
    )
    dec = build(16)
    entities, lengths = nested_examples()
    hidden = torch.randn(2, 10, 16)
    mask = torch.arange(10)[None, :] < torch.tensor(lengths)[:, None]
    targets = dec.make_targets(entities, lengths)
    opt = torch.optim.Adam(dec.parameters(), lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        loss = dec.loss(hidden, mask, targets)
        loss.backward()
        opt.step()
    assert loss.item() < 0.01
    pred = dec.decode(hidden, mask)
    assert [[e for e, _ in seq] for seq in pred] == [sorted(x) for x in entities]
    assert all(0.95 < s <= 1.0 for seq in pred for _, s in seq)


def test_padding_does_not_change_loss_or_decoding():
    torch.manual_seed(2)
    dec = linear_decoder(nested_bio_scheme(labels=list(CMEEE_LABELS)), dropout=0.0)(8)
    entities, lengths = nested_examples()
    hidden = torch.randn(2, 10, 8)
    mask = torch.arange(10)[None, :] < torch.tensor(lengths)[:, None]
    targets = dec.make_targets(entities, lengths)
    loss = dec.loss(hidden, mask, targets)
    pred = dec.decode(hidden, mask)
    # same batch padded to 14 positions with garbage features; targets left at width 10
    wide = torch.cat([hidden, 100 * torch.randn(2, 4, 8)], dim=1)
    wide[0, 8:] = 100 * torch.randn(6, 8)
    wide_mask = torch.arange(14)[None, :] < torch.tensor(lengths)[:, None]
    assert dec.loss(wide, wide_mask, targets).item() == pytest.approx(loss.item(), rel=1e-6)
    assert dec.decode(wide, wide_mask) == pred
    # each sequence alone, unpadded: per-sequence decoding is unchanged
    for b, n in enumerate(lengths):
        alone = dec.decode(hidden[b : b + 1, :n], torch.ones(1, n, dtype=torch.bool))
        assert alone == [pred[b]]


def test_scores_are_mean_max_probability():
    torch.manual_seed(3)
    scheme = bio_scheme(labels=["a", "b"])
    dec = linear_decoder(scheme, dropout=0.0)(5)
    hidden = torch.randn(3, 7, 5)
    mask = torch.ones(3, 7, dtype=torch.bool)
    probs = torch.softmax(dec.proj(hidden), dim=-1)  # one layer of 5 tags: no masking
    best, tags = probs.max(-1)
    pred = dec.decode(hidden, mask)
    for b in range(3):
        ents = scheme.decode([tags[b].tolist()], rule="strict")  # the decoder default
        assert [e for e, _ in pred[b]] == ents
        for ent, score in pred[b]:
            expect = best[b, ent.start : ent.end + 1].mean().item()
            assert score == pytest.approx(expect, rel=1e-5)


def test_registry_config_and_errors():
    cfg = Config().from_str(
        """
        [decoder]
        @decoders = "nerkit.LinearDecoder.v1"
        dropout = 0.2

        [decoder.scheme]
        @label_schemes = "nerkit.NestedBIO.v1"
        labels = ["dis", "sym", "pro", "equ", "dru", "ite", "bod", "dep", "mic"]
        """
    )
    dec = registry.resolve(cfg)["decoder"](12)
    assert isinstance(dec, LinearDecoder) and dec.num_tags == [3, 17]
    assert dec.dropout.p == 0.2 and dec.scheme.layers[0] == ("sym",)
    with pytest.raises(ConfigError, match="`dropout`"):
        registry.get("decoders", "nerkit.LinearDecoder.v1")(
            nested_bio_scheme(labels=list(CMEEE_LABELS)), dropout=1.5
        )
    with pytest.raises(ConfigError, match="`scheme`"):
        registry.get("decoders", "nerkit.LinearDecoder.v1")(span_scheme(labels=list(CMEEE_LABELS)))
    with pytest.raises(ValueError, match="do not fit"):
        dec.loss(
            torch.zeros(1, 3, 12),
            torch.ones(1, 3, dtype=torch.bool),
            {"tags": torch.zeros(1, 2, 5, dtype=torch.long)},
        )
