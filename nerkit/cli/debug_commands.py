"""``nerkit debug config``, ``debug data`` and ``debug vectors``."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import friendly, load_config_args


@friendly
def debug_config(
    ctx: typer.Context, config: Path = typer.Argument(..., help="Config file.")
) -> None:
    """Validate a config without training and print it with every default filled in.

    Also checks that the device exists here and that every file the config reads
    (corpora, encoder, vectors, segmenter models) is in place, listing all missing ones.
    """
    from ..assets import check_assets
    from ..config import check_config, filled_config
    from ..util import resolve_device

    cfg = load_config_args(config, ctx.args)
    resolve_device(check_config(cfg)["system"].device)
    check_assets(cfg)
    typer.echo(filled_config(cfg).to_str())
    typer.secho("✔ Config is valid.", fg=typer.colors.GREEN, err=True)


@friendly
def debug_data(ctx: typer.Context, config: Path = typer.Argument(..., help="Config file.")) -> None:
    """Statistics and validation problems of the config's corpora."""
    from .debug import debug_data as run

    run(load_config_args(config, ctx.args))


@friendly
def debug_vectors(
    ctx: typer.Context, config: Path = typer.Argument(..., help="Config file.")
) -> None:
    """Lexicon coverage: lattice words found and missing in the word vectors."""
    from .debug import debug_vectors as run

    run(load_config_args(config, ctx.args))
