"""Training-curve plots from run logs: parsing, errors, and the drawn PNG."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import matplotlib
import matplotlib.image
import numpy as np
import pytest

from nerkit.errors import ConfigError, DataError
from nerkit.plot import (
    DPI,
    FIGSIZE,
    RunLogNotFoundError,
    _ema,
    _run_names,
    plot_runs,
    read_run_log,
)


def write_run(run_dir: Path, n_steps: int = 120, rate: float = 1.0) -> Path:
    """A synthetic run: loss decaying over n_steps * 10 steps, an eval every 200 steps."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = [{"event": "start", "config": "x.cfg"}]  # other events are ignored
    for i in range(n_steps):
        step = i * 10
        lines.append(
            {
                "event": "step",
                "step": step,
                "epoch": step // 400,
                "loss": 5 * math.exp(-rate * i / 40) + 0.1,
                "lr": 5e-5,
                "time": i * 0.5,
            }
        )
        if step and step % 200 == 0:
            f1 = 0.8 * (1 - math.exp(-rate * step / 500))
            lines.append(
                {
                    "event": "eval",
                    "step": step,
                    "epoch": step // 400,
                    "loss": 0.5,
                    "precision": f1 + 0.02,
                    "recall": f1 - 0.02,
                    "f1": f1,
                    "best": True,
                    "time": i * 0.5,
                }
            )
    (run_dir / "log.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), "utf-8")
    return run_dir


def png_size(path: Path) -> tuple:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def colour_pixels(rgb: np.ndarray, hex_colour: str, tol: float = 0.06) -> int:
    target = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(rgb - target).max(axis=-1) < tol).sum())


def test_read_run_log_values(tmp_path):
    log = tmp_path / "run" / "log.jsonl"
    log.parent.mkdir()
    log.write_text(
        '{"event": "step", "step": 1, "epoch": 0, "loss": 2.5, "lr": 0.1, "time": 1}\n'
        '{"event": "note", "text": "ignored"}\n'
        '{"event": "step", "step": 2, "epoch": 0, "loss": null, "lr": 0.05, "time": 2}\n'
        '{"event": "eval", "step": 2, "epoch": 0, "loss": 1.0, "precision": 0.5, '
        '"recall": 0.25, "f1": 0.3333, "best": true, "time": 3}\n',
        "utf-8",
    )
    run = read_run_log(log.parent)
    assert run.name == "run" and run.path == log
    np.testing.assert_array_equal(run.step["step"], [1, 2])
    assert run.step["loss"][0] == 2.5 and math.isnan(run.step["loss"][1])
    np.testing.assert_array_equal(run.step["lr"], [0.1, 0.05])
    np.testing.assert_array_equal(run.eval["precision"], [0.5])
    np.testing.assert_array_equal(run.eval["recall"], [0.25])
    np.testing.assert_array_equal(run.eval["best"], [1.0])
    assert read_run_log(log, name="given").name == "given"


def test_resumed_run_replaces_repeated_steps(tmp_path):
    rows = [(10, 3.0), (20, 2.0), (30, 1.5), (20, 1.9), (30, 1.4), (40, 1.2)]  # resumed at 10
    (tmp_path / "log.jsonl").write_text(
        "".join(json.dumps({"event": "step", "step": s, "loss": v}) + "\n" for s, v in rows),
        "utf-8",
    )
    run = read_run_log(tmp_path)
    np.testing.assert_array_equal(run.step["step"], [10, 20, 30, 40])
    np.testing.assert_array_equal(run.step["loss"], [3.0, 1.9, 1.4, 1.2])
    assert np.isnan(run.step["lr"]).all()  # optional fields absent -> NaN


def test_real_logger_output_is_readable(tmp_path):
    from nerkit.training.loggers import JsonlLogger

    logger = JsonlLogger(tmp_path / "log.jsonl")
    logger.log_step(5, {"loss": 2.0, "lr": 1e-3, "epoch": 0, "note": "text"})
    logger.log_eval(
        {
            "step": 5,
            "epoch": 0,
            "loss": None,
            "precision": 0.5,
            "recall": 0.4,
            "f1": 0.4444,
            "score": 0.4444,
            "best": True,
            "seconds": 1.0,
        }
    )
    logger.close()
    run = read_run_log(tmp_path)
    np.testing.assert_array_equal(run.step["loss"], [2.0])
    np.testing.assert_array_equal(run.eval["f1"], [0.4444])
    assert np.isnan(run.eval["loss"]).all()


def test_ema_hand_computed():
    # weight 0.5: (0.5*1)/0.5 = 1; (0.25 + 1.5)/0.75 = 7/3; NaN passes through
    out = _ema(np.array([1.0, 3.0, math.nan, 3.0]), 0.5)
    assert out[0] == pytest.approx(1.0)
    assert out[1] == pytest.approx(7 / 3)
    assert math.isnan(out[2])
    assert out[3] == pytest.approx((0.875 + 1.5) / 0.875)


def test_run_names_unique():
    assert _run_names([Path("/x/a/run"), Path("/x/b/run")]) == ["a/run", "b/run"]
    assert _run_names([Path("/x/lebert"), Path("/x/bert")]) == ["lebert", "bert"]


def test_plot_two_runs_png(tmp_path):
    a = write_run(tmp_path / "bert-crf", rate=1.0)
    b = write_run(tmp_path / "lebert", rate=1.5)
    out = plot_runs([a, b], tmp_path / "plots" / "curves.png")
    assert out == tmp_path / "plots" / "curves.png"
    width, height = png_size(out)
    assert (width, height) == (int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI))

    rgb = matplotlib.image.imread(out)[..., :3]
    assert rgb.shape == (height, width, 3)
    # Inside both panels' plot areas something was drawn on the white background.
    for panel in (rgb[60:380, 100:580], rgb[60:380, 700:1160]):
        assert (panel.min(axis=-1) < 0.9).mean() > 0.01
    # Both runs' colours (matplotlib's C0 and C1) appear in both panels.
    for half in (rgb[:, : width // 2], rgb[:, width // 2 :]):
        assert colour_pixels(half, "#1f77b4") > 200
        assert colour_pixels(half, "#ff7f0e") > 200


def test_plot_labels_in_legend(tmp_path):
    a = write_run(tmp_path / "r1", n_steps=10)  # few steps: unsmoothed markers
    b = write_run(tmp_path / "r2", n_steps=10)
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # keep text as text
        out = plot_runs([a, b], tmp_path / "c.svg", labels=["baseline", "with lexicon"])
    svg = out.read_text("utf-8")
    assert "baseline" in svg and "with lexicon" in svg and "best F1" in svg


def test_plot_run_without_evals(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "log.jsonl").write_text(
        "".join(
            json.dumps(
                {"event": "step", "step": s, "epoch": 0, "loss": 1 / (s + 1), "lr": 0.1, "time": s}
            )
            + "\n"
            for s in range(5)
        ),
        "utf-8",
    )
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        svg = plot_runs([run], tmp_path / "c.svg").read_text("utf-8")
    assert "no eval events" in svg


def test_missing_log_names_path_and_writer(tmp_path):
    with pytest.raises(RunLogNotFoundError) as err:
        plot_runs([tmp_path / "nowhere"], tmp_path / "x.png")
    msg = str(err.value)
    assert str(tmp_path / "nowhere" / "log.jsonl") in msg
    assert "nerkit train" in msg and "JSON Lines" in msg
    assert isinstance(err.value, FileNotFoundError)
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    "content, expected",
    [
        (
            '{"event": "step", "step": 1, "loss": 1.0}\n\n{"event": "step", "step": 2, "loss": 1.0}\n',
            "line 2 is empty",
        ),
        (
            '{"event": "step", "step": 1, "loss": 1.0}\n{"event": "step", "step": 2, "lo',
            "line 2 is not valid JSON",
        ),
        ("[1, 2]\n", "line 1 holds a JSON list"),
        (
            '{"event": "eval", "step": 1, "precision": 0.5, "recall": 0.5}\n',
            'line 1: the "eval" event has no "f1" field',
        ),
        ('{"event": "step", "step": "ten", "loss": 1.0}\n', 'line 1: "step" must be a number'),
        (
            '{"event": "eval", "step": 1, "precision": 85.0, "recall": 0.5, "f1": 0.5}\n',
            '"precision" is 85.0, outside [0, 1]',
        ),
        ("", "has no step or eval events"),
        ('{"event": "start"}\n', "has no step or eval events"),
    ],
)
def test_corrupt_logs(tmp_path, content, expected):
    (tmp_path / "log.jsonl").write_text(content, "utf-8")
    with pytest.raises(DataError) as err:
        plot_runs([tmp_path], tmp_path / "x.png")
    assert expected in str(err.value)
    assert str(tmp_path / "log.jsonl") in str(err.value)


def test_argument_errors(tmp_path):
    run = write_run(tmp_path / "r", n_steps=5)
    with pytest.raises(ConfigError, match="2 labels for 1 runs"):
        plot_runs([run], tmp_path / "x.png", labels=["a", "b"])
    with pytest.raises(ConfigError, match="at least one run"):
        plot_runs([], tmp_path / "x.png")
    with pytest.raises(ConfigError, match=r"suffix '\.txt'"):
        plot_runs([run], tmp_path / "x.txt")
