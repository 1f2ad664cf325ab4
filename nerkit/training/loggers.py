"""Training loggers.

Registered builders return ``build(output_dir, config) -> Logger``;
``output_dir`` is ``None`` when the run saves nothing, ``config`` is the run's
config as a (nested) dict. The loop calls:

* ``log_step(step, {"loss": float, "lr": float, "epoch": int, ...})`` every N steps;
* ``log_eval(row)`` after each evaluation, ``row`` with keys epoch, step, loss,
  precision, recall, f1 (fractions in [0, 1]), score, best (bool), seconds;
* ``progress(total, initial=0)`` once, for an object with ``update(n, loss)`` and
  ``close()`` (a bar for ConsoleLogger, a no-op elsewhere);
* ``close()`` at the end.
"""

from __future__ import annotations

import importlib
import json
import numbers
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, List, Optional, Sequence

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from ..errors import ConfigError

EVAL_METRICS = ("loss", "precision", "recall", "f1", "score")


class StepProgress:
    """Training progress display; this base class shows nothing."""

    def update(self, n: int = 1, loss: Optional[float] = None) -> None:
        """Advance by ``n`` optimizer steps; ``loss`` is the latest training loss."""

    def close(self) -> None:
        """Stop the display."""

    def __enter__(self) -> StepProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Logger:
    """Receives training and evaluation results. Every method is optional to override."""

    def log_step(self, step: int, values: Dict[str, Any]) -> None:
        """Training values (loss, lr, epoch, ...) at optimizer step ``step``."""

    def log_eval(self, row: Dict[str, Any]) -> None:
        """One evaluation: epoch, step, loss, precision, recall, f1, score, best, seconds."""

    def progress(self, total: int, initial: int = 0) -> StepProgress:
        """A progress display over ``total`` optimizer steps, ``initial`` already done."""
        return StepProgress()

    def close(self) -> None:
        """Flush and release resources."""


LoggerFactory = Callable[[Optional[Path], Dict[str, Any]], Logger]


def _number(value: Any) -> Optional[float]:
    """A Python float for real numbers (numpy and 0-d torch ones included); None otherwise."""
    if callable(getattr(value, "item", None)):
        try:
            value = value.item()
        except (ValueError, RuntimeError):
            return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def _numeric(values: Dict[str, Any]) -> Dict[str, float]:
    return {k: v for k, v in ((k, _number(v)) for k, v in values.items()) if v is not None}


def _plain(value: Any) -> Any:
    """A JSON-ready Python value: tensors and numpy numbers unwrapped, unknowns as str."""
    if callable(getattr(value, "item", None)):
        try:
            value = value.item()
        except (ValueError, RuntimeError):
            return str(value)
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return str(value)


# ----------------------------------------------------------------------------- console


class _RichProgress(StepProgress):
    def __init__(self, console: Console, total: int, initial: int) -> None:
        self._progress = Progress(
            TextColumn("[bold]training"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._task = self._progress.add_task("training", total=total, completed=initial, loss="-")
        self._progress.start()
        self.closed = False

    def update(self, n: int = 1, loss: Optional[float] = None) -> None:
        fields = {} if loss is None else {"loss": f"{float(loss):.4f}"}
        self._progress.update(self._task, advance=n, **fields)

    def close(self) -> None:
        if not self.closed:
            self._progress.stop()
            self.closed = True


class ConsoleLogger(Logger):
    """A table row per evaluation; a progress bar on a terminal, step lines otherwise.

    P, R and F1 are percentages (log.jsonl keeps fractions). The row's ``score``
    (the model-selection metric, today equal to F1) is not a column of its own.
    Without a terminal (output redirected to a file) step lines go between the
    evaluations, never inside the table: the header is repeated above the next
    evaluation row after any step lines.
    """

    COLUMNS = ("Epoch", "Step", "Loss", "P%", "R%", "F1%", "Time")
    WIDTHS = (5, 8, 9, 7, 7, 7, 9)
    MLM_COLUMNS = ("Epoch", "Step", "Loss", "Dev loss", "Dev PPL", "Time")
    MLM_WIDTHS = (5, 8, 9, 9, 9, 9)

    def __init__(self, progress_bar: bool, console: Optional[Console]) -> None:
        self.console = console if console is not None else Console()
        self.progress_bar = progress_bar
        self._bar: Optional[_RichProgress] = None
        self._header_due = True  # print the header before the next evaluation row

    def progress(self, total: int, initial: int = 0) -> StepProgress:
        if not self.progress_bar or not self.console.is_terminal:
            return StepProgress()
        self._bar = _RichProgress(self.console, total, initial)
        return self._bar

    def _bar_active(self) -> bool:
        return self._bar is not None and not self._bar.closed

    def log_step(self, step: int, values: Dict[str, Any]) -> None:
        if self._bar_active():
            return  # the bar shows the loss
        parts = [f"step {step}"]
        if "epoch" in values:
            parts.append(f"epoch {values['epoch']}")
        for key, fmt in (("loss", ".4f"), ("lr", ".3e")):
            number = _number(values.get(key))
            if number is not None:
                parts.append(f"{key} {number:{fmt}}")
        self.console.print("  ".join(parts), markup=False, highlight=False)
        self._header_due = True

    def format_row(self, row: Dict[str, Any]) -> str:
        """The table line of an evaluation: P, R and F1 as percentages."""

        def pct(key: str) -> str:
            number = _number(row.get(key))
            return "-" if number is None else f"{100 * number:.2f}"

        def num(key: str, fmt: str) -> str:
            number = _number(row.get(key))
            return "-" if number is None else f"{number:{fmt}}"

        seconds = _number(row.get("seconds"))
        scores = (
            (num("dev_loss", ".4f"), num("perplexity", ".2f"))
            if "perplexity" in row  # a pretraining evaluation: held-out MLM loss and perplexity
            else (pct("precision"), pct("recall"), pct("f1"))
        )
        cells = (
            str(row.get("epoch", "-")),
            str(row.get("step", "-")),
            num("loss", ".4f"),
            *scores,
            "-" if seconds is None else f"{seconds:.1f}s",
        )
        widths = self.MLM_WIDTHS if "perplexity" in row else self.WIDTHS
        line = " ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True))
        return line + ("  * best" if row.get("best") else "")

    def header(self, mlm: bool = False) -> str:
        columns, widths = (
            (self.MLM_COLUMNS, self.MLM_WIDTHS) if mlm else (self.COLUMNS, self.WIDTHS)
        )
        line = " ".join(col.rjust(width) for col, width in zip(columns, widths, strict=True))
        return line + "\n" + " ".join("-" * width for width in widths)

    def log_eval(self, row: Dict[str, Any]) -> None:
        if self._header_due:
            self.console.print(Text(self.header("perplexity" in row), style="bold"))
            self._header_due = False
        style = "bold green" if row.get("best") else ""
        self.console.print(Text(self.format_row(row), style=style))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


# ----------------------------------------------------------------------------- jsonl


class JsonlLogger(Logger):
    """Appends one JSON object per line (read by ``nerkit plot``).

    ``{"event": "step", "step", "epoch", "loss", "lr", "time", ...other values}``
    ``{"event": "eval", "step", "epoch", "loss", "precision", "recall", "f1", "best",
    "time", "score", "seconds"}``; ``time`` is the Unix time in seconds.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf8")

    def _write(self, record: Dict[str, Any]) -> None:
        self._file.write(
            json.dumps({k: _plain(v) for k, v in record.items()}, ensure_ascii=False) + "\n"
        )
        self._file.flush()

    def log_step(self, step: int, values: Dict[str, Any]) -> None:
        record = {
            "event": "step",
            "step": step,
            "epoch": values.get("epoch"),
            "loss": values.get("loss"),
            "lr": values.get("lr"),
            "time": round(time.time(), 3),
        }
        record.update((k, v) for k, v in values.items() if k not in record)
        self._write(record)

    def log_eval(self, row: Dict[str, Any]) -> None:
        record = {"event": "eval", "step": row.get("step"), "epoch": row.get("epoch")}
        record.update((k, row.get(k)) for k in ("loss", "precision", "recall", "f1"))
        record["best"] = bool(row.get("best", False))
        record["time"] = round(time.time(), 3)
        record.update((k, v) for k, v in row.items() if k not in record)
        self._write(record)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


# ----------------------------------------------------------------------------- optional backends


def require_module(module: str, package: str, logger: str) -> ModuleType:
    """Import ``module`` or fail with a ConfigError saying what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ConfigError(
            f"{logger} in [training.logger] needs the '{package}' package, which is not "
            f"installed ({err}). Install it with `pip install {package}` (or "
            f"`pip install nerkit[{package}]`), or use nerkit.ConsoleLogger.v1 / "
            "nerkit.JsonlLogger.v1 / nerkit.DefaultLoggers.v1 instead."
        ) from err


def _flatten(config: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    flat: Dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _eval_metrics(row: Dict[str, Any]) -> Dict[str, float]:
    return {f"eval/{k}": v for k, v in _numeric({k: row.get(k) for k in EVAL_METRICS}).items()}


def _resolve_dir(output_dir: Optional[Path], sub: str) -> Path:
    path = Path(sub)
    return path if path.is_absolute() or output_dir is None else Path(output_dir) / path


class TensorBoardLogger(Logger):
    """Scalars ``train/<key>`` and ``eval/<metric>`` plus the config as text."""

    def __init__(self, module: ModuleType, log_dir: Path, config: Dict[str, Any]) -> None:
        self.writer = module.SummaryWriter(log_dir=str(log_dir))
        text = json.dumps(config, indent=2, ensure_ascii=False, default=str)
        self.writer.add_text("config", "    " + text.replace("\n", "\n    "), 0)

    def log_step(self, step: int, values: Dict[str, Any]) -> None:
        for key, value in _numeric(values).items():
            self.writer.add_scalar(f"train/{key}", value, step)

    def log_eval(self, row: Dict[str, Any]) -> None:
        step = int(row["step"])
        for key, value in _eval_metrics(row).items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbLogger(Logger):
    """A Weights & Biases run: ``train/*`` and ``eval/*`` series, best F1 in the summary."""

    def __init__(
        self,
        module: ModuleType,
        project: str,
        run_name: Optional[str],
        output_dir: Optional[Path],
        config: Dict[str, Any],
    ) -> None:
        kwargs: Dict[str, Any] = {"project": project, "name": run_name, "config": config}
        if output_dir is not None:
            Path(output_dir).mkdir(parents=True, exist_ok=True)
            kwargs["dir"] = str(output_dir)
        self.run = module.init(**kwargs)

    def log_step(self, step: int, values: Dict[str, Any]) -> None:
        self.run.log({f"train/{k}": v for k, v in _numeric(values).items()}, step=step)

    def log_eval(self, row: Dict[str, Any]) -> None:
        step = int(row["step"])
        self.run.log(_eval_metrics(row), step=step)
        if row.get("best"):
            for key in ("f1", "precision", "recall", "score"):
                number = _number(row.get(key))
                if number is not None:
                    self.run.summary[f"best_{key}"] = number
            self.run.summary["best_step"] = step

    def close(self) -> None:
        self.run.finish()


class MLflowLogger(Logger):
    """An MLflow run: the flattened config as params, ``train/*`` and ``eval/*`` metrics."""

    MAX_PARAM_LENGTH = 500  # the limit of older MLflow servers
    PARAM_BATCH = 100  # params per log_params call accepted by MLflow

    def __init__(
        self,
        module: ModuleType,
        experiment: str,
        tracking_uri: Optional[str],
        config: Dict[str, Any],
    ) -> None:
        self.mlflow = module
        if tracking_uri is not None:
            module.set_tracking_uri(tracking_uri)
        module.set_experiment(experiment)
        self.run = module.start_run()
        params = [(k, str(v)[: self.MAX_PARAM_LENGTH]) for k, v in _flatten(dict(config)).items()]
        for i in range(0, len(params), self.PARAM_BATCH):
            module.log_params(dict(params[i : i + self.PARAM_BATCH]))

    def log_step(self, step: int, values: Dict[str, Any]) -> None:
        self.mlflow.log_metrics({f"train/{k}": v for k, v in _numeric(values).items()}, step=step)

    def log_eval(self, row: Dict[str, Any]) -> None:
        self.mlflow.log_metrics(_eval_metrics(row), step=int(row["step"]))

    def close(self) -> None:
        self.mlflow.end_run()


# ----------------------------------------------------------------------------- composition


class _MultiProgress(StepProgress):
    def __init__(self, parts: Sequence[StepProgress]) -> None:
        self.parts = list(parts)

    def update(self, n: int = 1, loss: Optional[float] = None) -> None:
        for part in self.parts:
            part.update(n, loss)

    def close(self) -> None:
        for part in self.parts:
            part.close()


class MultiLogger(Logger):
    """Forwards every call to each child logger in order."""

    def __init__(self, loggers: Sequence[Logger]) -> None:
        self.loggers = list(loggers)

    def log_step(self, step: int, values: Dict[str, Any]) -> None:
        for logger in self.loggers:
            logger.log_step(step, values)

    def log_eval(self, row: Dict[str, Any]) -> None:
        for logger in self.loggers:
            logger.log_eval(row)

    def progress(self, total: int, initial: int = 0) -> StepProgress:
        return _MultiProgress([logger.progress(total, initial) for logger in self.loggers])

    def close(self) -> None:
        """Close every child, even if one fails; then raise the first failure."""
        error: Optional[BaseException] = None
        for logger in self.loggers:
            try:
                logger.close()
            except Exception as err:
                error = error or err
        if error is not None:
            raise error


# ----------------------------------------------------------------------------- registered


def console_logger(progress_bar: bool = True) -> LoggerFactory:
    """Evaluation table on stdout; a rich progress bar when stdout is a terminal."""

    def build(output_dir: Optional[Path], config: Dict[str, Any]) -> Logger:
        return ConsoleLogger(progress_bar=progress_bar, console=None)

    return build


def jsonl_logger(path: str = "log.jsonl") -> LoggerFactory:
    """One JSON object per step/eval event, appended to ``output_dir / path``."""

    def build(output_dir: Optional[Path], config: Dict[str, Any]) -> Logger:
        if output_dir is None and not Path(path).is_absolute():
            raise ConfigError(
                f"nerkit.JsonlLogger.v1 writes '{path}' inside the output directory, but this run "
                "has none. Pass an output directory to `nerkit train`, give [training.logger] an "
                "absolute path, or use nerkit.ConsoleLogger.v1."
            )
        return JsonlLogger(_resolve_dir(output_dir, path))

    return build


def tensorboard_logger(log_dir: str = "tensorboard") -> LoggerFactory:
    """TensorBoard event files in ``output_dir / log_dir`` (needs ``pip install tensorboard``)."""
    module = require_module("torch.utils.tensorboard", "tensorboard", "nerkit.TensorBoardLogger.v1")

    def build(output_dir: Optional[Path], config: Dict[str, Any]) -> Logger:
        return TensorBoardLogger(module, _resolve_dir(output_dir, log_dir), config)

    return build


def wandb_logger(project: str = "nerkit", run_name: Optional[str] = None) -> LoggerFactory:
    """A Weights & Biases run in ``project`` (needs ``pip install wandb``)."""
    module = require_module("wandb", "wandb", "nerkit.WandbLogger.v1")

    def build(output_dir: Optional[Path], config: Dict[str, Any]) -> Logger:
        return WandbLogger(module, project, run_name, output_dir, config)

    return build


def mlflow_logger(experiment: str = "nerkit", tracking_uri: Optional[str] = None) -> LoggerFactory:
    """An MLflow run in ``experiment``; MLflow's default store unless ``tracking_uri`` (needs ``pip install mlflow``)."""
    module = require_module("mlflow", "mlflow", "nerkit.MLflowLogger.v1")

    def build(output_dir: Optional[Path], config: Dict[str, Any]) -> Logger:
        return MLflowLogger(module, experiment, tracking_uri, config)

    return build


def multi_logger(*loggers: LoggerFactory) -> LoggerFactory:
    """Several loggers at once: ``[training.logger.*.name]`` blocks, in order."""

    def build(output_dir: Optional[Path], config: Dict[str, Any]) -> Logger:
        return MultiLogger([factory(output_dir, config) for factory in loggers])

    return build


def default_loggers(
    console: bool = True,
    progress_bar: bool = True,
    jsonl: bool = True,
    jsonl_path: str = "log.jsonl",
    extra: Optional[Dict[str, Any]] = None,
) -> LoggerFactory:
    """Console and JSONL loggers (JSONL only when the run has an output directory),
    plus any ``[training.logger.extra.<name>]`` logger blocks."""
    extras: List[LoggerFactory] = []
    for name, factory in (extra or {}).items():
        if not callable(factory):
            raise ConfigError(
                f"[training.logger.extra.{name}] must be a logger block with "
                f'@loggers = "..." (e.g. nerkit.TensorBoardLogger.v1), got {factory!r}.'
            )
        extras.append(factory)

    def build(output_dir: Optional[Path], config: Dict[str, Any]) -> Logger:
        children: List[Logger] = []
        if console:
            children.append(ConsoleLogger(progress_bar=progress_bar, console=None))
        if jsonl and (output_dir is not None or Path(jsonl_path).is_absolute()):
            children.append(JsonlLogger(_resolve_dir(output_dir, jsonl_path)))
        children.extend(factory(output_dir, config) for factory in extras)
        return MultiLogger(children)

    return build
