"""Loggers: console table, JSONL format, optional backends through fake modules,
clear errors when a backend package is missing, composition from configs."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
import time
import types
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest
import torch
from confection import Config
from rich.console import Console

from nerkit.errors import ConfigError
from nerkit.registry import registry
from nerkit.training.loggers import (
    ConsoleLogger,
    JsonlLogger,
    Logger,
    MultiLogger,
    StepProgress,
)

ROW = {
    "epoch": 2,
    "step": 300,
    "loss": 0.123456,
    "precision": 0.654321,
    "recall": 0.6012,
    "f1": 0.62662,
    "score": 0.62662,
    "best": True,
    "seconds": 12.34,
}


def get(name: str):
    return registry.get("loggers", name)


def text_console(terminal: bool = False) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=terminal, width=120, color_system=None), buffer


# ---------------------------------------------------------------- console


def test_console_prints_header_once_and_rows_in_percent():
    console, out = text_console()
    logger = ConsoleLogger(progress_bar=True, console=console)
    logger.log_eval(ROW)
    logger.log_eval(
        {
            **ROW,
            "step": 600,
            "f1": 0.5,
            "precision": 0.5,
            "recall": 0.5,
            "best": False,
            "loss": None,
        }
    )
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["Epoch", "Step", "Loss", "P%", "R%", "F1%", "Time"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split() == [
        "2",
        "300",
        "0.1235",
        "65.43",
        "60.12",
        "62.66",
        "12.3s",
        "*",
        "best",
    ]
    assert lines[3].split() == ["2", "600", "-", "50.00", "50.00", "50.00", "12.3s"]
    assert len(lines) == 4


def test_console_off_terminal_keeps_step_lines_out_of_the_table():
    """Issue 13: redirected output; each evaluation row sits under a header, never under a step line."""
    console, out = text_console(terminal=False)
    logger = ConsoleLogger(progress_bar=True, console=console)
    logger.log_step(10, {"loss": 1.0})
    logger.log_eval(ROW)
    logger.log_eval({**ROW, "step": 400, "best": False})
    logger.log_step(410, {"loss": 0.5})
    logger.log_eval({**ROW, "step": 500, "best": False})
    lines = out.getvalue().splitlines()
    header = ConsoleLogger.header(logger).splitlines()
    assert lines == [
        "step 10  loss 1.0000",
        *header,
        logger.format_row(ROW),
        logger.format_row({**ROW, "step": 400, "best": False}),
        "step 410  loss 0.5000",
        *header,
        logger.format_row({**ROW, "step": 500, "best": False}),
    ]


def test_console_step_lines_without_a_bar_and_null_progress_off_terminal():
    console, out = text_console(terminal=False)
    logger = ConsoleLogger(progress_bar=True, console=console)
    progress = logger.progress(100)
    assert type(progress) is StepProgress
    progress.update(1, 0.5)
    progress.close()
    logger.log_step(50, {"epoch": 1, "loss": torch.tensor(0.25), "lr": 3e-5})
    assert out.getvalue().strip() == "step 50  epoch 1  loss 0.2500  lr 3.000e-05"
    assert (
        type(ConsoleLogger(progress_bar=False, console=text_console(True)[0]).progress(5))
        is StepProgress
    )


def test_console_progress_bar_on_terminal_hides_step_lines():
    console, out = text_console(terminal=True)
    logger = ConsoleLogger(progress_bar=True, console=console)
    with logger.progress(10, initial=2) as bar:
        assert type(bar) is not StepProgress
        bar.update(3, 1.23456)
        logger.log_step(5, {"loss": 1.0, "lr": 1e-3})  # shown by the bar, not printed
        task = bar._progress.tasks[0]
        assert (task.completed, task.total, task.fields["loss"]) == (5, 10, "1.2346")
    logger.close()
    text = out.getvalue()
    assert "5/10" in text and "loss 1.2346" in text and "step 5" not in text
    logger.log_step(6, {"loss": 1.0})  # bar closed: back to lines
    assert "step 6  loss 1.0000" in out.getvalue()


# ---------------------------------------------------------------- jsonl


def read_jsonl(path: Path) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf8").splitlines()]


def test_jsonl_exact_records_and_append(tmp_path):
    start = time.time()
    logger = get("nerkit.JsonlLogger.v1")(path="logs/run.jsonl")(tmp_path, {"x": 1})
    logger.log_step(10, {"epoch": 0, "loss": torch.tensor(1.5), "lr": np.float64(2e-5)})
    logger.log_eval({**ROW, "best": np.bool_(True), "step": np.int64(300)})
    logger.close()
    again = get("nerkit.JsonlLogger.v1")(path="logs/run.jsonl")(tmp_path, {})
    again.log_step(20, {"epoch": 1, "loss": 1.25, "lr": 1e-5, "grad_norm": 3.0})
    again.close()
    records = read_jsonl(tmp_path / "logs" / "run.jsonl")
    assert len(records) == 3
    for record in records:
        assert start - 1 <= record.pop("time") <= time.time() + 1
    assert records[0] == {"event": "step", "step": 10, "epoch": 0, "loss": 1.5, "lr": 2e-5}
    assert list(records[1]) == [
        "event",
        "step",
        "epoch",
        "loss",
        "precision",
        "recall",
        "f1",
        "best",
        "score",
        "seconds",
    ]
    assert records[1] == {
        "event": "eval",
        "step": 300,
        "epoch": 2,
        "loss": 0.123456,
        "precision": 0.654321,
        "recall": 0.6012,
        "f1": 0.62662,
        "best": True,
        "score": 0.62662,
        "seconds": 12.34,
    }
    assert records[2] == {
        "event": "step",
        "step": 20,
        "epoch": 1,
        "loss": 1.25,
        "lr": 1e-5,
        "grad_norm": 3.0,
    }


def test_jsonl_needs_an_output_dir():
    with pytest.raises(ConfigError, match="output directory"):
        get("nerkit.JsonlLogger.v1")()(None, {})


# ---------------------------------------------------------------- missing packages


@pytest.mark.parametrize(
    "name,module,package",
    [
        ("nerkit.TensorBoardLogger.v1", "torch.utils.tensorboard", "tensorboard"),
        ("nerkit.WandbLogger.v1", "wandb", "wandb"),
        ("nerkit.MLflowLogger.v1", "mlflow", "mlflow"),
    ],
)
def test_missing_backend_is_a_clear_config_error(monkeypatch, name, module, package):
    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail like a missing package
    with pytest.raises(ConfigError) as info:
        get(name)()
    message = str(info.value)
    assert f"needs the '{package}' package" in message
    assert f"pip install {package}" in message and "nerkit.ConsoleLogger.v1" in message
    assert name in message


@pytest.mark.skipif(
    importlib.util.find_spec("tensorboard") is not None, reason="tensorboard is installed"
)
def test_tensorboard_really_missing_here():
    with pytest.raises(ConfigError, match="pip install tensorboard"):
        get("nerkit.TensorBoardLogger.v1")()


# ---------------------------------------------------------------- fake backends


class Recorder:
    def __init__(self) -> None:
        self.calls: List[tuple] = []


def fake_tensorboard(rec: Recorder) -> types.ModuleType:
    module = types.ModuleType("torch.utils.tensorboard")

    class SummaryWriter:
        def __init__(self, log_dir: str) -> None:
            rec.calls.append(("init", log_dir))

        def add_scalar(self, tag, value, step):
            rec.calls.append(("scalar", tag, value, step))

        def add_text(self, tag, text, step):
            rec.calls.append(("text", tag, text, step))

        def flush(self):
            rec.calls.append(("flush",))

        def close(self):
            rec.calls.append(("close",))

    module.SummaryWriter = SummaryWriter
    return module


def test_tensorboard_logger_with_fake_module(monkeypatch, tmp_path):
    rec = Recorder()
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake_tensorboard(rec))
    logger = get("nerkit.TensorBoardLogger.v1")(log_dir="tb")(tmp_path, {"training": {"lr": 1e-3}})
    logger.log_step(5, {"epoch": 0, "loss": torch.tensor(2.0), "lr": 1e-3, "note": "x"})
    logger.log_eval(ROW)
    logger.close()
    assert rec.calls[0] == ("init", str(tmp_path / "tb"))
    assert rec.calls[1][:2] == ("text", "config") and '"lr": 0.001' in rec.calls[1][2]
    scalars = [c[1:] for c in rec.calls if c[0] == "scalar"]
    assert scalars == [
        ("train/epoch", 0.0, 5),
        ("train/loss", 2.0, 5),
        ("train/lr", 1e-3, 5),
        ("eval/loss", 0.123456, 300),
        ("eval/precision", 0.654321, 300),
        ("eval/recall", 0.6012, 300),
        ("eval/f1", 0.62662, 300),
        ("eval/score", 0.62662, 300),
    ]
    assert rec.calls[-2:] == [("flush",), ("close",)]


def fake_wandb(rec: Recorder) -> types.ModuleType:
    module = types.ModuleType("wandb")

    class Run:
        def __init__(self) -> None:
            self.summary: Dict[str, Any] = {}

        def log(self, values, step):
            rec.calls.append(("log", values, step))

        def finish(self):
            rec.calls.append(("finish", dict(self.summary)))

    def init(**kwargs):
        rec.calls.append(("init", kwargs))
        return Run()

    module.init = init
    return module


def test_wandb_logger_with_fake_module(monkeypatch, tmp_path):
    rec = Recorder()
    monkeypatch.setitem(sys.modules, "wandb", fake_wandb(rec))
    logger = get("nerkit.WandbLogger.v1")(project="p", run_name="r1")(tmp_path, {"a": 1})
    logger.log_step(5, {"loss": 2.0, "lr": 1e-3})
    logger.log_eval({**ROW, "best": False, "f1": 0.1})
    logger.log_eval(ROW)
    logger.close()
    assert rec.calls[0] == (
        "init",
        {"project": "p", "name": "r1", "config": {"a": 1}, "dir": str(tmp_path)},
    )
    assert rec.calls[1] == ("log", {"train/loss": 2.0, "train/lr": 1e-3}, 5)
    assert rec.calls[2][1]["eval/f1"] == 0.1 and rec.calls[2][2] == 300
    assert rec.calls[-1] == (
        "finish",
        {
            "best_f1": 0.62662,
            "best_precision": 0.654321,
            "best_recall": 0.6012,
            "best_score": 0.62662,
            "best_step": 300,
        },
    )


def fake_mlflow(rec: Recorder) -> types.ModuleType:
    module = types.ModuleType("mlflow")
    for name in (
        "set_tracking_uri",
        "set_experiment",
        "start_run",
        "log_params",
        "log_metrics",
        "end_run",
    ):

        def call(*args, _name=name, **kwargs):
            rec.calls.append((_name, args, kwargs))

        setattr(module, name, call)
    return module


def test_mlflow_logger_with_fake_module(monkeypatch):
    rec = Recorder()
    monkeypatch.setitem(sys.modules, "mlflow", fake_mlflow(rec))
    config = {
        "training": {"optimizer": {"lr": 1e-3}, "long": "x" * 600},
        **{f"k{i}": i for i in range(150)},
    }
    logger = get("nerkit.MLflowLogger.v1")(experiment="exp", tracking_uri="file:/tmp/m")(
        None, config
    )
    logger.log_step(7, {"loss": 1.0, "lr": 2e-5, "epoch": 1})
    logger.log_eval(ROW)
    logger.close()
    names = [c[0] for c in rec.calls]
    assert names == [
        "set_tracking_uri",
        "set_experiment",
        "start_run",
        "log_params",
        "log_params",
        "log_metrics",
        "log_metrics",
        "end_run",
    ]
    assert rec.calls[0][1] == ("file:/tmp/m",) and rec.calls[1][1] == ("exp",)
    params = {**rec.calls[3][1][0], **rec.calls[4][1][0]}
    assert len(rec.calls[3][1][0]) == 100 and len(params) == 152
    assert params["training.optimizer.lr"] == "0.001" and len(params["training.long"]) == 500
    assert rec.calls[5][1] == ({"train/loss": 1.0, "train/lr": 2e-5, "train/epoch": 1.0},)
    assert rec.calls[5][2] == {"step": 7}
    assert rec.calls[6][1][0]["eval/f1"] == 0.62662 and rec.calls[6][2] == {"step": 300}


# ---------------------------------------------------------------- composition


class ListLogger(Logger):
    def __init__(self, events: List, name: str, fail_close: bool = False) -> None:
        self.events, self.name, self.fail_close = events, name, fail_close

    def log_step(self, step, values):
        self.events.append((self.name, "step", step))

    def log_eval(self, row):
        self.events.append((self.name, "eval", row["step"]))

    def close(self):
        self.events.append((self.name, "close"))
        if self.fail_close:
            raise RuntimeError(f"{self.name} failed")


def test_multi_logger_forwards_in_order_and_closes_all():
    events: List = []
    multi = MultiLogger([ListLogger(events, "a", fail_close=True), ListLogger(events, "b")])
    multi.log_step(1, {"loss": 1.0})
    multi.log_eval(ROW)
    with multi.progress(10) as bar:
        bar.update(1, 0.5)
    with pytest.raises(RuntimeError, match="a failed"):
        multi.close()
    assert events == [
        ("a", "step", 1),
        ("b", "step", 1),
        ("a", "eval", 300),
        ("b", "eval", 300),
        ("a", "close"),
        ("b", "close"),
    ]


def test_default_loggers_config_with_extra_block(monkeypatch, tmp_path):
    rec = Recorder()
    monkeypatch.setitem(sys.modules, "wandb", fake_wandb(rec))
    cfg = Config().from_str(
        """
        [logger]
        @loggers = "nerkit.DefaultLoggers.v1"
        progress_bar = false

        [logger.extra]

        [logger.extra.wandb]
        @loggers = "nerkit.WandbLogger.v1"
        project = "cmeee"
        """
    )
    build = registry.resolve(cfg)["logger"]
    logger = build(tmp_path, {})
    kinds = [type(child).__name__ for child in logger.loggers]
    assert kinds == ["ConsoleLogger", "JsonlLogger", "WandbLogger"]
    logger.log_step(3, {"epoch": 0, "loss": 1.0, "lr": 1e-4})
    logger.close()
    assert read_jsonl(tmp_path / "log.jsonl")[0]["step"] == 3
    assert rec.calls[0][1]["project"] == "cmeee" and rec.calls[-1][0] == "finish"
    # without an output directory there is nowhere to write the JSONL file
    no_dir = build(None, {})
    assert [type(c).__name__ for c in no_dir.loggers] == ["ConsoleLogger", "WandbLogger"]
    with pytest.raises(ConfigError, match=r"\[training.logger.extra.bad\]"):
        get("nerkit.DefaultLoggers.v1")(extra={"bad": 3})


def test_multi_logger_config_with_star_sections(tmp_path):
    cfg = Config().from_str(
        """
        [logger]
        @loggers = "nerkit.MultiLogger.v1"

        [logger.*.console]
        @loggers = "nerkit.ConsoleLogger.v1"
        progress_bar = false

        [logger.*.jsonl]
        @loggers = "nerkit.JsonlLogger.v1"
        path = "events.jsonl"
        """
    )
    logger = registry.resolve(cfg)["logger"](tmp_path, {})
    assert [type(c) for c in logger.loggers] == [ConsoleLogger, JsonlLogger]
    logger.log_eval(ROW)
    logger.close()
    assert read_jsonl(tmp_path / "events.jsonl")[0]["event"] == "eval"
