"""No lexicon fusion: the encoder's character vectors pass through (``nerkit.NoFusion.v1``)."""

from __future__ import annotations

from typing import Any, Callable, Optional

from torch import Tensor

from ..base import Fusion, LatticeBatch


class NoFusion(Fusion):
    """Identity: returns ``chars`` unchanged; output_dim = input_dim. Ignores the lattice."""

    def __init__(self, input_dim: int) -> None:
        super().__init__()
        self.input_dim = self.output_dim = input_dim

    def forward(self, chars: Tensor, mask: Tensor, lattice: Optional[LatticeBatch]) -> Tensor:
        """chars [B, L, H] -> the same tensor."""
        return chars


def no_fusion() -> Callable[[int, Optional[Any]], NoFusion]:
    """Use the encoder's character vectors as they are (no words)."""

    def build(input_dim: int, lexicon: Optional[Any] = None) -> NoFusion:
        return NoFusion(input_dim)

    return build
