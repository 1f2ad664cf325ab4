"""GlobalPointer and Efficient GlobalPointer: loss by hand, decoding, RoPE, overfitting."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from confection import Config

from nerkit.data.schemes import SpanLabelScheme
from nerkit.data.schemes.nested_bio import nested_bio_scheme
from nerkit.data.schemes.spans import span_scheme
from nerkit.errors import ConfigError
from nerkit.models.decoders.efficient_global_pointer import (
    EfficientGlobalPointerDecoder,
    efficient_global_pointer,
)
from nerkit.models.decoders.global_pointer import (
    GlobalPointerDecoder,
    global_pointer,
    multilabel_categorical_crossentropy,
    rotary,
    span_mask,
)
from nerkit.registry import registry
from nerkit.types import Entity
from tests.test_crf import Tagger, one_thread  # noqa: F401 (fixture)

LABELS = ["sym", "bod", "dis"]


def scheme() -> SpanLabelScheme:
    return span_scheme(labels=LABELS)


def test_multilabel_ce_by_hand():
    logits = torch.tensor([[2.0, -1.0, 0.5, -3.0], [0.2, 0.1, -0.4, 1.0]])
    targets = torch.tensor([[1, 0, 0, 1], [0, 0, 0, 0]])
    got = multilabel_categorical_crossentropy(logits, targets)
    # row 0: positives {2, -3}, negatives {-1, 0.5}
    row0 = math.log(1 + math.exp(-1.0) + math.exp(0.5)) + math.log(
        1 + math.exp(-2.0) + math.exp(3.0)
    )
    # row 1: no positive: log(1 + sum exp(neg)) + log(1)
    row1 = math.log(1 + math.exp(0.2) + math.exp(0.1) + math.exp(-0.4) + math.exp(1.0))
    assert got.tolist() == pytest.approx([row0, row1], rel=1e-6)
    # invalid entries are in neither set, whatever their score or target
    valid = torch.tensor([[True, False, True, True], [True, True, True, False]])
    got = multilabel_categorical_crossentropy(
        logits * 1e3 * ~valid + logits * valid, targets, valid
    )
    row0 = math.log(1 + math.exp(0.5)) + math.log(1 + math.exp(-2.0) + math.exp(3.0))
    row1 = math.log(1 + math.exp(0.2) + math.exp(0.1) + math.exp(-0.4))
    assert got.tolist() == pytest.approx([row0, row1], rel=1e-6)


def test_span_mask():
    valid = span_mask(torch.tensor([[True, True, True], [True, True, False]]))
    assert valid.shape == (2, 1, 3, 3)
    assert valid[0, 0].int().tolist() == [[1, 1, 1], [0, 1, 1], [0, 0, 1]]
    assert valid[1, 0].int().tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 0]]


def test_targets():
    dec = global_pointer(scheme(), head_size=4, dropout=0.0)(4)
    ents = [[Entity(0, 3, "sym"), Entity(1, 2, "bod"), Entity(1, 2, "dis")], [Entity(0, 0, "bod")]]
    spans = dec.make_targets(ents, [4, 2])["spans"]
    assert spans.dtype == torch.bool and spans.shape == (2, 3, 4, 4)
    assert spans.nonzero().tolist() == [[0, 0, 0, 3], [0, 1, 1, 2], [0, 2, 1, 2], [1, 1, 0, 0]]


def test_decode_hand_set_logits():
    dec = global_pointer(scheme(), head_size=4, dropout=0.0)(4)
    logits = torch.full((2, 3, 5, 5), -2.0)
    # sequence 0: sym 0..4 containing bod 1..2 and bod 3..4, plus dis 1..2 on the bod span
    logits[0, 0, 0, 4] = 3.0
    logits[0, 1, 1, 2] = 0.5
    logits[0, 1, 3, 4] = 1.0
    logits[0, 2, 1, 2] = 0.1
    logits[0, 2, 4, 1] = 5.0  # end < start: ignored
    logits[0, 0, 2, 2] = 0.0  # not > 0
    # sequence 1 has length 3: spans touching positions 3, 4 are padding
    logits[1, 1, 0, 0] = 2.0
    logits[1, 0, 2, 3] = 4.0
    logits[1, 2, 4, 4] = 4.0
    dec.scores = lambda hidden: logits  # type: ignore[method-assign]
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    out = dec.decode(torch.zeros(2, 5, 4), mask)
    sig = torch.sigmoid
    expect0 = [
        (Entity(0, 4, "sym"), sig(torch.tensor(3.0)).item()),
        (Entity(1, 2, "bod"), sig(torch.tensor(0.5)).item()),
        (Entity(1, 2, "dis"), sig(torch.tensor(0.1)).item()),
        (Entity(3, 4, "bod"), sig(torch.tensor(1.0)).item()),
    ]
    assert [e for e, _ in out[0]] == [e for e, _ in expect0]
    assert [s for _, s in out[0]] == pytest.approx([s for _, s in expect0])
    assert [e for e, _ in out[1]] == [Entity(0, 0, "bod")]


def test_rope_depends_on_relative_position_only():
    torch.manual_seed(0)
    q, k = torch.randn(2, 6, 3, 8), torch.randn(2, 6, 3, 8)

    def scores(pos):
        return torch.einsum("bmch,bnch->bcmn", rotary(q, pos), rotary(k, pos))

    base = scores(torch.arange(6))
    for shift in (1, 7, 100):
        assert torch.allclose(scores(torch.arange(6) + shift), base, atol=1e-4)
    # per-sequence positions [B, L] work too
    assert torch.allclose(scores(torch.arange(6).repeat(2, 1) + 3), base, atol=1e-4)
    # rotation keeps norms, and really changes the scores
    assert torch.allclose(rotary(q).norm(dim=-1), q.norm(dim=-1), atol=1e-5)
    plain = torch.einsum("bmch,bnch->bcmn", q, k)
    assert not torch.allclose(base, plain, atol=1e-2)


@pytest.mark.parametrize("builder", [global_pointer, efficient_global_pointer])
def test_scores_of_identical_tokens_are_toeplitz(builder):
    """Same vector at every position: the span score is a function of end - start."""
    torch.manual_seed(0)
    dec = builder(scheme(), head_size=8, dropout=0.0)(6)
    hidden = torch.randn(1, 1, 6).expand(1, 7, 6)
    s = dec.scores(hidden)[0]  # [C, L, L]
    for d in range(-6, 7):
        diag = torch.diagonal(s, offset=d, dim1=1, dim2=2)
        assert torch.allclose(diag, diag[:, :1].expand_as(diag), atol=1e-5)
    assert not torch.allclose(s[:, 0, 0], s[:, 0, 3], atol=1e-4)  # RoPE is on
    flat = builder(scheme(), head_size=8, rope=False, dropout=0.0)(6)
    s = flat.scores(hidden)[0]
    assert torch.allclose(s, s[:, :1, :1].expand_as(s), atol=1e-5)


def test_efficient_scores_decompose():
    """Label differences of a span score are start/end biases, independent of q.k."""
    torch.manual_seed(0)
    dec = efficient_global_pointer(scheme(), head_size=8, dropout=0.0)(6)
    hidden = torch.randn(2, 5, 6)
    s = dec.scores(hidden)  # [B, C, L, L]
    shared = dec.proj(hidden)
    bias = dec.bias(shared).view(2, 5, 2, 3)
    start, end = bias[:, :, 0], bias[:, :, 1]  # [B, L, C]
    diff = s[:, 1] - s[:, 0]
    expect = (start[:, :, 1] - start[:, :, 0]).unsqueeze(2) + (
        end[:, :, 1] - end[:, :, 0]
    ).unsqueeze(1)
    assert torch.allclose(diff, expect, atol=1e-5)
    full = global_pointer(scheme(), head_size=8)(6)
    assert sum(p.numel() for p in dec.parameters()) < sum(p.numel() for p in full.parameters())


@pytest.mark.parametrize("builder", [global_pointer, efficient_global_pointer])
def test_loss_matches_direct_computation_and_ignores_padding(builder):
    torch.manual_seed(0)
    dec = builder(scheme(), head_size=4, dropout=0.0)(6)
    hidden = torch.randn(2, 4, 6)
    mask = torch.tensor([[True] * 4, [True, True, False, False]])
    targets = dec.make_targets(
        [[Entity(0, 2, "sym"), Entity(1, 1, "bod")], [Entity(0, 1, "dis")]], [4, 2]
    )
    got = dec.loss(hidden, mask, targets)
    s = dec.scores(hidden)
    rows = []
    for b, n in enumerate([4, 2]):
        for c in range(3):
            pos, neg = [], []
            for m in range(n):
                for e in range(m, n):
                    (pos if targets["spans"][b, c, m, e] else neg).append(s[b, c, m, e].item())
            rows.append(
                math.log(1 + sum(math.exp(v) for v in neg))
                + math.log(1 + sum(math.exp(-v) for v in pos))
            )
    assert got.item() == pytest.approx(sum(rows) / len(rows), rel=1e-5)
    # padding content does not matter
    noisy = hidden.clone()
    noisy[1, 2:] = 50.0
    assert dec.loss(noisy, mask, targets).item() == pytest.approx(got.item(), rel=1e-5)


def test_bad_arguments_name_the_setting():
    make = registry.decoders.get("nerkit.GlobalPointer.v1")
    with pytest.raises(ConfigError, match="head_size"):
        make(scheme(), head_size=7)
    with pytest.raises(ConfigError, match="not a span scheme"):
        make(nested_bio_scheme(labels=LABELS, layers=[["sym"], ["bod", "dis"]]))
    with pytest.raises(ConfigError, match="dropout"):
        registry.decoders.get("nerkit.EfficientGlobalPointer.v1")(scheme(), dropout=-0.1)


def test_built_from_config():
    cfg = Config().from_str(
        """
        [gp]
        @decoders = "nerkit.GlobalPointer.v1"
        head_size = 16

        [gp.scheme]
        @label_schemes = "nerkit.Spans.v1"
        labels = ["dis", "sym", "pro", "equ", "dru", "ite", "bod", "dep", "mic"]

        [egp]
        @decoders = "nerkit.EfficientGlobalPointer.v1"
        rope = false

        [egp.scheme]
        @label_schemes = "nerkit.Spans.v1"
        labels = ["sym", "bod"]
        """
    )
    resolved = registry.resolve(cfg)
    gp = resolved["gp"](32)
    assert type(gp) is GlobalPointerDecoder and gp.proj.out_features == 9 * 2 * 16
    egp = resolved["egp"](32)
    assert isinstance(egp, EfficientGlobalPointerDecoder) and not egp.rope
    assert egp.bias.out_features == 2 * 2


TEXTS = ["右肺感染伴左膝关节疼痛", "患者咳嗽三天", "慢性胃炎", "无明显腹痛"]
# deep and same-layer nesting: dis over bod, sym over bod, one span with two types
GOLD = [
    [Entity(0, 3, "dis"), Entity(0, 1, "bod"), Entity(5, 10, "sym"), Entity(5, 8, "bod")],
    [Entity(2, 3, "sym")],
    [Entity(0, 3, "dis"), Entity(2, 2, "bod"), Entity(2, 3, "sym")],
    [Entity(1, 4, "sym"), Entity(3, 3, "bod"), Entity(3, 4, "sym")],
]


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("name", ["nerkit.GlobalPointer.v1", "nerkit.EfficientGlobalPointer.v1"])
def test_tiny_model_learns_nested_spans(name):
    torch.manual_seed(0)
    encoder = Tagger(TEXTS)
    decoder = registry.decoders.get(name)(scheme(), head_size=16, dropout=0.0)(32)
    params = list(encoder.parameters()) + list(decoder.parameters())
    optimizer = torch.optim.Adam(params, lr=0.02)
    targets = decoder.make_targets(GOLD, [len(t) for t in TEXTS])
    for _ in range(40):
        hidden, mask = encoder(TEXTS)
        loss = decoder.loss(hidden, mask, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    decoder.eval()
    with torch.no_grad():
        found = decoder.decode(*encoder(TEXTS))
    for gold, pred in zip(GOLD, found, strict=True):
        assert [ent for ent, _ in pred] == sorted(gold)
        assert all(score > 0.5 for _, score in pred)


# -- boundary smoothing (Zhu and Li, 2022) -------------------------------------------------


def test_boundary_smoothing_targets_by_hand():
    from nerkit.models.decoders.global_pointer import boundary_smoothing_targets

    # bod (1, 2) in a window of 4, eps 0.2, D 1: (0,2) (2,2) (1,1) (1,3) share 0.2
    dec = global_pointer(scheme(), head_size=4, dropout=0.0, boundary_smoothing=0.2)(4)
    soft = dec.make_targets([[Entity(1, 2, "bod")]], [4])["spans"]
    assert soft.dtype == torch.float32 and soft.shape == (1, 3, 4, 4)
    expect = torch.zeros(4, 4)
    expect[1, 2] = 0.8
    for s, e in [(0, 2), (2, 2), (1, 1), (1, 3)]:
        expect[s, e] = 0.05
    assert torch.allclose(soft[0, 1], expect)
    assert soft[0, 0].abs().sum() == 0 and soft[0, 2].abs().sum() == 0  # other labels untouched

    # sym (0, 0) in a window of 3, eps 0.3, D 2: d = 1 only (0,1) is a span -> 0.15;
    # d = 2: (0,2) and (1,1) -> 0.075 each; the gold span keeps 0.7
    got = boundary_smoothing_targets(np.array([[0, 0, 0, 0]]), [3], 3, 0.3, 2)[0, 0]
    expect = torch.zeros(3, 3)
    expect[0, 0], expect[0, 1], expect[0, 2], expect[1, 1] = 0.7, 0.15, 0.075, 0.075
    assert torch.allclose(got, expect)

    # a one-character window has no neighbour: the gold span keeps everything
    assert boundary_smoothing_targets(np.array([[0, 2, 0, 0]]), [1], 3, 0.2, 1)[0, 2].tolist() == [
        [1.0]
    ]

    # two adjacent entities of one label in a batch of two windows: contributions add up
    got = boundary_smoothing_targets(np.array([[1, 0, 0, 0], [1, 0, 1, 1]]), [3, 2], 1, 0.2, 1)
    assert got.shape == (2, 1, 3, 3) and got[0].abs().sum() == 0
    # in a window of 2, (0,0) and (1,1) each have one valid d = 1 neighbour, (0,1),
    # which gets 0.2 from each; the gold spans keep 0.8
    assert torch.allclose(got[1, 0, :2, :2], torch.tensor([[0.8, 0.4], [0.0, 0.8]]))
    assert got[1, 0, 2].abs().sum() == 0 and got[1, 0, :, 2].abs().sum() == 0


def test_soft_loss_equals_hard_loss_on_hard_targets_and_by_hand():
    from nerkit.models.decoders.global_pointer import soft_multilabel_categorical_crossentropy

    torch.manual_seed(0)
    logits = torch.randn(2, 3, 10)
    hard = torch.rand(2, 3, 10) > 0.7
    valid = torch.rand(2, 3, 10) > 0.2
    for v in (None, valid):
        a = multilabel_categorical_crossentropy(logits, hard, v)
        b = soft_multilabel_categorical_crossentropy(logits, hard.float(), v)
        assert torch.allclose(a, b, atol=1e-6)
    s, y = [1.0, -0.5, 2.0], [0.8, 0.1, 0.0]
    got = soft_multilabel_categorical_crossentropy(torch.tensor([s]), torch.tensor([y]))
    neg = 1 + sum((1 - yj) * math.exp(sj) for sj, yj in zip(s, y, strict=True))
    pos = 1 + sum(yj * math.exp(-sj) for sj, yj in zip(s, y, strict=True))
    assert got.item() == pytest.approx(math.log(neg) + math.log(pos), rel=1e-6)


@pytest.mark.parametrize("builder", [global_pointer, efficient_global_pointer])
def test_loss_with_zero_smoothing_equals_todays(builder):
    torch.manual_seed(0)
    ents = [[Entity(0, 2, "sym"), Entity(1, 1, "bod")], [Entity(3, 4, "dis")]]
    hidden, mask = torch.randn(2, 6, 8), torch.arange(6)[None, :] < torch.tensor([[6], [5]])
    plain = builder(scheme(), head_size=4, dropout=0.0)(8)
    zero = builder(
        scheme(), head_size=4, dropout=0.0, boundary_smoothing=0.0, smoothing_distance=2
    )(8)
    smooth = builder(scheme(), head_size=4, dropout=0.0, boundary_smoothing=0.2)(8)
    zero.load_state_dict(plain.state_dict())
    smooth.load_state_dict(plain.state_dict())
    targets = plain.make_targets(ents, [6, 5])
    assert zero.make_targets(ents, [6, 5])["spans"].dtype == torch.bool
    assert zero.loss(hidden, mask, targets).item() == plain.loss(hidden, mask, targets).item()
    soft = smooth.make_targets(ents, [6, 5])
    # the soft loss on the smoothed targets, computed directly
    logits, valid = plain.logits(hidden, mask)
    from nerkit.models.decoders.global_pointer import soft_multilabel_categorical_crossentropy

    flat = (2, 3, 36)
    expect = soft_multilabel_categorical_crossentropy(
        logits.reshape(flat), soft["spans"].reshape(flat), valid.expand(-1, 3, -1, -1).reshape(flat)
    ).mean()
    got = smooth.loss(hidden, mask, soft)
    assert got.item() == pytest.approx(expect.item(), rel=1e-6)
    assert abs(got.item() - plain.loss(hidden, mask, targets).item()) > 1e-4
    got.backward()  # differentiable


def test_boundary_smoothing_settings_are_checked():
    for name in ("nerkit.GlobalPointer.v1", "nerkit.EfficientGlobalPointer.v1"):
        build = registry.decoders.get(name)
        with pytest.raises(ConfigError, match="`boundary_smoothing` = 1.0"):
            build(scheme(), boundary_smoothing=1.0)
        with pytest.raises(ConfigError, match="`smoothing_distance` = 0"):
            build(scheme(), boundary_smoothing=0.1, smoothing_distance=0)
        assert (
            build(scheme(), boundary_smoothing=0.1, smoothing_distance=2)(8).smoothing_distance == 2
        )
