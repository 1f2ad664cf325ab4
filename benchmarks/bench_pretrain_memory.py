"""Peak memory of `nerkit pretrain` on a text file 1x and Nx the bundled sample text.

    python benchmarks/bench_pretrain_memory.py            # 1x and 20x, one epoch each
    python benchmarks/bench_pretrain_memory.py --times 5 --max-steps 100

The bundled sample text is the texts of projects/quickstart/corpus/train.json (400
documents), written one document a line; the Nx file repeats them N times. Each size
runs `configs/pretrain-quickstart.cfg` (the tiny BERT, whole-word masking over the
quickstart lexicon) in a fresh process for one epoch (or --max-steps steps, a prefix
of the epoch; the check pass still reads the whole file), and reports the process's
peak resident memory (``ru_maxrss``) and the ratio Nx / 1x. Streaming means the ratio
stays near 1 while the file grows N times.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = r"""
import json, resource, sys, time
from nerkit.config import load_config
from nerkit.training.pretrain import pretrain
overrides = json.loads(sys.argv[2])
t0 = time.perf_counter()
result = pretrain(load_config(sys.argv[1], overrides), sys.argv[3])
print(json.dumps({"steps": result.steps, "seconds": time.perf_counter() - t0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(text: Path, out: Path, max_steps: int) -> dict:
    overrides = {
        "pretraining.train": str(text),
        "training.max_epochs": 1,
        "training.max_steps": max_steps,
        "training.eval_frequency": 0,
        "training.log_every": 0,
        "training.logger": {"@loggers": "nerkit.ConsoleLogger.v1", "progress_bar": False},
        "system.device": "cpu",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            str(ROOT / "configs" / "pretrain-quickstart.cfg"),
            json.dumps(overrides),
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--times", type=int, default=20, help="size of the big file, x the sample")
    parser.add_argument("--max-steps", type=int, default=0, help="0: one whole epoch")
    args = parser.parse_args()
    records = json.loads((ROOT / "projects/quickstart/corpus/train.json").read_text("utf8"))
    sample = "\n".join(r["text"] for r in records) + "\n"
    with tempfile.TemporaryDirectory() as tmp:
        rows = {}
        for times in (1, args.times):
            path = Path(tmp) / f"text-{times}x.txt"
            path.write_text(sample * times, encoding="utf8")
            row = run(path, Path(tmp) / f"out-{times}", args.max_steps)
            row["file_mb"] = path.stat().st_size / 2**20
            rows[times] = row
            print(
                f"{times:>3}x: {row['file_mb']:.2f} MB of text, {row['steps']} steps, "
                f"{row['seconds']:.1f} s, peak RSS {row['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    ratio = rows[args.times]["peak_rss_mb"] / rows[1]["peak_rss_mb"]
    print(f"peak RSS {args.times}x / 1x: {ratio:.3f} (file {args.times}x larger)")


if __name__ == "__main__":
    main()
