"""Schedules: exact multipliers at chosen steps, per-group scaling, resume via state_dict."""

from __future__ import annotations

import math
from typing import List

import pytest
import torch
from confection import Config

from nerkit.errors import ConfigError
from nerkit.registry import registry
from nerkit.training.schedules import constant_schedule, cosine_schedule, linear_warmup_decay


def make_optimizer() -> torch.optim.Optimizer:
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    return torch.optim.SGD([{"params": [a], "lr": 1.0}, {"params": [b], "lr": 0.5}], lr=1.0)


def trace(build, total: int, steps: int) -> List[float]:
    """Multiplier of group 0 at scheduler steps 0..steps; checks group 1 keeps its ratio."""
    optimizer = make_optimizer()
    scheduler = build(optimizer, total)
    out = []
    for _ in range(steps + 1):
        lrs = scheduler.get_last_lr()
        assert lrs[1] == pytest.approx(0.5 * lrs[0], abs=1e-15)
        assert optimizer.param_groups[0]["lr"] == lrs[0]
        out.append(lrs[0])
        optimizer.step()
        scheduler.step()
    return out


def test_constant_with_warmup():
    assert trace(constant_schedule(warmup_steps=3), 10, 6) == pytest.approx(
        [0, 1 / 3, 2 / 3, 1, 1, 1, 1]
    )
    assert trace(constant_schedule(), 10, 3) == [1.0, 1.0, 1.0, 1.0]


def test_linear_warmup_then_decay_to_zero():
    got = trace(linear_warmup_decay(warmup_steps=4), 10, 12)
    want = [0, 0.25, 0.5, 0.75, 1.0, 5 / 6, 4 / 6, 0.5, 2 / 6, 1 / 6, 0.0, 0.0, 0.0]
    assert got == pytest.approx(want, abs=1e-12)


def test_linear_warmup_ratio_rounds_up():
    # ceil(0.25 * 10) = 3 warmup steps, then 7 decay steps
    got = trace(linear_warmup_decay(warmup_ratio=0.25), 10, 4)
    assert got == pytest.approx([0, 1 / 3, 2 / 3, 1.0, 6 / 7], abs=1e-12)
    assert trace(linear_warmup_decay(), 4, 4) == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])


def test_cosine_values():
    got = trace(cosine_schedule(warmup_steps=2), 10, 12)
    assert got[:3] == pytest.approx([0.0, 0.5, 1.0])
    assert got[4] == pytest.approx(0.5 + math.sqrt(2) / 4, abs=1e-12)  # progress 1/4
    assert got[6] == pytest.approx(0.5, abs=1e-12)
    assert got[10] == pytest.approx(0.0, abs=1e-12) and got[12] == pytest.approx(0.0, abs=1e-12)
    floor = trace(cosine_schedule(warmup_steps=2, min_ratio=0.1), 10, 11)
    assert (
        floor[6] == pytest.approx(0.55)
        and floor[10] == pytest.approx(0.1)
        and floor[11] == pytest.approx(0.1)
    )
    full = trace(cosine_schedule(num_cycles=1.0), 8, 8)
    assert full[0] == pytest.approx(1.0) and full[4] == pytest.approx(0.0, abs=1e-12)
    assert full[2] == pytest.approx(0.5) and full[8] == pytest.approx(1.0)


def test_cosine_warmup_ratio():
    got = trace(cosine_schedule(warmup_ratio=0.1), 20, 11)  # 2 warmup steps, 18 decay steps
    assert got[1] == pytest.approx(0.5)
    assert got[11] == pytest.approx(0.5, abs=1e-12)  # progress 9/18


@pytest.mark.parametrize(
    "build",
    [
        constant_schedule(warmup_steps=2),
        linear_warmup_decay(warmup_steps=3),
        cosine_schedule(warmup_ratio=0.2),
    ],
)
def test_state_dict_round_trip_resumes_schedule(build):
    optimizer = make_optimizer()
    scheduler = build(optimizer, 20)
    for _ in range(7):
        optimizer.step()
        scheduler.step()
    optimizer2 = make_optimizer()
    scheduler2 = build(optimizer2, 20)
    optimizer2.load_state_dict(optimizer.state_dict())
    scheduler2.load_state_dict(scheduler.state_dict())
    assert scheduler2.last_epoch == 7
    for _ in range(5):
        optimizer.step()
        scheduler.step()
        optimizer2.step()
        scheduler2.step()
        assert scheduler2.get_last_lr() == scheduler.get_last_lr()
        assert [g["lr"] for g in optimizer2.param_groups] == [
            g["lr"] for g in optimizer.param_groups
        ]


def test_registered_builders_and_errors():
    cfg = Config().from_str(
        """
        [s]
        @schedules = "nerkit.LinearWarmupDecay.v1"
        warmup_steps = 4
        [c]
        @schedules = "nerkit.CosineSchedule.v1"
        min_ratio = 0.2
        [k]
        @schedules = "nerkit.ConstantSchedule.v1"
        """
    )
    out = registry.resolve(cfg)
    assert trace(out["s"], 10, 5)[2] == pytest.approx(0.5)
    assert trace(out["c"], 10, 10)[10] == pytest.approx(0.2)
    assert trace(out["k"], 10, 1) == [1.0, 1.0]
    with pytest.raises(ConfigError, match="either warmup_steps"):
        linear_warmup_decay(warmup_steps=2, warmup_ratio=0.1)
    with pytest.raises(ConfigError, match=r"warmup_ratio = 1.0.*\[0, 1\)"):
        cosine_schedule(warmup_ratio=1.0)
    with pytest.raises(ConfigError, match="min_ratio"):
        cosine_schedule(min_ratio=1.5)
    with pytest.raises(ConfigError, match="warmup_steps = -1"):
        constant_schedule(warmup_steps=-1)
    with pytest.raises(ValueError, match="num_training_steps >= 1"):
        linear_warmup_decay()(make_optimizer(), 0)
