"""The Python driver of benchmarks/gpu_check.sh: GPU checks that write a markdown report.

    python benchmarks/gpu_check.py all --report gpu_report.md      # on one CUDA GPU
    python benchmarks/gpu_check.py all --cpu --report r.md         # tiny sizes on CPU (tests)
    python benchmarks/gpu_check.py requirements                    # nerkit's deps minus torch

Checks (each a section of the report; a failing check is reported, the others still run):

1. ``speed``: steps/s, peak GPU memory and loss of ``configs/best.cfg`` and
   ``configs/sota.cfg`` with randomly initialised encoders of the real size
   (chinese-roberta-wwm-ext-large: 24 layers, width 1024, 16 heads, 21,128-entry
   vocabulary; built from a config, nothing downloaded), windows of 128 and 512, in
   bf16 autocast, ``--steps`` optimizer steps each (after 3 warm-up steps), through
   nerkit's own training step (adversarial passes included). Texts are consecutive
   CMeEE dev records joined up to the window length, so windows are full. best.cfg's
   pkuseg "medicine" model and Medical.txt vectors cannot be downloaded: its lattice
   comes from ``nerkit.LexiconMatcher.v1`` over spacy-pkuseg's shipped dictionary with
   random 100-d vectors (the FLAT layer and its cost are the same).
2. ``ddp``: ``torchrun --nproc-per-node 1`` running nerkit's trainer wrapped in
   DistributedDataParallel over NCCL for a few steps (gloo on CPU).
3. ``pipe``: texts/s of ``nlp.pipe`` with a base-size random model (12 layers, width 768).
4. ``bf16``: a tiny run trained in bf16 and in fp32 from the same seed; the final
   losses, and bf16-trained evaluation with bf16 against fp32 inference, must agree.

Without ../shared/data (``--data``), the texts are synthetic (random CJK characters
with random entities) and the vocabulary is synthesised with the same 21,128 entries;
the report says which was used.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

SHARED = ROOT.parent / "shared" / "data"
VOCAB_SIZE = 21128
LABELS = ("dis", "sym", "pro", "equ", "dru", "ite", "bod", "dep", "mic")


# ---------------------------------------------------------------------------
# Requirements (no nerkit import: it runs before the deps are installed)
# ---------------------------------------------------------------------------


def requirements() -> List[str]:
    """nerkit's dependencies from pyproject.toml, torch left out (the GPU machine has it)."""
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf8"))["project"][
        "dependencies"
    ]
    return [d for d in deps if not d.replace(" ", "").lower().startswith("torch")]


# ---------------------------------------------------------------------------
# Data and encoder dirs
# ---------------------------------------------------------------------------


def load_records(data: Path, n: int, seed: int = 0) -> Tuple[List[dict], str]:
    """CMeEE dev records, or synthetic ones when the file is not there."""
    path = data / "cmeee" / "CMeEE_dev.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf8"))[:n], f"CMeEE dev ({path})"
    rng = random.Random(seed)
    records = []
    for _ in range(n):
        length = rng.randint(20, 90)
        text = "".join(chr(0x4E00 + rng.randrange(3000)) for _ in range(length))
        ents, pos = [], 0
        while True:
            pos += rng.randint(1, 8)
            if pos >= length:
                break
            end = min(length - 1, pos + rng.randint(0, 5))
            ents.append(
                {
                    "start_idx": pos,
                    "end_idx": end,
                    "type": rng.choice(LABELS),
                    "entity": text[pos : end + 1],
                }
            )
            pos = end + 1
        records.append({"text": text, "entities": ents})
    return records, "synthetic (../shared/data not found)"


def packed(records: List[dict], chars: int) -> List[dict]:
    """Consecutive records joined into texts of up to ``chars`` characters (full windows)."""
    out: List[dict] = []
    text, ents = "", []
    for r in records:
        if text and len(text) + len(r["text"]) > chars:
            out.append({"text": text, "entities": ents})
            text, ents = "", []
        off = len(text)
        text += r["text"]
        ents += [
            {**e, "start_idx": e["start_idx"] + off, "end_idx": e["end_idx"] + off}
            for e in r["entities"]
        ]
    if text:
        out.append({"text": text, "entities": ents})
    return out


def vocab_file(data: Path, dest: Path) -> Tuple[Path, str]:
    real = data / "vocab" / "bert-base-chinese-vocab.txt"
    if real.exists():
        return real, "bert-base-chinese vocabulary"
    special = (
        ["[PAD]"] + [f"[unused{i}]" for i in range(1, 100)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    )
    chars = [chr(0x4E00 + i) for i in range(VOCAB_SIZE - len(special))]
    dest.write_text("\n".join(special + chars) + "\n", encoding="utf8")
    return dest, f"synthetic {VOCAB_SIZE}-entry vocabulary"


def encoder_dir(dest: Path, vocab: Path, layers: int, hidden: int, heads: int) -> Path:
    from base_model import write_encoder_dir

    write_encoder_dir(dest, vocab, layers, hidden, 512)
    cfg = json.loads((dest / "config.json").read_text(encoding="utf8"))
    cfg["num_attention_heads"] = heads
    (dest / "config.json").write_text(json.dumps(cfg, indent=2), encoding="utf8")
    return dest


def pkuseg_words(dest: Path) -> Path:
    import spacy_pkuseg

    default = Path(spacy_pkuseg.__file__).parent / "dicts" / "default.pkl"
    post = spacy_pkuseg.Postprocesser(None, [str(default)])  # the library reading its own file
    dest.write_text(
        "\n".join(sorted(w for w in post.common_words | post.other_words if w)) + "\n",
        encoding="utf8",
    )
    return dest


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------


class Env:
    """Sizes, device and scratch paths of one driver run."""

    def __init__(self, args: argparse.Namespace) -> None:
        import torch

        self.cpu = args.cpu
        self.device = "cpu" if args.cpu else "cuda"
        if not args.cpu and not torch.cuda.is_available():
            raise SystemExit("gpu_check: no CUDA device visible; use --cpu for the CPU smoke run.")
        self.work = Path(tempfile.mkdtemp(prefix="nerkit-gpu-check-"))
        os.environ.setdefault("NERKIT_CACHE", str(self.work / "cache"))
        self.data = args.data
        self.steps = args.steps
        self.max_seconds = args.max_seconds
        self.vocab, self.vocab_note = vocab_file(args.data, self.work / "vocab.txt")
        self.records, self.data_note = load_records(args.data, 600 if not args.cpu else 40)
        # real sizes on GPU, tiny on CPU
        self.large = (2, 32, 2) if args.cpu else (24, 1024, 16)
        self.base = (1, 32, 2) if args.cpu else (12, 768, 12)
        self.lengths = (48, 64) if args.cpu else (128, 512)
        if args.lengths:
            self.lengths = tuple(int(x) for x in args.lengths.split(","))
        self.configs = tuple(args.configs.split(","))

    def corpus(self, name: str, records: List[dict]) -> Path:
        path = self.work / f"{name}.json"
        path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf8")
        return path


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def speed(env: Env, config: str, length: int) -> Dict[str, Any]:
    """Steps/s, peak memory, finite loss of one config at one window length (bf16 on GPU)."""
    import torch

    from nerkit.config import load_config
    from nerkit.training.loop import Trainer

    layers, hidden, heads = env.large
    enc = encoder_dir(env.work / f"large-{layers}", env.vocab, layers, hidden, heads)
    train = env.corpus(f"packed{length}", packed(env.records, length - 2))
    overrides: Dict[str, Any] = {
        "paths.train": str(train),
        "paths.dev": str(train),
        "initialize.model.encoder.name_or_path": str(enc),
        "initialize.model.encoder.pretrained": False,
        "model.encoder.max_length": length,
        "corpora.max_dev_records": 4,
        "system.device": env.device,
        "system.mixed_precision": "bf16" if not env.cpu else "no",
        "training.logger": {"@loggers": "nerkit.ConsoleLogger.v1", "progress_bar": False},
    }
    if config == "best.cfg":  # no pkuseg medicine model / Medical.txt offline (module docstring)
        overrides["model.lexicon"] = {
            "@lexicons": "nerkit.Lexicon.v1",
            "dim": 100,
            "segmenter": {
                "@segmenters": "nerkit.LexiconMatcher.v1",
                "words_file": str(pkuseg_words(env.work / "w.txt")),
            },
            "vectors": None,
        }
        overrides["initialize.model.lexicon"] = {
            "segmenter": overrides["model.lexicon"]["segmenter"],
            "vectors": None,
        }
    if env.cpu:
        overrides.update(
            {"model.fusion.hidden_size": 32, "model.fusion.num_heads": 2}
            if config == "best.cfg"
            else {}
        )
        overrides["training.batch_size"] = 2
    trainer = Trainer(load_config(ROOT / "configs" / config, overrides))
    batches = [b for e in range(50) for b in trainer._epoch_batches(e)]
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    losses: List[float] = []
    warmup = 3
    started = None
    done = 0
    for i, idx in enumerate(batches):
        if i == warmup:
            _sync()
            started = time.perf_counter()
        losses.append(trainer._train_batch(idx))
        trainer._optimizer_step()
        done = i + 1 - warmup
        if i >= warmup and (done >= env.steps or time.perf_counter() - started > env.max_seconds):
            break
    _sync()
    seconds = time.perf_counter() - started if started else float("nan")
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else float("nan")
    params = sum(p.numel() for p in trainer.model.parameters()) / 1e6
    ok = all(math.isfinite(x) for x in losses)
    return {
        "config": config,
        "length": length,
        "batch_size": trainer.training.batch_size,
        "params_m": params,
        "steps": done,
        "steps_per_s": done / seconds,
        "peak_gib": peak,
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "finite": ok,
    }


def ddp_worker(args: argparse.Namespace) -> None:
    """Inside torchrun: nerkit's trainer under DistributedDataParallel for a few steps."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from nerkit.config import load_config
    from nerkit.training.loop import Trainer

    backend = "gloo" if args.cpu else "nccl"
    dist.init_process_group(backend=backend)
    rank = dist.get_rank()
    device = "cpu" if args.cpu else f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    check = torch.ones(1, device=device) * (rank + 1)
    dist.all_reduce(check)
    corpus = ROOT / "projects" / "quickstart" / "corpus"
    cfg = load_config(
        ROOT / "configs" / "quickstart.cfg",
        {
            "paths.train": str(corpus / "train.json"),
            "paths.dev": str(corpus / "dev.json"),
            "paths.encoder": str(ROOT / "projects" / "quickstart" / "tiny-bert"),
            "corpora.max_train_records": 32,
            "corpora.max_dev_records": 8,
            "training.max_steps": args.steps,
            "training.batch_size": 4,
            "system.device": device,
            "training.logger": {"@loggers": "nerkit.ConsoleLogger.v1", "progress_bar": False},
        },
    )
    trainer = Trainer(cfg)
    if not isinstance(
        trainer.net, DistributedDataParallel
    ):  # one process: wrap as the loop does for many
        ids = [torch.device(device).index] if device != "cpu" else None
        trainer.net = DistributedDataParallel(
            trainer.net, device_ids=ids, find_unused_parameters=True
        )
    result = trainer.run()
    loss = [r["loss"] for r in result.history]
    out = {
        "backend": backend,
        "world": dist.get_world_size(),
        "all_reduce": float(check.item()),
        "steps": result.steps,
        "loss": loss,
        "finite": all(math.isfinite(x) for x in loss),
    }
    if rank == 0:
        Path(args.result).write_text(json.dumps(out), encoding="utf8")
    dist.destroy_process_group()


def ddp(env: Env) -> Dict[str, Any]:
    result = env.work / "ddp.json"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "1",
        "--master-port",
        str(port),
        str(Path(__file__)),
        "ddp-worker",
        "--steps",
        "5",
        "--result",
        str(result),
    ]
    if env.cpu:
        cmd.append("--cpu")
    run = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if run.returncode != 0:
        raise RuntimeError(f"torchrun exited {run.returncode}: {run.stderr[-2000:]}")
    return json.loads(result.read_text(encoding="utf8"))


def pipe(env: Env) -> Dict[str, Any]:
    import nerkit
    from nerkit.config import load_config, resolve_section
    from nerkit.models.io import save_model

    layers, hidden, heads = env.base
    enc = encoder_dir(env.work / "base-encoder", env.vocab, layers, hidden, heads)
    cfg = load_config(
        ROOT / "configs" / "quickstart.cfg",
        {"paths.encoder": str(enc), "model.encoder.max_length": 512},
    )
    model = resolve_section(cfg, "model")
    model.initialize(lambda: [])
    save_model(model, env.work / "base-model", cfg, {"note": "random weights, for throughput only"})
    nlp = nerkit.load(env.work / "base-model", device=env.device)
    texts = [r["text"] for r in env.records]
    list(nlp.pipe(texts[:64], batch_size=64))  # warm-up
    _sync()
    started = time.perf_counter()
    out = list(nlp.pipe(texts, batch_size=128))
    _sync()
    seconds = time.perf_counter() - started
    assert len(out) == len(texts)
    return {
        "layers": layers,
        "hidden": hidden,
        "texts": len(texts),
        "seconds": seconds,
        "texts_per_s": len(texts) / seconds,
    }


def bf16(env: Env) -> Dict[str, Any]:
    """Tiny run trained in bf16 and in fp32; the bf16 model evaluated in bf16 and fp32."""
    import torch

    from nerkit.config import load_config
    from nerkit.models.prediction import predict
    from nerkit.training.loop import Trainer, evaluate

    corpus = ROOT / "projects" / "quickstart" / "corpus"
    base = {
        "paths.train": str(corpus / "train.json"),
        "paths.dev": str(corpus / "dev.json"),
        "paths.encoder": str(ROOT / "projects" / "quickstart" / "tiny-bert"),
        "corpora.max_train_records": 200 if not env.cpu else 16,
        "training.max_epochs": 8 if not env.cpu else 1,
        "training.batch_size": 16,
        "system.device": env.device,
        "training.logger": {"@loggers": "nerkit.ConsoleLogger.v1", "progress_bar": False},
    }
    results = {}
    for mode in ("bf16", "no"):
        trainer = Trainer(
            load_config(
                ROOT / "configs" / "quickstart.cfg", {**base, "system.mixed_precision": mode}
            )
        )
        res = trainer.run()
        results[mode] = (trainer, res)
    model = results["bf16"][0].model
    dev = results["bf16"][0].dev_examples
    amp = None if env.cpu else torch.bfloat16
    in_bf16 = evaluate(model, dev, 64, autocast_dtype=amp)
    in_fp32 = evaluate(model, dev, 64)
    preds_a = [set(e for e, _ in p) for p in predict(model, dev, autocast_dtype=amp)]
    preds_b = [set(e for e, _ in p) for p in predict(model, dev)]
    union = sum(len(a | b) for a, b in zip(preds_a, preds_b, strict=True))
    same = sum(len(a & b) for a, b in zip(preds_a, preds_b, strict=True))
    loss_bf16 = results["bf16"][1].history[-1]["loss"]
    loss_fp32 = results["no"][1].history[-1]["loss"]
    agree = same / union if union else 1.0
    ok = (
        math.isfinite(loss_bf16)
        and abs(loss_bf16 - loss_fp32) <= 0.1 * max(abs(loss_fp32), 1e-3) + 0.05
        and abs(in_bf16["f1"] - in_fp32["f1"]) <= 0.01
        and agree >= 0.95
    )
    return {
        "loss_bf16_trained": loss_bf16,
        "loss_fp32_trained": loss_fp32,
        "dev_f1_bf16_trained_fp32_trained": [
            results["bf16"][1].history[-1]["f1"],
            results["no"][1].history[-1]["f1"],
        ],
        "f1_bf16_inference": in_bf16["f1"],
        "f1_fp32_inference": in_fp32["f1"],
        "entity_agreement": agree,
        "agree": ok,
    }


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def run_all(args: argparse.Namespace) -> Dict[str, Any]:
    import torch

    env = Env(args)
    started = time.time()
    report = Path(args.report)
    sections: Dict[str, Any] = {}
    device = "CPU (smoke run, tiny sizes)" if env.cpu else torch.cuda.get_device_name(0)
    header = [
        "# nerkit GPU check",
        "",
        f"- device: {device}; torch {torch.__version__}; CUDA {torch.version.cuda}",
        f"- texts: {env.data_note}; vocabulary: {env.vocab_note}",
        "- encoders: random weights built from a config (nothing downloaded); figures show speed and memory only",
        "",
    ]

    def write() -> None:
        lines = list(header)
        if "speed" in sections:
            lines += [
                "## Training speed (bf16 autocast)"
                if not env.cpu
                else "## Training speed (fp32, CPU)",
                "",
                "| config | window | batch | params (M) | steps | steps/s | peak GiB | first loss | last loss | finite |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            ]
            for r in sections["speed"]:
                if "error" in r:
                    lines.append(
                        f"| {r['config']} | {r['length']} | FAILED: {r['error']} | | | | | | | |"
                    )
                    continue
                lines.append(
                    f"| {r['config']} | {r['length']} | {r['batch_size']} | {r['params_m']:.0f} | {r['steps']} | "
                    f"{r['steps_per_s']:.2f} | {r['peak_gib']:.1f} | {r['first_loss']:.3f} | {r['last_loss']:.3f} | "
                    f"{'yes' if r['finite'] else 'NO'} |"
                )
            lines.append("")
        for name, title in (
            ("ddp", "torchrun --nproc-per-node 1"),
            ("pipe", "pipe throughput (base size)"),
            ("bf16", "bf16 against fp32 (tiny run)"),
        ):
            if name in sections:
                lines += [
                    f"## {title}",
                    "",
                    "```json",
                    json.dumps(sections[name], indent=1),
                    "```",
                    "",
                ]
        lines.append(f"Total: {time.time() - started:.0f} s")
        report.write_text("\n".join(lines) + "\n", encoding="utf8")

    checks = args.checks.split(",")
    if "speed" in checks:
        sections["speed"] = []
        for config in env.configs:
            for length in env.lengths:
                try:
                    sections["speed"].append(speed(env, config, length))
                except Exception as err:  # report and go on
                    traceback.print_exc()
                    sections["speed"].append(
                        {
                            "config": config,
                            "length": length,
                            "error": f"{type(err).__name__}: {err}"[:300],
                        }
                    )
                import gc

                gc.collect()
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                write()
    for name, fn in (("ddp", ddp), ("pipe", pipe), ("bf16", bf16)):
        if name in checks:
            try:
                sections[name] = fn(env)
            except Exception as err:
                traceback.print_exc()
                sections[name] = {"error": f"{type(err).__name__}: {err}"[:2000]}
            write()
    write()
    shutil.rmtree(env.work, ignore_errors=True)
    return sections


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["all", "requirements", "ddp-worker"])
    ap.add_argument("--report", default="gpu_report.md")
    ap.add_argument(
        "--cpu", action="store_true", help="tiny sizes on CPU (a smoke run of the driver)"
    )
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("NERKIT_SHARED_DATA", SHARED)))
    ap.add_argument("--steps", type=int, default=200, help="timed optimizer steps per speed run")
    ap.add_argument(
        "--max-seconds", type=float, default=60.0, help="cap on the timed part of one speed run"
    )
    ap.add_argument("--checks", default="speed,ddp,pipe,bf16")
    ap.add_argument("--configs", default="best.cfg,sota.cfg", help="configs of the speed check")
    ap.add_argument(
        "--lengths", default="", help="window lengths of the speed check (default 128,512)"
    )
    ap.add_argument("--result", default="", help="(ddp-worker) where rank 0 writes its JSON")
    args = ap.parse_args(argv)
    if args.command == "requirements":
        print("\n".join(requirements()))
    elif args.command == "ddp-worker":
        ddp_worker(args)
    else:
        run_all(args)


if __name__ == "__main__":
    main()
