"""The interfaces that registered components implement.

Shapes: B batch, T subword positions ([CLS] + chars + [SEP]), L characters,
W lattice words, H encoder width, D fusion output width.

Builders registered in ``fusions`` and ``decoders`` return *factories*: the
sizes they need (the encoder width, the lexicon) are only known once the
encoder is built and the lexicon initialised, so ``NERModel`` calls
``fusion_factory(input_dim, lexicon)`` and ``decoder_factory(input_dim)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Protocol, Sequence, Tuple, runtime_checkable

from torch import Tensor, nn

from ..data.schemes.base import GetExamples, LabelScheme, SpanScheme, TagScheme
from ..spans import SpanArrays
from ..types import Entity
from .batching import LatticeBatch

__all__ = [
    "GetExamples",
    "Encoder",
    "Fusion",
    "Decoder",
    "DecoderFactory",
    "LatticeBatch",
    "LabelScheme",
    "TagScheme",
    "SpanScheme",
    "EmbeddingLookup",
    "LayerGroups",
    "encoder_of",
]


class Encoder(nn.Module):
    """Maps character ids to contextual vectors, one position per character.

    An encoder may be built empty (a model directory being loaded: the config has no
    init-only resources); ``from_disk`` then builds it from what ``to_disk`` wrote, and
    the attributes below are set from then on.
    """

    hidden_size: int
    max_length: int  # positions incl. [CLS] and [SEP]
    cls_id: int
    sep_id: int
    pad_id: int
    unk_id: int  # the id of characters the vocabulary lacks
    freeze_steps: int  # optimizer steps to keep the encoder frozen at the start (0: none)

    @property
    def initialized(self) -> bool:
        """True once the encoder has its layers (built from a source or ``from_disk``)."""
        raise NotImplementedError

    def initialize(self) -> None:
        """Called before training a new model: raise a ConfigError if there is nothing to start from."""
        raise NotImplementedError

    def to_disk(self, path: Path) -> None:
        """Write what the encoder needs besides its weights (tokenizer, config) into ``path``."""
        raise NotImplementedError

    def from_disk(self, path: Path) -> Encoder:
        """Build the encoder from what ``to_disk`` wrote (weights are loaded afterwards)."""
        raise NotImplementedError

    def weights_origin(self) -> Dict[str, Any]:
        """What the weights started from before training: ``{"init": "checkpoint", "source":
        NAME}`` (pretrained weights), ``{"init": "random", ...}``, or ``{"init": "unknown"}``
        where it was not recorded (a model directory saved before nerkit recorded it)."""
        return {"init": "unknown"}

    def set_frozen(self, frozen: bool) -> None:
        """Stop (or restart) gradients of every encoder parameter."""
        for p in self.parameters():
            p.requires_grad_(not frozen)

    def char_ids(self, text: str) -> List[int]:
        """One vocabulary id per character of ``text`` (len == len(text))."""
        raise NotImplementedError

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """[B, T] ids and mask -> [B, T, H]."""
        raise NotImplementedError

    def word_embeddings(self) -> nn.Embedding:
        """The input embedding matrix that adversarial training perturbs."""
        raise NotImplementedError

    def layer_groups(self) -> List[List[Tuple[str, nn.Parameter]]]:
        """Encoder parameters by depth: [0] embeddings, [1..N] layers bottom to top.

        Names are relative to the encoder. Parameters above the last layer
        (pooler, mixing weights) belong to the top group.
        """
        raise NotImplementedError


# The parts of the Encoder interface that training components use, as protocols: an
# encoder written without subclassing Encoder (a plugin's, a test's) qualifies by
# having them, as thinc's and PyTorch's duck-typed modules do.
@runtime_checkable
class EmbeddingLookup(Protocol):
    """What adversarial training perturbs (``Encoder.word_embeddings``)."""

    def word_embeddings(self) -> nn.Embedding: ...


@runtime_checkable
class LayerGroups(Protocol):
    """What the optimizers' layer-wise learning rates read (``Encoder.layer_groups``)."""

    def layer_groups(self) -> List[List[Tuple[str, nn.Parameter]]]: ...


@runtime_checkable
class _HasEncoder(Protocol):
    encoder: nn.Module  # NERModel's


@runtime_checkable
class _Wrapper(Protocol):
    module: nn.Module  # DistributedDataParallel, DataParallel


def encoder_of(model: nn.Module) -> Optional[nn.Module]:
    """``model.encoder``, looking through ``.module`` wrappers (DDP); None if it has none."""
    while not isinstance(model, _HasEncoder) and isinstance(model, _Wrapper):
        model = model.module
    return model.encoder if isinstance(model, _HasEncoder) else None


class Fusion(nn.Module):
    output_dim: int
    # Why this fusion cannot be traced to ONNX (``nerkit export``), or None when it can.
    onnx_blocker: Optional[str] = None

    def forward(self, chars: Tensor, mask: Tensor, lattice: Optional[LatticeBatch]) -> Tensor:
        """chars [B, L, H], mask [B, L] bool -> [B, L, D]."""
        raise NotImplementedError


class Decoder(nn.Module):
    """Loss from hidden states and targets; entities from hidden states."""

    scheme: LabelScheme

    def make_targets(
        self, entities: Sequence[Sequence[Entity]], lengths: Sequence[int]
    ) -> Dict[str, Tensor]:
        """Gold entities of each window (char coordinates) -> padded target tensors."""
        raise NotImplementedError

    def loss(self, hidden: Tensor, mask: Tensor, targets: Dict[str, Tensor]) -> Tensor:
        """hidden [B, L, D], mask [B, L] bool -> scalar loss."""
        raise NotImplementedError

    def decode_spans(self, hidden: Tensor, mask: Tensor) -> SpanArrays:
        """Entities of each sequence of the batch with a confidence in [0, 1], as arrays
        (``SpanArrays.build`` sorts and de-duplicates raw rows).

        Override this (fast: no Python object per entity) or ``decode``; this
        default converts ``decode``'s lists.
        """
        if type(self).decode is Decoder.decode:
            raise NotImplementedError(
                f"{type(self).__name__} must implement decode_spans or decode."
            )
        return SpanArrays.from_entities(self.decode(hidden, mask), self.scheme.labels)

    def score_tensor(self, hidden: Tensor, mask: Tensor) -> Tensor:
        """The network part of decoding: hidden [B, L, D] -> one float32 score tensor
        (what ``nerkit export`` puts at the end of the ONNX graph).

        Decoders that implement it and ``spans_from_scores`` can be exported;
        ``decode_spans(h, m)`` must equal ``spans_from_scores(score_tensor(h, m), m)``.
        """
        raise NotImplementedError(
            f"{type(self).__name__} has no score_tensor/spans_from_scores pair, so it cannot be "
            "exported to ONNX."
        )

    def spans_from_scores(self, scores: Tensor, mask: Tensor) -> SpanArrays:
        """Entities from ``score_tensor``'s output (run by PyTorch or by ONNX Runtime)."""
        raise NotImplementedError(f"{type(self).__name__} cannot decode exported scores.")

    def decode(self, hidden: Tensor, mask: Tensor) -> List[List[Tuple[Entity, float]]]:
        """Entities with a confidence in [0, 1] for each sequence of the batch,
        each list sorted by (start, end, label)."""
        if type(self).decode_spans is Decoder.decode_spans:
            raise NotImplementedError(
                f"{type(self).__name__} must implement decode_spans or decode."
            )
        return self.decode_spans(hidden, mask).entities()


FusionFactory = Callable[[int, Optional["object"]], Fusion]  # (input_dim, lexicon)


class DecoderFactory:
    """What a ``@decoders`` builder returns: ``factory(input_dim) -> Decoder``, with the label
    scheme the decoder will use, which learns the labels the config leaves out at
    initialisation (``NERModel.initialize`` calls :meth:`initialize` before building the head).

    ``scheme_key``: the argument of the decoder's config block that holds the scheme's block
    (``"scheme"``), or None when the scheme's arguments (``labels``, ``layers``) are the
    decoder block's own (the nested decoders); :meth:`label_config` places what the scheme
    learned there. A plain ``build(input_dim)`` function is a decoder factory too, one whose
    scheme learns nothing (its config lists the labels).
    """

    def __init__(
        self, build: Callable[[int], Decoder], scheme: LabelScheme, scheme_key: Optional[str]
    ) -> None:
        self.build = build
        self.scheme = scheme
        self.scheme_key = scheme_key

    def __call__(self, input_dim: int) -> Decoder:
        if not self.scheme.initialized:
            raise self.scheme.uninitialized_error()
        return self.build(input_dim)

    def initialize(self, get_examples: GetExamples) -> None:
        self.scheme.initialize(get_examples)

    def label_config(self) -> Dict[str, Any]:
        """What the scheme learned, as arguments of the decoder's config block."""
        learned = self.scheme.label_config()
        if learned and self.scheme_key is not None:
            return {self.scheme_key: learned}
        return learned
