"""CRF layer and CRF decoder: brute force over all paths, constraints, overfitting, registry."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from confection import Config
from torch import nn

from nerkit.data.schemes import NestedBIOScheme
from nerkit.data.schemes.bio import bio_scheme
from nerkit.data.schemes.nested_bio import nested_bio_scheme
from nerkit.data.schemes.spans import span_scheme
from nerkit.errors import ConfigError
from nerkit.models.decoders.crf import (
    CRF,
    FORBIDDEN,
    CRFDecoder,
    _LogPartition,
    bio_constraints,
    crf_decoder,
)
from nerkit.registry import registry
from nerkit.types import Entity


def random_crf(num_tags: int, seed: int, **constraints) -> CRF:
    torch.manual_seed(seed)
    crf = CRF(num_tags, **constraints)
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_(0.0, 1.0)
    return crf


def prefix_mask(lengths, width: int) -> torch.Tensor:
    return torch.arange(width).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)


def all_paths(crf: CRF, emissions: torch.Tensor, b: int, n: int):
    """Every tag path of sequence b (first n positions) and its score, in float64."""
    start, end, trans = (x.double() for x in crf.scores())
    em = emissions[b, :n].double()
    paths = torch.tensor(list(itertools.product(range(crf.num_tags), repeat=n)))  # [P, n]
    score = start[paths[:, 0]] + em[torch.arange(n), paths].sum(1) + end[paths[:, -1]]
    if n > 1:
        score = score + trans[paths[:, :-1], paths[:, 1:]].sum(1)
    return paths, score


CASES = [(3, [5, 2, 1]), (4, [4, 4, 3, 1]), (5, [3, 5, 2])]


@pytest.mark.parametrize("num_tags,lengths", CASES)
def test_log_likelihood_equals_brute_force(num_tags, lengths):
    crf = random_crf(num_tags, seed=num_tags)
    width = max(lengths)
    emissions = torch.randn(len(lengths), width, num_tags) * 2
    tags = torch.randint(0, num_tags, (len(lengths), width))
    mask = prefix_mask(lengths, width)
    got = crf.log_likelihood(emissions, tags, mask)
    log_z = crf.log_partition(emissions, mask)
    for b, n in enumerate(lengths):
        paths, score = all_paths(crf, emissions, b, n)
        expect_z = torch.logsumexp(score, 0).item()
        gold = (paths == tags[b, :n]).all(1)
        assert log_z[b].item() == pytest.approx(expect_z, abs=1e-4)
        assert got[b].item() == pytest.approx(score[gold].item() - expect_z, abs=1e-4)
    # padding content is irrelevant
    noisy = emissions.masked_fill(~mask.unsqueeze(2), 1e3)
    other_tags = tags.masked_fill(~mask, num_tags - 1)
    assert torch.allclose(crf.log_likelihood(noisy, other_tags, mask), got)


@pytest.mark.parametrize("num_tags,lengths", CASES)
def test_viterbi_equals_brute_force(num_tags, lengths):
    crf = random_crf(num_tags, seed=10 + num_tags)
    width = max(lengths)
    emissions = torch.randn(len(lengths), width, num_tags) * 2
    mask = prefix_mask(lengths, width)
    tags, best = crf.viterbi(emissions, mask)
    assert tags.shape == (len(lengths), width) and tags.dtype == torch.long
    for b, n in enumerate(lengths):
        paths, score = all_paths(crf, emissions, b, n)
        top = score.argmax()
        assert tags[b, :n].tolist() == paths[top].tolist()
        assert tags[b, n:].eq(0).all()
        assert best[b].item() == pytest.approx(score[top].item(), abs=1e-4)


@pytest.mark.parametrize("num_tags,lengths", CASES)
def test_marginals_and_gradients_equal_brute_force(num_tags, lengths):
    crf = random_crf(num_tags, seed=20 + num_tags)
    width = max(lengths)
    emissions = (torch.randn(len(lengths), width, num_tags) * 2).requires_grad_()
    mask = prefix_mask(lengths, width)
    weights = torch.tensor([0.5, -2.0, 1.5, 3.0][: len(lengths)])

    got = crf.marginals(emissions.detach(), mask)
    (crf.log_partition(emissions, mask) * weights).sum().backward()
    ours = [emissions.grad, crf.start.grad, crf.end.grad, crf.transitions.grad]

    em64 = emissions.detach().double().requires_grad_()
    crf64 = random_crf(num_tags, seed=20 + num_tags).double()
    total = 0.0
    for b, n in enumerate(lengths):
        paths, score = all_paths(crf64, em64, b, n)
        probs = torch.softmax(score, 0).detach()
        for t in range(n):
            for k in range(num_tags):
                expect = probs[paths[:, t] == k].sum().item()
                assert got[b, t, k].item() == pytest.approx(expect, abs=1e-5)
        assert got[b, n:].eq(0).all()
        total = total + weights[b].double() * torch.logsumexp(score, 0)
    total.backward()
    theirs = [em64.grad, crf64.start.grad, crf64.end.grad, crf64.transitions.grad]
    for a, b in zip(ours, theirs, strict=True):
        assert torch.allclose(a.double(), b, atol=1e-5)


def test_custom_gradient_passes_gradcheck():
    torch.manual_seed(3)
    allowed = torch.rand(4, 4) > 0.3
    crf = CRF(4, allowed_transitions=allowed).double()
    mask = prefix_mask([5, 2, 1, 4], 5)
    inputs = (
        torch.randn(4, 5, 4, dtype=torch.double, requires_grad=True),
        torch.randn(4, dtype=torch.double, requires_grad=True),
        torch.randn(4, dtype=torch.double, requires_grad=True),
        torch.randn(4, 4, dtype=torch.double, requires_grad=True),
    )

    def log_z(emissions, start, end, trans):
        return _LogPartition.apply(
            emissions,
            mask,
            start + crf.start_penalty,
            end + crf.end_penalty,
            trans + crf.transition_penalty,
        )

    assert torch.autograd.gradcheck(log_z, inputs)


def test_bio_constraints_matrix():
    tags = ["O", "B-a", "I-a", "B-b", "I-b"]
    start, allowed = bio_constraints(tags)
    assert start.tolist() == [True, True, False, True, False]
    # row: from, column: to; I-x only after B-x or I-x
    assert allowed.int().tolist() == [
        [1, 1, 0, 1, 0],
        [1, 1, 1, 1, 0],
        [1, 1, 1, 1, 0],
        [1, 1, 0, 1, 1],
        [1, 1, 0, 1, 1],
    ]
    with pytest.raises(ConfigError, match="constrain_bio = false"):
        bio_constraints(["O", "S-a"])


def is_valid_bio(path, tags) -> bool:
    prev = "O"
    for tag in (tags[i] for i in path):
        if tag.startswith("I-") and prev[2:] != tag[2:]:
            return False
        prev = tag
    return True


def test_constraints_forbid_invalid_paths():
    names = ["O", "B-a", "I-a", "B-b", "I-b"]
    start, allowed = bio_constraints(names)
    crf = random_crf(5, seed=7, allowed_start=start, allowed_transitions=allowed)
    lengths = [5, 4, 2]
    mask = prefix_mask(lengths, 5)
    # emissions that strongly prefer I- tags everywhere: unconstrained, Viterbi picks them
    emissions = torch.randn(3, 5, 5)
    emissions[:, :, [2, 4]] += 8.0
    free = random_crf(5, seed=7)
    assert not all(
        is_valid_bio(p[:n], names)
        for p, n in zip(free.viterbi(emissions, mask)[0].tolist(), lengths, strict=True)
    )
    tags, best = crf.viterbi(emissions, mask)
    log_z = crf.log_partition(emissions, mask)
    for b, n in enumerate(lengths):
        assert is_valid_bio(tags[b, :n].tolist(), names)
        paths, score = all_paths(crf, emissions, b, n)
        valid = torch.tensor([is_valid_bio(p, names) for p in paths.tolist()])
        # the best valid path, and all the probability mass on valid paths
        assert best[b].item() == pytest.approx(score[valid].max().item(), abs=1e-3)
        assert log_z[b].item() == pytest.approx(torch.logsumexp(score[valid], 0).item(), abs=1e-3)
        assert score[~valid].max().item() < FORBIDDEN / 2
    # an invalid gold path has a likelihood of ~0
    invalid = torch.tensor([[0, 2, 2, 0, 0], [0] * 5, [0] * 5])
    assert crf.log_likelihood(emissions, invalid, mask)[0].item() < FORBIDDEN / 2


def test_extreme_scores_stay_finite_and_exact():
    """Huge emission gaps with constraints: no NaN/inf, still equal to brute force."""
    names = ["O", "B-a", "I-a", "B-b", "I-b"]
    start, allowed = bio_constraints(names)
    crf = random_crf(5, seed=1, allowed_start=start, allowed_transitions=allowed)
    emissions = (torch.randn(2, 5, 5) * 300).requires_grad_()
    mask = prefix_mask([5, 3], 5)
    tags = crf.viterbi(emissions.detach(), mask)[0]
    log_lik = crf.log_likelihood(emissions, tags, mask)
    log_lik.sum().backward()
    assert torch.isfinite(log_lik).all() and torch.isfinite(emissions.grad).all()
    assert torch.isfinite(crf.transitions.grad).all()
    for b, n in enumerate([5, 3]):
        _, score = all_paths(crf, emissions.detach(), b, n)
        expect = torch.logsumexp(score, 0).item()
        assert crf.log_partition(emissions, mask)[b].item() == pytest.approx(expect, rel=1e-5)


def test_same_results_as_pytorch_crf():
    torchcrf = pytest.importorskip("torchcrf")
    torch.manual_seed(0)
    ours = random_crf(7, seed=0)
    theirs = torchcrf.CRF(7, batch_first=True)
    with torch.no_grad():
        theirs.start_transitions.copy_(ours.start)
        theirs.end_transitions.copy_(ours.end)
        theirs.transitions.copy_(ours.transitions)
    lengths = [20, 13, 1, 7, 20, 2]
    mask = prefix_mask(lengths, 20)
    emissions = torch.randn(6, 20, 7) * 3
    tags = torch.randint(0, 7, (6, 20)).masked_fill(~mask, 0)
    expect = theirs(emissions, tags, mask, reduction="none")
    assert torch.allclose(ours.log_likelihood(emissions, tags, mask), expect, atol=1e-3)
    paths = ours.viterbi(emissions, mask)[0]
    got = [paths[b, :n].tolist() for b, n in enumerate(lengths)]
    assert got == theirs.decode(emissions, mask)


def test_half_precision_emissions_are_promoted():
    crf = random_crf(4, seed=5)
    mask = prefix_mask([6, 3], 6)
    emissions = torch.randn(2, 6, 4)
    tags = torch.randint(0, 4, (2, 6))
    half = emissions.bfloat16().requires_grad_()
    got = crf.log_likelihood(half, tags, mask)
    assert got.dtype == torch.float32
    expect = crf.log_likelihood(half.detach().float(), tags, mask)
    assert torch.allclose(got, expect, atol=1e-5)
    got.sum().backward()
    assert half.grad.dtype == torch.bfloat16 and torch.isfinite(half.grad.float()).all()


def test_bad_masks_are_rejected():
    crf = CRF(3)
    emissions = torch.randn(2, 4, 3)
    with pytest.raises(ValueError, match="left-aligned prefix"):
        crf.viterbi(emissions, torch.tensor([[True, False, True, False], [True] * 4]))
    with pytest.raises(ValueError, match="non-empty"):
        crf.log_partition(emissions, torch.tensor([[False] * 4, [True] * 4]))
    with pytest.raises(ValueError, match=r"\[batch, length, 3\]"):
        crf.viterbi(torch.randn(2, 4, 5), torch.ones(2, 4, dtype=torch.bool))


# --------------------------------------------------------------------- decoder


def small_nested() -> NestedBIOScheme:
    # layer 0: O B-sym I-sym; layer 1: O B-bod I-bod B-dis I-dis
    return nested_bio_scheme(labels=["sym", "bod", "dis"], layers=[["sym"], ["bod", "dis"]])


def test_targets_loss_and_reduction():
    torch.manual_seed(0)
    dec = crf_decoder(small_nested(), dropout=0.0)(6)
    assert [crf.num_tags for crf in dec.crfs] == [3, 5]
    ents = [[Entity(0, 2, "sym"), Entity(1, 2, "bod")], [Entity(0, 0, "dis")]]
    tags = dec.make_targets(ents, [4, 2])["tags"]
    assert tags.tolist() == [[[1, 2, 2, 0], [0, 1, 2, 0]], [[0, 0, 0, 0], [3, 0, 0, 0]]]
    hidden = torch.randn(2, 4, 6)
    mask = prefix_mask([4, 2], 4)
    got = dec.loss(hidden, mask, {"tags": tags})
    emissions = dec.emissions(hidden)
    per_layer = [
        -crf.log_likelihood(em, tags[:, k], mask).mean()
        for k, (em, crf) in enumerate(zip(emissions, dec.crfs, strict=True))
    ]
    assert got.item() == pytest.approx(sum(per_layer).item() / 2, rel=1e-6)
    summed = crf_decoder(small_nested(), dropout=0.0, reduction="sum")(6)
    summed.load_state_dict(dec.state_dict())
    assert summed.loss(hidden, mask, {"tags": tags}).item() == pytest.approx(
        2 * got.item(), rel=1e-6
    )
    # -100 padding (as LinearDecoder writes it) is read as "O"
    padded = tags.masked_fill(~mask.unsqueeze(1), -100)
    assert dec.loss(hidden, mask, {"tags": padded}).item() == pytest.approx(got.item(), rel=1e-6)
    # targets shorter than the hidden states are padded
    assert dec.loss(
        torch.cat([hidden, hidden[:, :1]], 1), prefix_mask([4, 2], 5), {"tags": tags}
    ).item() == pytest.approx(got.item(), rel=1e-6)


def test_decode_scores_are_mean_marginals():
    torch.manual_seed(1)
    dec = crf_decoder(bio_scheme(labels=["a", "b"]), dropout=0.0)(4).eval()
    hidden = torch.randn(3, 6, 4) * 3
    mask = prefix_mask([6, 4, 1], 6)
    with torch.no_grad():
        dec.heads[0].bias.copy_(torch.tensor([0.0, 2.0, 2.0, 1.0, 1.0]))
    out = dec.decode(hidden, mask)
    emissions = dec.emissions(hidden)[0]
    tags = dec.crfs[0].viterbi(emissions, mask)[0]
    marg = dec.crfs[0].marginals(emissions, mask)
    assert sum(len(x) for x in out) > 0
    for b, found in enumerate(out):
        n = int(mask[b].sum())
        assert [ent for ent, _ in found] == dec.scheme.decode([tags[b, :n].tolist()], rule="strict")
        for ent, score in found:
            span = range(ent.start, ent.end + 1)
            expect = sum(marg[b, t, tags[b, t]].item() for t in span) / len(span)
            assert score == pytest.approx(expect, rel=1e-5)
            assert 0.0 < score <= 1.0


def test_bad_arguments_name_the_setting():
    with pytest.raises(ConfigError, match="reduction"):
        registry.decoders.get("nerkit.CRFDecoder.v1")(bio_scheme(labels=["a"]), reduction="avg")
    with pytest.raises(ConfigError, match="dropout"):
        crf_decoder(bio_scheme(labels=["a"]), dropout=1.5)(4)
    with pytest.raises(ConfigError, match="not a tag scheme"):
        crf_decoder(span_scheme(labels=["a"]))(4)


def test_built_from_config():
    cfg = Config().from_str(
        """
        [decoder]
        @decoders = "nerkit.CRFDecoder.v1"
        dropout = 0.0
        reduction = "sum"

        [decoder.scheme]
        @label_schemes = "nerkit.NestedBIO.v1"
        labels = ["dis", "sym", "pro", "equ", "dru", "ite", "bod", "dep", "mic"]

        [nested]
        @decoders = "nerkit.CRFNestedDecoder.v1"
        labels = ["sym", "bod", "dis"]
        constrain_bio = false
        """
    )
    resolved = registry.resolve(cfg)
    dec = resolved["decoder"](8)
    assert isinstance(dec, CRFDecoder) and dec.reduction == "sum" and dec.num_layers == 2
    assert dec.crfs[1].transition_penalty.min().item() == FORBIDDEN
    nested = resolved["nested"](8)
    assert nested.scheme.layers == (("sym",), ("bod", "dis"))
    assert nested.crfs[0].transition_penalty.abs().sum().item() == 0


# ------------------------------------------------------------------- overfitting

TEXTS = ["头痛伴左膝关节疼痛", "患者咳嗽三天", "右肺感染与发热", "无明显腹痛"]
GOLD = [
    [Entity(0, 1, "sym"), Entity(3, 8, "sym"), Entity(3, 6, "bod")],
    [Entity(2, 3, "sym")],
    [Entity(2, 3, "dis"), Entity(0, 1, "bod"), Entity(5, 6, "sym")],
    [Entity(1, 4, "sym"), Entity(3, 3, "bod")],
]


@pytest.fixture
def one_thread():
    """Tiny models gain nothing from threads, and lose a lot on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Tagger(nn.Module):
    """Character embeddings + a BiGRU: a tiny encoder for overfitting tests."""

    def __init__(self, texts, width: int = 32) -> None:
        super().__init__()
        self.vocab = {ch: i + 1 for i, ch in enumerate(sorted(set("".join(texts))))}
        self.embed = nn.Embedding(len(self.vocab) + 1, width, padding_idx=0)
        self.rnn = nn.GRU(width, width // 2, batch_first=True, bidirectional=True)

    def forward(self, texts):
        width = max(len(t) for t in texts)
        ids = torch.tensor([[self.vocab[c] for c in t] + [0] * (width - len(t)) for t in texts])
        return self.rnn(self.embed(ids))[0], ids > 0


def overfit(decoder_factory, steps: int, lr: float = 0.03):
    torch.manual_seed(0)
    encoder = Tagger(TEXTS)
    decoder = decoder_factory(32)
    params = list(encoder.parameters()) + list(decoder.parameters())
    optimizer = torch.optim.Adam(params, lr=lr)
    targets = decoder.make_targets(GOLD, [len(t) for t in TEXTS])
    for _ in range(steps):
        hidden, mask = encoder(TEXTS)
        loss = decoder.loss(hidden, mask, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    decoder.eval()
    with torch.no_grad():
        hidden, mask = encoder(TEXTS)
        return loss.item(), decoder.decode(hidden, mask)


def test_tiny_model_overfits_nested_entities(one_thread):
    factory = registry.decoders.get("nerkit.CRFNestedDecoder.v1")(
        dropout=0.0, labels=["sym", "bod", "dis"]
    )
    loss, found = overfit(factory, steps=40, lr=0.05)
    assert loss < 0.1
    for gold, pred in zip(GOLD, found, strict=True):
        assert [ent for ent, _ in pred] == sorted(gold)
        assert all(score > 0.9 for _, score in pred)
    assert math.isfinite(loss)
