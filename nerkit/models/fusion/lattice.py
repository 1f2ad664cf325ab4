"""The transformer plumbing shared by the flat-lattice fusions (FLAT, FLAT-light).

Both fusions read the same flat lattice (characters then words, see
``relative_position``) and differ only in their attention's position term:

* ``LatticeTransformer`` is the fusion around the layers: characters enter through
  ``char_proj``, words through the lexicon's vectors (``words``) and ``word_proj``;
  the output keeps the character positions, ``LN(chars + Drop(W_o enc_chars))``.
* ``PostNormLayer`` is one post-LN layer around any attention module:
  x = LN(x + Drop(Attn(x, ...))); x = LN(x + Drop(FFN(x))), FFN = Linear-ReLU-Dropout-Linear.

The attribute names are the fusions' parameter names in saved state_dicts.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import torch
from torch import Tensor, nn

from ...errors import ConfigError
from ..base import Fusion, LatticeBatch
from .relative_position import check_lattice, has_words, lattice_positions, word_embedding


class PostNormLayer(nn.Module):
    """``attn`` and a ReLU feed-forward block, each with dropout, residual and LayerNorm."""

    def __init__(self, attn: nn.Module, hidden: int, ff_size: int, dropout: float) -> None:
        super().__init__()
        self.attn = attn
        self.norm1 = nn.LayerNorm(hidden)
        self.ff1 = nn.Linear(hidden, ff_size)
        self.ff2 = nn.Linear(ff_size, hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor, *position: Any) -> Tensor:
        """x [B, N, H], mask [B, N]; ``position`` goes to the attention as it is."""
        x = self.norm1(x + self.dropout(self.attn(x, mask, *position)))
        ff = self.ff2(self.dropout(torch.relu(self.ff1(x))))
        return self.norm2(x + self.dropout(ff))


class LatticeTransformer(Fusion):
    """Input and output of a flat-lattice fusion; subclasses add the layers.

    A subclass calls ``init_input`` first, builds its own modules, then calls
    ``init_output`` (the order fixes the parameters' initialisation under a seed).
    """

    name: str

    def init_input(
        self, input_dim: int, hidden: int, lexicon: Optional[Any], freeze_vectors: bool
    ) -> None:
        """``char_proj`` [input_dim -> hidden]; with a lexicon ``words`` and ``word_proj``."""
        self.input_dim = self.output_dim = input_dim
        self.char_proj = nn.Linear(input_dim, hidden)
        if lexicon is not None:
            self.words: Optional[nn.Embedding] = word_embedding(lexicon, freeze_vectors, self.name)
            self.word_proj: Optional[nn.Linear] = nn.Linear(self.words.embedding_dim, hidden)
        else:
            self.words = self.word_proj = None

    def init_output(self, hidden: int, dropout: float) -> None:
        """``dropout`` (lattice input and output), ``out_proj`` [hidden -> input_dim], ``out_norm``."""
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(hidden, self.input_dim)
        self.out_norm = nn.LayerNorm(self.input_dim)

    def embed(
        self, chars: Tensor, mask: Tensor, lattice: Optional[LatticeBatch]
    ) -> Tuple[Tensor, ...]:
        """Flat lattice input: x [B, N, hidden], heads, tails [B, N], mask [B, N]."""
        x = self.char_proj(chars)
        if has_words(lattice):
            assert lattice is not None
            if self.words is None or self.word_proj is None:
                raise ConfigError(
                    f"{self.name} got lattice words but was built without a lexicon; "
                    "give the model a lexicon (model.lexicon) so the words have vectors."
                )
            check_lattice(lattice, chars.shape[0], chars.shape[1], self.name)
            words = self.word_proj(self.words(lattice.word_ids.long()))
            x = torch.cat([x, words], dim=1)
        heads, tails, seq_mask = lattice_positions(mask.bool(), lattice)
        return self.dropout(x), heads, tails, seq_mask

    def output(self, chars: Tensor, x: Tensor) -> Tensor:
        """chars [B, L, input_dim], x [B, N, hidden] -> [B, L, input_dim] at the characters."""
        return self.out_norm(chars + self.dropout(self.out_proj(x[:, : chars.shape[1]])))
