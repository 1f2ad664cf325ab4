"""Checkpoints are complete or absent after a kill; two gloo processes train one model."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nerkit.models.io import REQUIRED_FILES, load_model
from nerkit.util import atomic_dir, recover_dir

from .conftest import FAST, QUICKSTART, ROOT

SAVER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from nerkit.config import load_config, resolve_section
    from nerkit.models.io import save_model
    from nerkit.util import atomic_dir

    overrides = json.loads(sys.argv[2])
    cfg = load_config(sys.argv[3], overrides)
    model = resolve_section(cfg, "model")
    model.initialize(lambda: [])
    out = Path(sys.argv[1])
    print("ready", flush=True)
    i = 0
    while True:
        with atomic_dir(out / "model-last") as tmp:
            save_model(model, tmp, cfg, {"step": i})
        i += 1
    """
)


def test_atomic_dir_replaces_whole(tmp_path: Path):
    target = tmp_path / "ckpt"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with atomic_dir(target) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "c").write_text("3")
            raise RuntimeError("crash while writing")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_recover_dir_after_kill_between_renames(tmp_path: Path):
    old = tmp_path / ".old-ckpt-1234abcd"
    old.mkdir()
    (old / "x").write_text("complete")
    (tmp_path / ".tmp-ckpt-99999999").mkdir()
    recover_dir(tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "x").read_text() == "complete"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_checkpoint_complete_or_absent_after_sigkill(tmp_path: Path):
    script = tmp_path / "saver.py"
    script.write_text(SAVER, encoding="utf8")
    overrides = {k: v for k, v in FAST.items()}
    rng = random.Random(0)
    seen_complete = 0
    for _ in range(5):
        proc = subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(tmp_path / "out"),
                json.dumps(overrides),
                str(QUICKSTART),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.3 + rng.random() * 1.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        ckpt = tmp_path / "out" / "model-last"
        recover_dir(ckpt)
        if ckpt.exists():
            assert all((ckpt / f).exists() for f in REQUIRED_FILES), list(ckpt.iterdir())
            load_model(ckpt)  # loads without error: complete
            seen_complete += 1
        leftovers = [p.name for p in (tmp_path / "out").iterdir() if p.name != "model-last"]
        assert leftovers == []
    assert seen_complete >= 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DDP_SCRIPT = textwrap.dedent(
    """
    import hashlib, json, os, sys
    import torch
    from nerkit.config import load_config
    from nerkit.training.loop import Trainer

    overrides = json.loads(sys.argv[2])
    trainer = Trainer(load_config(sys.argv[3], overrides), sys.argv[1])
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    result = trainer.run()
    h = hashlib.sha256()
    changed = False
    for k, v in sorted(trainer.model.state_dict().items()):
        h.update(k.encode()); h.update(v.detach().cpu().numpy().tobytes())
        changed |= not torch.equal(v, before[k])
    rank = os.environ["RANK"]
    with open(os.path.join(sys.argv[1], f"rank{rank}.json"), "w") as fh:
        json.dump({"hash": h.hexdigest(), "changed": changed, "steps": result.steps}, fh)
    """
)


def test_two_gloo_processes_train_the_same_model(tmp_path: Path):
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT, encoding="utf8")
    out = tmp_path / "out"
    out.mkdir()
    overrides = dict(FAST, **{"training.max_epochs": 1, "corpora.max_train_records": 32})
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            "2",
            "--master-addr",
            "127.0.0.1",
            "--master-port",
            str(_free_port()),
            str(script),
            str(out),
            json.dumps(overrides),
            str(QUICKSTART),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0 = json.loads((out / "rank0.json").read_text())
    r1 = json.loads((out / "rank1.json").read_text())
    assert r0["changed"] and r1["changed"]
    assert r0["hash"] == r1["hash"]
    assert r0["steps"] == r1["steps"] > 0
    assert (out / "model-best" / "model.safetensors").exists()
    digest = hashlib.sha256((out / "model-best" / "meta.json").read_bytes()).hexdigest()
    assert digest  # written once, by rank 0
