"""Weight averaging: the EMA recursion by hand, the swap is exact, state round trip, registry."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nerkit.errors import ConfigError
from nerkit.registry import registry
from nerkit.training.averaging import EMA, NoAveraging


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 2), nn.LayerNorm(2))


def _set(model: nn.Module, value: float) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)


def test_ema_recursion_by_hand():
    model = _model()
    _set(model, 1.0)
    ema = EMA(decay=0.5, warmup=False)
    ema.start(model)
    _set(model, 3.0)
    ema.update(model)  # 0.5 * 1 + 0.5 * 3 = 2
    _set(model, 6.0)
    ema.update(model)  # 0.5 * 2 + 0.5 * 6 = 4
    assert all(torch.allclose(v, torch.full_like(v, 4.0)) for v in ema.shadow.values())
    assert ema.num_updates == 2


def test_warmup_decay_schedule():
    ema = EMA(decay=0.9, warmup=True)
    model = _model()
    _set(model, 0.0)
    ema.start(model)
    expected = 0.0
    for n, value in enumerate([10.0, 20.0, 30.0], start=1):
        d = min(0.9, (1 + n) / (10 + n))
        assert ema.current_decay() == pytest.approx(d)
        _set(model, value)
        ema.update(model)
        expected = d * expected + (1 - d) * value
    assert ema.current_decay() == pytest.approx(5 / 14)
    v = next(iter(ema.shadow.values()))
    assert torch.allclose(v, torch.full_like(v, expected))
    assert EMA(decay=0.9, warmup=False).current_decay() == 0.9
    assert EMA(decay=0.1, warmup=True).current_decay() == pytest.approx(0.1)  # capped by decay


def test_applied_swaps_in_the_average_and_restores_bits():
    model = _model()
    ema = EMA(decay=0.7, warmup=True)
    ema.start(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    ema.update(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(4, 3)
    with ema.applied(model) as raw:
        for k, p in model.named_parameters():
            assert torch.equal(p, ema.shadow[k])
            assert torch.equal(raw[k], before[k])
        averaged_out = model(x)
    after = model.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in before)
    assert not torch.allclose(averaged_out, model(x))
    with NoAveraging().applied(model) as raw:
        assert raw is None


def test_state_round_trip_continues_identically():
    model = _model()
    a = EMA(decay=0.8, warmup=True)
    a.start(model)
    a.update(model)
    b = EMA(decay=0.8, warmup=True)
    b.start(_model())
    b.load_state_dict(a.state_dict())
    assert b.num_updates == 1
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(-2)
    a.update(model)
    b.update(model)
    assert all(torch.equal(a.shadow[k], b.shadow[k]) for k in a.shadow)
    with pytest.raises(ConfigError, match="does not match"):
        b.load_state_dict({"num_updates": 1, "shadow": {"x": torch.zeros(1)}})


def test_registered_and_checked():
    assert isinstance(registry.get("averaging", "nerkit.EMA.v1")(decay=0.99), EMA)
    assert isinstance(registry.get("averaging", "nerkit.NoAveraging.v1")(), NoAveraging)
    with pytest.raises(ConfigError, match=r"`decay` = 1.5.*\[training.averaging\]"):
        registry.get("averaging", "nerkit.EMA.v1")(decay=1.5)
