"""Loading is read-only: load, evaluate, predict and visualize write nothing to a model
directory or its parent, and evaluating while a trainer saves that directory works."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import nerkit
from nerkit.cli.main import app
from nerkit.scoring import score
from nerkit.training.loop import Trainer

from .conftest import CORPUS, QUICKSTART, ROOT, cli_args, fast_config

runner = CliRunner()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ro-train")
    Trainer(fast_config(), out).run()
    return out / "model-best"


def tree_state(root: Path) -> dict:
    """Every entry under ``root`` (itself included): type, mode, size, mtime and content hash."""
    state = {}
    for p in [root, *sorted(root.rglob("*"))]:
        st = p.lstat()
        entry = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_size, st.st_mtime_ns)
        if p.is_file():
            entry += (hashlib.sha256(p.read_bytes()).hexdigest(),)
        state[str(p.relative_to(root))] = entry
    return state


def set_writable(root: Path, writable: bool) -> None:
    for p in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(p.lstat().st_mode)
        bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
        os.chmod(p, (mode | stat.S_IWUSR) if writable else (mode & ~bits))


def test_load_evaluate_predict_write_nothing(model_dir: Path, tmp_path: Path):
    parent = tmp_path / "ro"
    parent.mkdir()
    model = parent / "model-best"
    shutil.copytree(model_dir, model)
    # Stale temporaries of an interrupted save: only a writer may remove them.
    (parent / ".tmp-model-best-0badc0de").mkdir()
    (parent / ".old-model-best-0badc0de").mkdir()
    out = tmp_path / "outputs"
    out.mkdir()
    set_writable(parent, False)  # blocks writes for non-root; the snapshot catches root's
    try:
        before = tree_state(parent)
        time.sleep(0.01)  # a rewrite with equal bytes still changes mtime_ns
        nlp = nerkit.load(model, device="cpu")
        assert nlp("患者右下腹疼痛三天") is not None
        result = runner.invoke(
            app, ["evaluate", str(model), str(CORPUS / "dev.json"), "-o", str(out / "m.json")]
        )
        assert result.exit_code == 0, result.output
        assert json.loads((out / "m.json").read_text())["f1"] >= 0
        result = runner.invoke(
            app, ["predict", str(model), str(CORPUS / "dev.json"), "-o", str(out / "p.json")]
        )
        assert result.exit_code == 0, result.output
        result = runner.invoke(
            app,
            [
                "visualize",
                str(model),
                str(CORPUS / "dev.json"),
                "-o",
                str(out / "v.html"),
                "--limit",
                "3",
            ],
        )
        assert result.exit_code == 0, result.output
        assert tree_state(parent) == before
    finally:
        set_writable(parent, True)


TRAIN = [sys.executable, "-m", "nerkit", "train", str(QUICKSTART)]


def test_evaluate_in_a_loop_while_training_saves(tmp_path: Path):
    out = tmp_path / "run"
    # eval_frequency 1: model-last is replaced after every optimizer step (6 saves).
    args = cli_args(
        **{"training.eval_frequency": 1, "training.max_epochs": 1, "corpora.max_dev_records": 4}
    )
    proc = subprocess.Popen(
        [*TRAIN, "--output", str(out), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    target = out / "model-last"
    examples = None
    loads = 0
    try:
        while proc.poll() is None:
            if not (target / "meta.json").exists():
                time.sleep(0.05)
                continue
            nlp = nerkit.load(target, device="cpu")
            examples = examples or nlp.read(CORPUS / "dev.json")[:8]
            preds = nlp.predict_examples(examples)
            assert 0 <= score([ex.entities for ex in examples], preds, labels=nlp.labels)["f1"] <= 1
            loads += 1
    finally:
        log = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, log[-3000:]
    assert loads >= 2, log[-2000:]
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []
    nerkit.load(target, device="cpu")


def _as_format_1(model: Path, old: Path) -> None:
    """What nerkit 0.1.0 wrote: init-only arguments in [model], no "format" in meta.json."""
    from confection import Config

    shutil.copytree(model, old)
    cfg = Config().from_disk(old / "config.cfg", interpolate=False)
    data = {k: dict(v) for k, v in cfg.items()}
    data["model"]["encoder"] = {
        **data["model"]["encoder"],
        **data.pop("initialize")["model"]["encoder"],
    }
    Config(data).to_disk(old / "config.cfg")
    meta = json.loads((old / "meta.json").read_text(encoding="utf8"))
    del meta["format"]
    (old / "meta.json").write_text(json.dumps(meta), encoding="utf8")


def test_format_1_model_dir_is_refused_with_a_fix_then_converted(model_dir: Path, tmp_path: Path):
    from nerkit.errors import ModelLoadError
    from nerkit.models.convert import convert

    old = tmp_path / "model-v1"
    _as_format_1(model_dir, old)
    with pytest.raises(
        ModelLoadError, match=r"format 1 .*reads format 2.*python -m nerkit\.models\.convert"
    ):
        nerkit.load(old, device="cpu")
    before = tree_state(old)
    convert(old, tmp_path / "model-v2")
    assert tree_state(old) == before
    texts = ["患者右下腹疼痛三天", "无"]
    expected = nerkit.load(model_dir, device="cpu").pipe(texts)
    assert list(nerkit.load(tmp_path / "model-v2", device="cpu").pipe(texts)) == list(expected)
