"""Segmenters: pkuseg (a model trained offline here), the trie matcher, union, cache."""

from __future__ import annotations

import contextlib
import io
import logging
import random
import shutil
from pathlib import Path
from typing import List, Tuple

import pytest
from confection import Config

from nerkit.errors import ModelLoadError
from nerkit.lexicon.base import Segmenter
from nerkit.lexicon.cache import SegmentCache, default_cache_dir, segment_corpus
from nerkit.lexicon.matcher import LexiconMatcher, lexicon_matcher
from nerkit.lexicon.pkuseg import is_chinese, pkuseg_settings
from nerkit.registry import registry

FIXTURES = Path(__file__).parent / "fixtures" / "lexicon"


def train_pkuseg_model(dest: Path) -> Path:
    """Train a tiny spacy-pkuseg model on the fixture sentences, offline."""
    import spacy_pkuseg

    train = str(FIXTURES / "pkuseg_train.txt")
    with contextlib.redirect_stdout(io.StringIO()):
        spacy_pkuseg.train(train, train, str(dest), train_iter=10)
    return dest


@pytest.fixture(scope="module")
def pkuseg_model(tmp_path_factory) -> Path:
    return train_pkuseg_model(tmp_path_factory.mktemp("pkuseg") / "model")


def resolve(text: str):
    return registry.resolve(Config().from_str(text))["seg"]


def pkuseg_cfg(model, **settings) -> str:
    lines = ["[seg]", '@segmenters = "nerkit.PkusegSegmenter.v1"', f'model = "{model}"']
    for k, v in settings.items():
        lines.append(f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"')
    return "\n".join(lines).replace("True", "true").replace("False", "false")


def raw_spans(words: List[str], text: str) -> List[Tuple[str, int, int]]:
    """Offsets of pkuseg's words: consecutive, skipping the whitespace pkuseg drops."""
    out, pos = [], 0
    for w in words:
        while text[pos : pos + len(w)] != w:
            assert text[pos].isspace(), (text, w, pos)
            pos += 1
        out.append((w, pos, pos + len(w) - 1))
        pos += len(w)
    return out


TEXTS = [
    "患者出现发热咳嗽症状",
    "儿童服用阿莫西林后好转 肺炎患者需要休息",
    "患者体温39.5℃，给予退热治疗。CT检查提示肺炎。",
]


# -- pkuseg ----------------------------------------------------------------------


def test_pkuseg_segments_through_registry(pkuseg_model):
    import spacy_pkuseg

    seg = resolve(pkuseg_cfg(pkuseg_model))
    assert not seg.loaded  # loaded on first call, not at resolve time
    assert seg(TEXTS[0]) == [
        ("患者", 0, 1),
        ("出现", 2, 3),
        ("发热", 4, 5),
        ("咳嗽", 6, 7),
        ("症状", 8, 9),
    ]
    assert seg.loaded
    reference = spacy_pkuseg.pkuseg(str(pkuseg_model))  # same dictionaries (default.pkl)
    for text in TEXTS:
        spans = raw_spans(reference.cut(text), text)
        expected = [x for x in spans if len(x[0]) >= 2 and is_chinese(x[0])]
        assert seg(text) == expected
        for w, s, e in seg(text):
            assert text[s : e + 1] == w
    # the study's filter drops numbers, latin and punctuation
    words = [w for w, _, _ in seg(TEXTS[2])]
    assert all(is_chinese(w) and len(w) >= 2 for w in words) and "体温" in words


def test_pkuseg_filters_are_options(pkuseg_model):
    import spacy_pkuseg

    seg = resolve(pkuseg_cfg(pkuseg_model, min_length=1, chinese_only=False))
    reference = spacy_pkuseg.pkuseg(str(pkuseg_model))
    for text in TEXTS:
        assert seg(text) == raw_spans(reference.cut(text), text)
    words = [w for w, _, _ in seg(TEXTS[2])]
    assert any(not is_chinese(w) for w in words) and any(len(w) == 1 for w in words)


def test_pkuseg_user_dict(pkuseg_model, tmp_path):
    text = "给予阿莫西林克拉维酸钾治疗"
    word = "阿莫西林克拉维酸钾"
    plain = resolve(pkuseg_cfg(pkuseg_model))
    assert (word, 2, 10) not in plain(text)
    udict = tmp_path / "user.txt"
    udict.write_text(f"{word}\n退热治疗\tv\n", encoding="utf8")
    seg = resolve(pkuseg_cfg(pkuseg_model, user_dict=str(udict)))
    assert (word, 2, 10) in seg(text)
    assert ("退热治疗", 0, 3) in seg("退热治疗有效")
    assert seg.cache_key != plain.cache_key


def test_pkuseg_named_model_offline_error(tmp_path, monkeypatch):
    import spacy_pkuseg.download

    monkeypatch.setattr(pkuseg_settings(), "pkuseg_home", str(tmp_path / "home"))
    for var in ("NERKIT_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    attempts = []

    def no_network(url, dst, hash_prefix, progress=True):
        attempts.append(url)
        raise OSError("[Errno -2] Name or service not known")

    monkeypatch.setattr(spacy_pkuseg.download, "_download_url_to_file", no_network)
    seg = resolve(pkuseg_cfg("medicine"))  # building does not download
    assert not seg.loaded and not attempts
    with pytest.raises(ModelLoadError) as err:
        seg("患者发热")
    msg = str(err.value)
    assert attempts == [pkuseg_settings().model_urls["medicine"]]
    assert "'medicine'" in msg and str(tmp_path / "home" / "medicine") in msg
    assert "downloading it from https://" in msg and "failed" in msg
    assert "--initialize.model.lexicon.segmenter.model /path/to/medicine" in msg

    # With an offline flag set, no download is even attempted.
    monkeypatch.setenv("NERKIT_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="NERKIT_OFFLINE is set"):
        resolve(pkuseg_cfg("news"))("患者发热")
    assert len(attempts) == 1


def test_pkuseg_named_model_found_in_home(pkuseg_model, tmp_path, monkeypatch):
    import spacy_pkuseg.download

    home = tmp_path / "home"
    shutil.copytree(pkuseg_model, home / "medicine")
    monkeypatch.setattr(pkuseg_settings(), "pkuseg_home", str(home))

    def fail(*args, **kwargs):
        raise AssertionError("no download expected")

    monkeypatch.setattr(spacy_pkuseg.download, "download_model", fail)
    named = resolve(pkuseg_cfg("medicine"))
    local = resolve(pkuseg_cfg(pkuseg_model))
    for text in TEXTS:
        assert named(text) == local(text)
    assert (
        named.cache_key.startswith("nerkit.PkusegSegmenter.v1|")
        and "model=medicine@" in named.cache_key
    )


def test_pkuseg_bad_local_path_fails_at_build(tmp_path):
    with pytest.raises(ModelLoadError, match="neither a named model"):
        resolve(pkuseg_cfg(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="holds no pkuseg model"):
        resolve(pkuseg_cfg(tmp_path / "empty"))
    with pytest.raises(ModelLoadError, match="user dictionary not found"):
        resolve(pkuseg_cfg("medicine", user_dict=str(tmp_path / "none.txt")))


def test_is_chinese():
    assert is_chinese("阿莫西林") and is_chinese("𠀀𪚥")
    assert (
        not is_chinese("CT检查")
        and not is_chinese("39.5")
        and not is_chinese("发热，")
        and not is_chinese("")
    )


# -- trie matcher ---------------------------------------------------------------------


def matcher_from(tmp_path: Path, words, **settings) -> LexiconMatcher:
    path = tmp_path / "words.txt"
    path.write_text("\n".join(words) + "\n", encoding="utf8")
    lines = ["[seg]", '@segmenters = "nerkit.LexiconMatcher.v1"', f'words_file = "{path}"']
    lines += [f"{k} = {v}" for k, v in settings.items()]
    return resolve("\n".join(lines))


def test_matcher_overlapping_words(tmp_path):
    m = matcher_from(tmp_path, ["发热", "发热咳嗽", "热咳", "咳嗽", "嗽", "不在句中"])
    assert m("发热咳嗽") == [("发热", 0, 1), ("发热咳嗽", 0, 3), ("热咳", 1, 2), ("咳嗽", 2, 3)]
    assert m("") == []


@pytest.mark.parametrize("min_length,max_length", [(2, 10), (1, 3), (3, 5)])
def test_matcher_equals_brute_force(tmp_path, min_length, max_length):
    rng = random.Random(min_length * 10 + max_length)
    alphabet = "甲乙丙丁"
    words = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 7))) for _ in range(80)}
    m = matcher_from(tmp_path, sorted(words), min_length=min_length, max_length=max_length)
    total = 0
    for _ in range(60):
        text = "".join(rng.choice(alphabet + "，") for _ in range(rng.randint(0, 40)))
        n = len(text)
        expected = [
            (text[i:j], i, j - 1)
            for i in range(n)
            for j in range(i + min_length, min(n, i + max_length) + 1)
            if text[i:j] in words
        ]
        assert m(text) == expected
        total += len(expected)
    assert total > 100  # the case is not trivial


def test_matcher_set_words_restrict_reset(tmp_path):
    m = matcher_from(tmp_path, ["发热", "咳嗽", "头痛"])
    key = m.cache_key
    m.restrict(["头痛", "发热"])
    assert m("发热咳嗽头痛") == [("发热", 0, 1), ("头痛", 4, 5)]
    assert m.cache_key != key
    m.reset()  # back to the words file
    assert m("发热咳嗽头痛") == [("发热", 0, 1), ("咳嗽", 2, 3), ("头痛", 4, 5)]
    assert m.cache_key == key
    m.set_words(["咳嗽头痛", "咳嗽"])  # a given list replaces the file and survives restrict/reset
    m.restrict(["咳嗽"])
    assert m("发热咳嗽头痛") == [("咳嗽", 2, 3)]
    m.reset()
    assert m("发热咳嗽头痛") == [("咳嗽", 2, 3), ("咳嗽头痛", 2, 5)]
    assert m.has_word("咳嗽头痛") and not m.has_word("发热") and len(m) == 2
    no_words = lexicon_matcher()
    assert no_words.needs_words
    with pytest.raises(Exception, match="no words"):
        no_words("发热")


# -- union -----------------------------------------------------------------------------


def test_union_of_pkuseg_and_matcher(pkuseg_model, tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("发热咳嗽\n咳嗽\n热咳\n", encoding="utf8")
    union = resolve(
        f"""
[seg]
@segmenters = "nerkit.UnionSegmenter.v1"

[seg.*.pkuseg]
@segmenters = "nerkit.PkusegSegmenter.v1"
model = "{pkuseg_model}"

[seg.*.matcher]
@segmenters = "nerkit.LexiconMatcher.v1"
words_file = "{words}"
"""
    )
    pku, match = union.segmenters
    text = "患者出现发热咳嗽症状"
    merged = {(s, e): w for w, s, e in pku(text) + match(text)}
    assert union(text) == [(w, s, e) for (s, e), w in sorted(merged.items())]
    assert ("咳嗽", 6, 7) in union(text) and ("发热咳嗽", 4, 7) in union(text)
    assert len(union(text)) == len(merged) < len(pku(text)) + len(match(text))  # deduplicated
    assert pku.cache_key in union.cache_key and match.cache_key in union.cache_key


# -- cache -------------------------------------------------------------------------------


class CountingSegmenter(Segmenter):
    """Two-character windows; counts calls."""

    def __init__(self, key: str = "counting|v1") -> None:
        self.calls = 0
        self.cache_key = key

    def __call__(self, text: str):
        self.calls += 1
        return [(text[i : i + 2], i, i + 1) for i in range(0, len(text) - 1, 2)]


def test_cache_prevents_resegmentation(tmp_path):
    texts = ["患者发热", "咳嗽三天", "患者发热", "", "头痛"]
    first = CountingSegmenter()
    out = segment_corpus(first, texts, tmp_path)
    assert first.calls == 4  # the repeated text is segmented once
    assert out[0] == out[2] == [("患者", 0, 1), ("发热", 2, 3)]
    second = CountingSegmenter()
    assert segment_corpus(second, texts, tmp_path) == out
    assert second.calls == 0
    # only new texts are segmented; another setting has its own cache
    assert segment_corpus(second, texts + ["新的句子"], tmp_path)[-1] == [
        ("新的", 0, 1),
        ("句子", 2, 3),
    ]
    assert second.calls == 1
    other = CountingSegmenter("counting|v2")
    segment_corpus(other, texts, tmp_path)
    assert other.calls == 4
    assert len(SegmentCache(tmp_path, "counting|v1")) == 5
    # no cache when asked
    nocache = CountingSegmenter()
    segment_corpus(nocache, texts, tmp_path, use_cache=False)
    assert nocache.calls == 4


def test_cache_skips_pkuseg_model_load(pkuseg_model, tmp_path):
    seg = resolve(pkuseg_cfg(pkuseg_model))
    first = segment_corpus(seg, TEXTS, tmp_path)
    again = resolve(pkuseg_cfg(pkuseg_model))
    assert segment_corpus(again, TEXTS, tmp_path) == first
    assert not again.loaded  # everything came from the cache: pkuseg never ran


def test_cache_unreadable_file_falls_back(tmp_path, caplog):
    seg = CountingSegmenter()
    cache = SegmentCache(tmp_path, seg.cache_key)
    tmp_path.mkdir(exist_ok=True)
    cache.path.write_bytes(b"this is not a sqlite database" * 10)
    with caplog.at_level(logging.WARNING, logger="nerkit"):
        out = segment_corpus(seg, ["患者发热"], tmp_path)
    assert out == [[("患者", 0, 1), ("发热", 2, 3)]] and seg.calls == 1
    assert "unusable" in caplog.text


def test_cache_dir_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("NERKIT_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c" / "segments"
    monkeypatch.delenv("NERKIT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "nerkit" / "segments"
    seg = CountingSegmenter()
    monkeypatch.setenv("NERKIT_CACHE", str(tmp_path / "c"))
    segment_corpus(seg, ["患者发热"])
    assert list((tmp_path / "c" / "segments").glob("*.sqlite"))
