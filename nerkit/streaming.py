"""Streaming prediction over JSON Lines of any size (``nerkit predict IN.jsonl -o OUT.jsonl``).

Records are read one line at a time, predicted ``chunk_size`` at a time through
``Pipeline.pipe`` and written (and flushed) as each chunk is done, in input
order, so memory holds one chunk whatever the input's size. Each output line is
the input record with its ``entities`` set to the predictions (CMeEE keys
``start_idx``, ``end_idx`` inclusive, ``type``, ``entity``); every other field
(ids, metadata) is kept as it was.

``resume=True`` continues an interrupted output: its complete lines are kept
(a last line cut by the interruption is dropped), the same number of input
records is skipped and the rest is appended, so no record is duplicated or
lost; the last kept line must hold the same text as its input record.

Under ``torchrun`` (``WORLD_SIZE`` > 1) rank r predicts records r, r + W,
r + 2W, ... into ``OUT.rank<r>-of-<W>.part``; after a barrier rank 0 interleaves
the parts back into input order in ``OUT`` and removes them. ``resume`` resumes
each rank's part.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from .data.encoding import decoded_lines
from .data.plaintext import text_lines
from .errors import DataError, NerkitError

STDIO = "-"


@dataclass(frozen=True)
class Shard:
    """This process's share of the records: those with ``index % world == rank``."""

    rank: int = 0
    world: int = 1

    @classmethod
    def from_env(cls) -> Shard:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        if not 0 <= rank < world:
            raise NerkitError(f"RANK={rank} is not in [0, WORLD_SIZE={world}).")
        return cls(rank, world)


def read_records(
    fh: Iterable[str], source: str, skip: int = 0, shard: Shard = Shard(), plain: bool = False
) -> Iterator[Tuple[int, Dict[str, Any]]]:
    """(line number, record) of this shard's records of a JSON Lines stream, after the
    first ``skip`` of them. Blank lines are not records. Lines of other shards and
    skipped lines are not parsed. ``plain``: the stream is plain text, every line (empty
    ones too) the record ``{"id": line number, "text": line}``."""
    index = -1
    mine = 0
    for lineno, line in text_lines(fh, source):
        if not plain and not line.strip():
            continue
        index += 1
        if index % shard.world != shard.rank:
            continue
        mine += 1
        if mine <= skip:
            continue
        if plain:
            yield lineno, {"id": lineno, "text": line}
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(
                f"{source}, line {lineno}: invalid JSON ({err.msg}, column {err.colno}). Each line of a "
                'JSON Lines file is one record such as {"id": 1, "text": "..."}; plain text (one '
                "text a line) is read with --from text or from a .txt file."
            ) from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            got = (
                type(record).__name__
                if not isinstance(record, dict)
                else f"text = {record.get('text')!r:.40}"
            )
            raise DataError(
                f'{source}, line {lineno}: expected an object with a string "text" field, got {got}. '
                "Fix or remove the line, then run again with --resume to keep what is done."
            )
        yield lineno, record


def sniff_plain(lines: Iterable[str]) -> Tuple[bool, Iterator[str]]:
    """Whether a stream (stdin) is plain text rather than JSON Lines: its first non-blank line
    does not start with "{". Returns the answer and the stream with the lines read put back."""
    it = iter(lines)
    head: List[str] = []
    for line in it:
        head.append(line)
        if line.strip():
            break
    plain = not (head and head[-1].lstrip().startswith("{"))
    return plain, itertools.chain(head, it)


def predicted_records(
    predict: Callable[[List[str]], Iterable[list]],
    records: Iterable[Tuple[int, Dict[str, Any]]],
    chunk_size: int,
) -> Iterator[List[Dict[str, Any]]]:
    """Chunks of output records: each input record with ``entities`` set to its predictions."""
    it = iter(records)
    while True:
        chunk = list(itertools.islice(it, min(chunk_size, sys.maxsize)))
        if not chunk:
            return
        out = []
        for (_, record), spans in zip(chunk, predict([r["text"] for _, r in chunk]), strict=True):
            record = dict(record)
            record["entities"] = [
                {"start_idx": s.start, "end_idx": s.end, "type": s.type, "entity": s.text}
                for s in spans
            ]
            out.append(record)
        yield out


def _starts_a_json_list(path: Path) -> bool:
    """A file whose first character (past a BOM and blanks) is "[": a JSON list, not JSON Lines."""
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        return fh.read(4096).lstrip()[:1] == "["


def complete_lines(path: Path) -> Tuple[int, Optional[str]]:
    """Cut a last line without its newline off ``path`` (an interrupted write); return the
    number of non-blank lines left and the last of them."""
    count, last, keep = 0, None, 0
    with open(path, "rb") as fh:
        offset = 0
        for line in fh:
            offset += len(line)
            if not line.endswith(b"\n"):
                break
            keep = offset
            if line.strip():
                count += 1
                last = line
    if keep != path.stat().st_size:
        with open(path, "r+b") as fh:
            fh.truncate(keep)
    return count, last.decode("utf-8") if last is not None else None


def count_records(path: Path, plain: bool = False) -> int:
    """Non-blank lines of a file (every line, for plain text), read in blocks (for the
    progress bar's ETA)."""
    n = 0
    with open(path, "rb") as fh:
        for line in fh:
            n += plain or bool(line.strip())
    return n


class _Progress:
    """records done, records/s and ETA on a terminal (stderr); nothing otherwise."""

    def __init__(self, enabled: bool, total: Optional[int], done: int) -> None:
        self.bar = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        columns = [TextColumn("predicting"), BarColumn(), MofNCompleteColumn()]
        columns += [
            TextColumn("{task.fields[rate]} records/s"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        ]
        self.bar = Progress(*columns, console=Console(file=sys.stderr), transient=False)
        self.task = self.bar.add_task("predict", total=total, completed=done, rate="-")
        self.start, self.done0, self.done = time.monotonic(), done, done

    def advance(self, n: int) -> None:
        if self.bar is None:
            return
        self.done += n
        rate = (self.done - self.done0) / max(time.monotonic() - self.start, 1e-9)
        self.bar.update(self.task, advance=n, rate=f"{rate:,.0f}")

    @contextmanager
    def shown(self) -> Iterator[_Progress]:
        if self.bar is None:
            yield self
            return
        with self.bar:
            yield self


@dataclass
class StreamResult:
    records: int  # written by this run
    resumed: int  # kept from an earlier run
    entities: int


def part_path(output: Path, shard: Shard) -> Path:
    return output.with_name(f"{output.name}.rank{shard.rank}-of-{shard.world}.part")


def predict_stream(
    predict: Callable[[List[str]], Iterable[list]],
    input: str,
    output: str,
    resume: bool = False,
    chunk_size: int = 1024,
    progress: Optional[bool] = None,
    shard: Shard = Shard(),
    plain: Optional[bool] = False,
) -> StreamResult:
    """Predict every record of the JSON Lines ``input`` (``-``: stdin) into ``output``
    (``-``: stdout). ``predict``: texts -> spans per text (``Pipeline.pipe``).
    ``plain``: the input is plain text, one text a line (see ``read_records``); None: tell
    from its first line (stdin)."""
    if chunk_size < 1:
        raise NerkitError(f"--chunk-size must be at least 1, got {chunk_size}.")
    if output == STDIO and resume:
        raise NerkitError(
            "--resume needs an output file: it continues the file it finds there, not stdout."
        )
    if shard.world > 1 and STDIO in (input, output):
        raise NerkitError(
            "Under torchrun, INPUT and --output must be files (each rank reads its share of INPUT and "
            "rank 0 merges the ranks' parts into --output), not '-'."
        )
    if input != STDIO and not Path(input).is_file():
        raise DataError(f"file not found: {input}")
    if input != STDIO and plain is None:
        with open(input, encoding="utf-8-sig", errors="replace") as fh:
            plain = sniff_plain(fh)[0]
    if input != STDIO and not plain and _starts_a_json_list(Path(input)):
        raise DataError(
            f"{input} holds one JSON list, but JSON Lines output{' under torchrun' if shard.world > 1 else ''} "
            "is streamed from JSON Lines input (one record per line, .jsonl). Convert it "
            '(python -c "import json,sys; [print(json.dumps(r, ensure_ascii=False)) for r in json.load(open(sys.argv[1]))]" '
            f"{input} > in.jsonl) or write a .json --output."
        )
    target = (
        part_path(Path(output), shard)
        if shard.world > 1
        else (Path(output) if output != STDIO else None)
    )
    done, last = 0, None
    if resume and target is not None and target.exists():
        done, last = complete_lines(target)
    if progress is None:
        progress = sys.stderr.isatty()
    total = None
    if progress and input != STDIO:
        n = count_records(Path(input), bool(plain))
        total = len(range(shard.rank, n, shard.world))
    source = "stdin" if input == STDIO else input
    # bytes, decoded line by line in the input encoding (stdin too: never passed on undecoded)
    fin = getattr(sys.stdin, "buffer", sys.stdin) if input == STDIO else open(input, "rb")
    lines: Iterable[str] = fin if isinstance(fin, io.TextIOBase) else decoded_lines(fin, source)
    if plain is None:
        plain, lines = sniff_plain(lines)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
    fout = sys.stdout if target is None else open(target, "a" if resume else "w", encoding="utf-8")
    written = entities = 0
    try:
        records = read_records(lines, source, skip=max(done - 1, 0), shard=shard, plain=plain)
        if done:  # the record of the last kept line comes first: check it, then go on
            _check_resume_point(next(records, None), source, done, last, target, shard)
        bar = _Progress(progress, total, done)
        with bar.shown():
            for chunk in predicted_records(predict, records, chunk_size):
                fout.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in chunk))
                fout.flush()
                written += len(chunk)
                entities += sum(len(r["entities"]) for r in chunk)
                bar.advance(len(chunk))
    except BaseException:
        if fout is not sys.stdout and not written and not done:
            fout.close()
            target.unlink()  # failed before the first record: leave no empty output behind
        raise
    finally:
        if input != STDIO:
            fin.close()
        if fout is not sys.stdout:
            fout.close()
    return StreamResult(written, done, entities)


def _check_resume_point(
    pair: Optional[Tuple[int, Dict[str, Any]]],
    source: str,
    done: int,
    last: str,
    target: Path,
    shard: Shard,
) -> None:
    """The last kept output line must be the output of input record ``done`` (of this shard)."""
    try:
        kept = json.loads(last)
    except json.JSONDecodeError:
        kept = None
    if pair is not None and isinstance(kept, dict) and kept.get("text") == pair[1]["text"]:
        return
    raise NerkitError(
        f"--resume: {target} has {done} records but its last one is not the output of record {done} of "
        f"{source}{' (of this rank)' if shard.world > 1 else ''}: it was written for another input. "
        "Pass the output of an interrupted run of the same input, or drop --resume to start over."
    )


def merge_parts(output: Path, world: int) -> int:
    """Interleave ``world`` part files (rank r holds records r, r + W, ...) into ``output``
    in input order, through a temporary file renamed into place; remove the parts."""
    parts = [part_path(output, Shard(r, world)) for r in range(world)]
    missing = [str(p) for p in parts if not p.exists()]
    if missing:
        raise NerkitError(f"Cannot merge the ranks' outputs: missing {', '.join(missing)}.")
    tmp = output.with_name(f".{output.name}.merging")
    handles = [open(p, encoding="utf-8") for p in parts]
    n = 0
    try:
        with open(tmp, "w", encoding="utf-8") as out:
            while True:
                line = handles[n % world].readline()
                if not line:
                    break
                out.write(line)
                n += 1
            rest = [r for r, h in enumerate(handles) if h.readline()]
            if rest:
                raise NerkitError(
                    f"Cannot merge: the part of rank {rest[0]} has more records than its share."
                )
        os.replace(tmp, output)
    finally:
        for h in handles:
            h.close()
        if tmp.exists():
            tmp.unlink()
    for p in parts:
        p.unlink()
    return n
