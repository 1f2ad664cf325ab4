"""Masked-language-model masking (``@maskers``): which characters a window hides.

A masker cuts a window's text into *units* masked together: single characters
(``nerkit.CharMasker.v1``, BERT's masking over a character vocabulary) or the
words a segmenter finds (``nerkit.WholeWordMasker.v1``, as Chinese BERT-wwm and
RoBERTa-wwm mask the words of a segmenter: every character of a chosen word is
masked). Units are picked in random order until ``round(rate * n)`` of the ``n``
characters are chosen (a unit that would overshoot is skipped, as in
transformers' ``DataCollatorForWholeWordMask``; at least one character is always
chosen). Each chosen character becomes ``[MASK]`` with probability
``mask_ratio``, a random ordinary token with probability ``random_ratio``, and
stays as it is otherwise (the 80/10/10 rule); its label is its own id, the
label of every other position -100 (ignored by the loss).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import ConfigError

Unit = Tuple[int, int]  # (start, end exclusive) in the window
IGNORE = -100


@dataclass(frozen=True)
class MaskVocab:
    """What masking needs of the tokenizer: the [MASK] id and the ids a random replacement draws from."""

    mask_id: int
    random_ids: np.ndarray  # [V'] int64: the vocabulary less its special tokens

    @classmethod
    def build(
        cls, vocab_size: int, mask_id: Optional[int], special_ids: Sequence[int]
    ) -> MaskVocab:
        if mask_id is None:
            raise ConfigError(
                "The encoder's tokenizer has no [MASK] token, so masked-LM pretraining can't "
                "hide characters. Use a BERT-family tokenizer (vocab.txt with [MASK])."
            )
        keep = np.ones(vocab_size, dtype=bool)
        keep[[i for i in special_ids if 0 <= i < vocab_size]] = False
        return cls(int(mask_id), np.flatnonzero(keep).astype(np.int64))


def word_units(length: int, words: Sequence[Tuple[str, int, int]]) -> List[Unit]:
    """Non-overlapping units covering ``range(length)``: the segmenter's words (``end``
    inclusive), longest first where they overlap, left to right, and single characters
    elsewhere."""
    units: List[Unit] = []
    pos = 0
    for _, start, end in sorted(words, key=lambda w: (w[1], -w[2])):
        if start < pos or end >= length:
            continue  # overlaps a word already taken (or lies outside the window)
        units.extend((i, i + 1) for i in range(pos, start))
        units.append((start, end + 1))
        pos = end + 1
    units.extend((i, i + 1) for i in range(pos, length))
    return units


class Masker:
    """Chooses the characters to predict and replaces them (the module doc's rule)."""

    def __init__(self, rate: float, mask_ratio: float, random_ratio: float, name: str) -> None:
        if not 0.0 < rate < 1.0:
            raise ConfigError(
                f"pretraining.masker.rate: expected a fraction in (0, 1), e.g. 0.15, got {rate} ({name})."
            )
        if mask_ratio < 0 or random_ratio < 0 or mask_ratio + random_ratio > 1.0 + 1e-9:
            raise ConfigError(
                f"pretraining.masker: mask_ratio ({mask_ratio}) and random_ratio ({random_ratio}) "
                f"must be >= 0 and add up to at most 1 (BERT: 0.8 and 0.1) ({name})."
            )
        self.rate = rate
        self.mask_ratio = mask_ratio
        self.random_ratio = random_ratio

    def units(self, text: str) -> List[Unit]:
        """The spans of ``text`` masked together."""
        return [(i, i + 1) for i in range(len(text))]

    def __call__(
        self, text: str, ids: Sequence[int], vocab: MaskVocab, rng: np.random.Generator
    ) -> Tuple[np.ndarray, np.ndarray]:
        """(input ids, labels), both [n] int64, for a window of ``n`` characters."""
        ids = np.asarray(ids, dtype=np.int64)
        n = len(ids)
        chosen = np.zeros(n, dtype=bool)
        if n:
            units = self.units(text)
            budget = max(1, int(round(n * self.rate)))
            count = 0
            for u in rng.permutation(len(units)):
                start, end = units[u]
                if count + end - start > budget:
                    continue
                chosen[start:end] = True
                count += end - start
                if count == budget:
                    break
        labels = np.where(chosen, ids, IGNORE)
        roll = rng.random(n)
        out = ids.copy()
        out[chosen & (roll < self.mask_ratio)] = vocab.mask_id
        swap = chosen & (roll >= self.mask_ratio) & (roll < self.mask_ratio + self.random_ratio)
        out[swap] = rng.choice(vocab.random_ids, int(swap.sum()))
        return out, labels


class CharMasker(Masker):
    """Every character is a unit."""

    def __repr__(self) -> str:
        return f"CharMasker(rate={self.rate}, mask_ratio={self.mask_ratio}, random_ratio={self.random_ratio})"


class WholeWordMasker(Masker):
    """The segmenter's words are units; characters outside every word are units alone."""

    def __init__(self, segmenter: Any, rate: float, mask_ratio: float, random_ratio: float) -> None:
        super().__init__(rate, mask_ratio, random_ratio, "nerkit.WholeWordMasker.v1")
        if segmenter is None:
            raise ConfigError(
                "pretraining.masker.segmenter: nerkit.WholeWordMasker.v1 masks whole words, so it "
                "needs a segmenter to find them. Add a [pretraining.masker.segmenter] block (e.g. "
                '@segmenters = "nerkit.PkusegSegmenter.v1" with model = "medicine", or '
                '"nerkit.LexiconMatcher.v1" with a words_file), or mask single characters with '
                '@maskers = "nerkit.CharMasker.v1".'
            )
        matchers = segmenter.matchers()
        if any(m.needs_words for m in matchers):
            raise ConfigError(
                "pretraining.masker.segmenter: the lexicon matcher has no word list (in a model it "
                'takes the word vectors\' vocabulary). Give it one: words_file = "words.txt".'
            )
        self.segmenter = segmenter

    def units(self, text: str) -> List[Unit]:
        return word_units(len(text), self.segmenter(text))

    def __repr__(self) -> str:
        return f"WholeWordMasker({self.segmenter!r}, rate={self.rate})"


def whole_word_masker(
    segmenter: Optional[Any] = None,
    rate: float = 0.15,
    mask_ratio: float = 0.8,
    random_ratio: float = 0.1,
) -> WholeWordMasker:
    """Whole-word masking over the words of a segmenter (Chinese BERT-wwm's masking).

    segmenter: an ``@segmenters`` block (pkuseg, the lexicon matcher, a union); required.
    rate: the fraction of characters predicted.
    mask_ratio, random_ratio: of the predicted characters, the fraction replaced by
        [MASK] and by a random token (the rest stay as they are).
    """
    return WholeWordMasker(segmenter, rate, mask_ratio, random_ratio)


def char_masker(
    rate: float = 0.15, mask_ratio: float = 0.8, random_ratio: float = 0.1
) -> CharMasker:
    """BERT's masking, one character at a time.

    rate: the fraction of characters predicted.
    mask_ratio, random_ratio: of the predicted characters, the fraction replaced by
        [MASK] and by a random token (the rest stay as they are).
    """
    return CharMasker(rate, mask_ratio, random_ratio, "nerkit.CharMasker.v1")
