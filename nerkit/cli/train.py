"""``nerkit train``."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import NerkitError
from .common import (
    ENCODING_OPTION,
    friendly,
    load_config_args,
    output_option,
    overwrite_option,
    resume_option,
)


@friendly
def train(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="Config file (.cfg)."),
    output: Optional[Path] = output_option(
        "Directory for model-best/, model-last/ and log.jsonl. Without it nothing is saved."
    ),
    resume: Optional[Path] = resume_option(),
    overwrite: bool = overwrite_option(
        "Replace the run already in --output whole (model-best/, model-last/, log.jsonl)."
    ),
    encoding: str = ENCODING_OPTION,
) -> None:
    """Train a model. Extra options override config values: --training.max_epochs 3.

    Without --output the run trains and evaluates but saves nothing (a dry run),
    and says so before it starts. An --output that holds a run already stops before
    training: continue it with --resume, or replace it with --overwrite.
    """
    from ..training.loop import Trainer

    if resume is not None and overwrite:
        raise NerkitError(
            "--resume continues the run in its folder and --overwrite replaces it: pass one of them."
        )
    cfg = load_config_args(config, ctx.args, ctx.command)
    if resume is not None and output is None:
        output = resume
    try:
        trainer = Trainer(cfg, output, resume, overwrite=overwrite)
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
    except KeyboardInterrupt:
        typer.secho(
            f"\n✘ {interrupted_message(config, output, ctx.args)}", fg=typer.colors.RED, err=True
        )
        raise typer.Exit(130) from None
    where = (
        f" Saved to {output}/model-best and {output}/model-last."
        if output
        else " Nothing saved (no --output)."
    )
    typer.secho(
        f"✔ Best dev F1 {result.best_score * 100:.2f}% at step {result.best_step}.{where}",
        fg=typer.colors.GREEN,
    )


def interrupted_message(config: Path, output: Optional[Path], overrides: List[str]) -> str:
    """What Ctrl-C during training leaves, and the exact command that continues it."""
    from ..training.loop import STATE_DIR

    if output is None:
        return "Interrupted. Nothing was saved (no --output)."
    last = Path(output) / "model-last"
    if not (last / STATE_DIR).is_dir():
        return (
            f"Interrupted before the first checkpoint: nothing to continue in {output}. Run the "
            "same command again (add --overwrite if it stops at the folder) to start over."
        )
    step = json.loads((last / "meta.json").read_text(encoding="utf8")).get("step", "?")
    command = shlex.join(["nerkit", "train", str(config), "--resume", str(output), *overrides])
    return (
        f"Interrupted. The last checkpoint (step {step}) is in {last}; continue the run with:\n"
        f"  {command}"
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
