"""AdamW param groups: layer-wise decay rates, no-decay detection, head rate, coverage."""

from __future__ import annotations

import pytest
import torch
from confection import Config
from torch import nn

from nerkit.errors import ConfigError
from nerkit.registry import registry
from nerkit.training.optimizers import adamw, no_decay_params
from tests.test_adversarial import TinyNER, make_batch


def groups_by_name(optimizer: torch.optim.Optimizer) -> dict:
    return {g["name"]: g for g in optimizer.param_groups}


def lr_of(optimizer: torch.optim.Optimizer, param: nn.Parameter) -> float:
    return next(g["lr"] for g in optimizer.param_groups if any(p is param for p in g["params"]))


def wd_of(optimizer: torch.optim.Optimizer, param: nn.Parameter) -> float:
    return next(
        g["weight_decay"] for g in optimizer.param_groups if any(p is param for p in g["params"])
    )


# Hand-computed: top layer (3) gets the base rate, layer k gets base * r**(3 - k),
# embeddings (group 0) base * r**3.
EXPECTED = {
    0.8: {"embeddings": 1.536e-05, "layer1": 1.92e-05, "layer2": 2.4e-05, "layer3": 3e-05},
    0.9: {"embeddings": 2.187e-05, "layer1": 2.43e-05, "layer2": 2.7e-05, "layer3": 3e-05},
    0.95: {"embeddings": 2.572125e-05, "layer1": 2.7075e-05, "layer2": 2.85e-05, "layer3": 3e-05},
}


@pytest.mark.parametrize("r", [0.8, 0.9, 0.95])
def test_layerwise_decay_rates(r):
    model = TinyNER()
    opt = adamw(learning_rate=3e-5, head_learning_rate=1e-3, layerwise_decay=r)(model)
    bert = model.encoder.bert
    expected = EXPECTED[r]
    assert lr_of(opt, bert.embeddings.word_embeddings.weight) == pytest.approx(
        expected["embeddings"], rel=1e-12
    )
    assert lr_of(opt, bert.embeddings.LayerNorm.weight) == pytest.approx(
        expected["embeddings"], rel=1e-12
    )
    for k in range(3):
        layer = bert.encoder.layer[k]
        want = expected[f"layer{k + 1}"]
        assert lr_of(opt, layer.attention.self.query.weight) == pytest.approx(want, rel=1e-12)
        assert lr_of(opt, layer.output.dense.bias) == pytest.approx(want, rel=1e-12)
    # the pooler sits in the top group
    assert lr_of(opt, bert.pooler.dense.weight) == pytest.approx(3e-5, rel=1e-12)
    names = groups_by_name(opt)
    assert set(names) == {
        f"{part}.{kind}"
        for part in (
            "encoder.embeddings",
            "encoder.layer1",
            "encoder.layer2",
            "encoder.layer3",
            "head",
        )
        for kind in ("decay", "no_decay")
    }
    assert names["encoder.layer2.decay"]["lr"] == pytest.approx(expected["layer2"], rel=1e-12)


def test_no_decay_for_biases_and_norms_by_module_type():
    model = TinyNER()
    opt = adamw(learning_rate=3e-5, weight_decay=0.05)(model)
    bert = model.encoder.bert
    for p in (
        bert.embeddings.LayerNorm.weight,
        bert.embeddings.LayerNorm.bias,
        bert.encoder.layer[1].attention.output.LayerNorm.weight,
        bert.encoder.layer[2].output.dense.bias,
        model.norm.weight,
        model.head.bias,
    ):
        assert wd_of(opt, p) == 0.0
    for p in (
        bert.embeddings.word_embeddings.weight,
        bert.encoder.layer[0].intermediate.dense.weight,
        bert.pooler.dense.weight,
        model.head.weight,
    ):
        assert wd_of(opt, p) == 0.05


def test_norm_detection_uses_module_type_not_names():
    class Custom(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.odd_name = nn.LayerNorm(4)  # no "norm" in the attribute name
            self.gn = nn.GroupNorm(2, 4)
            self.proj = nn.Linear(4, 4)

    class MyRMSNorm(nn.Module):  # a custom norm recognised by its class name
        def __init__(self) -> None:
            super().__init__()
            self.scale = nn.Parameter(torch.ones(1, 4))  # 2-D on purpose

    model = nn.Sequential(Custom(), MyRMSNorm())
    exempt = no_decay_params(model)
    assert id(model[0].odd_name.weight) in exempt and id(model[0].gn.weight) in exempt
    assert id(model[1].scale) in exempt
    assert id(model[0].proj.bias) in exempt and id(model[0].proj.weight) not in exempt


def test_head_rate_and_defaults_without_layerwise_decay():
    model = TinyNER()
    opt = adamw(learning_rate=2e-5, head_learning_rate=1e-3)(model)
    names = groups_by_name(opt)
    assert set(names) == {"encoder.decay", "encoder.no_decay", "head.decay", "head.no_decay"}
    assert names["encoder.decay"]["lr"] == names["encoder.no_decay"]["lr"] == 2e-5
    assert names["head.decay"]["lr"] == names["head.no_decay"]["lr"] == 1e-3
    assert [p for p in names["head.decay"]["params"]] == [model.head.weight]
    assert {id(p) for p in names["head.no_decay"]["params"]} == {
        id(model.norm.weight),
        id(model.norm.bias),
        id(model.head.bias),
    }
    same = adamw(learning_rate=2e-5)(model)
    assert {g["lr"] for g in same.param_groups} == {2e-5}
    assert opt.defaults["betas"] == (0.9, 0.999) and opt.defaults["eps"] == 1e-8


@pytest.mark.parametrize("r", [None, 0.9])
def test_every_trainable_parameter_in_exactly_one_group_and_frozen_skipped(r):
    model = TinyNER()
    model.encoder.bert.encoder.layer[0].attention.self.key.weight.requires_grad_(False)
    model.head.bias.requires_grad_(False)
    opt = adamw(layerwise_decay=r)(model)
    ids = [id(p) for g in opt.param_groups for p in g["params"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters() if p.requires_grad}
    assert all(g["params"] for g in opt.param_groups)


def test_encoder_params_missing_from_layer_groups_go_to_top_group():
    model = TinyNER()
    model.encoder.extra = nn.Linear(16, 16)  # not listed by layer_groups()
    opt = adamw(learning_rate=1e-4, head_learning_rate=1e-2, layerwise_decay=0.5)(model)
    assert lr_of(opt, model.encoder.extra.weight) == 1e-4
    assert groups_by_name(opt)["encoder.layer3.decay"]["params"][-1] is model.encoder.extra.weight


def test_parameter_in_two_layer_groups_is_an_error():
    model = TinyNER()
    groups = model.encoder.layer_groups()
    groups[1].append(groups[0][0])
    model.encoder.layer_groups = lambda: groups
    with pytest.raises(ValueError, match="word_embeddings.weight' in groups 0 and 1"):
        adamw()(model)


def test_optimizer_steps_and_round_trips_state():
    model = TinyNER()
    build = adamw(learning_rate=1e-3, layerwise_decay=0.9)
    opt = build(model)
    model.loss(make_batch(0)).backward()
    before = model.head.weight.detach().clone()
    opt.step()
    assert not torch.equal(model.head.weight, before)
    fresh = build(model)
    fresh.load_state_dict(opt.state_dict())
    assert [g["name"] for g in fresh.param_groups] == [g["name"] for g in opt.param_groups]


def test_registered_builder_and_config_errors():
    cfg = Config().from_str(
        """
        [opt]
        @optimizers = "nerkit.AdamW.v1"
        learning_rate = 0.00003
        layerwise_decay = 0.8
        betas = [0.9, 0.98]
        """
    )
    opt = registry.resolve(cfg)["opt"](TinyNER())
    assert opt.defaults["betas"] == (0.9, 0.98)
    assert groups_by_name(opt)["encoder.embeddings.decay"]["lr"] == pytest.approx(1.536e-05)
    get = registry.get("optimizers", "nerkit.AdamW.v1")
    with pytest.raises(ConfigError, match=r"layerwise_decay = 1.5.*\(0, 1\]"):
        get(layerwise_decay=1.5)
    with pytest.raises(ConfigError, match="learning_rate = 0"):
        get(learning_rate=0)
    with pytest.raises(ConfigError, match="betas"):
        get(betas=[0.9])
    model = TinyNER()
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ConfigError, match="no trainable parameters"):
        get()(model)
