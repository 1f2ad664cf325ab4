"""``nerkit predict``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import ConfigError, NerkitError
from ..util import check_output_file
from .common import (
    BATCH_SIZE_OPTION,
    DEVICE_OPTION,
    ENCODING_OPTION,
    MAX_TOKENS_OPTION,
    REPLACE_OUTPUT_OPTION,
    format_option,
    friendly,
    is_cmeee,
    report_losses,
    warn_unknown_chars,
)

INPUT_HELP = "Input file (the model's reader, or --from; JSON Lines .jsonl; plain text .txt, one text a line; - for stdin, JSON Lines or plain text); entities are ignored."
FROM_HELP = "Format of INPUT (text: plain text, one text a line); default: the model's reader."
TO_HELP = "Format of OUTPUT (a short name or any registered writer); default: from its extension (.json: CMeEE)."


@friendly
def predict(
    model: Path = typer.Argument(..., help="Model directory."),
    input: Path = typer.Argument(..., help=INPUT_HELP),
    output: Path = typer.Option(
        ...,
        "--output",
        "-o",
        help="Prediction file (format from --to or the extension; .jsonl after a JSON Lines input, or -: streamed).",
    ),
    from_: Optional[str] = format_option("--from", FROM_HELP),
    to: Optional[str] = format_option("--to", TO_HELP),
    batch_size: int = BATCH_SIZE_OPTION,
    max_tokens: Optional[int] = MAX_TOKENS_OPTION,
    device: str = DEVICE_OPTION,
    resume: bool = typer.Option(
        False, "--resume", help="Continue an interrupted JSON Lines output."
    ),
    chunk_size: int = typer.Option(
        1024, min=1, help="JSON Lines: records read, predicted and written at a time."
    ),
    progress: Optional[bool] = typer.Option(
        None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."
    ),
    overwrite: bool = REPLACE_OUTPUT_OPTION,
    encoding: str = ENCODING_OPTION,
) -> None:
    """Predict entities for every record of INPUT, in order, keeping each record's id.

    JSON Lines in and out (.jsonl, or - for stdin/stdout) is streamed: constant memory,
    results written as they are ready, other fields of each record kept, --resume continues
    an interrupted output; under torchrun the records are shared out across the ranks.
    Plain text (a .txt file, --from text, or stdin whose first line is not a JSON object) is
    streamed too: every line a record {"id": line number, "text": line}, empty lines kept.
    """
    from ..data import formats
    from ..data.plaintext import is_plain_text
    from .stream import check_options, is_streaming, stream_predict

    plain = str(input) != "-" and is_plain_text(input, from_)
    if plain or (str(input) == "-" and from_ == "text"):
        check_plain_output(input, output, to)
        plain = True
    streaming = plain or (from_ is None and to is None and is_streaming(input, output))
    check_options(resume, streaming)
    fmt = None  # an unknown format is said before the model loads
    if not streaming:
        fmt = formats.format_name("writers", to) if to else formats.output_format(output)
    if from_ is not None and from_ != "text":
        formats.format_name("readers", from_)
    folder, example = fmt == "brat", "predictions.json"
    check_output_file(output, overwrite or resume, [input], "--output", folder, example)
    if streaming:
        return stream_predict(
            model, input, output, batch_size, max_tokens, device, resume, chunk_size, progress,
            plain=plain or (None if str(input) == "-" else False),
        )  # fmt: skip
    from ..data.submission import check_submission, submission_name_warning
    from ..loading import load
    from ..types import Example

    nlp = load(model, device=device)
    examples = nlp.read(input, annotated=False, fmt=from_)
    warn_unknown_chars(nlp, examples, input)
    preds = nlp.predict_examples(
        examples, batch_size=batch_size, show_progress=len(examples) > 200, max_tokens=max_tokens
    )
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


def check_plain_output(input: Path, output: Path, to: Optional[str]) -> None:
    """Plain text in is JSON Lines out: one record per line, its line number as id."""
    from ..data.formats.base import JSONL_SUFFIXES

    if to is None and (str(output) == "-" or Path(output).suffix.lower() in JSONL_SUFFIXES):
        return
    raise ConfigError(
        f"{input} is read as plain text (one text a line), and its predictions are written as "
        'JSON Lines, one record {"id": line number, "text": ..., "entities": [...]} per line: '
        f"use --output NAME.jsonl (or - for stdout){' and drop --to' if to else ''} instead of "
        f"{output}. To read a .txt file as one brat document, pass --from brat."
    )
