"""BIO tagging with one or more tag layers (``nerkit.BIO.v1``).

Tag ids of a layer: 0 is ``"O"``, then ``B-x`` = 1 + 2k and ``I-x`` = 2 + 2k for the
k-th label of that layer.

Conflict rule (encoding, within one layer): a layer can hold only non-overlapping
entities, so the entities assigned to it are taken in this order -- longer entity
first, then label priority (``priority``, default: the order of ``labels``), then
earlier start -- and an entity is written only if all its positions are still free.
Exact duplicates are written once. Entities not fully inside ``[0, length)`` are
left out (windowing keeps whole entities inside a window).

Reading rules for tag sequences (``rule`` of :meth:`BIOScheme.tag_spans`). In both,
``B-x`` always starts a new entity (even after ``I-x``) and an entity runs over the
``I-x`` of the same type that follow it. They differ on an ``I-x`` that does not
follow a ``B-x``/``I-x`` of the same type (a "stray" I):
- ``"lenient"`` (as conlleval; the scheme's default): it starts a new entity of type
  x, so ``O I-x I-x`` is one entity and ``B-x I-y`` is x then y;
- ``"strict"``: it and the ``I-x`` that continue it are read as ``O``, so
  ``O I-x I-x`` is nothing and ``B-x I-y`` is x alone.
The tag decoders default to strict (see ``models/decoders/tag_decoding.py``).
Positions at or beyond the sequence length, and negative ids (the -100 padding of
targets), are read as ``"O"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ...errors import ConfigError
from ...registry import name_of
from ...types import Entity
from .base import GetExamples, TagScheme
from .labels import check_entity, label_ids, learn_labels

ArrayLike = Union[np.ndarray, torch.Tensor, Sequence]

READING_RULES = ("lenient", "strict")


@dataclass
class TagSpans:
    """Entities found in a batch of tag sequences, as parallel int64 arrays [N].

    Rows are ordered by (batch, layer, start). ``label`` indexes ``scheme.labels``.
    """

    batch: np.ndarray
    layer: np.ndarray
    start: np.ndarray
    end: np.ndarray  # inclusive
    label: np.ndarray

    def __len__(self) -> int:
        return int(self.batch.shape[0])


def _to_numpy(x: ArrayLike) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


class BIOScheme(TagScheme):
    """BIO tags in ``len(layers)`` layers; every label lives in exactly one layer.

    ``labels``: entity types. ``layers``: a partition of ``labels`` into tag layers
    (default: one layer holding every label). ``priority``: label order used to break
    ties between overlapping entities of equal length (default: ``labels`` order;
    labels left out of ``priority`` come after the listed ones, in ``labels`` order).
    ``name`` is the registered name, used in error messages.
    """

    def __init__(
        self,
        *,
        labels: Optional[Sequence[str]],
        layers: Optional[Sequence[Sequence[str]]],
        priority: Optional[Sequence[str]],
        name: str,
    ) -> None:
        self.name = name
        self._arguments = (labels, layers, priority)
        self._learned: Dict[str, Any] = {}
        if not self._learns(labels, layers):
            self._build(labels, layers, priority)

    def _learns(self, labels: Optional[Sequence[str]], layers: Optional[Sequence[Any]]) -> bool:
        """Whether the scheme waits for the training examples (labels left out)."""
        return labels is None

    def _learn_layers(
        self, examples: List[Any], labels: Sequence[str], layers: Optional[Sequence[Any]]
    ) -> Optional[Sequence[Sequence[str]]]:
        """The layers for learned labels: one flat layer (a nested scheme learns them)."""
        return layers

    def initialize(self, get_examples: GetExamples) -> None:
        """Learn the labels the config left out from the training examples (and, for a
        nested scheme, its layers), then build the tag sets."""
        if self.initialized:
            return
        labels, layers, priority = self._arguments
        examples = list(get_examples())
        if labels is None:
            labels = learn_labels(examples, self.name)
            self._learned["labels"] = list(labels)
        learned_layers = self._learn_layers(examples, labels, layers)
        if learned_layers is not layers:
            self._learned["layers"] = [list(x) for x in learned_layers]
        self._build(labels, learned_layers, priority)

    def label_config(self) -> Dict[str, Any]:
        return dict(self._learned)

    def _default_layers(self, labels: Sequence[str]) -> List[List[str]]:
        """The layers when the config gives none and none are learned: one flat layer."""
        return [list(labels)]

    @property
    def layers(self) -> Tuple[Tuple[str, ...], ...]:
        """The labels of each tag layer; a ConfigError before the scheme is initialised."""
        if not self.initialized:
            raise self.uninitialized_error()
        return self._layers

    def _build(
        self,
        labels: Sequence[str],
        layers: Optional[Sequence[Sequence[str]]],
        priority: Optional[Sequence[str]],
    ) -> None:
        self.labels, self.label_to_id = label_ids(labels, self.name)
        labels = self.labels
        if layers is None:
            layers = self._default_layers(labels)
        self._layers: Tuple[Tuple[str, ...], ...] = tuple(tuple(layer) for layer in layers)
        self._check_layers()
        # label id -> (layer, index of the label inside its layer)
        self.label_layer: Dict[str, int] = {}
        for k, layer in enumerate(self.layers):
            for lab in layer:
                self.label_layer[lab] = k
        self.priority = self._check_priority(priority)
        self._rank = {lab: i for i, lab in enumerate(self.priority)}
        self._tags = [
            ["O"] + [f"{p}-{lab}" for lab in layer for p in ("B", "I")] for layer in self.layers
        ]
        # [K, max labels per layer]: layer-local label index -> global label id (-1 = none)
        width = max(len(layer) for layer in self.layers)
        self._local_to_global = np.full((len(self.layers), width), -1, dtype=np.int64)
        self._local_index: Dict[str, int] = {}
        for k, layer in enumerate(self.layers):
            for j, lab in enumerate(layer):
                self._local_to_global[k, j] = self.label_to_id[lab]
                self._local_index[lab] = j
        self._num_tags = np.array([len(t) for t in self._tags], dtype=np.int64)

    # -- validation -------------------------------------------------------------------
    @staticmethod
    def default_layers(labels: Sequence[str], name: str) -> List[List[str]]:
        """The layers when ``layers`` is left out: one layer holding every label."""
        return [list(labels)]

    def _check_layers(self) -> None:
        if not self.layers or any(len(layer) == 0 for layer in self.layers):
            raise ConfigError(
                f"{self.name}: `layers` must be a non-empty list of non-empty label lists, "
                f"got {[list(x) for x in self.layers]}."
            )
        seen: Dict[str, int] = {}
        for k, layer in enumerate(self.layers):
            for lab in layer:
                if lab not in self.label_to_id:
                    raise ConfigError(
                        f"{self.name}: `layers` names label '{lab}' (layer {k}) that is not in "
                        f"`labels` {list(self.labels)}. Fix `layers` or add the label to `labels`."
                    )
                if lab in seen:
                    raise ConfigError(
                        f"{self.name}: `layers` puts label '{lab}' in layers {seen[lab]} and {k}. "
                        f"Each label must be in exactly one layer."
                    )
                seen[lab] = k
        missing = [lab for lab in self.labels if lab not in seen]
        if missing:
            raise ConfigError(
                f"{self.name}: `layers` leaves out labels {missing}. The layers must partition "
                f"`labels` {list(self.labels)}: add each missing label to one layer."
            )

    def _check_priority(self, priority: Optional[Sequence[str]]) -> Tuple[str, ...]:
        if priority is None:
            return self.labels
        unknown = [lab for lab in priority if lab not in self.label_to_id]
        if unknown:
            raise ConfigError(
                f"{self.name}: `priority` names labels {unknown} that are not in `labels` "
                f"{list(self.labels)}. Fix `priority` or leave it out to use `labels` order."
            )
        listed = list(dict.fromkeys(priority))
        return tuple(listed + [lab for lab in self.labels if lab not in listed])

    # -- TagScheme API ----------------------------------------------------------------
    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def layer_tags(self, layer: int) -> List[str]:
        return list(self._tags[layer])

    def num_tags(self, layer: int) -> int:
        """Number of tags of a layer (1 + 2 * its labels)."""
        return len(self._tags[layer])

    def tag_id(self, layer: int, tag: str) -> int:
        """Id of a tag name ("O", "B-x", "I-x") in ``layer``."""
        return self._tags[layer].index(tag)

    def transition_mask(self, layer: int) -> Tuple[np.ndarray, np.ndarray]:
        """Strict BIO constraints of a layer, for constrained decoders (e.g. a CRF).

        Returns ``(start_ok [n], trans_ok [n, n])`` booleans: ``I-x`` may not start a
        sequence and may only follow ``B-x`` or ``I-x``; everything else is allowed.
        """
        n = self.num_tags(layer)
        start_ok = np.ones(n, dtype=bool)
        trans_ok = np.ones((n, n), dtype=bool)
        for j in range(len(self.layers[layer])):
            b, i = 1 + 2 * j, 2 + 2 * j
            start_ok[i] = False
            trans_ok[:, i] = False
            trans_ok[b, i] = True
            trans_ok[i, i] = True
        return start_ok, trans_ok

    def _check_entity(self, ent: Entity) -> None:
        check_entity(ent, self.name, self.labels, self.label_to_id)

    def encode(self, entities: Sequence[Entity], length: int) -> List[List[int]]:
        """[num_layers][length] tag ids, overlaps resolved by the module's conflict rule."""
        out = np.zeros((self.num_layers, length), dtype=np.int64)
        self._encode_into(out, entities, length)
        return out.tolist()

    def _encode_into(self, out: np.ndarray, entities: Sequence[Entity], length: int) -> None:
        """Write the tags of one sequence into ``out`` [K, >= length] (pre-filled with O)."""
        ents = set()
        for ent in entities:
            ent = Entity(*ent)
            self._check_entity(ent)
            if ent.end < length:
                ents.add(ent)
        order = sorted(ents, key=lambda e: (e.start - e.end, self._rank[e.label], e.start, e.end))
        for ent in order:
            k = self.label_layer[ent.label]
            row = out[k]
            if row[ent.start : ent.end + 1].any():
                continue
            j = self._local_index[ent.label]
            row[ent.start] = 1 + 2 * j
            row[ent.start + 1 : ent.end + 1] = 2 + 2 * j

    def encode_batch(
        self, entities: Sequence[Sequence[Entity]], lengths: Sequence[int], pad: int = -100
    ) -> np.ndarray:
        """Tags of a batch: int64 [B, num_layers, max(lengths)], ``pad`` past each length."""
        lengths = [int(n) for n in lengths]
        if len(entities) != len(lengths):
            raise ValueError(
                f"{self.name}.encode_batch: got {len(entities)} entity lists but {len(lengths)} lengths."
            )
        width = max(lengths, default=0)
        out = np.zeros((len(lengths), self.num_layers, width), dtype=np.int64)
        for b, (ents, n) in enumerate(zip(entities, lengths, strict=True)):
            self._encode_into(out[b], ents, n)
        pos = np.arange(width)
        out[
            np.broadcast_to((pos[None, :] >= np.asarray(lengths)[:, None])[:, None, :], out.shape)
        ] = pad
        return out

    def tag_spans(
        self, tags: ArrayLike, lengths: Optional[ArrayLike] = None, rule: str = "lenient"
    ) -> TagSpans:
        """Vectorised decoding: tags [B, num_layers, L] (+ lengths [B]) -> all entity spans.

        ``rule``: "lenient" or "strict" (module docstring); no Python loop over the batch.
        """
        if rule not in READING_RULES:
            raise ValueError(
                f"{self.name}: unknown reading rule {rule!r}; use one of {READING_RULES}."
            )
        t = _to_numpy(tags).astype(np.int64, copy=True)
        if t.ndim != 3 or t.shape[1] != self.num_layers:
            raise ValueError(
                f"{self.name}: expected tags of shape [batch, {self.num_layers} layers, length], "
                f"got {tuple(t.shape)}."
            )
        bsz, _, length = t.shape
        if lengths is not None:
            lens = _to_numpy(lengths).astype(np.int64).reshape(-1)
            t[
                np.broadcast_to((np.arange(length)[None, :] >= lens[:, None])[:, None, :], t.shape)
            ] = 0
        t[t < 0] = 0
        bad = t >= self._num_tags[None, :, None]
        if bad.any():
            b, k, i = (int(x[0]) for x in np.nonzero(bad))
            raise ValueError(
                f"{self.name}: tag id {int(t[b, k, i])} at batch {b}, layer {k}, position {i} is "
                f"out of range; layer {k} has {self.num_tags(k)} tags {self._tags[k]}."
            )
        inside = t > 0
        local = np.where(inside, (t - 1) // 2, -1)  # [B, K, L] layer-local label index
        is_b = inside & (t % 2 == 1)
        none = np.full((bsz, self.num_layers, 1), -1, dtype=np.int64)
        prev_local = np.concatenate([none, local[:, :, :-1]], axis=2)
        # [B, K, L] an I-x right after a B-x / I-x: it continues the run before it
        cont = inside & ~is_b & (prev_local == local)
        # A run is a position that does not continue + the positions that continue it.
        heads = inside & ~cont  # [B, K, L] first position of each run of tags
        next_cont = np.concatenate([cont[:, :, 1:], np.zeros_like(none, dtype=bool)], axis=2)
        ends = inside & ~next_cont  # last position of each run
        if rule == "strict":
            # only runs headed by a B- are entities: find each position's run head
            pos = np.broadcast_to(np.arange(length), t.shape)
            head_pos = np.maximum.accumulate(np.where(cont, 0, pos), axis=2)  # [B, K, L]
            head_is_b = np.take_along_axis(is_b, head_pos, axis=2)
            heads = heads & is_b
            ends = ends & head_is_b
        starts = heads
        sb, sk, si = np.nonzero(starts)
        _, _, ei = np.nonzero(ends)  # same count and order: one end per start, row-major
        label = self._local_to_global[sk, local[sb, sk, si]]
        return TagSpans(sb, sk, si, ei, label)

    def decode_batch(
        self, tags: ArrayLike, lengths: Optional[ArrayLike] = None, rule: str = "lenient"
    ) -> List[List[Entity]]:
        """tags [B, num_layers, L] -> entities of each sequence (layers merged, sorted)."""
        spans = self.tag_spans(tags, lengths, rule)
        bsz = _to_numpy(tags).shape[0]
        out: List[set] = [set() for _ in range(bsz)]
        for b, s, e, lab in zip(
            spans.batch.tolist(),
            spans.start.tolist(),
            spans.end.tolist(),
            spans.label.tolist(),
            strict=True,
        ):
            out[b].add(Entity(s, e, self.labels[lab]))
        return [sorted(ents) for ents in out]

    def decode(self, tags: Sequence[Sequence[int]], rule: str = "lenient") -> List[Entity]:
        """[num_layers][length] tag ids -> entities of all layers merged, sorted."""
        arr = _to_numpy(tags)
        if arr.ndim != 2:
            raise ValueError(
                f"{self.name}.decode: expected [num_layers][length] tag ids, got shape {arr.shape}."
            )
        return self.decode_batch(arr[None], rule=rule)[0]

    def __repr__(self) -> str:
        if not self.initialized:
            return f"{type(self).__name__}(labels learned at initialisation)"
        return f"{type(self).__name__}(labels={list(self.labels)}, layers={[list(x) for x in self.layers]})"


def bio_scheme(
    labels: Optional[List[str]] = None, priority: Optional[List[str]] = None
) -> BIOScheme:
    """One flat BIO layer over ``labels``; overlaps resolved by length, then ``priority``.

    labels: the entity types; left out, ``nerkit train`` learns them from the training corpus.
    """
    name = name_of("label_schemes", bio_scheme)
    return BIOScheme(labels=labels, layers=None, priority=priority, name=name)
