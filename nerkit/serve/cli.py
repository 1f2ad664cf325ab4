"""Start the service: load the model, build the app, run uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Optional

from ..errors import ConfigError, NerkitError


def run_server(
    model: Path,
    host: str,
    port: int,
    max_batch_size: int,
    max_wait_ms: float,
    max_texts: int,
    max_chars: int,
    max_body_bytes: int,
    batch_size: int,
    device: str,
    log_level: str,
    max_tokens: Optional[int] = None,
) -> None:
    try:
        import uvicorn

        from .app import create_app, fast_front
        from .schemas import Limits
    except ImportError as err:
        raise NerkitError(
            f"`nerkit serve` needs FastAPI and uvicorn ({err}). Install them: pip install 'nerkit[serve]'."
        ) from None
    for name, value in (
        ("--max-batch-size", max_batch_size),
        ("--max-texts", max_texts),
        ("--max-chars", max_chars),
        ("--max-body-bytes", max_body_bytes),
        ("--batch-size", batch_size),
    ):
        if value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}.")
    if max_wait_ms < 0:
        raise ConfigError(f"--max-wait-ms must be >= 0, got {max_wait_ms}.")
    from ..loading import load

    nlp = load(model, device=device)
    app = create_app(
        nlp,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        limits=Limits(max_texts=max_texts, max_chars=max_chars, max_body_bytes=max_body_bytes),
        window_batch_size=batch_size,
        max_tokens=max_tokens,
    )
    # uvicorn handles SIGINT/SIGTERM: it stops accepting, waits for open requests (whose
    # texts are queued in the batcher) and then runs the app's shutdown, which drains the queue.
    # Then it raises the signal again, to the handler that was there before: a no-op for
    # SIGTERM (kept while the process exits, for a second SIGTERM), so that a server that
    # drained and stopped as asked exits 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    uvicorn.run(
        fast_front(app), host=host, port=port, log_level=log_level, timeout_graceful_shutdown=60
    )
