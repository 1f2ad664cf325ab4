"""End to end: train the quickstart config, evaluate, predict, resume, checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from nerkit.cli.main import app
from nerkit.config import load_config
from nerkit.training.loop import train

from .conftest import CORPUS, FAST, QUICKSTART, cli_args, fast_config

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    result = runner.invoke(
        app,
        [
            "train",
            str(QUICKSTART),
            "--output",
            str(out),
            *cli_args(**{"corpora.max_dev_records": 0}),
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def test_train_writes_complete_model_dirs(trained: Path):
    for name in ("model-best", "model-last"):
        d = trained / name
        for f in (
            "config.cfg",
            "model.safetensors",
            "meta.json",
            "encoder/tokenizer_config.json",
            "encoder/config.json",
        ):
            assert (d / f).exists(), f"{name}/{f} missing"
        meta = json.loads((d / "meta.json").read_text())
        assert meta["labels"] == ["dis", "sym", "pro", "equ", "dru", "ite", "bod", "dep", "mic"]
        assert len(meta["tags"]) == 2  # the nested scheme's two layers
    assert (trained / "model-last" / "training_state" / "state.pt").exists()
    assert not (trained / "model-best" / "training_state").exists()


def test_evaluate_reproduces_training_f1(trained: Path, tmp_path: Path):
    meta = json.loads((trained / "model-best" / "meta.json").read_text())
    out = tmp_path / "metrics.json"
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(trained / "model-best"),
            str(CORPUS / "dev.json"),
            "--output",
            str(out),
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert metrics["f1"] == pytest.approx(meta["scores"]["f1"], abs=1e-9)
    assert set(metrics) >= {"precision", "recall", "f1", "per_type"}


def test_predict_writes_every_record(trained: Path, tmp_path: Path):
    out = tmp_path / "pred.json"
    src = CORPUS / "test.json"
    result = runner.invoke(
        app,
        ["predict", str(trained / "model-best"), str(src), "--output", str(out), "--device", "cpu"],
    )
    assert result.exit_code == 0, result.output
    records = json.loads(out.read_text(encoding="utf8"))
    inputs = json.loads(src.read_text(encoding="utf8"))
    assert [r["text"] for r in records] == [r["text"] for r in inputs]
    for r in records:
        for e in r["entities"]:
            assert 0 <= e["start_idx"] <= e["end_idx"] < len(r["text"])
            assert r["text"][e["start_idx"] : e["end_idx"] + 1] == e["entity"]


def test_debug_config_prints_filled_config():
    result = runner.invoke(app, ["debug", "config", str(QUICKSTART), "--training.max_epochs", "3"])
    assert result.exit_code == 0, result.output
    assert "max_epochs = 3" in result.output
    assert "accumulate_gradient = 1" in result.output  # a default filled in
    assert "mix_last_layers = 1" in result.output  # a component default filled in


def test_cli_error_is_one_paragraph():
    result = runner.invoke(
        app, ["debug", "config", str(QUICKSTART), "--model.decoder.dropout", "high"]
    )
    assert result.exit_code == 1
    assert 'model.decoder.dropout: expected float, got "high"' in result.output
    assert "Traceback" not in result.output


def _weights(path: Path):
    return load_file(str(path / "model.safetensors"))


def test_resume_equals_uninterrupted(tmp_path: Path):
    extra = {
        "training.max_epochs": 2,
        "training.eval_frequency": 3,
        "corpora.max_train_records": 40,
    }
    full = train(fast_config(**extra), tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        train(fast_config(**extra), tmp_path / "cut", stop_after_steps=6)
    state = json.loads(
        (tmp_path / "cut" / "model-last" / "training_state" / "trainer.json").read_text()
    )
    assert state["state"]["step"] == 6
    resumed = train(fast_config(**extra), tmp_path / "cut", resume=tmp_path / "cut")
    assert resumed.steps == full.steps
    assert [r["f1"] for r in resumed.history] == [r["f1"] for r in full.history]
    assert [r["loss"] for r in resumed.history] == pytest.approx(
        [r["loss"] for r in full.history], rel=0, abs=0
    )
    a, b = _weights(tmp_path / "full" / "model-last"), _weights(tmp_path / "cut" / "model-last")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


EMA = {"@averaging": "nerkit.EMA.v1", "decay": 0.9, "warmup": True}


def test_resume_with_ema_equals_uninterrupted(tmp_path: Path):
    """The EMA and the training weights both survive --resume: the same scores and weights."""
    extra = {
        "training.max_epochs": 2,
        "training.eval_frequency": 2,
        "corpora.max_train_records": 24,
        "corpora.max_dev_records": 8,
        "training.averaging": EMA,
    }
    full = train(fast_config(**extra), tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        train(fast_config(**extra), tmp_path / "cut", stop_after_steps=4)
    resumed = train(fast_config(**extra), tmp_path / "cut", resume=tmp_path / "cut")
    assert resumed.steps == full.steps
    assert [r["f1"] for r in resumed.history] == [r["f1"] for r in full.history]
    assert [r["loss"] for r in resumed.history] == pytest.approx(
        [r["loss"] for r in full.history], rel=0, abs=0
    )
    for name in ("model-last", "model-best"):
        a, b = _weights(tmp_path / "full" / name), _weights(tmp_path / "cut" / name)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)
    # model-last holds the average; the training weights are kept for resuming, and differ
    blob = torch.load(
        tmp_path / "full" / "model-last" / "training_state" / "state.pt", weights_only=True
    )
    saved = _weights(tmp_path / "full" / "model-last")
    assert blob["averaging"]["num_updates"] == full.steps
    assert all(torch.equal(saved[k], v) for k, v in blob["averaging"]["shadow"].items())
    assert any(not torch.equal(saved[k], v) for k, v in blob["raw_weights"].items())


def test_same_seed_same_run(tmp_path: Path):
    extra = {"training.max_epochs": 1, "corpora.max_train_records": 24}
    r1 = train(fast_config(**extra), tmp_path / "a")
    r2 = train(fast_config(**extra), tmp_path / "b")

    def strip(history):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in history]

    assert strip(r1.history) == strip(r2.history)
    a, b = _weights(tmp_path / "a" / "model-last"), _weights(tmp_path / "b" / "model-last")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_without_state_is_clear(tmp_path: Path):
    from nerkit.errors import ConfigError

    with pytest.raises(ConfigError, match="no resumable checkpoint"):
        train(load_config(QUICKSTART, FAST), tmp_path / "x", resume=tmp_path / "x")


def test_one_run_resolves_the_config_once(tmp_path: Path, monkeypatch):
    """One `nerkit train` of the quickstart config enters the config once: one resolved run,
    one interpolation, one validation of each settings section, one registry.resolve of all
    its sections (corpora, model, training); the model directory is written from it."""
    import collections

    import confection

    import nerkit.config as config
    import nerkit.training.loop as loop
    from nerkit.registry import registry

    calls = collections.Counter()
    checked = collections.Counter()
    check_settings, interpolate = config.check_settings, confection.Config.interpolate
    resolve_run, resolve = loop.resolve_run, registry.resolve

    def counting_check(section, values, schema):
        checked[section] += 1
        return check_settings(section, values, schema)

    def counting_interpolate(self):
        calls["interpolate"] += 1
        return interpolate(self)

    def counting_resolve_run(*args, **kwargs):
        calls["resolve_run"] += 1
        return resolve_run(*args, **kwargs)

    def counting_resolve(config, **kwargs):
        calls["registry.resolve"] += 1
        calls["sections resolved"] += len(config)
        return resolve(config, **kwargs)

    monkeypatch.setattr(config.validation, "check_settings", counting_check)
    monkeypatch.setattr(confection.Config, "interpolate", counting_interpolate)
    monkeypatch.setattr(loop, "resolve_run", counting_resolve_run)
    monkeypatch.setattr(registry, "resolve", counting_resolve)
    args = cli_args(**{"training.max_epochs": 1, "corpora.max_train_records": 8})
    result = runner.invoke(app, ["train", str(QUICKSTART), "--output", str(tmp_path), *args])
    assert result.exit_code == 0, result.output
    assert dict(checked) == {"system": 1, "corpora": 1, "training": 1}
    assert dict(calls) == {
        "resolve_run": 1,
        "interpolate": 1,
        "registry.resolve": 1,
        "sections resolved": 3,
    }
    assert (tmp_path / "model-best" / "config.cfg").exists()


def test_debug_config_exit_status_says_invalid_missing_or_good(tmp_path: Path):
    """0: valid and every file in place; 1: invalid (the problems only); 2: valid but files
    missing: the filled config is printed first, then every missing file."""
    good = runner.invoke(app, ["debug", "config", str(QUICKSTART)])
    assert good.exit_code == 0, good.output
    invalid = runner.invoke(
        app, ["debug", "config", str(QUICKSTART), "--model.decoder.dropout", "high"]
    )
    assert invalid.exit_code == 1 and "[model]" not in invalid.output
    gone = str(tmp_path / "gone.json")
    missing = runner.invoke(
        app, ["debug", "config", str(QUICKSTART), "--paths.train", gone, "--paths.dev", gone]
    )
    assert missing.exit_code == 2, missing.output
    out = missing.output
    assert "2 files this config reads are missing" in out
    assert f"  - corpora.train = {gone} (${{paths.train}}): file not found" in out
    assert f"  - corpora.dev = {gone} (${{paths.dev}}): file not found" in out
    assert out.index("mix_last_layers = 1") < out.index("files this config reads are missing")
    assert "✔ Config is valid" not in out
    help_text = runner.invoke(app, ["debug", "config", "--help"]).output
    assert "0 the config is valid" in help_text and "2 the config is valid but files" in help_text
