"""``nerkit sweep``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..util import check_output_path
from .common import friendly


@friendly
def sweep(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="Config file with a sweep section (.cfg)."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Sweep folder: trials/NNNN/, the study, summary.md/.jsonl."
    ),
    workers: int = typer.Option(
        1, "--workers", "-w", min=1, help="Trials run at once on this machine."
    ),
    storage: Optional[str] = typer.Option(
        None,
        "--storage",
        help="Optuna storage URL shared by workers on several machines "
        "(default: sqlite:///OUTPUT/sweep.db).",
    ),
) -> None:
    """Run the trials of a config's sweep section, each a training run in OUTPUT/trials/.

    Extra options override config values for every trial: --training.max_epochs 3. Run the
    same command again to continue: finished trials are kept, killed ones resume.
    """
    from ..sweep.engine import run_sweep
    from ..sweep.plan import load_plan, parse_cli_overrides

    check_output_path(output, "--output", folder=True)
    plan = load_plan(config, parse_cli_overrides(ctx.args))
    typer.echo(
        f"ℹ sweep of {plan.trials} trials ({plan.sampler.name} sampler) over "
        + "; ".join(space.describe() for space in plan.spaces),
        err=True,
    )
    result = run_sweep(plan, output, workers, storage, echo=lambda line: typer.echo(line, err=True))
    rows = result["rows"]
    best = (
        f" Best: {rows[0]['mean'] * 100:.2f} mean {plan.metric} over {rows[0]['count']} "
        f"trial(s) at " + ", ".join(f"{k} = {v}" for k, v in rows[0]["params"].items()) + "."
        if rows
        else ""
    )
    typer.secho(
        f"✔ {result['started']} trial(s) run now; summary in {output}/summary.md.{best}",
        fg=typer.colors.GREEN,
    )
