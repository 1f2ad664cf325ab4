"""A sweep's plan: its ``[sweep]`` section read and checked, and each trial's config.

This is the only module of the sweep that uses :mod:`nerkit.config`: it reads the config
file with the command line's overrides, takes ``[sweep]`` out, and builds a trial's config
as the base config with the trial's values applied as overrides (``--section.key value``,
so a trial is exactly what ``nerkit train CONFIG --section.key value`` would run).
Everything is checked before any training: each swept key names a setting of the config,
every space has a value, and the config is valid at every grid point (or at the bounds of
each range).
"""

from __future__ import annotations

import difflib
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Sequence

from confection import Config

from ..errors import ConfigError
from .components import Sampler, Space, choice, grid_points

SECTION = "sweep"
DIRECTIONS = ("maximize", "minimize")
METRICS = ("f1", "precision", "recall", "loss")
SETTINGS = ("metric", "direction", "trials", "study", "seed_key", "sampler", "pruner")
SETTINGS += ("choices", "space")
DEFAULT_SAMPLER = {"@samplers": "nerkit.GridSampler.v1"}
DEFAULT_PRUNER = {"@pruners": "nerkit.NoPruner.v1"}


@dataclass
class SweepPlan:
    """What ``nerkit sweep CONFIG [--section.key value ...]`` runs."""

    config_path: Path
    overrides: Dict[str, Any]  # the command line's, applied to every trial
    metric: str
    direction: str
    trials: int  # trials to finish (grid: the number of points)
    study: str
    seed_key: str  # the seed axis: the summary averages over it
    sampler: Sampler
    pruner: Any  # () -> an Optuna pruner
    spaces: List[Space]
    section: Dict[str, Any] = field(default_factory=dict)  # [sweep] as written

    @property
    def keys(self) -> List[str]:
        return [space.key for space in self.spaces]

    def points(self) -> List[Dict[str, Any]]:
        """The grid's points (grid sampler only)."""
        return grid_points(self.spaces)

    def trial_config(self, params: Dict[str, Any]) -> Config:
        """The config of one trial: the base config with ``params`` as overrides."""
        return trial_config(self.config_path, {**self.overrides, **params})


def parse_cli_overrides(args: Sequence[str]) -> Dict[str, Any]:
    from ..config import parse_overrides

    return parse_overrides(args)


def _load(path: Path, overrides: Dict[str, Any]) -> Config:
    from ..config import load_config

    return load_config(path, overrides, strict_paths=True)


def trial_config(path: Path, overrides: Dict[str, Any]) -> Config:
    """The config file with ``overrides`` applied and without its ``[sweep]`` section."""
    cfg = _load(path, overrides)
    return Config({k: v for k, v in cfg.items() if k != SECTION}, is_interpolated=False)


def write_config(cfg: Config, path: Path) -> None:
    """A trial's config as ``nerkit train`` would read it (references filled in)."""
    from ..config import interpolated

    interpolated(cfg).to_disk(path)


def load_plan(path: Path, overrides: Dict[str, Any]) -> SweepPlan:
    """Read and check the sweep of ``path``: one ConfigError listing every problem."""
    from ..config import filled_config, resolve_section
    from ..training.initialize import resolve_run

    cfg = _load(path, overrides)
    if SECTION not in cfg:
        raise ConfigError(
            f"{path} has no [sweep] section: nerkit sweep needs one naming what to vary, e.g.\n"
            "  [sweep.choices]\n  training.optimizer.layerwise_decay = [0.8, 0.9, 0.95]\n"
            "  system.seed = [13, 14, 15]\n(see docs/sweeps.md)."
        )
    raw = cfg[SECTION]
    unknown = [k for k in raw if k not in SETTINGS]
    if unknown:
        raise ConfigError(
            "; ".join(
                f"sweep.{k}: unknown setting{_suggest(k, SETTINGS)}. Settings of [sweep]: "
                + ", ".join(SETTINGS)
                for k in unknown
            )
        )
    section = {
        "sampler": raw.get("sampler", DEFAULT_SAMPLER),
        "pruner": raw.get("pruner", DEFAULT_PRUNER),
        "space": raw.get("space", {}),
    }
    resolved = resolve_section(Config({SECTION: section}), SECTION)
    spaces: List[Space] = [
        choice(key, values if isinstance(values, list) else [values])
        for key, values in (raw.get("choices") or {}).items()
    ]
    for name, space in (resolved.get("space") or {}).items():
        if not isinstance(space, Space):
            raise ConfigError(
                f"[sweep.space.{name}] must be a search space block with @spaces = "
                f'"..." (e.g. nerkit.FloatRange.v1), got {space!r}.'
            )
        spaces.append(space)
    plan = SweepPlan(
        config_path=Path(path),
        overrides=dict(overrides),
        metric=_setting(raw, "metric", "f1", str),
        direction=_setting(raw, "direction", "maximize", str),
        trials=_setting(raw, "trials", 0, int),
        study=_setting(raw, "study", "nerkit-sweep", str),
        seed_key=_setting(raw, "seed_key", "system.seed", str),
        sampler=resolved["sampler"],
        pruner=resolved["pruner"],
        spaces=spaces,
        section=_plain(raw),
    )
    _check_plan(plan)
    base = trial_config(plan.config_path, plan.overrides)
    _check_keys(plan, filled_config(base))
    problems = []
    for params in _checked_points(plan):
        try:  # each checked point as `nerkit train` will take it: validated, nothing built
            resolve_run(plan.trial_config(params), sections=(), check_files=False)
        except ConfigError as err:
            where = ", ".join(f"{k} = {v!r}" for k, v in params.items())
            problems.append(f"at {where}: {err}")
            break  # one is enough: the others would repeat it
    if problems:
        raise ConfigError(f"[sweep] gives an invalid config {problems[0]}")
    resolve_run(base, sections=())  # every missing corpus and model file at once
    return plan


def _setting(raw: Dict[str, Any], key: str, default: Any, kind: type) -> Any:
    value = raw.get(key, default)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ConfigError(
            f"sweep.{key}: expected {kind.__name__}, got {value!r}. Fix it in the config or with "
            f"--sweep.{key} VALUE."
        )
    return value


def _check_plan(plan: SweepPlan) -> None:
    if not plan.spaces:
        raise ConfigError(
            "[sweep] varies nothing: add [sweep.choices] (setting = [values]) or a "
            '[sweep.space.NAME] block (e.g. @spaces = "nerkit.FloatRange.v1").'
        )
    seen = set()
    for space in plan.spaces:
        if space.key in seen:
            raise ConfigError(f"[sweep]: {space.key} is swept twice; name each setting once.")
        seen.add(space.key)
    if plan.direction not in DIRECTIONS:
        raise ConfigError(
            f"sweep.direction: expected maximize or minimize, got {plan.direction!r}."
        )
    if plan.metric not in METRICS:
        raise ConfigError(
            f"sweep.metric: expected one of {', '.join(METRICS)} (a dev evaluation's value), "
            f"got {plan.metric!r}{_suggest(plan.metric, METRICS)}."
        )
    if plan.trials < 0:
        raise ConfigError(f"sweep.trials: must be at least 0, got {plan.trials}.")
    if plan.sampler.grid:
        continuous = [s.describe() for s in plan.spaces if s.grid() is None]
        if continuous:
            raise ConfigError(
                "The grid sampler needs finite spaces, but these are continuous: "
                + "; ".join(continuous)
                + ". Give them a step, list their values in [sweep.choices], or use "
                '@samplers = "nerkit.RandomSampler.v1" / "nerkit.TPESampler.v1".'
            )
        empty = [s.key for s in plan.spaces if not s.grid()]
        if empty:
            raise ConfigError(f"[sweep]: the space of {', '.join(empty)} has no value.")
        size = len(plan.points())
        if plan.trials and plan.trials != size:
            raise ConfigError(
                f"sweep.trials = {plan.trials}, but the grid has {size} points, each run once. "
                "Leave trials at 0 with the grid sampler."
            )
        plan.trials = size
    elif plan.trials == 0:
        raise ConfigError(
            f"sweep.trials: the {plan.sampler.name} sampler needs a number of trials, e.g. "
            "--sweep.trials 20 (0 means the grid's size, for the grid sampler only)."
        )


def _check_keys(plan: SweepPlan, filled: Config) -> None:
    """Each swept key names a setting the config has (its written or default value)."""
    data = dict(filled)
    problems = []
    for key in plan.keys:
        node: Any = data
        parts = key.split(".")
        for i, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                where = ".".join(parts[:i]) or "(top)"
                options = sorted(node) if isinstance(node, dict) else []
                problems.append(
                    f"[sweep] {key}: the config has no setting '{part}' in [{where}]"
                    f"{_suggest(part, options)}. Settings there: {', '.join(options) or '(none)'}."
                )
                break
            node = node[part]
        else:
            if isinstance(node, dict):
                problems.append(
                    f"[sweep] {key}: names the section [{key}], not a setting; sweep one of its "
                    f"settings ({', '.join(sorted(node))})."
                )
    if problems:
        raise ConfigError(problems[0] if len(problems) == 1 else "\n  - ".join(["", *problems]))


def _checked_points(plan: SweepPlan) -> List[Dict[str, Any]]:
    """The grid's points (at most 64 of them), or every combination of the spaces' bounds."""
    if plan.sampler.grid:
        return plan.points()[:64]
    combos = itertools.product(*(space.bounds() for space in plan.spaces))
    return [dict(zip(plan.keys, combo, strict=True)) for combo in itertools.islice(combos, 64)]


def _suggest(name: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    return node


def resolve_pruner(section: Dict[str, Any]) -> Any:
    """The pruner factory of a ``[sweep]`` section written to sweep.json (a trial process)."""
    from ..config import resolve_section

    block = {"pruner": section.get("pruner", DEFAULT_PRUNER)}
    return resolve_section(Config({SECTION: block}), SECTION)["pruner"]
