"""FLAT with scalar position biases (``nerkit.FLATLight.v1``).

The same flat lattice as ``nerkit.FLAT.v1`` (characters then words, head/tail
positions, four distances per pair, see ``relative_position``), but the position
term of a head is a learned scalar per clipped distance instead of a vector::

    score_hij = q_hi . k_hj / sqrt(head_dim)
                + b_h(d_hh) + b_h(d_ht) + b_h(d_th) + b_h(d_tt)

with distances clipped to [-max_distance, max_distance] (farther pairs share the
end rows). ``shared_pos`` uses one bias table for the four distances, otherwise
each distance has its own. The bias is a gather-sum of table rows, [B, h, N, N],
handed to ``torch.nn.functional.scaled_dot_product_attention`` as an additive
mask (padding keys get the dtype's minimum). Memory O(B h N^2), no [N, N, H].

Layers are post-LN like FLAT's; the output is ``LN(chars + Drop(W_o enc_chars))``
for the character positions, so D = input_dim.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..base import LatticeBatch
from .lattice import LatticeTransformer, PostNormLayer
from .relative_position import check_sizes, distance_indices


class BiasedLatticeAttention(nn.Module):
    """Multi-head self-attention plus a per-head scalar bias of the four distances."""

    def __init__(
        self,
        hidden: int,
        num_heads: int,
        attn_dropout: float,
        max_distance: int,
        shared_pos: bool,
        scaled: bool,
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden // num_heads
        self.max_distance = max_distance
        self.scale = 1.0 / math.sqrt(self.head_dim) if scaled else 1.0
        self.attn_dropout = attn_dropout
        self.w_q = nn.Linear(hidden, hidden)
        self.w_k = nn.Linear(hidden, hidden)
        self.w_v = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, hidden)
        # [tables, 2M+1, h]: row d + M of table k is the bias of distance d for term k
        tables = 1 if shared_pos else 4
        self.bias = nn.Parameter(torch.randn(tables, 2 * max_distance + 1, num_heads) * 0.02)

    def position_bias(self, heads: Tensor, tails: Tensor) -> Tensor:
        """[B, N] heads and tails -> [B, h, N, N] summed biases of the four distances."""
        batch, n = heads.shape
        idx = distance_indices(heads, tails, slice(None), self.max_distance)  # [B, N, N, 4]
        tables, size = self.bias.shape[0], self.bias.shape[1]
        if tables > 1:
            idx = idx + torch.arange(4, device=idx.device) * size
        flat = F.embedding_bag(idx.view(-1, 4), self.bias.view(-1, self.num_heads), mode="sum")
        return flat.view(batch, n, n, self.num_heads).permute(0, 3, 1, 2)

    def forward(self, x: Tensor, mask: Tensor, heads: Tensor, tails: Tensor) -> Tensor:
        """x [B, N, H], mask [B, N] -> [B, N, H]."""
        batch, n, hidden = x.shape
        shape = (batch, n, self.num_heads, self.head_dim)
        q = self.w_q(x).view(shape).transpose(1, 2)  # [B, h, N, dh]
        k = self.w_k(x).view(shape).transpose(1, 2)
        v = self.w_v(x).view(shape).transpose(1, 2)
        bias = self.position_bias(heads, tails).to(q.dtype)
        bias = bias.masked_fill(~mask[:, None, None, :], torch.finfo(bias.dtype).min)
        ctx = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=bias,
            dropout_p=self.attn_dropout if self.training else 0.0,
            scale=self.scale,
        )
        return self.out(ctx.transpose(1, 2).reshape(batch, n, hidden))


class FLATLightLayer(PostNormLayer):
    """Biased lattice attention and a feed-forward block, each with add & norm."""

    def __init__(
        self,
        hidden: int,
        num_heads: int,
        ff_size: int,
        dropout: float,
        attn_dropout: float,
        max_distance: int,
        shared_pos: bool,
        scaled: bool,
    ) -> None:
        attn = BiasedLatticeAttention(
            hidden, num_heads, attn_dropout, max_distance, shared_pos, scaled
        )
        super().__init__(attn, hidden, ff_size, dropout)


class FLATLightFusion(LatticeTransformer):
    """FLAT-light over the encoder's characters and the lexicon's words; D = input_dim."""

    name = "nerkit.FLATLight.v1"

    def __init__(
        self,
        input_dim: int,
        lexicon: Optional[Any],
        num_layers: int,
        num_heads: int,
        hidden_size: Optional[int],
        ff_size: Optional[int],
        dropout: float,
        attn_dropout: Optional[float],
        shared_pos: bool,
        max_distance: int,
        freeze_vectors: bool,
        scaled: bool,
    ) -> None:
        super().__init__()
        hidden = hidden_size or input_dim
        check_sizes(self.name, hidden, num_heads, num_layers, max_distance, None)
        self.init_input(input_dim, hidden, lexicon, freeze_vectors)
        attn_p = dropout if attn_dropout is None else attn_dropout
        self.layers = nn.ModuleList(
            FLATLightLayer(
                hidden,
                num_heads,
                ff_size or 3 * hidden,
                dropout,
                attn_p,
                max_distance,
                shared_pos,
                scaled,
            )
            for _ in range(num_layers)
        )
        self.init_output(hidden, dropout)

    def forward(self, chars: Tensor, mask: Tensor, lattice: Optional[LatticeBatch]) -> Tensor:
        """chars [B, L, input_dim], mask [B, L] -> [B, L, input_dim]."""
        length = chars.shape[1]
        if length == 0 or chars.shape[0] == 0:
            return chars
        x, heads, tails, seq_mask = self.embed(chars, mask, lattice)
        for layer in self.layers:
            x = layer(x, seq_mask, heads, tails)
        return self.output(chars, x)


def flat_light_fusion(
    num_layers: int = 1,
    num_heads: int = 8,
    hidden_size: Optional[int] = None,
    ff_size: Optional[int] = None,
    dropout: float = 0.1,
    attn_dropout: Optional[float] = None,
    shared_pos: bool = True,
    max_distance: int = 128,
    freeze_vectors: bool = False,
    scaled: bool = True,
) -> Callable[[int, Optional[Any]], FLATLightFusion]:
    """Flat-lattice transformer with one learned bias per head and clipped distance.

    num_layers, num_heads: transformer layers and attention heads.
    hidden_size: width (null: the encoder width); ff_size: feed-forward width
        (null: 3 x hidden_size).
    dropout: on the lattice input, sublayer outputs and the output projection;
        attn_dropout: on attention weights (null: same as dropout).
    shared_pos: one bias table for the four distances (else one per distance).
    max_distance: distances are clipped to [-max_distance, max_distance].
    freeze_vectors: keep the lexicon's word vectors fixed.
    scaled: divide q.k by sqrt(head size).
    """

    def build(input_dim: int, lexicon: Optional[Any] = None) -> FLATLightFusion:
        return FLATLightFusion(
            input_dim,
            lexicon,
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_size=hidden_size,
            ff_size=ff_size,
            dropout=dropout,
            attn_dropout=attn_dropout,
            shared_pos=shared_pos,
            max_distance=max_distance,
            freeze_vectors=freeze_vectors,
            scaled=scaled,
        )

    return build
