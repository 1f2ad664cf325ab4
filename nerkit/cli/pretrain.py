"""``nerkit pretrain``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..util import check_output_path
from .common import friendly, load_config_args, output_option, overwrite_option, resume_option


@friendly
def pretrain(
    ctx: typer.Context,
    config: Path = typer.Argument(
        ..., help="Pretraining config (.cfg), e.g. configs/pretrain-quickstart.cfg."
    ),
    output: Optional[Path] = output_option(
        "Directory for model-best/, model-last/ (Hugging Face model directories) and log.jsonl."
    ),
    resume: Optional[Path] = resume_option("pretraining run"),
    overwrite: bool = overwrite_option("Replace a finished run in --output (its log included)."),
) -> None:
    """Masked-LM pretraining of the config's transformer encoder on raw text.

    Extra options override config values: --training.max_steps 1000. The output's
    model-last/ is what a training config's encoder fine-tunes from
    (--paths.encoder DIR/model-last with pretrained = true).
    """
    from ..training.pretrain import Pretrainer

    if output is not None:
        check_output_path(output, "--output", folder=True)
    cfg = load_config_args(config, ctx.args)
    if resume is not None and output is None:
        output = resume
    if output is None:
        raise typer.BadParameter(
            "pass --output DIR: pretraining exists to write a model.", param_hint="--output"
        )
    trainer = Pretrainer(cfg, output, resume=resume, overwrite=overwrite)
    if trainer.dist.main:
        typer.echo(format_banner(trainer.summary()), err=True)
    result = trainer.run()
    typer.secho(
        f"✔ Best held-out MLM loss {result.best_loss:.4f} (perplexity "
        f"{_ppl(result.best_loss):.2f}) at step {result.best_step}. Saved to {output}/model-best "
        f"and {output}/model-last.",
        fg=typer.colors.GREEN,
    )


def _ppl(loss: float) -> float:
    import math

    return math.exp(min(loss, 700.0))


def format_banner(info: dict) -> str:
    """The lines ``nerkit pretrain`` prints before the first step."""
    train, dev = info["train"], info["dev"]
    return "\n".join(
        [
            f"ℹ masked-LM pretraining on {info['device']} ({info['precision']}): {info['parameters']:,} parameters",
            f"ℹ encoder: {info['encoder']} ({info['from']})",
            f"ℹ masking: {info['masker']}",
            f"ℹ train: {train['documents']:,} documents, {train['characters']:,} characters, {train['windows']:,} windows",
            f"ℹ dev:   {dev['documents']:,} documents, {dev['windows']:,} windows",
            f"ℹ {info['total_steps']} optimizer steps of batch {info['batch_size']}"
            + (f", resuming at step {info['step']}" if info["step"] else "")
            + f"; saving to {info['output']}",
        ]
    )
