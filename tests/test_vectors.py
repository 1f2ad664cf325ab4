"""Word vectors in word2vec text and binary formats, written here with gensim."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from confection import Config

from nerkit.errors import ModelLoadError
from nerkit.registry import registry

WORDS = ["患者", "发热", "咳嗽", "阿莫西林", "，", "CT"]


@pytest.fixture(scope="module")
def kv():
    from gensim.models import KeyedVectors

    rng = np.random.default_rng(0)
    kv = KeyedVectors(vector_size=5)
    kv.add_vectors(WORDS, rng.normal(size=(len(WORDS), 5)).astype(np.float32))
    return kv


def load(path, **settings):
    lines = ["[v]", '@vectors = "nerkit.Word2Vec.v1"', f'path = "{path}"']
    for k, v in settings.items():
        lines.append(f"{k} = {str(v).lower() if isinstance(v, bool) else v}")
    return registry.resolve(Config().from_str("\n".join(lines)))["v"]


def write(kv, path: Path, binary: bool) -> Path:
    kv.save_word2vec_format(str(path), binary=binary)
    return path


@pytest.mark.parametrize(
    "name,binary",
    [
        ("vecs.txt", False),
        ("vecs.bin", True),
        ("sgns.merge.word", False),  # no telling extension: sniffed from the bytes
        ("vectors.dat", True),
        ("Medical.txt", False),
    ],
)
def test_load_and_lookup(kv, tmp_path, name, binary):
    vec = load(write(kv, tmp_path / name, binary))
    assert vec.binary is binary and vec.dim == 5
    assert not vec.loaded  # only the header is read at build time
    assert vec.vocab() == WORDS
    found, matrix = vec.lookup(["发热", "没有", "阿莫西林", "患者"])
    assert found == ["发热", "阿莫西林", "患者"]
    assert matrix.dtype == np.float32 and matrix.shape == (3, 5)
    expected = np.stack([kv["发热"], kv["阿莫西林"], kv["患者"]])
    np.testing.assert_allclose(matrix, expected, rtol=0, atol=1e-6)
    assert "咳嗽" in vec and "没有" not in vec and len(vec) == len(WORDS)
    found, matrix = vec.lookup(["没有"])
    assert found == [] and matrix.shape == (0, 5)
    vec.release()
    assert not vec.loaded and vec.vocab() == WORDS  # loads again on demand


def test_explicit_format_and_limit(kv, tmp_path):
    path = write(kv, tmp_path / "vecs", True)
    vec = load(path, binary=True, limit=3)
    assert vec.vocab() == WORDS[:3]
    found, matrix = vec.lookup(WORDS)
    assert found == WORDS[:3]
    np.testing.assert_allclose(matrix, kv.vectors[:3], atol=1e-6)


def test_gzip_and_headerless_text(kv, tmp_path):
    text = write(kv, tmp_path / "vecs.txt", False)
    gz = tmp_path / "vecs.txt.gz"
    gz.write_bytes(gzip.compress(text.read_bytes()))
    found, matrix = load(gz).lookup(["咳嗽"])
    np.testing.assert_allclose(matrix[0], kv["咳嗽"], atol=1e-6)

    headerless = tmp_path / "plain.vec"
    headerless.write_text("发热 0.5 -1 2\n咳嗽 1e-3 0 0.25\n", encoding="utf8")
    vec = load(headerless)
    assert vec.dim == 3 and vec.vocab() == ["发热", "咳嗽"]
    np.testing.assert_array_equal(vec.lookup(["咳嗽"])[1], np.array([[1e-3, 0, 0.25]], np.float32))


def test_missing_file_names_path_and_key(tmp_path):
    with pytest.raises(ModelLoadError) as err:
        load(tmp_path / "sgns.merge.word")
    msg = str(err.value)
    assert (
        str(tmp_path / "sgns.merge.word") in msg
        and "--initialize.model.lexicon.vectors.path" in msg
    )


def test_wrong_format_is_explained(kv, tmp_path):
    path = write(kv, tmp_path / "vecs.bin", True)
    vec = load(path, binary=False)
    with pytest.raises(ModelLoadError, match="binary = true"):
        vec.vocab()
    bad = tmp_path / "notes.txt"
    bad.write_text("these are not vectors\n", encoding="utf8")
    with pytest.raises(ModelLoadError, match="not a word2vec file"):
        load(bad)


def test_malformed_line_is_skipped_with_warning(tmp_path, caplog):
    path = tmp_path / "vecs.txt"
    path.write_text("4 2\n发热 1 2\n坏 1\n咳嗽 3 4\n发热 9 9\n", encoding="utf8")
    vec = load(path)
    assert vec.vocab() == ["发热", "坏", "咳嗽", "发热"]
    with caplog.at_level("WARNING", logger="nerkit"):
        found, matrix = vec.lookup(["咳嗽", "坏", "发热"])
    assert found == ["咳嗽", "发热"]  # a duplicated word keeps its first vector
    np.testing.assert_array_equal(matrix, np.array([[3, 4], [1, 2]], np.float32))
    assert "malformed" in caplog.text and "'坏'" in caplog.text
