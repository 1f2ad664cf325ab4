"""What every command shares: the Typer apps, the error wrapper and small helpers."""

from __future__ import annotations

import errno
import functools
import json
from pathlib import Path
from typing import Any, Callable, Iterable, List, Optional

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


# What the file system says about a path the user gave (no space, no permission, ...): the
# user's to fix, printed like nerkit's own errors. Any other OSError is a bug and keeps its traceback.
_PATH_ERRNOS = frozenset(
    {errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ENOSPC}
    | {errno.EROFS, errno.EDQUOT, errno.ENAMETOOLONG}
)

# Options several commands share (one definition each).
BATCH_SIZE_OPTION = typer.Option(64, min=1, help="Windows per batch.")
MAX_TOKENS_OPTION = typer.Option(
    None, min=1, help="At most this many padded positions per batch (fewer long windows per batch)."
)
DEVICE_OPTION = typer.Option("auto", help="cpu, cuda, cuda:1 or auto.")
ENCODING_OPTION = typer.Option(
    "utf-8",
    "--encoding",
    help="Text encoding of the input corpora, e.g. gb18030 (GBK and GB18030 files); default utf-8.",
)
METRICS_OPTION = typer.Option(None, "--output", "-o", help="Write metrics JSON here.")
REPLACE_OUTPUT_OPTION = typer.Option(
    False, "--overwrite", help="Replace an OUTPUT that exists (never the input)."
)


def output_option(help: str, required: bool = False) -> Any:
    """``--output`` / ``-o`` PATH (``required``: no default, else None)."""
    return typer.Option(... if required else None, "--output", "-o", help=help)


def format_option(flag: str, help: str) -> Any:
    """``--from`` or ``--to`` FORMAT: a short name or a registered reader/writer (None: detected)."""
    return typer.Option(None, flag, help=help)


def reader_options(help: str) -> Any:
    """``--reader-option`` / ``-r`` KEY=VALUE, repeated (see :func:`parse_options`)."""
    return typer.Option([], "--reader-option", "-r", help=help)


def resume_option(run: str = "run") -> Any:
    """``--resume`` DIR of a training command."""
    return typer.Option(
        None, "--resume", help=f"Output directory of an interrupted {run} to continue."
    )


def overwrite_option(help: str) -> Any:
    """``--overwrite``: replace what the output already holds."""
    return typer.Option(False, "--overwrite", help=help)


def friendly(func: Callable) -> Callable:
    """Print nerkit's own errors (and the file system's refusal of a path) as one paragraph
    and exit 1, without a traceback.

    A command with an ``encoding`` parameter (``ENCODING_OPTION``) reads its corpora in it.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ..data.encoding import input_encoding

        try:
            with input_encoding(kwargs.get("encoding")):
                return func(*args, **kwargs)
        except NerkitError as err:
            typer.secho(f"✘ {err}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None
        except OSError as err:
            if err.filename is None or err.errno not in _PATH_ERRNOS:
                raise
            typer.secho(
                f"✘ {err.filename}: {err.strerror}. Check the path and its permissions.",
                fg=typer.colors.RED,
                err=True,
            )
            raise typer.Exit(1) from None

    return wrapper


def load_config_args(config: Path, extra: List[str], command: Any = None):
    """The config file with the command line's --section.key overrides, paths checked;
    ``command`` (``ctx.command``): an extra ``--name`` close to one of its options is a typo."""
    from ..config import load_config, parse_overrides

    if command is not None:
        check_option_names(extra, command)
    return load_config(config, parse_overrides(extra), strict_paths=True)


def check_metrics_output(output: Optional[Path], inputs: Iterable[Path]) -> None:
    """The metrics JSON of evaluate and score: rewritten freely, never one of the inputs."""
    from ..util import check_output_file

    if output is not None:
        check_output_file(output, overwrite=True, inputs=inputs, example="metrics.json")


def write_metrics(output: Path, scores: dict) -> None:
    """The metrics JSON of evaluate and score (folders on the way created)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(scores, indent=2, ensure_ascii=False), encoding="utf8")


def check_option_names(extra: List[str], command: Any) -> None:
    """An extra ``--name`` without a section is a mistyped option of ``command`` (a click
    command), not a config override: name its options, the closest first."""
    import difflib

    options = [o for p in command.params for o in p.opts if o.startswith("--")]
    for arg in extra:
        name = arg.split("=", 1)[0]
        if not name.startswith("--") or "." in name or len(name) <= 2:
            continue
        close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise NerkitError(
            f"No such option: {name}.{hint} Options of `nerkit {command.name}`: "
            f"{', '.join(options)}; a config value is set with --section.key VALUE, e.g. "
            "--training.max_epochs 3."
        )


def warn_unknown_chars(nlp: Any, examples: Any, path: Path) -> None:
    """Warn about characters of the input that the encoder's vocabulary lacks."""
    from ..data.stats import format_unknown_warning

    coverage = nlp.char_coverage([ex.text for ex in examples])
    warning = format_unknown_warning(coverage, str(path))
    if warning:
        typer.secho(f"⚠ {warning}", fg=typer.colors.YELLOW, err=True)


def is_cmeee(path: Path) -> bool:
    """Whether PATH is a CMeEE file (a leaderboard input)."""
    from ..data import formats
    from ..errors import DataError

    try:
        return path.is_file() and formats.detect(path) == "cmeee"
    except DataError:
        return False


def report_losses(report) -> None:
    """Say which entities a writer dropped or changed, and by which rule."""
    for rule, n in sorted(report.dropped.items()):
        typer.secho(f"⚠ {n} entities dropped: {rule}.", fg=typer.colors.YELLOW, err=True)
    for rule, n in sorted(report.changed.items()):
        typer.secho(f"⚠ {n} entities changed: {rule}.", fg=typer.colors.YELLOW, err=True)


def parse_options(values: List[str], flag: str) -> dict:
    """KEY=VALUE options (values read as JSON where they parse) as keyword arguments."""
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
