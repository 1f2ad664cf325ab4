"""Training curves from run logs: loss and dev precision/recall/F1 over steps.

``nerkit train`` with the JSON Lines logger writes ``RUN_DIR/log.jsonl``, one
event per line::

    {"event": "step", "step": 10, "epoch": 0, "loss": 3.2, "lr": 5e-05, "time": 12.0}
    {"event": "eval", "step": 500, "epoch": 1, "loss": 0.8, "precision": 0.61,
     "recall": 0.58, "f1": 0.59, "best": true, "time": 340.0}

:func:`plot_runs` draws one PNG with two panels (training loss; dev P/R/F1),
several runs overlaid in distinct colours. Lines with other events are
skipped, so loggers may add their own; a resumed run's repeated steps replace
the earlier ones.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from .errors import ConfigError, DataError, NerkitError

LOG_NAME = "log.jsonl"
FIGSIZE = (12.0, 4.5)  # inches
DPI = 100  # so a plot is 1200 x 450 pixels
SMOOTHING_POINTS = 50  # the smoothed loss averages over ~1/50 of a run's logged steps
_STEP_FIELDS = ("step", "loss")
_EVAL_FIELDS = ("step", "precision", "recall", "f1")


class RunLogNotFoundError(NerkitError, FileNotFoundError):
    """A run directory has no ``log.jsonl``."""


@dataclass
class RunLog:
    """The step and eval events of one run, as float arrays in log order."""

    name: str
    path: Path
    step: Dict[str, np.ndarray] = field(default_factory=dict)  # step, loss, lr, epoch
    eval: Dict[str, np.ndarray] = field(default_factory=dict)  # step, precision, ..., best


def read_run_log(path: Union[str, Path], name: Optional[str] = None) -> RunLog:
    """Parse a ``log.jsonl`` (or the run directory holding it) into a :class:`RunLog`."""
    path = Path(path)
    if path.is_dir() or path.suffix != ".jsonl":
        path = path / LOG_NAME
    if not path.is_file():
        missing = "" if path.parent.is_dir() else f" (the directory '{path.parent}' does not exist)"
        raise RunLogNotFoundError(
            f"No training log at '{path}'{missing}. The file is written by `nerkit train` "
            "with the JSON Lines logger (nerkit.JsonlLogger.v1, included in "
            "nerkit.DefaultLoggers.v1) when the run has an output directory; pass the "
            "directory of such a run (the one holding log.jsonl)."
        )
    rows: Dict[str, List[dict]] = {"step": [], "eval": []}
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            where = f"{path}, line {lineno}"
            if not line.strip():
                raise DataError(
                    f"{where} is empty. Every line of a run log must be one JSON object; "
                    "remove the blank line."
                )
            try:
                event = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(
                    f"{where} is not valid JSON ({err.msg} at column {err.colno}): "
                    f"{line.strip()[:80]!r}. The file may have been cut off while the run "
                    "was writing it; delete the broken line and plot again."
                ) from None
            if not isinstance(event, dict):
                raise DataError(
                    f"{where} holds a JSON {type(event).__name__}, not an object with an "
                    '"event" field.'
                )
            kind = event.get("event")
            if kind == "step":
                rows["step"].append(_checked(event, _STEP_FIELDS, where))
            elif kind == "eval":
                row = _checked(event, _EVAL_FIELDS, where)
                for key in ("precision", "recall", "f1"):
                    if not 0.0 <= row[key] <= 1.0:
                        raise DataError(
                            f'{where}: "{key}" is {row[key]}, outside [0, 1]. nerkit logs '
                            "precision, recall and F1 as fractions, not percentages."
                        )
                rows["eval"].append(row)
    if not rows["step"] and not rows["eval"]:
        raise DataError(
            f"'{path}' has no step or eval events, so there is nothing to plot. Was the run "
            "stopped before its first logged step?"
        )
    step_keys = ("step", "loss", "lr", "epoch")
    eval_keys = ("step", "loss", "precision", "recall", "f1", "epoch", "best")
    return RunLog(
        name=name if name is not None else path.parent.name,
        path=path,
        step=_by_step(rows["step"], step_keys),
        eval=_by_step(rows["eval"], eval_keys),
    )


def _by_step(rows: List[dict], keys: Sequence[str]) -> Dict[str, np.ndarray]:
    """Columns sorted by step; of rows sharing a step, the last logged wins.

    A resumed run appends to the same log from its checkpoint's step on, so the
    steps it repeats are replaced by the resumed run's values.
    """
    last = {r["step"]: r for r in rows}  # dicts keep insertion order; later rows overwrite
    ordered = [last[s] for s in sorted(last)]
    return {k: np.array([r.get(k, math.nan) for r in ordered], dtype=float) for k in keys}


def _checked(event: dict, required: Sequence[str], where: str) -> dict:
    """``event`` with numeric fields as floats (null -> NaN); required ones must be present."""
    out = {}
    for key, value in event.items():
        if key in ("event", "time"):
            continue
        if value is None:
            out[key] = math.nan
        elif isinstance(value, (int, float)):  # bool is an int: "best" becomes 0.0 / 1.0
            out[key] = float(value)
    for key in required:
        if key not in event:
            raise DataError(
                f'{where}: the "{event["event"]}" event has no "{key}" field; it needs '
                f"{', '.join(required)}."
            )
        if key not in out or (key == "step" and math.isnan(out[key])):
            raise DataError(f'{where}: "{key}" must be a number, got {event[key]!r}.')
    return out


def _ema(values: np.ndarray, weight: float) -> np.ndarray:
    """Debiased exponential moving average (as TensorBoard smooths), NaNs carried over."""
    out = np.empty_like(values)
    avg, norm = 0.0, 0.0
    for i, v in enumerate(values):
        if not math.isfinite(v):
            out[i] = math.nan
            continue
        avg = weight * avg + (1 - weight) * v
        norm = weight * norm + (1 - weight)
        out[i] = avg / norm
    return out


def _run_names(run_dirs: Sequence[Path]) -> List[str]:
    """Directory names, with parents added until they are unique."""
    for depth in range(1, max(len(p.resolve().parts) for p in run_dirs) + 1):
        names = ["/".join(p.resolve().parts[-depth:]) for p in run_dirs]
        if len(set(names)) == len(names):
            return names
    return [str(p) for p in run_dirs]


def plot_runs(
    run_dirs: Sequence[Path],
    output: Path,
    labels: Optional[Sequence[str]] = None,
) -> Path:
    """Plot training loss and dev P/R/F1 over steps of one or more runs to ``output``.

    Each run is named by ``labels`` or else its directory name. The format follows
    ``output``'s suffix (``.png``, also ``.svg``/``.pdf``); a PNG is 1200x450 pixels.
    Returns ``output``.
    """
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    run_dirs = [Path(p) for p in run_dirs]
    output = Path(output)
    if not run_dirs:
        raise ConfigError("plot_runs needs at least one run directory.")
    if labels is not None and len(labels) != len(run_dirs):
        raise ConfigError(
            f"Got {len(labels)} labels for {len(run_dirs)} runs; give one label per run "
            "directory, in the same order, or none to use the directory names."
        )
    names = list(labels) if labels is not None else _run_names(run_dirs)
    runs = [read_run_log(d, name) for d, name in zip(run_dirs, names, strict=True)]

    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    formats = fig.canvas.get_supported_filetypes()
    if output.suffix.lower().lstrip(".") not in formats:
        raise ConfigError(
            f"Can't write a plot to '{output}': the suffix '{output.suffix}' is not an image "
            f"format matplotlib writes. Use one of: .{', .'.join(sorted(formats))}."
        )
    ax_loss, ax_f1 = fig.subplots(1, 2, sharex=True)
    colours = [f"C{i % 10}" for i in range(len(runs))]

    for run, colour in zip(runs, colours, strict=True):
        ax_loss.plot([], [], color=colour, label=run.name)  # legend entry, even without steps
        steps, loss = run.step["step"], run.step["loss"]
        if len(steps) >= 2 * SMOOTHING_POINTS:  # noisy enough to be worth smoothing
            ax_loss.plot(steps, loss, color=colour, alpha=0.3, linewidth=0.8)
            weight = 1.0 - SMOOTHING_POINTS / len(steps)  # window of len(steps)/50 points
            ax_loss.plot(steps, _ema(loss, weight), color=colour)
        elif len(steps):
            ax_loss.plot(steps, loss, color=colour, marker=".")
        eval_loss = run.eval["loss"]  # training loss averaged since the previous evaluation
        if np.isfinite(eval_loss).any():
            ax_loss.plot(
                run.eval["step"], eval_loss, color=colour, linestyle="--", marker="o", markersize=3
            )
    positive = [run.step["loss"][np.isfinite(run.step["loss"])] for run in runs]
    positive = np.concatenate(positive) if positive else np.array([])
    if positive.size and positive.min() > 0 and positive.max() / positive.min() > 100:
        ax_loss.set_yscale("log")  # losses falling over decades read better on a log axis
    ax_loss.set_title("training loss (smoothed; dashed: mean between evaluations)")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    ax_loss.grid(True, alpha=0.3)
    ax_loss.legend(loc="upper right", fontsize=8, title="run", title_fontsize=8)

    styles = {"f1": ("-", "o"), "precision": ("--", None), "recall": (":", None)}
    any_eval = False
    for run, colour in zip(runs, colours, strict=True):
        ev = run.eval
        if not len(ev["step"]):
            continue
        any_eval = True
        for key, (style, marker) in styles.items():
            ax_f1.plot(
                ev["step"],
                100 * ev[key],  # fractions in log.jsonl, percentages on the plot (as on the CLI)
                color=colour,
                linestyle=style,
                marker=marker,
                markersize=3,
                linewidth=1.6 if key == "f1" else 1.0,
            )
        best = int(np.nanargmax(ev["f1"]))
        ax_f1.plot(
            ev["step"][best],
            100 * ev["f1"][best],
            marker="*",
            markersize=12,
            color=colour,
            markeredgecolor="black",
            linestyle="none",
        )
        ax_f1.annotate(
            f"{100 * ev['f1'][best]:.2f}%",
            (ev["step"][best], 100 * ev["f1"][best]),
            textcoords="offset points",
            xytext=(4, 6),
            fontsize=8,
            color=colour,
        )
    if not any_eval:
        ax_f1.text(
            0.5,
            0.5,
            "no eval events in these logs",
            ha="center",
            va="center",
            transform=ax_f1.transAxes,
            color="gray",
        )
    for key, (style, marker) in styles.items():  # style key, in black
        ax_f1.plot(
            [],
            [],
            color="black",
            linestyle=style,
            marker=marker,
            markersize=3,
            label={"f1": "F1", "precision": "precision", "recall": "recall"}[key],
        )
    ax_f1.plot([], [], color="black", marker="*", markersize=10, linestyle="none", label="best F1")
    ax_f1.set_title("dev precision / recall / F1 (strict)")
    ax_f1.set_xlabel("step")
    ax_f1.set_ylabel("%")
    ax_f1.set_ylim(0.0, 102.0)
    ax_f1.grid(True, alpha=0.3)
    ax_f1.legend(loc="lower right", fontsize=8)

    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output)
    return output


# ----------------------------------------------------------------------------- sweeps

SWEEP_FILES = ("sweep.json", "summary.jsonl")  # written by ``nerkit sweep`` in its folder


def is_sweep_dir(path: Union[str, Path]) -> bool:
    return all((Path(path) / name).is_file() for name in SWEEP_FILES)


def read_sweep(path: Union[str, Path]) -> tuple:
    """(swept keys but the seed, metric, summary rows) of a sweep folder."""
    path = Path(path)
    info = json.loads((path / "sweep.json").read_text(encoding="utf8"))
    rows = []
    for n, line in enumerate((path / "summary.jsonl").read_text(encoding="utf8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise DataError(f"{path / 'summary.jsonl'}, line {n}: not JSON ({err}).") from None
    keys = [k for k in info["keys"] if k != info.get("seed_key")] or list(info["keys"])
    return keys, info.get("metric", "f1"), rows


def plot_sweep(sweep_dir: Union[str, Path], output: Path) -> Path:
    """The metric against each swept setting (one panel each): every finished trial as a dot,
    each setting's mean with its standard deviation over seeds as an error bar."""
    from matplotlib.figure import Figure

    keys, metric, rows = read_sweep(sweep_dir)
    if not rows:
        raise DataError(
            f"{sweep_dir}: the sweep has no finished trial yet (summary.jsonl is empty); "
            "run nerkit sweep to the end first."
        )
    scale = 1.0 if metric == "loss" else 100.0
    fig = Figure(figsize=(max(4.5, 4.5 * len(keys)), 4.0), dpi=DPI)
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    for ax, key in zip(axes, keys, strict=True):
        values = [row["params"].get(key) for row in rows]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if numeric:
            xs = [float(v) for v in values]
            if min(xs) > 0 and max(xs) / min(xs) >= 20:
                ax.set_xscale("log")
        else:
            names = sorted({json.dumps(v) for v in values})
            xs = [float(names.index(json.dumps(v))) for v in values]
            ax.set_xticks(range(len(names)), [n.strip('"') for n in names])
        for x, row in zip(xs, rows, strict=True):
            ax.plot([x] * len(row["values"]), [scale * v for v in row["values"]], ".", color="C0")
            sd = row.get("sd") or 0.0
            ax.errorbar(x, scale * row["mean"], yerr=scale * sd, fmt="o", color="C1", capsize=4)
        ax.set_xlabel(key)
        ax.set_ylabel(f"dev {metric}" + ("" if metric == "loss" else " (%)"))
        ax.grid(True, alpha=0.3)
    axes[0].set_title("dots: trials; bars: mean ± sd over seeds", fontsize=9)
    fig.tight_layout()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output)
    return output
