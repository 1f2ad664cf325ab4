"""The study's ladder on the pretrained proxy, every (row, seed, encoder) in parallel.

    python benchmarks/ladder.py --out runs/ladder --device cuda --jobs 8 --random   # one GPU
    python benchmarks/ladder.py --out runs/ladder --jobs 2 --threads 1              # 2 cores
    python benchmarks/ladder.py --out runs/ladder --table                            # the table

Step 1 pretrains the proxy encoder and its word vectors (``benchmarks/pretrained.py``
into OUT/proxy) unless OUT/proxy already holds them. Step 2 runs each ladder row of
``benchmarks/accuracy.py`` (``LADDER_ROWS``: the plain transformers script, the
study's head, FLAT, + in-domain vectors, + FGM, + PGD, LLRD, the other decoders) once
per seed, on the pretrained encoder and, with ``--random``, on the same encoder's
random initialisation: one ``accuracy.py`` process per (row, seed, encoder), ``--jobs``
of them at a time, each appending its row to OUT/ladder.jsonl. A job whose row is
already in that file is not run again, so a stopped ladder resumes where it stopped.
Step 3 prints one line per row: F1 mean and standard deviation over the seeds on each
encoder, the gain from pretraining, the gap to the plain script in standard
deviations, and the study's figure for the same step (docs/results.md).

Jobs run side by side, so their wall times and tokens/s share the machine: read F1
here, speed from ``accuracy.py`` run alone.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from accuracy import LADDER_ROWS, ROWS, SHARED  # noqa: E402

# The study's CMeEE test F1 for the step a row stands for (docs/results.md).
STUDY: Dict[str, Tuple[float, str]] = {
    "nested-strict": (62.684, "bert-linear-nested"),
    "nested-lld0.8": (62.905, "bert-linear-nested-lld0.8"),
    "nested-lld0.9": (63.010, "bert-linear-nested-lld0.9"),
    "nested-lld0.95": (62.905, "bert-linear-nested-lld0.95"),
    "flat-vectors": (63.392, "bert-flat-sgns"),
    "flat-vectors-fgm": (64.349, "roberta-flat-pkuseg-fgm"),
    "flat-vectors-pgd": (64.482, "roberta-flat-pkuseg-pgd"),
}


@dataclass(frozen=True)
class Job:
    """One accuracy.py run: ``row`` with ``seed`` on the pretrained or the random encoder."""

    row: str
    seed: int
    pretrained: bool

    @property
    def name(self) -> str:
        return f"{self.row}-{self.seed}-{'pretrained' if self.pretrained else 'random'}"


def key_of(record: dict) -> Tuple[str, int, bool]:
    """The (row, seed, pretrained) a line of ladder.jsonl answers."""
    return record["row"], int(record["seed"]), record.get("encoder", "random") != "random"


def read_rows(path: Path) -> List[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf8").splitlines() if line]


def plan(
    rows: Sequence[str], seeds: Sequence[int], random_too: bool, done: Iterable[dict]
) -> List[Job]:
    """The jobs still to run, slowest rows (the lattice ones) first so that the pool ends
    together: every row x seed on the pretrained encoder, and on the random one with
    ``random_too``, less those with a line in ``done``."""
    finished = {key_of(r) for r in done}
    encoders = (True, False) if random_too else (True,)
    jobs = [
        Job(row, seed, pretrained)
        for pretrained in encoders
        for seed in seeds
        for row in rows
        if (row, seed, pretrained) not in finished
    ]
    return sorted(jobs, key=lambda j: not ROWS[j.row][1].get("model.fusion"))


def command(job: Job, args: argparse.Namespace, proxy: Path) -> List[str]:
    cmd = [
        sys.executable,
        str(HERE / "accuracy.py"),
        "--rows",
        job.row,
        "--seeds",
        str(job.seed),
        "--skip-plain",
        "--device",
        args.device,
        "--threads",
        str(args.threads),
        "--corpus",
        str(args.data / "cmeee" / "CMeEE_dev.json"),
        "--vocab",
        str(args.data / "vocab" / "bert-base-chinese-vocab.txt"),
        "--vectors",
        str(proxy / "vectors.txt"),
        "--json",
        str(args.out / "ladder.jsonl"),
    ]
    if job.pretrained:
        cmd += ["--pretrained", str(proxy / "model-best")]
    if args.epochs:
        cmd += ["--epochs", str(args.epochs)]
    if args.max_records:
        cmd += ["--max-records", str(args.max_records)]
    return cmd


def run_job(job: Job, args: argparse.Namespace, proxy: Path) -> Tuple[Job, int, float]:
    log = args.out / "logs" / f"{job.name}.log"
    started = time.perf_counter()
    with open(log, "w", encoding="utf8") as fh:
        rc = subprocess.call(command(job, args, proxy), stdout=fh, stderr=subprocess.STDOUT)
    return job, rc, time.perf_counter() - started


def _stats(values: List[float]) -> Tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def table(records: List[dict]) -> str:
    """Per row: F1 mean (std, n) on each encoder, the pretraining gain, the gap to the
    plain script on the pretrained encoder (in units of the larger std), the study."""
    f1: Dict[Tuple[str, bool], List[float]] = {}
    for r in records:
        row, _, pretrained = key_of(r)
        f1.setdefault((row, pretrained), []).append(100 * r["f1"])
    plain = f1.get(("plain", True))
    lines = [
        "| row | pretrained F1 | random-init F1 | pretraining gain | - plain (in std) | study |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in [*LADDER_ROWS, *sorted({k[0] for k in f1} - set(LADDER_ROWS))]:
        cells = []
        means = {}
        for pretrained in (True, False):
            values = f1.get((row, pretrained))
            if values:
                means[pretrained], std = _stats(values)
                cells.append(f"{means[pretrained]:.1f} ± {std:.1f} ({len(values)})")
            else:
                cells.append("-")
        if not means:
            continue
        gain = f"{means[True] - means[False]:+.1f}" if len(means) == 2 else "-"
        gap = "-"
        if row != "plain" and True in means and plain and len(plain) > 1:
            values = f1[row, True]
            spread = max(_stats(values)[1], _stats(plain)[1])
            delta = means[True] - _stats(plain)[0]
            gap = f"{delta:+.1f} ({delta / spread:+.1f})" if spread > 0 else f"{delta:+.1f}"
        study = f"{STUDY[row][0]:.2f} (`{STUDY[row][1]}`)" if row in STUDY else "-"
        lines.append(f"| {row} | {cells[0]} | {cells[1]} | {gain} | {gap} | {study} |")
    return "\n".join(lines)


def pretrain(args: argparse.Namespace, proxy: Path) -> None:
    if (proxy / "model-best").is_dir() and (proxy / "vectors.txt").is_file():
        print(f"# step 1: {proxy} holds a pretrained proxy and vectors; kept", flush=True)
        return
    cmd = [sys.executable, str(HERE / "pretrained.py"), "--out", str(proxy), "--data"]
    cmd += [str(args.data), "--threads", str(args.threads), "--device", args.device]
    cmd += ["--steps", str(args.pretrain_steps), "--minutes", str(args.pretrain_minutes)]
    print("# step 1:", " ".join(cmd), flush=True)
    if subprocess.call(cmd) != 0:
        raise SystemExit("ladder: the pretraining failed (its output is above).")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=SHARED, help="the shared data folder")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda (every job on that GPU)")
    ap.add_argument("--jobs", type=int, default=1, help="accuracy.py processes at a time")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--seeds", default="13,14,15")
    ap.add_argument("--rows", default=",".join(LADDER_ROWS))
    ap.add_argument("--random", action="store_true", help="also each row from random weights")
    ap.add_argument("--pretrain-steps", type=int, default=3000)
    ap.add_argument("--pretrain-minutes", type=float, default=45)
    ap.add_argument("--epochs", type=int, default=0, help="override the budget's epochs")
    ap.add_argument("--max-records", type=int, default=0, help="a quick size (accuracy.py's)")
    ap.add_argument("--table", action="store_true", help="print OUT/ladder.jsonl's table, exit")
    args = ap.parse_args(argv)
    unknown = [r for r in args.rows.split(",") if r not in ROWS]
    if unknown:
        ap.error(f"--rows: unknown rows {unknown}; rows: {', '.join(ROWS)}")
    if args.jobs < 1 or args.threads < 1:
        ap.error("--jobs and --threads: at least 1")
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    results = args.out / "ladder.jsonl"
    if args.table:
        print(table(read_rows(results)))
        return
    (args.out / "logs").mkdir(parents=True, exist_ok=True)
    proxy = args.out / "proxy"
    pretrain(args, proxy)
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = plan(args.rows.split(","), seeds, args.random, read_rows(results))
    print(f"# step 2: {len(jobs)} jobs, {args.jobs} at a time; logs in {args.out / 'logs'}")
    failed = []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_job, job, args, proxy) for job in jobs]
        for future in as_completed(futures):
            job, rc, seconds = future.result()
            print(f"{job.name}: {'ok' if rc == 0 else f'exit {rc}'} ({seconds:.0f} s)", flush=True)
            if rc != 0:
                failed.append(job.name)
    print()
    print(table(read_rows(results)))
    if failed:
        raise SystemExit(f"ladder: {len(failed)} jobs failed (see their logs): {', '.join(failed)}")


if __name__ == "__main__":
    main()
