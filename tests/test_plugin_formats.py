"""A third-party package adds a corpus reader and writer through the ``nerkit_readers`` and
``nerkit_writers`` entry points; ``nerkit convert`` and ``nerkit score`` take them by their
registered names and by the short name, suffix and sniffer they declare, with nothing else
to do. (Each command runs in a fresh process, as a user's would.)"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from .conftest import plugin_site
from .test_plugin import run as nerkit

PLUGIN = textwrap.dedent(
    '''
    """acme: one record per line, `text|start-end:label,...` (end inclusive)."""
    from pathlib import Path
    from typing import List, Optional

    from nerkit.data.formats import Corpus, WriteReport, corpus_format
    from nerkit.types import Entity, Example


    class PipeReader:
        def __call__(self, path):
            examples = []
            for i, line in enumerate(Path(path).read_text(encoding="utf8").splitlines()):
                text, _, spans = line.partition("|")
                ents = []
                for item in filter(None, spans.split(",")):
                    offsets, label = item.split(":")
                    start, end = offsets.split("-")
                    ents.append(Entity(int(start), int(end), label))
                examples.append(Example(text, ents, i, str(path)))
            return Corpus(examples, path=str(path))


    class PipeWriter:
        def __init__(self, sort: bool) -> None:
            self.sort = sort

        def __call__(self, path, examples):
            report = WriteReport(Path(path))
            lines = []
            for ex in examples:
                ents = sorted(ex.entities) if self.sort else list(ex.entities)
                lines.append(ex.text + "|" + ",".join(f"{e.start}-{e.end}:{e.label}" for e in ents))
                report.records += 1
                report.entities += len(ents)
            Path(path).write_text("".join(x + "\\n" for x in lines), encoding="utf8")
            return report


    def looks_like_pipe(path: Path, head: str) -> bool:
        first = head.split("\\n", 1)[0]
        return "|" in first and not first.lstrip().startswith(("{", "["))


    @corpus_format("pipe", suffixes=(".pipe",), sniff=looks_like_pipe)
    def pipe_reader() -> PipeReader:
        """Pipe lines."""
        return PipeReader()


    @corpus_format("pipe", suffixes=(".pipe",))
    def pipe_writer(sort: bool = True) -> PipeWriter:
        """Pipe lines."""
        return PipeWriter(sort)
    '''
)

GOLD = [
    {
        "id": "a",
        "text": "患者头痛",
        "entities": [{"start_idx": 2, "end_idx": 3, "type": "sym", "entity": "头痛"}],
    },
    {
        "text": "右腿骨折",
        "entities": [{"start_idx": 0, "end_idx": 1, "type": "bod", "entity": "右腿"}],
    },
]


ENTRY_POINTS = (
    "[nerkit_readers]\nacme.Pipe.v1 = acme_pipe:pipe_reader\n\n"
    "[nerkit_writers]\nacme.PipeWriter.v1 = acme_pipe:pipe_writer\n"
)


def test_plugin_reader_and_writer_convert_and_score(tmp_path: Path):
    site = plugin_site(tmp_path, "acme_pipe", PLUGIN, "acme-pipe", ENTRY_POINTS)
    gold_json = tmp_path / "gold.json"
    gold_json.write_text(json.dumps(GOLD, ensure_ascii=False), encoding="utf8")

    # the registered writer's name; then its declared short name, then its declared suffix
    for target, extra in (
        (tmp_path / "gold.txt", ["--to", "acme.PipeWriter.v1"]),
        (tmp_path / "gold2.txt", ["--to", "pipe"]),
        (tmp_path / "gold.pipe", []),
    ):
        done = nerkit(["convert", str(gold_json), str(target), *extra], site)
        assert done.returncode == 0, done.stdout + done.stderr
        assert target.read_text(encoding="utf8") == "患者头痛|2-3:sym\n右腿骨折|0-1:bod\n"
        assert "cmeee -> pipe: 2 records, 2 entities" in done.stdout

    # back: by registered name, short name, suffix (.pipe) and content (.txt, sniffed)
    for source, extra in (
        (tmp_path / "gold.txt", ["--from", "acme.Pipe.v1"]),
        (tmp_path / "gold.txt", ["--from", "pipe"]),
        (tmp_path / "gold.pipe", []),
        (tmp_path / "gold2.txt", []),
    ):
        back = tmp_path / "back.json"  # written again each round: --overwrite
        done = nerkit(["convert", str(source), str(back), "--overwrite", *extra], site)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "pipe -> cmeee" in done.stdout
        records = json.loads(back.read_text(encoding="utf8"))
        assert [(r["text"], r["entities"]) for r in records] == [
            (g["text"], g["entities"]) for g in GOLD
        ]

    pred = tmp_path / "pred.txt"  # one of the two entities found, one wrong
    pred.write_text("患者头痛|2-3:sym,0-1:sym\n右腿骨折|\n", encoding="utf8")
    metrics = tmp_path / "m.json"
    done = nerkit(
        [
            "score",
            str(tmp_path / "gold.txt"),
            str(pred),
            "--from",
            "acme.Pipe.v1",
            "-o",
            str(metrics),
        ],
        site,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    scores = json.loads(metrics.read_text(encoding="utf8"))
    assert (scores["tp"], scores["fp"], scores["fn"]) == (1, 1, 1)
    assert scores["precision"] == scores["recall"] == 0.5

    unknown = nerkit(["convert", str(gold_json), str(tmp_path / "x.txt"), "--to", "pip"], site)
    assert unknown.returncode == 1
    assert "unknown format 'pip'" in unknown.stdout + unknown.stderr
    assert "pipe" in (unknown.stdout + unknown.stderr).split("Formats:")[1]
