"""Efficient GlobalPointer span decoder (``nerkit.EfficientGlobalPointer.v1``).

Su Jianlin's parameter-light variant of GlobalPointer: one query/key projection
shared by all labels scores "is this a span", and per-label start and end bias
terms, read from the same projection, say of which type:

    z = W x                                  (2 * head_size features per position)
    s[b, c, m, n] = <R_m q_m, R_n k_n> / sqrt(head_size) + a_c(z_m) + e_c(z_n)

with q, k the two halves of z, R RoPE, and a, e a linear map z -> 2 * num_labels.
Masking, loss, targets (boundary smoothing included) and decoding are those of
``GlobalPointerDecoder``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..base import DecoderFactory, SpanScheme
from .global_pointer import GlobalPointerDecoder, SpanHeadOptions, rotary, span_decoder_factory


class EfficientGlobalPointerDecoder(GlobalPointerDecoder):
    """Shared q/k span scores + per-label start/end biases."""

    def _build(self, input_dim: int) -> None:
        self.proj = nn.Linear(input_dim, 2 * self.head_size)
        self.bias = nn.Linear(2 * self.head_size, 2 * self.num_labels)

    def scores(self, hidden: Tensor) -> Tensor:
        """hidden [B, L, D] -> unmasked span scores [B, C, L(start), L(end)]."""
        batch, length, _ = hidden.shape
        shared = self.proj(self.dropout(hidden))  # [B, L, 2h]
        query, key = shared.view(batch, length, 2, -1).unbind(2)  # [B, L, h] each
        if self.rope:
            query, key = rotary(query), rotary(key)
        span = torch.einsum("bmh,bnh->bmn", query, key) / math.sqrt(self.head_size)
        start, end = self.bias(shared).view(batch, length, 2, -1).unbind(2)  # [B, L, C]
        # [B, 1, L, L] + [B, C, L, 1] + [B, C, 1, L]
        return (
            span.unsqueeze(1)
            + start.transpose(1, 2).unsqueeze(3)
            + end.transpose(1, 2).unsqueeze(2)
        )


def efficient_global_pointer(
    scheme: SpanScheme,
    head_size: int = 64,
    rope: bool = True,
    dropout: float = 0.1,
    boundary_smoothing: float = 0.0,
    smoothing_distance: int = 1,
) -> DecoderFactory:
    """Efficient GlobalPointer over the labels of ``scheme``; returns ``build(input_dim)``.

    boundary_smoothing: epsilon of Zhu and Li (2022), 0 = off; smoothing_distance: D.
    """
    options = SpanHeadOptions(head_size, rope, dropout, boundary_smoothing, smoothing_distance)
    cls = EfficientGlobalPointerDecoder
    return span_decoder_factory(cls, efficient_global_pointer, scheme, options)
