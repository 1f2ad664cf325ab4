"""CMeEE JSON and JSON Lines (``nerkit.CMeEEJson.v1`` and friends, ``nerkit.CMeEEWriter.v1``).

The reader lives in :mod:`nerkit.data.readers` (records ``{"text", "entities":
[{"start_idx", "end_idx", "type", "entity"}]}``, ``end_idx`` *inclusive*, the
entity string checked against the text). The writer writes a JSON list (or
JSON Lines for a ``.jsonl`` path), entities sorted, with an ``id`` for records
that have one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ...types import Example
from ..readers import CMeEEReader
from .base import Format, PathLike, WriteReport, add_format, unique_entities, write_json_records


class CMeEEWriter:
    def __init__(self, lines: str) -> None:
        self.lines = lines

    def __call__(self, path: PathLike, examples: Sequence[Example]) -> WriteReport:
        report = WriteReport(Path(path))
        records = []
        for ex in examples:
            ents = unique_entities(ex)
            rec: dict = {} if ex.id is None else {"id": ex.id}
            rec["text"] = ex.text
            rec["entities"] = [
                {
                    "start_idx": e.start,
                    "end_idx": e.end,
                    "type": e.label,
                    "entity": ex.text[e.start : e.end + 1],
                }
                for e in ents
            ]
            records.append(rec)
            report.records += 1
            report.entities += len(ents)
        lines = (
            Path(path).suffix.lower() == ".jsonl" if self.lines == "auto" else self.lines == "yes"
        )
        write_json_records(path, records, lines=lines, indent=None)  # compact, as write_cmeee
        return report


def cmeee_writer(lines: str = "auto") -> CMeEEWriter:
    """CMeEE records (end_idx inclusive): a JSON list, or JSON Lines for .jsonl paths
    (lines: "auto", "yes" or "no")."""
    return CMeEEWriter(lines)


def _reader(labels=None, on_mismatch: str = "error") -> CMeEEReader:
    return CMeEEReader(labels, on_mismatch, fmt="auto")


def _sniff(path: Path, head: str) -> bool:
    """CMeEE offsets, or JSON records with a "text" (a test file has no entities)."""
    return '"start_idx"' in head[:4000] or (
        head.lstrip().startswith(("[", "{")) and '"text"' in head[:4000]
    )


FORMAT = add_format(
    Format(
        "cmeee", (".json",), _reader, lambda **kw: cmeee_writer(**kw), _sniff, "CMeEE JSON / JSONL"
    )
)
