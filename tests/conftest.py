"""Shared fixtures: paths, and a tiny config for end-to-end runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
QUICKSTART = ROOT / "configs" / "quickstart.cfg"
CORPUS = ROOT / "projects" / "quickstart" / "corpus"
TINY_BERT = ROOT / "projects" / "quickstart" / "tiny-bert"

torch.set_num_threads(2)

# Overrides that make the quickstart config a seconds-long test run.
FAST = {
    "paths.train": str(CORPUS / "train.json"),
    "paths.dev": str(CORPUS / "dev.json"),
    "paths.encoder": str(TINY_BERT),
    "corpora.max_train_records": 48,
    "corpora.max_dev_records": 16,
    "training.max_epochs": 2,
    "training.batch_size": 8,
    "training.logger": {"@loggers": "nerkit.ConsoleLogger.v1", "progress_bar": False},
    "system.device": "cpu",
}


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED / "cmeee" / "CMeEE_dev.json").exists():
        pytest.skip("../shared/data is not present")
    return SHARED


def cli_args(**extra) -> list:
    """FAST (updated with ``extra``) as command-line overrides: ["--key", "value", ...]."""
    import json

    values = dict(FAST)
    values.update(extra)
    args = []
    for key, value in values.items():
        args += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    return args


def fast_config(**extra):
    from nerkit.config import load_config

    overrides = dict(FAST)
    overrides.update(extra)
    return load_config(QUICKSTART, overrides)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """The quickstart model trained for seconds on the sample corpus (model-last)."""
    from nerkit.training.loop import Trainer

    out = tmp_path_factory.mktemp("tiny-model")
    Trainer(fast_config(**{"training.max_epochs": 3, "corpora.max_train_records": 96}), out).run()
    return out / "model-last"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
