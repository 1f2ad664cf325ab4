"""``nerkit plot``."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from ..util import check_output_path
from .common import friendly


@friendly
def plot(
    runs: List[Path] = typer.Argument(
        ..., help="One or more training output directories, or one sweep folder."
    ),
    output: Path = typer.Option(Path("training.png"), "--output", "-o", help="PNG to write."),
) -> None:
    """Plot loss and dev P/R/F1 over steps from each run's log.jsonl; for a sweep folder
    (nerkit sweep's --output), the metric against each swept setting."""
    from ..plot import is_sweep_dir, plot_runs, plot_sweep

    check_output_path(output, "--output", example="training.png")

    if len(runs) == 1 and is_sweep_dir(runs[0]):
        plot_sweep(runs[0], output)
    else:
        plot_runs(runs, output)
    typer.secho(f"✔ Wrote {output}", fg=typer.colors.GREEN)
