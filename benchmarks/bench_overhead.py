"""nerkit's training loop against a plain transformers loop on the same batches.

    python benchmarks/bench_overhead.py                 # CMeEE dev windows, the accuracy model
    python benchmarks/bench_overhead.py --steps 40 --rounds 5 --threads 1

What is compared: the accuracy benchmark's flat BIO row (``accuracy.BASE``: a randomly
initialised 4-layer, width-256 BERT + ``nerkit.LinearDecoder.v1``) trained by
``Trainer.run`` for ``--steps`` optimizer steps, against ``BertForTokenClassification``
of the same size trained by a plain loop (forward, loss, backward, clipping, AdamW,
cosine schedule) on **the same batches**: nerkit's own first-epoch batches, collated
by nerkit, so both compute the same [B, T] positions (equal padding). The plain loop's
tensors are built before the clock starts, so its figure is a lower bound on the time
of any plain script; nerkit's includes its collation, targets, and the loop's
bookkeeping (and one evaluation of one dev record at the last step).

Rounds alternate nerkit / plain so that a change of machine load hits both; the
report gives the median of the rounds and the ratio nerkit / plain of seconds per
step (goal: at most 1.10).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a plain checkout
sys.path.insert(0, str(HERE))

import torch  # noqa: E402
from accuracy import (  # noqa: E402
    BASE,
    BUDGET,
    CORPUS,
    VOCAB,
    make_workdir,
    plain_optimizer,
    require_inputs,
    split_records,
)

from nerkit.config import load_config  # noqa: E402
from nerkit.models.batching import make_batches  # noqa: E402
from nerkit.training.loop import Trainer  # noqa: E402
from nerkit.types import CMEEE_LABELS  # noqa: E402


def nerkit_trainer(work: Path, encoder_dir: Path, steps: int) -> Trainer:
    base = work / "base.cfg"
    base.write_text(BASE, encoding="utf8")
    cfg = load_config(
        base,
        {
            "paths.train": str(work / "train.json"),
            "paths.dev": str(work / "train.json"),
            "paths.encoder": str(encoder_dir),
            "training.max_steps": steps,
            "training.batch_size": BUDGET["batch_size"],
        },
    )
    return Trainer(cfg, output_dir=None)


def plain_batches(trainer: Trainer, steps: int, num_labels: int) -> List[Dict[str, torch.Tensor]]:
    """nerkit's first ``steps`` batches as BertForTokenClassification inputs (random tags)."""
    t, feats = trainer.training, trainer.train_feats
    order = make_batches(
        feats, t.batch_size, trainer.system.seed, 0, t.length_bucketing, t.bucket_size
    )
    gen = torch.Generator().manual_seed(0)
    out = []
    for idx in order[:steps]:
        batch = trainer.model.collate([feats[i] for i in idx])
        B, T = batch.input_ids.shape  # [B, T] = [CLS] chars [SEP] pad
        labels = torch.full((B, T), -100, dtype=torch.long)
        L = batch.char_mask.shape[1]
        tags = torch.randint(0, num_labels, (B, L), generator=gen)  # [B, L]
        labels[:, 1 : L + 1] = torch.where(batch.char_mask, tags, -100)
        out.append(
            {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask, "labels": labels}
        )
    return out


def plain_loop(encoder_dir: Path, batches: Sequence[Dict[str, torch.Tensor]], labels: int) -> float:
    """Seconds for a plain transformers training loop over ``batches``."""
    from transformers import BertConfig, BertForTokenClassification, get_cosine_schedule_with_warmup

    torch.manual_seed(13)
    model = BertForTokenClassification(
        BertConfig.from_pretrained(str(encoder_dir), num_labels=labels)
    )
    optimizer = plain_optimizer(model, BUDGET)
    schedule = get_cosine_schedule_with_warmup(
        optimizer, math.ceil(BUDGET["warmup"] * len(batches)), len(batches)
    )
    model.train()
    started = time.perf_counter()
    for batch in batches:
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), BUDGET["clip"])
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    return time.perf_counter() - started


def run(args: argparse.Namespace) -> Dict[str, float]:
    torch.set_num_threads(args.threads)
    require_inputs(args)
    train, _ = split_records(args.corpus)
    work, encoder_dir = make_workdir(train, args, "nerkit-overhead-")
    num_labels = 1 + 2 * len(CMEEE_LABELS)
    times: Dict[str, List[float]] = {"nerkit": [], "plain": []}
    positions = 0
    for _ in range(args.rounds):
        trainer = nerkit_trainer(work, encoder_dir, args.steps)
        batches = plain_batches(trainer, args.steps, num_labels)
        positions = sum(b["input_ids"].numel() for b in batches)
        started = time.perf_counter()
        result = trainer.run()
        times["nerkit"].append(time.perf_counter() - started)
        if result.steps != args.steps:
            raise SystemExit(f"nerkit ran {result.steps} steps, not {args.steps}")
        times["plain"].append(plain_loop(encoder_dir, batches, num_labels))
    nerkit_s, plain_s = (statistics.median(times[k]) for k in ("nerkit", "plain"))
    report = {
        "steps": args.steps,
        "rounds": args.rounds,
        "positions_per_round": positions,
        "nerkit_s": nerkit_s,
        "plain_s": plain_s,
        "nerkit_positions_per_s": positions / nerkit_s,
        "plain_positions_per_s": positions / plain_s,
        "ratio": nerkit_s / plain_s,
    }
    print(
        f"# {args.steps} steps x {args.rounds} rounds, {positions} [B, T] positions per round, "
        f"encoder {args.layers} layers x {args.width}, {args.threads} thread(s)\n"
        "| loop | s (median) | positions/s | time / plain |\n| --- | --- | --- | --- |\n"
        f"| plain transformers | {plain_s:.1f} | {positions / plain_s:.0f} | 1.00 |\n"
        f"| nerkit Trainer.run | {nerkit_s:.1f} | {positions / nerkit_s:.0f} | {report['ratio']:.2f} |"
    )
    return report


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS, help="CMeEE-format JSON file to split")
    ap.add_argument("--vocab", type=Path, default=VOCAB, help="BERT vocab.txt")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    return ap.parse_args(argv)


if __name__ == "__main__":
    run(parse_args())
