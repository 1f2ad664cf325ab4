"""The ``nerkit`` command line."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer

from ..errors import NerkitError

app = typer.Typer(
    name="nerkit",
    help="nerkit: Chinese medical NER from config files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
debug_app = typer.Typer(
    help="Check a config, its data or its word vectors before training.", no_args_is_help=True
)
app.add_typer(debug_app, name="debug")

OVERRIDES = {"allow_extra_args": True, "ignore_unknown_options": True}


def friendly(func: Callable) -> Callable:
    """Print nerkit's own errors as one paragraph and exit 1, without a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NerkitError as err:
            typer.secho(f"✘ {err}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None

    return wrapper


def _load(config: Path, extra: List[str]):
    from ..config import load_config, parse_overrides

    return load_config(config, parse_overrides(extra), strict_paths=True)


@app.command(context_settings=OVERRIDES)
@friendly
def train(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="Config file (.cfg)."),
    output: Optional[Path] = typer.Option(
        None,
        "--output",
        "-o",
        help="Directory for model-best/, model-last/ and log.jsonl. Without it nothing is saved.",
    ),
    resume: Optional[Path] = typer.Option(
        None, "--resume", help="Output directory of an interrupted run to continue."
    ),
) -> None:
    """Train a model. Extra options override config values: --training.max_epochs 3.

    Without --output the run trains and evaluates but saves nothing (a dry run),
    and says so before it starts.
    """
    from ..training.loop import Trainer

    cfg = _load(config, ctx.args)
    if resume is not None and output is None:
        output = resume
    trainer = Trainer(cfg, output, resume)
    if trainer.dist.main:
        typer.echo(format_banner(trainer.summary()), err=True)
        if output is None:
            typer.secho(
                "⚠ No --output given: this run saves nothing (no model-best/, model-last/ or log.jsonl). "
                "Pass --output DIR to keep the model.",
                fg=typer.colors.YELLOW,
                err=True,
            )
    result = trainer.run()
    where = (
        f" Saved to {output}/model-best and {output}/model-last."
        if output
        else " Nothing saved (no --output)."
    )
    typer.secho(
        f"✔ Best dev F1 {result.best_score * 100:.2f}% at step {result.best_step}.{where}",
        fg=typer.colors.GREEN,
    )


def format_banner(info: dict) -> str:
    """The lines ``nerkit train`` prints before the first step."""
    labels = ", ".join(info["labels"])
    return "\n".join(
        [
            f"ℹ nerkit {info['version']} on {info['device']} ({info['precision']}), seed {info['seed']}",
            f"ℹ model: {info['parameters']:,} parameters ({info['trainable']:,} trainable)",
            f"ℹ train: {info['train_records']} records, {info['train_windows']} windows from {info['train_path']}",
            f"ℹ dev:   {info['dev_records']} records from {info['dev_path']}",
            f"ℹ labels ({len(info['labels'])}): {labels}",
            f"ℹ {info['total_steps']} optimizer steps of batch {info['batch_size']}"
            + (f", resuming at step {info['step']}" if info["step"] else "")
            + (f"; saving to {info['output']}" if info["output"] else ""),
        ]
    )


@app.command()
@friendly
def evaluate(
    model: Path = typer.Argument(..., help="Model directory (e.g. runs/q/model-best)."),
    data: Path = typer.Argument(..., help="Annotated file (the model's reader, or --from)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write metrics JSON here."),
    from_: Optional[str] = typer.Option(
        None,
        "--from",
        help="Format of DATA (cmeee, conll, brat, doccano, labelstudio, ccks); default: the model's reader.",
    ),
    batch_size: int = typer.Option(64, min=1, help="Windows per batch."),
    max_tokens: Optional[int] = typer.Option(
        None, help="At most this many padded positions per batch (fewer long windows per batch)."
    ),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:1 or auto."),
) -> None:
    """Strict micro P/R/F1 and a per-type table of a model on a file (any format)."""
    from ..data.labels import unknown_labels
    from ..loading import load
    from ..scoring import format_scores, score

    nlp = load(model, device=device)
    examples = nlp.read(data, fmt=from_)
    _warn_unknown_chars(nlp, examples, data)
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
        output.write_text(json.dumps(scores, indent=2, ensure_ascii=False), encoding="utf8")


@app.command()
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
) -> None:
    """Predict entities for every record of INPUT, in order, keeping each record's id.

    JSON Lines in and out (.jsonl, or - for stdin/stdout) is streamed: constant memory,
    results written as they are ready, other fields of each record kept, --resume continues
    an interrupted output; under torchrun the records are shared out across the ranks.
    """
    from .stream import check_options, is_streaming, stream_predict

    streaming = from_ is None and to is None and is_streaming(input, output)
    check_options(resume, streaming)
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
    _warn_unknown_chars(nlp, examples, input)
    preds = nlp.predict_examples(
        examples, batch_size=batch_size, show_progress=len(examples) > 200, max_tokens=max_tokens
    )
    fmt = to or formats.output_format(output)
    out = [
        Example(ex.text, p, ex.index, ex.source, ex.id)
        for ex, p in zip(examples, preds, strict=True)
    ]
    report = formats.write(output, out, fmt)
    if fmt == "cmeee" and _is_cmeee(input):  # a CMeEE input: check the leaderboard rules too
        problems = check_submission(output, input, labels=nlp.labels)
        if problems:
            raise NerkitError(
                "The written file breaks the format rules: " + "; ".join(problems[:5])
            )
        warning = submission_name_warning(output, input)
        if warning:
            typer.secho(f"⚠ {warning}", fg=typer.colors.YELLOW, err=True)
    _report_losses(report)
    typer.secho(f"✔ {report.summary()}", fg=typer.colors.GREEN)


def _warn_unknown_chars(nlp: Any, examples: Any, path: Path) -> None:
    from ..data.stats import format_unknown_warning

    coverage = nlp.char_coverage([ex.text for ex in examples])
    warning = format_unknown_warning(coverage, str(path))
    if warning:
        typer.secho(f"⚠ {warning}", fg=typer.colors.YELLOW, err=True)


def _is_cmeee(path: Path) -> bool:
    from ..data import formats
    from ..errors import DataError

    try:
        return path.is_file() and formats.detect(path) == "cmeee"
    except DataError:
        return False


def _report_losses(report) -> None:
    for rule, n in sorted(report.dropped.items()):
        typer.secho(f"⚠ {n} entities dropped: {rule}.", fg=typer.colors.YELLOW, err=True)
    for rule, n in sorted(report.changed.items()):
        typer.secho(f"⚠ {n} entities changed: {rule}.", fg=typer.colors.YELLOW, err=True)


def _options(values: List[str], flag: str) -> dict:
    out = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise NerkitError(f"{flag} {item!r}: expected KEY=VALUE, e.g. {flag} scheme=BIOES.")
        try:
            out[key.replace("-", "_")] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.replace("-", "_")] = raw
    return out


@app.command()
@friendly
@app.command()
@friendly
def serve(
    model: Path = typer.Argument(
        ..., help="Model directory (PyTorch, or ONNX from `nerkit export`)."
    ),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8080, help="Port to listen on."),
    max_batch_size: int = typer.Option(
        64, help="Texts per dynamic batch (concurrent requests run together)."
    ),
    max_wait_ms: float = typer.Option(
        5.0, help="Longest wait for more requests before a batch runs."
    ),
    max_texts: int = typer.Option(256, help="Texts per request (413 beyond)."),
    max_chars: int = typer.Option(
        200_000, help="Characters per request over all its texts (413 beyond)."
    ),
    max_body_bytes: int = typer.Option(2_000_000, help="Bytes per request body (413 beyond)."),
    batch_size: int = typer.Option(64, help="Windows per model call inside a batch."),
    max_tokens: Optional[int] = typer.Option(
        None, help="At most this many padded positions per model call (cuts a batch by length)."
    ),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:1 or auto."),
    log_level: str = typer.Option("info", help="uvicorn log level (warning: no access log)."),
) -> None:
    """Serve MODEL over HTTP: POST /v1/ner, GET /health, GET /v1/model, docs at /docs."""
    from ..serve.cli import run_server

    run_server(
        model, host, port, max_batch_size, max_wait_ms, max_texts, max_chars, max_body_bytes, batch_size,
        device, log_level, max_tokens,
    )  # fmt: skip


@app.command()
@friendly
def convert(
    input: Path = typer.Argument(..., help="A corpus file (a folder for brat)."),
    output: Path = typer.Argument(..., help="The file (or brat folder) to write."),
    from_: Optional[str] = typer.Option(
        None, "--from", help="Input format; default: detected from extension and content."
    ),
    to: Optional[str] = typer.Option(
        None,
        "--to",
        help="Output format; default: from the extension (.json cmeee, .jsonl doccano, .conll/.bio/.bmes/.bioes conll, no extension: brat folder).",
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
) -> None:
    """Convert a corpus between formats: cmeee, conll, brat, doccano, labelstudio, ccks.

    Says how many entities the target could not hold (e.g. nested entities into one
    CoNLL tag layer) and by which rule; nothing is dropped silently.
    """
    from ..data import formats

    src = from_ or formats.detect(input)
    dst = to or formats.output_format(output)
    corpus = formats.read(input, src, **_options(reader_option, "--reader-option"))
    report = formats.write(output, corpus, dst, **_options(writer_option, "--writer-option"))
    for w in corpus.warnings[:5]:
        typer.secho(f"⚠ {w}", fg=typer.colors.YELLOW, err=True)
    if len(corpus.warnings) > 5:
        typer.secho(
            f"⚠ ... {len(corpus.warnings) - 5} more reader warnings",
            fg=typer.colors.YELLOW,
            err=True,
        )
    _report_losses(report)
    typer.secho(f"✔ {src} -> {dst}: {report.summary()}", fg=typer.colors.GREEN)


@app.command()
@friendly
def export(
    model: Path = typer.Argument(..., help="Model directory written by `nerkit train`."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="New directory for the exported model."
    ),
    format: str = typer.Option("onnx", "--format", help="Export format (onnx)."),
    quantize: Optional[str] = typer.Option(
        None, "--quantize", help="int8: dynamic int8 quantization."
    ),
) -> None:
    """Export the network (encoder, fusion, decoder scores) to ONNX; nerkit.load(DIR) runs it."""
    from ..errors import ConfigError

    if format != "onnx":
        raise ConfigError(f"--format: only onnx is supported, got {format!r}.")
    from ..export.onnx import export_onnx

    export_onnx(model, output, quantize)
    kind = " (int8 dynamic quantization)" if quantize else ""
    typer.secho(f"✔ Exported {model} to {output}/model.onnx{kind}", fg=typer.colors.GREEN)


@app.command("score")
@friendly
def score_cmd(
    gold: Path = typer.Argument(
        ..., help="Gold corpus, any format nerkit reads (cmeee, conll, brat, doccano, ...)."
    ),
    pred: Path = typer.Argument(
        ..., help="Predictions: the same records in the same order (nerkit predict writes them)."
    ),
    from_: Optional[str] = typer.Option(
        None, "--from", help="Format of both files; default: detected for each."
    ),
    reader_option: List[str] = typer.Option(
        [], "--reader-option", "-r", help="Reader option KEY=VALUE for both, e.g. -r scheme=BMES."
    ),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write metrics JSON here."),
) -> None:
    """Score a prediction file against a gold file (strict micro P/R/F1), in any corpus format."""
    from ..data import formats
    from ..errors import DataError
    from ..scoring import format_scores, score

    options = _options(reader_option, "--reader-option")
    gold_format = from_ or formats.detect(gold)
    try:  # predictions: their own format, else the gold's (an empty "[]" tells nothing)
        pred_format = from_ or formats.detect(pred)
    except DataError:
        pred_format = gold_format
    g = formats.read(gold, gold_format, **options)
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
        output.write_text(json.dumps(scores, indent=2, ensure_ascii=False), encoding="utf8")


@debug_app.command("config", context_settings=OVERRIDES)
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

    cfg = _load(config, ctx.args)
    resolve_device(check_config(cfg)["system"].device)
    check_assets(cfg)
    typer.echo(filled_config(cfg).to_str())
    typer.secho("✔ Config is valid.", fg=typer.colors.GREEN, err=True)


@debug_app.command("data", context_settings=OVERRIDES)
@friendly
def debug_data(ctx: typer.Context, config: Path = typer.Argument(..., help="Config file.")) -> None:
    """Statistics and validation problems of the config's corpora."""
    from ..cli.debug import debug_data as run

    run(_load(config, ctx.args))


@debug_app.command("vectors", context_settings=OVERRIDES)
@friendly
def debug_vectors(
    ctx: typer.Context, config: Path = typer.Argument(..., help="Config file.")
) -> None:
    """Lexicon coverage: lattice words found and missing in the word vectors."""
    from ..cli.debug import debug_vectors as run

    run(_load(config, ctx.args))


@app.command("registry")
@friendly
def registry_cmd(
    kind: Optional[str] = typer.Argument(None, help="One kind, e.g. decoders."),
    markdown: bool = typer.Option(
        False, "--markdown", help="Print the component reference as Markdown."
    ),
) -> None:
    """List registered components per kind, entry-point plugins included."""
    from ..cli.reference import list_components

    typer.echo(list_components(kind, markdown=markdown))


@app.command()
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
    limit: int = typer.Option(0, help="Show only the first N records (0: all)."),
) -> None:
    """Write a self-contained HTML page with nested entities drawn over the text."""
    from ..cli.debug import visualize as run

    run(source, input, output, gold, limit)
    typer.secho(f"✔ Wrote {output}", fg=typer.colors.GREEN)


@app.command()
@friendly
def plot(
    runs: List[Path] = typer.Argument(..., help="One or more training output directories."),
    output: Path = typer.Option(Path("training.png"), "--output", "-o", help="PNG to write."),
) -> None:
    """Plot loss and dev P/R/F1 over steps from each run's log.jsonl."""
    from ..plot import plot_runs

    plot_runs(runs, output)
    typer.secho(f"✔ Wrote {output}", fg=typer.colors.GREEN)


def _version(value: bool) -> None:
    if value:
        from ..about import __version__

        typer.echo(f"nerkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        help="Print nerkit's version and exit.",
    ),
) -> None:
    """nerkit: Chinese medical NER from config files."""


@app.command()
@friendly
def info(
    model: Optional[Path] = typer.Argument(
        None, help="A model directory: also print its labels, scores and components."
    ),
) -> None:
    """Versions, devices and plugins of this installation (and a model directory's facts)."""
    from ..cli.info import installation_info, model_info

    typer.echo(installation_info())
    if model is not None:
        typer.echo(model_info(model))


def main() -> None:  # pragma: no cover
    app(sys.argv[1:])
