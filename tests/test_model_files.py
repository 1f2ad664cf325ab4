"""The save step reads the components' file declarations (registry.file_args): meta.json
lists each declared file a config sets and the model-directory folder of its copy, for a
plugin-like component as for the built-ins; components name themselves from the registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import catalogue
import pytest

from nerkit.config import resolve_section
from nerkit.data.schemes.spans import span_scheme
from nerkit.errors import ConfigError
from nerkit.lexicon.base import Segmenter
from nerkit.models.decoders.efficient_global_pointer import efficient_global_pointer
from nerkit.models.decoders.global_pointer import global_pointer
from nerkit.models.fusion.concat import concat_fusion
from nerkit.models.io import load_model, save_model
from nerkit.registry import FileArg, file_args, name_of, registry
from nerkit.types import Example

from .conftest import fast_config

WORDS = "words.txt"


class WordFileSegmenter(Segmenter):
    """Every word of a word file in the text; keeps its own copy of the words."""

    def __init__(self, words_path: Optional[str]) -> None:
        self.words = set()
        if words_path is not None:
            self.words = set(Path(words_path).read_text(encoding="utf8").split())

    def __call__(self, text: str) -> List[Tuple[str, int, int]]:
        return [
            (text[i:j], i, j - 1)
            for i in range(len(text))
            for j in range(i + 2, min(len(text), i + 4) + 1)
            if text[i:j] in self.words
        ]

    def to_disk(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        (path / WORDS).write_text("\n".join(sorted(self.words)), encoding="utf8")

    def from_disk(self, path: Path) -> WordFileSegmenter:
        self.words = set((path / WORDS).read_text(encoding="utf8").split())
        return self


@file_args(words_path=FileArg("file", "word list"))
def word_file_segmenter(words_path: Optional[str] = None) -> WordFileSegmenter:
    return WordFileSegmenter(words_path)


@file_args(table=FileArg("file", "a table its weights start from"))
def table_fusion(table: Optional[str] = None, dropout: float = 0.0):
    """A fusion that would read its start weights from ``table`` (into model.safetensors)."""
    return concat_fusion(dropout)


PLUGINS = [
    ("segmenters", "acme.WordFile.v1", word_file_segmenter),
    ("fusions", "acme.TableFusion.v1", table_fusion),
]


@pytest.fixture
def plugins() -> Iterator[None]:
    for kind, name, func in PLUGINS:
        getattr(registry, kind).register(name, func=func)
    yield
    for kind, name, _ in PLUGINS:
        catalogue.REGISTRY.pop(("nerkit", kind, name))


def test_meta_lists_each_declared_file_and_its_copy(tmp_path: Path, plugins):
    words, table = tmp_path / "words.txt", tmp_path / "table.npy"
    words.write_text("患者\n高血压\n", encoding="utf8")
    cfg = fast_config(
        **{
            "model.lexicon": {
                "@lexicons": "nerkit.Lexicon.v1",
                "dim": 8,
                "use_cache": False,
                "segmenter": {"@segmenters": "acme.WordFile.v1"},
            },
            "model.fusion": {"@fusions": "acme.TableFusion.v1", "table": str(table)},
            "initialize.model.lexicon": {"segmenter": {"words_path": str(words)}},
        }
    )
    model = resolve_section(cfg, "model")
    texts = ["患者有高血压", "高血压患者"]
    model.initialize(lambda: [Example(t) for t in texts], texts)
    out = tmp_path / "model"
    save_model(model, out, cfg)

    files = json.loads((out / "meta.json").read_text(encoding="utf8"))["files"]
    encoder = fast_config()["paths"]["encoder"]
    assert files == {
        "initialize.model.encoder.name_or_path": {"source": encoder, "copy": "encoder"},
        "initialize.model.lexicon.segmenter.words_path": {
            "source": str(words),
            "copy": "lexicon/segmenter",
        },
        # not an asset component: what it read is in the weights (or read again on load)
        "model.fusion.table": {"source": str(table), "copy": None},
    }
    assert (out / "lexicon" / "segmenter" / WORDS).read_text(encoding="utf8") == "患者\n高血压"
    words.unlink()
    loaded, _ = load_model(out)
    lattice = model.lexicon.lattice("患者有高血压")
    assert len(lattice) == 2 and loaded.lexicon.lattice("患者有高血压") == lattice


def test_components_name_themselves_from_the_registry():
    assert name_of("decoders", global_pointer) == "nerkit.GlobalPointer.v1"
    assert name_of("decoders", efficient_global_pointer) == "nerkit.EfficientGlobalPointer.v1"
    assert name_of("decoders", word_file_segmenter) == "word_file_segmenter"  # not registered
    with pytest.raises(ConfigError, match=r"^nerkit\.EfficientGlobalPointer\.v1: `head_size` = 7"):
        efficient_global_pointer(span_scheme(labels=["a"]), head_size=7)
    with pytest.raises(ConfigError, match=r"^nerkit\.GlobalPointer\.v1: input width must be > 0"):
        global_pointer(span_scheme(labels=["a"]))(0)
