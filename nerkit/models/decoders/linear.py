"""Linear softmax tagging head (``nerkit.LinearDecoder.v1``, ``nerkit.LinearNestedDecoder.v1``).

One linear softmax head per tag layer of a BIO scheme. With ``nerkit.NestedBIO.v1`` it
is the study's "linear nested" head: a sym layer and a layer for the other eight types,
the loss averaged over the two layers and the entities of both layers merged.

Loss: token cross-entropy, ignoring padding (target -100 or ``mask`` False), averaged
over the real tokens of each layer, then averaged over layers.
Decoding (``decoding`` setting, see ``tag_decoding.py``): "strict" (default) and
"lenient" take the argmax tag per position and layer and read the tags by that rule;
"constrained" takes the most probable BIO-legal tag sequence per layer (Viterbi over
the log-softmax with forbidden transitions at -inf). All are vectorised over the batch.
An entity's score is the mean, over its tokens, of the softmax probability of the
decoded tag at each token (for argmax decoding: the highest probability there).
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

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
from .targets import loss_target

IGNORE = -100


def _check_args(scheme: object, dropout: float, decoding: str) -> str:
    """The decoder's registered name, once ``scheme``, ``dropout`` and ``decoding`` are checked."""
    name = name_of("decoders", linear_decoder)
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"{name}: `dropout` must be in [0, 1), got {dropout}.")
    _check_scheme(scheme, name)
    check_decoding(name, decoding)
    return name


def _check_scheme(scheme: object, name: str) -> None:
    if not isinstance(scheme, TagScheme):
        raise ConfigError(
            f"{name}: `scheme` {scheme!r} is not a TagScheme (nerkit.data.schemes.base). Use a BIO tag scheme such as "
            f'@label_schemes = "nerkit.NestedBIO.v1" or "nerkit.BIO.v1" (span schemes '
            f"go with span decoders)."
        )


class LinearDecoder(Decoder):
    """Per-layer linear softmax over the tags of a BIO ``scheme``.

    All layers share one projection to ``num_layers * max_tags`` outputs; the outputs of
    tags a layer does not have are masked to -inf, so each layer is an independent
    softmax over its own tags.
    """

    def __init__(
        self,
        scheme: TagScheme,
        input_dim: int,
        dropout: float,
        decoding: str,
    ) -> None:
        super().__init__()
        name = _check_args(scheme, dropout, decoding)
        if input_dim <= 0:
            raise ConfigError(f"{name}: input width must be > 0, got {input_dim}.")
        self.scheme = scheme
        self.decoding = decoding
        self.input_dim = input_dim
        self.num_layers = scheme.num_layers
        self.num_tags: List[int] = [len(scheme.layer_tags(k)) for k in range(self.num_layers)]
        self.max_tags = max(self.num_tags)
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(input_dim, self.num_layers * self.max_tags)
        # [K, N] True where the layer has no such tag
        invalid = torch.arange(self.max_tags)[None, :] >= torch.tensor(self.num_tags)[:, None]
        self.register_buffer("invalid_tags", invalid, persistent=False)

    def logits(self, hidden: Tensor) -> Tensor:
        """hidden [B, L, D] -> tag logits [B, K, L, N] (float32, -inf on missing tags)."""
        bsz, length, _ = hidden.shape
        out = self.proj(self.dropout(hidden)).float()  # [B, L, K*N]
        out = out.view(bsz, length, self.num_layers, self.max_tags).transpose(1, 2)
        return out.masked_fill(self.invalid_tags[None, :, None, :], float("-inf"))

    def make_targets(
        self, entities: Sequence[Sequence[Entity]], lengths: Sequence[int]
    ) -> Dict[str, Tensor]:
        """{"tags": LongTensor [B, K, max(lengths)]}, -100 past each length."""
        tags = self.scheme.encode_batch(entities, lengths, pad=IGNORE)
        return {"tags": torch.from_numpy(tags)}

    def loss(self, hidden: Tensor, mask: Tensor, targets: Dict[str, Tensor]) -> Tensor:
        """Cross-entropy per real token, averaged per layer, then over layers."""
        bsz, length, _ = hidden.shape
        owner = type(self).__name__
        gold = loss_target(owner, targets, "tags", hidden, self.num_layers, pad_value=IGNORE)
        gold = gold.masked_fill(~mask.bool()[:, None, :], IGNORE)
        logits = self.logits(hidden)  # [B, K, L, N]
        tok = F.cross_entropy(
            logits.reshape(-1, self.max_tags),
            gold.reshape(-1),
            ignore_index=IGNORE,
            reduction="none",
        ).view(bsz, self.num_layers, length)
        real = (gold != IGNORE).sum(dim=(0, 2)).clamp(min=1)  # [K]
        return (tok.sum(dim=(0, 2)) / real).mean()

    @torch.no_grad()
    def decode_spans(self, hidden: Tensor, mask: Tensor) -> SpanArrays:
        """Entities with scores (mean max-probability over their tokens) per sequence."""
        return self.spans_from_scores(self.score_tensor(hidden, mask), mask)

    def score_tensor(self, hidden: Tensor, mask: Tensor) -> Tensor:
        """Tag logits [B, K, L, N] (float32, -inf on missing tags)."""
        return self.logits(hidden)

    def spans_from_scores(self, scores: Tensor, mask: Tensor) -> SpanArrays:
        bsz = scores.shape[0]
        mask = mask.bool()
        probs = scores.softmax(dim=-1)  # [B, K, L, N]
        if self.decoding == "constrained" and bsz and scores.shape[2]:
            tags = self._constrained_tags(scores.log_softmax(dim=-1), mask)  # [B, K, L]
        else:
            tags = probs.argmax(dim=-1)  # [B, K, L]
        tags = tags.masked_fill(~mask[:, None, :], 0)
        best = probs.gather(3, tags.unsqueeze(3)).squeeze(3)  # [B, K, L]
        spans = self.scheme.tag_spans(tags, rule=reading_rule(self.decoding))
        best_np = best.cpu().double().numpy()
        csum = np.concatenate([np.zeros(best_np.shape[:2] + (1,)), best_np.cumsum(axis=2)], axis=2)
        total = (
            csum[spans.batch, spans.layer, spans.end + 1]
            - csum[spans.batch, spans.layer, spans.start]
        )
        scores = total / (spans.end - spans.start + 1)
        return SpanArrays.build(
            bsz, spans.batch, spans.start, spans.end, spans.label, scores, self.scheme.labels
        )

    def _constrained_tags(self, logp: Tensor, mask: Tensor) -> Tensor:
        """Most probable BIO-legal tags per layer: logp [B, K, L, N], mask [B, L] -> [B, K, L].

        Rows with no real position (empty windows) get length 1; their tags are masked.
        """
        lengths = mask.sum(1).clamp(min=1)  # [B]
        prefix = torch.arange(mask.size(1), device=mask.device)[None, :] < lengths[:, None]
        out = torch.zeros(logp.shape[:3], dtype=torch.long, device=logp.device)
        for k, n in enumerate(self.num_tags):
            start, trans = allowed_to_scores(*self.scheme.transition_mask(k), logp.device)
            out[:, k], _ = viterbi(logp[:, k, :, :n], lengths, prefix, start, trans)
        return out


def linear_decoder(
    scheme: TagScheme, dropout: float = 0.1, decoding: str = DEFAULT_DECODING
) -> Callable[[int], LinearDecoder]:
    """Linear softmax head per tag layer of ``scheme``; returns ``build(input_dim)``.

    decoding: "strict" (default), "lenient" or "constrained" (see ``tag_decoding``).
    """
    _check_args(scheme, dropout, decoding)

    def build(input_dim: int) -> LinearDecoder:
        return LinearDecoder(scheme, input_dim, dropout, decoding)

    return DecoderFactory(build, scheme, "scheme")


def linear_nested_decoder(
    dropout: float = 0.1,
    labels: Optional[List[str]] = None,
    layers: Optional[List[List[str]]] = None,
    decoding: str = DEFAULT_DECODING,
) -> Callable[[int], LinearDecoder]:
    """The study's linear nested head: NestedBIO (sym / other types) + LinearDecoder.

    labels, layers: as for nerkit.NestedBIO.v1 (left out: learned from the training corpus).
    decoding: "strict" (default), "lenient" or "constrained" (see ``tag_decoding``).
    """
    scheme = nested_bio_scheme(labels, layers)
    # labels and layers are this block's own arguments: what the scheme learns goes here
    return DecoderFactory(linear_decoder(scheme, dropout, decoding).build, scheme, None)
