"""Pretrain the accuracy benchmark's proxy encoder and its word vectors, for the ladder.

    python benchmarks/pretrained.py --out runs/proxy --minutes 45 --threads 2   # the budget
    python benchmarks/pretrained.py --out runs/proxy --steps 60                 # a quick size
    python benchmarks/accuracy.py --pretrained runs/proxy/model-best \\
        --vectors runs/proxy/vectors.txt --seeds 13,14,15 --threads 2          # the ladder

The proxy is accuracy.py's encoder (4 layers, width 256, 4 heads, windows of 128, the
real 21,128-character vocabulary), pretrained from random weights by `nerkit pretrain`'s
own loop (configs/pretrain-quickstart.cfg's settings with the overrides below) on the
unlabeled text that does not touch the scored split: ``medical-dialogue.txt`` (less its
last 300 documents, the held-out text of the MLM loss), the texts of the index % 5 != 0
part of CMeEE_dev.json, and every CMeEE_test.json text. Masking: whole words of the
pkuseg dictionary shipped in spacy-pkuseg's wheel (pkuseg's ``medicine`` model can't be
downloaded here), matched longest-first. Then `nerkit vectors` (skip-gram, negative
sampling, dimension 100) over the same text and words. ``--minutes`` stops the
pretraining at the first evaluation after that much wall time (``--steps`` is then the
schedule's length). Writes OUT/model-best, OUT/model-last (Hugging Face directories),
OUT/vectors.txt and OUT/pretraining.json (the command, steps, seconds, held-out MLM loss
and perplexity per evaluation).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # run from a plain checkout
sys.path.insert(0, str(HERE))

import torch  # noqa: E402
from accuracy import MAX_LENGTH, SHARED, lexicon_words, split_records  # noqa: E402
from base_model import write_encoder_dir  # noqa: E402

from nerkit.config import load_config  # noqa: E402
from nerkit.training.pretrain import Pretrainer  # noqa: E402
from nerkit.training.vectors import train_vectors  # noqa: E402

CONFIG = ROOT / "configs" / "pretrain-quickstart.cfg"
HELD_OUT = 300  # dialogue documents kept for the held-out MLM loss


def write_text(work: Path, dialogue: Path, corpus: Path, test: Path) -> Dict[str, Any]:
    """work/text.txt (pretraining text) and work/heldout.txt; their document counts."""
    docs = [line for line in dialogue.read_text(encoding="utf8").splitlines() if line.strip()]
    train_records, _ = split_records(corpus)  # index % 5 != 0: never the scored part
    test_texts = [r["text"] for r in json.loads(test.read_text(encoding="utf8"))]
    text = docs[:-HELD_OUT] + [r["text"] for r in train_records] + test_texts
    (work / "text.txt").write_text("\n".join(text) + "\n", encoding="utf8")
    (work / "heldout.txt").write_text("\n".join(docs[-HELD_OUT:]) + "\n", encoding="utf8")
    return {
        "dialogue": len(docs) - HELD_OUT,
        "cmeee_dev_train_part": len(train_records),
        "cmeee_test": len(test_texts),
        "held_out": HELD_OUT,
        "characters": sum(len(t) for t in text),
    }


class _Timed(Pretrainer):
    """Stops at the first evaluation after ``deadline`` (time.time())."""

    deadline: Optional[float] = None

    def _evaluate(self, loss: float, started: float) -> bool:
        stop = super()._evaluate(loss, started)
        return stop or (self.deadline is not None and time.time() > self.deadline)


def overrides(work: Path, encoder: Path, words: Path, args: argparse.Namespace) -> Dict[str, Any]:
    return {
        "paths.text": str(work / "text.txt"),
        "paths.dev_text": str(work / "heldout.txt"),
        "paths.encoder": str(encoder),
        "paths.words": str(words),
        "system.seed": 13,
        "system.num_threads": args.threads,
        "system.device": args.device,
        "pretraining.window_overlap": 0,
        "pretraining.max_dev_windows": 400,
        "training.max_steps": args.steps,
        "training.batch_size": args.batch_size,
        "training.eval_batch_size": 64,
        "training.eval_frequency": args.eval_every,
        "training.log_every": 10,
        "training.optimizer.learning_rate": args.lr,
        "training.schedule.warmup_ratio": 0.06,
        "vectors.dim": 100,
        "vectors.min_count": 2,
        "vectors.epochs": 5,
        "vectors.workers": args.threads,
    }


def run(args: argparse.Namespace) -> Dict[str, Any]:
    data = args.data
    dialogue, corpus = (
        data / "unlabeled" / "medical-dialogue.txt",
        data / "cmeee" / "CMeEE_dev.json",
    )
    test, vocab = data / "cmeee" / "CMeEE_test.json", data / "vocab" / "bert-base-chinese-vocab.txt"
    for path in (dialogue, corpus, test, vocab):
        if not path.exists():
            raise SystemExit(f"{path} not found (../shared/data is not part of a fresh clone).")
    torch.set_num_threads(args.threads)
    out = args.out
    work = out / "inputs"
    work.mkdir(parents=True, exist_ok=True)
    counts = write_text(work, dialogue, corpus, test)
    encoder = work / "encoder"
    write_encoder_dir(encoder, vocab, 4, 256, MAX_LENGTH)
    words = lexicon_words(work / "pkuseg_words.txt")
    cfg = load_config(CONFIG, overrides(work, encoder, words, args))
    report: Dict[str, Any] = {"command": " ".join(sys.argv), "text": counts}
    if not args.vectors_only:
        trainer = _Timed(cfg, out)
        trainer.deadline = time.time() + 60 * args.minutes if args.minutes else None
        started = time.perf_counter()
        result = trainer.run()
        report.update(
            steps=result.steps,
            schedule_steps=trainer.total_steps,
            pretraining_seconds=round(time.perf_counter() - started, 1),
            best_step=result.best_step,
            best_dev_loss=result.best_loss,
            history=[
                {k: r[k] for k in ("step", "loss", "dev_loss", "perplexity")}
                for r in result.history
            ],
        )
    if (out / "vectors.txt").is_file():  # made earlier (--vectors-only on a CPU machine)
        report["vectors"] = {"kept": str(out / "vectors.txt")}
    else:
        vec_started = time.perf_counter()
        vectors = train_vectors(cfg, out / "vectors.txt")
        report["vectors"] = {
            "words": vectors.words,
            "tokens": vectors.tokens,
            "dim": vectors.dim,
            "seconds": round(time.perf_counter() - vec_started, 1),
        }
    report["threads"] = args.threads
    name = "vectors.json" if args.vectors_only else "pretraining.json"
    (out / name).write_text(json.dumps(report, indent=1), encoding="utf8")
    print(json.dumps({k: v for k, v in report.items() if k != "history"}, indent=1))
    return report


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=SHARED, help="the shared data folder")
    ap.add_argument("--steps", type=int, default=3000, help="the schedule's length")
    ap.add_argument("--minutes", type=float, default=0, help="wall-time budget (0: none)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--vectors-only",
        action="store_true",
        help="only the word vectors (gensim; for a GPU machine that lacks it, made here first)",
    )
    ap.add_argument("--device", default="auto", help="auto (a GPU when one is visible), cpu, cuda")
    return ap.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> List[Any]:
    return [run(parse_args(argv))]


if __name__ == "__main__":
    main()
