"""Split a labelled CMeEE file into a training part and an evaluation part.

For when the official training file is not at hand (only ``CMeEE_dev.json``):
record ``i`` (0-based, in file order) goes to the evaluation part when
``i % k == 0`` (k = 5 by default), otherwise to the training part. On the
5,000-record dev file that gives 1,000 evaluation and 4,000 training records.
The split is deterministic (no shuffling, no seed), so anyone gets the same
files; report results on it as "dev split i % 5 == 0", not as test F1.

    python split_dev.py assets/cmeee/CMeEE_dev.json --out assets/cmeee-split
    # -> assets/cmeee-split/train.json (4000), assets/cmeee-split/eval.json (1000)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, List, Sequence, Tuple


class SplitError(Exception):
    """A problem with the input file, with the file and record named."""


def split_records(records: Sequence[Any], k: int = 5) -> Tuple[List[Any], List[Any]]:
    """(train, eval): record i goes to eval when i % k == 0, else to train."""
    if k < 2:
        raise SplitError(f"--every must be >= 2 (got {k}): every k-th record is held out.")
    train = [r for i, r in enumerate(records) if i % k != 0]
    held = [r for i, r in enumerate(records) if i % k == 0]
    return train, held


def read_records(path: Path) -> List[Any]:
    if not path.exists():
        raise SplitError(
            f"{path}: file not found. Put the CBLUE CMeEE files under assets/cmeee/ "
            "(see projects/cmeee/README.md) or pass the path of a CMeEE JSON file."
        )
    try:
        data = json.loads(path.read_text(encoding="utf8"))
    except json.JSONDecodeError as err:
        raise SplitError(
            f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})."
        ) from None
    if not isinstance(data, list):
        raise SplitError(f"{path}: expected a JSON list of records, got {type(data).__name__}.")
    for i, rec in enumerate(data):
        if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
            raise SplitError(f"{path}, record {i}: expected an object with a 'text' string.")
        if not isinstance(rec.get("entities"), list):
            raise SplitError(
                f"{path}, record {i}: no 'entities' list. Only a labelled file (e.g. CMeEE_dev.json, "
                "not CMeEE_test.json) can be split into training and evaluation data."
            )
    return data


def write_records(path: Path, records: Sequence[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(list(records), ensure_ascii=False, indent=1), encoding="utf8")
    tmp.replace(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "input", type=Path, help="labelled CMeEE JSON file, e.g. assets/cmeee/CMeEE_dev.json"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("assets/cmeee-split"), help="output folder"
    )
    parser.add_argument(
        "--every", type=int, default=5, help="hold out record i when i %% every == 0"
    )
    args = parser.parse_args(argv)
    try:
        records = read_records(args.input)
        train, held = split_records(records, args.every)
    except SplitError as err:
        print(f"split_dev: {err}", file=sys.stderr)
        return 1
    write_records(args.out / "train.json", train)
    write_records(args.out / "eval.json", held)
    print(
        f"{args.input}: {len(records)} records -> {args.out / 'train.json'} ({len(train)}), "
        f"{args.out / 'eval.json'} ({len(held)}; records i % {args.every} == 0)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
