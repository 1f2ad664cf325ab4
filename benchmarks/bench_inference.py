"""Texts per second of ``nlp.pipe`` against a one-text-at-a-time loop, same run.

    python benchmarks/bench_inference.py runs/q/model-best \
        --data ../shared/data/cmeee/CMeEE_test.json [--limit 3000] [--device cpu]

The baseline is the straightforward loop a user would write first: one model
call per text (``[nlp(t) for t in texts]``). ``pipe`` sorts windows by length
and runs ``batch_size`` windows per call. Both must give the same entities.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import nerkit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/cmeee/CMeEE_test.json")
    ap.add_argument("--limit", type=int, default=0, help="use the first N texts (0: all)")
    ap.add_argument("--baseline-limit", type=int, default=500, help="texts for the slow loop")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    texts = [r["text"] for r in json.loads(args.data.read_text(encoding="utf8"))]
    if args.limit:
        texts = texts[: args.limit]
    nlp = nerkit.load(args.model, device=args.device)
    base_texts = texts[: args.baseline_limit]

    list(nlp.pipe(texts[:64], batch_size=args.batch_size))  # warm up
    t0 = time.perf_counter()
    fast = list(nlp.pipe(texts, batch_size=args.batch_size))
    fast_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    slow = [nlp(t) for t in base_texts]
    slow_s = time.perf_counter() - t0

    same = [[(s.start, s.end, s.type) for s in r] for r in fast[: len(base_texts)]] == [
        [(s.start, s.end, s.type) for s in r] for r in slow
    ]
    fast_tps = len(texts) / fast_s
    slow_tps = len(base_texts) / slow_s
    print(f"model: {args.model}  device: {args.device}  threads: {torch.get_num_threads()}")
    print(f"data: {args.data.name}, {len(texts)} texts (baseline on the first {len(base_texts)})")
    print("| method | texts | seconds | texts/s |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| one text per call | {len(base_texts)} | {slow_s:.2f} | {slow_tps:.1f} |")
    print(f"| nlp.pipe (batch {args.batch_size}) | {len(texts)} | {fast_s:.2f} | {fast_tps:.1f} |")
    print(f"speed-up: {fast_tps / slow_tps:.1f}x   same entities: {same}")
    n = sum(len(r) for r in fast)
    print(f"records out: {len(fast)} (in: {len(texts)}), entities: {n}")


if __name__ == "__main__":
    main()
