"""benchmarks/accuracy.py and benchmarks/gpu_check.py run (on the quickstart sample, tiny sizes).

They check that the scripts run end to end and report what they promise, not their figures.
"""

from __future__ import annotations

import importlib.util
import json
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
    common = [
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
    ]
    args = accuracy.parse_args(["--quick", *common, "--json", str(tmp_path / "rows.jsonl")])
    rows = accuracy.run(args)
    assert [r["row"] for r in rows] == accuracy.QUICK_ROWS
    for r in rows:
        assert 0.0 <= r["f1"] <= 1.0 and r["seconds"] > 0 and math.isfinite(r["tokens_per_s"])
        assert r["records"] == [20, 5] and r["epochs"] == 1
    assert len((tmp_path / "rows.jsonl").read_text().splitlines()) == len(rows)
    by_name = {r["row"]: r for r in rows}
    # decoding variants re-decode the strict row's model (same training, same seconds)
    assert (
        by_name["bio-lenient"]["shared_training"] and not by_name["bio-strict"]["shared_training"]
    )
    assert by_name["bio-lenient"]["seconds"] == by_name["bio-strict"]["seconds"]
    # ... which is what training the lenient row on its own gives
    alone = accuracy.run(accuracy.parse_args([*common, "--rows", "bio-lenient"]))
    assert [r["row"] for r in alone] == ["plain", "bio-lenient"] and not alone[1]["shared_training"]
    assert alone[1]["tp_fp_fn"] == by_name["bio-lenient"]["tp_fp_fn"]
    assert (
        alone[0]["tp_fp_fn"] == by_name["plain"]["tp_fp_fn"]
    )  # the plain script is deterministic too
    strict, lenient = by_name["bio-strict"]["tp_fp_fn"], by_name["bio-lenient"]["tp_fp_fn"]
    assert (
        strict[0] + strict[1] < lenient[0] + lenient[1]
    )  # strict reads a subset of lenient's entities
    assert (
        by_name["egp"]["tp_fp_fn"][1] > 0
    )  # the random span head predicts: counts are not all zero
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


def test_gpu_check_script_and_cpu_driver(tmp_path, monkeypatch):
    """gpu_check.sh parses; the driver's checks run on CPU at tiny sizes and fill the report."""
    import subprocess

    assert subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu_check.sh")]).returncode == 0
    monkeypatch.setenv("NERKIT_CACHE", str(tmp_path / "cache"))
    gpu_check = _load("gpu_check")
    reqs = gpu_check.requirements()
    assert "transformers>=4.40" in reqs and not any(r.startswith("torch") for r in reqs)
    report = tmp_path / "report.md"
    args = gpu_check.main.__globals__["argparse"].Namespace(
        cpu=True,
        data=tmp_path / "no-shared",
        steps=1,
        max_seconds=30.0,
        report=str(report),
        checks="speed,bf16",
        configs="sota.cfg",
        lengths="48",
    )
    sections = gpu_check.run_all(args)
    (row,) = sections["speed"]
    assert "error" not in row, row
    assert row["steps"] == 1 and row["finite"] and row["steps_per_s"] > 0
    assert sections["bf16"]["agree"], sections["bf16"]
    text = report.read_text(encoding="utf8")
    assert "| sota.cfg | 48 |" in text and "synthetic" in text and "bf16 against fp32" in text
    # the torchrun worker in this process (gloo, world of one): DDP-wrapped nerkit steps
    for key, value in {
        "RANK": "0",
        "LOCAL_RANK": "0",
        "WORLD_SIZE": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
    }.items():
        monkeypatch.setenv(key, value)
    args.result, args.steps = str(tmp_path / "ddp.json"), 2
    gpu_check.ddp_worker(args)
    ddp = json.loads((tmp_path / "ddp.json").read_text())
    assert (
        ddp["backend"] == "gloo"
        and ddp["steps"] == 2
        and ddp["finite"]
        and ddp["all_reduce"] == 1.0
    )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_accuracy_positions_are_the_training_loops_batches(tmp_path, monkeypatch):
    """positions/s counts the [B, T] of the batches the loop really trained on."""
    from nerkit.models.ner_model import NERModel

    monkeypatch.setenv("NERKIT_CACHE", str(tmp_path / "cache"))
    accuracy = _load("accuracy")
    seen = []
    collate = NERModel.collate

    def spy(self, feats, with_targets=False):
        batch = collate(self, feats, with_targets)
        if with_targets:
            seen.append(batch.input_ids.numel())
        return batch

    monkeypatch.setattr(NERModel, "collate", spy)
    args = accuracy.parse_args(
        ["--corpus", str(CORPUS / "train.json"), "--vocab", str(TINY_BERT / "vocab.txt")]
        + ["--max-records", "40", "--epochs", "2", "--layers", "1", "--width", "32"]
        + ["--heads", "2", "--rows", "bio-strict", "--skip-plain"]
    )
    (row,) = accuracy.run(args)
    assert len(seen) > 2  # more than one batch per epoch
    assert row["positions_per_s"] * row["seconds"] == pytest.approx(sum(seen))
    assert row["positions_per_s"] > row["tokens_per_s"]  # [CLS], [SEP] and padding


def test_accuracy_table_ratios_only_with_the_plain_script():
    accuracy = _load("accuracy")
    row = {"row": "bio-strict", "description": "d", "precision": 0.3, "recall": 0.2, "f1": 0.24}
    row.update(seconds=10.0, tokens_per_s=400.0)
    plain = dict(row, row="plain", f1=0.12, tokens_per_s=100.0)
    with_plain = accuracy.markdown([plain, row]).splitlines()[-1]
    assert "| 24.0 | 2.00x | 10 | 400 | 4.00 | - | - |" in with_plain  # no positions: "-"
    alone = accuracy.markdown([row]).splitlines()[-1]  # --skip-plain: no ratio, not "nan"
    assert alone.endswith("| 24.0 | - | 10 | 400 | - | - | - |") and "nan" not in alone
    row["positions_per_s"], plain["positions_per_s"] = 500.0, 250.0
    assert accuracy.markdown([plain, row]).splitlines()[-1].endswith("| 4.00 | 500 | 2.00 |")


def test_overhead_benchmark_compares_the_same_batches(tmp_path, monkeypatch, capsys):
    """bench_overhead.py: both loops get nerkit's own batches (equal [B, T] positions)."""
    from nerkit.models.ner_model import NERModel

    monkeypatch.setenv("NERKIT_CACHE", str(tmp_path / "cache"))
    _load("accuracy")  # bench_overhead imports it by name
    overhead = _load("bench_overhead")
    seen = []
    collate = NERModel.collate

    def spy(self, feats, with_targets=False):
        batch = collate(self, feats, with_targets)
        if with_targets:  # the training loop's batches (plain_batches collates without)
            seen.append(batch.input_ids.numel())
        return batch

    monkeypatch.setattr(NERModel, "collate", spy)
    args = overhead.parse_args(
        ["--corpus", str(CORPUS / "train.json"), "--vocab", str(TINY_BERT / "vocab.txt")]
        + ["--steps", "3", "--rounds", "2", "--layers", "1", "--width", "32", "--heads", "2"]
    )
    report = overhead.run(args)
    assert len(seen) == 3 * 2  # nerkit trained exactly --steps batches per round ...
    assert sum(seen[:3]) == report["positions_per_round"]  # ... the ones the plain loop got
    assert report["ratio"] == pytest.approx(report["nerkit_s"] / report["plain_s"])
    assert "| nerkit Trainer.run |" in capsys.readouterr().out


def test_pretrained_ladder_pieces_on_the_sample(tmp_path, monkeypatch, capsys):
    """The proxy's text leaves the scored split out; --pretrained/--vectors/--seeds run the
    ladder's rows on a pretrained encoder (a tiny BERT after 2 MLM steps here)."""
    from nerkit.config import load_config
    from nerkit.training.pretrain import pretrain

    monkeypatch.setenv("NERKIT_CACHE", str(tmp_path / "cache"))
    accuracy, pretrained = _load("accuracy"), _load("pretrained")
    dialogue = tmp_path / "dialogue.txt"
    dialogue.write_text(
        "\n".join(f"对话{i}：咳嗽三天。" for i in range(310)) + "\n", encoding="utf8"
    )
    counts = pretrained.write_text(tmp_path, dialogue, CORPUS / "train.json", CORPUS / "test.json")
    records = json.loads((CORPUS / "train.json").read_text(encoding="utf8"))
    text = (tmp_path / "text.txt").read_text(encoding="utf8").splitlines()
    scored = {r["text"] for i, r in enumerate(records) if i % 5 == 0}
    assert counts["dialogue"] == 10 and counts["cmeee_dev_train_part"] == 320
    assert not scored & set(text) and len(text) == 10 + 320 + 60
    assert (tmp_path / "heldout.txt").read_text(encoding="utf8").count("\n") == 300

    cfg = load_config(
        ROOT / "configs" / "pretrain-quickstart.cfg",
        {"training.max_steps": 2, "system.device": "cpu", "pretraining.max_dev_windows": 4},
    )
    pretrain(cfg, tmp_path / "mlm")
    encoder = tmp_path / "mlm" / "model-last"
    assert (encoder / "vocab.txt").is_file()  # copied beside the tokenizer files
    common = ["--corpus", str(CORPUS / "train.json"), "--vocab", str(TINY_BERT / "vocab.txt")]
    common += ["--max-records", "20", "--epochs", "1", "--seeds", "13,14"]
    with pytest.raises(SystemExit, match="--vectors"):
        accuracy.run(accuracy.parse_args([*common, "--pretrained", str(encoder)]))
    args = [*common, "--pretrained", str(encoder), "--vectors", str(CORPUS / "vectors.txt")]
    rows = accuracy.run(accuracy.parse_args([*args, "--rows", "flat-vectors"]))
    assert [(r["row"], r["seed"]) for r in rows] == [
        (name, seed) for seed in (13, 14) for name in ("plain", "flat-vectors")
    ]
    assert all(r["encoder"] == str(encoder) for r in rows)
    out = capsys.readouterr().out
    assert "| plain | 2 |" in out and "| flat-vectors | 2 |" in out and "F1 std" in out


def test_pretrain_overhead_runs_on_the_sample(capsys):
    bench = _load("bench_pretrain_overhead")
    report = bench.run(bench.parse_args(["--sample", "--steps", "2", "--rounds", "1"]))
    assert report["steps"] == 2 and report["tokens_per_round"] > 0
    assert math.isfinite(report["ratio"]) and report["ratio"] > 0
    assert "nerkit Pretrainer.run" in capsys.readouterr().out


def test_ladder_plans_what_is_left_and_tabulates_seeds():
    """benchmarks/ladder.py: a row already in ladder.jsonl is not run again; the table's
    mean, std, pretraining gain and gap to the plain script, computed by hand."""
    ladder = _load("ladder")

    def line(row, seed, f1, pretrained=True):
        return {"row": row, "seed": seed, "f1": f1, "encoder": "p" if pretrained else "random"}

    done = [line("plain", 13, 0.5), line("flat-crf", 13, 0.6, pretrained=False)]
    jobs = ladder.plan(["plain", "flat-crf"], [13, 14], True, done)
    names = [j.name for j in jobs]
    assert sorted(names) == sorted(
        ["plain-14-pretrained", "flat-crf-13-pretrained", "flat-crf-14-pretrained"]
        + ["plain-13-random", "plain-14-random", "flat-crf-14-random"]
    )
    assert all(j.row == "flat-crf" for j in jobs[:3])  # lattice rows first
    records = [
        line("plain", 13, 0.40),
        line("plain", 14, 0.44),
        line("nested-strict", 13, 0.50),
        line("nested-strict", 14, 0.54),
        line("nested-strict", 13, 0.30, pretrained=False),
    ]
    rows = {r.split(" | ")[0]: r for r in ladder.table(records).splitlines()[2:]}
    # pretrained 52.0 ± 2.8 (std of 50, 54); random 30.0; plain 42.0 ± 2.8 -> +10.0 (3.5 std)
    assert rows["| nested-strict"] == (
        "| nested-strict | 52.0 ± 2.8 (2) | 30.0 ± 0.0 (1) | +22.0 | +10.0 (+3.5) "
        "| 62.68 (`bert-linear-nested`) |"
    )
    assert rows["| plain"].startswith("| plain | 42.0 ± 2.8 (2) | - | - | - |")
