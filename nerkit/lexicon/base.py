"""The interfaces of the lexicon layer: segmenters, word vectors and the lexicon.

Each ``Protocol`` lists every method the framework calls; nerkit never probes for
a method with ``hasattr``. Subclassing a protocol explicitly (``class
MySegmenter(Segmenter)``) inherits the defaults written here: no segmentation
cache, no files, no word list, no children.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, List, Optional, Protocol, Sequence, Tuple

import numpy as np
from torch import Tensor

Word = Tuple[str, int, int]  # (word, first char, last char inclusive)
LatticeWord = Tuple[int, int, int]  # (start, end inclusive, lexicon row)


class Segmenter(Protocol):
    """``text -> [(word, start, end inclusive)]``: the lattice words of a text."""

    def __call__(self, text: str) -> List[Word]: ...

    # Everything that determines the output, for the on-disk segmentation cache;
    # None: not cached. (A class attribute here; a property in most segmenters.)
    cache_key: Optional[str] = None

    def matchers(self) -> List[WordListSegmenter]:
        """The word-list segmenters inside this one (itself included), in order; the
        Lexicon restricts them to the corpus words it keeps."""
        return []

    def to_disk(self, path: Path) -> None:
        """Write the files this segmenter needs to run (a model, a dictionary) into
        ``path`` (created if anything is written); nothing by default."""

    def from_disk(self, path: Path) -> Segmenter:
        """Use the files ``to_disk`` wrote instead of the original ones (read-only)."""
        return self


class WordListSegmenter(Segmenter, Protocol):
    """A segmenter that matches a word list (``nerkit.LexiconMatcher.v1``)."""

    @property
    def needs_words(self) -> bool:
        """True when it has no word list of its own (it takes the vectors' vocabulary)."""
        ...

    def set_words(
        self, words: Iterable[str], source: str = "word list", transient: bool = False
    ) -> None: ...

    def restrict(self, words: Iterable[str]) -> None: ...

    def reset(self) -> None: ...

    def has_word(self, word: str) -> bool: ...


class Vectors(Protocol):
    """Pretrained word vectors (an init-only resource of the lexicon)."""

    dim: int

    def vocab(self) -> List[str]: ...

    def lookup(self, words: Iterable[str]) -> Tuple[List[str], np.ndarray]:
        """The words that have a vector, and their vectors [n, dim] float32."""
        ...

    def release(self) -> None:
        """Free what was loaded, once the lexicon has taken the rows it needs."""


class LexiconProtocol(Protocol):
    """What the model and the fusions use of a lexicon (``nerkit.Lexicon.v1``)."""

    dim: int
    vectors: Optional[Tensor]  # [V, dim] float32, row 0 padding, row 1 unknown

    @property
    def initialized(self) -> bool: ...

    def initialize(self, texts: Iterable[str]) -> None: ...

    def lattice(self, text: str) -> List[LatticeWord]: ...

    def lattices(self, texts: Sequence[str]) -> List[List[LatticeWord]]: ...

    def to_disk(self, path: Path) -> None: ...

    def from_disk(self, path: Path) -> LexiconProtocol: ...
