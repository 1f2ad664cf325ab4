"""Batching, in one place: window features of records, collation into padded
tensors (characters and lattice words), and length-sorted batches.

``NERModel.featurize``/``collate`` use these with its encoder and lexicon; the
training loop and the pipeline batch with ``sorted_batches``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from ..types import Entity

LatticeWord = Tuple[int, int, int]  # (start, end inclusive, lexicon row)


@dataclass
class LatticeBatch:
    """Lattice words of a batch, in character coordinates of the window.

    word_ids: [B, W] long, rows of the lexicon's vector matrix (0 = padding)
    starts, ends: [B, W] long, first and last (inclusive) character index
    mask: [B, W] bool, True for real words
    """

    word_ids: Tensor
    starts: Tensor
    ends: Tensor
    mask: Tensor

    def to(self, device: torch.device) -> LatticeBatch:
        return LatticeBatch(
            *(t.to(device) for t in (self.word_ids, self.starts, self.ends, self.mask))
        )


@dataclass
class WindowFeatures:
    """One window of one record, ready to batch."""

    record: int  # index of the record in the input sequence
    start: int  # first character of the window in the record
    end: int  # one past the last character
    char_ids: List[int]
    lattice: Optional[List[Tuple[int, int, int]]] = (
        None  # (start, end incl., word id), window coords
    )
    entities: List[Entity] = field(default_factory=list)  # gold, window coords

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass
class Batch:
    input_ids: Tensor  # [B, T] = [CLS] chars [SEP] pad
    attention_mask: Tensor  # [B, T]
    char_mask: Tensor  # [B, L] bool
    lattice: Optional[LatticeBatch]
    targets: Optional[Dict[str, Tensor]]
    features: List[WindowFeatures]

    def to(self, device: torch.device) -> Batch:
        return Batch(
            self.input_ids.to(device),
            self.attention_mask.to(device),
            self.char_mask.to(device),
            self.lattice.to(device) if self.lattice is not None else None,
            {k: v.to(device) for k, v in self.targets.items()} if self.targets else None,
            self.features,
        )


def collate_lattices(lattices: Sequence[Sequence[LatticeWord]]) -> LatticeBatch:
    """Pad lattices into a ``LatticeBatch``: [B, W] tensors, W = max(1, longest lattice).

    Padding positions have word id 0, start and end 0, mask False.
    """
    B = len(lattices)
    lengths = torch.tensor([len(x) for x in lattices], dtype=torch.long)  # [B]
    W = max(1, int(lengths.max())) if B else 1
    flat = torch.tensor([t for x in lattices for t in x], dtype=torch.long).view(-1, 3)  # [N, 3]
    mask = torch.arange(W)[None, :] < lengths[:, None]  # [B, W]
    word_ids = torch.zeros((B, W), dtype=torch.long)
    starts = torch.zeros((B, W), dtype=torch.long)
    ends = torch.zeros((B, W), dtype=torch.long)
    # Row-major order of the True positions of ``mask`` is the order of ``flat``.
    starts[mask] = flat[:, 0]
    ends[mask] = flat[:, 1]
    word_ids[mask] = flat[:, 2]
    return LatticeBatch(word_ids=word_ids, starts=starts, ends=ends, mask=mask)


def lattice_window(lattice: Sequence[LatticeWord], start: int, end: int) -> List[LatticeWord]:
    """Words fully inside the characters [start, end), shifted to window coordinates."""
    return [(s - start, e - start, w) for s, e, w in lattice if s >= start and e < end]


def sorted_batches(
    order: Sequence[int], sizes: Sequence[int], batch_size: int, max_tokens: Optional[int] = None
) -> List[List[int]]:
    """Cut ``order`` (items sorted by ascending ``sizes``) into consecutive batches of at
    most ``batch_size`` items and, if ``max_tokens`` is set, at most ``max_tokens``
    padded positions (items x the largest size). An item larger than ``max_tokens``
    is a batch of its own."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    if max_tokens is None:
        return [list(order[s : s + batch_size]) for s in range(0, len(order), batch_size)]
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1 (or None), got {max_tokens}.")
    batches: List[List[int]] = []
    current: List[int] = []
    for i in order:
        if current and (len(current) == batch_size or (len(current) + 1) * sizes[i] > max_tokens):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def make_batches(
    feats: Sequence[WindowFeatures],
    batch_size: int,
    seed: int,
    epoch: int,
    bucketing: bool,
    bucket_size: int,
) -> List[List[int]]:
    """Feature indices per batch for one epoch; the same for the same (seed, epoch).

    With bucketing, shuffled features are cut into chunks of
    ``batch_size * bucket_size``, each chunk sorted by length and cut into
    batches (little padding), and the batches shuffled again.
    """
    rng = random.Random(seed * 100_003 + epoch)
    order = list(range(len(feats)))
    rng.shuffle(order)
    if bucketing:
        chunk = batch_size * max(1, bucket_size)
        sorted_order: List[int] = []
        for s in range(0, len(order), chunk):
            sorted_order.extend(sorted(order[s : s + chunk], key=lambda i: feats[i].length))
        order = sorted_order
    batches = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
    if bucketing:
        rng.shuffle(batches)
    return batches
