"""Lexicon: reduced vocabulary and vectors, lattices, disk round trip, collation, coverage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from confection import Config

from nerkit.errors import ConfigError, ModelLoadError
from nerkit.lexicon.base import Segmenter
from nerkit.lexicon.coverage import format_coverage, lexicon_coverage
from nerkit.lexicon.lexicon import PAD, UNK, lexicon
from nerkit.lexicon.matcher import lexicon_matcher
from nerkit.lexicon.word2vec import word2vec
from nerkit.models.batching import collate_lattices, lattice_window
from nerkit.registry import registry
from nerkit.types import Entity, Example

from .test_segmenters import train_pkuseg_model

VECTOR_WORDS = ["发热", "咳嗽", "发热咳嗽", "患者", "头痛", "阿莫西林"]
TEXTS = ["患者发热咳嗽", "头痛患者", "发热"]


@pytest.fixture(scope="module")
def vectors_file(tmp_path_factory) -> Path:
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=4)
    rng = np.random.default_rng(1)
    kv.add_vectors(VECTOR_WORDS, rng.normal(size=(len(VECTOR_WORDS), 4)).astype(np.float32))
    path = tmp_path_factory.mktemp("vec") / "sgns.merge.word"
    kv.save_word2vec_format(str(path), binary=False)
    return path


def pretrained(path: Path, word: str) -> torch.Tensor:
    for line in path.read_text(encoding="utf8").splitlines()[1:]:
        parts = line.split()
        if parts[0] == word:
            return torch.tensor([float(x) for x in parts[1:]])
    raise KeyError(word)


def build(text: str):
    return registry.resolve(Config().from_str(text))["lex"]


def matcher_lexicon_cfg(vectors: Path, cache: Path, seed: int = 7) -> str:
    return f"""
[lex]
@lexicons = "nerkit.Lexicon.v1"
cache_dir = "{cache}"
seed = {seed}

[lex.segmenter]
@segmenters = "nerkit.LexiconMatcher.v1"

[lex.vectors]
@vectors = "nerkit.Word2Vec.v1"
path = "{vectors}"
"""


class WindowSegmenter(Segmenter):
    """Two-character windows (any characters); counts calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.cache_key = "windows|v1"

    def __call__(self, text):
        self.calls += 1
        return [(text[i : i + 2], i, i + 1) for i in range(0, len(text) - 1, 2)]


def test_initialize_builds_reduced_vocabulary(vectors_file, tmp_path):
    lex = build(matcher_lexicon_cfg(vectors_file, tmp_path))
    assert lex.dim == 4 and not lex.initialized
    lex.initialize(TEXTS)
    # counts: 发热 2, 患者 2, then 发热咳嗽, 咳嗽, 头痛 once; ties by word
    assert lex.words == ["", "", "发热", "患者", "发热咳嗽", "咳嗽", "头痛"]
    assert lex.lattice("患者发热咳嗽") == [(0, 1, 3), (2, 3, 2), (2, 5, 4), (4, 5, 5)]
    assert lex.lattice("头痛患者") == [(0, 1, 6), (2, 3, 3)]
    V = lex.vectors
    assert V.shape == (7, 4) and V.dtype == torch.float32
    assert torch.equal(V[PAD], torch.zeros(4))
    for i, w in enumerate(lex.words[2:], start=2):
        torch.testing.assert_close(V[i], pretrained(vectors_file, w), atol=1e-6, rtol=0)
    assert lex.pretrained_rows.tolist() == [False, False] + [True] * 5
    assert 0 < V[UNK].abs().max() <= (3 / 4) ** 0.5
    # the matcher now keeps only the corpus words: 阿莫西林 is not matched any more
    assert lex.lattice("阿莫西林治疗发热") == [(6, 7, 2)]
    assert not lex.pretrained.loaded  # the full vectors were released
    assert lex.lattices(["头痛患者", "阿莫西林治疗发热"]) == [lex.lattice("头痛患者"), [(6, 7, 2)]]


def test_missing_words_random_or_unknown(vectors_file, tmp_path):

    seg = WindowSegmenter()  # yields 治疗, 有效, 后好 ... not in the vectors
    texts = ["发热治疗", "治疗有效"]
    lex = lexicon(seg, word2vec(str(vectors_file)), cache_dir=str(tmp_path), seed=3)
    lex.initialize(texts)
    assert lex.words == ["", "", "治疗", "发热", "有效"]
    assert lex.pretrained_rows.tolist() == [False, False, False, True, False]
    assert lex.has_vector("发热") and not lex.has_vector("治疗") and not lex.has_vector("别的")
    bound = (3 / 4) ** 0.5
    assert 0 < lex.vectors[lex.word_to_id["治疗"]].abs().max() <= bound
    # new words of a new text map to the unknown row
    assert lex.lattice("发热头痛") == [(0, 1, lex.word_to_id["发热"]), (2, 3, UNK)]

    unk = lexicon(seg, word2vec(str(vectors_file)), missing="unknown", cache_dir=str(tmp_path))
    unk.initialize(texts)
    assert unk.words == ["", "", "发热"] and unk.unknown_words == ["治疗", "有效"]
    assert unk.lattice("发热治疗") == [(0, 1, 2), (2, 3, UNK)]
    dropping = lexicon(
        seg,
        word2vec(str(vectors_file)),
        missing="unknown",
        drop_unknown=True,
        cache_dir=str(tmp_path),
    )
    dropping.initialize(texts)
    assert dropping.lattice("发热治疗") == [(0, 1, 2)]
    assert dropping.lattice("头痛有效") == []


def test_no_vectors_random_seeded(tmp_path):
    seg = WindowSegmenter()
    a = lexicon(seg, None, dim=8, seed=5, cache_dir=str(tmp_path))
    b = lexicon(seg, None, dim=8, seed=5, cache_dir=str(tmp_path))
    c = lexicon(seg, None, dim=8, seed=6, cache_dir=str(tmp_path))
    for lex in (a, b, c):
        lex.initialize(["发热治疗", "治疗有效"])
    assert a.vectors.shape == (5, 8) and a.dim == 8
    assert torch.equal(a.vectors, b.vectors) and not torch.equal(a.vectors, c.vectors)
    assert torch.equal(a.vectors[PAD], torch.zeros(8)) and bool((a.vectors[1:] != 0).all())
    assert not a.pretrained_rows.any()


def test_cache_prevents_resegmentation_on_initialize(tmp_path):
    first = WindowSegmenter()
    a = lexicon(first, None, dim=4, cache_dir=str(tmp_path))
    a.initialize(TEXTS)
    assert first.calls == 3
    second = WindowSegmenter()
    b = lexicon(second, None, dim=4, cache_dir=str(tmp_path))
    b.initialize(TEXTS)
    assert second.calls == 0
    assert b.words == a.words and torch.equal(a.vectors, b.vectors)
    assert b.lattice(TEXTS[0]) == a.lattice(TEXTS[0]) and second.calls == 0  # remembered


def test_disk_round_trip_without_vectors_file(vectors_file, tmp_path):
    import shutil

    model = train_pkuseg_model(tmp_path / "pkuseg")
    vec = tmp_path / "vectors.word"
    shutil.copy(vectors_file, vec)
    cfg = f"""
[lex]
@lexicons = "nerkit.Lexicon.v1"
cache_dir = "{tmp_path / "cache"}"

[lex.segmenter]
@segmenters = "nerkit.UnionSegmenter.v1"

[lex.segmenter.*.pkuseg]
@segmenters = "nerkit.PkusegSegmenter.v1"
model = "{model}"

[lex.segmenter.*.matcher]
@segmenters = "nerkit.LexiconMatcher.v1"

[lex.vectors]
@vectors = "nerkit.Word2Vec.v1"
path = "{vec}"
"""
    texts = ["患者出现发热咳嗽症状", "儿童服用阿莫西林后好转", "头痛患者需要休息"]
    new_texts = ["阿莫西林治疗肺炎患者发热", "患者出现头痛", "没有词"]
    lex = build(cfg)
    lex.initialize(texts)
    assert lex.unknown_words == []  # every corpus word has a row
    assert {"出现", "阿莫西林", "休息"} <= set(lex.words)  # pkuseg words (not in the vectors)
    assert not lex.has_vector("出现") and lex.has_vector("发热咳嗽")
    out = tmp_path / "model" / "lexicon"
    lex.to_disk(out)
    assert sorted(p.name for p in out.iterdir()) == [
        "segmenter",
        "vectors.safetensors",
        "words.json",
    ]
    assert [p.name for p in (out / "segmenter").iterdir()] == [
        "0"
    ]  # the pkuseg copy; the matcher has no files
    vec.unlink()  # prediction needs no vectors file

    loaded = build(cfg.split("[lex.vectors]")[0])  # as nerkit.load_model does: vectors = null
    assert not loaded.initialized
    loaded.from_disk(out)
    assert loaded.words == lex.words and loaded.dim == lex.dim == 4
    assert torch.equal(loaded.vectors, lex.vectors)
    assert torch.equal(loaded.pretrained_rows, lex.pretrained_rows)
    for text in texts + new_texts:
        assert loaded.lattice(text) == lex.lattice(text), text
    assert any(
        w == UNK for _, _, w in loaded.lattice(new_texts[0])
    )  # 治疗/肺炎: pkuseg words not in vocab
    assert loaded.segmenter.segmenters[0].loaded  # pkuseg still segments new texts


def test_from_disk_errors(tmp_path):
    lex = lexicon(WindowSegmenter(), None, dim=4, cache_dir=str(tmp_path))
    with pytest.raises(ModelLoadError, match="not initialised"):
        lex.lattice("发热")
    with pytest.raises(ModelLoadError, match="words.json"):
        lex.from_disk(tmp_path / "nothing")
    lex.initialize(TEXTS)
    lex.to_disk(tmp_path / "lex")
    with_matcher = lexicon(lexicon_matcher(), None, cache_dir=str(tmp_path))
    with pytest.raises(ModelLoadError, match="LexiconMatcher"):
        with_matcher.from_disk(tmp_path / "lex")
    with pytest.raises(ConfigError, match="no words_file"):
        with_matcher.initialize(TEXTS)


def test_collate_lattices():
    batch = collate_lattices([[(0, 1, 3), (2, 3, 2)], [], [(1, 1, 5)]])
    assert batch.word_ids.tolist() == [[3, 2], [0, 0], [5, 0]]
    assert batch.starts.tolist() == [[0, 2], [0, 0], [1, 0]]
    assert batch.ends.tolist() == [[1, 3], [0, 0], [1, 0]]
    assert batch.mask.tolist() == [[True, True], [False, False], [True, False]]
    assert batch.word_ids.dtype == torch.long and batch.mask.dtype == torch.bool
    empty = collate_lattices([[], []])
    assert empty.word_ids.shape == (2, 1) and not empty.mask.any()


def test_lattice_window():
    lattice = [(0, 1, 3), (2, 5, 4), (4, 5, 5), (5, 7, 6), (6, 7, 2)]
    assert lattice_window(lattice, 2, 6) == [(0, 3, 4), (2, 3, 5)]
    assert lattice_window(lattice, 0, 8) == lattice
    assert lattice_window(lattice, 3, 4) == []


def test_coverage_hand_computed(tmp_path):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=3)
    kv.add_vectors(["发热", "患者", "头痛"], np.ones((3, 3), dtype=np.float32))
    vec = tmp_path / "v.txt"
    kv.save_word2vec_format(str(vec))
    words = tmp_path / "words.txt"
    words.write_text("患者\n发热\n咳嗽\n发热咳嗽\n头痛\n", encoding="utf8")
    lex = build(
        f"""
[lex]
@lexicons = "nerkit.Lexicon.v1"
cache_dir = "{tmp_path}"

[lex.segmenter]
@segmenters = "nerkit.LexiconMatcher.v1"
words_file = "{words}"

[lex.vectors]
@vectors = "nerkit.Word2Vec.v1"
path = "{vec}"
"""
    )
    examples = [
        Example("患者发热咳嗽", [Entity(2, 5, "sym"), Entity(4, 5, "sym"), Entity(0, 2, "dis")]),
        Example("头痛患者", [Entity(0, 1, "sym")]),
    ]
    lex.initialize([ex.text for ex in examples])
    cov = lexicon_coverage(examples, lex)
    assert cov["texts"] == 2 and cov["vocab_size"] == 7 and cov["vocab_pretrained"] == 3
    assert (cov["tokens"], cov["tokens_found"]) == (6, 4)
    assert cov["token_coverage"] == pytest.approx(4 / 6)
    assert (cov["types"], cov["types_found"]) == (5, 3)
    assert cov["top_missing"] == [["发热咳嗽", 1], ["咳嗽", 1]]
    sym, dis = cov["labels"]["sym"], cov["labels"]["dis"]
    assert (sym["entities"], sym["exact"], sym["exact_found"]) == (3, 3, 1)
    assert sym["exact_rate"] == 1.0 and sym["exact_found_rate"] == pytest.approx(1 / 3)
    assert (sym["overlap_words"], sym["overlap_found"], sym["overlap_rate"]) == (4, 2, 0.5)
    assert (dis["entities"], dis["exact"], dis["overlap_words"], dis["overlap_found"]) == (
        1,
        0,
        3,
        2,
    )
    text = format_coverage(cov)
    assert "66.67%" in text and "sym" in text and "发热咳嗽 (1)" in text


def test_coverage_on_cmeee_dev(shared_data, tmp_path):
    """Matcher over the gold entity strings: an entity is a lattice word iff 2 <= len <= 10."""
    from nerkit.data.formats.cmeee import read_cmeee

    examples = read_cmeee(shared_data / "cmeee" / "CMeEE_dev.json")[:600]
    matcher = lexicon_matcher()
    matcher.set_words({ex.text[e.start : e.end + 1] for ex in examples for e in ex.entities})
    lex = lexicon(matcher, None, dim=4, cache_dir=str(tmp_path))
    lex.initialize([ex.text for ex in examples])
    cov = lexicon_coverage(examples, lex)
    for label, st in cov["labels"].items():
        ents = [e for ex in examples for e in ex.entities if e.label == label]
        assert st["entities"] == len(ents)
        assert st["exact"] == sum(2 <= e.end - e.start + 1 <= 10 for e in ents), label
        assert st["exact_found"] == 0
    assert cov["tokens"] > 3000 and cov["tokens_found"] == 0
