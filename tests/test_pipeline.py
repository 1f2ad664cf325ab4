"""The Python API: load-then-predict equals the trained model, pipe keeps order."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import nerkit
from nerkit.models.prediction import predict, predict_spans
from nerkit.pipeline import Span
from nerkit.training.loop import Trainer
from nerkit.types import Example

from .conftest import CORPUS, TINY_BERT, fast_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("pipe")
    trainer = Trainer(
        fast_config(**{"training.max_epochs": 3, "corpora.max_train_records": 96}), out
    )
    trainer.run()
    return trainer, out


def test_model_files_honour_the_umask(trained):
    """safetensors writes its files 0600; a model directory's files get the usual mode."""
    from nerkit.util import file_mode

    _, out = trained
    files = [p for p in (out / "model-best").rglob("*") if p.is_file()]
    assert any(p.suffix == ".safetensors" for p in files)
    assert {p.relative_to(out): p.stat().st_mode & 0o777 for p in files} == {
        p.relative_to(out): file_mode() for p in files
    }


def test_load_then_predict_equals_training_model(trained):
    trainer, out = trained
    examples = [Example(ex.text, index=i) for i, ex in enumerate(trainer.dev_examples)]
    before = predict(trainer.model, examples, batch_size=7)
    nlp = nerkit.load(out / "model-last", device="cpu")
    after = predict(nlp.model, examples, batch_size=16)
    assert [[e for e, _ in p] for p in after] == [[e for e, _ in p] for p in before]
    for p, q in zip(before, after, strict=True):
        assert [s for _, s in p] == pytest.approx([s for _, s in q], abs=1e-6)
    for a, b in zip(
        trainer.model.state_dict().values(), nlp.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a.cpu(), b)


def test_call_returns_spans_with_text_and_score(trained):
    _, out = trained
    nlp = nerkit.load(out / "model-last", device="cpu")
    text = "患者右下腹疼痛三天，伴恶心呕吐。"
    spans = nlp(text)
    assert isinstance(spans, list)
    for s in spans:
        assert isinstance(s, Span)
        assert s.text == text[s.start : s.end + 1]
        assert s.type in nlp.labels
        assert 0.0 <= s.score <= 1.0


def test_pipe_preserves_order_and_covers_long_texts(trained):
    _, out = trained
    nlp = nerkit.load(out / "model-last", device="cpu")
    import json

    records = json.loads((CORPUS / "dev.json").read_text(encoding="utf8"))
    texts = [r["text"] for r in records][:40]
    long_text = "".join(texts)  # far longer than the 126-character windows
    texts = texts[::-1] + [long_text, "", "a"][:2] + ["糖尿病"]
    texts = [t for t in texts if t]
    streamed = list(nlp.pipe(iter(texts), batch_size=5, buffer=7))
    single = [nlp(t) for t in texts]
    assert len(streamed) == len(texts)
    assert [[(s.start, s.end, s.type) for s in r] for r in streamed] == [
        [(s.start, s.end, s.type) for s in r] for r in single
    ]
    for t, spans in zip(texts, streamed, strict=True):
        for s in spans:
            assert 0 <= s.start <= s.end < len(t)


def test_load_missing_dir_is_clear(tmp_path: Path):
    from nerkit.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="Model directory not found"):
        nerkit.load(tmp_path / "nope")


def test_long_text_merge_equals_reference_over_single_windows(trained):
    """The model's vectorised merge = each window decoded alone + the reference rule."""
    from nerkit.spans import SpanArrays

    from .test_windows import reference_merge

    _, out = trained
    model = nerkit.load(out / "model-last", device="cpu").model
    records = __import__("json").loads((CORPUS / "dev.json").read_text(encoding="utf8"))
    texts = ["".join(r["text"] for r in records[i : i + 12]) for i in (0, 12, 24)]
    feats = model.featurize([Example(t, index=i) for i, t in enumerate(texts)])
    assert sum(f.record == 0 for f in feats) > 2
    expected = []
    for r in range(len(texts)):
        mine = [f for f in feats if f.record == r]
        per_window = [model.decode(model.collate([f])).entities()[0] for f in mine]
        expected.append(reference_merge([(f.start, f.end) for f in mine], per_window))
    got = predict(model, [Example(t, index=i) for i, t in enumerate(texts)], batch_size=3)
    assert [[e for e, _ in p] for p in got] == [[e for e, _ in p] for p in expected]
    for p, q in zip(got, expected, strict=True):
        assert [s for _, s in p] == pytest.approx([s for _, s in q], abs=1e-5)
    assert sum(map(len, got)) > 20
    assert isinstance(predict_spans(model, [Example(texts[0])]), SpanArrays)


def test_predict_restores_the_training_mode(trained):
    trainer, _ = trained
    model = trainer.model
    model.train()
    predict(model, [Example("患者头痛")])
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    predict(model, [Example("患者头痛")])
    assert not any(m.training for m in model.modules())


def test_inference_benchmark_runs_and_agrees(trained):
    """benchmarks/bench_inference.py on the sample: pipe and the loop give the same entities."""
    import subprocess
    import sys

    _, out = trained
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_inference.py"
    args = [
        str(out / "model-last"),
        "--data",
        str(CORPUS / "dev.json"),
        "--limit",
        "30",
        "--repeat",
        "1",
    ]
    res = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr
    assert "same entities: True; records out: 30 (in: 30)" in res.stdout
    assert "| nlp.pipe (batch 128) |" in res.stdout


def test_base_model_script_writes_a_loadable_model(tmp_path):
    """benchmarks/base_model.py (shrunk here): a model dir with a given vocabulary that loads and predicts.

    The script's default vocabulary is the real one in ../shared; this passes the quickstart's
    (a fresh clone has no ../shared), and checks the clear error when the vocabulary is missing."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "base_model.py"
    dest = tmp_path / "base"
    vocab = TINY_BERT / "vocab.txt"
    args = [str(dest), "--layers", "1", "--hidden", "64", "--max-length", "64"]
    missing = subprocess.run(
        [sys.executable, str(script), *args, "--vocab", str(tmp_path / "none.txt")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (
        missing.returncode == 1
        and "Vocabulary not found" in missing.stderr
        and "--vocab" in missing.stderr
    )
    assert not dest.exists()
    res = subprocess.run(
        [sys.executable, str(script), *args, "--vocab", str(vocab)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "1 layers, width 64" in res.stdout
    nlp = nerkit.load(dest, device="cpu")
    assert (
        nlp.model.encoder.transformer.config.vocab_size
        == len(vocab.read_text("utf8").splitlines())
        == 716
    )
    text = "患者头痛" * 40  # 160 characters: three windows of 62
    spans = nlp(text)
    assert all(
        0 <= s.start <= s.end < len(text) and s.text == text[s.start : s.end + 1] for s in spans
    )


def test_sorted_batches_respect_both_caps():
    from nerkit.models.batching import sorted_batches

    sizes = [3, 3, 4, 10, 10, 10, 30, 50]
    order = list(range(len(sizes)))
    assert sorted_batches(order, sizes, 3) == [[0, 1, 2], [3, 4, 5], [6, 7]]
    # 20 positions: 3+3+4 fits (3 x 4 = 12), two 10s fit, the 30 and 50 are alone
    assert sorted_batches(order, sizes, 3, max_tokens=20) == [[0, 1, 2], [3, 4], [5], [6], [7]]
    assert sorted_batches(order, sizes, 2, max_tokens=1000) == [[0, 1], [2, 3], [4, 5], [6, 7]]
    with pytest.raises(ValueError, match="max_tokens must be at least 1"):
        sorted_batches(order, sizes, 3, max_tokens=0)


def test_pipe_with_a_token_cap_gives_the_same_entities(trained):
    _, out = trained
    nlp = nerkit.load(out / "model-last", device="cpu")
    records = __import__("json").loads((CORPUS / "dev.json").read_text(encoding="utf8"))
    texts = [r["text"] for r in records][:30] + ["".join(r["text"] for r in records[:10])]
    calls = []
    forward = nlp.model.forward
    nlp.model.forward = lambda batch: calls.append(batch.input_ids.numel()) or forward(batch)
    capped = list(nlp.pipe(texts, batch_size=64, max_tokens=200))
    assert max(calls) <= 200 and len(calls) > 3
    nlp.model.forward = forward
    plain = list(nlp.pipe(texts, batch_size=64))
    assert [[s[:4] for s in r] for r in capped] == [[s[:4] for s in r] for r in plain]
    for a, b in zip(capped, plain, strict=True):  # other padding: float sums may differ slightly
        assert [s.score for s in a] == pytest.approx([s.score for s in b], abs=1e-5)
