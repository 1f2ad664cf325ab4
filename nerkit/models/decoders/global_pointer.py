"""GlobalPointer span decoder (``nerkit.GlobalPointer.v1``), after Su Jianlin (2021).

For every label c and every span (start m, end n) the score is a dot product of a
query at m and a key at n, both projected per label from the hidden states and
rotated by rotary position embeddings (RoPE) so that the score depends on the
relative position n - m:

    s[b, c, m, n] = <R_m q[b, m, c], R_n k[b, n, c]> / sqrt(head_size)

Spans with n < m (lower triangle) or touching padding are masked out. Training
uses the multilabel categorical cross-entropy ("circle loss" form) per (sequence,
label) over all valid spans; every span with score > 0 is an entity, so nesting
and overlaps of any kind are decoded. An entity's confidence is sigmoid(score).

Boundary smoothing (Zhu and Li, ACL 2022, "Boundary Smoothing for Named Entity
Recognition"), ``boundary_smoothing = epsilon`` with ``smoothing_distance = D``: each
gold span keeps 1 - epsilon of its target and the spans of the same label whose
boundaries are at Manhattan distance d = |s' - s| + |e' - e| (1 <= d <= D) from it
share epsilon / D per distance d equally; a neighbour outside the sequence or with
s' > e' is not a span, and the share of a distance with no valid neighbour stays on
the gold span. Targets of overlapping contributions add up (capped at 1). The loss
is the soft form of the multilabel CE,

    log(1 + sum_j (1 - y_j) exp(s_j)) + log(1 + sum_j y_j exp(-s_j)),

which is the hard loss when every y_j is 0 or 1; per span it is minimised at
sigmoid(2 s_j) = y_j, so a span is decoded (s > 0) when its soft target is over 1/2.

This module also holds the shared pieces (RoPE, the loss, span masks, targets
and decoding) that ``efficient_global_pointer.py`` reuses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type

import numpy as np
import torch
from torch import Tensor, nn

from ...errors import ConfigError
from ...registry import name_of
from ...spans import SpanArrays
from ...types import Entity
from ..base import Decoder, DecoderFactory, SpanScheme
from .targets import check_windows, loss_target


def rotary(x: Tensor, positions: Optional[Tensor] = None, base: float = 10000.0) -> Tensor:
    """Rotary position embedding of ``x`` [B, L, ..., h] (h even).

    Each pair of features (2i, 2i+1) at position p is rotated by the angle
    p * base^(-2i/h), so <rotary(q)_m, rotary(k)_n> depends on n - m only.
    ``positions``: [L] or [B, L] (default 0..L-1).
    """
    size = x.size(-1)
    if size % 2:
        raise ValueError(f"rotary: the feature size must be even, got {size}.")
    if positions is None:
        positions = torch.arange(x.size(1), device=x.device)
    freqs = base ** (-torch.arange(0, size, 2, device=x.device, dtype=torch.float32) / size)
    angles = positions.to(torch.float32).unsqueeze(-1) * freqs  # [(B,) L, h/2]
    if angles.dim() == 2:
        angles = angles.unsqueeze(0)
    angles = angles.view(*angles.shape[:2], *([1] * (x.dim() - 3)), size // 2)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)


def multilabel_categorical_crossentropy(
    logits: Tensor, targets: Tensor, valid: Optional[Tensor] = None
) -> Tensor:
    """Su's multilabel CE over the last dim: [..., N] -> [...].

    loss = log(1 + sum_{neg} exp(s)) + log(1 + sum_{pos} exp(-s)), where pos are
    the entries with target 1 and neg those with target 0; entries with
    ``valid`` False belong to neither.
    """
    positive = targets.bool()
    if valid is None:
        valid = torch.ones_like(positive)
    neg_inf = torch.tensor(float("-inf"), dtype=logits.dtype, device=logits.device)
    zero = logits.new_zeros(logits.shape[:-1] + (1,))
    neg = torch.where(valid & ~positive, logits, neg_inf)
    pos = torch.where(valid & positive, -logits, neg_inf)
    return torch.logsumexp(torch.cat((neg, zero), -1), -1) + torch.logsumexp(
        torch.cat((pos, zero), -1), -1
    )


def soft_multilabel_categorical_crossentropy(
    logits: Tensor, targets: Tensor, valid: Optional[Tensor] = None
) -> Tensor:
    """The multilabel CE with soft targets y in [0, 1] over the last dim: [..., N] -> [...].

    loss = log(1 + sum_j (1 - y_j) exp(s_j)) + log(1 + sum_j y_j exp(-s_j)); entries
    with ``valid`` False count in neither sum. Equal to
    :func:`multilabel_categorical_crossentropy` for 0/1 targets.
    """
    y = targets.to(logits.dtype).clamp(0.0, 1.0)
    if valid is not None:
        y_pos = torch.where(valid, y, torch.zeros_like(y))
        y_neg = torch.where(valid, 1.0 - y, torch.zeros_like(y))
    else:
        y_pos, y_neg = y, 1.0 - y
    zero = logits.new_zeros(logits.shape[:-1] + (1,))
    # log(w) + s with log(0) = -inf drops an entry exactly as the hard loss does
    neg = logits + torch.log(y_neg)
    pos = -logits + torch.log(y_pos)
    return torch.logsumexp(torch.cat((neg, zero), -1), -1) + torch.logsumexp(
        torch.cat((pos, zero), -1), -1
    )


def _offsets(distance: int) -> np.ndarray:
    """[M, 3] (d_start, d_end, d) for every boundary move at Manhattan distance 1..D."""
    rows = [
        (ds, de, abs(ds) + abs(de))
        for ds in range(-distance, distance + 1)
        for de in range(-distance, distance + 1)
        if 1 <= abs(ds) + abs(de) <= distance
    ]
    return np.asarray(rows, dtype=np.int64).reshape(-1, 3)


def boundary_smoothing_targets(
    index: np.ndarray, lengths: Sequence[int], num_labels: int, epsilon: float, distance: int
) -> Tensor:
    """Soft span targets [B, C, L, L] (float32) of gold spans ``index`` [E, 4] (b, c, s, e).

    See the module docstring: 1 - epsilon on each gold span, epsilon / D per distance
    d <= D shared by its valid neighbours at that distance (kept on the span if none).
    """
    width = max(lengths, default=0)
    out = np.zeros((len(lengths), num_labels, width, width), dtype=np.float64)
    if len(index) == 0:
        return torch.zeros(out.shape, dtype=torch.float32)
    b, c, s, e = (index[:, i] for i in range(4))  # [E] each
    lens = np.asarray(lengths, dtype=np.int64)[b]  # [E]
    off = _offsets(distance)  # [M, 3]
    ns = s[:, None] + off[None, :, 0]  # [E, M] neighbour starts
    ne = e[:, None] + off[None, :, 1]  # [E, M] neighbour ends
    ok = (ns >= 0) & (ns <= ne) & (ne < lens[:, None])  # [E, M]
    # valid neighbours per (entity, distance): [E, D + 1]
    count = np.zeros((len(index), distance + 1), dtype=np.int64)
    np.add.at(
        count,
        (np.repeat(np.arange(len(index)), off.shape[0]), np.tile(off[:, 2], len(index))),
        ok.ravel(),
    )
    share = epsilon / distance
    per = np.where(ok, share / np.maximum(count[:, off[:, 2]], 1), 0.0)  # [E, M]
    kept = 1.0 - epsilon + share * (count[:, 1:] == 0).sum(1)  # [E]
    np.add.at(out, (b, c, s, e), kept)
    rows = np.nonzero(ok)
    np.add.at(out, (b[rows[0]], c[rows[0]], ns[rows], ne[rows]), per[rows])
    return torch.from_numpy(np.minimum(out, 1.0).astype(np.float32))


def span_mask(mask: Tensor) -> Tensor:
    """mask [B, L] -> valid spans [B, 1, L, L]: both ends real and end >= start."""
    mask = mask.bool()
    length = mask.size(1)
    upper = torch.ones(length, length, dtype=torch.bool, device=mask.device).triu()
    return (mask.unsqueeze(2) & mask.unsqueeze(1) & upper).unsqueeze(1)


@dataclass(frozen=True)
class SpanHeadOptions:
    """The options of a GlobalPointer-style head, as its registered builder takes them."""

    head_size: int
    rope: bool
    dropout: float
    boundary_smoothing: float
    smoothing_distance: int

    def check(self, name: str, scheme: object) -> None:
        """A ConfigError naming the setting of builder ``name`` that is out of range."""
        if not isinstance(scheme, SpanScheme):
            raise ConfigError(
                f"{name}: `scheme` {scheme!r} is not a span scheme. Use "
                '@label_schemes = "nerkit.Spans.v1" in the [model.decoder.scheme] block '
                "(BIO tag schemes go with nerkit.CRFDecoder.v1 or nerkit.LinearDecoder.v1)."
            )
        if self.head_size <= 0 or self.head_size % 2:
            raise ConfigError(
                f"{name}: `head_size` = {self.head_size} must be a positive even number (RoPE "
                "rotates pairs of features); fix it in the [model.decoder] block."
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(
                f"{name}: `dropout` = {self.dropout} must be in [0, 1); fix it in the "
                "[model.decoder] block."
            )
        if not 0.0 <= self.boundary_smoothing < 1.0:
            raise ConfigError(
                f"{name}: `boundary_smoothing` = {self.boundary_smoothing} must be in [0, 1) (the "
                "paper uses 0.1 to 0.3; 0 turns it off); fix it in the [model.decoder] block."
            )
        if self.smoothing_distance < 1:
            raise ConfigError(
                f"{name}: `smoothing_distance` = {self.smoothing_distance} must be >= 1 (the paper "
                "uses 1 or 2); fix it in the [model.decoder] block."
            )


class GlobalPointerDecoder(Decoder):
    """Span scores per label from per-label query/key projections (+ RoPE).

    Subclasses change :meth:`_build` and :meth:`scores` (see ``EfficientGlobalPointerDecoder``).
    Targets: ``{"spans": BoolTensor [B, num_labels, L, L]}``, True at (c, start, end)
    of each gold entity (end inclusive); with ``boundary_smoothing`` > 0 a FloatTensor
    of soft targets (module docstring).
    """

    def __init__(
        self, scheme: SpanScheme, input_dim: int, options: SpanHeadOptions, name: str
    ) -> None:
        super().__init__()
        options.check(name, scheme)
        if input_dim <= 0:
            raise ConfigError(f"{name}: input width must be > 0, got {input_dim}.")
        self.scheme = scheme
        self.name = name
        self.num_labels = len(scheme.labels)
        self.head_size = options.head_size
        self.rope = options.rope
        self.boundary_smoothing = options.boundary_smoothing
        self.smoothing_distance = options.smoothing_distance
        self.dropout = nn.Dropout(options.dropout)
        self._build(input_dim)

    def _build(self, input_dim: int) -> None:
        self.proj = nn.Linear(input_dim, self.num_labels * 2 * self.head_size)

    def scores(self, hidden: Tensor) -> Tensor:
        """hidden [B, L, D] -> unmasked span scores [B, C, L(start), L(end)]."""
        batch, length, _ = hidden.shape
        qk = self.proj(self.dropout(hidden)).view(batch, length, self.num_labels, 2, -1)
        query, key = qk[:, :, :, 0], qk[:, :, :, 1]  # [B, L, C, h]
        if self.rope:
            query, key = rotary(query), rotary(key)
        return torch.einsum("bmch,bnch->bcmn", query, key) / math.sqrt(self.head_size)

    def logits(self, hidden: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
        """(float32 span scores [B, C, L, L], valid spans [B, 1, L, L])."""
        valid = span_mask(mask)
        return self.scores(hidden).float(), valid

    def make_targets(
        self, entities: Sequence[Sequence[Entity]], lengths: Sequence[int]
    ) -> Dict[str, Tensor]:
        """{"spans": [B, num_labels, max(lengths), max(lengths)]}: bool, or float when smoothing."""
        check_windows(type(self).__name__, entities, lengths)
        width = max(lengths, default=0)
        index: List[Tuple[int, int, int, int]] = []
        for b, (ents, length) in enumerate(zip(entities, lengths, strict=True)):
            index.extend((b, c, s, e) for s, e, c in self.scheme.encode(ents, length))
        if self.boundary_smoothing > 0:
            rows = np.asarray(sorted(set(index)), dtype=np.int64).reshape(-1, 4)
            soft = boundary_smoothing_targets(
                rows, lengths, self.num_labels, self.boundary_smoothing, self.smoothing_distance
            )
            return {"spans": soft}
        spans = torch.zeros(len(lengths), self.num_labels, width, width, dtype=torch.bool)
        if index:
            spans[tuple(torch.tensor(index).t())] = True
        return {"spans": spans}

    def loss(self, hidden: Tensor, mask: Tensor, targets: Dict[str, Tensor]) -> Tensor:
        """Multilabel categorical CE per (sequence, label), averaged over both."""
        batch, length, _ = hidden.shape
        owner = type(self).__name__
        gold = loss_target(owner, targets, "spans", hidden, self.num_labels, position_dims=2)
        logits, valid = self.logits(hidden, mask)
        flat = (batch, self.num_labels, length * length)
        # soft targets (boundary smoothing) or 0/1 targets, [B, C, L, L]
        loss_fn = multilabel_categorical_crossentropy
        if gold.is_floating_point():
            loss_fn = soft_multilabel_categorical_crossentropy
        else:
            gold = gold.bool()
        loss = loss_fn(
            logits.reshape(flat),
            gold.reshape(flat),
            valid.expand(-1, self.num_labels, -1, -1).reshape(flat),
        )
        return loss.mean()

    @torch.no_grad()
    def decode_spans(self, hidden: Tensor, mask: Tensor) -> SpanArrays:
        """Every valid span with score > 0, confidence sigmoid(score)."""
        return self.spans_from_scores(self.score_tensor(hidden, mask), mask)

    def score_tensor(self, hidden: Tensor, mask: Tensor) -> Tensor:
        """Unmasked float32 span scores [B, C, L, L]."""
        return self.scores(hidden).float()

    def spans_from_scores(self, scores: Tensor, mask: Tensor) -> SpanArrays:
        logits, valid = scores, span_mask(mask)
        hits = (logits > 0) & valid  # [B, C, L, L]
        index = hits.nonzero()  # [N, 4]: batch, label, start, end
        probs = torch.sigmoid(logits[hits]).double().cpu().numpy()
        idx = index.cpu().numpy()
        return SpanArrays.build(
            scores.size(0), idx[:, 0], idx[:, 2], idx[:, 3], idx[:, 1], probs, self.scheme.labels
        )


def span_decoder_factory(
    cls: Type[GlobalPointerDecoder],
    builder: Callable[..., Any],
    scheme: SpanScheme,
    options: SpanHeadOptions,
) -> DecoderFactory:
    """Check a GlobalPointer-style decoder's config args now (named after the registered
    ``builder``); return ``build(input_dim)``."""
    name = name_of("decoders", builder)
    options.check(name, scheme)

    def build(input_dim: int) -> GlobalPointerDecoder:
        return cls(scheme, input_dim, options, name)

    return DecoderFactory(build, scheme, "scheme")


def global_pointer(
    scheme: SpanScheme,
    head_size: int = 64,
    rope: bool = True,
    dropout: float = 0.1,
    boundary_smoothing: float = 0.0,
    smoothing_distance: int = 1,
) -> DecoderFactory:
    """GlobalPointer over the labels of ``scheme``; returns ``build(input_dim)``.

    boundary_smoothing: epsilon of Zhu and Li (2022), 0 = off; smoothing_distance: D.
    """
    options = SpanHeadOptions(head_size, rope, dropout, boundary_smoothing, smoothing_distance)
    return span_decoder_factory(GlobalPointerDecoder, global_pointer, scheme, options)
