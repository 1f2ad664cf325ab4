"""``nerkit visualize``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import DataError
from .common import ENCODING_OPTION, friendly


@friendly
def visualize(
    source: Path = typer.Argument(..., help="A model directory, or a CMeEE prediction file."),
    input: Path = typer.Argument(
        ..., help="CMeEE file with the texts (and gold entities, if --gold)."
    ),
    output: Path = typer.Option(
        Path("entities.html"), "--output", "-o", help="HTML page to write."
    ),
    gold: Optional[Path] = typer.Option(
        None, "--gold", help="Gold file: mark correct, missed and spurious entities."
    ),
    limit: int = typer.Option(0, min=0, help="Show only the first N records (0: all)."),
    encoding: str = ENCODING_OPTION,
) -> None:
    """Write a self-contained HTML page with nested entities drawn over the text."""
    from ..util import check_output_file

    inputs = [source, input, *([gold] if gold else [])]
    check_output_file(output, overwrite=True, inputs=inputs, example="entities.html")
    write_page(source, input, output, gold, limit)
    typer.secho(f"✔ Wrote {output}", fg=typer.colors.GREEN)


def write_page(source: Path, input: Path, output: Path, gold: Optional[Path], limit: int) -> None:
    """The page of a model's predictions (or a prediction file's) on INPUT."""
    from ..data.formats import read as read_any  # any format, detected from the file
    from ..visualize import write_html

    if (source / "config.cfg").exists():
        from ..loading import load

        nlp = load(source)
        examples = nlp.read(input)
        if limit:
            examples = examples[:limit]
        preds = nlp.predict_examples(examples)
    else:
        examples = read_any(input)
        pred_examples = read_any(source)
        if len(pred_examples) != len(examples):
            raise DataError(
                f"{source} has {len(pred_examples)} records but {input} has {len(examples)}."
            )
        if limit:
            examples, pred_examples = examples[:limit], pred_examples[:limit]
        for i, (a, b) in enumerate(zip(examples, pred_examples, strict=True)):
            if a.text != b.text:  # e.g. a brat folder read in another order
                raise DataError(
                    f"{source}, record {i}: its text differs from record {i} of {input}; the "
                    "predictions must be the input's records in the same order."
                )
        preds = [ex.entities for ex in pred_examples]
    gold_entities = None
    if gold is not None:
        gold_examples = read_any(gold)[: len(examples)]
        gold_entities = [ex.entities for ex in gold_examples]
    write_html(
        output,
        [ex.text for ex in examples],
        preds,
        gold=gold_entities,
        title=f"nerkit: {input.name}",
    )
