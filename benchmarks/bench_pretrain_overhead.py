"""`nerkit pretrain`'s loop against a plain transformers masked-LM loop on the same batches.

    python benchmarks/bench_pretrain_overhead.py                      # the accuracy proxy, CMeEE text
    python benchmarks/bench_pretrain_overhead.py --steps 30 --rounds 3 --threads 1
    python benchmarks/bench_pretrain_overhead.py --sample             # tiny BERT, the bundled text

What is compared: ``Pretrainer.run`` (configs/pretrain-quickstart.cfg's settings:
whole-word masking over a word list, AdamW, linear warm-up and decay, clipping 1.0)
for ``--steps`` optimizer steps, against a plain loop over ``BertForMaskedLM`` of the
same config (forward with labels, backward, clipping, AdamW, the same schedule) on
**the same batches**: nerkit's own first batches, masked by nerkit, taken from the
pretrainer's stream before the clock starts. So the plain loop's figure leaves out
reading, windowing, segmenting and masking (a lower bound on any plain script, which
would do them too, e.g. in ``DataCollatorForWholeWordMask``), while nerkit's includes
them and the loop's bookkeeping (and one held-out evaluation of 8 windows at the last
step; no checkpoint is written).

The default model is the accuracy benchmark's proxy (4 layers, width 256, the real
21,128-character vocabulary; ../shared/data) on the CMeEE dev texts with the pkuseg
dictionary's words; ``--sample`` uses the quickstart's tiny BERT, text and lexicon
(offline, in a fresh clone). Rounds alternate nerkit / plain; the report gives the
medians and the ratio of tokens/s (goal: nerkit at least 0.90 of the plain loop's).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # run from a plain checkout
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

from nerkit.config import load_config  # noqa: E402
from nerkit.training.pretrain import Pretrainer  # noqa: E402

SAMPLE = ROOT / "projects" / "quickstart"
CONFIG = ROOT / "configs" / "pretrain-quickstart.cfg"
LR, WARMUP = 1e-3, 0.06


def pretrainer(text: Path, dev: Path, encoder: Path, words: Path, steps: int) -> Pretrainer:
    overrides = {
        "paths.text": str(text),
        "paths.dev_text": str(dev),
        "paths.encoder": str(encoder),
        "paths.words": str(words),
        "pretraining.max_dev_windows": 8,
        "training.max_steps": steps,
        "training.eval_frequency": steps,  # one evaluation, at the last step
        "training.log_every": 0,
        "training.optimizer.learning_rate": LR,
        "training.schedule.warmup_ratio": WARMUP,
        "training.logger": {"@loggers": "nerkit.ConsoleLogger.v1", "progress_bar": False},
        "system.device": "cpu",
    }
    return Pretrainer(load_config(CONFIG, overrides), output_dir=None)


def first_batches(trainer: Pretrainer, steps: int) -> List[Dict[str, torch.Tensor]]:
    """The batches ``trainer.run`` consumes first, epoch after epoch (its stream is
    deterministic)."""
    out: List[Dict[str, torch.Tensor]] = []
    epoch = 0
    while len(out) < steps:
        out.extend(
            b
            for _, b in zip(range(steps - len(out)), trainer._epoch_batches(epoch, 0), strict=False)
        )
        epoch += 1
    return out


def plain_loop(config, batches: Sequence[Dict[str, torch.Tensor]]) -> float:
    """Seconds for a plain transformers MLM loop over ``batches``."""
    from accuracy import plain_optimizer
    from transformers import BertForMaskedLM, get_linear_schedule_with_warmup

    torch.manual_seed(13)
    model = BertForMaskedLM(config)
    optimizer = plain_optimizer(model, {"lr": LR, "weight_decay": 0.01})
    schedule = get_linear_schedule_with_warmup(
        optimizer, math.ceil(WARMUP * len(batches)), len(batches)
    )
    model.train()
    started = time.perf_counter()
    for batch in batches:
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    return time.perf_counter() - started


def inputs(args: argparse.Namespace, work: Path) -> tuple:
    """(text, dev text, encoder dir, words file) for the run."""
    if args.sample:
        corpus = SAMPLE / "corpus"
        return (
            corpus / "train.json",
            corpus / "dev.json",
            SAMPLE / "tiny-bert",
            corpus / "lexicon.txt",
        )
    from accuracy import CORPUS, MAX_LENGTH, VOCAB, lexicon_words
    from base_model import write_encoder_dir

    for path in (CORPUS, VOCAB):
        if not path.exists():
            raise SystemExit(f"{path} not found (../shared/data); run with --sample instead.")
    records = json.loads(CORPUS.read_text(encoding="utf8"))
    text, dev = work / "text.txt", work / "dev.txt"
    text.write_text("\n".join(r["text"] for r in records[:-200]) + "\n", encoding="utf8")
    dev.write_text("\n".join(r["text"] for r in records[-200:]) + "\n", encoding="utf8")
    encoder = work / "encoder"
    write_encoder_dir(encoder, VOCAB, args.layers, args.width, MAX_LENGTH)
    config = json.loads((encoder / "config.json").read_text(encoding="utf8"))
    config["num_attention_heads"] = args.heads
    (encoder / "config.json").write_text(json.dumps(config), encoding="utf8")
    return text, dev, encoder, lexicon_words(work / "words.txt")


def run(args: argparse.Namespace) -> Dict[str, float]:
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="nerkit-pretrain-overhead-"))
    text, dev, encoder, words = inputs(args, work)
    times: Dict[str, List[float]] = {"nerkit": [], "plain": []}
    tokens = 0
    for _ in range(args.rounds):
        trainer = pretrainer(text, dev, encoder, words, args.steps)
        batches = first_batches(trainer, args.steps)
        tokens = sum(int(b["attention_mask"].sum()) for b in batches)
        started = time.perf_counter()
        result = trainer.run()
        times["nerkit"].append(time.perf_counter() - started)
        if result.steps != args.steps:
            raise SystemExit(f"nerkit ran {result.steps} steps, not {args.steps}")
        times["plain"].append(plain_loop(trainer.model.mlm.config, batches))
    nerkit_s, plain_s = (statistics.median(times[k]) for k in ("nerkit", "plain"))
    report = {
        "steps": args.steps,
        "rounds": args.rounds,
        "tokens_per_round": tokens,
        "nerkit_tokens_per_s": tokens / nerkit_s,
        "plain_tokens_per_s": tokens / plain_s,
        "ratio": plain_s / nerkit_s,
    }
    model = "tiny BERT (sample)" if args.sample else f"{args.layers} layers x {args.width}"
    print(
        f"# {args.steps} steps x {args.rounds} rounds, {tokens} tokens per round, {model}, "
        f"{args.threads} thread(s)\n"
        "| loop | s (median) | tokens/s | tokens/s / plain |\n| --- | --- | --- | --- |\n"
        f"| plain transformers MLM | {plain_s:.1f} | {tokens / plain_s:.0f} | 1.00 |\n"
        f"| nerkit Pretrainer.run | {nerkit_s:.1f} | {tokens / nerkit_s:.0f} | {report['ratio']:.2f} |"
    )
    return report


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sample", action="store_true", help="tiny BERT and the bundled text")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    return ap.parse_args(argv)


if __name__ == "__main__":
    run(parse_args())
