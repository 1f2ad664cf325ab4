"""The model: encoder + optional lexicon fusion + decoder (``nerkit.NERModel.v1``).

A record's text is cut into windows of at most ``encoder.max_length - 2``
characters overlapping by ``window_overlap``; each window is one sequence
``[CLS] c_1 .. c_n [SEP]`` with one position per character, so predicted
offsets map back to the record exactly. Prediction over whole records (batching the
windows, merging them with ``responsible_windows``) is ``nerkit.models.prediction.predict_spans``.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor, nn

from ..data.windows import split_windows
from ..errors import ConfigError
from ..spans import SpanArrays
from ..types import Entity, Example
from .base import Decoder, DecoderFactory, Encoder, Fusion, GetExamples, LabelScheme
from .batching import Batch, WindowFeatures, collate_lattices, lattice_window


def ner_model(
    encoder: Any,
    decoder: Callable,
    fusion: Optional[Callable] = None,
    lexicon: Optional[Any] = None,
    window_overlap: int = 64,
) -> NERModel:
    """Compose an encoder, an optional fusion with a lexicon, and a decoder.

    encoder: an ``@encoders`` component.
    decoder: an ``@decoders`` component (a factory taking the input width).
    fusion: an ``@fusions`` component; needs ``lexicon`` unless it uses no words.
    lexicon: an ``@lexicons`` component giving the lattice words and vectors.
    window_overlap: characters shared by consecutive windows of a long text.
    """
    return NERModel(encoder, decoder, fusion, lexicon, window_overlap)


class NERModel(nn.Module):
    def __init__(
        self,
        encoder: Encoder,
        decoder_factory: Union[DecoderFactory, Callable[[int], Decoder]],
        fusion_factory: Optional[Callable[..., Fusion]],
        lexicon: Optional[Any],
        window_overlap: int,
    ) -> None:
        super().__init__()
        if not isinstance(encoder, Encoder):
            raise ConfigError("model.encoder: expected an @encoders component.")
        self.encoder = encoder
        self._decoder_factory = decoder_factory
        self._fusion_factory = fusion_factory
        self.lexicon = lexicon
        self.window_overlap = window_overlap
        self.fusion: Optional[Fusion] = None
        self.decoder: Optional[Decoder] = None
        if encoder.initialized:
            self._check_overlap()

    # -- construction -------------------------------------------------------
    # Training: the builders get the [initialize] resources, then ``initialize(texts)``.
    # Loading: the builders get [model] alone, then ``from_disk(model_dir)`` restores
    # each component's assets (``to_disk`` wrote them) and the weights are loaded.

    @property
    def max_chars(self) -> int:
        return self.encoder.max_length - 2

    def _check_overlap(self) -> None:
        if not 0 <= self.window_overlap < self.max_chars:
            raise ConfigError(
                f"model.window_overlap: expected 0 <= overlap < {self.max_chars} "
                f"(encoder max_length - 2), got {self.window_overlap}."
            )

    @property
    def initialized(self) -> bool:
        return self.decoder is not None

    def initialize(self, get_examples: GetExamples, texts: Optional[Iterable[str]] = None) -> None:
        """Initialise a new model from its training examples, as spaCy's
        ``initialize(get_examples)``: check the encoder, let the decoder's label scheme learn
        the labels the config leaves out (:meth:`learn_labels`), build the lexicon
        vocabulary from ``texts`` (default: the examples' texts), then the heads.

        get_examples: ``() -> the training examples``.
        """
        self.encoder.initialize()
        self._check_overlap()
        self.learn_labels(get_examples)
        if self.lexicon is not None:
            self.lexicon.initialize(
                texts if texts is not None else [ex.text for ex in get_examples()]
            )
        self.build_heads()

    def learn_labels(self, get_examples: GetExamples) -> None:
        """Let the decoder's label scheme learn what the config leaves out (labels, layers)."""
        if isinstance(self._decoder_factory, DecoderFactory):
            self._decoder_factory.initialize(get_examples)

    @property
    def scheme(self) -> Optional[LabelScheme]:
        """The decoder's label scheme (before the head is built too), or None when the
        decoder factory is a plain function and the head is not built yet."""
        if self.decoder is not None:
            return self.decoder.scheme
        if isinstance(self._decoder_factory, DecoderFactory):
            return self._decoder_factory.scheme
        return None

    def label_config(self) -> Dict[str, Any]:
        """What initialisation learned, as arguments of the ``[model]`` block (e.g.
        ``{"decoder": {"scheme": {"labels": [...]}}}``); training records it in config.cfg."""
        if isinstance(self._decoder_factory, DecoderFactory):
            learned = self._decoder_factory.label_config()
            if learned:
                return {"decoder": learned}
        return {}

    def asset_components(self) -> Dict[str, Any]:
        """The components that keep state besides torch parameters, by sub-directory."""
        parts: Dict[str, Any] = {"encoder": self.encoder}
        if self.lexicon is not None:
            parts["lexicon"] = self.lexicon
        return parts

    def to_disk(self, path: Path) -> None:
        """Write each component's assets into ``path/<name>/`` (weights are saved apart)."""
        for name, component in self.asset_components().items():
            component.to_disk(Path(path) / name)

    def from_disk(self, path: Path) -> NERModel:
        """Restore each component's assets from ``path/<name>/``, then build the heads."""
        for name, component in self.asset_components().items():
            component.from_disk(Path(path) / name)
        self._check_overlap()
        self.build_heads()
        return self

    def build_heads(self) -> None:
        width = self.encoder.hidden_size
        if self._fusion_factory is not None:
            self.fusion = self._fusion_factory(width, self.lexicon)
            width = self.fusion.output_dim
        self.decoder = self._decoder_factory(width)

    @property
    def labels(self) -> Tuple[str, ...]:
        return tuple(self.decoder.scheme.labels)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # -- features -------------------------------------------------------------

    def windows(self, length: int) -> List[Tuple[int, int]]:
        return split_windows(length, self.max_chars, self.window_overlap)

    def featurize(
        self, examples: Sequence[Example], with_entities: bool = False
    ) -> List[WindowFeatures]:
        out: List[WindowFeatures] = []
        for i, ex in enumerate(examples):
            ids = self.encoder.char_ids(ex.text)
            lattice = self.lexicon.lattice(ex.text) if self.lexicon is not None else None
            for start, end in self.windows(len(ex.text)):
                ents: List[Entity] = []
                if with_entities:
                    ents = [
                        Entity(e.start - start, e.end - start, e.label)
                        for e in ex.entities
                        if e.start >= start and e.end < end
                    ]
                out.append(
                    WindowFeatures(
                        record=i,
                        start=start,
                        end=end,
                        char_ids=ids[start:end],
                        lattice=lattice_window(lattice, start, end)
                        if lattice is not None
                        else None,
                        entities=ents,
                    )
                )
        return out

    def collate(self, feats: Sequence[WindowFeatures], with_targets: bool = False) -> Batch:
        lengths = np.asarray([f.length for f in feats], dtype=np.int64)
        L = int(lengths.max())
        B = len(feats)
        enc = self.encoder
        ids = np.fromiter(
            itertools.chain.from_iterable(f.char_ids for f in feats), np.int64, int(lengths.sum())
        )
        input_ids = np.full((B, L + 2), enc.pad_id, dtype=np.int64)
        input_ids[:, 0] = enc.cls_id
        input_ids[:, 1 : L + 1][np.arange(L)[None, :] < lengths[:, None]] = (
            ids  # row-major = window order
        )
        input_ids[np.arange(B), lengths + 1] = enc.sep_id
        attention = (np.arange(L + 2)[None, :] < lengths[:, None] + 2).astype(np.int64)
        input_ids, attention = torch.from_numpy(input_ids), torch.from_numpy(attention)
        lengths = lengths.tolist()
        char_mask = torch.arange(L)[None, :] < torch.tensor(lengths)[:, None]
        lattice = None
        if self.lexicon is not None:
            lattice = collate_lattices([f.lattice or [] for f in feats])
        targets = None
        if with_targets:
            targets = self.decoder.make_targets([f.entities for f in feats], lengths)
        return Batch(input_ids, attention, char_mask, lattice, targets, list(feats))

    # -- computation ------------------------------------------------------------

    def forward(self, batch: Batch) -> Tensor:
        """Batch -> character features [B, L, D]."""
        hidden = self.encoder(batch.input_ids, batch.attention_mask)  # [B, L+2, H]
        L = batch.char_mask.shape[1]
        chars = hidden[:, 1 : L + 1]  # [B, L, H]
        if self.fusion is not None:
            chars = self.fusion(chars, batch.char_mask, batch.lattice)
        return chars

    def loss(self, batch: Batch) -> Tensor:
        return self.decoder.loss(self(batch), batch.char_mask, batch.targets)

    @torch.no_grad()
    def decode(self, batch: Batch) -> SpanArrays:
        """Scored entities of each window of the batch, window coordinates."""
        return self.decoder.decode_spans(self(batch), batch.char_mask)
