"""Optimizers with per-part learning rates and layer-wise learning-rate decay.

Registered builders return a factory ``build(model) -> torch.optim.Optimizer``.
The model has an ``encoder`` (nerkit.models.base.Encoder) whose
``layer_groups()`` orders its parameters by depth: [0] embeddings, [1..N]
transformer layers bottom to top. Everything outside the encoder (fusion,
decoder, lexicon vectors) is the "head".
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Set, Tuple

import torch
from torch import nn

from ..errors import ConfigError
from ..models.base import LayerGroups, encoder_of

OptimizerFactory = Callable[[nn.Module], torch.optim.Optimizer]

_NORM_TYPES: Tuple[type, ...] = (
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
    nn.modules.batchnorm._NormBase,  # BatchNorm*, InstanceNorm*
) + ((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ())


def is_norm_module(module: nn.Module) -> bool:
    """torch's normalisation layers, and custom ones named like ``T5LayerNorm``/``LlamaRMSNorm``."""
    return isinstance(module, _NORM_TYPES) or type(module).__name__.lower().endswith("norm")


def no_decay_params(model: nn.Module) -> Set[int]:
    """ids of parameters exempt from weight decay: those of norm layers and every 1-D/0-D one (biases, scales)."""
    exempt: Set[int] = set()
    for module in model.modules():
        if is_norm_module(module):
            exempt.update(id(p) for p in module.parameters(recurse=False))
    exempt.update(id(p) for p in model.parameters() if p.dim() <= 1)
    return exempt


def find_encoder(model: nn.Module) -> nn.Module:
    """``model.encoder``, looking through ``.module`` wrappers (DDP)."""
    encoder = encoder_of(model)
    if not (isinstance(encoder, nn.Module) and isinstance(encoder, LayerGroups)):
        raise TypeError(
            f"The optimizer needs a model with an 'encoder' implementing layer_groups() "
            f"(nerkit.models.base.Encoder); got {type(model).__name__}."
        )
    return encoder


def encoder_depths(encoder: nn.Module) -> List[List[nn.Parameter]]:
    """Encoder parameters by depth, each exactly once; ones missing from
    ``layer_groups()`` go to the top group (the interface puts extras there)."""
    layer_groups = encoder.layer_groups()
    if not layer_groups:
        raise ValueError(f"{type(encoder).__name__}.layer_groups() returned no groups.")
    where: Dict[int, Tuple[int, str]] = {}
    groups: List[List[nn.Parameter]] = [[] for _ in layer_groups]
    for depth, group in enumerate(layer_groups):
        for name, p in group:
            if id(p) in where:
                if where[id(p)][0] != depth:
                    raise ValueError(
                        f"{type(encoder).__name__}.layer_groups() lists parameter '{name}' in groups "
                        f"{where[id(p)][0]} and {depth}: each parameter must be in exactly one group."
                    )
                continue
            where[id(p)] = (depth, name)
            groups[depth].append(p)
    groups[-1].extend(p for p in encoder.parameters() if id(p) not in where)
    return groups


def param_groups(
    model: nn.Module,
    learning_rate: float,
    head_learning_rate: float,
    weight_decay: float,
    layerwise_decay: Optional[float],
) -> List[Dict]:
    """torch param groups with "name", "lr" and "weight_decay"; frozen parameters left out.

    With ``layerwise_decay = r`` encoder depth k of N gets ``learning_rate * r**(N - k)``
    (groups "encoder.embeddings.*", "encoder.layer{k}.*"); without it the whole
    encoder is "encoder.*" at ``learning_rate``. The rest is "head.*" at
    ``head_learning_rate``. Suffix ".decay"/".no_decay" says whether weight decay applies.
    """
    encoder = find_encoder(model)
    depths = encoder_depths(encoder)
    exempt = no_decay_params(model)
    top = len(depths) - 1
    named: List[Tuple[str, float, List[nn.Parameter]]] = []
    if layerwise_decay is None:
        named.append(("encoder", learning_rate, [p for group in depths for p in group]))
    else:
        for k, group in enumerate(depths):
            name = "encoder.embeddings" if k == 0 else f"encoder.layer{k}"
            named.append((name, learning_rate * layerwise_decay ** (top - k), group))
    in_encoder = {id(p) for group in depths for p in group}
    named.append(
        ("head", head_learning_rate, [p for p in model.parameters() if id(p) not in in_encoder])
    )

    groups: List[Dict] = []
    for name, lr, params in named:
        trainable = [p for p in params if p.requires_grad]
        decay = [p for p in trainable if id(p) not in exempt]
        plain = [p for p in trainable if id(p) in exempt]
        if decay:
            groups.append(
                {"params": decay, "lr": lr, "weight_decay": weight_decay, "name": f"{name}.decay"}
            )
        if plain:
            groups.append(
                {"params": plain, "lr": lr, "weight_decay": 0.0, "name": f"{name}.no_decay"}
            )
    return groups


def _bad(arg: str, value: object, why: str) -> ConfigError:
    return ConfigError(
        f"[training.optimizer] {arg} = {value!r} for nerkit.AdamW.v1: {why}. "
        f"Fix it in the config (or --training.optimizer.{arg})."
    )


def adamw(
    learning_rate: float = 5e-5,
    head_learning_rate: Optional[float] = None,
    weight_decay: float = 0.01,
    betas: List[float] = [0.9, 0.999],  # noqa: B006  (confection reads defaults from the signature)
    eps: float = 1e-8,
    layerwise_decay: Optional[float] = None,
) -> OptimizerFactory:
    """AdamW with no decay on biases/norms, a separate head rate and optional layer-wise decay.

    ``head_learning_rate`` (default: ``learning_rate``) is for the freshly
    initialised fusion/decoder; ``layerwise_decay = r`` in (0, 1] scales encoder
    depth k of N by ``r**(N - k)`` (embeddings smallest, top layer unscaled).
    """
    if not learning_rate > 0:
        raise _bad("learning_rate", learning_rate, "must be > 0")
    if head_learning_rate is not None and not head_learning_rate > 0:
        raise _bad(
            "head_learning_rate",
            head_learning_rate,
            "must be > 0 (or leave it out to use learning_rate)",
        )
    if not weight_decay >= 0:
        raise _bad("weight_decay", weight_decay, "must be >= 0")
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise _bad("betas", betas, "must be two numbers in [0, 1), e.g. [0.9, 0.999]")
    if not eps > 0:
        raise _bad("eps", eps, "must be > 0")
    if layerwise_decay is not None and not 0.0 < layerwise_decay <= 1.0:
        raise _bad(
            "layerwise_decay",
            layerwise_decay,
            "must be in (0, 1], e.g. 0.9 (or leave it out for none)",
        )
    head_lr = learning_rate if head_learning_rate is None else head_learning_rate
    beta_pair = (float(betas[0]), float(betas[1]))

    def build(model: nn.Module) -> torch.optim.Optimizer:
        groups = param_groups(model, learning_rate, head_lr, weight_decay, layerwise_decay)
        if not groups:
            raise ConfigError(
                f"The model {type(model).__name__} has no trainable parameters for the optimizer: "
                "every parameter has requires_grad=False. Unfreeze the encoder or add a trainable head."
            )
        return torch.optim.AdamW(
            groups, lr=learning_rate, betas=beta_pair, eps=eps, weight_decay=weight_decay
        )

    return build
