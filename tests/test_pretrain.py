"""`nerkit pretrain` and `nerkit vectors`: masking, streaming, exact resume, the Hugging Face
round trip, the vectors file, and one message per bad input."""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from nerkit.cli.main import app
from nerkit.config import load_config
from nerkit.data.text import iter_documents, iter_windows
from nerkit.errors import ConfigError, DataError
from nerkit.lexicon.matcher import lexicon_matcher
from nerkit.training.masking import IGNORE, MaskVocab, char_masker, whole_word_masker, word_units
from nerkit.training.pretrain import Pretrainer, pretrain, shuffled
from nerkit.training.pretrain_config import pretrain_run

from .conftest import CORPUS, ROOT, TINY_BERT

runner = CliRunner()
CONFIG = ROOT / "configs" / "pretrain-quickstart.cfg"
LOGGER = {"@loggers": "nerkit.ConsoleLogger.v1", "progress_bar": False}


def _texts(n: int = 0) -> list:
    records = json.loads((CORPUS / "train.json").read_text(encoding="utf8"))
    return [r["text"] for r in records[: n or None]]


@pytest.fixture(scope="module")
def text_files(tmp_path_factory) -> tuple:
    root = tmp_path_factory.mktemp("text")
    train, dev = root / "train.txt", root / "dev.txt"
    texts = _texts(60)
    train.write_text("\n".join(texts[:48]) + "\n\n", encoding="utf8")  # a blank line is skipped
    dev.write_text("\n".join(texts[48:]) + "\n", encoding="utf8")
    return train, dev


def _overrides(text_files, **extra) -> dict:
    train, dev = text_files
    values = {
        "pretraining.train": str(train),
        "pretraining.dev": str(dev),
        "pretraining.shuffle_buffer": 16,
        "training.batch_size": 8,
        "training.max_steps": 6,
        "training.eval_frequency": 3,
        "training.log_every": 0,
        "training.logger": LOGGER,
        "system.device": "cpu",
    }
    values.update(extra)
    return values


def _cfg(text_files, **extra):
    return load_config(CONFIG, _overrides(text_files, **extra))


# ---------------------------------------------------------------------------
# masking
# ---------------------------------------------------------------------------

VOCAB = MaskVocab.build(100, 5, [0, 1, 2, 3, 4, 5])


def test_word_units_take_the_longest_word_from_the_left():
    # words (end inclusive): 0-1, 0-2 (longer, same start), 2-3 (overlaps 0-2), 5-6
    words = [("ab", 0, 1), ("abc", 0, 2), ("cd", 2, 3), ("fg", 5, 6)]
    assert word_units(8, words) == [(0, 3), (3, 4), (4, 5), (5, 7), (7, 8)]
    assert word_units(3, []) == [(0, 1), (1, 2), (2, 3)]


def test_whole_words_are_masked_together_at_the_rate():
    matcher = lexicon_matcher(str(CORPUS / "lexicon.txt"))
    masker = whole_word_masker(matcher, rate=0.15)
    rng = np.random.default_rng(0)
    chosen = total = words_masked = 0
    for text in _texts(300):
        ids = rng.integers(6, 100, len(text))
        _, labels = masker(text, ids, VOCAB, rng)
        hit = labels != IGNORE
        assert np.array_equal(labels[hit], ids[hit])
        for start, end in masker.units(text):
            assert hit[start:end].all() or not hit[start:end].any(), (text, start, end)
            words_masked += end - start > 1 and bool(hit[start])
        chosen += int(hit.sum())
        total += len(text)
    assert words_masked > 100  # multi-character words were masked, each whole
    assert chosen / total == pytest.approx(0.15, abs=0.01)


@pytest.mark.parametrize("rate", [0.15, 0.3])
def test_char_masking_rate_and_the_80_10_10_rule(rate: float):
    masker = char_masker(rate=rate, mask_ratio=0.8, random_ratio=0.1)
    rng = np.random.default_rng(1)
    counts = {"mask": 0, "random": 0, "kept": 0}
    chosen = total = 0
    for _ in range(400):
        ids = rng.integers(6, 100, 100)
        out, labels = masker("x" * 100, ids, VOCAB, rng)
        hit = labels != IGNORE
        assert int(hit.sum()) == round(100 * rate)  # the budget, exactly, with single characters
        assert np.array_equal(out[~hit], ids[~hit])  # nothing else changes
        counts["mask"] += int((out[hit] == 5).sum())
        counts["kept"] += int((out[hit] == ids[hit]).sum())
        counts["random"] += int(((out[hit] != 5) & (out[hit] != ids[hit])).sum())
        assert not np.isin(out[hit & (out != 5)], [0, 1, 2, 3, 4]).any()  # never a special token
        chosen += int(hit.sum())
        total += 100
    assert chosen / total == pytest.approx(rate)
    # a random token equals the original 1 time in 94 (ids 6..99): counted as kept
    assert counts["mask"] / chosen == pytest.approx(0.8, abs=0.015)
    assert counts["random"] / chosen == pytest.approx(0.1 * 93 / 94, abs=0.01)
    assert counts["kept"] / chosen == pytest.approx(0.1 + 0.1 / 94, abs=0.01)


def test_masking_settings_are_checked():
    with pytest.raises(ConfigError, match="rate"):
        char_masker(rate=0.0)
    with pytest.raises(ConfigError, match="add up to at most 1"):
        char_masker(mask_ratio=0.9, random_ratio=0.2)
    with pytest.raises(ConfigError, match="needs a segmenter"):
        whole_word_masker(None)


# ---------------------------------------------------------------------------
# streaming
# ---------------------------------------------------------------------------


def test_text_is_read_as_a_stream(tmp_path: Path):
    path = tmp_path / "t.txt"
    # two documents, then a line that is not UTF-8: the documents come before the error
    path.write_bytes("第一篇\n\n第二篇很长很长\n".encode() + "第三".encode("gb18030") + b"\n")
    docs = iter_documents([str(path)], "text", 1000)
    assert inspect.isgenerator(docs)
    assert next(docs).text == "第一篇"
    assert next(docs).line == 3
    with pytest.raises(DataError, match="line 4: not UTF-8"):
        next(docs)
    windows = iter_windows([str(path)], "text", 1000, 4, 1)
    assert inspect.isgenerator(windows)
    assert [next(windows) for _ in range(3)] == ["第一篇", "第二篇很", "很长很长"]
    with pytest.raises(DataError, match="line 4: not UTF-8"):
        next(windows)


def test_windows_cut_documents_as_training_does(tmp_path: Path):
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"text": "abcdefghij", "id": 1}) + "\n", encoding="utf8")
    # split_windows(10, 4, 1): starts 0, 3, 6 (the last moved to end at 10)
    assert list(iter_windows([str(path)], "text", 100, 4, 1)) == ["abcd", "defg", "ghij"]
    # a corpus in another format: its texts, labels ignored
    first = json.loads((CORPUS / "dev.json").read_text(encoding="utf8"))[0]["text"]
    assert next(iter_documents([str(CORPUS / "dev.json")], "text", 10**6)).text == first


def test_shuffle_buffer_is_a_permutation():
    items = [str(i) for i in range(50)]
    out = list(shuffled(iter(items), 8, np.random.default_rng(0)))
    assert sorted(out, key=int) == items and out != items
    assert out == list(shuffled(iter(items), 8, np.random.default_rng(0)))


# ---------------------------------------------------------------------------
# runs
# ---------------------------------------------------------------------------


def test_resume_equals_uninterrupted(tmp_path: Path, text_files):
    extra = {
        "training.accumulate_gradient": 2,
        "training.max_steps": 0,
        "training.max_epochs": 2,
        "training.eval_frequency": 0,  # each epoch's end
    }
    full = pretrain(_cfg(text_files, **extra), tmp_path / "full")
    windows = len(list(iter_windows([str(text_files[0])], "text", 10**6, 126, 32)))
    per_epoch = math.ceil(math.ceil(windows / 8) / 2)  # batches of 8, 2 a step
    assert full.steps == 2 * per_epoch == 8
    # evaluations at steps 4 and 8; killed at 6, resumed from 4 (saved at epoch 0's end: the
    # rest of epoch 0 is empty and not evaluated again), epoch 1 replayed with its masks
    with pytest.raises(KeyboardInterrupt):
        pretrain(_cfg(text_files, **extra), tmp_path / "cut", stop_after_steps=6)
    resumed = pretrain(_cfg(text_files, **extra), tmp_path / "cut", resume=tmp_path / "cut")
    assert resumed.steps == full.steps
    assert [r["step"] for r in full.history] == [4, 8]
    assert [r["dev_loss"] for r in resumed.history] == [r["dev_loss"] for r in full.history]
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in full.history]
    for name in ("model-last", "model-best"):
        a = load_file(str(tmp_path / "full" / name / "model.safetensors"))
        b = load_file(str(tmp_path / "cut" / name / "model.safetensors"))
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    best = min(full.history, key=lambda r: r["dev_loss"])
    meta = json.loads((tmp_path / "full" / "model-best" / "pretraining.json").read_text())
    assert meta["step"] == best["step"] == full.best_step


@pytest.mark.parametrize("kind", ["bert", "roberta"])
def test_masked_only_loss_equals_transformers_loss(kind: str):
    """MaskedLM applies the head to the predicted positions only: the loss and every
    gradient equal those of the MLM's own forward over [B, T, V] logits."""
    import transformers

    from nerkit.training.pretrain import MaskedLM, mlm_head

    torch.manual_seed(0)
    sizes = dict(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2)
    if kind == "bert":
        config = transformers.BertConfig(intermediate_size=32, **sizes)
    else:
        config = transformers.RobertaConfig(intermediate_size=32, pad_token_id=1, **sizes)
    mlm = transformers.AutoModelForMaskedLM.from_config(config).double().eval()  # no dropout
    assert mlm_head(mlm) is not None  # the fast path is taken, not the fallback

    class _Encoder:
        transformer = None

    model = MaskedLM(_Encoder(), mlm)
    ids = torch.randint(5, 50, (3, 9))
    mask = torch.ones_like(ids)
    mask[2, 6:] = 0
    labels = torch.full_like(ids, IGNORE)
    labels[0, 2], labels[1, 5], labels[1, 7], labels[2, 1] = 7, 9, 11, 13
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    ours = model(batch)
    ours.backward()
    grads = {n: p.grad.clone() for n, p in mlm.named_parameters() if p.grad is not None}
    mlm.zero_grad()
    theirs = mlm(**batch).loss
    theirs.backward()
    assert torch.allclose(ours, theirs, rtol=0, atol=1e-12)
    for name, param in mlm.named_parameters():
        if param.grad is not None:
            assert torch.allclose(grads[name], param.grad, rtol=0, atol=1e-12), name


def test_output_loads_in_transformers_and_fine_tunes(tmp_path: Path, text_files):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from nerkit.training.loop import Trainer

    from .conftest import FAST

    trainer = Pretrainer(_cfg(text_files, **{"training.max_steps": 3}), tmp_path / "pre")
    trainer.run()
    out = tmp_path / "pre" / "model-last"
    assert {"config.json", "model.safetensors", "tokenizer_config.json"} <= {
        p.name for p in out.iterdir()
    }
    mlm = AutoModelForMaskedLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.mask_token_id == trainer.vocab.mask_id
    ours = trainer.model.mlm.state_dict()
    assert all(torch.equal(v, ours[k]) for k, v in mlm.state_dict().items())
    # the weights changed from the random start, and the MLM predicts from them
    ids = torch.tensor([[tok.cls_token_id, tok.mask_token_id, tok.sep_token_id]])
    assert mlm(input_ids=ids).logits.shape == (1, 3, mlm.config.vocab_size)

    overrides = {k: v for k, v in FAST.items() if k != "paths.encoder"}
    overrides.update({"paths.encoder": str(out), "training.max_steps": 2})
    cfg = load_config(ROOT / "configs" / "quickstart-pretrained.cfg", overrides)
    fine = Trainer(cfg, tmp_path / "fine")
    start = fine.model.encoder.transformer.embeddings.word_embeddings.weight
    assert torch.equal(start, mlm.bert.embeddings.word_embeddings.weight)  # the pretrained weights
    result = fine.run()
    assert result.steps == 2 and (tmp_path / "fine" / "model-best" / "model.safetensors").exists()


def test_vectors_load_in_nerkit_and_gensim(tmp_path: Path, text_files):
    from gensim.models import KeyedVectors

    from nerkit.lexicon.word2vec import word2vec

    path = tmp_path / "v" / "vectors.txt"
    args = ["vectors", str(CONFIG), "--output", str(path), "--vectors.epochs", "1"]
    args += ["--pretraining.train", str(text_files[0])]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    kv = KeyedVectors.load_word2vec_format(str(path), binary=False)
    assert f"{len(kv):,} word vectors of dimension 16" in result.output and kv.vector_size == 16
    vectors = word2vec(str(path))
    words = [w for w in kv.index_to_key if len(w) > 1][:20]
    assert len(words) == 20  # the lexicon's words, not only characters
    found, matrix = vectors.lookup(words)
    assert found == words
    np.testing.assert_allclose(matrix, np.stack([kv[w] for w in words]), rtol=1e-6)
    assert [p.name for p in path.parent.iterdir()] == ["vectors.txt"]  # no temporary left
    flat = ROOT / "configs" / "quickstart-flat.cfg"
    coverage = runner.invoke(app, ["debug", "vectors", str(flat), "--paths.vectors", str(path)])
    assert coverage.exit_code == 0, coverage.output
    assert "with pretrained vectors" in coverage.output and "lattice words:" in coverage.output


def test_pretrain_configs_validate_and_run(tmp_path: Path, text_files):
    run = pretrain_run(load_config(ROOT / "configs" / "pretrain.cfg"))
    assert run.encoder_pretrained and run.encoder_source.endswith("chinese-roberta-wwm-ext-large")
    masker = run._data["pretraining"]["masker"]
    assert masker["@maskers"] == "nerkit.WholeWordMasker.v1"
    assert masker["segmenter"]["@segmenters"] == "nerkit.PkusegSegmenter.v1"
    assert masker["segmenter"]["model"].endswith("pkuseg/medicine")
    # the GPU config on local stand-ins: the tiny BERT, the quickstart lexicon's words
    overrides = _overrides(
        text_files,
        **{
            "paths.encoder": str(TINY_BERT),
            "initialize.model.encoder.pretrained": False,
            "pretraining.masker.segmenter": {
                "@segmenters": "nerkit.LexiconMatcher.v1",
                "words_file": str(CORPUS / "lexicon.txt"),
            },
            "training.max_steps": 2,
            "training.eval_frequency": 0,
            "training.batch_size": 4,
            "training.eval_batch_size": 4,
            "pretraining.max_dev_windows": 4,
        },
    )
    result = pretrain(load_config(ROOT / "configs" / "pretrain.cfg", overrides), tmp_path / "o")
    assert result.steps == 2 and np.isfinite(result.best_loss)


# ---------------------------------------------------------------------------
# bad input: one message naming the place and the fix; nothing written is lost
# ---------------------------------------------------------------------------


def _cli(text_files, out: Path, *extra: str, **overrides):
    args = ["pretrain", str(CONFIG), "--output", str(out), *extra]
    for key, value in _overrides(text_files, **overrides).items():
        args += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    return runner.invoke(app, args)


def _failed(result, *parts: str) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())
    for part in parts:
        assert part in text, text
    return text


@pytest.fixture
def earlier_run(tmp_path: Path) -> Path:
    """An output folder holding a run's files, which a failed command must leave as they are."""
    out = tmp_path / "out"
    (out / "model-last").mkdir(parents=True)
    (out / "model-last" / "model.safetensors").write_bytes(b"weights")
    return out


def _untouched(out: Path) -> None:
    assert sorted(p.name for p in out.iterdir()) == ["model-last"]
    assert (out / "model-last" / "model.safetensors").read_bytes() == b"weights"


@pytest.mark.parametrize(
    "content, parts",
    [
        (b"", ["is empty (0 bytes)"]),
        (b"\n  \n\n", ["holds no text (only blank lines"]),
        ("正文\n".encode() + "病历".encode("gb18030"), ["line 2: not UTF-8", "iconv -f GB18030"]),
        (
            b"a" * (10 * 2**20) + b"\n",
            ["line 1: longer than 1,000,000 characters", "max_line_chars"],
        ),
    ],
    ids=["empty", "blank", "not-utf8", "10mb-line"],
)
def test_bad_text_files(tmp_path: Path, text_files, earlier_run: Path, content: bytes, parts):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    result = _cli(
        text_files,
        earlier_run,
        **{"pretraining.train": {"good": str(text_files[0]), "bad": str(bad)}},
    )
    _failed(result, str(bad), *parts)
    _untouched(earlier_run)


def test_whole_word_masking_without_a_segmenter(text_files, earlier_run: Path):
    result = _cli(text_files, earlier_run, **{"pretraining.masker.segmenter": None})
    _failed(result, "pretraining.masker.segmenter", "nerkit.CharMasker.v1")
    _untouched(earlier_run)


def test_encoder_directory_without_a_tokenizer(tmp_path: Path, text_files, earlier_run: Path):
    enc = tmp_path / "enc"
    enc.mkdir()
    (enc / "config.json").write_text((TINY_BERT / "config.json").read_text())
    result = _cli(text_files, earlier_run, **{"paths.encoder": str(enc)})
    _failed(result, str(enc), "tokenizer")
    _untouched(earlier_run)


def test_resume_folder_of_another_run(tmp_path: Path, text_files):
    out = tmp_path / "run"
    assert _cli(text_files, out, **{"training.max_steps": 3}).exit_code == 0
    before = (out / "model-last" / "model.safetensors").read_bytes()
    other = _cli(text_files, out, "--resume", str(out), **{"pretraining.masker.rate": 0.3})
    _failed(other, "another config", "pretraining.masker.rate: 0.15 then, 0.3 now")
    train_run = tmp_path / "train-run"
    (train_run / "model-last" / "training_state").mkdir(parents=True)
    (train_run / "model-last" / "training_state" / "trainer.json").write_text("{}")
    result = _cli(text_files, out, "--resume", str(train_run))
    _failed(result, "a checkpoint of `nerkit train`, not of `nerkit pretrain`")
    assert (out / "model-last" / "model.safetensors").read_bytes() == before


def test_a_pretraining_run_interpolates_and_resolves_once(text_files, monkeypatch):
    """Issue 23: the config is interpolated once and built in one registry.resolve (the
    masker, the encoder and [training] together), as `nerkit train`'s resolved run is."""
    import collections

    import confection

    from nerkit.registry import registry

    calls = collections.Counter()
    interpolate, resolve = confection.Config.interpolate, registry.resolve

    def counting_interpolate(self):
        calls["interpolate"] += 1
        return interpolate(self)

    def counting_resolve(config, **kwargs):
        calls["registry.resolve"] += 1
        calls["blocks"] += len(config)
        return resolve(config, **kwargs)

    cfg = _cfg(text_files)
    monkeypatch.setattr(confection.Config, "interpolate", counting_interpolate)
    monkeypatch.setattr(registry, "resolve", counting_resolve)
    trainer = Pretrainer(cfg)
    assert dict(calls) == {"interpolate": 1, "registry.resolve": 1, "blocks": 3}
    assert trainer.total_steps == 6 and trainer.masker is not None


# ---------------------------------------------------------------------------
# torchrun: two gloo processes pretrain one model
# ---------------------------------------------------------------------------

DDP_PRETRAIN = """
import hashlib, json, os, sys
import torch
from nerkit.config import load_config
from nerkit.training.pretrain import Pretrainer

trainer = Pretrainer(load_config(sys.argv[3], json.loads(sys.argv[2])), sys.argv[1])
before = {k: v.clone() for k, v in trainer.model.mlm.state_dict().items()}
result = trainer.run()
state = trainer.model.mlm.state_dict()
h = hashlib.sha256()
for k in sorted(state):
    h.update(k.encode()); h.update(state[k].detach().cpu().numpy().tobytes())
changed = any(not torch.equal(state[k], before[k]) for k in state)
with open(os.path.join(sys.argv[1], f"rank{os.environ['RANK']}.json"), "w") as fh:
    json.dump({"hash": h.hexdigest(), "changed": changed, "steps": result.steps}, fh)
"""


def _state_hash(state: dict) -> str:
    import hashlib

    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().numpy().tobytes())
    return h.hexdigest()


def test_two_gloo_processes_pretrain_one_model(tmp_path: Path, text_files):
    """Under torchrun each rank takes every other batch (half the steps of one process) and
    DistributedDataParallel keeps the ranks' weights equal; rank 0 alone writes the Hugging
    Face directories, which hold those weights. Without DDP the two ranks' weights differ."""
    import os
    import socket
    import subprocess
    import sys

    from transformers import AutoModelForMaskedLM

    script = tmp_path / "ddp_pretrain.py"
    script.write_text(DDP_PRETRAIN, encoding="utf8")
    out = tmp_path / "out"
    out.mkdir()
    extra = {"training.max_steps": 0, "training.max_epochs": 1, "training.eval_frequency": 0}
    overrides = _overrides(text_files, **extra)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    command += ["--master-addr", "127.0.0.1", "--master-port", str(port)]
    command += [str(script), str(out), json.dumps(overrides), str(CONFIG)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0, r1 = (json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1))
    batches = math.ceil(len(list(iter_windows([str(text_files[0])], "text", 10**6, 126, 32))) / 8)
    assert r0["steps"] == r1["steps"] == batches // 2 > 0
    assert r0["changed"] and r1["changed"]
    assert r0["hash"] == r1["hash"]
    saved = AutoModelForMaskedLM.from_pretrained(out / "model-last")
    assert _state_hash(saved.state_dict()) == r0["hash"]
