"""``nerkit predict``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import NerkitError
from ..util import check_output_file
from .common import ENCODING_OPTION, friendly, is_cmeee, report_losses, warn_unknown_chars


@friendly
def predict(
    model: Path = typer.Argument(..., help="Model directory."),
    input: Path = typer.Argument(
        ...,
        help="Input file (the model's reader, or --from; JSON Lines .jsonl, - for stdin); entities are ignored.",
    ),
    output: Path = typer.Option(
        ...,
        "--output",
        "-o",
        help="Prediction file (format from --to or the extension; .jsonl after a JSON Lines input, or -: streamed).",
    ),
    from_: Optional[str] = typer.Option(
        None, "--from", help="Format of INPUT; default: the model's reader."
    ),
    to: Optional[str] = typer.Option(
        None, "--to", help="Format of OUTPUT; default: from its extension (.json: CMeEE)."
    ),
    batch_size: int = typer.Option(64, min=1, help="Windows per batch."),
    max_tokens: Optional[int] = typer.Option(
        None, help="At most this many padded positions per batch (fewer long windows per batch)."
    ),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:1 or auto."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue an interrupted JSON Lines output."
    ),
    chunk_size: int = typer.Option(
        1024, help="JSON Lines: records read, predicted and written at a time."
    ),
    progress: Optional[bool] = typer.Option(
        None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an OUTPUT that exists (never the input)."
    ),
    encoding: str = ENCODING_OPTION,
) -> None:
    """Predict entities for every record of INPUT, in order, keeping each record's id.

    JSON Lines in and out (.jsonl, or - for stdin/stdout) is streamed: constant memory,
    results written as they are ready, other fields of each record kept, --resume continues
    an interrupted output; under torchrun the records are shared out across the ranks.
    """
    from .stream import check_options, is_streaming, stream_predict

    streaming = from_ is None and to is None and is_streaming(input, output)
    check_options(resume, streaming)
    check_output_file(output, overwrite or resume, inputs=[input])
    if streaming:
        return stream_predict(
            model, input, output, batch_size, max_tokens, device, resume, chunk_size, progress
        )
    from ..data import formats
    from ..data.submission import check_submission, submission_name_warning
    from ..loading import load
    from ..types import Example

    nlp = load(model, device=device)
    examples = nlp.read(input, annotated=False, fmt=from_)
    warn_unknown_chars(nlp, examples, input)
    preds = nlp.predict_examples(
        examples, batch_size=batch_size, show_progress=len(examples) > 200, max_tokens=max_tokens
    )
    fmt = to or formats.output_format(output)
    out = [
        Example(ex.text, p, ex.index, ex.source, ex.id)
        for ex, p in zip(examples, preds, strict=True)
    ]
    report = formats.write(output, out, fmt)
    if fmt == "cmeee" and is_cmeee(input):  # a CMeEE input: check the leaderboard rules too
        problems = check_submission(output, input, labels=nlp.labels)
        if problems:
            raise NerkitError(
                "The written file breaks the format rules: " + "; ".join(problems[:5])
            )
        warning = submission_name_warning(output, input)
        if warning:
            typer.secho(f"⚠ {warning}", fg=typer.colors.YELLOW, err=True)
    report_losses(report)
    typer.secho(f"✔ {report.summary()}", fg=typer.colors.GREEN)
