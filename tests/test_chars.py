"""CharVocab: exactly one id per character, with sensible fallbacks."""

from __future__ import annotations

import pytest

from nerkit.data.chars import CharVocab
from nerkit.errors import ConfigError, ModelLoadError

from .conftest import needs_shared

TOKENS = [
    "[PAD]",
    "[unused1]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "a",
    "1",
    ",",
    "头",
    "痛",
    '"',
    "-",
    "e",
    "ⅲ",
]
SMALL = {t: i for i, t in enumerate(TOKENS)}


def test_lookup_order_small_vocab():
    v = CharVocab(SMALL)
    ids = v.ids("头A１，“é—Ⅲ 痛\t\ufeff😀x")
    assert ids == [
        8,  # 头
        5,  # A -> a (lowercase)
        6,  # full-width １ -> 1 (NFKC)
        7,  # full-width ， -> , (NFKC)
        10,  # “ -> " (typographic punctuation)
        12,  # é -> e (accents stripped)
        11,  # — -> -
        13,  # Ⅲ -> ⅲ (lowercase, before NFKC would give "iii")
        1,  # space -> [unused1]
        9,  # 痛
        1,  # tab -> [unused1]
        1,  # BOM (format character) -> [unused1]
        2,  # emoji -> [UNK]
        2,  # x not in the vocabulary -> [UNK]
    ]
    assert v.unk_id == 2 and v.space_id == 1 and len(v) == len(TOKENS)
    assert v.token_id("[CLS]") == 3 and v.token_id("[nope]") == 2


def test_cache_does_not_change_results():
    v = CharVocab(SMALL)
    text = "A头 x１A"
    first = v.ids(text)
    assert v.ids(text) == first == [v.lookup(c) for c in text] == [v.id(c) for c in text]
    assert v.ids("") == []


def test_space_token_missing_falls_back_to_unk():
    vocab = {"[UNK]": 0, "a": 1}
    assert CharVocab(vocab).ids("a a") == [1, 0, 1]
    assert CharVocab(vocab, space_token=None).space_id == 0


def test_unknown_unk_token():
    with pytest.raises(ConfigError, match="unk_token '<unk>' is not in the vocabulary"):
        CharVocab(SMALL, unk_token="<unk>")


def test_from_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(TOKENS) + "\n", encoding="utf-8")
    v = CharVocab.from_file(path)
    assert v.vocab == SMALL
    with pytest.raises(ModelLoadError, match="vocabulary file not found"):
        CharVocab.from_file(tmp_path / "missing.txt")


@pytest.fixture(scope="module")
def real(shared_data) -> CharVocab:
    return CharVocab.from_file(needs_shared("vocab/bert-base-chinese-vocab.txt"))


def test_real_vocab_mappings(real):
    vocab = real.vocab
    assert (
        len(real) == 21128
        and real.unk_id == vocab["[UNK]"] == 100
        and real.space_id == vocab["[unused1]"] == 1
    )
    text = "患者CT示HbA1c 7.5%，ＡＢ１２３　发热😀"
    ids = real.ids(text)
    assert len(ids) == len(text)
    expect = {
        "患": vocab["患"],
        "C": vocab["c"],  # upper case -> lower case
        "b": vocab["b"],
        "1": vocab["1"],
        ".": vocab["."],
        "%": vocab["%"],
        "，": vocab["，"],  # full-width comma is in the vocabulary itself
        "Ａ": vocab["ａ"],  # full-width letter -> its lowercase full-width entry
        "１": vocab["１"],
        " ": 1,  # space -> [unused1]
        "\u3000": 1,  # ideographic space -> [unused1]
        "😀": 100,
    }
    for ch, want in expect.items():
        assert ids[text.index(ch)] == want, ch
    assert real.ids("ö“é”") == [vocab["o"], vocab['"'], vocab["e"], vocab['"']]


def test_real_vocab_preserves_length_on_dev(real):
    from nerkit.data.formats.cmeee import read_cmeee

    corpus = read_cmeee(needs_shared("cmeee/CMeEE_dev.json"))
    unk = 0
    for ex in corpus:
        ids = real.ids(ex.text)
        assert len(ids) == len(ex.text)
        unk += ids.count(real.unk_id)
    # Rare characters (蛲, 肼, Ⅸ ...) are unknown, but they are a tiny fraction.
    assert 0 < unk < 0.001 * sum(len(ex.text) for ex in corpus)
