"""``nerkit serve``."""

from __future__ import annotations

import errno
import math
import socket
from pathlib import Path
from typing import Optional

import typer

from ..errors import ConfigError
from .common import DEVICE_OPTION, friendly

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")  # uvicorn's


@friendly
def serve(
    model: Path = typer.Argument(
        ..., help="Model directory (PyTorch, or ONNX from `nerkit export`)."
    ),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8080, min=1, max=65535, help="Port to listen on."),
    max_batch_size: int = typer.Option(
        64, min=1, help="Texts per dynamic batch (concurrent requests run together)."
    ),
    max_wait_ms: float = typer.Option(
        5.0,
        min=0,
        max=10_000,
        help="Longest wait for more requests before a batch runs (a lone request waits it all).",
    ),
    max_texts: int = typer.Option(256, min=1, help="Texts per request (413 beyond)."),
    max_chars: int = typer.Option(
        200_000, min=1, help="Characters per request over all its texts (413 beyond)."
    ),
    max_body_bytes: int = typer.Option(
        2_000_000, min=1, help="Bytes per request body (413 beyond)."
    ),
    batch_size: int = typer.Option(64, min=1, help="Windows per model call inside a batch."),
    max_tokens: Optional[int] = typer.Option(
        None,
        min=1,
        help="At most this many padded positions per model call (cuts a batch by length).",
    ),
    device: str = DEVICE_OPTION,
    log_level: str = typer.Option("info", help="uvicorn log level (warning: no access log)."),
) -> None:
    """Serve MODEL over HTTP: POST /v1/ner, GET /health, GET /v1/model, docs at /docs."""
    if not math.isfinite(max_wait_ms):
        raise ConfigError(
            f"--max-wait-ms must be a finite number of milliseconds, got {max_wait_ms}."
        )
    if log_level.lower() not in LOG_LEVELS:
        raise ConfigError(f"--log-level {log_level!r}: expected one of {', '.join(LOG_LEVELS)}.")
    check_address(host, port)  # before the model loads: a taken port is said at once
    from ..serve.cli import run_server

    run_server(
        model, host, port, max_batch_size, max_wait_ms, max_texts, max_chars, max_body_bytes, batch_size,
        device, log_level.lower(), max_tokens,
    )  # fmt: skip


def check_address(host: str, port: int) -> None:
    """Bind HOST:PORT once (as uvicorn will, with SO_REUSEADDR) and say why it fails."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as err:
        raise ConfigError(
            f"--host {host!r}: not a name or address this machine can listen on ({err}). "
            "Use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)."
        ) from None
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as err:
            fix = {
                errno.EADDRINUSE: "another program listens there: stop it or pick another --port.",
                errno.EACCES: "ports below 1024 need administrator rights: pick --port 1024 or above.",
                errno.EADDRNOTAVAIL: "the address is not one of this machine's: use 127.0.0.1 or 0.0.0.0.",
            }.get(err.errno, "pick another --host or --port.")
            raise ConfigError(
                f"--host {host} --port {port}: cannot listen there ({err.strerror}); {fix}"
            ) from None
