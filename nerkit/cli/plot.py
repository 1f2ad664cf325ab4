"""``nerkit plot``."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from .common import check_output, friendly


@friendly
def plot(
    runs: List[Path] = typer.Argument(..., help="One or more training output directories."),
    output: Path = typer.Option(Path("training.png"), "--output", "-o", help="PNG to write."),
) -> None:
    """Plot loss and dev P/R/F1 over steps from each run's log.jsonl."""
    from ..plot import plot_runs

    check_output(output, "--output", example="training.png")

    plot_runs(runs, output)
    typer.secho(f"✔ Wrote {output}", fg=typer.colors.GREEN)
