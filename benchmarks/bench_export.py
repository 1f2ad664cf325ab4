"""Texts per second and F1 of PyTorch eager vs its ONNX exports (fp32, int8), same run.

    python benchmarks/bench_export.py MODEL [--data FILE] [--limit N] [--repeat 3] [--threads 2]
        [--batch-size 64] [--workdir DIR] [--int8 all,fp32-decoder,per-channel]

MODEL is exported to fp32 ONNX (``nerkit export --format onnx``) and once per int8
choice of ``--int8`` (``nerkit.export.onnx.INT8_CHOICES``: which nodes are
quantized, and how) into ``--workdir`` (a temporary directory by default). The three backends run
``nlp.pipe`` over the same texts with the same number of threads, timed
alternately ``--repeat`` times (medians). If the data file has entities the
table also gives each backend's strict micro F1 and the change against PyTorch
(meaningful only for a trained model); entities of fp32 ONNX are compared with
PyTorch's one by one.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout

import nerkit  # noqa: E402
from nerkit.data.formats.cmeee import read_cmeee  # noqa: E402
from nerkit.export.onnx import INT8_CHOICES, export_onnx  # noqa: E402
from nerkit.export.runtime import load_onnx  # noqa: E402
from nerkit.scoring import score  # noqa: E402
from nerkit.types import Entity  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def run(nlp, texts, batch_size):
    return [
        [Entity(s.start, s.end, s.type) for s in spans]
        for spans in nlp.pipe(texts, batch_size=batch_size)
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/cmeee/CMeEE_dev.json")
    ap.add_argument("--limit", type=int, default=0, help="first N records (0: all)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--int8", default=",".join(INT8_CHOICES), help="int8 choices, comma-separated")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    examples = list(read_cmeee(args.data))
    if args.limit:
        examples = examples[: args.limit]
    texts = [ex.text for ex in examples]
    gold = [ex.entities for ex in examples]
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-export-"))
    choices = [c for c in args.int8.split(",") if c]
    t0 = time.perf_counter()
    export_onnx(args.model, work / "fp32")
    took = [f"fp32 {time.perf_counter() - t0:.1f} s"]
    for choice in choices:
        t0 = time.perf_counter()
        export_onnx(args.model, work / f"int8-{choice}", quantize="int8", int8=choice)
        took.append(f"int8 {choice} {time.perf_counter() - t0:.1f} s")
    print(f"export: {', '.join(took)} -> {work}")
    backends = {
        "pytorch eager": nerkit.load(args.model, device="cpu"),
        "onnx fp32": load_onnx(work / "fp32", threads=args.threads),
    }
    for choice in choices:
        backends[f"int8 {choice}"] = load_onnx(work / f"int8-{choice}", threads=args.threads)
    for nlp in reversed(list(backends.values())):  # warm up every backend
        run(nlp, texts[:8], args.batch_size)
    times = {name: [] for name in backends}
    preds = {}
    for _ in range(args.repeat):
        for name, nlp in backends.items():
            gc.collect()
            start = time.perf_counter()
            preds[name] = run(nlp, texts, args.batch_size)
            times[name].append(time.perf_counter() - start)
    chars = sum(map(len, texts))
    print(
        f"{len(texts)} texts, {chars} characters, {args.threads} threads, batch {args.batch_size} windows"
    )
    annotated = any(gold)
    base = statistics.median(times["pytorch eager"])
    f1_base = score(gold, preds["pytorch eager"])["f1"] if annotated else None
    print(
        f"{'backend':<22}{'texts/s':>10}{'speed-up':>10}"
        + (f"{'F1':>9}{'dF1':>9}" if annotated else "")
    )
    for name in backends:
        med = statistics.median(times[name])
        line = f"{name:<22}{len(texts) / med:>10.1f}{base / med:>9.2f}x"
        if annotated:
            f1 = score(gold, preds[name])["f1"]
            line += f"{f1 * 100:>9.2f}{(f1 - f1_base) * 100:>+9.2f}"
        print(line)
    same = sum(a == b for a, b in zip(preds["onnx fp32"], preds["pytorch eager"], strict=True))
    print(f"fp32 ONNX: same entities as PyTorch on {same}/{len(texts)} texts")
    for choice in choices:
        agree = score(preds["pytorch eager"], preds[f"int8 {choice}"])["f1"]
        print(f"int8 {choice} vs PyTorch entities: F1 agreement {agree * 100:.2f}")


if __name__ == "__main__":
    main()
