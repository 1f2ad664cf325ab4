"""Checks shared by the decoders' ``make_targets`` and ``loss`` (CRF, linear, GlobalPointer)."""

from __future__ import annotations

from typing import Dict, Sequence

from torch import Tensor, nn

from ...types import Entity


def check_windows(owner: str, entities: Sequence[Sequence[Entity]], lengths: Sequence[int]) -> None:
    """Raise a ValueError unless ``make_targets`` got one entity list per window length."""
    if len(entities) != len(lengths):
        raise ValueError(
            f"{owner}.make_targets: {len(entities)} entity lists but "
            f"{len(lengths)} lengths; pass one of each per window."
        )


def loss_target(
    owner: str,
    targets: Dict[str, Tensor],
    key: str,
    hidden: Tensor,
    second: int,
    position_dims: int = 1,
    pad_value: int = 0,
) -> Tensor:
    """``targets[key]`` on ``hidden``'s device, padded to the hidden length.

    The target must be [B, second, Lt] (``position_dims`` = 1) or
    [B, second, Lt, Lt] (2) with Lt <= L of ``hidden`` [B, L, D]; every position
    axis is padded with ``pad_value`` up to L. ``owner`` names the decoder class
    in the errors.
    """
    if key not in targets:
        raise ValueError(
            f"{owner}.loss: targets have keys {sorted(targets)}, expected '{key}' "
            "(build them with this decoder's make_targets)."
        )
    batch, length, _ = hidden.shape
    gold = targets[key].to(hidden.device)
    if gold.shape[:2] != (batch, second) or gold.size(2) > length:
        expected = ", ".join([str(batch), str(second)] + [f"<= {length}"] * position_dims)
        raise ValueError(
            f"{owner}.loss: target {key} of shape {tuple(gold.shape)} do not fit hidden "
            f"states {tuple(hidden.shape)}; expected [{expected}]."
        )
    if gold.size(2) < length:
        gold = nn.functional.pad(gold, (0, length - gold.size(2)) * position_dims, value=pad_value)
    return gold
