"""The registered pieces of a ``[sweep]`` section: search spaces, samplers and pruners.

A space names one config setting (``key``, e.g. ``"training.optimizer.layerwise_decay"``)
and draws its value for an Optuna trial; a finite one also lists its values (``grid``),
which the grid sampler crosses. A sampler builder returns a :class:`Sampler`: the grid
(every combination, each run once) or an Optuna sampler (random, TPE). A pruner builder
returns an Optuna pruner, asked after each evaluation of a trial. Optuna is imported only
when a sweep runs, so nerkit works without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence

from ..errors import ConfigError


def require_optuna():
    """The optuna module, or a ConfigError saying how to install it."""
    try:
        import optuna
    except ImportError as err:
        raise ConfigError(
            f"nerkit sweep runs on Optuna, which is not installed ({err}). Install it with "
            "`pip install optuna` (or `pip install nerkit[sweep]`)."
        ) from None
    return optuna


# ----------------------------------------------------------------------------- spaces


class Space:
    """One swept setting: ``key`` (a dotted config path) and how its value is drawn."""

    key: str

    def suggest(self, trial: Any) -> Any:
        """The value for an Optuna trial (``trial.suggest_*`` under the name ``key``)."""
        raise NotImplementedError

    def grid(self) -> Optional[List[Any]]:
        """Every value, for the grid sampler; None where the space is continuous."""
        return None

    def bounds(self) -> List[Any]:
        """Values that stand for the whole space when a config is checked before training."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


@dataclass
class ChoiceSpace(Space):
    key: str
    values: List[Any]

    def suggest(self, trial: Any) -> Any:
        return trial.suggest_categorical(self.key, self.values)

    def grid(self) -> Optional[List[Any]]:
        return list(self.values)

    def bounds(self) -> List[Any]:
        return list(self.values)

    def describe(self) -> str:
        return f"{self.key} in {self.values}"


@dataclass
class IntRangeSpace(Space):
    key: str
    low: int
    high: int
    step: int
    log: bool

    def suggest(self, trial: Any) -> Any:
        return trial.suggest_int(self.key, self.low, self.high, step=self.step, log=self.log)

    def grid(self) -> Optional[List[Any]]:
        return None if self.log else list(range(self.low, self.high + 1, self.step))

    def bounds(self) -> List[Any]:
        return [self.low, self.high]

    def describe(self) -> str:
        return f"{self.key} in [{self.low}, {self.high}]" + (" (log)" if self.log else "")


@dataclass
class FloatRangeSpace(Space):
    key: str
    low: float
    high: float
    step: Optional[float]
    log: bool

    def suggest(self, trial: Any) -> Any:
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)

    def grid(self) -> Optional[List[Any]]:
        if self.step is None or self.log:
            return None
        n = int(round((self.high - self.low) / self.step))
        return [round(self.low + i * self.step, 12) for i in range(n + 1)]

    def bounds(self) -> List[Any]:
        return [self.low, self.high]

    def describe(self) -> str:
        return f"{self.key} in [{self.low}, {self.high}]" + (" (log)" if self.log else "")


def _check_key(key: str, where: str) -> None:
    if not isinstance(key, str) or "." not in key:
        raise ConfigError(
            f"{where}.key: expected a dotted config setting such as "
            f'"training.optimizer.learning_rate", got {key!r}.'
        )


def choice(key: str, values: List[Any]) -> Space:
    """Categorical: one of ``values`` (with the grid sampler: each of them)."""
    _check_key(key, "nerkit.Choice.v1")
    if not values:
        raise ConfigError(f"nerkit.Choice.v1 for {key}: values is empty; list at least one value.")
    odd = [v for v in values if v is not None and not isinstance(v, (bool, int, float, str))]
    if odd:
        raise ConfigError(
            f"nerkit.Choice.v1 for {key}: {odd[0]!r} is not a number, string, true/false or null; "
            "sweep a setting with such values (sweep a list's items as settings of their own)."
        )
    return ChoiceSpace(key, list(values))


def int_range(key: str, low: int, high: int, step: int = 1, log: bool = False) -> Space:
    """An integer in [low, high] (every ``step``; ``log``: drawn on a log scale)."""
    _check_key(key, "nerkit.IntRange.v1")
    if high < low or step < 1 or (log and (low < 1 or step != 1)):
        raise ConfigError(
            f"nerkit.IntRange.v1 for {key}: empty or invalid range low={low}, high={high}, "
            f"step={step}, log={log} (needs low <= high, step >= 1; log needs low >= 1 and step 1)."
        )
    return IntRangeSpace(key, low, high, step, log)


def float_range(
    key: str, low: float, high: float, step: Optional[float] = None, log: bool = False
) -> Space:
    """A float in [low, high] (``log``: drawn on a log scale, e.g. learning rates)."""
    _check_key(key, "nerkit.FloatRange.v1")
    if high < low or (log and (low <= 0 or step is not None)) or (step is not None and step <= 0):
        raise ConfigError(
            f"nerkit.FloatRange.v1 for {key}: empty or invalid range low={low}, high={high}, "
            f"step={step}, log={log} (needs low <= high; log needs low > 0 and no step)."
        )
    return FloatRangeSpace(key, float(low), float(high), step, log)


# ----------------------------------------------------------------------------- samplers


@dataclass
class Sampler:
    """``grid``: run every combination of the spaces' values once (no Optuna sampling);
    else ``build(seed)`` makes the Optuna sampler that draws each trial's values."""

    name: str
    grid: bool
    build: Callable[[], Any]


def grid_sampler() -> Sampler:
    """Every combination of the spaces' values, each run exactly once (across workers)."""
    return Sampler("grid", True, lambda: require_optuna().samplers.RandomSampler(seed=0))


def random_sampler(seed: int = 0) -> Sampler:
    """Values drawn independently and uniformly (log-uniformly for log ranges)."""
    return Sampler("random", False, lambda: require_optuna().samplers.RandomSampler(seed=seed))


def tpe_sampler(seed: int = 0, n_startup_trials: int = 10, multivariate: bool = False) -> Sampler:
    """Optuna's tree-structured Parzen estimator: random for ``n_startup_trials``, then guided."""
    return Sampler(
        "tpe",
        False,
        lambda: require_optuna().samplers.TPESampler(
            seed=seed, n_startup_trials=n_startup_trials, multivariate=multivariate
        ),
    )


# ----------------------------------------------------------------------------- pruners


def no_pruner() -> Callable[[], Any]:
    """Every trial runs to its end."""
    return lambda: require_optuna().pruners.NopPruner()


def median_pruner(
    n_startup_trials: int = 5, n_warmup_steps: int = 0, interval_steps: int = 1
) -> Callable[[], Any]:
    """Stop a trial whose dev score at an evaluation is below the median of earlier trials'
    at the same step (Optuna's median pruner); pruned trials are marked as such."""
    return lambda: require_optuna().pruners.MedianPruner(
        n_startup_trials=n_startup_trials,
        n_warmup_steps=n_warmup_steps,
        interval_steps=interval_steps,
    )


def grid_points(spaces: Sequence[Space]) -> List[dict]:
    """Every combination of the spaces' values, the first space varying slowest."""
    import itertools

    values = [space.grid() for space in spaces]
    return [
        {space.key: value for space, value in zip(spaces, combo, strict=True)}
        for combo in itertools.product(*values)
    ]
