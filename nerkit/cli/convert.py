"""``nerkit convert``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import ENCODING_OPTION, check_output, friendly, parse_options, report_losses


@friendly
def convert(
    input: Path = typer.Argument(..., help="A corpus file (a folder for brat)."),
    output: Path = typer.Argument(..., help="The file (or brat folder) to write."),
    from_: Optional[str] = typer.Option(
        None,
        "--from",
        help="Input format: a short name (cmeee, conll, brat, doccano, labelstudio, ccks) or any registered reader; default: detected from extension and content.",
    ),
    to: Optional[str] = typer.Option(
        None,
        "--to",
        help="Output format: a short name or any registered writer; default: from the extension (.json cmeee, .jsonl doccano, .conll/.bio/.bmes/.bioes conll, no extension: brat folder).",
    ),
    reader_option: List[str] = typer.Option(
        [],
        "--reader-option",
        "-r",
        help="Reader option KEY=VALUE, e.g. -r scheme=BMES, -r discontinuous=cover.",
    ),
    writer_option: List[str] = typer.Option(
        [], "--writer-option", "-w", help="Writer option KEY=VALUE, e.g. -w scheme=BIOES."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an OUTPUT that exists (never the input)."
    ),
    encoding: str = ENCODING_OPTION,
) -> None:
    """Convert a corpus between formats: cmeee, conll, brat, doccano, labelstudio, ccks,
    or any reader and writer a plugin registers.

    Says how many entities the target could not hold (e.g. nested entities into one
    CoNLL tag layer) and by which rule; nothing is dropped silently.
    """
    from ..data import formats
    from ..util import check_output_file

    check_output_file(output, overwrite, inputs=[input], what="OUTPUT")
    src = formats.format_name("readers", from_) if from_ else formats.detect(input)
    dst = formats.format_name("writers", to) if to else formats.output_format(output)
    check_output(output, "OUTPUT", folder=dst == "brat", example="corpus" + input.suffix)
    corpus = formats.read(input, src, **parse_options(reader_option, "--reader-option"))
    report = formats.write(output, corpus, dst, **parse_options(writer_option, "--writer-option"))
    for w in corpus.warnings[:5]:
        typer.secho(f"⚠ {w}", fg=typer.colors.YELLOW, err=True)
    if len(corpus.warnings) > 5:
        typer.secho(
            f"⚠ ... {len(corpus.warnings) - 5} more reader warnings",
            fg=typer.colors.YELLOW,
            err=True,
        )
    report_losses(report)
    typer.secho(f"✔ {src} -> {dst}: {report.summary()}", fg=typer.colors.GREEN)
