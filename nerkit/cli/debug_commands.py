"""``nerkit debug config``, ``debug data`` and ``debug vectors``."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import friendly, load_config_args

FILES_MISSING = 2  # `debug config`: valid, but files are missing (1: invalid, as every error)


@friendly
def debug_config(
    ctx: typer.Context, config: Path = typer.Argument(..., help="Config file.")
) -> None:
    """Validate a config without training and print it with every default filled in.

    Also checks that the device exists here and that every file the config reads
    (corpora, encoder, vectors, segmenter models) is in place. The filled config is
    printed even when files are missing; they are listed after it, all at once.

    Exit status: 0 the config is valid and every file is in place; 1 the config is
    invalid (nothing is printed but the problems); 2 the config is valid but files
    are missing.
    """
    from ..errors import AssetError
    from ..training.initialize import resolve_run

    run = resolve_run(load_config_args(config, ctx.args), sections=(), check_files=False)
    typer.echo(run.filled_config(interpolate=False).to_str())
    try:
        run.check_files()
    except AssetError as err:
        typer.secho(f"✘ {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(FILES_MISSING) from None
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
