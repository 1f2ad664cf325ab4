"""Adversarial strategies: exact restoration, projection, and gradients against a
manual computation (single step, AMP-like scaling, gradient accumulation)."""

from __future__ import annotations

import copy
import math
from typing import Callable, Dict, List, Tuple

import pytest
import torch
from confection import Config
from torch import Tensor, nn
from transformers import BertConfig, BertModel

from nerkit.errors import ConfigError
from nerkit.registry import registry
from nerkit.training.adversarial import FGM, PGD, FreeLB, NoAdversarial, embedding_weight


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: intra-op threads only add contention (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class TinyEncoder(nn.Module):
    """A 3-layer BERT with the Encoder methods the training components use."""

    def __init__(self) -> None:
        super().__init__()
        config = BertConfig(
            vocab_size=50,
            hidden_size=16,
            num_hidden_layers=3,
            num_attention_heads=2,
            intermediate_size=32,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
        )
        self.bert = BertModel(config)

    def word_embeddings(self) -> nn.Embedding:
        return self.bert.embeddings.word_embeddings

    def layer_groups(self) -> List[List[Tuple[str, nn.Parameter]]]:
        groups: List[List[Tuple[str, nn.Parameter]]] = [[] for _ in range(4)]
        for name, param in self.named_parameters():
            parts = name.split(".")
            if parts[1] == "embeddings":
                groups[0].append((name, param))
            elif parts[1] == "encoder":
                groups[int(parts[3]) + 1].append((name, param))
            else:  # pooler
                groups[3].append((name, param))
        return groups

    def forward(self, ids: Tensor) -> Tensor:
        return self.bert(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state


class TinyNER(nn.Module):
    """Encoder + a linear head with a LayerNorm (the "head" for optimizers)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.encoder = TinyEncoder()
        self.norm = nn.LayerNorm(16)
        self.head = nn.Linear(16, 5)

    def loss(self, batch: Tuple[Tensor, Tensor]) -> Tensor:
        ids, labels = batch
        logits = self.head(self.norm(self.encoder(ids)))  # [B, L, 5]
        return nn.functional.cross_entropy(logits.reshape(-1, 5), labels.reshape(-1))


def make_batch(seed: int) -> Tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, 50, (2, 7), generator=g), torch.randint(0, 5, (2, 7), generator=g)


# ---------------------------------------------------------------- manual reference


def grads_at(model: TinyNER, batch, delta: Tensor, scale: float) -> List[Tensor]:
    """Gradients of ``scale * loss`` w.r.t. every parameter at word embeddings E0 + delta."""
    weight = model.encoder.word_embeddings().weight
    original = weight.detach().clone()
    with torch.no_grad():
        weight.add_(delta)
    params = list(model.parameters())
    grads = torch.autograd.grad(model.loss(batch) * scale, params, allow_unused=True)
    with torch.no_grad():
        weight.copy_(original)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]


def emb_index(model: TinyNER) -> int:
    weight = model.encoder.word_embeddings().weight
    return next(i for i, p in enumerate(model.parameters()) if p is weight)


def unit(g: Tensor) -> Tensor:
    return g / g.norm()


def project(delta: Tensor, eps: float) -> Tensor:
    norm = delta.norm()
    return delta * (eps / norm) if norm > eps else delta


def add(a: List[Tensor], b: List[Tensor]) -> List[Tensor]:
    return [x + y for x, y in zip(a, b, strict=True)]


def manual_fgm(model, batch, scale, eps):
    e = emb_index(model)
    clean = grads_at(model, batch, torch.zeros(()), scale)
    return add(clean, grads_at(model, batch, eps * unit(clean[e]), scale))


def manual_pgd(model, batch, scale, eps, alpha, steps):
    e = emb_index(model)
    clean = grads_at(model, batch, torch.zeros(()), scale)
    g, delta = clean[e], torch.zeros_like(clean[e])
    for t in range(steps):
        delta = project(delta + alpha * unit(g), eps)
        if t < steps - 1:
            g = grads_at(model, batch, delta, scale)[e]
    return add(clean, grads_at(model, batch, delta, scale))


def manual_freelb(model, batch, scale, eps, alpha, steps):
    e = emb_index(model)
    total = None
    delta = torch.zeros_like(model.encoder.word_embeddings().weight)
    for t in range(steps):
        grads = grads_at(model, batch, delta, scale / steps)
        total = grads if total is None else add(total, grads)
        if t < steps - 1:
            delta = project(delta + alpha * unit(grads[e]), eps)
    return total


def manual_none(model, batch, scale):
    return grads_at(model, batch, torch.zeros(()), scale)


CASES: Dict[str, Tuple[Callable[[], object], Callable]] = {
    "none": (lambda: NoAdversarial(), manual_none),
    "fgm": (lambda: FGM(0.7), lambda m, b, s: manual_fgm(m, b, s, 0.7)),
    "pgd": (lambda: PGD(0.5, 0.3, 3), lambda m, b, s: manual_pgd(m, b, s, 0.5, 0.3, 3)),
    "freelb": (lambda: FreeLB(0.5, 0.3, 3), lambda m, b, s: manual_freelb(m, b, s, 0.5, 0.3, 3)),
}


def run_steps(strategy, model: TinyNER, batches, scale: float, grad_scale: float = 1.0):
    """Run ``strategy.step`` over micro-batches like the loop does; returns clean losses."""
    losses = []
    for batch in batches:
        losses.append(
            strategy.step(
                model,
                lambda b=batch: model.loss(b) * scale,
                lambda loss: (loss * grad_scale).backward(),
            )
        )
    return losses


def assert_grads(model: TinyNER, expected: List[Tensor], factor: float = 1.0) -> None:
    for (name, p), want in zip(model.named_parameters(), expected, strict=True):
        got = torch.zeros_like(p) if p.grad is None else p.grad / factor
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-6), name


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("kind", list(CASES))
def test_embeddings_restored_exactly_and_clean_loss_returned(kind):
    model = TinyNER()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    batch = make_batch(1)
    loss = run_steps(CASES[kind][0](), model, [batch], 1.0)[0]
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]), name
    assert not loss.requires_grad
    assert torch.allclose(loss, model.loss(batch).detach())


@pytest.mark.parametrize("kind", list(CASES))
def test_single_step_gradient_matches_manual(kind):
    model = TinyNER()
    reference = copy.deepcopy(model)
    batch = make_batch(2)
    run_steps(CASES[kind][0](), model, [batch], 1.0)
    assert_grads(model, CASES[kind][1](reference, batch, 1.0))


@pytest.mark.parametrize("kind", list(CASES))
def test_two_step_accumulation_matches_manual(kind):
    """Directions come from each micro-batch alone; grads sum over micro-batches."""
    model = TinyNER()
    reference = copy.deepcopy(model)
    batches = [make_batch(3), make_batch(4)]
    run_steps(CASES[kind][0](), model, batches, 0.5)
    manual = CASES[kind][1]
    assert_grads(model, add(manual(reference, batches[0], 0.5), manual(reference, batches[1], 0.5)))


@pytest.mark.parametrize("kind", ["fgm", "pgd", "freelb"])
def test_scaled_backward_like_amp_gives_scaled_gradients(kind):
    model = TinyNER()
    reference = copy.deepcopy(model)
    batch = make_batch(5)
    run_steps(CASES[kind][0](), model, [batch], 1.0, grad_scale=1024.0)
    assert_grads(model, CASES[kind][1](reference, batch, 1.0), factor=1024.0)


@pytest.mark.parametrize("kind", ["fgm", "pgd", "freelb"])
def test_grad_scaler_with_accumulation_matches_manual_after_unscale(kind):
    """The loop's AMP path: backward = scaler.scale(loss).backward(), then unscale_."""
    model = TinyNER()
    reference = copy.deepcopy(model)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    strategy = CASES[kind][0]()
    batches = [make_batch(11), make_batch(12)]
    for batch in batches:
        strategy.step(
            model, lambda b=batch: model.loss(b) * 0.5, lambda loss: scaler.scale(loss).backward()
        )
    scaler.unscale_(optimizer)
    manual = CASES[kind][1]
    assert_grads(model, add(manual(reference, batches[0], 0.5), manual(reference, batches[1], 0.5)))


def test_fgm_perturbs_along_normalised_clean_gradient():
    model = TinyNER()
    reference = copy.deepcopy(model)
    weight = model.encoder.word_embeddings().weight
    start = weight.detach().clone()
    seen: List[Tensor] = []
    batch = make_batch(6)

    def forward_loss():
        seen.append(weight.detach() - start)
        return model.loss(batch)

    FGM(0.7).step(model, forward_loss, lambda loss: loss.backward())
    assert len(seen) == 2 and torch.count_nonzero(seen[0]) == 0
    g = grads_at(reference, batch, torch.zeros(()), 1.0)[emb_index(reference)]
    assert math.isclose(seen[1].norm().item(), 0.7, rel_tol=1e-5)
    assert torch.allclose(seen[1], 0.7 * unit(g), atol=1e-6)
    # only rows of characters in the batch move
    untouched = torch.ones(50, dtype=torch.bool)
    untouched[batch[0].unique()] = False
    assert torch.count_nonzero(seen[1][untouched]) == 0


@pytest.mark.parametrize("eps,alpha,steps", [(0.5, 0.3, 5), (0.2, 1.0, 3), (2.0, 0.3, 3)])
def test_pgd_perturbation_stays_in_epsilon_ball(eps, alpha, steps):
    model = TinyNER()
    weight = model.encoder.word_embeddings().weight
    start = weight.detach().clone()
    norms: List[float] = []
    batch = make_batch(7)

    def forward_loss():
        norms.append((weight.detach() - start).norm().item())
        return model.loss(batch)

    PGD(eps, alpha, steps).step(model, forward_loss, lambda loss: loss.backward())
    assert len(norms) == 1 + steps and norms[0] == 0.0
    assert max(norms) <= eps * (1 + 1e-5)
    assert math.isclose(norms[1], min(alpha, eps), rel_tol=1e-5)
    if alpha * steps > 2 * eps:  # the ball is reached and the projection is binding
        assert math.isclose(norms[-1], eps, rel_tol=1e-5)
    else:
        assert norms[-1] < eps
    assert torch.equal(weight, start)


def test_freelb_stays_in_ball_and_first_pass_is_clean():
    model = TinyNER()
    weight = model.encoder.word_embeddings().weight
    start = weight.detach().clone()
    norms: List[float] = []
    batch = make_batch(8)

    def forward_loss():
        norms.append((weight.detach() - start).norm().item())
        return model.loss(batch)

    FreeLB(0.25, 0.2, 4).step(model, forward_loss, lambda loss: loss.backward())
    assert len(norms) == 4 and norms[0] == 0.0
    assert math.isclose(norms[1], 0.2, rel_tol=1e-5)
    assert max(norms) <= 0.25 * (1 + 1e-5) and math.isclose(norms[-1], 0.25, rel_tol=1e-5)
    assert torch.equal(weight, start)


@pytest.mark.parametrize("kind", ["fgm", "pgd", "freelb"])
def test_attack_skipped_when_gradient_not_finite(kind):
    model = TinyNER()
    weight = model.encoder.word_embeddings().weight
    start = weight.detach().clone()
    calls: List[int] = []
    batch = make_batch(9)

    def forward_loss():
        calls.append(1)
        return model.loss(batch)

    CASES[kind][0]().step(model, forward_loss, lambda loss: (loss * float("inf")).backward())
    assert torch.equal(weight, start)
    # FreeLB keeps delta at 0 and still runs its K averaged passes; the others stop
    assert len(calls) == (3 if kind == "freelb" else 1)


def test_attack_skipped_when_embeddings_get_no_gradient():
    model = TinyNER()
    x = torch.randn(3, 16)
    calls: List[int] = []

    def forward_loss():
        calls.append(1)
        return model.head(x).sum()

    loss = PGD(1.0, 0.3, 3).step(model, forward_loss, lambda loss: loss.backward())
    assert len(calls) == 1 and torch.allclose(loss, model.head(x).sum())
    assert model.encoder.word_embeddings().weight.grad is None


def test_frozen_embeddings_are_attacked_but_keep_no_gradient():
    model = TinyNER()
    reference = copy.deepcopy(model)
    weight = model.encoder.word_embeddings().weight
    weight.requires_grad_(False)
    batch = make_batch(10)
    FGM(0.7).step(model, lambda: model.loss(batch), lambda loss: loss.backward())
    assert weight.grad is None and not weight.requires_grad
    expected = manual_fgm(reference, batch, 1.0, 0.7)
    expected[emb_index(reference)] = torch.zeros_like(weight)
    assert_grads(model, expected)


def test_wrapped_model_is_looked_through():
    model = TinyNER()

    class Wrapper(nn.Module):
        def __init__(self, module: nn.Module) -> None:
            super().__init__()
            self.module = module

    assert embedding_weight(Wrapper(model)) is model.encoder.word_embeddings().weight
    with pytest.raises(TypeError, match="NoAdversarial"):
        embedding_weight(nn.Linear(2, 2))


def test_registered_builders_and_config_errors():
    cfg = Config().from_str(
        """
        [a]
        @adversarial = "nerkit.PGD.v1"
        epsilon = 0.5
        steps = 2
        [b]
        @adversarial = "nerkit.FreeLB.v1"
        [c]
        @adversarial = "nerkit.FGM.v1"
        [d]
        @adversarial = "nerkit.NoAdversarial.v1"
        """
    )
    out = registry.resolve(cfg)
    assert isinstance(out["a"], PGD) and (out["a"].epsilon, out["a"].alpha, out["a"].steps) == (
        0.5,
        0.3,
        2,
    )
    assert isinstance(out["b"], FreeLB) and out["b"].steps == 3
    assert isinstance(out["c"], FGM) and out["c"].epsilon == 1.0
    assert isinstance(out["d"], NoAdversarial)
    with pytest.raises(ConfigError, match=r"epsilon = 0.*nerkit.FGM.v1"):
        registry.get("adversarial", "nerkit.FGM.v1")(epsilon=0.0)
    with pytest.raises(ConfigError, match=r"steps = 0"):
        registry.get("adversarial", "nerkit.PGD.v1")(steps=0)
