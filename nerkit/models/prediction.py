"""Prediction over whole records: windows of every record, length-sorted batches, one
model call per batch, window predictions merged back to record coordinates.

``NERModel`` builds, computes the loss and decodes one batch; this module runs it over
records. The pipeline (``nerkit.pipeline``, its ONNX backend) and training's evaluation both
call it; it sits beside ``batching.py`` so both can, the two being independent layers.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..data.windows import responsible_windows
from ..spans import SpanArrays
from ..types import Entity, Example
from .batching import Batch, sorted_batches
from .ner_model import NERModel


@torch.no_grad()
def predict_spans(
    model: NERModel,
    examples: Sequence[Example],
    batch_size: int = 64,
    progress: Optional[Callable[[int], None]] = None,
    autocast_dtype: Optional[torch.dtype] = None,
    max_tokens: Optional[int] = None,
    decode_batch: Optional[Callable[[Batch], SpanArrays]] = None,
) -> SpanArrays:
    """Scored entities of every record (``seq`` = index in ``examples``), record coordinates.

    Windows of all records are sorted by length and batched (at most
    ``batch_size`` windows and, if set, ``max_tokens`` padded positions per
    batch), so each batch is one model call with little padding; the
    windows' predictions are merged (``nerkit.data.windows``) and sorted
    back into record order, all in numpy: no Python object per entity.
    ``decode_batch`` replaces the network (and ``autocast_dtype``): the ONNX
    backend passes ONNX Runtime's scores through the decoder's decoding.
    """
    was_training = model.training
    if was_training:  # (eval() walks every submodule: not per call when already in eval mode)
        model.eval()
    if decode_batch is None:
        device = model.device

        def decode_batch(batch: Batch) -> SpanArrays:
            with torch.autocast(
                device.type,
                dtype=autocast_dtype or torch.bfloat16,
                enabled=autocast_dtype is not None,
            ):
                return model.decode(batch.to(device))

    feats = model.featurize(examples)
    order = sorted(range(len(feats)), key=lambda i: feats[i].length)
    parts: List[SpanArrays] = []
    try:
        for idx in sorted_batches(order, [f.length + 2 for f in feats], batch_size, max_tokens):
            spans = decode_batch(model.collate([feats[i] for i in idx]))
            parts.append(replace(spans, seq=np.asarray(idx, dtype=np.int64)[spans.seq]))
            if progress is not None:
                progress(len(idx))
    finally:
        if was_training:
            model.train()
    labels = model.labels
    if not parts:
        return SpanArrays.empty(len(examples), labels)
    rows = SpanArrays.concat(parts, len(feats))  # seq = window index
    window_record = np.asarray([f.record for f in feats], dtype=np.int64)
    start, end, keep = responsible_windows(
        window_record,
        [f.start for f in feats],
        [f.end for f in feats],
        [len(ex.text) for ex in examples],
        rows.seq,
        rows.start,
        rows.end,
    )
    return SpanArrays.build(
        len(examples),
        window_record[rows.seq],
        start,
        end,
        rows.label,
        rows.score,
        labels,
        keep=keep,
    )


def predict(
    model: NERModel, examples: Sequence[Example], **options: Any
) -> List[List[Tuple[Entity, float]]]:
    """``(Entity, score)`` lists of every record, in input order, record coordinates;
    ``options`` as :func:`predict_spans` takes them (``batch_size``, ``max_tokens``, ...)."""
    return predict_spans(model, examples, **options).entities()
