"""``nerkit serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import friendly


@friendly
@friendly
def serve(
    model: Path = typer.Argument(
        ..., help="Model directory (PyTorch, or ONNX from `nerkit export`)."
    ),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8080, help="Port to listen on."),
    max_batch_size: int = typer.Option(
        64, help="Texts per dynamic batch (concurrent requests run together)."
    ),
    max_wait_ms: float = typer.Option(
        5.0, help="Longest wait for more requests before a batch runs."
    ),
    max_texts: int = typer.Option(256, help="Texts per request (413 beyond)."),
    max_chars: int = typer.Option(
        200_000, help="Characters per request over all its texts (413 beyond)."
    ),
    max_body_bytes: int = typer.Option(2_000_000, help="Bytes per request body (413 beyond)."),
    batch_size: int = typer.Option(64, help="Windows per model call inside a batch."),
    max_tokens: Optional[int] = typer.Option(
        None, help="At most this many padded positions per model call (cuts a batch by length)."
    ),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:1 or auto."),
    log_level: str = typer.Option("info", help="uvicorn log level (warning: no access log)."),
) -> None:
    """Serve MODEL over HTTP: POST /v1/ner, GET /health, GET /v1/model, docs at /docs."""
    from ..serve.cli import run_server

    run_server(
        model, host, port, max_batch_size, max_wait_ms, max_texts, max_chars, max_body_bytes, batch_size,
        device, log_level, max_tokens,
    )  # fmt: skip
