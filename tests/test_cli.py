"""The remaining CLI commands, run end to end on the quickstart sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nerkit.cli.main import app

from .conftest import CORPUS, QUICKSTART, ROOT, cli_args, needs_shared

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli")
    logger = {"@loggers": "nerkit.DefaultLoggers.v1", "progress_bar": False}
    result = runner.invoke(
        app,
        ["train", str(QUICKSTART), "--output", str(out), *cli_args(**{"training.logger": logger})],
    )
    assert result.exit_code == 0, result.output
    return out


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    for cmd in ("train", "evaluate", "predict", "score", "debug", "registry", "visualize", "plot"):
        assert cmd in result.output


def test_score_perfect_and_json(tmp_path: Path):
    out = tmp_path / "m.json"
    result = runner.invoke(
        app, ["score", str(CORPUS / "dev.json"), str(CORPUS / "dev.json"), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    m = json.loads(out.read_text())
    assert m["precision"] == m["recall"] == m["f1"] == 1.0
    assert set(m["per_type"]) >= {"sym", "bod"}


def test_score_hand_computed(tmp_path: Path):
    gold = [
        {
            "text": "右下腹疼痛",
            "entities": [
                {"start_idx": 0, "end_idx": 4, "type": "sym", "entity": "右下腹疼痛"},
                {"start_idx": 0, "end_idx": 2, "type": "bod", "entity": "右下腹"},
            ],
        }
    ]
    pred = [
        {
            "text": "右下腹疼痛",
            "entities": [
                {"start_idx": 0, "end_idx": 4, "type": "sym"},
                {"start_idx": 0, "end_idx": 1, "type": "bod"},
                {"start_idx": 3, "end_idx": 4, "type": "sym"},
            ],
        }
    ]
    (tmp_path / "g.json").write_text(json.dumps(gold, ensure_ascii=False), encoding="utf8")
    (tmp_path / "p.json").write_text(json.dumps(pred, ensure_ascii=False), encoding="utf8")
    out = tmp_path / "m.json"
    result = runner.invoke(
        app, ["score", str(tmp_path / "g.json"), str(tmp_path / "p.json"), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    m = json.loads(out.read_text())
    assert m["precision"] == pytest.approx(1 / 3)
    assert m["recall"] == pytest.approx(1 / 2)
    assert m["f1"] == pytest.approx(0.4)


def test_score_reads_any_format(tmp_path: Path):
    """CoNLL gold against brat predictions, same records: hand-computed P = R = 1/3."""
    (tmp_path / "gold.conll").write_text(
        "右 B-bod\n腹 I-bod\n痛 B-sym\n\n发 B-sym\n热 I-sym\n", encoding="utf8"
    )
    # predictions: 右腹 bod (right), 痛 dis (wrong type); 发热 missed, 热 sym (wrong span)
    (tmp_path / "pred").mkdir()
    for name, text, ann in (
        ("a", "右腹痛", "T1\tbod 0 2\t右腹\nT2\tdis 2 3\t痛\n"),
        ("b", "发热", "T1\tsym 1 2\t热\n"),
    ):
        (tmp_path / "pred" / f"{name}.txt").write_text(text, encoding="utf8")
        (tmp_path / "pred" / f"{name}.ann").write_text(ann, encoding="utf8")
    out = tmp_path / "m.json"
    args = ["score", str(tmp_path / "gold.conll"), str(tmp_path / "pred"), "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    m = json.loads(out.read_text())
    assert (m["tp"], m["fp"], m["fn"]) == (1, 2, 2)
    assert m["precision"] == pytest.approx(1 / 3) and m["recall"] == pytest.approx(1 / 3)
    result = runner.invoke(app, [*args[:3], "--from", "cmeee"])  # forced format: one paragraph
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_score_mismatched_files(tmp_path: Path):
    (tmp_path / "p.json").write_text("[]", encoding="utf8")
    result = runner.invoke(app, ["score", str(CORPUS / "dev.json"), str(tmp_path / "p.json")])
    assert result.exit_code == 1
    assert "has 0 records" in result.output


def test_debug_data():
    result = runner.invoke(app, ["debug", "data", str(QUICKSTART)])
    assert result.exit_code == 0, result.output
    assert "== train" in result.output and "== dev" in result.output
    assert "sym>bod" in result.output
    assert "validation problems: 0" in result.output


def test_debug_vectors(tmp_path: Path):
    overrides = {
        "model.lexicon": {
            "@lexicons": "nerkit.Lexicon.v1",
            "cache_dir": str(tmp_path / "cache"),
            "segmenter": {"@segmenters": "nerkit.LexiconMatcher.v1"},
            "vectors": {"@vectors": "nerkit.Word2Vec.v1", "path": str(CORPUS / "vectors.txt")},
        }
    }
    args = []
    for k, v in overrides.items():
        args += [f"--{k}", json.dumps(v)]
    result = runner.invoke(app, ["debug", "vectors", str(QUICKSTART), *args])
    assert result.exit_code == 0, result.output
    assert "== train" in result.output


def test_registry_lists_every_kind():
    result = runner.invoke(app, ["registry"])
    assert result.exit_code == 0
    for kind in (
        "encoders",
        "segmenters",
        "vectors",
        "fusions",
        "decoders",
        "label_schemes",
        "readers",
        "writers",
        "adversarial",
        "averaging",
        "optimizers",
        "schedules",
        "loggers",
        "models",
    ):
        assert f"{kind} (" in result.output
    bad = runner.invoke(app, ["registry", "decoder"])
    assert bad.exit_code == 1 and "Did you mean 'decoders'?" in bad.output


def test_visualize_from_model_and_from_predictions(run_dir: Path, tmp_path: Path):
    page = tmp_path / "page.html"
    result = runner.invoke(
        app,
        [
            "visualize",
            str(run_dir / "model-best"),
            str(CORPUS / "dev.json"),
            "--gold",
            str(CORPUS / "dev.json"),
            "--limit",
            "5",
            "-o",
            str(page),
        ],
    )
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf8")
    assert html.count('class="rec"') == 5 or html.count('class="rec"') >= 5
    page2 = tmp_path / "page2.html"
    result = runner.invoke(
        app, ["visualize", str(CORPUS / "dev.json"), str(CORPUS / "dev.json"), "-o", str(page2)]
    )
    assert result.exit_code == 0, result.output
    gold = json.loads((CORPUS / "dev.json").read_text(encoding="utf8"))
    assert page2.read_text(encoding="utf8").count("data-label=") >= sum(
        len(r["entities"]) for r in gold
    )


def test_plot_from_training_log(run_dir: Path, tmp_path: Path):
    assert (run_dir / "log.jsonl").exists()
    png = tmp_path / "curves.png"
    result = runner.invoke(app, ["plot", str(run_dir), "-o", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_predict_cmeee_test_file(run_dir: Path, tmp_path: Path, shared_data: Path):
    src = needs_shared("cmeee/CMeEE_test.json")
    out = tmp_path / "CMeEE_test.json"
    args = [
        "predict",
        str(run_dir / "model-best"),
        str(src),
        "-o",
        str(out),
        "--device",
        "cpu",
        "--max-tokens",
        "4096",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    records = json.loads(out.read_text(encoding="utf8"))
    inputs = json.loads(src.read_text(encoding="utf8"))
    assert len(records) == len(inputs) == 3000
    assert [r["text"] for r in records] == [r["text"] for r in inputs]
    for r in records:
        for e in r["entities"]:
            assert 0 <= e["start_idx"] <= e["end_idx"] < len(r["text"])
            assert e["type"] in {"dis", "sym", "pro", "equ", "dru", "ite", "bod", "dep", "mic"}


def test_readme_commands_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf8")
    assert "nerkit train configs/quickstart.cfg --output runs/q" in readme
    assert "python -m pytest tests" in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf8")
    assert "\npython -m pytest tests\n" in ci


def test_readme_torch_install_is_the_cpu_wheel_index_and_ci_uses_it():
    """Issue 13 (3): from PyPI a bare torch==2.13.0 is the CUDA build; the README's command names the
    PyTorch CPU index, .ci/run installs the same and refuses any CUDA build."""
    import re

    cpu = "https://download.pytorch.org/whl/cpu"
    readme = (ROOT / "README.md").read_text(encoding="utf8")
    assert f"pip install torch==2.13.0 --index-url {cpu} && pip install -e" in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf8")
    install = re.search(r"^pip install .*torch==2\.13\.0.*$", ci, re.M).group(0)
    assert (
        f"--index-url {cpu}" in install and "--retries 1" in install and "--timeout 15" in install
    )
    assert "torch.version.cuda is not None or nvidia" in ci and ci.index(install) < ci.index(
        "pip install -q -e"
    )
    assert ci.rstrip().endswith(".ci/no-shared")  # the tests that read ../shared, without it


def test_readme_commands_write_only_ignored_files():
    """The README's and getting-started's example commands write their outputs where git ignores them."""
    import re
    import subprocess

    if subprocess.run(["git", "-C", str(ROOT), "rev-parse"], capture_output=True).returncode:
        pytest.skip("not a git checkout")
    outputs = []
    for doc in (ROOT / "README.md", ROOT / "docs" / "getting-started.md"):
        for line in doc.read_text(encoding="utf8").splitlines():
            if line.startswith("nerkit "):
                outputs += re.findall(r"(?:-o|--output)\s+(\S+)", line)
    assert len(outputs) >= 8, outputs
    ignored = subprocess.run(
        ["git", "-C", str(ROOT), "check-ignore", "--no-index", *outputs],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert sorted(ignored) == sorted(outputs), f"not ignored by git: {set(outputs) - set(ignored)}"


@pytest.mark.parametrize("cwd", [".", "projects/cmeee", "/"])
def test_documented_debug_data_on_best_cfg_names_the_real_asset_path(cwd, monkeypatch):
    """docs/getting-started.md runs `nerkit debug data configs/best.cfg` from the repository root:
    whatever the working directory, the missing CMeEE file is named where it belongs
    (projects/cmeee/assets/), as one clear message, not a traceback."""
    if (ROOT / "projects" / "cmeee" / "assets" / "cmeee" / "CMeEE_train.json").exists():
        pytest.skip("the CMeEE assets are in place here: nothing is missing")
    monkeypatch.chdir(ROOT / cwd)
    config = "configs/best.cfg" if cwd == "." else str(ROOT / "configs" / "best.cfg")
    assert (
        f"nerkit debug data {config}" in (ROOT / "docs" / "getting-started.md").read_text("utf8")
        or cwd != "."
    )
    result = runner.invoke(app, ["debug", "data", config])
    assert result.exit_code == 1, result.output
    assert (
        str(ROOT / "projects" / "cmeee" / "assets" / "cmeee" / "CMeEE_train.json") in result.output
    )
    assert "Traceback" not in result.output
