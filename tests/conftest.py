"""Shared fixtures: paths, and a tiny config for end-to-end runs."""

from __future__ import annotations

import os
from pathlib import Path

# One thread per process: the test models are tiny, where a second thread mostly spins (on a
# busy 2-core machine it made training steps 5-7x slower). Subprocesses inherit the setting.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

# Tests that read ../shared must be marked (shared_guard fails them otherwise).
pytest_plugins = ["tests.shared_guard", "pytester"]

from nerkit.registrations import populate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
QUICKSTART = ROOT / "configs" / "quickstart.cfg"
CORPUS = ROOT / "projects" / "quickstart" / "corpus"
TINY_BERT = ROOT / "projects" / "quickstart" / "tiny-bert"

torch.set_num_threads(1)

# The registry's consumers (config, model loading, CLI) populate it; tests that call
# registry.get directly are consumers too.
populate()

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


def plugin_site(root: Path, package: str, source: str, dist: str, entry_points: str) -> Path:
    """A folder to put on PYTHONPATH holding the module ``package`` (``source``) and the
    dist-info pip would write for the distribution ``dist`` with these ``entry_points``
    (entry_points.txt text): a plugin installed without pip, found in a fresh process."""
    site = root / "site"
    (site / package).mkdir(parents=True)
    (site / package / "__init__.py").write_text(source, encoding="utf8")
    info = site / f"{package}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n", encoding="utf8"
    )
    (info / "entry_points.txt").write_text(entry_points, encoding="utf8")
    (info / "top_level.txt").write_text(package + "\n", encoding="utf8")
    (info / "RECORD").write_text("", encoding="utf8")
    return site


def needs_shared(relative: str) -> Path:
    """``../shared/data/<relative>``, or skip the test where it is absent (a fresh clone).

    Only tests marked ``shared`` may call this (tests/shared_guard.py checks it)."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(
            f"needs ../shared/data/{relative}, which is absent (a fresh clone has no ../shared)"
        )
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ../shared/data folder (CMeEE files), or skip; requesting it marks the test ``shared``."""
    needs_shared("cmeee/CMeEE_dev.json")
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
