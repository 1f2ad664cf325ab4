"""Decoding rules shared by the tag decoders (linear softmax and CRF heads).

A tag decoder turns per-position tag scores into a tag sequence and the sequence into
entities. The ``decoding`` setting of every tag decoder picks the rule:

- ``"strict"`` (the default): an entity starts only at ``B-x`` and runs over the
  ``I-x`` that follow it; an ``I-x`` that does not continue a ``B-x``/``I-x`` of the
  same type is read as ``O`` (so ``O I-x I-x`` is no entity, ``B-x I-y`` is ``x``
  alone). This is what a strict span metric rewards: a stray ``I-`` is usually a
  false positive.
- ``"lenient"``: as conlleval, a stray ``I-x`` starts an entity (``O I-x I-x`` is one
  entity). nerkit's rule before 0.x; kept for comparison.
- ``"constrained"``: the tag sequence itself is chosen by Viterbi under the BIO
  transition constraints (``I-x`` never starts a sequence and only follows ``B-x`` or
  ``I-x``), so it is always well formed and strict and lenient reading agree. For the
  linear head the path score is the sum of the per-position log-probabilities
  (log-softmax), i.e. the most probable well-formed sequence under the per-token
  model; for a CRF the constraints are added to its learned transitions at decoding
  time (the same as ``constrain_bio = true`` when it is already set).

Measured effect: docs/benchmarks/accuracy.md.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from ...errors import ConfigError

DECODING_RULES = ("strict", "lenient", "constrained")
"""Values of a tag decoder's ``decoding`` setting."""

DEFAULT_DECODING = "strict"


def check_decoding(name: str, decoding: str) -> None:
    """Raise a ConfigError naming the setting unless ``decoding`` is a known rule."""
    if decoding not in DECODING_RULES:
        raise ConfigError(
            f"{name}: `decoding` = {decoding!r} is not a decoding rule; use one of "
            f"{', '.join(repr(r) for r in DECODING_RULES)} in the [model.decoder] block "
            '("strict": entities start only at B-; "lenient": a stray I- starts one; '
            '"constrained": Viterbi over BIO-legal tag sequences).'
        )


def reading_rule(decoding: str) -> str:
    """How a decoded tag sequence is read: constrained paths are well formed, read strictly."""
    return "lenient" if decoding == "lenient" else "strict"


def allowed_to_scores(
    allowed_start: np.ndarray | Tensor, allowed: np.ndarray | Tensor, device: torch.device
) -> Tuple[Tensor, Tensor]:
    """Boolean (start [K], transitions [K, K]) masks -> additive scores 0 / -inf (float32)."""
    start = torch.as_tensor(np.asarray(allowed_start), dtype=torch.bool, device=device)
    trans = torch.as_tensor(np.asarray(allowed), dtype=torch.bool, device=device)
    neg = float("-inf")
    zero = torch.zeros((), device=device)
    return torch.where(start, zero, neg), torch.where(trans, zero, neg)


def viterbi(
    emissions: Tensor,
    lengths: Tensor,
    mask: Tensor,
    start: Tensor,
    trans: Tensor,
    end: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor]:
    """Best tag paths of a batch: (tags [B, L] long, 0 on padding; scores [B]).

    emissions [B, L, K] (any scores, e.g. log-probabilities), mask [B, L] a
    left-aligned prefix with lengths [B] >= 1, start [K], end [K] (default 0) and
    transitions [K from, K to] additive (-inf forbids). The score of a path y is
    start[y_0] + sum_t emissions[t, y_t] + sum_t trans[y_{t-1}, y_t] + end[y_last].
    Vectorised over the batch: one [B, K, K] max per time step, and a vectorised
    backtrace (one gather per step).
    """
    batch, length, num_tags = emissions.shape
    if end is None:
        end = emissions.new_zeros(num_tags)
    em = emissions.transpose(0, 1)  # [L, B, K]
    into = trans.t().contiguous()  # [K to, K from]: the max runs over a contiguous dim
    score = start + em[0]  # [B, K]
    scores = [score]
    pointers = []
    for t in range(1, length):
        # best previous tag for every next tag: [B, K to]
        best, prev = (score.unsqueeze(1) + into).max(dim=2)
        score = best + em[t]
        scores.append(score)
        pointers.append(prev)
    stacked = torch.stack(scores)  # [L, B, K]
    final = stacked[lengths - 1, torch.arange(batch, device=lengths.device)] + end  # [B, K]
    best_score, last_tag = final.max(dim=1)
    path = [last_tag.unsqueeze(1)]  # [B, 1] each, from the last position backwards
    if length > 1:
        # Past a sequence's end the pointer is the identity, so its last tag is
        # carried back unchanged to position length_b - 1.
        identity = torch.arange(num_tags, device=emissions.device).expand(batch, -1)
        history = torch.where(
            mask[:, 1:].transpose(0, 1).unsqueeze(2), torch.stack(pointers), identity
        )  # [L-1, B, K]
        for t in range(length - 2, -1, -1):
            path.append(history[t].gather(1, path[-1]))
    path.reverse()
    tags = torch.cat(path, dim=1)  # [B, L]
    return tags.masked_fill(~mask, 0), best_score
