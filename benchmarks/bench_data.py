"""Data pipeline throughput on one CPU core: read + validate + char ids + windows.

Workload: every record of ``CMeEE_dev.json`` (5000 records, 270k characters).

* nerkit: ``read_cmeee`` (JSON parse and per-field validation of every record and
  entity), then for each record ``CharVocab.ids`` (one id per character, a fresh
  vocabulary so the per-character cache starts empty) and ``split_windows`` at
  ``--max-chars`` with ``--overlap``, slicing the ids into windows.
* baseline, in the same run: plain ``json.load`` of the file, then a
  ``transformers.BertTokenizerFast`` over the same vocabulary called once per
  record on the text split into characters (``is_split_into_words=True``), the
  usual way to get character-aligned ids. For reference it also times one batched
  call over all texts and a per-record subword call (neither is character-aligned).

It also reports how often nerkit's id equals the tokenizer's for the same
character (texts without whitespace, where both give one id per character).

Run: ``python benchmarks/bench_data.py [--repeat 5 --max-chars 510 --overlap 64]``.
Target: all 5000 records in under 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, List

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout

from nerkit.data.chars import CharVocab  # noqa: E402
from nerkit.data.formats.cmeee import read_cmeee  # noqa: E402
from nerkit.data.windows import split_windows  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _times(fn: Callable[[], object], repeat: int) -> List[float]:
    fn()  # warm-up (imports, file cache)
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(SHARED / "cmeee" / "CMeEE_dev.json"))
    parser.add_argument("--vocab", default=str(SHARED / "vocab" / "bert-base-chinese-vocab.txt"))
    parser.add_argument("--max-chars", type=int, default=510)
    parser.add_argument("--overlap", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for path in (args.data, args.vocab):
        if not Path(path).exists():
            sys.exit(f"not found: {path} (pass --data / --vocab)")
    os.environ.setdefault("RAYON_NUM_THREADS", "1")  # keep the Rust tokenizer on one core too
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    vocab_map = CharVocab.from_file(args.vocab).vocab
    state = {}

    def nerkit_read() -> None:
        state["corpus"] = read_cmeee(args.data)

    def nerkit_encode() -> None:
        vocab = CharVocab(vocab_map)  # empty cache: the cost of first lookups is included
        windows = []
        for ex in state["corpus"]:
            ids = vocab.ids(ex.text)
            for s, e in split_windows(len(ex.text), args.max_chars, args.overlap):
                windows.append(ids[s:e])
        state["windows"] = windows

    def nerkit_all() -> None:
        nerkit_read()
        nerkit_encode()

    from transformers import BertTokenizerFast

    tok = BertTokenizerFast(vocab=args.vocab)  # vocab=, not vocab_file= (ignored by transformers 5)

    def baseline_chars() -> None:
        with open(args.data, encoding="utf-8") as f:
            texts = [r["text"] for r in json.load(f)]
        state["base"] = [
            tok(list(t), is_split_into_words=True, add_special_tokens=False)["input_ids"]
            for t in texts
        ]

    texts = [ex.text for ex in read_cmeee(args.data)]

    def baseline_batched() -> None:
        tok(texts, add_special_tokens=False)

    def baseline_subword() -> None:
        for t in texts:
            tok(t)

    n = len(texts)
    rows = [
        ("nerkit read + validate", _times(nerkit_read, args.repeat)),
        ("nerkit char ids + windows", _times(nerkit_encode, args.repeat)),
        ("nerkit total", _times(nerkit_all, args.repeat)),
        (
            "baseline: json + BertTokenizerFast per record, chars",
            _times(baseline_chars, args.repeat),
        ),
        ("ref: BertTokenizerFast batched, subwords", _times(baseline_batched, args.repeat)),
        ("ref: BertTokenizerFast per record, subwords", _times(baseline_subword, args.repeat)),
    ]
    chars = sum(len(t) for t in texts)
    print(f"{args.data}: {n} records, {chars} characters; median of {args.repeat} runs, one core")
    print(f"{'step':<54}{'seconds':>10}{'records/s':>12}")
    medians = {}
    for name, ts in rows:
        med = statistics.median(ts)
        medians[name] = med
        print(f"{name:<54}{med:>10.4f}{n / med:>12.0f}")
    ratio = (
        medians["baseline: json + BertTokenizerFast per record, chars"] / medians["nerkit total"]
    )
    print(f"speed-up of nerkit total over the baseline: {ratio:.1f}x")
    print(f"windows at max_chars {args.max_chars}, overlap {args.overlap}: {len(state['windows'])}")

    vocab = CharVocab(vocab_map)
    same = total = 0
    for text, base in zip(texts, state["base"], strict=True):
        if any(c.isspace() for c in text) or len(base) != len(text):
            continue
        ours = vocab.ids(text)
        same += sum(a == b for a, b in zip(ours, base, strict=True))
        total += len(text)
    print(
        f"ids equal to the tokenizer's, per character: {same}/{total} = {100 * same / total:.3f}%"
    )


if __name__ == "__main__":
    main()
