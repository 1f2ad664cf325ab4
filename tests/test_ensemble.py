"""nerkit ensemble: span-level voting (hand-computed), score averaging, and an ensemble
directory of two quickstart-size models that loads, evaluates, predicts and serves."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

import nerkit
from nerkit.cli.main import app
from nerkit.ensemble import EnsemblePipeline, vote, write_ensemble
from nerkit.errors import ConfigError
from nerkit.spans import SpanArrays
from nerkit.types import Entity

from .conftest import CORPUS, fast_config
from .test_readonly import tree_state

runner = CliRunner()


def _spans(per_seq, labels):
    return SpanArrays.from_entities([[(Entity(*e), s) for e, s in seq] for seq in per_seq], labels)


def test_vote_keeps_spans_with_enough_votes_and_averages_their_scores():
    # Two texts; three models, the third with its labels in another order.
    a = _spans(
        [[((0, 1, "dis"), 0.9), ((3, 4, "sym"), 0.6)], [((2, 2, "dru"), 0.5)]],
        ("dis", "sym", "dru"),
    )
    b = _spans([[((0, 1, "dis"), 0.7), ((3, 4, "dis"), 0.8)], []], ("dis", "sym", "dru"))
    c = _spans(
        [[((0, 1, "dis"), 0.5), ((3, 4, "sym"), 0.9)], [((2, 2, "dru"), 0.4)]],
        ("dru", "sym", "dis"),
    )
    labels = ("dis", "sym", "dru")
    majority = vote([a, b, c], labels, 2).entities()
    # (0,1,dis): 3 votes, (0.9 + 0.7 + 0.5) / 3; (3,4,sym): a and c, (0.6 + 0.9) / 3;
    # (3,4,dis): b alone, dropped; (2,2,dru) in text 1: a and c, (0.5 + 0.4) / 3.
    assert [[(tuple(e), round(s, 9)) for e, s in seq] for seq in majority] == [
        [((0, 1, "dis"), 0.7), ((3, 4, "sym"), 0.5)],
        [((2, 2, "dru"), 0.3)],
    ]
    everyone = vote([a, b, c], labels, 3).entities()
    assert [[tuple(e) for e, _ in seq] for seq in everyone] == [[(0, 1, "dis")], []]
    union = vote([a, b, c], labels, 1).entities()
    assert [[tuple(e) for e, _ in seq] for seq in union] == [
        [(0, 1, "dis"), (3, 4, "dis"), (3, 4, "sym")],
        [(2, 2, "dru")],
    ]
    empty = vote([SpanArrays.empty(2, labels)] * 2, labels, 1)
    assert len(empty) == 0 and empty.size == 2


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory):
    from nerkit.training.loop import Trainer

    out = []
    for seed in (13, 14):
        d = tmp_path_factory.mktemp(f"seed{seed}")
        cfg = fast_config(
            **{"system.seed": seed, "training.max_epochs": 3, "corpora.max_train_records": 64}
        )
        Trainer(cfg, d).run()
        out.append(d / "model-best")
    return out


def _predictions(nlp, texts):
    return [
        [(s.start, s.end, s.type, round(s.score, 6)) for s in spans] for spans in nlp.pipe(texts)
    ]


def _texts():
    return [r["text"] for r in json.loads((CORPUS / "dev.json").read_text(encoding="utf8"))[:24]]


def test_an_ensemble_of_one_model_twice_predicts_like_the_model(two_seeds, tmp_path):
    single = nerkit.load(two_seeds[0], device="cpu")
    texts = _texts()
    want = _predictions(single, texts)
    for method in ("vote", "average"):
        write_ensemble([two_seeds[0], two_seeds[0]], tmp_path / method, method=method)
        ens = nerkit.load(tmp_path / method, device="cpu")
        assert isinstance(ens, EnsemblePipeline) and ens.method == method
        got = _predictions(ens, texts)
        if method == "vote":  # both vote for each entity; score = (s + s) / 2
            assert got == want
        else:  # averaged identical scores decode to the same spans (up to float rounding)
            assert [[x[:3] for x in seq] for seq in got] == [[x[:3] for x in seq] for seq in want]


def test_ensemble_of_two_seeds_evaluates_predicts_and_serves(two_seeds, tmp_path):
    from fastapi.testclient import TestClient

    from nerkit.serve.app import create_app

    out = tmp_path / "ens"
    result = runner.invoke(
        app, ["ensemble", *map(str, two_seeds), "--output", str(out), "--min-votes", "1"]
    )
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "meta.json").read_text())
    assert meta["backend"] == "ensemble" and meta["min_votes"] == 1 and len(meta["members"]) == 2
    assert [m["meta"]["scores"] for m in meta["members"]] == [
        json.loads((d / "meta.json").read_text())["scores"] for d in two_seeds
    ]
    assert not (out / "members" / "00" / "training_state").exists()
    before = tree_state(out)

    metrics = tmp_path / "metrics.json"
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(out),
            str(CORPUS / "dev.json"),
            "--output",
            str(metrics),
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    # the union of the two seeds (min_votes 1) finds every entity either finds
    members = [nerkit.load(d, device="cpu") for d in two_seeds]
    texts = _texts()
    ens = nerkit.load(out, device="cpu")
    for i, spans in enumerate(ens.pipe(texts)):
        union = {(s.start, s.end, s.type) for m in members for s in next(m.pipe([texts[i]]))}
        assert {(s.start, s.end, s.type) for s in spans} == union
    assert set(json.loads(metrics.read_text())) >= {"precision", "recall", "f1", "per_type"}

    pred = tmp_path / "pred.json"
    result = runner.invoke(
        app,
        ["predict", str(out), str(CORPUS / "test.json"), "--output", str(pred), "--device", "cpu"],
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads(pred.read_text())) == len(json.loads((CORPUS / "test.json").read_text()))

    with TestClient(create_app(ens, max_batch_size=4, max_wait_ms=1)) as client:
        info = client.get("/v1/model").json()
        got = client.post("/v1/ner", json={"texts": texts[:5]}).json()["results"]
    assert info["backend"] == "ensemble" and info["labels"] == list(ens.labels)
    want = [[[s.start, s.end, s.type] for s in spans] for spans in ens.pipe(texts[:5])]
    assert [[[s["start"], s["end"], s["type"]] for s in r["spans"]] for r in got] == want
    page = tmp_path / "page.html"
    result = runner.invoke(
        app,
        ["visualize", str(out), str(CORPUS / "dev.json"), "--output", str(page), "--limit", "3"],
    )
    assert result.exit_code == 0, result.output
    assert tree_state(out) == before  # loading and using the ensemble wrote nothing


def test_ensemble_refuses_models_with_other_labels(two_seeds, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(two_seeds[1], other)
    meta = json.loads((other / "meta.json").read_text())
    meta["labels"] = [x for x in meta["labels"] if x != "mic"] + ["xyz"]
    (other / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match=r"has xyz and lacks mic"):
        write_ensemble([two_seeds[0], other], tmp_path / "e")
    result = runner.invoke(
        app, ["ensemble", str(two_seeds[0]), str(other), "--output", str(tmp_path / "e")]
    )
    assert (
        result.exit_code == 1
        and "different labels" in result.output
        and "Traceback" not in result.output
    )
    assert not (tmp_path / "e").exists()
    with pytest.raises(ConfigError, match="min-votes"):
        write_ensemble(two_seeds, tmp_path / "f", min_votes=3)


def test_average_needs_one_architecture(two_seeds, tmp_path):
    other = tmp_path / "crf"
    shutil.copytree(two_seeds[1], other)
    cfg = (
        (other / "config.cfg")
        .read_text()
        .replace("nerkit.LinearDecoder.v1", "nerkit.CRFDecoder.v1")
    )
    (other / "config.cfg").write_text(cfg)
    with pytest.raises(ConfigError, match="one decoder kind"):
        write_ensemble([two_seeds[0], other], tmp_path / "e", method="average")


def test_export_of_an_ensemble_says_to_export_a_member(two_seeds, tmp_path):
    out = tmp_path / "ens"
    write_ensemble(two_seeds, out)
    result = runner.invoke(app, ["export", str(out), "--output", str(tmp_path / "onnx")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert "is an ensemble" in text and "members" in text and "00" in text
    assert not (tmp_path / "onnx").exists()
