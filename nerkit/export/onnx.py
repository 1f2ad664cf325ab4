"""``nerkit export MODEL --format onnx [--quantize int8] --output DIR``.

The network — encoder, fusion and the decoder's score layer
(``Decoder.score_tensor``) — becomes one ONNX graph with a dynamic batch axis
and a dynamic length axis::

    inputs   input_ids       int64 [B, L+2]   [CLS] chars [SEP] pad (``NERModel.collate``)
             attention_mask  int64 [B, L+2]
             char_mask       bool  [B, L]
             word_ids, word_starts, word_ends  int64 [B, W]; word_mask bool [B, W]
                                              (only for models with a lexicon)
    output   scores          float32, the decoder's score tensor (e.g. [B, K, L, N] tag
                                              logits, [B, C, L, L] span scores)

Everything around it stays nerkit's own code: featurising (characters, windows,
lattice), batching, the decoder's ``spans_from_scores`` (argmax/BIO, Viterbi,
span thresholds) and the merge of long texts' windows, so an exported model gives
the same entities as the PyTorch one (``tests/test_export.py``).

The output directory is a model directory ``nerkit.load`` opens with the ONNX
backend: ``model.onnx``, ``config.cfg``, ``meta.json`` (``"backend": "onnx"``),
the tokenizer files (``encoder/``), the lexicon (``lexicon/``) and
``decoder.safetensors`` (the decoder's own weights, e.g. CRF transitions, used
by its decoding). ``--quantize int8`` applies ONNX Runtime's dynamic
quantization (int8 weights, activations quantized per batch) to the nodes that
``INT8_CHOICES[int8]`` names; docs/benchmarks/export.md gives each choice's
speed and F1.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from safetensors.torch import save_file
from torch import Tensor, nn

from ..errors import NerkitError
from ..models.base import Decoder, LatticeBatch
from ..models.ner_model import Batch, NERModel
from ..types import Example
from ..util import atomic_dir, check_output_dir, file_mode, same_path

CHAR_INPUTS = ("input_ids", "attention_mask", "char_mask")
LATTICE_INPUTS = ("word_ids", "word_starts", "word_ends", "word_mask")
ONNX_FILE = "model.onnx"
DECODER_FILE = "decoder.safetensors"
OPSET = 18
# Which nodes dynamic int8 quantization converts, and how (``export_onnx(..., int8=...)``).
# Every choice quantizes only MatMuls with a constant weight (ONNX Runtime's dynamic
# MatMul quantizer leaves attention's activation x activation products in fp32).
INT8_CHOICES = {
    "all": "every weight MatMul, one scale per weight matrix (ONNX Runtime's defaults)",
    "fp32-decoder": "as all, but the decoder's score layers stay fp32",
    "per-channel": "every weight MatMul, one scale per output column",
}
INT8_DEFAULT = "all"


class ExportError(NerkitError):
    """A model (or one of its components) cannot be exported."""


class DecoderScores(nn.Module):
    """``decoder.score_tensor`` as a module call, so the tracer names its nodes /scores/..."""

    def __init__(self, decoder: Decoder) -> None:
        super().__init__()
        self.decoder = decoder

    def forward(self, chars: Tensor, char_mask: Tensor) -> Tensor:
        return self.decoder.score_tensor(chars, char_mask)


class ScoresGraph(nn.Module):
    """What is exported: input tensors -> the decoder's score tensor."""

    def __init__(self, model: NERModel) -> None:
        super().__init__()
        self.model = model
        self.scores = DecoderScores(model.decoder)

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor, char_mask: Tensor, *lattice: Tensor
    ) -> Tensor:
        words = LatticeBatch(*lattice) if lattice else None
        batch = Batch(input_ids, attention_mask, char_mask, words, None, [])
        return self.scores(self.model(batch), char_mask)


def batch_inputs(batch: Batch) -> Dict[str, np.ndarray]:
    """The ONNX inputs of a collated batch, as numpy arrays."""
    feeds = {
        "input_ids": batch.input_ids.numpy(),
        "attention_mask": batch.attention_mask.numpy(),
        "char_mask": batch.char_mask.numpy(),
    }
    if batch.lattice is not None:
        lat = batch.lattice
        feeds.update(
            word_ids=lat.word_ids.numpy(),
            word_starts=lat.starts.numpy(),
            word_ends=lat.ends.numpy(),
            word_mask=lat.mask.numpy(),
        )
    return feeds


def check_exportable(model: NERModel, config_dict: dict) -> None:
    """Raise ``ExportError`` naming the component that cannot be exported."""
    section = config_dict.get("model", {})
    if model.fusion is not None and model.fusion.onnx_blocker:
        name = section.get("fusion", {}).get("@fusions", type(model.fusion).__name__)
        raise ExportError(
            f"model.fusion ({name}, {type(model.fusion).__name__}) cannot be exported to ONNX: "
            f"{model.fusion.onnx_blocker} Serve or predict with the PyTorch model instead "
            "(`nerkit serve` and `nerkit predict` take it as it is)."
        )
    decoder = model.decoder
    if (
        type(decoder).score_tensor is Decoder.score_tensor
        or type(decoder).spans_from_scores is Decoder.spans_from_scores
    ):
        name = section.get("decoder", {}).get("@decoders", type(decoder).__name__)
        raise ExportError(
            f"model.decoder ({name}, {type(decoder).__name__}) cannot be exported to ONNX: it does "
            "not split its decoding into score_tensor (the network part, exported) and "
            "spans_from_scores (run after ONNX Runtime). Implement both (see nerkit/models/base.py)."
        )


def sample_batch(model: NERModel) -> Batch:
    """Two windows of different lengths, so no axis is traced as a constant."""
    texts = ["患者右下腹疼痛三天伴发热", "咳嗽"]
    feats = model.featurize([Example(t, index=i) for i, t in enumerate(texts)])
    return model.collate(feats)


def export_graph(model: NERModel, path: Path) -> List[str]:
    """Write the ONNX graph of ``model`` to ``path``; return its input names: those the
    network reads (an encoder that ignores the attention mask has no ``attention_mask``)."""
    graph = ScoresGraph(model).eval()
    batch = sample_batch(model)
    feeds = batch_inputs(batch)
    names = list(feeds)
    args = tuple(torch.from_numpy(feeds[n]) for n in names)
    axes = {
        "input_ids": {0: "batch", 1: "positions"},
        "attention_mask": {0: "batch", 1: "positions"},
    }
    axes["char_mask"] = {0: "batch", 1: "chars"}
    for n in LATTICE_INPUTS:
        axes[n] = {0: "batch", 1: "words"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                graph,
                args,
                str(path),
                input_names=names,
                output_names=["scores"],
                dynamic_axes={n: axes[n] for n in names},
                opset_version=OPSET,
                dynamo=False,
            )
        except Exception as err:
            raise ExportError(
                f"Tracing the model to ONNX failed ({type(err).__name__}: {str(err).splitlines()[0]}). "
                "A component uses an operation the exporter does not support."
            ) from None
    import onnx

    used = {i.name for i in onnx.load(str(path), load_external_data=False).graph.input}
    if "input_ids" not in used:
        raise ExportError(
            "The exported graph does not read input_ids: the model's output does not depend on "
            "the text, so there is nothing to export. Check the encoder's forward()."
        )
    return [n for n in names if n in used]


def quantize_int8(src: Path, dest: Path, choice: str = INT8_DEFAULT) -> None:
    """Dynamic int8 quantization of the graph ``src`` into ``dest``, nodes as ``choice`` says."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    options: Dict[str, object] = {"extra_options": {"MatMulConstBOnly": True}}
    if choice == "per-channel":
        options["per_channel"] = True
    if choice == "fp32-decoder":  # the tracer names nodes by module (DecoderScores)
        nodes = onnx.load(str(src), load_external_data=False).graph.node
        options["nodes_to_exclude"] = [n.name for n in nodes if n.name.startswith("/scores/")]
    quantize_dynamic(str(src), str(dest), weight_type=QuantType.QInt8, **options)  # type: ignore[arg-type]


def export_onnx(
    model_dir: Path,
    output: Path,
    quantize: Optional[str] = None,
    int8: str = INT8_DEFAULT,
    overwrite: bool = False,
) -> Path:
    """Export the model directory ``model_dir`` to the ONNX model directory ``output``.

    quantize: None (fp32) or "int8"; int8: which nodes become int8 (``INT8_CHOICES``).
    ``output`` is written whole or not at all (a temporary sibling renamed into place): a
    failure at any step leaves no half-written folder. An ``output`` that holds a model
    already is replaced only with ``overwrite``."""
    from ..config import as_dict
    from ..models.io import load_model

    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as err:
        raise ExportError(
            f"`nerkit export` needs onnx and onnxruntime ({err}). Install them: pip install 'nerkit[export]'."
        ) from None
    if quantize not in (None, "int8"):
        raise ExportError(f"--quantize: only int8 is supported, got {quantize!r}.")
    if int8 not in INT8_CHOICES:
        raise ExportError(
            f"int8 choice {int8!r} is unknown; choose one of: {', '.join(INT8_CHOICES)}."
        )
    model_dir, output = Path(model_dir), Path(output)
    if same_path(model_dir, output):
        raise ExportError(f"--output {output} is the model directory itself: pass a new folder.")
    check_output_dir(output, overwrite, None, "--output", entries=None)
    model, cfg = load_model(model_dir, device="cpu")
    check_exportable(model, as_dict(cfg))
    created = not output.parent.exists()
    try:
        with atomic_dir(output) as tmp:
            _write_export(model, model_dir, tmp, quantize, int8)
    except BaseException:
        if created:  # atomic_dir made the parent for the folder that never came
            shutil.rmtree(output.parent, ignore_errors=True)
        raise
    return output


def _write_export(
    model: NERModel, model_dir: Path, out: Path, quantize: Optional[str], int8: str
) -> None:
    """The files of the ONNX model directory, into the (new, empty) folder ``out``."""
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        names = export_graph(model, fp32)
        check_graph(model, fp32)
        if quantize == "int8":
            quantize_int8(fp32, out / ONNX_FILE, int8)
        else:
            shutil.move(str(fp32), out / ONNX_FILE)
    for src in sorted(
        model_dir.iterdir()
    ):  # config.cfg and every component's assets (encoder/, lexicon/)
        if src.name in ("model.safetensors", "meta.json", "training_state") or src.name.startswith(
            "."
        ):
            continue
        if src.is_dir():
            shutil.copytree(src, out / src.name)
        else:
            shutil.copyfile(src, out / src.name)
    decoder_state = {k: v.contiguous() for k, v in model.decoder.state_dict().items()}
    save_file(decoder_state, str(out / DECODER_FILE))
    os.chmod(out / DECODER_FILE, file_mode())  # safetensors writes 0600
    meta = json.loads((model_dir / "meta.json").read_text(encoding="utf8"))
    meta["backend"] = "onnx"
    meta["onnx"] = {
        "inputs": names,
        "opset": OPSET,
        "quantize": quantize,
        "int8": int8 if quantize == "int8" else None,
        "exported_from": str(model_dir),
    }
    (out / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf8")


def check_graph(model: NERModel, path: Path) -> Tuple[float, float]:
    """Run the exported graph on a fresh batch (other shapes than the trace's) and
    compare with PyTorch; raise if they differ beyond float rounding."""
    import onnxruntime as ort

    texts = ["入院后查体：体温38.5℃，腹部压痛明显。" * 3, "无", "血常规示白细胞升高"]
    batch = model.collate(model.featurize([Example(t, index=i) for i, t in enumerate(texts)]))
    feeds = batch_inputs(batch)
    with torch.no_grad():
        want = ScoresGraph(model)(*(torch.from_numpy(v) for v in feeds.values())).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["scores"], {i.name: feeds[i.name] for i in session.get_inputs()})[0]
    finite = np.isfinite(want)
    if got.shape != want.shape or not np.array_equal(finite, np.isfinite(got)):
        raise ExportError(
            f"The exported graph gives scores of shape {got.shape}, PyTorch {want.shape}."
        )
    diff = float(np.abs(got[finite] - want[finite]).max(initial=0.0))
    scale = float(np.abs(want[finite]).max(initial=1.0))
    if diff > 1e-3 * max(1.0, scale):
        raise ExportError(
            f"The exported graph differs from PyTorch by {diff:.3g} (scores up to {scale:.3g})."
        )
    return diff, scale
