"""StepLoop (nerkit/training/steps.py), the step bookkeeping `nerkit train` and `nerkit
pretrain` share, on a toy loop: the evaluation cadence (hand-computed), best/patience in
both directions, and kill + resume equal to the uninterrupted run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List, Optional

import pytest
import torch
from torch import nn

from nerkit.config import TrainingSettings
from nerkit.training import steps
from nerkit.training.adversarial import NoAdversarial
from nerkit.training.averaging import NoAveraging
from nerkit.training.steps import LoopResult, LoopState, StepLoop

X = torch.linspace(-1, 1, 10).reshape(5, 2)  # 5 batches of 2 values
Y = X.sum(dim=1, keepdim=True) * 0.5


@dataclass
class ToyState(LoopState):
    best_loss: float = float("inf")
    BEST = "best_loss"


@dataclass
class ToyResult(LoopResult):
    best_loss: float


class Logger:
    def __init__(self) -> None:
        self.evals: List[Dict[str, Any]] = []

    def progress(self, total: int) -> Any:
        return SimpleNamespace(update=lambda n, loss: None, close=lambda: None)

    def log_step(self, step: int, values: Dict[str, Any]) -> None:
        pass

    def log_eval(self, row: Dict[str, Any]) -> None:
        self.evals.append(row)

    def close(self) -> None:
        pass


class Toy(StepLoop):
    """5 batches an epoch (one row each) of a 2 -> 1 linear model, MSE; the score is the
    loss on all rows (or the next of ``scores``)."""

    MINIMIZE = True
    RESULT = ToyResult

    def __init__(
        self,
        output_dir: Optional[Path] = None,
        stop_after_steps: Optional[int] = None,
        resume: bool = False,
        scores: Optional[List[float]] = None,
        epoch_ends: bool = True,
        **training: Any,
    ) -> None:
        self.EVALUATE_EPOCH_ENDS = epoch_ends
        self.system = SimpleNamespace(num_threads=0, device="cpu", mixed_precision="no")
        blocks = {k: {} for k in ("optimizer", "schedule", "adversarial", "logger")}
        self.training = TrainingSettings(**{"max_epochs": 2, **blocks, **training})
        self._place(output_dir, stop_after_steps)
        torch.manual_seed(0)
        self.model = nn.Linear(2, 1)
        self.scores = list(scores or [])
        self.state = ToyState()
        components = SimpleNamespace(
            optimizer=lambda m: torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9),
            schedule=lambda opt, total: torch.optim.lr_scheduler.LinearLR(
                opt, 1.0, 0.1, total_iters=total
            ),
            adversarial=NoAdversarial(),
            averaging=NoAveraging(),
        )
        self._start_steps(components, len(X))
        self.logger = Logger()
        if resume:  # the checkpoint's weights, then its optimizer, schedule and counters
            checkpoint = steps.resume_dir(self.output_dir)
            self.model.load_state_dict(torch.load(checkpoint / "weights.pt"))
            self._load_state(checkpoint / steps.STATE_DIR)
        self.net = lambda i: nn.functional.mse_loss(self.model(X[i : i + 1]), Y[i : i + 1])

    def _batches(self, epoch: int, skip: int) -> List[int]:
        return list(range(len(X)))[skip:]

    def _train_batch(self, batch: int) -> float:
        accum = self.training.accumulate_gradient
        return steps.micro_step(self.adversarial, self.model, self.net, batch, None, None, accum)

    def _score(self):
        if self.scores:
            return {}, self.scores.pop(0), None
        with torch.no_grad():
            loss = float(nn.functional.mse_loss(self.model(X), Y))
        return {"dev_loss": loss}, loss, None

    def _write(self, path: Path, saved: Optional[Dict[str, Any]]) -> None:
        torch.save(self.model.state_dict(), path / "weights.pt")
        (path / "row.json").write_text(json.dumps(saved))


def _evaluated(result: LoopResult) -> List[int]:
    return [row["step"] for row in result.history]


@pytest.mark.parametrize(
    "settings, epoch_ends, evaluated, n_steps",
    [
        # 5 batches, 2 a step: steps 1-3 in epoch 0, 4-6 in epoch 1
        ({"eval_frequency": 2}, True, [2, 3, 4, 6], 6),  # epoch 0 ends at 3: evaluated too
        ({"eval_frequency": 2}, False, [2, 4, 6], 6),  # the steps alone (nerkit pretrain)
        ({"eval_frequency": 0}, True, [3, 6], 6),  # each epoch's end
        ({"eval_frequency": 2, "max_steps": 5}, True, [2, 3, 4, 5], 5),  # and the last step
    ],
)
def test_evaluation_cadence(settings, epoch_ends, evaluated, n_steps):
    loop = Toy(epoch_ends=epoch_ends, accumulate_gradient=2, **settings)
    assert loop.total_steps == n_steps
    result = loop.run()
    assert (result.steps, _evaluated(result)) == (n_steps, evaluated)
    assert [row["epoch"] for row in result.history] == [(s - 1) // 3 for s in evaluated]


def test_total_steps():
    t = TrainingSettings(
        max_epochs=3, max_steps=0, accumulate_gradient=4, optimizer={}, schedule={},
        adversarial={}, logger={},
    )  # fmt: skip
    assert steps.total_steps(10, t) == 9  # ceil(10 / 4) = 3 steps an epoch
    assert steps.total_steps(10, t.model_copy(update={"max_steps": 7})) == 7
    assert steps.total_steps(10, t.model_copy(update={"max_epochs": 0, "max_steps": 50})) == 50


def test_best_and_patience_when_lower_is_better(tmp_path: Path):
    loop = Toy(tmp_path, scores=[3.0, 1.0, 2.0, 0.5], eval_frequency=1, patience=1)
    result = loop.run()
    assert [row["best"] for row in result.history] == [True, True, False]  # stopped: patience
    assert [row["score"] for row in result.history] == [-3.0, -1.0, -2.0]  # higher is better
    assert (result.best_loss, result.best_step, result.steps) == (1.0, 2, 3)
    assert json.loads((tmp_path / "model-best" / "row.json").read_text())["step"] == 2
    assert json.loads((tmp_path / "model-last" / "row.json").read_text())["step"] == 3


def test_kill_and_resume_equals_the_uninterrupted_run(tmp_path: Path):
    settings = {"eval_frequency": 2, "accumulate_gradient": 2}
    full = Toy(tmp_path / "full", **settings).run()
    with pytest.raises(KeyboardInterrupt):  # killed after step 3, before epoch 0's end is evaluated
        Toy(tmp_path / "cut", stop_after_steps=3, **settings).run()
    state_file = tmp_path / "cut" / "model-last" / steps.STATE_DIR / "trainer.json"
    info = json.loads(state_file.read_text())
    assert (info["state"]["step"], info["state"]["batches_done"]) == (2, 4)
    info["state"]["evaluated_step"] = 2  # a counter of an older version: dropped on resume
    state_file.write_text(json.dumps(info))

    result = Toy(tmp_path / "cut", resume=True, **settings).run()
    assert _evaluated(result) == _evaluated(full) == [2, 3, 4, 6]
    assert [r["dev_loss"] for r in result.history] == [r["dev_loss"] for r in full.history]
    assert (result.best_loss, result.best_step) == (full.best_loss, full.best_step)
    for name in ("model-best", "model-last"):
        a = torch.load(tmp_path / "full" / name / "weights.pt")
        b = torch.load(tmp_path / "cut" / name / "weights.pt")
        assert all(torch.equal(a[k], b[k]) for k in a), name
