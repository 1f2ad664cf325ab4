"""Linear-chain CRF decoder: a batched CRF layer and the registered ``CRFDecoder``.

The CRF layer (:class:`CRF`) is vectorised over the batch: every algorithm loops
over time steps only. Sequences of one batch may have different lengths; their
``mask`` must be a left-aligned prefix (``mask[b, :length_b]`` True, rest False).

``log_likelihood`` computes the partition function with a custom autograd
function: the forward pass runs the forward algorithm without recording a graph
and the backward pass returns the exact gradient (unary and pairwise marginals)
from one run of the backward algorithm, which is much cheaper than letting
autograd differentiate every step of the recursion. Both recursions run in
float64 with one small matrix product per step (see "recursions" below).

Transition constraints (e.g. BIO: no ``O -> I-x``, no ``B-x -> I-y``) add a large
negative score (:data:`FORBIDDEN`) to forbidden start tags and transitions, in
training and decoding alike, so a forbidden path has probability ~0 and is never
the Viterbi path.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from ...data.schemes.nested_bio import nested_bio_scheme
from ...errors import ConfigError
from ...registry import name_of
from ...spans import SpanArrays
from ...types import Entity
from ..base import Decoder, DecoderFactory, TagScheme
from .tag_decoding import (
    DEFAULT_DECODING,
    allowed_to_scores,
    check_decoding,
    reading_rule,
    viterbi,
)
from .targets import check_windows, loss_target

FORBIDDEN = -10000.0
"""Score added to a forbidden transition: exp(FORBIDDEN) is 0 in float32."""

REDUCTIONS = ("mean", "sum")


# --------------------------------------------------------------------------- masks


def _lengths_from_mask(mask: Tensor, shape: Tuple[int, int], where: str) -> Tensor:
    """Validate a left-aligned [B, L] mask and return the lengths [B] (long)."""
    if mask.shape != shape:
        raise ValueError(
            f"{where}: mask has shape {tuple(mask.shape)} but emissions are {shape} "
            "(batch, length). Pass one mask entry per position."
        )
    mask = mask.bool()
    lengths = mask.sum(1)
    positions = torch.arange(shape[1], device=mask.device)
    prefix = positions.unsqueeze(0) < lengths.unsqueeze(1)
    if shape[0] > 0 and not bool(torch.equal(mask, prefix) and (lengths > 0).all()):
        raise ValueError(
            f"{where}: every mask row must be a non-empty left-aligned prefix "
            "(True for the first length_b positions, False after). Drop empty "
            "sequences from the batch and pad on the right."
        )
    return lengths


# ------------------------------------------------------------------ recursions
#
# The forward and backward recursions run in float64 and replace the [B, K, K]
# log-sum-exp of each step by a [B, K] x [K, K] matrix product on shifted
# exponentials:
#     logsumexp_i(alpha_i + T_ij) = m + c + log(sum_i exp(alpha_i - m) exp(T_ij - c))
# with m = max_i alpha_i (per sequence) and c = max T. A term is lost only when it
# is more than ~700 (float64's exp range) below the best term of the step, i.e.
# never for finite scores a network produces, while forbidden transitions
# (FORBIDDEN = -1e4) contribute exactly 0. An unreachable tag gets -inf, which
# the recursions, marginals and gradients handle (exp(-inf) = 0, never inf - inf).

_DTYPE = torch.float64
_MAX_EXP = 700.0  # exp(700) is finite in float64


def _exp_transitions(trans: Tensor) -> Tuple[Tensor, Tensor]:
    """(exp(T - c) [K, K], c) with c = max T, in float64."""
    trans = trans.to(_DTYPE)
    top = trans.max()
    return torch.exp(trans - top), top


def _forward_scores(emissions: Tensor, start: Tensor, trans: Tensor) -> Tensor:
    """Forward algorithm in log space, ignoring the mask (float64).

    emissions [B, L, K], start [K], trans [K, K] (from, to) -> alphas [L, B, K], where
    alphas[t, b, j] = log-sum of the scores of all paths of positions 0..t ending in j.
    Positions past a sequence's end hold values that the callers never read.
    """
    em = emissions.transpose(0, 1).to(_DTYPE)  # [L, B, K]
    exp_trans, top = _exp_transitions(trans)
    alpha = start.to(_DTYPE) + em[0]
    alphas = [alpha]
    for t in range(1, em.size(0)):
        shift = alpha.amax(1, keepdim=True)  # [B, 1]
        total = torch.exp(alpha - shift) @ exp_trans  # [B, K]: sum over previous tags
        alpha = torch.log(total) + (shift + top) + em[t]
        alphas.append(alpha)
    return torch.stack(alphas)


def _backward_scores(
    emissions: Tensor,
    mask: Tensor,
    end: Tensor,
    trans: Tensor,
    alphas: Optional[Tensor] = None,
    log_z: Optional[Tensor] = None,
    weight: Optional[Tensor] = None,
) -> Tuple[Tensor, Optional[Tensor]]:
    """Backward algorithm in log space (float64): (betas [L, B, K], pair sum or None).

    betas[t, b, i] = log-sum of the scores of positions t+1..end given tag i at t,
    including the end transition; betas[length_b - 1, b] = end. Values at padded
    positions are set to ``end`` and never read.

    Given ``alphas`` [L, B, K], ``log_z`` [B] and ``weight`` [B], also returns the
    [K, K] sum_{b, t} weight[b] * p(y_t = i, y_{t+1} = j | sequence b), i.e. the
    gradient of sum_b weight[b] * log_z[b] w.r.t. the transitions, accumulated with
    one [K, B] x [B, K] product per step (no [L, B, K, K] tensor). The pair
    probability factorises as R_i * exp(T_ij - c) * Q_j with
    Q_j = exp(u_j - max u), u = emission + beta at t+1, and
    R_i = exp(alpha_t(i) - log Z + max u + c).
    """
    em = emissions.transpose(0, 1).to(_DTYPE)  # [L, B, K]
    keep = mask.transpose(0, 1).unsqueeze(2)  # [L, B, 1]
    end = end.to(_DTYPE)
    length, batch, num_tags = em.shape
    exp_trans, top = _exp_transitions(trans)
    exp_trans_t = exp_trans.t().contiguous()
    beta = end.expand(batch, -1)
    betas = [beta]
    pair_sum = None
    if alphas is not None and log_z is not None and weight is not None:
        pair_sum = exp_trans.new_zeros(num_tags, num_tags)
        # alpha_t - log Z + c where a transition t -> t+1 exists, else -inf (R = 0)
        rel = torch.where(keep[1:], alphas[:-1] - log_z.view(1, -1, 1) + top, float("-inf"))
        weight = weight.to(_DTYPE).view(batch, 1)
    for t in range(length - 2, -1, -1):
        after = em[t + 1] + beta  # [B, K]
        shift = after.amax(1, keepdim=True)  # [B, 1]
        scaled = torch.exp(after - shift)  # Q
        total = scaled @ exp_trans_t  # [B, K]: sum over next tags
        if pair_sum is not None:
            ratio = torch.exp((rel[t] + shift).clamp(max=_MAX_EXP))  # R: [B, K]
            pair_sum = torch.addmm(pair_sum, (ratio * weight).t(), scaled)
        beta = torch.where(keep[t + 1], torch.log(total) + shift + top, end)
        betas.append(beta)
    betas.reverse()
    if pair_sum is not None:
        pair_sum = pair_sum * exp_trans
    return torch.stack(betas), pair_sum


def _last(values: Tensor, lengths: Tensor) -> Tensor:
    """values [L, B, K] -> values[length_b - 1, b] : [B, K]."""
    index = (lengths - 1).view(1, -1, 1).expand(1, values.size(1), values.size(2))
    return values.gather(0, index).squeeze(0)


class _LogPartition(torch.autograd.Function):
    """log Z [B] of a linear-chain CRF with an exact forward-backward gradient."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, emissions: Tensor, mask: Tensor, start: Tensor, end: Tensor, trans: Tensor
    ) -> Tensor:
        lengths = mask.sum(1)
        alphas = _forward_scores(emissions, start, trans)  # [L, B, K] float64
        log_z = torch.logsumexp(_last(alphas, lengths) + end.to(_DTYPE), dim=1)  # [B]
        ctx.save_for_backward(emissions, mask, end, trans, alphas, log_z)
        return log_z.to(emissions.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        emissions, mask, end, trans, alphas, log_z = ctx.saved_tensors
        betas, grad_trans = _backward_scores(emissions, mask, end, trans, alphas, log_z, grad)
        keep = mask.transpose(0, 1).unsqueeze(2)  # [L, B, 1]
        # unary marginals p(y_t = j), 0 on padding: [L, B, K]
        unary = torch.where(keep, torch.exp(alphas + betas - log_z.view(1, -1, 1)), 0.0)
        unary = unary * grad.to(_DTYPE).view(1, -1, 1)
        lengths = mask.sum(1)
        return (
            unary.transpose(0, 1).to(emissions.dtype),
            None,
            unary[0].sum(0).to(end.dtype),
            _last(unary, lengths).sum(0).to(end.dtype),
            grad_trans.to(trans.dtype),
        )


# ------------------------------------------------------------------ the CRF layer


class CRF(nn.Module):
    """A linear-chain CRF over ``num_tags`` tags, batched.

    Parameters: ``start`` [K], ``end`` [K] and ``transitions`` [K, K] (row: from,
    column: to). Optional boolean ``allowed_start`` [K], ``allowed_transitions``
    [K, K] and ``allowed_end`` [K] forbid tags/transitions by adding
    :data:`FORBIDDEN` to their scores (see :func:`bio_constraints`).
    """

    def __init__(
        self,
        num_tags: int,
        allowed_start: Optional[Tensor] = None,
        allowed_transitions: Optional[Tensor] = None,
        allowed_end: Optional[Tensor] = None,
    ) -> None:
        super().__init__()
        if num_tags < 1:
            raise ValueError(f"CRF: num_tags must be >= 1, got {num_tags}.")
        self.num_tags = num_tags
        self.start = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.end = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags).uniform_(-0.1, 0.1))
        for name, allowed, shape in (
            ("start_penalty", allowed_start, (num_tags,)),
            ("transition_penalty", allowed_transitions, (num_tags, num_tags)),
            ("end_penalty", allowed_end, (num_tags,)),
        ):
            if allowed is None:
                allowed = torch.ones(shape, dtype=torch.bool)
            allowed = torch.as_tensor(allowed, dtype=torch.bool)
            if tuple(allowed.shape) != shape:
                raise ValueError(
                    f"CRF: {name.replace('penalty', 'allowed')} mask has shape "
                    f"{tuple(allowed.shape)}, expected {shape} for {num_tags} tags."
                )
            penalty = torch.zeros(shape).masked_fill(~allowed, FORBIDDEN)
            self.register_buffer(name, penalty, persistent=False)

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}"

    def scores(self, dtype: Optional[torch.dtype] = None) -> Tuple[Tensor, Tensor, Tensor]:
        """Effective (start [K], end [K], transitions [K, K]) with constraints applied."""
        return (
            (self.start + self.start_penalty).to(dtype),
            (self.end + self.end_penalty).to(dtype),
            (self.transitions + self.transition_penalty).to(dtype),
        )

    def _check(self, emissions: Tensor, mask: Tensor, where: str) -> Tuple[Tensor, Tensor]:
        if emissions.dim() != 3 or emissions.size(2) != self.num_tags:
            raise ValueError(
                f"{where}: emissions must be [batch, length, {self.num_tags}], got "
                f"{tuple(emissions.shape)}."
            )
        if emissions.size(1) == 0:
            raise ValueError(f"{where}: emissions have length 0; sequences need >= 1 position.")
        lengths = _lengths_from_mask(mask, tuple(emissions.shape[:2]), where)
        # half-precision emissions (autocast) are promoted to the parameters' dtype
        dtype = torch.promote_types(emissions.dtype, self.transitions.dtype)
        return emissions.to(dtype), lengths

    def log_partition(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """log Z [B] for emissions [B, L, K] and mask [B, L]."""
        emissions, _ = self._check(emissions, mask, "CRF.log_partition")
        start, end, trans = self.scores(emissions.dtype)
        return _LogPartition.apply(emissions, mask.bool(), start, end, trans)

    def path_score(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """Unnormalised score [B] of the tag paths ``tags`` [B, L] (padding ignored)."""
        emissions, lengths = self._check(emissions, mask, "CRF.path_score")
        return self._path_score(emissions, tags, mask.bool(), lengths, "CRF.path_score")

    def _path_score(
        self, emissions: Tensor, tags: Tensor, mask: Tensor, lengths: Tensor, where: str
    ) -> Tensor:
        if tags.shape != emissions.shape[:2]:
            raise ValueError(
                f"{where}: tags have shape {tuple(tags.shape)}, expected "
                f"{tuple(emissions.shape[:2])} like the emissions."
            )
        start, end, trans = self.scores(emissions.dtype)
        tags = tags.long().masked_fill(~mask, 0)
        emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # [B, L]
        score = start[tags[:, 0]] + emitted.masked_fill(~mask, 0.0).sum(1)
        if tags.size(1) > 1:
            moves = trans[tags[:, :-1], tags[:, 1:]]  # [B, L-1]
            score = score + moves.masked_fill(~mask[:, 1:], 0.0).sum(1)
        last = tags.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)
        return score + end[last]

    def log_likelihood(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """log p(tags | emissions) [B]; emissions [B, L, K], tags [B, L], mask [B, L]."""
        emissions, lengths = self._check(emissions, mask, "CRF.log_likelihood")
        mask = mask.bool()
        gold = self._path_score(emissions, tags, mask, lengths, "CRF.log_likelihood")
        start, end, trans = self.scores(emissions.dtype)
        return gold - _LogPartition.apply(emissions, mask, start, end, trans)

    def marginals(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """p(y_t = k | emissions) [B, L, K] by forward-backward; 0 on padding."""
        emissions, lengths = self._check(emissions, mask, "CRF.marginals")
        start, end, trans = self.scores(emissions.dtype)
        mask = mask.bool()
        alphas = _forward_scores(emissions, start, trans)
        betas, _ = _backward_scores(emissions, mask, end, trans)
        log_z = torch.logsumexp(_last(alphas, lengths) + end.to(_DTYPE), dim=1)
        probs = torch.exp(alphas + betas - log_z.view(1, -1, 1)).transpose(0, 1)
        return probs.masked_fill(~mask.unsqueeze(2), 0.0).to(emissions.dtype)

    def viterbi(
        self,
        emissions: Tensor,
        mask: Tensor,
        extra: Optional[Tuple[Tensor, Tensor]] = None,
    ) -> Tuple[Tensor, Tensor]:
        """Best paths: (tags [B, L] long, 0 on padding; their scores [B]).

        ``extra``: additional (start [K], transitions [K, K]) scores added for this
        decoding only, e.g. BIO constraints (0 / -inf) on a CRF trained without them.
        The backtrace is vectorised: one gather per time step for the whole batch.
        """
        emissions, lengths = self._check(emissions, mask, "CRF.viterbi")
        start, end, trans = self.scores(emissions.dtype)
        if extra is not None:
            start = start + extra[0].to(start)
            trans = trans + extra[1].to(trans)
        return viterbi(emissions, lengths, mask.bool(), start, trans, end)


def bio_constraints(tags: Sequence[str], name: str = "CRF") -> Tuple[Tensor, Tensor]:
    """Allowed start tags [K] and transitions [K, K] (from, to) of a BIO tag set.

    ``I-x`` never starts a sequence and only follows ``B-x`` or ``I-x`` (so no
    ``O -> I-x``, ``B-y -> I-x``, ``I-y -> I-x``). Tag names are ``"O"``,
    ``"B-<label>"`` and ``"I-<label>"``.
    """
    kinds: List[Tuple[str, str]] = []
    for tag in tags:
        if tag == "O":
            kinds.append(("O", ""))
        elif len(tag) > 2 and tag[:2] in ("B-", "I-"):
            kinds.append((tag[0], tag[2:]))
        else:
            raise ConfigError(
                f"{name}: `constrain_bio` needs BIO tags, but tag {tag!r} is not 'O', "
                f"'B-<label>' or 'I-<label>' (tags: {list(tags)}). Set constrain_bio = false "
                "in the [model.decoder] block to use this scheme without BIO constraints."
            )
    num = len(kinds)
    allowed_start = torch.tensor([kind != "I" for kind, _ in kinds])
    allowed = torch.ones(num, num, dtype=torch.bool)
    for j, (kind_to, label_to) in enumerate(kinds):
        if kind_to != "I":
            continue
        for i, (kind_from, label_from) in enumerate(kinds):
            allowed[i, j] = kind_from in ("B", "I") and label_from == label_to
    return allowed_start, allowed


# ------------------------------------------------------------------ the decoder


class CRFDecoder(Decoder):
    """One linear emission head and one CRF per tag layer of a :class:`TagScheme`.

    With a multi-layer scheme (``nerkit.NestedBIO.v1``) this is the "CRF nested"
    decoder: each layer is an independent CRF and the entities of all layers are
    merged. Loss: negative log-likelihood, reduced over the sequences of the batch
    by ``reduction`` ("mean" or "sum"), then averaged over layers.

    Decoding: Viterbi per layer (with the BIO constraints when ``constrain_bio``, or
    at decoding time only when ``decoding = "constrained"``); the tags are read by the
    ``decoding`` rule (see :mod:`.tag_decoding`: "strict", the default, drops an
    ``I-x`` that does not continue a ``B-x``; with BIO constraints every path is well
    formed and the rules agree).
    Entity confidence: the mean, over the entity's characters, of the CRF marginal
    probability p(y_t = tag_t | x) (forward-backward) of the Viterbi tag there; an
    entity found in two layers keeps the higher score.
    """

    def __init__(
        self,
        scheme: TagScheme,
        input_dim: int,
        dropout: float,
        reduction: str,
        constrain_bio: bool,
        name: str,
        decoding: str,
    ) -> None:
        super().__init__()
        _check_args(name, dropout, reduction, decoding)
        if input_dim <= 0:
            raise ConfigError(f"{name}: input width must be > 0, got {input_dim}.")
        if not isinstance(scheme, TagScheme):
            raise ConfigError(
                f"{name}: `scheme` {scheme!r} is not a tag scheme. Use "
                '@label_schemes = "nerkit.BIO.v1" or "nerkit.NestedBIO.v1" (span schemes '
                "go with span decoders such as nerkit.GlobalPointer.v1)."
            )
        self.scheme = scheme
        self.reduction = reduction
        self.decoding = decoding
        self.num_layers = scheme.num_layers
        self.dropout = nn.Dropout(dropout)
        heads, crfs = [], []
        self._decode_constraints: List[Optional[Tuple[Tensor, Tensor]]] = []
        for layer in range(self.num_layers):
            tags = list(scheme.layer_tags(layer))
            if not tags or tags[0] != "O":
                raise ConfigError(
                    f"{name}: layer {layer} of {scheme!r} has tags {tags}; tag 0 of every "
                    "layer must be 'O' (see TagScheme.layer_tags)."
                )
            constraints = bio_constraints(tags, name) if constrain_bio else (None, None)
            heads.append(nn.Linear(input_dim, len(tags)))
            crfs.append(CRF(len(tags), *constraints))
            extra = None
            if decoding == "constrained" and not constrain_bio:
                extra = allowed_to_scores(*bio_constraints(tags, name), torch.device("cpu"))
            self._decode_constraints.append(extra)
        self.heads = nn.ModuleList(heads)
        self.crfs = nn.ModuleList(crfs)

    def emissions(self, hidden: Tensor) -> List[Tensor]:
        """hidden [B, L, D] -> one [B, L, K_layer] emission tensor per layer."""
        hidden = self.dropout(hidden)
        return [head(hidden) for head in self.heads]

    def make_targets(
        self, entities: Sequence[Sequence[Entity]], lengths: Sequence[int]
    ) -> Dict[str, Tensor]:
        """{"tags": LongTensor [B, num_layers, max(lengths)]}, 0 ("O") past each length."""
        check_windows(type(self).__name__, entities, lengths)
        return {"tags": torch.as_tensor(self.scheme.encode_batch(entities, lengths, pad=0))}

    def loss(self, hidden: Tensor, mask: Tensor, targets: Dict[str, Tensor]) -> Tensor:
        """Mean over layers of the (mean or summed) negative log-likelihood."""
        # [B, layers, L]
        tags = loss_target(type(self).__name__, targets, "tags", hidden, self.num_layers)
        mask = mask.bool()
        tags = tags.clamp(min=0).masked_fill(~mask.unsqueeze(1), 0)  # tolerate -100 padding
        total = hidden.new_zeros((), dtype=torch.float32)
        for layer, (emissions, crf) in enumerate(
            zip(self.emissions(hidden), self.crfs, strict=True)
        ):
            log_lik = crf.log_likelihood(emissions, tags[:, layer], mask)
            total = total - (log_lik.mean() if self.reduction == "mean" else log_lik.sum())
        return total / self.num_layers

    @torch.no_grad()
    def decode_spans(self, hidden: Tensor, mask: Tensor) -> SpanArrays:
        """Viterbi entities of every layer, merged, with mean-marginal scores."""
        return self.spans_from_scores(self.score_tensor(hidden, mask), mask)

    def score_tensor(self, hidden: Tensor, mask: Tensor) -> Tensor:
        """Emissions of every layer [B, layers, L, max tags] (0 past a layer's tags)."""
        layers = self.emissions(hidden)
        width = max(e.shape[-1] for e in layers)
        return torch.stack([F.pad(e, (0, width - e.shape[-1])) for e in layers], 1)

    def spans_from_scores(self, scores: Tensor, mask: Tensor) -> SpanArrays:
        batch = scores.size(0)
        if batch == 0:
            return SpanArrays.empty(0, self.scheme.labels)
        mask = mask.bool()
        all_tags, all_conf = [], []
        layers = [scores[:, k, :, : head.out_features] for k, head in enumerate(self.heads)]
        for emissions, crf, extra in zip(layers, self.crfs, self._decode_constraints, strict=True):
            tags, _ = crf.viterbi(emissions, mask, extra)  # [B, L]
            conf = crf.marginals(emissions, mask).gather(2, tags.unsqueeze(2)).squeeze(2)
            all_tags.append(tags)
            all_conf.append(conf)
        tags = torch.stack(all_tags, 1).cpu()  # [B, layers, L]
        conf = torch.stack(all_conf, 1).double().cpu().numpy()  # [B, layers, L]
        # prefix sums of the confidences: mean over any span in O(1)
        csum = np.concatenate([np.zeros(conf.shape[:2] + (1,)), conf.cumsum(axis=2)], axis=2)
        b, k, start, end, label = self._spans(tags, mask.sum(1).tolist())
        scores = (csum[b, k, end + 1] - csum[b, k, start]) / (end - start + 1)
        return SpanArrays.build(batch, b, start, end, label, scores, self.scheme.labels)

    def _spans(self, tags: Tensor, lengths: List[int]) -> Tuple[np.ndarray, ...]:
        """(batch index, layer, start, end, label id) arrays of every entity in tags [B, layers, L]."""
        # the TagScheme's vectorised reader, by this decoder's reading rule
        spans = self.scheme.tag_spans(tags, rule=reading_rule(self.decoding))
        return spans.batch, spans.layer, spans.start, spans.end, spans.label


def _check_args(name: str, dropout: float, reduction: str, decoding: str) -> None:
    check_decoding(name, decoding)
    if reduction not in REDUCTIONS:
        raise ConfigError(
            f"{name}: `reduction` = {reduction!r} is not supported; use one of "
            f"{', '.join(repr(r) for r in REDUCTIONS)} in the [model.decoder] block."
        )
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(
            f"{name}: `dropout` = {dropout} must be in [0, 1); fix it in the [model.decoder] block."
        )


def crf_decoder(
    scheme: TagScheme,
    dropout: float = 0.1,
    reduction: str = "mean",
    constrain_bio: bool = True,
    decoding: str = DEFAULT_DECODING,
) -> DecoderFactory:
    """Linear emissions + a CRF per tag layer of ``scheme``; returns ``build(input_dim)``.

    decoding: "strict" (default), "lenient" or "constrained" (see ``tag_decoding``).
    """
    name = name_of("decoders", crf_decoder)
    _check_args(name, dropout, reduction, decoding)

    def build(input_dim: int) -> CRFDecoder:
        return CRFDecoder(scheme, input_dim, dropout, reduction, constrain_bio, name, decoding)

    return DecoderFactory(build, scheme, "scheme")


def crf_nested_decoder(
    dropout: float = 0.1,
    reduction: str = "mean",
    labels: Optional[List[str]] = None,
    constrain_bio: bool = True,
    layers: Optional[List[List[str]]] = None,
    decoding: str = DEFAULT_DECODING,
) -> DecoderFactory:
    """The "CRF nested" head: NestedBIO (sym / the other types) + a CRF per layer.

    labels, layers: as for nerkit.NestedBIO.v1 (left out: learned from the training corpus).
    """
    name = name_of("decoders", crf_nested_decoder)
    _check_args(name, dropout, reduction, decoding)
    scheme = nested_bio_scheme(labels, layers)

    def build(input_dim: int) -> CRFDecoder:
        return CRFDecoder(scheme, input_dim, dropout, reduction, constrain_bio, name, decoding)

    return DecoderFactory(build, scheme, None)  # labels and layers are this block's arguments
