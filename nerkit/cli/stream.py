"""``nerkit predict`` on JSON Lines: streaming, resumable, sharded under torchrun."""

from __future__ import annotations

import os
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Optional

import typer

from ..data.formats.base import JSONL_SUFFIXES
from ..errors import NerkitError


def is_streaming(input: Path, output: Path) -> bool:
    """JSON Lines (or stdin) in and JSON Lines (a .jsonl or - output) out, or a torchrun job.
    A .jsonl input with a .json output keeps the one-list path (written at the end, checked
    against the input); so does an input of another format (CoNLL, brat, ...) with a .jsonl
    output, which the doccano writer writes."""
    if (
        str(input) == "-"
        and str(output) != "-"
        and Path(output).suffix.lower() not in JSONL_SUFFIXES
    ):
        raise NerkitError(
            f"Input '-' (stdin) is streamed (JSON Lines or plain text), so the output is JSON Lines: "
            f"use --output - (stdout) or a .jsonl file instead of {output}."
        )
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 or "-" in (str(input), str(output)):
        return True
    jsonl_in = Path(input).suffix.lower() in JSONL_SUFFIXES
    return jsonl_in and Path(output).suffix.lower() in JSONL_SUFFIXES


def stream_predict(
    model: Path,
    input: Path,
    output: Path,
    batch_size: int,
    max_tokens: Optional[int],
    device: str,
    resume: bool,
    chunk_size: int,
    progress: Optional[bool],
    plain: Optional[bool] = False,
) -> None:
    from ..data.stats import format_unknown_warning
    from ..loading import load
    from ..streaming import Shard, merge_parts, predict_stream

    shard = Shard.from_env()
    if shard.world > 1:
        import torch
        import torch.distributed as dist

        if device == "auto" and torch.cuda.is_available():
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        if not dist.is_initialized():
            backend = "nccl" if device.startswith("cuda") else "gloo"
            dist.init_process_group(backend, timeout=timedelta(hours=12))
    nlp = load(model, device=device)
    seen: Counter = Counter()  # characters of this rank's texts, for the [UNK] warning

    def predict(texts):
        for text in texts:
            seen.update(text)
        return nlp.pipe(texts, batch_size=batch_size, max_tokens=max_tokens)

    result = predict_stream(
        predict, str(input), str(output), resume, chunk_size, progress, shard, plain
    )
    source = "stdin" if str(input) == "-" else str(input)
    if shard.world > 1:
        source += f" (rank {shard.rank}'s share)"
    warning = format_unknown_warning(nlp.char_coverage(counts=seen), source)
    if warning:
        typer.secho(f"⚠ {warning}", fg=typer.colors.YELLOW, err=True)
    if shard.world > 1:
        import torch.distributed as dist

        dist.barrier()  # every part is complete
        if shard.rank == 0:
            n = merge_parts(output, shard.world)
            typer.secho(
                f"✔ {n} records from {shard.world} ranks -> {output}",
                fg=typer.colors.GREEN,
                err=True,
            )
        dist.barrier()
        dist.destroy_process_group()
        return
    if str(output) == "-":
        return
    kept = f" ({result.resumed} kept from the interrupted run)" if result.resumed else ""
    typer.secho(
        f"✔ {result.records} records, {result.entities} entities -> {output}{kept}",
        fg=typer.colors.GREEN,
        err=True,
    )


def check_options(resume: bool, streaming: bool) -> None:
    if resume and not streaming:
        raise NerkitError(
            "--resume works on JSON Lines output (a .jsonl --output): a JSON list is written in one "
            "piece at the end, so there is nothing to resume."
        )
