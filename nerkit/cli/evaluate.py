"""``nerkit evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import DataError
from .common import (
    BATCH_SIZE_OPTION,
    DEVICE_OPTION,
    ENCODING_OPTION,
    MAX_TOKENS_OPTION,
    METRICS_OPTION,
    check_metrics_output,
    format_option,
    friendly,
    warn_unknown_chars,
    write_metrics,
)

FROM_HELP = (
    "Format of DATA (cmeee, conll, brat, doccano, labelstudio, ccks); default: the model's reader."
)


@friendly
def evaluate(
    model: Path = typer.Argument(..., help="Model directory (e.g. runs/q/model-best)."),
    data: Path = typer.Argument(..., help="Annotated file (the model's reader, or --from)."),
    output: Optional[Path] = METRICS_OPTION,
    from_: Optional[str] = format_option("--from", FROM_HELP),
    batch_size: int = BATCH_SIZE_OPTION,
    max_tokens: Optional[int] = MAX_TOKENS_OPTION,
    device: str = DEVICE_OPTION,
    encoding: str = ENCODING_OPTION,
) -> None:
    """Strict micro P/R/F1 and a per-type table of a model on a file (any format)."""
    from ..data import formats
    from ..data.labels import unknown_labels
    from ..data.plaintext import is_plain_text
    from ..loading import load
    from ..scoring import format_scores, score

    check_metrics_output(output, [data])
    if is_plain_text(data, from_):
        raise DataError(
            f"{data} is read as plain text (one text a line), which holds no gold entities to score "
            "against. Pass an annotated file (CMeEE, CoNLL, brat, ...; --from names its format), "
            "or --from brat for a brat .txt with its .ann."
        )
    if from_ is not None:
        formats.format_name("readers", from_)  # an unknown format is said before the model loads
    nlp = load(model, device=device)
    examples = nlp.read(data, fmt=from_)
    check_not_empty(examples, data)
    warn_unknown_chars(nlp, examples, data)
    unknown = unknown_labels(examples, nlp.labels)
    if unknown:
        listing = ", ".join(f"{lab} {n}" for lab, n in unknown.most_common())
        typer.secho(
            f"⚠ {data} has {sum(unknown.values())} entities with labels the model was not trained on "
            f"({listing}); they count as missed entities.",
            fg=typer.colors.YELLOW,
            err=True,
        )
    preds = nlp.predict_examples(examples, batch_size=batch_size, max_tokens=max_tokens)
    scores = score([ex.entities for ex in examples], preds, labels=nlp.labels)
    typer.echo(format_scores(scores))
    if output:
        write_metrics(output, scores)


def check_not_empty(examples: list, path: Path) -> None:
    """Scores of no records are zeros that mean nothing: say so instead."""
    if not examples:
        raise DataError(
            f"{path} holds no records, so there is nothing to score. Pass a file with annotated "
            "records (check that it is the file you meant, and that it was written completely)."
        )
