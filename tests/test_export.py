"""`nerkit export --format onnx`: the ONNX backend gives PyTorch's entities; int8; clear refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("onnx", reason="nerkit export needs onnx (pip install -e '.[export]')")
pytest.importorskip(
    "onnxruntime", reason="the ONNX backend needs onnxruntime (pip install -e '.[export]')"
)

import onnx  # noqa: E402

import nerkit  # noqa: E402
from nerkit.cli.main import app  # noqa: E402
from nerkit.config import resolve_section  # noqa: E402
from nerkit.data.formats.cmeee import read_cmeee  # noqa: E402
from nerkit.export.onnx import ONNX_FILE, ExportError, export_onnx  # noqa: E402
from nerkit.models.io import save_model  # noqa: E402
from nerkit.scoring import score  # noqa: E402
from nerkit.types import (
    CMEEE_LABELS,
    Entity,  # noqa: E402
)

from .conftest import CORPUS, fast_config  # noqa: E402

runner = CliRunner()


def sample_texts() -> List[str]:
    texts = [ex.text for name in ("dev.json", "test.json") for ex in read_cmeee(CORPUS / name)]
    return texts + ["".join(texts)[:700], "", "🙂"]  # one text of six windows


def entities(nlp, texts) -> List[List[Entity]]:
    return [
        [Entity(s.start, s.end, s.type) for s in spans] for spans in nlp.pipe(texts, batch_size=16)
    ]


@pytest.fixture(scope="module")
def exported(tiny_model_dir: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "fp32"
    result = runner.invoke(
        app, ["export", str(tiny_model_dir), "--format", "onnx", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


def test_fp32_onnx_equals_pytorch_on_the_sample(tiny_model_dir: Path, exported: Path):
    torch_nlp = nerkit.load(tiny_model_dir, device="cpu")
    onnx_nlp = nerkit.load(exported)
    assert onnx_nlp.backend == "onnx" and torch_nlp.backend == "torch"
    assert onnx_nlp.labels == torch_nlp.labels
    texts = sample_texts()
    want = list(torch_nlp.pipe(texts))
    got = list(onnx_nlp.pipe(texts, batch_size=5))  # other batches: other padded shapes
    assert sum(map(len, want)) > 0
    assert [[s[:4] for s in x] for x in got] == [[s[:4] for s in x] for x in want]
    for x, y in zip(got, want, strict=True):
        assert [s.score for s in x] == pytest.approx([s.score for s in y], abs=1e-4)
    graph = onnx.load(str(exported / "model.onnx"))
    dims = [
        [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
        for i in graph.graph.input
    ]
    assert dims == [
        ["batch", "positions"],
        ["batch", "positions"],
        ["batch", "chars"],
    ]  # dynamic axes
    assert not (exported / "model.safetensors").exists()  # the network lives in model.onnx only
    assert (exported / "decoder.safetensors").stat().st_mode & 0o044  # readable as other files are


def test_fp32_onnx_equals_pytorch_on_cmeee_test(
    tiny_model_dir: Path, exported: Path, shared_data: Path
):
    texts = [ex.text for ex in read_cmeee(shared_data / "cmeee" / "CMeEE_test.json")]
    want = entities(nerkit.load(tiny_model_dir, device="cpu"), texts)
    got = entities(nerkit.load(exported), texts)
    assert len(got) == len(texts) and got == want


def test_predict_cli_runs_on_the_onnx_model(exported: Path, tmp_path: Path):
    out = tmp_path / "pred.json"
    result = runner.invoke(
        app, ["predict", str(exported), str(CORPUS / "test.json"), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    got = [[(e.start, e.end, e.label) for e in ex.entities] for ex in read_cmeee(out)]
    texts = [ex.text for ex in read_cmeee(CORPUS / "test.json")]
    assert got == [[tuple(e) for e in ents] for ents in entities(nerkit.load(exported), texts)]


def test_a_pytorch_command_on_the_onnx_directory_names_its_backend(exported: Path, tmp_path):
    from nerkit.pipeline import load_torch

    with pytest.raises(nerkit.errors.ModelLoadError) as err:
        load_torch(exported, device="cpu")
    text = " ".join(str(err.value).split())
    assert "backend 'onnx'" in text and "model.safetensors" in text and "nerkit.load" in text
    result = runner.invoke(app, ["export", str(exported), "--output", str(tmp_path / "again")])
    assert result.exit_code == 1 and "backend 'onnx'" in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_int8_is_quantized_and_close_to_fp32(tiny_model_dir: Path, exported: Path, tmp_path: Path):
    out = tmp_path / "int8"
    export_onnx(tiny_model_dir, out, quantize="int8")
    graph = onnx.load(str(out / "model.onnx"))
    ops = {n.op_type for n in graph.graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops, ops
    int8 = [t for t in graph.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert sum(int(np.prod(t.dims)) for t in int8) > 50_000  # the encoder's weight matrices
    texts = sample_texts()
    fp32 = entities(nerkit.load(exported), texts)
    q8 = entities(nerkit.load(out), texts)
    agreement = score(fp32, q8)["f1"]
    assert agreement > 0.9, agreement


def integer_matmuls(path: Path) -> Dict[str, bool]:
    """Each MatMulInteger's node name -> whether its B input is a stored (int8) weight."""
    graph = onnx.load(str(path)).graph
    stored = {t.name for t in graph.initializer}
    return {n.name: n.input[1] in stored for n in graph.node if n.op_type == "MatMulInteger"}


def test_int8_choices_pick_the_quantized_nodes(tiny_model_dir: Path, tmp_path: Path):
    every = integer_matmuls(export_onnx(tiny_model_dir, tmp_path / "a", "int8", "all") / ONNX_FILE)
    keep_head = integer_matmuls(
        export_onnx(tiny_model_dir, tmp_path / "h", "int8", "fp32-decoder") / ONNX_FILE
    )
    assert every and all(every.values())  # weight MatMuls only
    decoder = {n for n in every if n.startswith("/scores/")}
    assert decoder and set(keep_head) == set(every) - decoder
    meta = json.loads((tmp_path / "h" / "meta.json").read_text(encoding="utf8"))
    assert meta["onnx"]["int8"] == "fp32-decoder"
    per_channel = onnx.load(
        str(export_onnx(tiny_model_dir, tmp_path / "c", "int8", "per-channel") / ONNX_FILE)
    )
    scales = [t for t in per_channel.graph.initializer if t.name.endswith("_scale") and t.dims]
    assert scales and all(int(np.prod(t.dims)) > 1 for t in scales)  # a scale per column
    with pytest.raises(ExportError, match="int8 choice 'some' is unknown; choose one of: all"):
        export_onnx(tiny_model_dir, tmp_path / "x", "int8", "some")


def untrained_dir(tmp_path: Path, **overrides) -> Path:
    cfg = fast_config(**overrides)
    model = resolve_section(cfg, "model")
    model.initialize(lambda: [])
    save_model(model, tmp_path / "model", cfg)
    return tmp_path / "model"


@pytest.mark.parametrize(
    "decoder",
    [
        {"@decoders": "nerkit.CRFNestedDecoder.v1", "labels": list(CMEEE_LABELS)},
        {
            "@decoders": "nerkit.GlobalPointer.v1",
            "head_size": 16,
            "scheme": {"@label_schemes": "nerkit.Spans.v1", "labels": list(CMEEE_LABELS)},
        },
    ],
    ids=["crf", "global_pointer"],
)
def test_other_decoders_export_with_the_same_entities(tmp_path: Path, decoder: dict):
    src = untrained_dir(tmp_path, **{"model.decoder": decoder})
    export_onnx(src, tmp_path / "onnx")
    texts = sample_texts()[:40] + sample_texts()[-3:]
    want = entities(nerkit.load(src, device="cpu"), texts)
    got = entities(nerkit.load(tmp_path / "onnx"), texts)
    want_set = {(i, e) for i, found in enumerate(want) for e in found}
    got_set = {(i, e) for i, found in enumerate(got) for e in found}
    assert len(want_set) > 0
    # An untrained head's scores crowd its threshold, where float32 rounding (ONNX Runtime's
    # kernels against PyTorch's) can flip a span: at most one in a thousand may differ.
    assert len(want_set ^ got_set) <= max(1, len(want_set) // 1000), want_set ^ got_set


def test_flat_is_refused_naming_the_component(tmp_path: Path):
    fusion = {"@fusions": "nerkit.FLAT.v1", "num_layers": 1, "num_heads": 2, "hidden_size": 16}
    src = untrained_dir(tmp_path, **{"model.fusion": fusion})
    result = runner.invoke(
        app, ["export", str(src), "--format", "onnx", "--output", str(tmp_path / "x")]
    )
    assert result.exit_code == 1
    assert "model.fusion (nerkit.FLAT.v1, FLATFusion) cannot be exported" in result.output
    assert "_RelativeAttention" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()
    with pytest.raises(ExportError):
        export_onnx(src, tmp_path / "y")


def test_export_refuses_a_non_empty_output_and_unknown_options(
    tiny_model_dir: Path, exported: Path, tmp_path: Path
):
    result = runner.invoke(app, ["export", str(tiny_model_dir), "--output", str(exported)])
    assert (
        result.exit_code == 1
        and "already holds" in result.output
        and "--overwrite" in result.output
    )
    result = runner.invoke(
        app, ["export", str(tiny_model_dir), "--output", str(tmp_path / "a"), "--quantize", "int4"]
    )
    assert result.exit_code == 1 and "int8" in result.output
    result = runner.invoke(
        app, ["export", str(tiny_model_dir), "--output", str(tmp_path / "b"), "--format", "tflite"]
    )
    assert result.exit_code == 1 and "onnx" in result.output
    with pytest.raises(nerkit.errors.ModelLoadError, match="not an ONNX model directory"):
        nerkit.load(tiny_model_dir, backend="onnx")


def test_serve_app_runs_the_onnx_model(exported: Path):
    pytest.importorskip("fastapi", reason="nerkit serve needs FastAPI (pip install -e '.[serve]')")
    from fastapi.testclient import TestClient

    from nerkit.serve.app import create_app

    nlp = nerkit.load(exported)
    texts = sample_texts()[:6] + sample_texts()[-3:]
    with TestClient(create_app(nlp, max_batch_size=4, max_wait_ms=1)) as client:
        assert client.get("/v1/model").json()["backend"] == "onnx"
        got = client.post("/v1/ner", json={"texts": texts}).json()["results"]
    want = [[[s.start, s.end, s.type] for s in spans] for spans in nlp.pipe(texts)]
    assert [[[s["start"], s["end"], s["type"]] for s in r["spans"]] for r in got] == want


def test_onnx_providers_follow_the_device():
    from nerkit.export.runtime import providers

    assert providers("cpu", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert providers("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    both = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert providers("cuda:1", both)[0] == ("CUDAExecutionProvider", {"device_id": 1})
    assert providers("auto", both)[0] == ("CUDAExecutionProvider", {"device_id": 0})
    with pytest.raises(nerkit.errors.ModelLoadError, match="onnxruntime-gpu"):
        providers("cuda", ["CPUExecutionProvider"])
