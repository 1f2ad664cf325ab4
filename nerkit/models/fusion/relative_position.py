"""Pieces shared by the lattice fusions (FLAT, FLAT-light, concat).

A *flat lattice* is one token sequence: the L characters of the window first,
then the W lattice words. Every token has a head and a tail position in
character coordinates: a character ``i`` has head = tail = i, a word has head =
its first and tail = its last (inclusive) character. FLAT relates two tokens
i, j by four signed distances (Li et al. 2020, eq. 8-11)::

    d_hh = head_i - head_j   d_ht = head_i - tail_j
    d_th = tail_i - head_j   d_tt = tail_i - tail_j

All four lie in [-(L-1), L-1], so anything that is a function of one distance
can be tabulated once per distance value and looked up.
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from ...errors import ConfigError, DataError
from ...lexicon.base import LexiconProtocol
from ..base import LatticeBatch


def sinusoid_table(max_distance: int, dim: int) -> Tensor:
    """[2M+1, dim] sinusoidal embeddings of the distances -M..M (row ``d + M``).

    The first half of the dimensions holds sines, the second half cosines of
    ``d * 10000^(-k / (dim/2 - 1))`` (FLAT's ``get_embedding``); an odd ``dim``
    gets a zero last column.
    """
    half = dim // 2
    freq = torch.exp(
        torch.arange(half, dtype=torch.float64) * -(math.log(10000.0) / max(half - 1, 1))
    )
    angles = torch.arange(-max_distance, max_distance + 1, dtype=torch.float64)[:, None] * freq
    table = torch.cat([angles.sin(), angles.cos()], dim=1)
    if dim % 2:
        table = torch.cat([table, torch.zeros(table.shape[0], 1, dtype=table.dtype)], dim=1)
    return table.float()


def distance_indices(heads: Tensor, tails: Tensor, rows: slice, clip: int) -> Tensor:
    """Four distances of query rows ``rows`` to every token, as table rows.

    heads, tails: [B, N] long. Returns [B, R, N, 4] long in [0, 2*clip]: the
    distances (hh, ht, th, tt) clamped to [-clip, clip], plus ``clip``.
    """
    hq, tq = heads[:, rows, None], tails[:, rows, None]  # [B, R, 1]
    hk, tk = heads[:, None, :], tails[:, None, :]  # [B, 1, N]
    dist = torch.stack([hq - hk, hq - tk, tq - hk, tq - tk], dim=-1)  # [B, R, N, 4]
    return dist.clamp_(-clip, clip).add_(clip)


def check_lattice(lattice: LatticeBatch, batch_size: int, num_chars: int, component: str) -> None:
    """Raise a DataError naming the first lattice word that lies outside the window."""
    shape = tuple(lattice.word_ids.shape)
    for name in ("starts", "ends", "mask"):
        if tuple(getattr(lattice, name).shape) != shape:
            raise DataError(
                f"{component}: lattice.{name} has shape {tuple(getattr(lattice, name).shape)} "
                f"but lattice.word_ids has shape {shape}; all lattice fields must be [B, W]."
            )
    if len(shape) != 2 or shape[0] != batch_size:
        raise DataError(
            f"{component}: lattice fields have shape {shape} but the batch has {batch_size} "
            "sequences; build the lattice with nerkit's collate for the same batch."
        )
    if shape[1] == 0:
        return
    starts, ends, mask = lattice.starts, lattice.ends, lattice.mask
    bad = mask & ((starts < 0) | (ends < starts) | (ends >= num_chars))
    if bool(bad.any()):
        b, w = (int(v) for v in bad.nonzero()[0])
        raise DataError(
            f"{component}: lattice word {w} of batch row {b} has start {int(starts[b, w])} "
            f"and end {int(ends[b, w])} (inclusive), but a word needs "
            f"0 <= start <= end < {num_chars} (the window's length); "
            "cut the lattice to the window (NERModel does this) or mask the word out."
        )


def lattice_positions(
    char_mask: Tensor, lattice: Optional[LatticeBatch]
) -> Tuple[Tensor, Tensor, Tensor]:
    """Heads, tails and mask of the flat lattice, chars first: each [B, L + W]."""
    batch, length = char_mask.shape
    char_pos = torch.arange(length, device=char_mask.device).expand(batch, length)
    if lattice is None or lattice.word_ids.shape[1] == 0:
        return char_pos, char_pos, char_mask
    word_mask = lattice.mask.bool()
    starts = lattice.starts.long().masked_fill(~word_mask, 0)
    ends = lattice.ends.long().masked_fill(~word_mask, 0)
    heads = torch.cat([char_pos, starts], dim=1)
    tails = torch.cat([char_pos, ends], dim=1)
    return heads, tails, torch.cat([char_mask, word_mask], dim=1)


def word_embedding(
    lexicon: Optional[LexiconProtocol], freeze: bool, component: str
) -> nn.Embedding:
    """``lexicon.vectors`` [V, E] as an embedding with padding row 0 (shared when frozen)."""
    if lexicon is None:
        raise ConfigError(
            f"{component} needs word vectors but the model has no lexicon. Add a lexicon "
            'to the model config (model.lexicon = {"@lexicons": ...}), or use '
            "nerkit.NoFusion.v1 for a model without words."
        )
    vectors = getattr(lexicon, "vectors", None)  # validated below, for a clear error
    if not isinstance(vectors, Tensor) or vectors.dim() != 2 or vectors.shape[0] < 1:
        raise ConfigError(
            f"{component}: lexicon.vectors must be a float tensor [V, E] with the padding "
            f"row 0, got {type(vectors).__name__}"
            f"{' of shape ' + str(tuple(vectors.shape)) if isinstance(vectors, Tensor) else ''}. "
            "Initialise the lexicon (NERModel.initialize) before building the fusion."
        )
    weights = vectors.detach().float()
    if not freeze:  # trained vectors must not write into the lexicon's own tensor
        weights = weights.clone()
    return nn.Embedding.from_pretrained(weights, freeze=freeze, padding_idx=0)


def check_sizes(
    name: str,
    hidden: int,
    num_heads: int,
    num_layers: int,
    max_distance: int,
    query_chunk: Optional[int],
) -> None:
    """Raise a ConfigError for transformer sizes that cannot work."""
    if num_heads < 1 or hidden % num_heads:
        raise ConfigError(
            f"{name}: hidden_size {hidden} is not divisible by num_heads {num_heads}; "
            "pick num_heads dividing the width (e.g. 8 or 12 for 768)."
        )
    if num_layers < 1:
        raise ConfigError(f"{name}: num_layers must be at least 1, got {num_layers}.")
    if max_distance < 1:
        raise ConfigError(f"{name}: max_distance must be at least 1, got {max_distance}.")
    if query_chunk is not None and query_chunk < 1:
        raise ConfigError(
            f"{name}: query_chunk must be a positive number of rows, or null for automatic, "
            f"got {query_chunk}."
        )


def has_words(lattice: Optional[LatticeBatch]) -> bool:
    return lattice is not None and lattice.word_ids.shape[1] > 0
