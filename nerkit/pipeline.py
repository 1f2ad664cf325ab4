"""Using a trained model from Python::

import nerkit
nlp = nerkit.load("runs/q/model-best")  # nerkit/loading.py
nlp("患者右下腹疼痛三天")          # -> [Span(start=2, end=6, type='sym', ...), ...]
for spans in nlp.pipe(texts, batch_size=64):
    ...
"""

from __future__ import annotations

import itertools
from collections import Counter
from functools import partial
from pathlib import Path
from typing import (
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Union,
)

import numpy as np
import torch

from .config import resolve_section
from .errors import InputError
from .models.io import load_model
from .models.ner_model import NERModel
from .models.prediction import predict_spans
from .spans import SpanArrays
from .types import Entity, Example
from .util import resolve_device


class Span(NamedTuple):
    """A predicted entity. ``end`` is inclusive, as in CMeEE."""

    start: int
    end: int
    type: str
    text: str
    score: float

    def to_dict(self) -> dict:
        return {
            "start_idx": self.start,
            "end_idx": self.end,
            "type": self.type,
            "entity": self.text,
            "score": self.score,
        }


_new_span = partial(tuple.__new__, Span)


class Pipeline:
    """A loaded model plus the reader of its config."""

    backend = "torch"  # what runs the network: "torch", or "onnx" (``OnnxPipeline``)

    def __init__(self, model: NERModel, config, path: Optional[Path] = None) -> None:
        self.model = model
        self.config = config
        self.path = path

    @property
    def labels(self) -> Tuple[str, ...]:
        return self.model.labels

    def weights_origin(self) -> Dict[str, Any]:
        """What the encoder's weights started from before training (``Encoder.weights_origin``)."""
        return {"encoder": self.model.encoder.weights_origin()}

    def __repr__(self) -> str:
        m = self.model
        lexicon = "" if m.lexicon is None else f", lexicon={type(m.lexicon).__name__}"
        return (
            f"<nerkit.Pipeline {str(self.path) if self.path else '(not saved)'}: "
            f"encoder={type(m.encoder).__name__}({getattr(m.encoder, 'name_or_path', '')!r}){lexicon}, "
            f"fusion={type(m.fusion).__name__}, decoder={type(m.decoder).__name__}, "
            f"labels={list(self.labels)}, device={m.device}>"
        )

    def __call__(self, text: str) -> List[Span]:
        """The entities of one text. For many texts use ``nlp.pipe(texts)``."""
        if not isinstance(text, str):
            raise InputError(_not_text(text, "nlp(text)"))
        return next(self.pipe([text]))

    def char_coverage(
        self, texts: Iterable[str] = (), counts: Optional[Counter] = None
    ) -> Dict[str, Any]:
        """How many characters of ``texts`` (and of the character ``counts`` of texts seen
        before) the encoder's vocabulary lacks (see ``data.stats.char_coverage``)."""
        from .data.stats import char_coverage

        encoder = self.model.encoder
        return char_coverage(texts, encoder.char_ids, encoder.unk_id, counts=counts)

    def pipe(
        self,
        texts: Iterable[str],
        batch_size: int = 64,
        buffer: int = 4096,
        max_tokens: Optional[int] = None,
    ) -> Iterator[List[Span]]:
        """Stream results for any number of texts, in input order.

        Texts are taken ``buffer`` at a time; inside a buffer windows are sorted
        by length and run ``batch_size`` per model call (fewer where the
        windows are long, if ``max_tokens`` caps the padded positions of a
        batch), so there is no per-text model call and little padding.
        """
        if isinstance(texts, (str, bytes)):
            raise InputError(
                f"nlp.pipe(texts) takes an iterable of texts, got one {type(texts).__name__}. "
                "For one text call nlp(text); for several, nlp.pipe([text1, text2])."
            )
        it = iter(texts)
        done = 0
        while True:
            chunk = list(itertools.islice(it, buffer))
            if not chunk:
                return
            if not all(issubclass(kind, str) for kind in set(map(type, chunk))):  # C-level scan
                i = next(i for i, t in enumerate(chunk) if not isinstance(t, str))
                raise InputError(_not_text(chunk[i], f"item {done + i} of nlp.pipe(texts)"))
            done += len(chunk)
            spans = self._predict(
                [Example(text=t, index=i) for i, t in enumerate(chunk)], batch_size, max_tokens
            )
            bounds = spans.bounds()
            starts, ends = spans.start.tolist(), spans.end.tolist()
            stops = (spans.end + 1).tolist()
            names = np.asarray(spans.labels, dtype=object)[spans.label].tolist()
            scores = spans.score.tolist()
            for i, text in enumerate(chunk):
                a, b = bounds[i], bounds[i + 1]
                # one Span per entity, built by C-level map/zip (no Python frame per entity)
                texts = map(text.__getitem__, map(slice, starts[a:b], stops[a:b]))
                yield list(
                    map(
                        _new_span,
                        zip(starts[a:b], ends[a:b], names[a:b], texts, scores[a:b], strict=True),
                    )
                )

    def _predict(
        self, examples: Sequence[Example], batch_size: int, max_tokens: Optional[int], progress=None
    ) -> SpanArrays:
        dev = self.model.device
        dtype = torch.bfloat16 if dev.type == "cuda" and torch.cuda.is_bf16_supported() else None
        return predict_spans(
            self.model,
            examples,
            batch_size=batch_size,
            progress=progress,
            autocast_dtype=dtype,
            max_tokens=max_tokens,
        )

    def predict_examples(
        self,
        examples: Sequence[Example],
        batch_size: int = 64,
        show_progress: bool = False,
        max_tokens: Optional[int] = None,
    ) -> List[List[Entity]]:
        if not show_progress:
            preds = self._predict(examples, batch_size, max_tokens)
        else:
            from rich.progress import Progress

            with Progress(transient=True) as bar:
                n_windows = sum(len(self.model.windows(len(ex.text))) for ex in examples)
                task = bar.add_task("predicting", total=n_windows)
                preds = self._predict(
                    examples, batch_size, max_tokens, progress=lambda n: bar.advance(task, n)
                )
        return [[e for e, _ in p] for p in preds.entities()]

    def read(
        self, path: Union[str, Path], annotated: bool = True, fmt: Optional[str] = None
    ) -> List[Example]:
        """Read a data file with the reader of the model's config (for CMeEE, JSON list or
        JSON Lines: the format follows the file), or in format ``fmt`` (see
        :mod:`nerkit.data.formats`). Plain text (``fmt="text"``, or a ``.txt`` file without
        a brat ``.ann`` beside it): one example a line, empty lines too, ids the line numbers
        (:mod:`nerkit.data.plaintext`). ``annotated=False``: only the texts are wanted, so a
        brat entity that is discontinuous is no error (its covering span is read, unused)."""
        from .data.plaintext import is_plain_text, read_text_lines
        from .errors import DataError

        if not Path(path).exists():
            raise DataError(f"file not found: {path}")
        if is_plain_text(path, fmt):
            return list(read_text_lines(path))
        if fmt is not None:
            from .data import formats

            options = {"discontinuous": "cover"} if fmt == "brat" and not annotated else {}
            return list(formats.read(path, fmt, **options))
        reader = resolve_section(self.config, "corpora")["reader"]
        return list(reader(path))


def _not_text(value: Any, where: str) -> str:
    got = f"{type(value).__name__} {value!r}"[:80]
    if isinstance(value, (bytes, bytearray)):
        fix = "Decode it first: text.decode('utf-8')."
    elif isinstance(value, (list, tuple)) and where.startswith("nlp(text)"):
        fix = "For several texts use nlp.pipe(texts), which yields one list of spans per text."
    else:
        fix = "Pass the text as a str."
    return f"{where} expects a str, got {got}. {fix}"


def load_torch(path: Union[str, Path], device: str = "auto") -> Pipeline:
    """The Pipeline of a model directory written by ``nerkit train`` (PyTorch).
    :func:`nerkit.load` (:mod:`nerkit.loading`) picks the backend of any model directory."""
    model, cfg = load_model(path, device=resolve_device(device, setting="device"))
    return Pipeline(model, cfg, Path(path))
