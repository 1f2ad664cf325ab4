"""``nerkit convert``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import (
    ENCODING_OPTION,
    REPLACE_OUTPUT_OPTION,
    format_option,
    friendly,
    parse_options,
    reader_options,
    report_losses,
)

FROM_HELP = "Input format: a short name (cmeee, conll, brat, doccano, labelstudio, ccks) or any registered reader; default: detected from extension and content."
TO_HELP = "Output format: a short name or any registered writer; default: from the extension (.json cmeee, .jsonl doccano, .conll/.bio/.bmes/.bioes conll, no extension: brat folder)."


@friendly
def convert(
    input: Path = typer.Argument(..., help="A corpus file (a folder for brat)."),
    output: Path = typer.Argument(..., help="The file (or brat folder) to write."),
    from_: Optional[str] = format_option("--from", FROM_HELP),
    to: Optional[str] = format_option("--to", TO_HELP),
    reader_option: List[str] = reader_options(
        "Reader option KEY=VALUE, e.g. -r scheme=BMES, -r discontinuous=cover."
    ),
    writer_option: List[str] = typer.Option(
        [], "--writer-option", "-w", help="Writer option KEY=VALUE, e.g. -w scheme=BIOES."
    ),
    overwrite: bool = REPLACE_OUTPUT_OPTION,
    encoding: str = ENCODING_OPTION,
) -> None:
    """Convert a corpus between formats: cmeee, conll, brat, doccano, labelstudio, ccks,
    or any reader and writer a plugin registers.

    Says how many entities the target could not hold (e.g. nested entities into one
    CoNLL tag layer) and by which rule; nothing is dropped silently.
    """
    from ..data import formats
    from ..util import check_output_file

    dst = formats.format_name("writers", to) if to else formats.output_format(output)
    folder, example = dst == "brat", "corpus" + input.suffix
    check_output_file(output, overwrite, [input], "OUTPUT", folder, example)
    src = formats.format_name("readers", from_) if from_ else formats.detect(input)
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
