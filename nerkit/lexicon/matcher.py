"""Every lexicon word that occurs in a sentence (``nerkit.LexiconMatcher.v1``).

This is FLAT's lattice: all substrings of the sentence that are words of the
lexicon, overlapping ones included. The lexicon is a words file, or (when
``words_file`` is null) the vocabulary of the word vectors, which the
``Lexicon`` hands over with ``set_words``.

The trie is stored as one dict keyed by prefix (a hashed trie): the value of
a key has bit 1 set if the key is a word and bit 2 if it is a proper prefix
of a longer word. Matching walks from every start position while the
substring is a prefix, so a sentence of n characters costs at most
n * max_length dict lookups, and a 1M-word lexicon needs one dict entry per
distinct prefix rather than a dict object per trie node.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from ..errors import ConfigError, ModelLoadError
from ..registry import FileArg, file_args
from .base import Word, WordListSegmenter

_WORD = 1
_PREFIX = 2


@file_args(words_file=FileArg("file", "word list"))
def lexicon_matcher(
    words_file: Optional[str] = None,
    min_length: int = 2,
    max_length: int = 10,
) -> LexiconMatcher:
    """All lexicon words occurring in the text, overlapping words included.

    words_file: one word per line (extra tab/space-separated columns are
        ignored); null to use the vocabulary of the lexicon's word vectors.
        Init-only: set it in [initialize.model.lexicon.segmenter...]; a saved model
        keeps the corpus words it matched and needs no words file.
    min_length, max_length: lengths of the words kept, in characters.
    """
    return LexiconMatcher(words_file, min_length, max_length)


class LexiconMatcher(WordListSegmenter):
    """Callable ``text -> [(word, start, end)]``, sorted by (start, end)."""

    def __init__(self, words_file: Optional[str], min_length: int, max_length: int) -> None:
        if not 1 <= min_length <= max_length:
            raise ConfigError(
                f"LexiconMatcher: expected 1 <= min_length <= max_length, got "
                f"min_length={min_length}, max_length={max_length}."
            )
        self.words_file = Path(words_file).expanduser() if words_file is not None else None
        self.min_length = min_length
        self.max_length = max_length
        self._base: Optional[Dict[str, int]] = None  # words file or set_words
        self._base_droppable = False
        self._active: Optional[Dict[str, int]] = None  # restriction, if any
        self._key: Optional[str] = None
        self.source = str(self.words_file) if self.words_file is not None else "vectors"

    # -- the word list ---------------------------------------------------------
    # The *base* lexicon is the words file or a list given with ``set_words``;
    # ``restrict`` narrows matching to a subset (the Lexicon does this after
    # initialize) and ``reset`` goes back to the base.

    @property
    def needs_words(self) -> bool:
        """True when there is no words file, no word list and no restriction."""
        return self._active is None and self._base is None and self.words_file is None

    def set_words(
        self, words: Iterable[str], source: str = "word list", transient: bool = False
    ) -> None:
        """Use ``words`` as the base lexicon instead of the words file.

        ``transient``: the list may be dropped by ``restrict`` to free memory
        (the caller gives it again when needed, as the Lexicon does with the
        vectors' vocabulary).
        """
        self._base = self._build(words)
        self._base_droppable = transient
        self._active = None
        self._key = None
        self.source = source

    def restrict(self, words: Iterable[str]) -> None:
        """Match only ``words`` (until ``reset``); frees a droppable base lexicon."""
        self._active = self._build(words)
        self._key = None
        if self._base_droppable:
            self._base = None

    def reset(self) -> None:
        """Undo ``restrict``: match the base lexicon again (re-reading the words file)."""
        self._active = None
        self._key = None

    def _build(self, words: Iterable[str]) -> Dict[str, int]:
        trie: Dict[str, int] = {}
        lo, hi = self.min_length, self.max_length
        for word in words:
            n = len(word)
            if n < lo or n > hi:
                continue
            trie[word] = trie.get(word, 0) | _WORD
            for k in range(n - 1, 0, -1):
                prefix = word[:k]
                flag = trie.get(prefix, 0)
                if flag & _PREFIX:
                    break  # shorter prefixes are marked already
                trie[prefix] = flag | _PREFIX
        return trie

    def has_word(self, word: str) -> bool:
        return bool(self._get_trie().get(word, 0) & _WORD)

    def words(self) -> List[str]:
        """The words matched now, within the length limits."""
        return [w for w, f in self._get_trie().items() if f & _WORD]

    def __len__(self) -> int:
        return sum(1 for f in self._get_trie().values() if f & _WORD)

    def _get_trie(self) -> Dict[str, int]:
        if self._active is not None:
            return self._active
        if self._base is None:
            if self.words_file is None:
                raise ConfigError(
                    "LexiconMatcher has no words: set its words_file (one word per line), or "
                    "give the lexicon word vectors (model.lexicon.vectors) whose vocabulary "
                    "it then uses."
                )
            self._base = self._build(_read_words(self.words_file))
            self._base_droppable = True  # can be read again
        return self._base

    # -- matching ----------------------------------------------------------------

    def __call__(self, text: str) -> List[Word]:
        get = self._get_trie().get
        lo, hi = self.min_length, self.max_length
        n = len(text)
        out: List[Word] = []
        for i in range(n):
            stop = min(n, i + hi)
            for j in range(i + 1, stop + 1):
                sub = text[i:j]
                flag = get(sub)
                if flag is None:
                    break
                if flag & _WORD and j - i >= lo:
                    out.append((sub, i, j - 1))
                if not flag & _PREFIX:
                    break
        return out

    def matchers(self) -> List[WordListSegmenter]:
        return [self]

    def to_disk(self, path: Path) -> None:
        """Nothing to write: the ``Lexicon`` saves the corpus words this matcher keeps
        (``restrict``) with its vocabulary, so the words file is not needed."""

    def from_disk(self, path: Path) -> LexiconMatcher:
        return self

    @property
    def cache_key(self) -> str:
        if self._key is None:
            digest = hashlib.sha1("\n".join(sorted(self.words())).encode("utf8")).hexdigest()
            self._key = (
                f"nerkit.LexiconMatcher.v1|words={digest[:20]}"
                f"|min_length={self.min_length}|max_length={self.max_length}"
            )
        return self._key

    def __repr__(self) -> str:
        return (
            f"LexiconMatcher(source={self.source!r}, min_length={self.min_length}, "
            f"max_length={self.max_length})"
        )


def _read_words(path: Path) -> List[str]:
    if not path.is_file():
        raise ModelLoadError(
            f"Lexicon words file not found: {path}. Fix the matcher's words_file setting "
            "(e.g. --initialize.model.lexicon.segmenter.words_file /path/words.txt) or set it to null "
            "to use the word vectors' vocabulary."
        )
    words = []
    with path.open(encoding="utf-8-sig") as f:
        for line in f:
            parts = line.split()
            if parts:
                words.append(parts[0])
    return words
