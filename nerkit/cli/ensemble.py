"""``nerkit ensemble``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..util import check_output_path
from .common import friendly


@friendly
def ensemble(
    models: List[Path] = typer.Argument(
        ..., help="Model directories with the same labels, or a sweep folder (with --top-k)."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Ensemble model directory to write."),
    method: str = typer.Option(
        "vote", "--method", help="vote (span-level, any decoders) or average (decoder scores)."
    ),
    min_votes: Optional[int] = typer.Option(
        None,
        "--min-votes",
        min=1,
        help="vote: keep an entity predicted by at least K models (default: a majority).",
    ),
    top_k: int = typer.Option(
        3, "--top-k", min=1, help="For a sweep folder: its K best finished trials' model-best."
    ),
) -> None:
    """Combine trained models into one model directory that load, evaluate, predict, serve
    and visualize take like any model (the members are copied in)."""
    from ..ensemble import write_ensemble

    dirs: List[Path] = []
    for path in models:
        if (path / "sweep.json").exists():
            from ..sweep.summary import top_trials

            dirs.extend(top_trials(path, top_k))
        else:
            dirs.append(path)
    check_output_path(output, "--output", folder=True)
    meta = write_ensemble(dirs, output, method=method, min_votes=min_votes)
    typer.secho(
        f"✔ Wrote {output}: {len(dirs)} models, {meta['method']}"
        + (f" (at least {meta['min_votes']} votes)" if meta["method"] == "vote" else ""),
        fg=typer.colors.GREEN,
    )
