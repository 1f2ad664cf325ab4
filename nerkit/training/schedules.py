"""Learning-rate schedules.

Registered builders return ``build(optimizer, num_training_steps) -> LambdaLR``.
The multiplier of step ``s`` (the value of ``scheduler.last_epoch``: 0 before
the first ``scheduler.step()``) follows the Hugging Face conventions: linear
warmup ``s / warmup`` for ``s < warmup`` (so the first update uses 0 when there
is warmup), then the schedule's shape over the remaining steps. Each param
group's own initial lr is scaled, so per-group rates (layer-wise decay, head
rate) keep their ratios. The multipliers are plain closures, so
``state_dict()``/``load_state_dict()`` save and restore the step and base rates
while the shape always comes from the config.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch.optim.lr_scheduler import LambdaLR

from ..errors import ConfigError

ScheduleFactory = Callable[[torch.optim.Optimizer, int], LambdaLR]


def _fail(schedule: str, arg: str, value: object, why: str) -> ConfigError:
    return ConfigError(
        f"[training.schedule] {arg} = {value!r} for {schedule}: {why}. "
        f"Fix it in the config (or --training.schedule.{arg})."
    )


def _check_warmup(schedule: str, warmup_steps: int, warmup_ratio: float) -> None:
    if warmup_steps < 0:
        raise _fail(schedule, "warmup_steps", warmup_steps, "must be >= 0")
    if not 0.0 <= warmup_ratio < 1.0:
        raise _fail(schedule, "warmup_ratio", warmup_ratio, "must be in [0, 1)")
    if warmup_steps > 0 and warmup_ratio > 0:
        raise _fail(
            schedule,
            "warmup_ratio",
            warmup_ratio,
            f"set either warmup_steps ({warmup_steps}) or warmup_ratio, not both",
        )


def warmup_length(warmup_steps: int, warmup_ratio: float, num_training_steps: int) -> int:
    """``warmup_steps``, or ``ceil(warmup_ratio * num_training_steps)`` when a ratio is given."""
    if warmup_ratio > 0:
        return math.ceil(warmup_ratio * num_training_steps)
    return warmup_steps


def _check_total(num_training_steps: int) -> None:
    if num_training_steps < 1:
        raise ValueError(
            f"A schedule needs num_training_steps >= 1, got {num_training_steps}: "
            "check that the training corpus is not empty and max_steps/max_epochs are > 0."
        )


def _with_warmup(
    warmup_steps: int, warmup_ratio: float, after: Callable[[int, int, int], float]
) -> ScheduleFactory:
    """Linear warmup, then ``after(step, warmup, num_training_steps)``."""

    def build(optimizer: torch.optim.Optimizer, num_training_steps: int) -> LambdaLR:
        _check_total(num_training_steps)
        warmup = warmup_length(warmup_steps, warmup_ratio, num_training_steps)

        def multiplier(step: int) -> float:
            if step < warmup:
                return step / warmup
            return after(step, warmup, num_training_steps)

        return LambdaLR(optimizer, multiplier)

    return build


def constant_schedule(warmup_steps: int = 0) -> ScheduleFactory:
    """Linear warmup over ``warmup_steps``, then the constant base rate."""
    _check_warmup("nerkit.ConstantSchedule.v1", warmup_steps, 0.0)
    return _with_warmup(warmup_steps, 0.0, lambda step, warmup, total: 1.0)


def linear_warmup_decay(warmup_steps: int = 0, warmup_ratio: float = 0.0) -> ScheduleFactory:
    """Linear warmup, then linear decay to 0 at ``num_training_steps``."""
    _check_warmup("nerkit.LinearWarmupDecay.v1", warmup_steps, warmup_ratio)

    def after(step: int, warmup: int, total: int) -> float:
        return max(0.0, (total - step) / max(1, total - warmup))

    return _with_warmup(warmup_steps, warmup_ratio, after)


def cosine_schedule(
    warmup_steps: int = 0,
    warmup_ratio: float = 0.0,
    num_cycles: float = 0.5,
    min_ratio: float = 0.0,
) -> ScheduleFactory:
    """Linear warmup, then ``min_ratio + (1 - min_ratio) * (1 + cos(2 pi num_cycles p)) / 2``.

    ``p`` goes from 0 after warmup to 1 at ``num_training_steps`` (held at 1
    after it); ``num_cycles = 0.5`` is one half-wave from the base rate down to
    ``min_ratio`` times it.
    """
    name = "nerkit.CosineSchedule.v1"
    _check_warmup(name, warmup_steps, warmup_ratio)
    if not num_cycles > 0:
        raise _fail(name, "num_cycles", num_cycles, "must be > 0 (0.5 = one decay from max to min)")
    if not 0.0 <= min_ratio <= 1.0:
        raise _fail(name, "min_ratio", min_ratio, "must be in [0, 1]")

    def after(step: int, warmup: int, total: int) -> float:
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        wave = 0.5 * (1.0 + math.cos(2.0 * math.pi * num_cycles * progress))
        return min_ratio + (1.0 - min_ratio) * wave

    return _with_warmup(warmup_steps, warmup_ratio, after)
