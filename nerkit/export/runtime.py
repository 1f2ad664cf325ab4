"""The ONNX backend: an exported model directory run by ONNX Runtime.

``nerkit.load(DIR)`` picks it for a directory written by ``nerkit export``
(on the CPU, or on CUDA with onnxruntime-gpu installed)
(``meta.json`` says ``"backend": "onnx"``). The model object is rebuilt from the
config with the encoder and fusion on PyTorch's ``meta`` device (no memory, no
weights: only their featurising is used: tokenizer ids, lattice words), the
decoder on the CPU with its saved weights (its ``spans_from_scores`` decodes
ONNX Runtime's scores). ``pipe``, ``predict_examples``, ``nerkit predict`` and
``nerkit serve`` work unchanged on it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from safetensors.torch import load_file

from ..errors import ModelLoadError
from ..models.ner_model import Batch, NERModel
from ..models.prediction import predict_spans
from ..pipeline import Pipeline
from ..spans import SpanArrays
from ..types import Example
from .onnx import DECODER_FILE, ONNX_FILE, batch_inputs


class OnnxPipeline(Pipeline):
    backend = "onnx"

    def __init__(
        self, model: NERModel, config, path: Path, session, input_names: Sequence[str]
    ) -> None:
        super().__init__(model, config, path)
        self.session = session
        self.input_names = list(input_names)

    def _decode_batch(self, batch: Batch) -> SpanArrays:
        feeds = batch_inputs(batch)
        (scores,) = self.session.run(["scores"], {k: feeds[k] for k in self.input_names})
        return self.model.decoder.spans_from_scores(
            torch.from_numpy(np.ascontiguousarray(scores)), batch.char_mask
        )

    def _predict(
        self, examples: Sequence[Example], batch_size: int, max_tokens: Optional[int], progress=None
    ) -> SpanArrays:
        return predict_spans(
            self.model,
            examples,
            batch_size=batch_size,
            progress=progress,
            max_tokens=max_tokens,
            decode_batch=self._decode_batch,
        )


def is_onnx_dir(path: Path) -> bool:
    meta = Path(path) / "meta.json"
    if not (Path(path) / ONNX_FILE).exists() or not meta.exists():
        return False
    return json.loads(meta.read_text(encoding="utf8")).get("backend") == "onnx"


def providers(device: str, available: Sequence[str]) -> list:
    """ONNX Runtime execution providers for a nerkit ``device``: CUDA (onnxruntime-gpu) for
    "cuda"/"cuda:N" and, when it is installed, for "auto"; the CPU otherwise."""
    if device.startswith("cuda") or device == "auto":
        if "CUDAExecutionProvider" in available:
            index = int(device.split(":")[1]) if ":" in device else 0
            return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
        if device != "auto":
            raise ModelLoadError(
                f"device {device}: this onnxruntime has no CUDA provider (available: "
                f"{', '.join(available)}). Install onnxruntime-gpu, or load with device='cpu'."
            )
    return ["CPUExecutionProvider"]


def load_onnx(path: Path, threads: Optional[int] = None, device: str = "cpu") -> OnnxPipeline:
    """The pipeline of an exported directory; the directory is checked and the model built
    by the same steps as a PyTorch model directory (:mod:`nerkit.models.io`)."""
    from ..models.io import build_model, read_model_dir

    try:
        import onnxruntime as ort
    except ImportError as err:
        raise ModelLoadError(
            f"{path} is an ONNX model directory; running it needs onnxruntime ({err}). "
            "Install it: pip install 'nerkit[export]'."
        ) from None
    path = Path(path)
    required = ("config.cfg", "meta.json", ONNX_FILE, DECODER_FILE)
    cfg, meta = read_model_dir(path, required, kind="ONNX", backend="onnx")
    with torch.device("meta"):  # the encoder's weights are in model.onnx: build no tensors for them
        model = build_model(path, cfg)  # each component's assets (encoder/ tokenizer, lexicon/)
    model.build_heads()  # fusion and decoder again, on the CPU: the decoder decodes
    if model.fusion is not None:
        model.fusion.to("meta")
    try:
        model.decoder.load_state_dict(load_file(str(path / DECODER_FILE)), strict=True)
    except RuntimeError as err:
        raise ModelLoadError(
            f"{path / DECODER_FILE} does not match the decoder of {path / 'config.cfg'}: {err}"
        ) from None
    model.decoder.eval()
    model.eval()
    options = ort.SessionOptions()
    # as many threads as PyTorch would use (OMP_NUM_THREADS, torch.set_num_threads), and no
    # spin-waiting between calls: the featurising and decoding run on the same cores
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    chosen = providers(device, ort.get_available_providers())
    session = ort.InferenceSession(str(path / ONNX_FILE), options, providers=chosen)
    return OnnxPipeline(model, cfg, path, session, meta.get("onnx", {}).get("inputs", []))
