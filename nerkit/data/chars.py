"""One vocabulary id per character, so entity offsets map back exactly.

A WordPiece tokenizer may split, merge or drop characters (spaces, control
characters, accents), which breaks the character offsets CMeEE uses.
:class:`CharVocab` instead looks every character up on its own, trying in
turn (the first hit wins):

1. the character itself;
2. its lowercase form;
3. its NFKC form, lowercased (full-width ``Ａ１，`` -> ``a1,``), when that is one character;
4. the same without accents (``é`` -> ``e``), as BERT's uncased tokenizer does;
5. an ASCII stand-in for typographic punctuation (``“”`` -> ``"``, ``—`` -> ``-``);
6. whitespace and control characters -> ``space_token`` if the vocabulary has it, else unk;
7. anything else -> ``unk_token``.

Steps 4-5 only ever replace what would otherwise be ``[UNK]``.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from ..errors import ConfigError, ModelLoadError

_PUNCT = {
    "\u2018": "'",  # ‘
    "\u2019": "'",  # ’
    "\u201a": "'",  # ‚
    "\u2032": "'",  # ′
    "\u201c": '"',  # “
    "\u201d": '"',  # ”
    "\u201e": '"',  # „
    "\u2033": '"',  # ″
    "\u2010": "-",  # ‐
    "\u2011": "-",  # ‑
    "\u2012": "-",  # ‒
    "\u2013": "-",  # –
    "\u2014": "-",  # —
    "\u2015": "-",  # ―
    "\u2212": "-",  # −
}


def is_space_or_control(char: str) -> bool:
    """Whitespace (incl. full-width space) or a control/format character (incl. BOM)."""
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zs", "Zl", "Zp")


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


class CharVocab:
    """Character -> id lookup over a WordPiece vocabulary (``token -> id``)."""

    def __init__(
        self,
        vocab: Dict[str, int],
        unk_token: str = "[UNK]",
        space_token: Optional[str] = "[unused1]",
    ) -> None:
        if not vocab:
            raise ConfigError("CharVocab: the vocabulary is empty.")
        if unk_token not in vocab:
            raise ConfigError(
                f"CharVocab: unk_token {unk_token!r} is not in the vocabulary ({len(vocab)} entries). "
                "Pass the unknown token the vocabulary uses."
            )
        self.vocab = vocab
        self.unk_token = unk_token
        self.unk_id = int(vocab[unk_token])
        self.space_token = space_token if space_token in vocab else None
        self.space_id = int(vocab[space_token]) if self.space_token is not None else self.unk_id
        self._cache: Dict[str, int] = {}

    @classmethod
    def from_file(cls, path: Union[str, Path], **options: Any) -> CharVocab:
        """Read a ``vocab.txt``: one token per line, the id is the line number; ``options``
        (``unk_token``, ``space_token``) as for :class:`CharVocab`."""
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8").split("\n")
        except FileNotFoundError:
            raise ModelLoadError(f"vocabulary file not found: {path}") from None
        except UnicodeDecodeError as err:
            raise ModelLoadError(f"{path}: not UTF-8 text ({err.reason}).") from None
        if lines and lines[-1] == "":
            lines.pop()
        vocab: Dict[str, int] = {}
        for i, line in enumerate(lines):
            vocab[line.rstrip("\r")] = i  # a repeated token keeps its last id, as transformers does
        return cls(vocab, **options)

    def __len__(self) -> int:
        return len(self.vocab)

    def lookup(self, char: str) -> int:
        """The id of one character (uncached)."""
        vocab = self.vocab
        if char in vocab:
            return vocab[char]
        lower = char.lower()
        if lower in vocab:
            return vocab[lower]
        norm = unicodedata.normalize("NFKC", char).lower()
        if len(norm) == 1 and norm in vocab:
            return vocab[norm]
        plain = _strip_accents(norm)
        if len(plain) == 1 and plain in vocab:
            return vocab[plain]
        punct = _PUNCT.get(char)
        if punct is not None and punct in vocab:
            return vocab[punct]
        if is_space_or_control(char) or (norm and norm.isspace()):
            return self.space_id
        return self.unk_id

    def id(self, char: str) -> int:
        """The id of one character (cached)."""
        try:
            return self._cache[char]
        except KeyError:
            value = self._cache[char] = self.lookup(char)
            return value

    def ids(self, text: str) -> List[int]:
        """One id per character: ``len(self.ids(text)) == len(text)``."""
        cache = self._cache
        try:
            return list(map(cache.__getitem__, text))
        except KeyError:
            for c in set(text).difference(cache):
                cache[c] = self.lookup(c)
            return list(map(cache.__getitem__, text))

    def batch_ids(self, texts: Sequence[str]) -> List[List[int]]:
        return [self.ids(t) for t in texts]

    def token_id(self, token: str) -> int:
        """The id of a whole vocabulary token (e.g. ``[CLS]``), unk if absent."""
        return int(self.vocab.get(token, self.unk_id))

    def __repr__(self) -> str:
        return f"CharVocab({len(self.vocab)} entries, unk={self.unk_token!r}, space={self.space_token!r})"
