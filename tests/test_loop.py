"""Training loop behaviour: every decoder learns, freezing, early stopping, accumulation."""

from __future__ import annotations

import pytest
import torch

from nerkit.training.loop import Trainer, make_batches, train

from .conftest import fast_config

DECODERS = {
    "linear-nested": ({"@decoders": "nerkit.LinearNestedDecoder.v1"}, 0.1),
    "crf-nested": ({"@decoders": "nerkit.CRFNestedDecoder.v1"}, 0.5),
    "global-pointer": (
        {
            "@decoders": "nerkit.GlobalPointer.v1",
            "head_size": 16,
            "scheme": {"@label_schemes": "nerkit.Spans.v1"},
        },
        0.5,
    ),
    "efficient-global-pointer": (
        {
            "@decoders": "nerkit.EfficientGlobalPointer.v1",
            "head_size": 16,
            "scheme": {"@label_schemes": "nerkit.Spans.v1"},
        },
        0.5,
    ),
}


@pytest.mark.parametrize("name", list(DECODERS))
def test_every_decoder_learns_the_sample(name):
    decoder, floor = DECODERS[name]
    result = train(
        fast_config(
            **{
                "model.decoder": decoder,
                "corpora.max_train_records": 160,
                "corpora.max_dev_records": 40,
                "training.max_epochs": 8,
                "training.batch_size": 16,
                "training.optimizer.learning_rate": 0.005,
                "training.optimizer.head_learning_rate": 0.01,
            }
        )
    )
    assert result.best_score > floor, f"{name}: dev F1 {result.best_score:.3f}"


def test_freeze_steps_keeps_encoder_fixed():
    trainer = Trainer(fast_config(**{"training.max_steps": 2, "model.encoder.freeze_steps": 5}))
    enc_before = {k: v.clone() for k, v in trainer.model.encoder.state_dict().items()}
    head_before = {k: v.clone() for k, v in trainer.model.decoder.state_dict().items()}
    trainer.run()
    assert all(torch.equal(v, enc_before[k]) for k, v in trainer.model.encoder.state_dict().items())
    assert any(
        not torch.equal(v, head_before[k]) for k, v in trainer.model.decoder.state_dict().items()
    )


def test_patience_stops_early():
    # With a negligible learning rate nothing improves after the first evaluation.
    cfg = fast_config(
        **{
            "training.eval_frequency": 1,
            "training.patience": 2,
            "training.max_epochs": 5,
            "training.optimizer.learning_rate": 1e-12,
            "training.optimizer.head_learning_rate": 1e-12,
        }
    )
    result = train(cfg)
    assert result.steps == 3
    assert [row["best"] for row in result.history] == [True, False, False]


def test_max_steps_and_accumulation_count_optimizer_steps():
    cfg = fast_config(
        **{"training.accumulate_gradient": 2, "training.max_epochs": 1, "training.batch_size": 8}
    )
    trainer = Trainer(cfg)
    n_batches = len(make_batches(trainer.train_feats, 8, 42, 0, True, 100))
    result = trainer.run()
    assert result.steps == -(-n_batches // 2)
    capped = train(fast_config(**{"training.max_steps": 3, "training.max_epochs": 0}))
    assert capped.steps == 3


def test_batches_are_a_partition_and_repeat():
    lengths = [5, 1, 9, 3, 3, 7, 2, 8, 4, 6, 10]

    class F:
        def __init__(self, n):
            self.length = n

    feats = [F(n) for n in lengths]
    a = make_batches(feats, 3, seed=1, epoch=0, bucketing=True, bucket_size=2)
    assert sorted(i for b in a for i in b) == list(range(len(lengths)))
    assert a == make_batches(feats, 3, seed=1, epoch=0, bucketing=True, bucket_size=2)
    assert a != make_batches(feats, 3, seed=1, epoch=1, bucketing=True, bucket_size=2)


def test_the_suite_runs_torch_on_one_thread():
    """Issue 13 (2): the test models are tiny; a second torch thread made their steps 5-7x slower
    on a busy 2-core machine. conftest sets one thread, and subprocesses inherit it."""
    import os

    assert torch.get_num_threads() == 1 and "OMP_NUM_THREADS" in os.environ  # "1" unless you set it
