"""``nerkit score``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import (
    ENCODING_OPTION,
    METRICS_OPTION,
    check_metrics_output,
    format_option,
    friendly,
    parse_options,
    reader_options,
    write_metrics,
)
from .evaluate import check_not_empty

FROM_HELP = (
    "Format of both files (a short name or any registered reader); default: detected for each."
)


@friendly
def score_cmd(
    gold: Path = typer.Argument(
        ..., help="Gold corpus, any format nerkit reads (cmeee, conll, brat, doccano, ...)."
    ),
    pred: Path = typer.Argument(
        ..., help="Predictions: the same records in the same order (nerkit predict writes them)."
    ),
    from_: Optional[str] = format_option("--from", FROM_HELP),
    reader_option: List[str] = reader_options(
        "Reader option KEY=VALUE for both, e.g. -r scheme=BMES."
    ),
    output: Optional[Path] = METRICS_OPTION,
    encoding: str = ENCODING_OPTION,
) -> None:
    """Score a prediction file against a gold file (strict micro P/R/F1), in any corpus format."""
    from ..data import formats
    from ..errors import DataError
    from ..scoring import format_scores, score

    check_metrics_output(output, [gold, pred])
    options = parse_options(reader_option, "--reader-option")
    gold_format = from_ or formats.detect(gold)
    try:  # predictions: their own format, else the gold's (an empty "[]" tells nothing)
        pred_format = from_ or formats.detect(pred)
    except DataError:
        pred_format = gold_format
    g = formats.read(gold, gold_format, **options)
    check_not_empty(g, gold)
    p = formats.read(pred, pred_format, **options)
    if len(g) != len(p):
        raise DataError(
            f"{pred} has {len(p)} records but {gold} has {len(g)}: they must match one to one."
        )
    for i, (a, b) in enumerate(zip(g, p, strict=True)):
        if a.text != b.text:
            raise DataError(f"{pred}, record {i}, text: differs from record {i} of {gold}.")
    scores = score([ex.entities for ex in g], [ex.entities for ex in p])
    typer.echo(format_scores(scores))
    if output:
        write_metrics(output, scores)
