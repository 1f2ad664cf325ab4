"""``nerkit vectors``."""

from __future__ import annotations

from pathlib import Path

import typer

from ..util import check_output_path
from .common import friendly, load_config_args


@friendly
def vectors(
    ctx: typer.Context,
    config: Path = typer.Argument(
        ..., help="Pretraining config (.cfg) with [pretraining] and [vectors]."
    ),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Vectors file to write (word2vec text format; .bin: binary)."
    ),
) -> None:
    """Train word2vec (skip-gram, negative sampling) over the words the config's segmenter
    finds in its pretraining text. Extra options override config values: --vectors.dim 200.

    The file is what a lexicon's nerkit.Word2Vec.v1 block reads (--paths.vectors FILE);
    `nerkit debug vectors` reports its coverage of a training config's lattice.
    """
    from ..training.vectors import train_vectors

    check_output_path(output, "--output", example="vectors.txt")
    result = train_vectors(load_config_args(config, ctx.args), output)
    typer.secho(
        f"✔ {result.words:,} word vectors of dimension {result.dim} from {result.tokens:,} tokens "
        f"in {result.documents:,} documents, written to {result.path}.",
        fg=typer.colors.GREEN,
    )
