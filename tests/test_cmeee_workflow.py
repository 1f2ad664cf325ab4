"""The CMeEE project scripts (projects/cmeee/): assets check, dev split, results table, Makefile."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

PROJECT = ROOT / "projects" / "cmeee"
CONFIGS = ROOT / "configs"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"cmeee_{name}", PROJECT / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


check_assets = _module("check_assets")
split_dev = _module("split_dev")
collect_results = _module("collect_results")


# ---------------------------------------------------------------------------
# check_assets.py
# ---------------------------------------------------------------------------


def _model_dir(path: Path, weights: str = "model.safetensors") -> None:
    path.mkdir(parents=True)
    for name in ("config.json", "vocab.txt", weights):
        (path / name).write_text("{}")


@pytest.fixture
def asset_tree(tmp_path: Path) -> Path:
    """Every asset of base.cfg's [paths], as small stand-in files."""
    root = tmp_path / "project"
    (root / "assets" / "cmeee").mkdir(parents=True)
    for split in ("train", "dev", "test"):
        (root / "assets" / "cmeee" / f"CMeEE_{split}.json").write_text("[]")
    _model_dir(root / "assets" / "bert-base-chinese")
    _model_dir(root / "assets" / "chinese-roberta-wwm-ext", weights="pytorch_model.bin")
    _model_dir(root / "assets" / "chinese-roberta-wwm-ext-large")
    (root / "assets" / "sgns.merge.word").write_bytes(b"abc")
    (root / "assets" / "Medical.txt").write_text("1 2\n")
    med = root / "assets" / "pkuseg" / "medicine"
    med.mkdir(parents=True)
    (med / "weights.npz").write_bytes(b"")
    (med / "features.pkl").write_bytes(b"")
    return root


def test_check_assets_all_present(asset_tree: Path, capsys):
    rc = check_assets.main(["--root", str(asset_tree)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "9 of 9 assets in place." in out
    assert "present (checksum unknown)" in out


def test_check_assets_missing_and_incomplete(asset_tree: Path, capsys):
    (asset_tree / "assets" / "Medical.txt").unlink()
    (asset_tree / "assets" / "bert-base-chinese" / "model.safetensors").unlink()
    rc = check_assets.main(["--root", str(asset_tree)])
    out = capsys.readouterr().out
    assert rc == 1
    lines = {
        line.split()[1]: line for line in out.splitlines() if line.startswith(("ok", "PROBLEM"))
    }
    assert lines["medvec"].startswith("PROBLEM")
    assert "missing" in lines["medvec"] and "Chinese-Word2vec-Medicine" in lines["medvec"]
    assert lines["bert"].startswith("PROBLEM")
    assert "lacks model.safetensors or pytorch_model.bin" in lines["bert"]
    # where to get it: nerkit's own table (the one `nerkit train` quotes), with the path filled in
    bert_dir = asset_tree / "assets" / "bert-base-chinese"
    assert f"hf download google-bert/bert-base-chinese --local-dir {bert_dir}`" in lines["bert"]
    assert lines["roberta"].startswith("ok")
    assert "7 of 9 assets in place. Fix the 2 problem(s)" in out


def test_check_assets_checksums(asset_tree: Path, capsys):
    good = hashlib.sha256(b"abc").hexdigest()
    assert good == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert check_assets.main(["--root", str(asset_tree), "--sha256", f"sgns={good}"]) == 0
    assert "sgns" in capsys.readouterr().out
    rc = check_assets.main(["--root", str(asset_tree), "--sha256", "sgns=" + "0" * 64])
    out = capsys.readouterr().out
    assert rc == 1
    assert (
        f"checksum mismatch: {asset_tree / 'assets' / 'sgns.merge.word'} has SHA-256 {good}" in out
    )
    # --no-checksums skips the comparison
    assert (
        check_assets.main(
            ["--root", str(asset_tree), "--sha256", "sgns=" + "0" * 64, "--no-checksums"]
        )
        == 0
    )
    capsys.readouterr()
    assert check_assets.main(["--root", str(asset_tree), "--sha256", "sgns=xyz"]) == 2


def test_check_assets_pkuseg_archive_checksum(asset_tree: Path):
    asset = check_assets.ASSETS["pkuseg"]
    assert asset.archive_sha256.startswith("773d6557")  # as pinned by spacy-pkuseg
    med = asset_tree / "assets" / "pkuseg" / "medicine"
    (med.parent / "medicine.zip").write_bytes(b"not the release")
    res = check_assets.check_asset(asset, med)
    assert not res.ok and "medicine.zip has SHA-256" in res.message
    mine = check_assets.Asset(
        **{**asset.__dict__, "archive_sha256": hashlib.sha256(b"not the release").hexdigest()}
    )
    res = check_assets.check_asset(mine, med)
    assert res.ok and res.message == "medicine.zip sha256 ok"


def test_check_assets_only_what_the_config_uses(asset_tree: Path, capsys):
    shutil.rmtree(asset_tree / "assets" / "chinese-roberta-wwm-ext-large")
    rc = check_assets.main(
        ["--root", str(asset_tree), "--config", str(CONFIGS / "bert-linear-nested.cfg")]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    keys = [line.split()[1] for line in out.splitlines() if line.startswith(("ok", "PROBLEM"))]
    assert keys == ["bert", "dev", "train"]
    # an overridden path is the user's file: presence only, advice names the override
    rc = check_assets.main(
        [
            "--root",
            str(asset_tree),
            "--config",
            str(CONFIGS / "bert-linear-nested.cfg"),
            "--paths.train",
            "assets/cmeee-split/train.json",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 1
    assert "assets/cmeee-split/train.json" in out and "make split-dev" in out


def test_check_assets_rejects_other_overrides():
    with pytest.raises(SystemExit) as err:
        check_assets.main(["--training.max_epochs", "1"])
    assert err.value.code == 2


def test_referenced_paths():
    data = {
        "paths": {"a": "x", "b": "${paths.a}"},
        "model": {"enc": {"name": "${paths.bert}"}, "x": ["${paths.c}/y"]},
    }
    assert check_assets.referenced_paths(data) == {"bert", "c"}


# ---------------------------------------------------------------------------
# split_dev.py
# ---------------------------------------------------------------------------


def test_split_dev_is_index_mod_5(tmp_path: Path):
    records = [{"text": f"文本{i}", "entities": []} for i in range(11)]
    src = tmp_path / "CMeEE_dev.json"
    src.write_text(json.dumps(records, ensure_ascii=False), encoding="utf8")
    out = tmp_path / "split"
    assert split_dev.main([str(src), "--out", str(out)]) == 0
    train = json.loads((out / "train.json").read_text(encoding="utf8"))
    held = json.loads((out / "eval.json").read_text(encoding="utf8"))
    assert [r["text"] for r in held] == ["文本0", "文本5", "文本10"]
    assert [r["text"] for r in train] == [f"文本{i}" for i in (1, 2, 3, 4, 6, 7, 8, 9)]
    # deterministic: a second run writes byte-identical files
    before = (out / "train.json").read_bytes()
    assert split_dev.main([str(src), "--out", str(out)]) == 0
    assert (out / "train.json").read_bytes() == before


def test_split_dev_sizes_on_real_dev(shared_data: Path):
    records = split_dev.read_records(shared_data / "cmeee" / "CMeEE_dev.json")
    train, held = split_dev.split_records(records)
    assert (len(train), len(held)) == (4000, 1000)
    assert held[1] is records[5]


def test_split_dev_errors(tmp_path: Path, capsys):
    src = tmp_path / "CMeEE_test.json"
    src.write_text(json.dumps([{"text": "a"}]), encoding="utf8")
    assert split_dev.main([str(src), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "record 0: no 'entities' list" in err and "CMeEE_test.json" in err
    assert split_dev.main([str(tmp_path / "nope.json")]) == 1
    assert "file not found" in capsys.readouterr().err
    with pytest.raises(split_dev.SplitError, match="--every must be >= 2"):
        split_dev.split_records([], k=1)


# ---------------------------------------------------------------------------
# collect_results.py
# ---------------------------------------------------------------------------


def _run(runs: Path, name: str, p: float, r: float, f: float, dev: str = "CMeEE_dev.json") -> Path:
    best = runs / name / "model-best"
    best.mkdir(parents=True)
    (best / "meta.json").write_text(
        json.dumps({"step": 10, "scores": {"precision": p, "recall": r, "f1": f}})
    )
    (best / "config.cfg").write_text(
        f'[paths]\ndev = "assets/x/{dev}"\n\n[corpora]\ndev = ${{paths.dev}}\n'
    )
    return runs / name


def test_collect_results_table(tmp_path: Path, capsys):
    runs = tmp_path / "runs"
    _run(runs, "bert-linear-nested", 0.6, 0.5, 0.55)
    best = _run(runs, "best", 0.7, 0.6, 0.65, dev="eval.json")
    _run(runs, "my-own", 0.1, 0.2, 0.3)
    (runs / "empty").mkdir()
    assert (
        collect_results.main(
            ["--record", str(best), "--f1", "66.5", "--precision", "65", "--recall", "68"]
        )
        == 0
    )
    assert json.loads((best / "test-metrics.json").read_text()) == {
        "precision": 0.65,
        "recall": 0.68,
        "f1": 0.665,
        "source": "CBLUE leaderboard",
    }
    capsys.readouterr()
    out_file = tmp_path / "results.md"
    assert (
        collect_results.main([str(runs), "--configs", str(CONFIGS), "--output", str(out_file)]) == 0
    )
    table = capsys.readouterr().out
    assert out_file.read_text(encoding="utf8") == table
    rows = {
        line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
        for line in table.splitlines()
        if line.startswith("| `")
    }
    assert rows["`bert-linear-nested`"] == [
        "62.684",
        "60.000",
        "50.000",
        "55.000",
        "CMeEE_dev.json",
        "–",
        "–",
        "–",
        "–",
    ]
    assert rows["`best`"] == [
        "66.032",
        "70.000",
        "60.000",
        "65.000",
        "eval.json",
        "65.000",
        "68.000",
        "66.500",
        "+0.468",
    ]
    assert rows["`my-own`"] == [
        "–",
        "10.000",
        "20.000",
        "30.000",
        "CMeEE_dev.json",
        "–",
        "–",
        "–",
        "–",
    ]
    assert "`empty`" not in rows
    # study experiments without a run are listed too, in the study's order (by reported F1)
    assert rows["`roberta-flat-pkuseg-pgd`"][0] == "64.482"
    names = list(rows)
    assert (
        names.index("`bert-linear-nested`")
        < names.index("`roberta-flat-pkuseg`")
        < names.index("`best`")
    )
    assert names[-1] == "`my-own`"
    assert "Test scores from: CBLUE leaderboard." in table


def test_collect_results_errors(tmp_path: Path, capsys):
    runs = tmp_path / "runs"
    run = _run(runs, "best", 0.7, 0.6, 0.65)
    (run / "test-metrics.json").write_text(json.dumps({"f1": 66.0}))
    assert collect_results.main([str(runs), "--configs", str(CONFIGS)]) == 1
    err = capsys.readouterr().err
    assert "test-metrics.json.f1: 66.0 is not a fraction" in err and "--record" in err
    assert collect_results.main([str(tmp_path / "nothing"), "--configs", str(CONFIGS)]) == 1
    assert "no such folder" in capsys.readouterr().err
    assert collect_results.main(["--record", str(run), "--f1", "166"]) == 1
    assert "between 0 and 100" in capsys.readouterr().err
    bad = tmp_path / "bad.cfg"
    bad.write_text("# Study test F1: high\n")
    with pytest.raises(collect_results.ResultsError, match="not a number"):
        collect_results.study_f1(bad)


# ---------------------------------------------------------------------------
# Makefile (dry runs: the commands each target would run)
# ---------------------------------------------------------------------------


def _make(*args: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    res = subprocess.run(
        ["make", "-n", *args], cwd=PROJECT, capture_output=True, text=True, check=True
    )
    return res.stdout


def test_makefile_train_commands():
    out = _make("train", "EXP=best")
    assert "python check_assets.py --config ../../configs/best.cfg" in out
    assert "nerkit train ../../configs/best.cfg --output runs/best" in out
    out = _make("train", "EXP=best", "SPLIT=1", "NPROC=4", "ARGS=--training.batch_size 8")
    assert (
        "torchrun --nproc-per-node 4 -m nerkit train ../../configs/best.cfg --output runs/best "
        "--paths.train assets/cmeee-split/train.json --paths.dev assets/cmeee-split/eval.json "
        "--training.batch_size 8"
    ) in out
    out = _make("train", "EXP=best", "CHECK=0")
    assert "check_assets" not in out and "nerkit train ../../configs/best.cfg" in out
    out = _make("resume", "EXP=best")
    assert "--output runs/best --resume runs/best" in out


def test_makefile_evaluate_submission_results():
    assert "nerkit evaluate runs/x/model-best assets/cmeee-split/eval.json" in _make(
        "evaluate", "EXP=x", "SPLIT=1"
    )
    out = _make("submission", "EXP=x")
    assert "nerkit predict runs/x/model-best assets/cmeee/CMeEE_test.json" in out
    assert "--output runs/x/submission/CMeEE_test.json" in out
    assert "python -m zipfile -c runs/x/submission.zip runs/x/submission/CMeEE_test.json" in out
    assert "python collect_results.py runs --configs ../../configs --output results.md" in _make(
        "results"
    )
    assert "split_dev.py assets/cmeee/CMeEE_dev.json --out assets/cmeee-split" in _make("split-dev")
