"""benchmarks/accuracy.py and benchmarks/gpu_check.py run (on the quickstart sample, tiny sizes).

They check that the scripts run end to end and report what they promise, not their figures.
"""

from __future__ import annotations

import importlib.util
import math
import sys

import pytest

from .conftest import CORPUS, ROOT, TINY_BERT


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_accuracy_quick_runs_on_the_sample(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NERKIT_CACHE", str(tmp_path / "cache"))
    accuracy = _load("accuracy")
    args = accuracy.parse_args(
        [
            "--quick",
            "--corpus",
            str(CORPUS / "train.json"),
            "--vocab",
            str(TINY_BERT / "vocab.txt"),
            "--max-records",
            "20",
            "--epochs",
            "1",
            "--layers",
            "1",
            "--width",
            "32",
            "--heads",
            "2",
            "--json",
            str(tmp_path / "rows.jsonl"),
        ]
    )
    rows = accuracy.run(args)
    assert [r["row"] for r in rows] == accuracy.QUICK_ROWS
    for r in rows:
        assert 0.0 <= r["f1"] <= 1.0 and r["seconds"] > 0 and math.isfinite(r["tokens_per_s"])
        assert r["records"] == [20, 5] and r["epochs"] == 1
    assert len((tmp_path / "rows.jsonl").read_text().splitlines()) == len(rows)
    table = capsys.readouterr().out
    assert "| plain |" in table and "| bio-strict |" in table and "F1 / plain" in table


def test_accuracy_rows_are_valid_configs(tmp_path):
    """Every row's config validates (the full run would fail late otherwise)."""
    from nerkit.config import check_config, load_config

    accuracy = _load("accuracy")
    base = tmp_path / "base.cfg"
    base.write_text(accuracy.BASE, encoding="utf8")
    paths = {"paths.train": "t.json", "paths.dev": "t.json", "paths.encoder": str(TINY_BERT)}
    for _, overrides in accuracy.ROWS.values():
        check_config(load_config(base, {**paths, **accuracy._fill(overrides, tmp_path / "w.txt")}))
    with pytest.raises(SystemExit, match="unknown rows"):
        accuracy.run(accuracy.parse_args(["--rows", "nope"]))
