"""The quickstart sample corpus, word lexicon/vectors and tiny BERT (projects/quickstart)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from nerkit.data.chars import CharVocab
from nerkit.data.formats.cmeee import read_cmeee
from nerkit.types import CMEEE_LABELS

from .conftest import CORPUS, ROOT, TINY_BERT

PROJECT = ROOT / "projects" / "quickstart"
SPLITS = {"train": 400, "dev": 100, "test": 60}
GENERATED = [
    "corpus/train.json",
    "corpus/dev.json",
    "corpus/test.json",
    "corpus/lexicon.txt",
    "corpus/vectors.txt",
    "tiny-bert/config.json",
    "tiny-bert/vocab.txt",
    "tiny-bert/tokenizer_config.json",
]


def _load(split: str) -> List[Dict]:
    return json.loads((CORPUS / f"{split}.json").read_text(encoding="utf-8"))


def _containments(record: Dict) -> List[tuple]:
    """(outer type, inner type) for every entity strictly containing another."""
    ents = [(e["start_idx"], e["end_idx"], e["type"]) for e in record["entities"]]
    return [
        (a[2], b[2])
        for a in ents
        for b in ents
        if a != b and a[0] <= b[0] and b[1] <= a[1] and (a[0], a[1]) != (b[0], b[1])
    ]


def _make_corpus_module():
    spec = importlib.util.spec_from_file_location("make_corpus", PROJECT / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("split", list(SPLITS))
def test_records_are_valid_cmeee(split: str):
    records = _load(split)
    assert len(records) == SPLITS[split]
    for i, rec in enumerate(records):
        assert set(rec) == {"text", "entities"}, (split, i)
        text = rec["text"]
        assert isinstance(text, str) and 0 < len(text) <= 300, (split, i)
        spans = set()
        for ent in rec["entities"]:
            assert set(ent) == {"start_idx", "end_idx", "type", "entity"}
            s, e = ent["start_idx"], ent["end_idx"]
            assert 0 <= s <= e < len(text), (split, i, ent)
            assert text[s : e + 1] == ent["entity"], (split, i, ent)  # end_idx inclusive
            assert ent["type"] in CMEEE_LABELS, (split, i, ent)
            assert ent["entity"] == ent["entity"].strip()
            spans.add((s, e))
        assert len(spans) == len(rec["entities"]), f"{split} record {i}: two entities share a span"
    # The project's own reader accepts the file with strict checking.
    corpus = read_cmeee(CORPUS / f"{split}.json")
    assert len(corpus) == SPLITS[split]
    assert corpus.num_entities == sum(len(r["entities"]) for r in records)
    assert corpus.warnings == []


def test_all_types_and_nesting_as_in_cmeee():
    for split in ("train", "dev"):
        types = {e["type"] for r in _load(split) for e in r["entities"]}
        assert types == set(CMEEE_LABELS), split
    train = _load("train")
    pairs = [p for r in train for p in _containments(r)]
    # Only sym nests, mostly over bod (some over ite: "血钾降低").
    assert {outer for outer, _ in pairs} == {"sym"}
    inner = [i for _, i in pairs]
    assert inner.count("bod") >= 100 and inner.count("bod") > inner.count("ite") > 0
    # Other overlaps (crossing spans) never happen.
    for r in train:
        ents = [(e["start_idx"], e["end_idx"]) for e in r["entities"]]
        for a in ents:
            for b in ents:
                crossing = a[0] < b[0] <= a[1] < b[1]
                assert not crossing, (r["text"], a, b)
    nested = {(r["text"][s : e + 1]) for r in train for s, e, _ in _sym_with_bod(r)}
    assert "右下腹疼痛" in nested or "皮肤瘙痒" in nested


def _sym_with_bod(record: Dict):
    ents = [(e["start_idx"], e["end_idx"], e["type"]) for e in record["entities"]]
    for s, e, t in ents:
        if t == "sym" and any(t2 == "bod" and s <= s2 and e2 <= e for s2, e2, t2 in ents):
            yield s, e, t


def test_splits_are_disjoint_and_varied():
    texts = {split: [r["text"] for r in _load(split)] for split in SPLITS}
    for split, ts in texts.items():
        assert len(set(ts)) == len(ts), f"{split} repeats a text"
    assert not set(texts["train"]) & set(texts["dev"])
    assert not set(texts["train"]) & set(texts["test"])
    assert not set(texts["dev"]) & set(texts["test"])
    all_texts = [t for ts in texts.values() for t in ts]
    assert sum(150 <= len(t) <= 300 for t in texts["train"]) >= 10  # windowing with max_length 128
    assert any(len(t) >= 150 for t in texts["dev"])
    joined = "".join(all_texts)
    for needle in ("HbA1c", "CT", "，", "。", "：", "（", "%", " "):
        assert needle in joined, needle
    # Dev entities mostly reuse train terms (learnable), but not all records are seen.
    train_terms = {(e["entity"], e["type"]) for r in _load("train") for e in r["entities"]}
    dev_terms = [(e["entity"], e["type"]) for r in _load("dev") for e in r["entities"]]
    assert 0.8 < sum(t in train_terms for t in dev_terms) / len(dev_terms) < 1.0


def test_regenerating_reproduces_committed_files(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, str(PROJECT / "make_corpus.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    produced = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert produced == sorted(GENERATED)
    for rel in GENERATED:
        assert (tmp_path / rel).read_bytes() == (PROJECT / rel).read_bytes(), f"{rel} differs"


def test_lexicon_and_vectors():
    words = (CORPUS / "lexicon.txt").read_text(encoding="utf-8").splitlines()
    assert len(words) == len(set(words)) and all(len(w) > 1 and w.strip() == w for w in words)
    lexicon = set(words)
    # Every innermost multi-character entity string is a lexicon word.
    for split in SPLITS:
        for r in _load(split):
            ents = [(e["start_idx"], e["end_idx"]) for e in r["entities"]]
            for s, e in ents:
                has_inner = any((s2, e2) != (s, e) and s <= s2 and e2 <= e for s2, e2 in ents)
                if e > s and not has_inner:
                    assert r["text"][s : e + 1] in lexicon, r["text"][s : e + 1]
    lines = (CORPUS / "vectors.txt").read_text(encoding="utf-8").splitlines()
    count, dim = map(int, lines[0].split())
    assert (count, dim) == (len(words), 16)
    rows = [line.split(" ") for line in lines[1:]]
    assert [row[0] for row in rows] == words
    assert all(len(row) == dim + 1 for row in rows)

    from gensim.models import KeyedVectors

    kv = KeyedVectors.load_word2vec_format(str(CORPUS / "vectors.txt"), binary=False)
    assert len(kv) == count and kv.vector_size == dim
    assert kv["阿莫西林"].tolist() == pytest.approx(
        [float(x) for x in rows[words.index("阿莫西林")][1:]]
    )
    # Vectors cluster by type: a drug is closer to another drug than to a department.
    assert kv.similarity("阿莫西林", "头孢曲松") > kv.similarity("阿莫西林", "消化内科")


def test_tiny_bert_vocab_covers_corpus():
    tokens = (TINY_BERT / "vocab.txt").read_text(encoding="utf-8").split("\n")
    assert tokens[-1] == ""
    tokens = tokens[:-1]
    assert tokens[:6] == ["[PAD]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert len(tokens) == len(set(tokens))
    assert tokens[6:] == sorted(tokens[6:]) and all(len(t) == 1 for t in tokens[6:])
    assert set("0123456789abcdefghijklmnopqrstuvwxyz") <= set(tokens)
    assert not any("A" <= t <= "Z" for t in tokens)
    config = json.loads((TINY_BERT / "config.json").read_text(encoding="utf-8"))
    assert config["model_type"] == "bert" and config["vocab_size"] == len(tokens)
    vocab = CharVocab.from_file(TINY_BERT / "vocab.txt")
    unk, space = vocab.vocab["[UNK]"], vocab.vocab["[unused1]"]
    for split in SPLITS:
        for r in _load(split):
            ids = vocab.ids(r["text"])
            assert len(ids) == len(r["text"])
            for char, i in zip(r["text"], ids, strict=True):
                assert i != unk, f"{char!r} is not in the tiny-bert vocab"
                assert (i == space) == char.isspace()


def test_tiny_bert_loads_with_transformers():
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    n_tokens = len((TINY_BERT / "vocab.txt").read_text(encoding="utf-8").splitlines())
    tokenizer = AutoTokenizer.from_pretrained(str(TINY_BERT))
    assert len(tokenizer) == n_tokens and len(tokenizer.get_vocab()) == n_tokens
    assert (tokenizer.pad_token_id, tokenizer.unk_token_id) == (0, 2)
    assert (tokenizer.cls_token_id, tokenizer.sep_token_id) == (3, 4)
    assert tokenizer.tokenize("右下腹疼痛") == list("右下腹疼痛")
    assert tokenizer.convert_tokens_to_ids(list("ct")) == [tokenizer.get_vocab()[c] for c in "ct"]
    config = AutoConfig.from_pretrained(str(TINY_BERT))
    torch.manual_seed(0)
    model = AutoModel.from_config(config).eval()
    ids = torch.tensor([[3, *tokenizer.convert_tokens_to_ids(list("患者发热")), 4]])
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
    assert out.shape == (1, 6, 64)
    assert sum(p.numel() for p in model.parameters()) < 500_000  # trains on CPU in minutes


def test_make_corpus_term_lists_are_consistent():
    mc = _make_corpus_module()
    by_type = mc.terms_by_type()
    seen: Dict[str, str] = {}
    for label, terms in by_type.items():
        assert len(terms) >= 20, label
        for term in terms:
            assert seen.setdefault(term, label) == label, f"{term} is both {seen[term]} and {label}"
    # Every item with a value format or a trend word is used by some topic.
    all_ite = set(by_type["ite"])
    assert set(mc.ITE_VALUES) <= all_ite and set(mc.ITE_TREND) <= all_ite
