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
2. W_R is folded into the query: (q_i + v)_h . (W_R R_ij)_h = ((q_i + v)_h W_R,h) . R_ij,
   so a head's query becomes an H-vector q'_hi, and b_R gives a per-row constant.
3. The position scores q'_hi . rel[len_i, d_hh(i,j), len_j] are computed like
   Transformer-XL's relative shift: queries are sorted by (length, head) and cut
   into chunks (so a chunk's heads are close together); one GEMM scores a chunk's queries against the
   table rows its distances can reach (heads h_i .. h_i + L - 1 of the d axis, all
   K key lengths), and a gather picks each key's column. The backward pass is a
   scatter-add and two GEMMs per chunk (``_PositionScores``). Memory per layer is
   O(B N h H + B h N^2); a chunk holds about ``CHUNK_BUDGET`` floats.

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


@dataclass
class PositionPlan:
    """How one batch's position scores are computed; shared by all layers.

    Query tokens (flattened b * N + i) are sorted by (length class, head) and cut
    into chunks of one class each; a chunk's heads lie in [head_min, head_max].
    """

    order: Tensor  # [B*N] long, query tokens sorted by (class, head)
    key_columns: Tensor  # [B*N, N] long, sorted queries: rank_j - head_j * K per key j
    query_offsets: Tensor  # [B*N] long, sorted queries: (head_i + L - 1) * K
    lengths: Tensor  # [K] long, the distinct token lengths (tail - head), ascending
    chunks: List[Tuple[int, int, int, int, int]]  # (start, end) in order, class, head_min, head_max
    num_chars: int  # L

    @property
    def num_classes(self) -> int:
        return int(self.lengths.shape[0])

    def columns(self, start: int, end: int, head_min: int) -> Tensor:
        """[n, N]: for each query of a chunk and each key, the column in the chunk's GEMM.

        Column (d_hh + L - 1 - head_min) * K + rank_j indexes the block
        ``table[class, head_min : head_max + L]`` viewed as [w * K, H].
        """
        offsets = self.query_offsets[start:end] - head_min * self.num_classes
        return self.key_columns[start:end] + offsets[:, None]


def make_plan(
    heads: Tensor,
    tails: Tensor,
    num_chars: int,
    num_heads: int,
    query_chunk: Optional[int] = None,
    budget: Optional[int] = None,
) -> PositionPlan:
    """Sort and chunk the queries of a batch (a few host syncs, once per forward).

    A chunk's scores [n, h, w*K] hold at most ``budget`` floats (default
    ``CHUNK_BUDGET``) unless ``query_chunk`` fixes n.
    """
    budget = budget or CHUNK_BUDGET
    n_tokens = heads.shape[1]
    length = num_chars
    lengths, ranks = torch.unique(tails - heads, sorted=True, return_inverse=True)
    k = int(lengths.shape[0])
    flat_heads, flat_ranks = heads.reshape(-1), ranks.reshape(-1)
    order = torch.argsort(flat_ranks * length + flat_heads, stable=True)
    rows = torch.div(order, n_tokens, rounding_mode="floor")
    key_columns = ranks[rows] - heads[rows] * k  # [B*N, N]
    sorted_heads = flat_heads[order]
    query_offsets = (sorted_heads + (length - 1)) * k
    # Chunks: as many queries as fit the budget (the GEMM has up to 2L-1 distances).
    per_chunk = query_chunk or max(1, budget // (num_heads * k * (2 * length - 1)))
    counts = torch.bincount(flat_ranks, minlength=k).tolist()
    bounds: List[Tuple[int, int, int]] = []
    start = 0
    for cls, count in enumerate(counts):  # a loop over length classes, not tokens
        stop = start + count
        bounds.extend((s, min(stop, s + per_chunk), cls) for s in range(start, stop, per_chunk))
        start = stop
    ends = torch.tensor([[b[0], b[1] - 1] for b in bounds], device=heads.device)
    head_range = sorted_heads[ends].tolist()  # [chunks, 2]: head_min, head_max
    chunks = [(s, e, c, lo, hi) for (s, e, c), (lo, hi) in zip(bounds, head_range, strict=True)]
    return PositionPlan(order, key_columns, query_offsets, lengths, chunks, length)


class _PositionScores(torch.autograd.Function):
    """scores[q, h, j] = q_rel[q, h] . table[class_q, head_q - head_j + L - 1, class_j]."""

    @staticmethod
    def forward(ctx: Any, q_rel: Tensor, table: Tensor, plan: PositionPlan) -> Tensor:
        # q_rel [B*N, h, H]; table [K, 2L-1, K, H] -> [B*N, h, N]
        total, heads, hidden = q_rel.shape
        n_keys = plan.key_columns.shape[1]
        table = table.to(q_rel.dtype)  # one dtype under mixed precision: the query's
        q_sorted = q_rel.index_select(0, plan.order)
        out_sorted = q_rel.new_empty(total, heads, n_keys)
        with torch.autocast(q_rel.device.type, enabled=False):
            for start, end, cls, lo, hi in plan.chunks:
                block = table[cls, lo : hi + plan.num_chars].reshape(-1, hidden)  # [w*K, H]
                scores = torch.matmul(q_sorted[start:end], block.t())  # [n, h, w*K]
                col = plan.columns(start, end, lo)[:, None, :].expand(-1, heads, -1)
                torch.gather(scores, 2, col, out=out_sorted[start:end])
        ctx.save_for_backward(q_sorted, table)
        ctx.plan = plan
        return out_sorted.new_empty(out_sorted.shape).index_copy_(0, plan.order, out_sorted)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> Tuple[Optional[Tensor], Optional[Tensor], None]:
        q_sorted, table = ctx.saved_tensors
        plan: PositionPlan = ctx.plan
        need_q, need_table = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_sorted = grad.to(q_sorted.dtype).index_select(0, plan.order)  # [B*N, h, N]
        grad_q = torch.empty_like(q_sorted) if need_q else None
        grad_table = torch.zeros_like(table) if need_table else None
        _, heads, hidden = q_sorted.shape
        for start, end, cls, lo, hi in plan.chunks:
            block = table[cls, lo : hi + plan.num_chars].reshape(-1, hidden)  # [w*K, H]
            col = plan.columns(start, end, lo)[:, None, :].expand(-1, heads, -1)
            g_scores = grad_sorted.new_zeros(end - start, heads, block.shape[0])
            g_scores.scatter_add_(2, col, grad_sorted[start:end])  # [n, h, w*K]
            if grad_q is not None:
                torch.matmul(g_scores, block, out=grad_q[start:end])
            if grad_table is not None:
                g_block = g_scores.reshape(-1, block.shape[0]).t() @ q_sorted[start:end].reshape(
                    -1, hidden
                )
                grad_table[cls, lo : hi + plan.num_chars] += g_block.view(
                    -1, plan.num_classes, hidden
                )
        if grad_q is not None:
            grad_q = torch.empty_like(grad_q).index_copy_(0, plan.order, grad_q)
        return grad_q, grad_table, None


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
        k = self.w_k(x).view(batch, n, h, dh).transpose(1, 2)  # [B, h, N, dh]
        v = self.w_v(x).view(batch, n, h, dh).transpose(1, 2)
        content = torch.matmul((q + self.u).transpose(1, 2), k.transpose(-1, -2))  # [B, h, N, N]

        qv = q + self.v  # [B, N, h, dh]
        # (q + v)_h . (W_R R + b_R)_h = ((q + v)_h W_R,h) . R + (q + v)_h . b_R,h
        q_rel = torch.einsum("bnhd,hde->bnhe", qv, self.w_r.weight.view(h, dh, hidden))
        q_bias = (qv * self.w_r.bias.view(h, dh)).sum(-1)  # [B, N, h]
        position = _PositionScores.apply(q_rel.reshape(batch * n, h, hidden), table, plan)
        position = position.view(batch, n, h, n) + q_bias[..., None]

        scores = content + position.transpose(1, 2)
        if self.scaled:
            scores = scores / math.sqrt(dh)
        scores = scores.masked_fill(~mask[:, None, None, :], torch.finfo(scores.dtype).min)
        probs = self.dropout(torch.softmax(scores, dim=-1))
        ctx = torch.matmul(probs, v).transpose(1, 2).reshape(batch, n, hidden)
        return self.out(ctx)


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
        "its relative position scores are a custom autograd function (_PositionScores) over a "
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
