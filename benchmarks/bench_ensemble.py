"""An ensemble of seeds against each seed, on the accuracy benchmark's data and budget.

    python benchmarks/bench_ensemble.py --quick                 # 800 / 200 records, 3 epochs
    python benchmarks/bench_ensemble.py --row flat-crf --seeds 13,14,15 --threads 2
    python benchmarks/bench_ensemble.py --row flat-crf --seeds 13,14,15 --jobs 3   # in parallel

One row of ``benchmarks/accuracy.py`` (its config, budget, random 4-layer encoder and
split of ``CMeEE_dev.json``) is trained once per seed by nerkit's loop; each seed's final
model is scored on the held-out part (``--jobs N``: N seeds at a time, each in a process of
its own with ``--threads`` threads; the same models as one after another), then the seeds as one ``nerkit ensemble`` by
majority vote and, where the models share an architecture (they do: one config), by
averaging their decoders' scores. Printed: each seed's F1, their mean and best, and each
ensemble's F1 with its difference to the mean and to the best seed, all from this run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import List, Optional, Sequence

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import torch  # noqa: E402
from accuracy import (  # noqa: E402
    BUDGET,
    CORPUS,
    QUICK,
    ROWS,
    VOCAB,
    entities_of,
    lexicon_words,
    make_workdir,
    row_config,
    split_records,
)

import nerkit  # noqa: E402
from nerkit.ensemble import write_ensemble  # noqa: E402
from nerkit.scoring import score  # noqa: E402
from nerkit.training.loop import Trainer  # noqa: E402
from nerkit.types import Example  # noqa: E402


def train_seed(row: str, seed: int, work: Path, encoder_dir: Path, budget: dict) -> Path:
    """Train the row with ``seed`` into ``work/seed<seed>``; its final model directory."""
    overrides = ROWS[row][1]
    words = lexicon_words(work / "pkuseg_words.txt") if "model.lexicon" in overrides else None
    extra = {
        "system.seed": seed,
        "training.logger": {"@loggers": "nerkit.ConsoleLogger.v1", "progress_bar": False},
    }
    cfg = row_config(overrides, work, encoder_dir, budget, words, extra=extra)
    out = work / f"seed{seed}"
    Trainer(cfg, out).run()
    return out / "model-last"  # the final weights, as accuracy.py scores them


def f1_of(model: Path, examples: List[Example]) -> float:
    nlp = nerkit.load(model, device="cpu")
    preds = nlp.predict_examples(examples, batch_size=64)
    return score([ex.entities for ex in examples], preds, labels=nlp.labels)["f1"]


def main(argv: Optional[Sequence[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--row", default="crf-nested", help=f"a row of accuracy.py: {', '.join(ROWS)}")
    ap.add_argument("--seeds", default="13,14,15")
    ap.add_argument("--quick", action="store_true", help=f"the accuracy benchmark's {QUICK}")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--vocab", type=Path, default=VOCAB)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per training process")
    ap.add_argument("--jobs", type=int, default=1, help="seeds trained at a time (processes)")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    args = ap.parse_args(argv)
    if args.row not in ROWS or args.row == "plain":
        raise SystemExit(f"--row: one of {', '.join(r for r in ROWS if r != 'plain')}")
    for path in (args.corpus, args.vocab):
        if not path.exists():
            raise SystemExit(f"{path} not found (../shared/data is not part of a fresh clone).")
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    budget = dict(BUDGET)
    train, held = split_records(args.corpus)
    if args.quick:
        train, held = train[: QUICK["train_records"]], held[: QUICK["eval_records"]]
        budget["epochs"] = QUICK["epochs"]
    work, encoder_dir = make_workdir(train, args, "nerkit-ensemble-")
    examples = [Example(r["text"], entities_of(r), index=i) for i, r in enumerate(held)]
    print(
        f"# row {args.row}, seeds {seeds}: {len(train)} training / {len(held)} scored records, "
        f"{budget['epochs']} epochs, {args.threads} thread(s), {args.jobs} job(s)",
        flush=True,
    )
    started = time.perf_counter()
    if args.jobs > 1:
        with ProcessPoolExecutor(
            max_workers=args.jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=torch.set_num_threads,
            initargs=(args.threads,),
        ) as pool:
            runs = [pool.submit(train_seed, args.row, s, work, encoder_dir, budget) for s in seeds]
            models = [run.result() for run in runs]
    else:
        models = [train_seed(args.row, seed, work, encoder_dir, budget) for seed in seeds]
    seconds = time.perf_counter() - started
    singles = [f1_of(m, examples) for m in models]
    results = {}
    for method in ("vote", "average"):
        target = Path(tempfile.mkdtemp(prefix=f"ens-{method}-", dir=work)) / "model"
        write_ensemble(models, target, method=method)
        results[method] = f1_of(target, examples)
    mean, best = sum(singles) / len(singles), max(singles)
    print("\n| model | held-out F1 | vs mean of seeds | vs best seed |\n| --- | --- | --- | --- |")
    for seed, f1 in zip(seeds, singles, strict=True):
        print(
            f"| seed {seed} | {100 * f1:.2f} | {100 * (f1 - mean):+.2f} | {100 * (f1 - best):+.2f} |"
        )
    print(f"| mean of seeds | {100 * mean:.2f} | | |")
    names = {"vote": f"ensemble, majority vote ({len(seeds) // 2 + 1} of {len(seeds)})"}
    names["average"] = "ensemble, averaged scores"
    for method, f1 in results.items():
        print(
            f"| {names[method]} | {100 * f1:.2f} | {100 * (f1 - mean):+.2f} | {100 * (f1 - best):+.2f} |"
        )
    print(f"\n# training {seconds:.0f} s for {len(seeds)} seeds; work folder {work}")


if __name__ == "__main__":
    main()
