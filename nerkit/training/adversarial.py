"""Adversarial training on the encoder's word-embedding matrix.

Every strategy is an object with ``step(model, forward_loss, backward)`` that
runs one micro-batch: the clean forward/backward plus the adversarial ones, and
returns the detached clean loss. It only ever calls the loop's two callables:

* ``forward_loss()`` runs the model on the current batch and returns the
  (already accumulation-scaled) loss;
* ``backward(loss)`` is ``scaler.scale(loss).backward()`` under AMP, else
  ``loss.backward()``.

So gradient accumulation works (gradients of earlier micro-batches sit in
``.grad``; they are never used for an attack direction and end up summed with
this batch's exactly as plain accumulation would sum them), and so does mixed
precision (gradients may carry the scaler's constant factor: normalised
directions do not change; an attack is skipped when the embedding gradient is 0
or not finite, and the scaler then skips the optimizer step anyway).

The perturbed matrix is ``model.encoder.word_embeddings().weight`` (``.module``
wrappers such as DDP are looked through), never a parameter found by name. It is
restored by copying back a saved clone, so it is bit-for-bit what it was before.
A frozen embedding matrix is made to receive gradients for the attack only and
its gradient is dropped afterwards.

Perturbation norms are L2 norms over the *whole* matrix (the usual FGM/PGD
recipe for NLP): only rows of characters in the batch get a nonzero gradient,
so the budget is spread over those rows.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Tuple

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..models.base import EmbeddingLookup, encoder_of

ForwardLoss = Callable[[], Tensor]
Backward = Callable[[Tensor], None]


class AdversarialStrategy:
    """Runs one micro-batch's clean and adversarial passes."""

    def step(self, model: nn.Module, forward_loss: ForwardLoss, backward: Backward) -> Tensor:
        """Accumulate this micro-batch's gradients into ``.grad``; return the detached clean loss."""
        raise NotImplementedError


def embedding_weight(model: nn.Module) -> nn.Parameter:
    """``model.encoder.word_embeddings().weight``, looking through ``.module`` wrappers."""
    encoder = encoder_of(model)
    if not isinstance(encoder, EmbeddingLookup):
        raise TypeError(
            f"Adversarial training needs a model with an 'encoder' that has word_embeddings() "
            f"(nerkit.models.base.Encoder); got {type(model).__name__}. "
            "Use nerkit.NoAdversarial.v1 in [training.adversarial] for other models."
        )
    return encoder.word_embeddings().weight


@contextlib.contextmanager
def _receives_grad(weight: nn.Parameter) -> Iterator[None]:
    """Let a frozen matrix get gradients during the attack; drop them afterwards."""
    if weight.requires_grad:
        yield
        return
    weight.requires_grad_(True)
    try:
        yield
    finally:
        weight.grad = None
        weight.requires_grad_(False)


def _own_backward(weight: nn.Parameter, loss: Tensor, backward: Backward) -> Optional[Tensor]:
    """``backward(loss)`` and return the gradient it put on ``weight`` alone.

    Earlier micro-batches' gradient is set aside during the backward and added
    back afterwards, which gives the same sum as autograd's own accumulation.
    """
    earlier = weight.grad
    weight.grad = None
    backward(loss)
    own = weight.grad
    if earlier is not None:
        weight.grad = earlier.add_(own) if own is not None else earlier
    return own


def _unit(grad: Optional[Tensor]) -> Optional[Tensor]:
    """``grad / ||grad||`` (whole-matrix L2, float32), or None if it is 0 or not finite."""
    if grad is None:
        return None
    g = grad.detach().float()
    peak = g.abs().amax()
    if not bool(torch.isfinite(peak) & (peak > 0)):
        return None
    g = g / peak  # keeps the sum of squares of AMP-scaled gradients far from overflow
    return g.div_(torch.linalg.vector_norm(g))


def _project_(delta: Tensor, epsilon: float) -> Tensor:
    """Scale ``delta`` in place onto the L2 ball of radius ``epsilon`` when outside it."""
    norm = torch.linalg.vector_norm(delta)
    return delta.mul_(torch.clamp(epsilon / norm.clamp_min(1e-30), max=1.0))


def _set(weight: nn.Parameter, value: Tensor) -> None:
    with torch.no_grad():
        weight.copy_(value)


class NoAdversarial(AdversarialStrategy):
    """Plain training: one forward, one backward."""

    def step(self, model: nn.Module, forward_loss: ForwardLoss, backward: Backward) -> Tensor:
        loss = forward_loss()
        backward(loss)
        return loss.detach()


@dataclass
class _Attack:
    """What an attack works on: the model, its embedding matrix and the matrix's clean
    values (``backup``), and the training step's forward and backward."""

    model: nn.Module
    weight: nn.Parameter
    backup: Tensor
    forward_loss: ForwardLoss
    backward: Backward


class _CleanThenAttack(AdversarialStrategy):
    """Clean forward/backward, then one backward at a perturbed embedding matrix.

    The clean pass's own embedding gradient gives the first direction; ``_perturb``
    moves the matrix away from ``backup`` (leaving every ``.grad`` as it found
    it), the adversarial loss is backpropagated on top of the clean gradients,
    and the matrix is restored. Without a usable direction only the clean pass runs.
    """

    def step(self, model: nn.Module, forward_loss: ForwardLoss, backward: Backward) -> Tensor:
        weight = embedding_weight(model)
        with _receives_grad(weight):
            loss = forward_loss()
            direction = _unit(_own_backward(weight, loss, backward))
            if direction is None:
                return loss.detach()
            attack = _Attack(model, weight, weight.detach().clone(), forward_loss, backward)
            try:
                self._perturb(attack, direction)
                backward(forward_loss())
            finally:
                _set(weight, attack.backup)
        return loss.detach()

    def _perturb(self, attack: _Attack, direction: Tensor) -> None:
        """Set ``weight`` to ``backup`` + the attack, starting from unit ``direction``."""
        raise NotImplementedError


class FGM(_CleanThenAttack):
    """Fast Gradient Method (Miyato et al. 2017, "Adversarial Training Methods for
    Semi-Supervised Text Classification"): one extra pass at ``E + eps * g / ||g||``.

    The resulting gradient is ``grad(L, E) + grad(L, E + r)`` (plus earlier
    micro-batches'), with ``g`` this micro-batch's clean embedding gradient.
    """

    def __init__(self, epsilon: float) -> None:
        self.epsilon = epsilon

    def _perturb(self, attack: _Attack, direction: Tensor) -> None:
        weight = attack.weight
        _set(weight, attack.backup + direction.mul_(self.epsilon).to(weight.dtype))


class PGD(_CleanThenAttack):
    """Projected Gradient Descent (Madry et al. 2018, "Towards Deep Learning Models
    Resistant to Adversarial Attacks") in the usual NLP recipe.

    After the clean backward, ``steps`` ascent steps ``delta += alpha * g / ||g||``,
    each followed by projection onto ``||delta|| <= epsilon`` (whole-matrix L2).
    Steps 1..K-1 run a forward/backward at ``E + delta`` only to get the next
    direction: all gradients are set aside before them and their own gradients
    discarded. The set-aside gradients (earlier micro-batches + clean) are put
    back before the last adversarial backward, which adds to them. Net gradient:
    ``grad(L, E) + grad(L, E + delta_K)``.
    """

    def __init__(self, epsilon: float, alpha: float, steps: int) -> None:
        self.epsilon = epsilon
        self.alpha = alpha
        self.steps = steps

    def _perturb(self, attack: _Attack, direction: Tensor) -> None:
        """Leave ``weight`` at ``backup + delta_K`` with every ``.grad`` as it was on entry."""
        weight, backup = attack.weight, attack.backup
        params: List[nn.Parameter] = [p for p in attack.model.parameters() if p.requires_grad]
        saved: Optional[List[Optional[Tensor]]] = None
        delta = torch.zeros_like(direction)  # float32, shape of the embedding matrix
        try:
            for t in range(self.steps):
                _project_(delta.add_(direction, alpha=self.alpha), self.epsilon)
                _set(weight, backup + delta.to(weight.dtype))
                if t == self.steps - 1:
                    break
                if saved is None:
                    saved = [p.grad for p in params]
                for p in params:
                    p.grad = None
                attack.backward(attack.forward_loss())
                next_direction = _unit(weight.grad)
                if next_direction is None:
                    break  # attack from where delta is now
                direction = next_direction
        finally:
            if saved is not None:
                for p, g in zip(params, saved, strict=True):
                    p.grad = g


class FreeLB(AdversarialStrategy):
    """FreeLB (Zhu et al. 2020, "FreeLB: Enhanced Adversarial Training for Natural
    Language Understanding") on the embedding-matrix perturbation.

    ``steps`` = K forward/backward passes at ``E + delta_t`` for t = 0..K-1, each
    loss scaled by 1/K, so the parameter gradient is the average over the
    ascent trajectory ("free" accumulation, no gradient is discarded). Between
    passes ``delta += alpha * g_t / ||g_t||`` projected onto ``||delta|| <= epsilon``
    (whole-matrix L2; the paper projects per example). ``delta_0 = 0``, i.e. the
    paper's ``adv_init_mag = 0``: a random start is spread over the whole
    vocabulary and would mostly land on rows the batch never reads. The first
    pass is therefore the clean one, whose loss is returned. If a direction is
    unusable (0 or not finite) delta stays put for the next pass.
    """

    def __init__(self, epsilon: float, alpha: float, steps: int) -> None:
        self.epsilon = epsilon
        self.alpha = alpha
        self.steps = steps

    def step(self, model: nn.Module, forward_loss: ForwardLoss, backward: Backward) -> Tensor:
        weight = embedding_weight(model)
        clean: Optional[Tensor] = None
        with _receives_grad(weight):
            backup = weight.detach().clone()
            delta: Optional[Tensor] = None
            try:
                for t in range(self.steps):
                    loss = forward_loss()
                    if t == 0:
                        clean = loss.detach()
                    own = _own_backward(weight, loss / self.steps, backward)
                    if t == self.steps - 1:
                        break
                    direction = _unit(own)
                    del own
                    if direction is None:
                        continue
                    delta = (
                        direction.mul_(self.alpha)
                        if delta is None
                        else delta.add_(direction, alpha=self.alpha)
                    )
                    _project_(delta, self.epsilon)
                    _set(weight, backup + delta.to(weight.dtype))
            finally:
                _set(weight, backup)
        assert clean is not None
        return clean


def _check(name: str, strategy: str, value: float, low: float, what: str) -> None:
    if not value > low:
        raise ConfigError(
            f"[training.adversarial] {name} = {value!r} for {strategy}: must be {what}. "
            f"Set a valid {name} in the config (or --training.adversarial.{name})."
        )


def _check_pgd_like(
    strategy: str, epsilon: float, alpha: float, steps: int
) -> Tuple[float, float, int]:
    _check("epsilon", strategy, epsilon, 0.0, "> 0")
    _check("alpha", strategy, alpha, 0.0, "> 0")
    _check("steps", strategy, steps, 0, ">= 1")
    return float(epsilon), float(alpha), int(steps)


def no_adversarial() -> AdversarialStrategy:
    """No adversarial training."""
    return NoAdversarial()


def fgm(epsilon: float = 1.0) -> AdversarialStrategy:
    """FGM on the word embeddings with perturbation norm ``epsilon``."""
    _check("epsilon", "nerkit.FGM.v1", epsilon, 0.0, "> 0")
    return FGM(float(epsilon))


def pgd(epsilon: float = 1.0, alpha: float = 0.3, steps: int = 3) -> AdversarialStrategy:
    """PGD: ``steps`` ascent steps of size ``alpha`` inside the ``epsilon`` L2 ball."""
    return PGD(*_check_pgd_like("nerkit.PGD.v1", epsilon, alpha, steps))


def freelb(epsilon: float = 1.0, alpha: float = 0.3, steps: int = 3) -> AdversarialStrategy:
    """FreeLB: gradients averaged over ``steps`` passes along the ascent trajectory."""
    return FreeLB(*_check_pgd_like("nerkit.FreeLB.v1", epsilon, alpha, steps))
