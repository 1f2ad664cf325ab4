"""``nerkit export``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..util import check_output_path
from .common import friendly


@friendly
def export(
    model: Path = typer.Argument(..., help="Model directory written by `nerkit train`."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="New directory for the exported model."
    ),
    format: str = typer.Option("onnx", "--format", help="Export format (onnx)."),
    quantize: Optional[str] = typer.Option(
        None, "--quantize", help="int8: dynamic int8 quantization."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the exported model already in --output."
    ),
) -> None:
    """Export the network (encoder, fusion, decoder scores) to ONNX; nerkit.load(DIR) runs it."""
    from ..errors import ConfigError

    if format != "onnx":
        raise ConfigError(f"--format: only onnx is supported, got {format!r}.")
    check_output_path(output, "--output", folder=True)
    from ..ensemble import MEMBERS, is_ensemble_dir

    if is_ensemble_dir(model):  # its members vote in Python: there is no one graph to trace
        raise ConfigError(
            f"{model} is an ensemble (written by nerkit ensemble): its members' spans are "
            "combined in Python, so it has no single network to export. Export each member "
            f"instead (nerkit export {model / MEMBERS / '00'} --output DIR, and so on), "
            "or export one of the models the ensemble was built from."
        )
    from ..export.onnx import export_onnx

    export_onnx(model, output, quantize, overwrite=overwrite)
    kind = " (int8 dynamic quantization)" if quantize else ""
    typer.secho(f"✔ Exported {model} to {output}/model.onnx{kind}", fg=typer.colors.GREEN)
