"""nerkit sweep: the summary's statistics (hand-computed), bad [sweep] sections, claims that
never share a grid point, and a sweep that resumes a killed trial with two workers."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nerkit.cli.main import app
from nerkit.errors import ConfigError

from .conftest import FAST, QUICKSTART

optuna = pytest.importorskip("optuna", reason="nerkit sweep needs optuna (pip install -e '.[dev]')")

from nerkit.sweep import engine  # noqa: E402
from nerkit.sweep.plan import load_plan  # noqa: E402
from nerkit.sweep.summary import format_summary, mean_sd, setting_rows  # noqa: E402

runner = CliRunner()

# Trials of two optimizer steps (16 records, batch 8, one epoch), evaluated after each step.
TINY = {
    **FAST,
    "corpora.max_train_records": 16,
    "corpora.max_dev_records": 8,
    "training.max_epochs": 1,
    "training.eval_frequency": 1,
    "training.logger": {"@loggers": "nerkit.DefaultLoggers.v1", "progress_bar": False},
}
GRID = """
[sweep.choices]
training.optimizer.learning_rate = [0.004, 0.008]
system.seed = [13, 14]
"""


def sweep_config(tmp_path: Path, body: str = GRID, name: str = "sweep.cfg") -> Path:
    path = tmp_path / name
    path.write_text(f'[nerkit]\nextends = "{QUICKSTART}"\n{body}', encoding="utf8")
    return path


def test_summary_rows_mean_sd_count_best_first():
    def t(run, lr, seed, value, state="complete"):
        params = {"lr": lr, "system.seed": seed}
        return {"run": run, "params": params, "value": value, "state": state}

    trials = [
        t(0, 0.1, 1, 0.5),
        t(1, 0.1, 2, 0.6),
        t(2, 0.1, 3, 0.8),
        t(3, 0.2, 1, 0.7),
        t(4, 0.2, 2, 0.7),
        t(5, 0.3, 1, 0.9),
        t(6, 0.3, 2, 0.2, "pruned"),
        t(7, 0.3, 3, None, "failed"),
    ]
    rows = setting_rows(trials, ["lr", "system.seed"], "system.seed", "maximize")
    assert [r["params"] for r in rows] == [{"lr": 0.3}, {"lr": 0.2}, {"lr": 0.1}]
    assert [r["count"] for r in rows] == [1, 2, 3]
    assert rows[0]["mean"] == 0.9 and rows[0]["sd"] is None and rows[0]["pruned"] == 1
    assert rows[1]["mean"] == pytest.approx(0.7) and rows[1]["sd"] == pytest.approx(0.0)
    # 0.5, 0.6, 0.8: mean 1.9 / 3; squared deviations 0.0544.. + 0.0011.. + 0.0277.. = 0.04667
    assert rows[2]["mean"] == pytest.approx(0.633333333)
    assert rows[2]["sd"] == pytest.approx((0.0466667 / 2) ** 0.5, rel=1e-4)
    assert rows[2]["seeds"] == [1, 2, 3] and rows[2]["best_run"] == 2
    assert mean_sd([2.0, 4.0]) == (3.0, pytest.approx(2**0.5))
    low_first = setting_rows(trials, ["lr", "system.seed"], "system.seed", "minimize")
    assert [r["params"]["lr"] for r in low_first] == [0.1, 0.2, 0.3]
    table = format_summary(rows, trials, ["lr", "system.seed"], "system.seed", "f1", "maximize")
    assert "| 0.1 | 63.33 | 15.28 | 3 | 80.00 | 0002 |" in table
    assert "| 0006 | pruned | 0.3 | 2 | 20.00 |" in table


@pytest.mark.parametrize(
    "body, message",
    [
        (
            "[sweep.choices]\ntraining.optimizer.layer_decay = [0.8, 0.9]\n",
            "did you mean 'layerwise_decay'",
        ),
        ("[sweep.choices]\ntrainng.max_epochs = [1, 2]\n", "no setting 'trainng'"),
        ("[sweep.choices]\nsystem.seed = []\n", "values is empty"),
        ('[sweep]\nmetric = "f1"\n', "varies nothing"),
        ('[sweep]\nmetrc = "f1"\n\n[sweep.choices]\nsystem.seed = [1]\n', "did you mean 'metric'"),
        ("[sweep.choices]\ntraining.batch_size = [8, 0]\n", "training.batch_size = 0"),
        ("[sweep.choices]\ntraining.optimizer = [1, 2]\n", "names the section"),
        (
            '[sweep.space.lr]\n@spaces = "nerkit.FloatRange.v1"\nkey = "training.optimizer.learning_rate"\nlow = 0.001\nhigh = 0.01\nlog = true\n',
            "grid sampler needs finite spaces",
        ),
        ("", "no [sweep] section"),
    ],
)
def test_bad_sweep_sections_fail_before_any_training(tmp_path, body, message):
    cfg = sweep_config(tmp_path, body)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_plan(cfg, TINY)
    out = tmp_path / "out"
    result = runner.invoke(app, ["sweep", str(cfg), "--output", str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert not (out / "trials").exists()


@pytest.mark.parametrize(
    "url",
    ["sqlite:////nonexistent-folder/x/sweep.db", "postgresql://u:p@127.0.0.1:9/db", "nonsense"],
)
def test_an_unreachable_storage_is_one_message(tmp_path, url):
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["sweep", str(sweep_config(tmp_path)), "--output", str(out), "--storage", url]
    )
    assert result.exit_code == 1, result.output
    assert "can't open the study storage" in result.output and "Traceback" not in result.output
    assert not (out / "trials").exists()


def _claim_all(plan, output, url, record) -> None:
    study = engine.open_study(plan, engine.open_storage(url))
    claimed = []
    while True:
        with engine.claim_lock(output):
            trial = engine.claim(study, plan)
        if trial is None:
            break
        claimed.append(trial.user_attrs["point"])
        study.tell(trial.number, 0.5)
    Path(record).write_text(json.dumps(claimed))


def test_two_workers_never_claim_the_same_grid_point(tmp_path):
    body = "[sweep.choices]\ntraining.optimizer.learning_rate = [0.001, 0.002, 0.004, 0.008]\nsystem.seed = [1, 2, 3]\n"
    plan = load_plan(sweep_config(tmp_path, body), TINY)
    url = engine.default_storage(tmp_path)
    study = engine.open_study(plan, engine.open_storage(url))
    assert engine.queue_grid(study, plan) == 12
    assert engine.queue_grid(study, plan) == 0  # queued points are not queued again
    fork = multiprocessing.get_context("fork")
    records = [tmp_path / f"claims{i}.json" for i in range(3)]
    procs = [fork.Process(target=_claim_all, args=(plan, tmp_path, url, r)) for r in records]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    claimed = [point for r in records for point in json.loads(r.read_text())]
    assert sorted(claimed) == list(range(12))
    # A second copy of a finished point (a race between hosts) is dropped, never run.
    study.enqueue_trial(plan.points()[5], user_attrs={"point": 5, "run": 5})
    with engine.claim_lock(tmp_path):
        assert engine.claim(study, plan) is None
    dropped = [t for t in study.get_trials() if t.user_attrs.get("outcome") == "duplicate"]
    assert [t.user_attrs["point"] for t in dropped] == [5]


def test_a_killed_trial_resumes_and_two_workers_finish_the_grid(tmp_path):
    from nerkit.plot import plot_sweep
    from nerkit.training.loop import Trainer

    body = "[sweep.choices]\ntraining.optimizer.learning_rate = [0.008]\nsystem.seed = [13, 14]\n"
    plan = load_plan(sweep_config(tmp_path, body), TINY)
    out = tmp_path / "sweep"
    out.mkdir()
    url = engine.default_storage(out)
    study = engine.open_study(plan, engine.open_storage(url))
    engine.queue_grid(study, plan)
    with engine.claim_lock(out):
        killed = engine.claim(study, plan)  # point 0, as a worker claims it
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    killed.set_user_attr("pid", dead.pid)  # ... whose process then died after one step:
    first = engine.trial_dir(out, 0)
    with pytest.raises(KeyboardInterrupt):
        Trainer(plan.trial_config(killed.params), first, stop_after_steps=1).run()
    assert (first / "model-last" / "training_state").exists()

    result = engine.run_sweep(plan, out, workers=2, echo=lambda line: None)
    assert result["started"] == 2
    trials = study.get_trials()
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(t.user_attrs["point"] for t in done) == [0, 1]
    assert [t.user_attrs.get("outcome") for t in trials if t.number == killed.number] == ["killed"]
    results = {
        r: json.loads((engine.trial_dir(out, r) / "result.json").read_text()) for r in (0, 1)
    }
    assert results[0]["resumed"] and not results[1]["resumed"]
    evals = [json.loads(x) for x in (first / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals if e["event"] == "eval"] == [1, 2]  # step 1, resumed: 2
    (a0, a1), (b0, b1) = sorted((r["started"], r["ended"]) for r in results.values())
    assert b0 < a1, "the two trials ran at once"
    for r in (0, 1):
        d = engine.trial_dir(out, r)
        assert (d / "config.cfg").exists() and (d / "model-best" / "model.safetensors").exists()

    (row,) = [json.loads(line) for line in (out / "summary.jsonl").read_text().splitlines()]
    values = [results[0]["value"], results[1]["value"]]
    assert row["count"] == 2 and row["seeds"] == [13, 14] and row["values"] == values
    assert row["mean"] == pytest.approx(sum(values) / 2)
    assert row["sd"] == pytest.approx(abs(values[0] - values[1]) / 2**0.5)
    assert "| trial | state |" in (out / "summary.md").read_text()

    again = engine.run_sweep(plan, out, workers=2, echo=lambda line: None)
    assert again["started"] == 0 and len(study.get_trials()) == len(trials)
    assert plot_sweep(out, tmp_path / "sweep.png").stat().st_size > 1000


@pytest.mark.parametrize("name, size", [("llrd.cfg", 9), ("quickstart.cfg", 4)])
def test_the_sweep_configs_plan_their_grids(name, size):
    from nerkit.config import load_config

    from .conftest import CORPUS, ROOT, TINY_BERT

    path = ROOT / "configs" / "sweeps" / name
    stand_ins = {"train": CORPUS / "train.json", "dev": CORPUS / "dev.json"}
    stand_ins.update(bert=TINY_BERT, encoder=TINY_BERT)
    written = load_config(path)["paths"]
    plan = load_plan(path, {f"paths.{k}": str(v) for k, v in stand_ins.items() if k in written})
    assert plan.sampler.grid and plan.trials == size == len(plan.points())
    assert plan.seed_key in plan.keys and plan.metric == "f1" and plan.direction == "maximize"
    if name == "llrd.cfg":
        decays = sorted({p["training.optimizer.layerwise_decay"] for p in plan.points()})
        assert decays == [0.8, 0.9, 0.95]
        cfg = plan.trial_config(plan.points()[0])
        assert cfg["training"]["optimizer"]["layerwise_decay"] == 0.8 and "sweep" not in cfg


def test_the_reporter_prunes_a_trial_below_the_median():
    from nerkit.sweep.trial import Reporter, TrialPruned

    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1)
    )
    good = study.ask()
    Reporter(good, "f1").log_eval({"step": 5, "f1": 0.8})
    study.tell(good, 0.8)
    bad = study.ask()
    with pytest.raises(TrialPruned, match="step 5"):
        Reporter(bad, "f1").log_eval({"step": 5, "f1": 0.2})
    fine = study.ask()
    Reporter(fine, "f1").log_eval({"step": 5, "f1": 0.9})  # above the median: runs on


def test_a_folder_holds_one_sweep(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    first = load_plan(sweep_config(tmp_path), TINY)
    engine._write_plan(first, out)
    engine._write_plan(first, out)  # the same sweep again: continued
    other = load_plan(sweep_config(tmp_path, GRID.replace("0.008", "0.01"), "b.cfg"), TINY)
    with pytest.raises(ConfigError, match="holds another sweep"):
        engine._write_plan(other, out)
