"""A sweep's summary: one row per setting (the swept values but the seed), with the mean,
standard deviation and count of the metric over its finished trials (seeds), best first.

``DIR/summary.jsonl`` holds the rows (``nerkit plot DIR`` and ``nerkit ensemble DIR`` read
it); ``DIR/summary.md`` shows them as a table, followed by every trial and its state
(finished, pruned, failed, killed, running).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from .plan import SweepPlan

SUMMARY_JSONL = "summary.jsonl"
SUMMARY_MD = "summary.md"


def mean_sd(values: Sequence[float]) -> tuple:
    """Mean and sample standard deviation (n - 1; None for fewer than two values)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def setting_rows(
    trials: Sequence[Dict[str, Any]], keys: Sequence[str], seed_key: str, direction: str
) -> List[Dict[str, Any]]:
    """Group finished trials (``{"run", "params", "value", "state"}``) by their values but the
    seed; each group's mean/sd/count; best mean first (ties: more trials first)."""
    groups: Dict[str, Dict[str, Any]] = {}
    for trial in trials:
        setting = {k: trial["params"].get(k) for k in keys if k != seed_key}
        key = json.dumps(setting, sort_keys=True)
        group = groups.setdefault(key, {"setting": setting, "trials": [], "pruned": 0})
        if trial["state"] == "complete":
            group["trials"].append(trial)
        elif trial["state"] == "pruned":
            group["pruned"] += 1
    rows = []
    sign = 1.0 if direction == "maximize" else -1.0
    for group in groups.values():
        done = sorted(group["trials"], key=lambda t: t["run"])
        if not done:
            continue
        values = [t["value"] for t in done]
        mean, sd = mean_sd(values)
        best = max(done, key=lambda t: sign * t["value"])
        rows.append(
            {
                "params": group["setting"],
                "mean": mean,
                "sd": sd,
                "count": len(values),
                "values": values,
                "seeds": [t["params"].get(seed_key) for t in done],
                "runs": [t["run"] for t in done],
                "best_run": best["run"],
                "best": best["value"],
                "pruned": group["pruned"],
            }
        )
    rows.sort(key=lambda r: (-sign * r["mean"], -r["count"]))
    return rows


def study_trials(study: Any) -> List[Dict[str, Any]]:
    """Each trial of the study as a plain dict (latest attempt of each run last)."""
    out = []
    for t in study.get_trials(deepcopy=False):
        state = t.state.name.lower()
        outcome = t.user_attrs.get("outcome")
        if state == "fail" and outcome in ("duplicate", "surplus"):
            continue  # claims dropped before training: not runs
        out.append(
            {
                "run": t.user_attrs.get("run", t.number),
                "number": t.number,
                "params": dict(t.params),
                "value": t.value,
                "state": {"fail": "killed" if outcome == "killed" else "failed"}.get(state, state),
                "error": t.user_attrs.get("error"),
            }
        )
    return out


def write_summary(study: Any, plan: SweepPlan, output: Path) -> List[Dict[str, Any]]:
    trials = study_trials(study)
    rows = setting_rows(trials, plan.keys, plan.seed_key, plan.direction)
    with open(Path(output) / SUMMARY_JSONL, "w", encoding="utf8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    (Path(output) / SUMMARY_MD).write_text(
        format_summary(rows, trials, plan.keys, plan.seed_key, plan.metric, plan.direction),
        encoding="utf8",
    )
    return rows


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _pct(value: Optional[float]) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def format_summary(
    rows: Sequence[Dict[str, Any]],
    trials: Sequence[Dict[str, Any]],
    keys: Sequence[str],
    seed_key: str,
    metric: str,
    direction: str,
) -> str:
    setting_keys = [k for k in keys if k != seed_key]
    scale = _pct if metric != "loss" else (lambda v: "-" if v is None else f"{v:.4f}")
    unit = " (%)" if metric != "loss" else ""
    lines = [
        "# Sweep summary",
        "",
        f"Metric: dev {metric}{unit}, {direction}d; mean and sample standard deviation over "
        f"the finished trials of each setting ({seed_key} varies within a setting).",
        "",
        "| " + " | ".join([*setting_keys, "mean", "sd", "n", "best", "best trial"]) + " |",
        "|" + "---|" * (len(setting_keys) + 5),
    ]
    for row in rows:
        cells = [_cell(row["params"].get(k)) for k in setting_keys]
        cells += [scale(row["mean"]), scale(row["sd"]), str(row["count"]), scale(row["best"])]
        cells.append(f"{row['best_run']:04d}")
        lines.append("| " + " | ".join(cells) + " |")
    if not rows:
        lines.append("| " + " | ".join(["-"] * (len(setting_keys) + 5)) + " |")
    lines += ["", "## Trials", "", "| trial | state | " + " | ".join(keys) + f" | {metric} |"]
    lines.append("|" + "---|" * (len(keys) + 3))
    for t in sorted(trials, key=lambda t: (t["run"], t.get("number", 0))):
        cells = [f"{t['run']:04d}", t["state"], *(_cell(t["params"].get(k, "-")) for k in keys)]
        cells.append(scale(t["value"]) if t["state"] in ("complete", "pruned") else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def top_trials(output: Path, k: int) -> List[Path]:
    """The ``model-best`` folders of the sweep's ``k`` best finished trials (by their value,
    from each trial's result.json), best first."""
    from ..errors import ConfigError

    output = Path(output)
    sweep = json.loads((output / "sweep.json").read_text(encoding="utf8"))
    sign = 1.0 if sweep.get("direction", "maximize") == "maximize" else -1.0
    found = []
    for result in sorted((output / "trials").glob("*/result.json")):
        info = json.loads(result.read_text(encoding="utf8"))
        model = result.parent / "model-best"
        if info.get("state") == "complete" and model.is_dir():
            found.append((sign * info["value"], info["run"], model))
    if len(found) < k:
        raise ConfigError(
            f"{output}: --top-k {k}, but the sweep has {len(found)} finished trials with a "
            "model-best/ folder. Ask for fewer, or let the sweep finish."
        )
    found.sort(key=lambda x: (-x[0], x[1]))
    return [model for _, _, model in found[:k]]
