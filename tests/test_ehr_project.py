"""projects/ehr_conll end to end: a CoNLL corpus with Chinese label names, a config
that lists no labels; train, evaluate, predict, convert the predictions, read them back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nerkit.cli.main import app
from nerkit.data import formats

from .conftest import ROOT, TINY_BERT

runner = CliRunner()
PROJECT = ROOT / "projects" / "ehr_conll"
CONFIG = PROJECT / "ehr.cfg"
LABELS = ["实验室检验", "影像检查", "手术", "疾病和诊断", "药物", "解剖部位"]  # sorted, as learned
FAST = [
    "--paths.train", str(PROJECT / "corpus" / "train.conll"),
    "--paths.dev", str(PROJECT / "corpus" / "dev.conll"),
    "--paths.test", str(PROJECT / "corpus" / "test.conll"),
    "--paths.encoder", str(TINY_BERT),
    "--corpora.max_train_records", "32",
    "--corpora.max_dev_records", "12",
    "--training.max_epochs", "0",
    "--training.max_steps", "4",
    "--training.batch_size", "8",
    "--training.logger", '{"@loggers": "nerkit.ConsoleLogger.v1", "progress_bar": false}',
    "--system.device", "cpu",
]  # fmt: skip


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ehr")
    result = runner.invoke(app, ["train", str(CONFIG), "--output", str(out), *FAST])
    assert result.exit_code == 0, result.output
    return out / "model-best"


def test_generator_reproduces_the_committed_corpus(tmp_path: Path):
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, str(PROJECT / "make_corpus.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for split in ("train", "dev", "test"):
        assert (tmp_path / f"{split}.conll").read_bytes() == (
            PROJECT / "corpus" / f"{split}.conll"
        ).read_bytes()


def test_config_lists_no_labels():
    assert "labels" not in CONFIG.read_text(encoding="utf8").split("[model]")[1]


def test_model_directory_records_the_learned_labels(model_dir: Path):
    meta = json.loads((model_dir / "meta.json").read_text(encoding="utf8"))
    assert meta["labels"] == LABELS and meta["labels_learned"] is True
    assert set(meta["label_counts"]) == set(LABELS)
    assert meta["tags"][0] == ["O"] + [f"{p}-{lab}" for lab in LABELS for p in "BI"]
    from confection import Config

    saved = Config().from_disk(model_dir / "config.cfg", interpolate=False)
    assert saved["model"]["decoder"]["scheme"]["labels"] == LABELS
    import nerkit

    nlp = nerkit.load(model_dir, device="cpu")
    assert nlp.labels == tuple(LABELS)


def test_evaluate_predict_convert_and_read_back(model_dir: Path, tmp_path: Path):
    test_file = PROJECT / "corpus" / "test.conll"
    result = runner.invoke(app, ["evaluate", str(model_dir), str(test_file), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "疾病和诊断" in result.output
    from nerkit.scoring import _width

    table = [ln for ln in result.output.splitlines() if ln.strip() and not ln.startswith("-")]
    assert len({_width(ln) for ln in table}) == 1  # Chinese labels keep the columns aligned

    pred = tmp_path / "pred.jsonl"
    result = runner.invoke(
        app, ["predict", str(model_dir), str(test_file), "-o", str(pred), "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    gold = formats.read(test_file)
    back = formats.read(pred)  # doccano JSONL, detected from the content
    assert [(ex.id, ex.text) for ex in back] == [
        (ex.id, ex.text) for ex in gold
    ]  # every note, ids kept
    assert {e.label for ex in back for e in ex.entities} <= set(LABELS)

    brat, doccano = tmp_path / "brat", tmp_path / "pred.entities.jsonl"
    for target, extra in ((brat, []), (doccano, ["--to", "doccano", "-w", "style=entities"])):
        result = runner.invoke(app, ["convert", str(pred), str(target), *extra])
        assert result.exit_code == 0, result.output
    page = tmp_path / "v.html"
    result = runner.invoke(
        app, ["visualize", str(brat), str(test_file), "--gold", str(test_file), "-o", str(page)]
    )
    assert result.exit_code == 0, result.output
    assert "疾病和诊断" in page.read_text(encoding="utf8")
    from_brat = {ex.id: ex for ex in formats.read(brat)}
    from_doccano = formats.read(doccano)
    for ex, dc in zip(back, from_doccano, strict=True):
        assert (dc.id, dc.text, sorted(dc.entities)) == (ex.id, ex.text, sorted(ex.entities))
        assert (from_brat[ex.id].text, sorted(from_brat[ex.id].entities)) == (
            ex.text,
            sorted(ex.entities),
        )


def test_evaluate_warns_about_labels_the_model_lacks(model_dir: Path, tmp_path: Path):
    other = tmp_path / "other.conll"
    other.write_text("# id = x\n头 B-症状\n痛 I-症状\n\n", encoding="utf8")
    result = runner.invoke(app, ["evaluate", str(model_dir), str(other), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "1 entities with labels the model was not trained on (症状 1)" in result.output


def test_train_rejects_dev_labels_not_in_train(tmp_path: Path):
    dev = tmp_path / "dev.conll"
    dev.write_text("头 B-症状\n痛 I-症状\n\n", encoding="utf8")
    args = ["train", str(CONFIG), *FAST, "--paths.dev", str(dev)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert (
        "paths.dev: 1 entities have labels the model is not trained on ('症状' 1" in result.output
    )
    assert "allow_unseen_labels" in result.output


def test_convert_reports_what_one_tag_layer_drops(tmp_path: Path):
    src = tmp_path / "nested.jsonl"
    src.write_text(
        json.dumps(
            {"id": 1, "text": "右下腹疼痛", "label": [[0, 3, "部位"], [0, 5, "症状"]]},
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf8",
    )
    out = tmp_path / "flat.bioes"
    result = runner.invoke(app, ["convert", str(src), str(out)])
    assert result.exit_code == 0, result.output
    assert (
        "1 entities dropped: overlaps a longer or earlier entity; CoNLL holds one tag layer"
        in result.output
    )
    assert out.read_text(encoding="utf8").split("\n")[1:3] == ["右 B-症状", "下 I-症状"]
    bad = runner.invoke(app, ["convert", str(src), str(tmp_path / "x.conll"), "-w", "nonsense=1"])
    assert bad.exit_code == 1 and "nonsense" in bad.output


def test_debug_data_on_the_conll_corpus():
    result = runner.invoke(app, ["debug", "data", str(CONFIG), *FAST[:8]])
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"labels (learned from train, as `nerkit train` does): {LABELS}" in out
    assert "entities per type     药物 415, 解剖部位 320" in out
    assert "scheme ceiling        100.00% (1492/1492)" in out
    assert "longest records       #107 (note-0107) 428" in out
    assert "1.58% unknown (4 of 236 distinct; most frequent: 带 82, 拟 74, 硫 27, 亚 27)" in out
    assert out.count("labels not in train   0: -") == 2  # dev and test


def test_a_brat_folder_is_a_valid_corpus_path(tmp_path: Path):
    from nerkit.assets import missing_assets
    from nerkit.config import load_config

    formats.write(tmp_path / "brat", formats.read(PROJECT / "corpus" / "dev.conll"), "brat")
    overrides = {"paths.train": str(tmp_path / "brat"), "paths.dev": str(tmp_path / "brat")}
    brat = load_config(CONFIG, {**overrides, "corpora.reader": {"@readers": "nerkit.Brat.v1"}})
    assert [p for ref, p in missing_assets(brat, ("corpora",))] == []
    conll = load_config(CONFIG, overrides)  # a file reader given a folder: named as a problem
    assert [p for ref, p in missing_assets(conll, ("corpora",))][0].startswith("is a directory")
