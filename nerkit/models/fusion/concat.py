"""Word vectors added to the characters they cover (``nerkit.ConcatFusion.v1``).

The study's third experiment: every lattice word's vector (e.g. word2vec over
pkuseg-medicine segments) is projected to the encoder width, each character gets
the mean of the projected vectors of the words covering it (zeros where no word
does), and that is combined with the character's encoder vector:

* ``combine="concat"``: out = W_o [char; Drop(words)] + b_o, back to the width;
* ``combine="sum"``:    out = char + Drop(words).

For character l of sequence b, with C[b, l, w] = 1 when word w is real and
start_w <= l <= end_w::

    words[b, l] = sum_w C[b, l, w] (W_p e_w + b_p) / max(1, sum_w C[b, l, w])

computed as one batched matmul with the [B, L, W] coverage matrix.
D = input_dim.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import Tensor, nn

from ...errors import ConfigError
from ..base import Fusion, LatticeBatch
from .relative_position import check_lattice, has_words, word_embedding

COMBINE_MODES = ("sum", "concat")


class ConcatFusion(Fusion):
    name = "nerkit.ConcatFusion.v1"

    def __init__(
        self,
        input_dim: int,
        lexicon: Any,
        dropout: float,
        freeze_vectors: bool,
        combine: str,
    ) -> None:
        super().__init__()
        if combine not in COMBINE_MODES:
            raise ConfigError(
                f"{self.name}: unknown combine '{combine}'. Choose one of: {', '.join(COMBINE_MODES)}."
            )
        self.input_dim = self.output_dim = input_dim
        self.combine = combine
        self.words = word_embedding(lexicon, freeze_vectors, self.name)
        self.word_proj = nn.Linear(self.words.embedding_dim, input_dim)
        self.out: Optional[nn.Linear] = (
            nn.Linear(2 * input_dim, input_dim) if combine == "concat" else None
        )
        self.dropout = nn.Dropout(dropout)

    def word_features(self, chars: Tensor, lattice: Optional[LatticeBatch]) -> Tensor:
        """Mean projected vector of the words covering each character: [B, L, H]."""
        batch, length, _ = chars.shape
        if not has_words(lattice):
            return chars.new_zeros(batch, length, self.input_dim)
        assert lattice is not None
        check_lattice(lattice, batch, length, self.name)
        pos = torch.arange(length, device=chars.device)[None, :, None]  # [1, L, 1]
        cover = (
            lattice.mask.bool()[:, None, :]
            & (lattice.starts[:, None, :] <= pos)
            & (pos <= lattice.ends[:, None, :])
        ).to(chars.dtype)  # [B, L, W]
        words = self.word_proj(self.words(lattice.word_ids.long())).to(chars.dtype)  # [B, W, H]
        count = cover.sum(-1, keepdim=True).clamp(min=1.0)  # [B, L, 1]
        return torch.bmm(cover, words) / count

    def forward(self, chars: Tensor, mask: Tensor, lattice: Optional[LatticeBatch]) -> Tensor:
        """chars [B, L, H], mask [B, L] -> [B, L, H]."""
        words = self.dropout(self.word_features(chars, lattice))
        if self.out is None:
            return chars + words
        return self.out(torch.cat([chars, words], dim=-1))


def concat_fusion(
    dropout: float = 0.1, freeze_vectors: bool = False, combine: str = "sum"
) -> Callable[[int, Optional[Any]], ConcatFusion]:
    """Add (or concatenate) to every character the mean vector of the words covering it.

    dropout: on the word features before combining.
    freeze_vectors: keep the lexicon's word vectors fixed.
    combine: "sum" (char + words) or "concat" (linear map of [char; words] to the width).
    """

    def build(input_dim: int, lexicon: Optional[Any] = None) -> ConcatFusion:
        return ConcatFusion(input_dim, lexicon, dropout, freeze_vectors, combine)

    return build
