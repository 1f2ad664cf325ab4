"""FLAT lattice fusion without the [B, N, N, 4H] tensor (``nerkit.FLAT.v1``).

FLAT (Li et al. 2020, "FLAT: Chinese NER Using Flat-Lattice Transformer") puts the
window's characters (here: the encoder's vectors) and its lattice words (lexicon
vectors) into one sequence of N = L + W tokens with head/tail positions (see
``relative_position``), relates every pair by four distances, and runs relative
self-attention (Transformer-XL style)::

    R_ij = fuse(p_hh(i,j), p_ht(i,j), p_th(i,j), p_tt(i,j))          [H]
    score_hij = (q_hi + u_h) . k_hj + (q_hi + v_h) . (W_R R_ij + b_R)_h
    (divided by sqrt(head_dim) when ``scaled``)

with ``fuse`` one of FLAT's four methods (p_k = sinusoidal or learned table row
of the distance):

* ``ff``:     ReLU(W [p_hh; p_ht; p_th; p_tt] + b)
* ``ff_two``: ReLU(W [p_hh; p_tt] + b)
* ``attn``:   sum_k a_k (W' p_k + b'),  a = softmax(W2 ReLU(W1 [p_*] + b1) + b2), 4 weights
* ``gate``:   sum_k g_k * (W' p_k + b'), g = softmax over k of (W2 ReLU(W1 [p_*] + b1) + b2)
  viewed as [4, H] (one gate per dimension)

The study's implementation materialised [p_*] as [B, N, N, 4H] (and R, W_R R as
[B, N, N, H]): about 4 GB for forward + backward at N = 128, batch 8, width 768
even vectorised, growing as N^2 H (docs/benchmarks/flat.md). Here no tensor of
size N x N x H exists:

1. R_ij depends on the pair only through (d_hh, len_i, len_j), len = tail - head
   (d_ht = d_hh - len_j, d_th = d_hh + len_i, d_tt = d_hh + len_i - len_j). A batch
   has K distinct token lengths (chars: 0, words: 1, 2, ...), so R is a table
   ``rel[len_i, d_hh, len_j]`` of K x (2L-1) x K vectors, computed once per batch
   and shared by the layers. Its linear maps are themselves table lookups:
   W [p_hh; ...; p_tt] = sum_k W_k p_k and W_k p_k is row d_k of P W_k^T, so the
   first layer of every method is a gather-sum of four rows (``embedding_bag``).
2. W_R is applied to the table, not to the pairs: each layer projects the
   K x (2L-1) x K rows once, (W_R R + b_R) laid out per head [K, h, dh, (2L-1) K],
   so a head's position score is a dh-dimensional dot product like its content
   score.
3. Attention runs in chunks of queries (``_RelativeAttention``), flash-attention
   style: queries are sorted by (batch row, length, head) and cut into chunks of
   one row and one length class (so a chunk's heads are close together). Per
   chunk, one GEMM scores the queries against the table rows their distances can
   reach (heads h_i .. h_i + L - 1 of the d axis, all K key lengths) and a gather
   picks each key's column (Transformer-XL's relative shift); the content GEMM,
   softmax and the product with the values follow, and only the log-sum-exp is
   kept. The backward pass recomputes a chunk's probabilities and runs the GEMMs
   and a scatter-add of the gather. No [B, h, N, N] float tensor is kept (in
   training, attention dropout keeps its keep mask, drawn as ``nn.Dropout`` draws
   it, as bools): memory per layer is O(B N H + K^2 L H) plus one chunk's scores.

Every step is exact algebra, so outputs and gradients equal the straightforward
implementation up to float rounding (``tests/test_flat.py`` checks all methods
against ``benchmarks/bench_flat.py:study_forward``).

Layers are post-LN: x = LN(x + Drop(Attn(x))); x = LN(x + Drop(FFN(x))), FFN =
Linear-ReLU-Dropout-Linear. The position fusion is shared by all layers (FLAT's
default) unless ``shared_fusion`` is False. Characters enter through a linear map
to ``hidden_size``, words through their (optionally frozen) vectors and a linear
map; the output keeps the character positions and adds them to the input:
``out = LN(chars + Drop(W_o enc_chars))``, so D = input_dim and the fusion plugs
into BERT's output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.utils.checkpoint import checkpoint

from ...errors import ConfigError
from ..base import LatticeBatch
from .lattice import LatticeTransformer, PostNormLayer
from .relative_position import check_sizes, sinusoid_table

FUSION_METHODS = ("ff", "ff_two", "attn", "gate")
# Floats held per table row while the position fusion runs, in units of H.
_ROW_WIDTH = {"ff": 2, "ff_two": 2, "attn": 10, "gate": 16}
# Automatic chunks hold about this many floats (64 MB in float32).
CHUNK_BUDGET = 1 << 24
# Automatic chunks hold at most this many queries: a chunk's position GEMM scores
# head_max - head_min + L distances, so short chunks waste fewer columns.
CHUNK_QUERIES = 64


@dataclass
class PositionPlan:
    """How one batch's attention is computed in query chunks; shared by all layers.

    Query tokens (flattened b * N + i) are sorted by (batch row, length class, head)
    and cut into chunks of one row and one class each; a chunk's heads lie in
    [head_min, head_max].
    """

    order: Tensor  # [B*N] long, query tokens sorted by (row, class, head)
    key_columns: Tensor  # [B, N] long: rank_j - head_j * K per key j
    query_offsets: Tensor  # [B*N] long, sorted queries: (head_i + L - 1) * K
    lengths: Tensor  # [K] long, the distinct token lengths (tail - head), ascending
    chunks: List[Tuple[int, int, int, int, int, int]]  # start, end, row, class, head_min, max
    num_chars: int  # L

    @property
    def num_classes(self) -> int:
        return int(self.lengths.shape[0])

    def columns(self, start: int, end: int, row: int, head_min: int) -> Tensor:
        """[n, N]: for each query of a chunk and each key, the column in the chunk's GEMM.

        Column (d_hh + L - 1 - head_min) * K + rank_j indexes the block
        ``table[class, :, :, head_min * K : (head_max + L) * K]`` ([h, dh, w * K]).
        """
        offsets = self.query_offsets[start:end] - head_min * self.num_classes
        return self.key_columns[row][None, :] + offsets[:, None]


def make_plan(
    heads: Tensor,
    tails: Tensor,
    num_chars: int,
    num_heads: int,
    query_chunk: Optional[int] = None,
    budget: Optional[int] = None,
) -> PositionPlan:
    """Sort and chunk the queries of a batch (a few host syncs, once per forward).

    A chunk holds ``query_chunk`` queries, or (default) at most ``CHUNK_QUERIES``
    and as many as keep its scores
    ([h, n, w*K] and [h, n, N]) within ``budget`` floats (default ``CHUNK_BUDGET``).
    """
    budget = budget or CHUNK_BUDGET
    batch, n_tokens = heads.shape
    length = num_chars
    lengths, ranks = torch.unique(tails - heads, sorted=True, return_inverse=True)
    k = int(lengths.shape[0])
    rows = torch.arange(batch, device=heads.device)[:, None]
    groups = (rows * k + ranks).reshape(-1)  # [B*N]: (row, class)
    flat_heads = heads.reshape(-1)
    order = torch.argsort(groups * length + flat_heads, stable=True)
    sorted_heads = flat_heads[order]
    query_offsets = (sorted_heads + (length - 1)) * k
    key_columns = ranks - heads * k  # [B, N]
    fits = budget // (num_heads * (k * (2 * length - 1) + 3 * n_tokens))
    per_chunk = query_chunk or max(1, min(CHUNK_QUERIES, fits))
    counts = torch.bincount(groups, minlength=batch * k).tolist()
    bounds: List[Tuple[int, int, int, int]] = []
    start = 0
    for group, count in enumerate(counts):  # a loop over (row, class), not tokens
        stop = start + count
        row, cls = divmod(group, k)
        bounds.extend(
            (s, min(stop, s + per_chunk), row, cls) for s in range(start, stop, per_chunk)
        )
        start = stop
    ends = torch.tensor([[b[0], b[1] - 1] for b in bounds], device=heads.device)
    head_range = sorted_heads[ends].tolist()  # [chunks, 2]: head_min, head_max
    chunks = [(*b, lo, hi) for b, (lo, hi) in zip(bounds, head_range, strict=True)]
    return PositionPlan(order, key_columns, query_offsets, lengths, chunks, length)


def _chunk_scores(
    plan: PositionPlan,
    chunk: Tuple[int, int, int, int, int, int],
    q_u: Tensor,
    q_v: Tensor,
    k_t: Tensor,
    table: Tensor,
    key_pad: Optional[Tensor],
) -> Tuple[Tensor, Tensor, Tensor]:
    """Masked scores [h, n, N] of one chunk, its table block [h, dh, w*K] and columns.

    q_u, q_v [B*N, h, dh] sorted (and scaled); k_t [B, h, dh, N]; table [K, h, dh, (2L-1)*K];
    key_pad [B, 1, 1, N] (True = padding key) or None (no padding).
    """
    start, end, row, cls, lo, hi = chunk
    k = plan.num_classes
    block = table[cls, :, :, lo * k : (hi + plan.num_chars) * k]  # [h, dh, w*K]
    position = torch.matmul(q_v[start:end].transpose(0, 1), block)  # [h, n, w*K]
    col = plan.columns(start, end, row, lo).expand(position.shape[0], -1, -1)  # [h, n, N]
    scores = torch.matmul(q_u[start:end].transpose(0, 1), k_t[row])  # [h, n, N]
    scores += torch.gather(position, 2, col)
    if key_pad is not None:
        scores.masked_fill_(key_pad[row], torch.finfo(scores.dtype).min)
    return scores, block, col


class _RelativeAttention(torch.autograd.Function):
    """FLAT's relative attention, one chunk of queries at a time, recomputed for backward.

    softmax_j((q_u,i . k_j + q_v,i . table[class_i, head_i - head_j + L - 1, class_j])
    / divisor) v_j per head; no [B, h, N, N] tensor is kept (flash-attention style:
    the backward pass recomputes each chunk's probabilities from its log-sum-exp).
    """

    @staticmethod
    def forward(
        ctx: Any,
        q_u: Tensor,
        q_v: Tensor,
        k: Tensor,
        v: Tensor,
        table: Tensor,
        key_mask: Tensor,
        plan: PositionPlan,
        divisor: float,
        keep: Optional[Tensor],
        keep_scale: float,
    ) -> Tensor:
        # q_u, q_v, k, v [B, N, h, dh]; table [K, h, dh, (2L-1)*K]; key_mask [B, N];
        # keep [B, h, N, N] bool (dropout) or None -> [B, N, h, dh]
        batch, n, heads, dh = q_u.shape
        dtype = q_u.dtype  # one dtype under mixed precision: the query's
        # sorted queries, divided by ``divisor`` so that the scores come out scaled
        qu_s = q_u.reshape(batch * n, heads, dh).index_select(0, plan.order)
        qv_s = q_v.to(dtype).reshape(batch * n, heads, dh).index_select(0, plan.order)
        if divisor != 1.0:
            qu_s, qv_s = qu_s / divisor, qv_s / divisor
        k_t = k.to(dtype).permute(0, 2, 3, 1).contiguous()  # [B, h, dh, N]
        v_h = v.to(dtype).transpose(1, 2).contiguous()  # [B, h, N, dh]
        table = table.to(dtype)
        key_pad = None if key_mask.all() else ~key_mask.bool()[:, None, None, :]
        out_s = qu_s.new_empty(batch * n, heads, dh)
        lse = qu_s.new_empty(heads, batch * n)
        with torch.autocast(q_u.device.type, enabled=False):
            for chunk in plan.chunks:
                start, end, row = chunk[:3]
                scores, _, _ = _chunk_scores(plan, chunk, qu_s, qv_s, k_t, table, key_pad)
                chunk_lse = torch.logsumexp(scores, dim=-1, keepdim=True)  # [h, n, 1]
                lse[:, start:end] = chunk_lse[..., 0]
                probs = scores.sub_(chunk_lse).exp_()
                if keep is not None:
                    probs = probs * _chunk_keep(plan, chunk, keep, n) * keep_scale
                out_s[start:end] = torch.matmul(probs, v_h[row]).transpose(0, 1)
        out = out_s.new_empty(out_s.shape).index_copy_(0, plan.order, out_s).view(q_u.shape)
        ctx.save_for_backward(qu_s, qv_s, k_t, v_h, table, key_pad, lse, out, keep)
        ctx.plan, ctx.divisor, ctx.keep_scale = plan, divisor, keep_scale
        return out  # saved as it is: the output projection keeps it anyway

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> Tuple[Optional[Tensor], ...]:
        qu_s, qv_s, k_t, v_h, table, key_pad, lse, out, keep = ctx.saved_tensors
        plan: PositionPlan = ctx.plan
        batch, n, heads, dh = grad.shape
        grad = grad.to(qu_s.dtype)
        g_s = grad.reshape(batch * n, heads, dh).index_select(0, plan.order)
        # [h, B*N] sorted: rowsum(dP * P) = rowsum(dO * O)
        delta = (grad * out).sum(-1).view(batch * n, heads).index_select(0, plan.order).t()
        d_qu, d_qv = torch.empty_like(qu_s), torch.empty_like(qv_s)
        d_k_t, d_v_h = torch.zeros_like(k_t), torch.zeros_like(v_h)
        d_table = torch.zeros_like(table) if ctx.needs_input_grad[4] else None
        k = plan.num_classes
        for chunk in plan.chunks:
            start, end, row, cls, lo, hi = chunk
            scores, block, col = _chunk_scores(plan, chunk, qu_s, qv_s, k_t, table, key_pad)
            probs = scores.sub_(lse[:, start:end, None]).exp_()  # [h, n, N]
            g_out = g_s[start:end].transpose(0, 1)  # [h, n, dh]
            g_probs = torch.matmul(g_out, v_h[row].transpose(1, 2))  # [h, n, N]
            if keep is not None:
                chunk_keep = _chunk_keep(plan, chunk, keep, n)
                d_v_h[row].baddbmm_((probs * chunk_keep * ctx.keep_scale).transpose(1, 2), g_out)
                g_probs *= chunk_keep
                g_probs *= ctx.keep_scale
            else:
                d_v_h[row].baddbmm_(probs.transpose(1, 2), g_out)
            g_scores = g_probs.sub_(delta[:, start:end, None]).mul_(probs)  # [h, n, N]
            q_u = qu_s[start:end].transpose(0, 1)  # [h, n, dh]
            d_qu[start:end] = torch.matmul(g_scores, k_t[row].transpose(1, 2)).transpose(0, 1)
            d_k_t[row].baddbmm_(q_u.transpose(1, 2), g_scores)
            g_position = g_scores.new_zeros(heads, end - start, block.shape[-1])
            g_position.scatter_add_(2, col, g_scores)  # [h, n, w*K]
            d_qv[start:end] = torch.matmul(g_position, block.transpose(1, 2)).transpose(0, 1)
            if d_table is not None:
                q_v = qv_s[start:end].transpose(0, 1)
                block_grad = d_table[cls, :, :, lo * k : (hi + plan.num_chars) * k]
                block_grad.baddbmm_(q_v.transpose(1, 2), g_position)
        if ctx.divisor != 1.0:  # the saved queries were divided by it
            d_qu /= ctx.divisor
            d_qv /= ctx.divisor
        shape = (batch, n, heads, dh)
        d_qu = torch.empty_like(d_qu).index_copy_(0, plan.order, d_qu).view(shape)
        d_qv = torch.empty_like(d_qv).index_copy_(0, plan.order, d_qv).view(shape)
        d_k = d_k_t.permute(0, 3, 1, 2)  # [B, N, h, dh]
        d_v = d_v_h.transpose(1, 2)
        return d_qu, d_qv, d_k, d_v, d_table, None, None, None, None, None


def _chunk_keep(
    plan: PositionPlan, chunk: Tuple[int, int, int, int, int, int], keep: Tensor, n: int
) -> Tensor:
    """The dropout keep mask [h, n, N] of a chunk's queries (keep [B, h, N, N])."""
    start, end, row = chunk[:3]
    return keep[row].index_select(1, plan.order[start:end] - row * n)


class FourPosFusion(nn.Module):
    """Relative position vectors R from the four distances of a token pair.

    Parameters keep FLAT's layout (e.g. ``proj`` is the [H, 4H] linear map of
    ``ff``) so a straightforward implementation can use them as they are.
    ``position_tables()`` gives the four distance tables [2M+1, H] (hh, ht, th,
    tt; row d + M); ``prepare(r)`` turns them into per-distance lookup tables for
    distances in [-r, r]; ``pairs`` fuses the four distances of any set of pairs;
    ``table`` builds R for every (length, d_hh, length) of a batch.
    """

    def __init__(
        self,
        hidden: int,
        method: str,
        max_distance: int,
        shared_pos: bool,
        learnable_pos: bool,
    ) -> None:
        super().__init__()
        if method not in FUSION_METHODS:
            raise ConfigError(
                f"nerkit.FLAT.v1: unknown fusion_method '{method}'. "
                f"Choose one of: {', '.join(FUSION_METHODS)}."
            )
        self.hidden = hidden
        self.method = method
        self.max_distance = max_distance
        self.learnable_pos = learnable_pos
        table = sinusoid_table(max_distance, hidden)
        if learnable_pos:
            count = 1 if shared_pos else 4
            self.pos = nn.ParameterList([nn.Parameter(table.clone()) for _ in range(count)])
        else:  # fixed tables are identical whether shared or not
            self.register_buffer("pos_fixed", table, persistent=False)
        if method == "ff":
            self.proj = nn.Linear(4 * hidden, hidden)
        elif method == "ff_two":
            self.proj = nn.Linear(2 * hidden, hidden)
        else:
            self.w_r = nn.Linear(hidden, hidden)
            inner = 4 * hidden if method == "attn" else 2 * hidden
            self.score_in = nn.Linear(4 * hidden, inner)
            self.score_out = nn.Linear(inner, 4 if method == "attn" else 4 * hidden)

    def position_tables(self) -> List[Tensor]:
        """The tables of d_hh, d_ht, d_th, d_tt: four [2M+1, H] (maybe the same)."""
        if not self.learnable_pos:
            return [self.pos_fixed] * 4
        tables = list(self.pos)
        return tables * 4 if len(tables) == 1 else tables

    def prepare(self, r: int) -> Tuple[Tensor, ...]:
        """Per-distance tables for distances in [-r, r], row k*(2r+1) + d + r for term k."""
        m = self.max_distance
        pos = [t[m - r : m + r + 1] for t in self.position_tables()]  # 4 x [2r+1, H]
        h = self.hidden
        if self.method in ("ff", "ff_two"):
            terms = (0, 1, 2, 3) if self.method == "ff" else (0, 3)
            weight = self.proj.weight  # [H, n*H]
            parts = [pos[k] @ weight[:, i * h : (i + 1) * h].t() for i, k in enumerate(terms)]
            parts[0] = parts[0] + self.proj.bias  # the bias, once per pair
            return (torch.cat(parts, dim=0),)  # [n(2r+1), H]
        weight = self.score_in.weight  # [inner, 4H]
        first = [pos[k] @ weight[:, k * h : (k + 1) * h].t() for k in range(4)]
        first[0] = first[0] + self.score_in.bias
        values = [self.w_r(p) for p in pos]  # W' p_k + b'
        return torch.cat(first, dim=0), torch.cat(values, dim=0)

    def pairs(self, tables: Sequence[Tensor], idx: Tensor) -> Tensor:
        """R of a set of pairs: idx [..., 4] long in [0, 2r] (from ``prepare(r)``) -> [..., H]."""
        size = tables[0].shape[0] // (2 if self.method == "ff_two" else 4)  # 2r + 1
        lead = idx.shape[:-1]
        if self.method == "ff_two":
            bags = idx[..., (0, 3)] + torch.tensor([0, size], device=idx.device)
        else:
            bags = idx + torch.arange(4, device=idx.device) * size
        bags = bags.reshape(-1, bags.shape[-1])  # [P, 2 or 4]
        if self.method in ("ff", "ff_two"):
            out = torch.relu(F.embedding_bag(bags, tables[0], mode="sum"))
            return out.view(*lead, self.hidden)
        first, values = tables
        hidden = torch.relu(F.embedding_bag(bags, first, mode="sum"))  # [P, inner]
        scores = self.score_out(hidden)
        if self.method == "attn":
            weights = torch.softmax(scores, dim=-1)  # [P, 4]
            out = F.embedding_bag(bags, values, mode="sum", per_sample_weights=weights)
        else:
            gates = torch.softmax(scores.view(-1, 4, self.hidden), dim=1)  # [P, 4, H]
            out = (gates * F.embedding(bags, values)).sum(dim=1)
        return out.view(*lead, self.hidden)

    def table(
        self,
        plan: PositionPlan,
        clip: int,
        checkpoint_chunks: bool = True,
        budget: Optional[int] = None,
    ) -> Tensor:
        """R for every (query length, d_hh, key length) of the batch: [K, 2L-1, K, H]."""
        length, lengths = plan.num_chars, plan.lengths
        d = torch.arange(1 - length, length, device=lengths.device)[None, :, None]  # d_hh
        len_q, len_k = lengths[:, None, None], lengths[None, None, :]
        dists = torch.broadcast_tensors(d, d - len_k, d + len_q, d + len_q - len_k)
        idx = torch.stack(dists, dim=-1).clamp(-clip, clip) + clip  # [K, 2L-1, K, 4]
        tables = self.prepare(clip)
        rows = idx.reshape(-1, 4)
        per_piece = max(1, (budget or CHUNK_BUDGET) // (self.hidden * _ROW_WIDTH[self.method]))
        recompute = checkpoint_chunks and torch.is_grad_enabled() and rows.shape[0] > per_piece
        pieces = []
        for piece in rows.split(per_piece):
            if recompute:
                pieces.append(checkpoint(self.pairs, tables, piece, use_reentrant=False))
            else:
                pieces.append(self.pairs(tables, piece))
        return torch.cat(pieces).view(*idx.shape[:-1], self.hidden)


class RelativeLatticeAttention(nn.Module):
    """Multi-head self-attention with FLAT's relative position term."""

    def __init__(self, hidden: int, num_heads: int, attn_dropout: float, scaled: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden // num_heads
        self.scaled = scaled
        self.w_q = nn.Linear(hidden, hidden)
        self.w_k = nn.Linear(hidden, hidden)
        self.w_v = nn.Linear(hidden, hidden)
        self.w_r = nn.Linear(hidden, hidden)  # W_R
        self.u = nn.Parameter(torch.randn(num_heads, self.head_dim) * 0.02)
        self.v = nn.Parameter(torch.randn(num_heads, self.head_dim) * 0.02)
        self.out = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(attn_dropout)

    def forward(self, x: Tensor, mask: Tensor, table: Tensor, plan: PositionPlan) -> Tensor:
        """x [B, N, H], mask [B, N], table [K, 2L-1, K, H] -> [B, N, H]."""
        batch, n, hidden = x.shape
        h, dh = self.num_heads, self.head_dim
        q = self.w_q(x).view(batch, n, h, dh)
        k = self.w_k(x).view(batch, n, h, dh)
        v = self.w_v(x).view(batch, n, h, dh)
        classes, distances = table.shape[0], table.shape[1]
        # W_R R + b_R per head, laid out [K, h, dh, (2L-1) * K] for the chunks' GEMMs
        rel = self.w_r(table).view(classes, distances, classes, h, dh)
        rel = rel.permute(0, 3, 4, 1, 2).reshape(classes, h, dh, distances * classes)
        keep, p = None, self.dropout.p
        if self.training and p > 0:  # drawn like nn.Dropout on [B, h, N, N] probabilities
            keep = torch.empty(batch, h, n, n, dtype=x.dtype, device=x.device)
            keep = keep.bernoulli_(1 - p).bool()
        divisor = math.sqrt(dh) if self.scaled else 1.0
        ctx = _RelativeAttention.apply(
            q + self.u,
            q + self.v,
            k,
            v,
            rel,
            mask,
            plan,
            divisor,
            keep,
            1 / (1 - p) if p < 1 else 0.0,
        )
        return self.out(ctx.reshape(batch, n, hidden))


class FLATLayer(PostNormLayer):
    """Relative lattice attention and a feed-forward block, each with add & norm."""

    def __init__(
        self,
        hidden: int,
        num_heads: int,
        ff_size: int,
        dropout: float,
        attn_dropout: float,
        scaled: bool,
    ) -> None:
        attn = RelativeLatticeAttention(hidden, num_heads, attn_dropout, scaled)
        super().__init__(attn, hidden, ff_size, dropout)


class FLATFusion(LatticeTransformer):
    """FLAT over the encoder's characters and the lexicon's words; D = input_dim."""

    name = "nerkit.FLAT.v1"
    onnx_blocker = (
        "its relative attention is a custom autograd function (_RelativeAttention) over a "
        "plan of query chunks computed in Python from each batch's lattice (make_plan), which a "
        "traced graph would freeze to the shapes of the tracing batch."
    )

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
        fusion_method: str,
        shared_pos: bool,
        learnable_pos: bool,
        shared_fusion: bool,
        max_distance: int,
        query_chunk: Optional[int],
        checkpoint_chunks: bool,
        freeze_vectors: bool,
        scaled: bool,
    ) -> None:
        super().__init__()
        hidden = hidden_size or input_dim
        check_sizes(self.name, hidden, num_heads, num_layers, max_distance, query_chunk)
        self.hidden = hidden
        self.max_distance = max_distance
        self.num_heads = num_heads
        self.query_chunk = query_chunk
        self.checkpoint_chunks = checkpoint_chunks
        self.init_input(input_dim, hidden, lexicon, freeze_vectors)
        self.fusions = nn.ModuleList(
            FourPosFusion(hidden, fusion_method, max_distance, shared_pos, learnable_pos)
            for _ in range(1 if shared_fusion else num_layers)
        )
        attn_p = dropout if attn_dropout is None else attn_dropout
        self.layers = nn.ModuleList(
            FLATLayer(hidden, num_heads, ff_size or 3 * hidden, dropout, attn_p, scaled)
            for _ in range(num_layers)
        )
        self.init_output(hidden, dropout)

    def forward(self, chars: Tensor, mask: Tensor, lattice: Optional[LatticeBatch]) -> Tensor:
        """chars [B, L, input_dim], mask [B, L] -> [B, L, input_dim]."""
        length = chars.shape[1]
        if length == 0 or chars.shape[0] == 0:
            return chars
        x, heads, tails, seq_mask = self.embed(chars, mask, lattice)
        clip = min(length - 1, self.max_distance)  # every distance lies in [-clip, clip]
        plan = make_plan(heads, tails, length, self.num_heads, self.query_chunk)
        tables = [f.table(plan, clip, self.checkpoint_chunks) for f in self.fusions]
        for i, layer in enumerate(self.layers):
            x = layer(x, seq_mask, tables[i if len(tables) > 1 else 0], plan)
        return self.output(chars, x)


def flat_fusion(
    num_layers: int = 1,
    num_heads: int = 8,
    hidden_size: Optional[int] = None,
    ff_size: Optional[int] = None,
    dropout: float = 0.1,
    attn_dropout: Optional[float] = None,
    fusion_method: str = "ff",
    shared_pos: bool = True,
    learnable_pos: bool = False,
    shared_fusion: bool = True,
    max_distance: int = 1024,
    query_chunk: Optional[int] = None,
    checkpoint_chunks: bool = True,
    freeze_vectors: bool = False,
    scaled: bool = True,
) -> Callable[[int, Optional[Any]], FLATFusion]:
    """Flat-lattice transformer over characters and lexicon words (FLAT, Li et al. 2020).

    num_layers, num_heads: transformer layers and attention heads.
    hidden_size: FLAT width (null: the encoder width); ff_size: feed-forward width
        (null: 3 x hidden_size, FLAT's default).
    dropout: on the lattice input, sublayer outputs and the output projection;
        attn_dropout: on attention weights (null: same as dropout).
    fusion_method: how the four distance encodings become one vector:
        "ff", "ff_two", "attn" or "gate" (see the module docs).
    shared_pos: one position table for the four distances (else four tables).
    learnable_pos: train the (sinusoid-initialised) position tables.
    shared_fusion: one position fusion for all layers (FLAT's default).
    max_distance: distances beyond +-max_distance share the last table row.
    query_chunk: query tokens per chunk of the position scores (null: automatic,
        about 64 MB of scores per chunk).
    checkpoint_chunks: recompute the position fusion of large distance tables in
        the backward pass instead of keeping its activations (saves memory with
        "attn"/"gate" and many distinct word lengths).
    freeze_vectors: keep the lexicon's word vectors fixed.
    scaled: divide attention scores by sqrt(head size) (FLAT's default is unscaled).
    """

    def build(input_dim: int, lexicon: Optional[Any] = None) -> FLATFusion:
        return FLATFusion(
            input_dim,
            lexicon,
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_size=hidden_size,
            ff_size=ff_size,
            dropout=dropout,
            attn_dropout=attn_dropout,
            fusion_method=fusion_method,
            shared_pos=shared_pos,
            learnable_pos=learnable_pos,
            shared_fusion=shared_fusion,
            max_distance=max_distance,
            query_chunk=query_chunk,
            checkpoint_chunks=checkpoint_chunks,
            freeze_vectors=freeze_vectors,
            scaled=scaled,
        )

    return build
