"""Collect the runs' scores into a Markdown table beside the study's numbers.

A run is a folder ``RUNS/<experiment>/`` written by ``nerkit train --output``
(the Makefile names it after the config, e.g. ``runs/best``). From it:

* ``model-best/meta.json``: the best dev scores seen in training
  (``scores.precision/recall/f1``, fractions);
* ``model-best/config.cfg``: which file was the dev set (the official dev
  file or the ``i % 5 == 0`` split);
* ``test-metrics.json``, when present: test scores, fractions, with an
  optional ``source``. ``nerkit evaluate ... --output`` writes this format
  for a labelled test file; for the CBLUE leaderboard (the test labels are
  hidden) record the score it shows with ``--record``.

The study's reported test F1 of an experiment is read from the
``# Study test F1: <number>`` line of ``configs/<experiment>.cfg``.

    python collect_results.py runs                     # print the table
    python collect_results.py runs --output results.md
    python collect_results.py --record runs/best --f1 65.1 --precision 64.0 --recall 66.2
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

REPO = Path(__file__).resolve().parents[2]
STUDY_LINE = re.compile(r"^#\s*Study test F1:\s*(?P<value>\S+)", re.IGNORECASE | re.MULTILINE)


class ResultsError(Exception):
    """A malformed results file, named with the field at fault."""


@dataclass
class Row:
    experiment: str
    study_f1: Optional[float]  # percent
    dev: Optional[Dict[str, float]]  # fractions
    dev_file: Optional[str]
    test: Optional[Dict[str, float]]  # fractions
    test_source: Optional[str]


def study_f1(config: Path) -> Optional[float]:
    """The ``# Study test F1:`` value of a config, or None (absent or "none")."""
    if not config.exists():
        return None
    m = STUDY_LINE.search(config.read_text(encoding="utf8"))
    if m is None:
        return None
    value = m.group("value")
    if value.lower().startswith("none"):
        return None
    try:
        return float(value)
    except ValueError:
        raise ResultsError(
            f"{config}: '# Study test F1: {value}' is not a number (or 'none')."
        ) from None


def _scores(data: Any, where: str) -> Dict[str, float]:
    if not isinstance(data, dict):
        raise ResultsError(f"{where}: expected an object with precision, recall and f1.")
    out = {}
    for key in ("precision", "recall", "f1"):
        value = data.get(key)
        if value is None and key != "f1":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ResultsError(f"{where}.{key}: expected a number, got {value!r}.")
        if not 0.0 <= value <= 1.0:
            raise ResultsError(
                f"{where}.{key}: {value} is not a fraction in [0, 1]. Scores are stored as fractions "
                "(0.66032, not 66.032); record leaderboard percentages with --record."
            )
        out[key] = float(value)
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf8"))
    except json.JSONDecodeError as err:
        raise ResultsError(f"{path}: not valid JSON (line {err.lineno}: {err.msg}).") from None


def dev_file(run: Path) -> Optional[str]:
    """File name of the dev set the run was scored on, from its saved config."""
    cfg_path = run / "model-best" / "config.cfg"
    if not cfg_path.exists():
        return None
    try:
        from confection import Config

        cfg = Config().from_disk(cfg_path, interpolate=True)
        dev = cfg.get("corpora", {}).get("dev")
    except Exception:
        return None
    return Path(str(dev)).name if dev else None


def read_run(run: Path, configs: Path) -> Row:
    meta_path = run / "model-best" / "meta.json"
    dev = None
    if meta_path.exists():
        meta = _read_json(meta_path)
        dev = _scores(
            meta.get("scores") if isinstance(meta, dict) else None, f"{meta_path}: scores"
        )
    test = source = None
    test_path = run / "test-metrics.json"
    if test_path.exists():
        data = _read_json(test_path)
        test = _scores(data, str(test_path))
        source = data.get("source") if isinstance(data.get("source"), str) else None
    return Row(run.name, study_f1(configs / f"{run.name}.cfg"), dev, dev_file(run), test, source)


def collect(runs_dirs: Sequence[Path], configs: Path) -> List[Row]:
    """Rows for every study experiment (from configs/) and every run found."""
    rows: Dict[str, Row] = {}
    for config in sorted(configs.glob("*.cfg")):
        f1 = study_f1(config)
        if f1 is not None:
            rows[config.stem] = Row(config.stem, f1, None, None, None, None)
    for runs in runs_dirs:
        if not runs.is_dir():
            raise ResultsError(
                f"{runs}: no such folder. Pass the folder holding the runs (e.g. runs/)."
            )
        for run in sorted(p for p in runs.iterdir() if p.is_dir()):
            if (run / "model-best" / "meta.json").exists() or (run / "test-metrics.json").exists():
                rows[run.name] = read_run(run, configs)
    study = sorted(
        (r for r in rows.values() if r.study_f1 is not None),
        key=lambda r: (r.study_f1, r.experiment),
    )
    others = sorted((r for r in rows.values() if r.study_f1 is None), key=lambda r: r.experiment)
    return study + others


def _pct(value: Optional[float]) -> str:
    return "–" if value is None else f"{100 * value:.3f}"


def markdown(rows: Sequence[Row]) -> str:
    lines = [
        "| experiment | study test F1 | nerkit dev P | dev R | dev F1 | dev file | nerkit test P | test R | test F1 "
        "| test F1 − study |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        dev = r.dev or {}
        test = r.test or {}
        delta = (
            f"{100 * test['f1'] - r.study_f1:+.3f}"
            if r.test is not None and r.study_f1 is not None
            else "–"
        )
        lines.append(
            f"| `{r.experiment}` | {'–' if r.study_f1 is None else f'{r.study_f1:.3f}'} "
            f"| {_pct(dev.get('precision'))} | {_pct(dev.get('recall'))} | {_pct(dev.get('f1'))} "
            f"| {r.dev_file or '–'} "
            f"| {_pct(test.get('precision'))} | {_pct(test.get('recall'))} | {_pct(test.get('f1'))} | {delta} |"
        )
    sources = sorted({r.test_source for r in rows if r.test_source})
    lines += [
        "",
        "Scores in percent, strict micro P/R/F1. Dev: best dev F1 during training (model-best). "
        "The study's numbers are CMeEE test F1 (CBLUE leaderboard).",
    ]
    if sources:
        lines.append("Test scores from: " + "; ".join(sources) + ".")
    return "\n".join(lines) + "\n"


def record(
    run: Path, f1: float, precision: Optional[float], recall: Optional[float], source: str
) -> Path:
    """Write ``run/test-metrics.json`` from leaderboard percentages."""
    if not run.is_dir():
        raise ResultsError(f"--record {run}: no such run folder.")
    data: Dict[str, Any] = {}
    for key, value in (("precision", precision), ("recall", recall), ("f1", f1)):
        if value is None:
            continue
        if not 0.0 <= value <= 100.0:
            raise ResultsError(
                f"--{key} {value}: give the leaderboard's percentage, between 0 and 100."
            )
        data[key] = round(value / 100.0, 8)
    data["source"] = source
    out = run / "test-metrics.json"
    out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf8")
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "runs", type=Path, nargs="*", default=[Path("runs")], help="folders of runs (default: runs)"
    )
    parser.add_argument(
        "--configs", type=Path, default=REPO / "configs", help="folder of the experiment configs"
    )
    parser.add_argument("--output", type=Path, help="also write the table to this file")
    parser.add_argument(
        "--record",
        type=Path,
        metavar="RUN",
        help="write RUN/test-metrics.json from the values below",
    )
    parser.add_argument("--f1", type=float, help="test F1 in percent, as the leaderboard shows it")
    parser.add_argument("--precision", type=float, help="test precision in percent")
    parser.add_argument("--recall", type=float, help="test recall in percent")
    parser.add_argument(
        "--source", default="CBLUE leaderboard", help="where the test score comes from"
    )
    args = parser.parse_args(argv)
    try:
        if args.record is not None:
            if args.f1 is None:
                parser.error("--record needs at least --f1")
            out = record(args.record, args.f1, args.precision, args.recall, args.source)
            print(f"wrote {out}")
            return 0
        table = markdown(collect(args.runs, args.configs))
    except ResultsError as err:
        print(f"collect_results: {err}", file=sys.stderr)
        return 1
    print(table, end="")
    if args.output:
        args.output.write_text(table, encoding="utf8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
