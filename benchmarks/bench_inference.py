"""Texts per second of ``nlp.pipe`` against a one-text-at-a-time loop, same run.

    python benchmarks/bench_inference.py runs/q/model-best \
        [--data ../shared/data/cmeee/CMeEE_test.json] [--limit N] [--repeat 3] [--device cpu]
        [--batch-size 128] [--max-tokens N]

The baseline is the straightforward loop a user would write first: one model
call per text (``[nlp(t) for t in texts]``). ``pipe`` sorts windows by length
and runs ``batch_size`` windows per call. Both run over the same texts and keep
their results (as ``list(...)`` does), both must give the same entities, and
they are timed alternately ``--repeat`` times, each from a collected heap; the
table gives medians.

A third line times the model's forward pass alone over ``pipe``'s batches
(inputs prepared beforehand, no decoding): the part of ``pipe`` that batching
cannot remove. ``loop time / forward time`` is the most any batching could
gain on this machine for this model.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout

import nerkit  # noqa: E402
from nerkit.models.batching import sorted_batches  # noqa: E402
from nerkit.types import Example  # noqa: E402


def _timed(fn) -> float:
    """Seconds of one call, started from a collected heap; the result is kept
    until the clock stops (as a caller keeping it would) and then dropped."""
    gc.collect()
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    del out
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument(
        "--data",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared/data/cmeee/CMeEE_test.json",
    )
    ap.add_argument("--limit", type=int, default=0, help="use the first N texts (0: all)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument(
        "--max-tokens", type=int, default=None, help="cap on padded positions per batch"
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    texts = [r["text"] for r in json.loads(args.data.read_text(encoding="utf8"))]
    if args.limit:
        texts = texts[: args.limit]
    nlp = nerkit.load(args.model, device=args.device)
    model = nlp.model

    # the forward pass alone, over the batches pipe makes (sorted windows)
    feats = model.featurize([Example(t, index=i) for i, t in enumerate(texts)])
    lengths = [f.length for f in feats]
    order = sorted(range(len(feats)), key=lengths.__getitem__)
    batches = [
        model.collate([feats[i] for i in idx]).to(model.device)
        for idx in sorted_batches(order, [n + 2 for n in lengths], args.batch_size, args.max_tokens)
    ]
    del feats

    def forward_only() -> None:
        with torch.no_grad():
            for b in batches:
                model(b)
        if model.device.type == "cuda":
            torch.cuda.synchronize()

    # untimed: both give the same entities (and warm up)
    fast = list(nlp.pipe(texts, batch_size=args.batch_size, max_tokens=args.max_tokens))
    slow = [nlp(x) for x in texts]
    same = [[(s.start, s.end, s.type) for s in r] for r in fast] == [
        [(s.start, s.end, s.type) for s in r] for r in slow
    ]
    n_out, n_ents = len(fast), sum(len(r) for r in fast)
    del fast, slow
    forward_only()

    pipe_s, loop_s, fwd_s = [], [], []
    for _ in range(args.repeat):  # alternate, each from a collected heap, results dropped after
        fwd_s.append(_timed(forward_only))
        pipe_s.append(
            _timed(
                lambda: list(
                    nlp.pipe(texts, batch_size=args.batch_size, max_tokens=args.max_tokens)
                )
            )
        )
        loop_s.append(_timed(lambda: [nlp(x) for x in texts]))

    n = len(texts)
    loop, pipe, fwd = (statistics.median(x) for x in (loop_s, pipe_s, fwd_s))
    print(f"model: {args.model}  device: {args.device}  threads: {torch.get_num_threads()}")
    print(
        f"data: {args.data.name}, {n} texts, {len(order)} windows in {len(batches)} batches, medians of {args.repeat} runs"
    )
    print("| method | seconds | texts/s | vs one text per call |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| one text per call | {loop:.2f} | {n / loop:.0f} | 1.0x |")
    cap = f", max {args.max_tokens} tokens" if args.max_tokens else ""
    print(
        f"| nlp.pipe (batch {args.batch_size}{cap}) | {pipe:.2f} | {n / pipe:.0f} | {loop / pipe:.1f}x |"
    )
    print(
        f"| forward pass alone (pipe's batches) | {fwd:.2f} | {n / fwd:.0f} | {loop / fwd:.1f}x |"
    )
    print(
        f"speed-up of pipe per run: {', '.join(f'{a / b:.1f}x' for a, b in zip(loop_s, pipe_s, strict=True))}"
    )
    print(f"same entities: {same}; records out: {n_out} (in: {n}), entities: {n_ents}")


if __name__ == "__main__":
    main()
