"""``nerkit train``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import friendly, load_config_args


@friendly
def train(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="Config file (.cfg)."),
    output: Optional[Path] = typer.Option(
        None,
        "--output",
        "-o",
        help="Directory for model-best/, model-last/ and log.jsonl. Without it nothing is saved.",
    ),
    resume: Optional[Path] = typer.Option(
        None, "--resume", help="Output directory of an interrupted run to continue."
    ),
) -> None:
    """Train a model. Extra options override config values: --training.max_epochs 3.

    Without --output the run trains and evaluates but saves nothing (a dry run),
    and says so before it starts.
    """
    from ..training.loop import Trainer

    cfg = load_config_args(config, ctx.args)
    if resume is not None and output is None:
        output = resume
    trainer = Trainer(cfg, output, resume)
    if trainer.dist.main:
        typer.echo(format_banner(trainer.summary()), err=True)
        if output is None:
            typer.secho(
                "⚠ No --output given: this run saves nothing (no model-best/, model-last/ or log.jsonl). "
                "Pass --output DIR to keep the model.",
                fg=typer.colors.YELLOW,
                err=True,
            )
    result = trainer.run()
    where = (
        f" Saved to {output}/model-best and {output}/model-last."
        if output
        else " Nothing saved (no --output)."
    )
    typer.secho(
        f"✔ Best dev F1 {result.best_score * 100:.2f}% at step {result.best_step}.{where}",
        fg=typer.colors.GREEN,
    )


def format_banner(info: dict) -> str:
    """The lines ``nerkit train`` prints before the first step."""
    labels = ", ".join(info["labels"])
    return "\n".join(
        [
            f"ℹ nerkit {info['version']} on {info['device']} ({info['precision']}), seed {info['seed']}",
            f"ℹ model: {info['parameters']:,} parameters ({info['trainable']:,} trainable)",
            f"ℹ train: {info['train_records']} records, {info['train_windows']} windows from {info['train_path']}",
            f"ℹ dev:   {info['dev_records']} records from {info['dev_path']}",
            f"ℹ labels ({len(info['labels'])}): {labels}",
            f"ℹ {info['total_steps']} optimizer steps of batch {info['batch_size']}"
            + (f", resuming at step {info['step']}" if info["step"] else "")
            + (f"; saving to {info['output']}" if info["output"] else ""),
        ]
    )
