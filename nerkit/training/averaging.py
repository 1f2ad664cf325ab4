"""Weight averaging for evaluation and saving (``[training.averaging]``).

A strategy keeps its own copy of the model's weights next to the training weights.
The loop calls it at three points:

* ``start(model)`` once, before the first step of a fresh run;
* ``update(model)`` after every optimizer step;
* ``with strategy.applied(model) as raw:`` around every evaluation and every save: the
  averaged weights are in the model inside the block (so the dev score, ``model-best``
  and ``model-last`` are those of the averaged model) and the training weights are
  copied back, bit for bit, on exit. ``raw`` is a copy of the training weights taken
  on entry (None when the strategy does not swap anything); the loop saves it in
  ``model-last/training_state/`` so that ``--resume`` continues from the training
  weights, not from the average.

``state_dict()`` / ``load_state_dict()`` carry the average through ``--resume``
(tensors and ints only: the training state is loaded with ``weights_only=True``).

``nerkit.EMA.v1``: an exponential moving average of every parameter,

    shadow <- d_n * shadow + (1 - d_n) * param        after the n-th update (n = 1, 2, ...)

with ``d_n = decay``, or with ``warmup`` ``d_n = min(decay, (1 + n) / (10 + n))`` so the
first averages are not dominated by the random initial weights (0.18 after one step,
0.5 after 8, 0.9 after 80). The shadow starts as the weights before the first step.
Plugins register other strategies (SWA, ...) under the entry-point group
``nerkit_averaging``.
"""

from __future__ import annotations

import contextlib
from typing import Any, Dict, Iterator, Optional

import torch
from torch import Tensor, nn

from ..errors import ConfigError

Weights = Dict[str, Tensor]


class WeightAveraging:
    """The interface of ``@averaging`` strategies (see the module docstring)."""

    def start(self, model: nn.Module) -> None:
        raise NotImplementedError

    def update(self, model: nn.Module) -> None:
        raise NotImplementedError

    def applied(self, model: nn.Module) -> contextlib.AbstractContextManager[Optional[Weights]]:
        raise NotImplementedError

    def state_dict(self) -> Dict[str, Any]:
        raise NotImplementedError

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        raise NotImplementedError


class NoAveraging(WeightAveraging):
    """Evaluate and save the training weights themselves."""

    def start(self, model: nn.Module) -> None:
        pass

    def update(self, model: nn.Module) -> None:
        pass

    @contextlib.contextmanager
    def applied(self, model: nn.Module) -> Iterator[Optional[Weights]]:
        yield None

    def state_dict(self) -> Dict[str, Any]:
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        pass


def _params(model: nn.Module) -> Dict[str, nn.Parameter]:
    return dict(model.named_parameters())


class EMA(WeightAveraging):
    """Exponential moving average of the parameters (module docstring)."""

    def __init__(self, decay: float, warmup: bool) -> None:
        if not 0.0 <= decay < 1.0:
            raise ConfigError(
                f"nerkit.EMA.v1: `decay` = {decay} must be in [0, 1) (typical: 0.99 to 0.9999); "
                "fix it in the [training.averaging] block."
            )
        self.decay = decay
        self.warmup = warmup
        self.num_updates = 0
        self.shadow: Weights = {}

    def current_decay(self) -> float:
        """d_n of the next update (n = num_updates + 1)."""
        n = self.num_updates + 1
        return min(self.decay, (1 + n) / (10 + n)) if self.warmup else self.decay

    def start(self, model: nn.Module) -> None:
        self.shadow = {k: p.detach().clone() for k, p in _params(model).items()}
        self.num_updates = 0

    def _check(self, params: Dict[str, nn.Parameter]) -> None:
        if params.keys() != self.shadow.keys():
            raise ValueError(
                "nerkit.EMA.v1: the model's parameters differ from the averaged ones "
                f"({len(params)} vs {len(self.shadow)}); start() the average on this model."
            )

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        params = _params(model)
        self._check(params)
        decay = self.current_decay()
        keys = list(self.shadow)
        shadow = [self.shadow[k] for k in keys]
        # shadow + (1 - d) * (param - shadow) = d * shadow + (1 - d) * param
        torch._foreach_lerp_(shadow, [params[k].detach() for k in keys], 1.0 - decay)
        self.num_updates += 1

    @contextlib.contextmanager
    def applied(self, model: nn.Module) -> Iterator[Optional[Weights]]:
        params = _params(model)
        self._check(params)
        raw = {k: p.detach().clone() for k, p in params.items()}
        with torch.no_grad():
            for k, p in params.items():
                p.copy_(self.shadow[k])
        try:
            yield raw
        finally:
            with torch.no_grad():
                for k, p in params.items():
                    p.copy_(raw[k])

    def state_dict(self) -> Dict[str, Any]:
        return {
            "num_updates": self.num_updates,
            "shadow": {k: v.cpu() for k, v in self.shadow.items()},
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        if set(state.get("shadow", {})) != set(self.shadow):
            raise ConfigError(
                "--resume: the saved weight average does not match this model's parameters "
                "(was the run started with another [training.averaging] or model?). Resume "
                "with the config the run was started with."
            )
        self.num_updates = int(state["num_updates"])
        for k, v in state["shadow"].items():
            self.shadow[k].copy_(v)


def no_averaging() -> WeightAveraging:
    """Evaluate and save the training weights (the default)."""
    return NoAveraging()


def ema(decay: float = 0.999, warmup: bool = True) -> WeightAveraging:
    """Exponential moving average of the weights, used for evaluation and saving.

    decay: d in shadow <- d * shadow + (1 - d) * param, per optimizer step.
    warmup: use min(decay, (1 + n) / (10 + n)) at the n-th step.
    """
    return EMA(decay, warmup)
