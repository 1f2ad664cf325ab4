"""`nerkit predict` on JSON Lines: streaming in constant memory, resume after a kill, torchrun shards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest
from typer.testing import CliRunner

import nerkit
from nerkit.cli.main import app
from nerkit.data.formats.cmeee import read_cmeee
from nerkit.streaming import Shard, merge_parts, part_path, predict_stream

from .conftest import CORPUS, ROOT, free_port

runner = CliRunner()
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def corpus_texts() -> List[str]:
    texts = [ex.text for name in ("dev.json", "test.json") for ex in read_cmeee(CORPUS / name)]
    return texts + ["".join(texts)[:500], ""]


def write_jsonl(path: Path, n: int, texts: List[str]) -> List[dict]:
    records = [{"id": f"r{i}", "text": texts[i % len(texts)], "meta": {"n": i}} for i in range(n)]
    with open(path, "w", encoding="utf-8") as fh:
        for i, r in enumerate(records):
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
            if i % 97 == 3:
                fh.write("\n")  # blank lines are not records
    return records


def expected(nlp, records: List[dict]) -> List[dict]:
    out = []
    for r, spans in zip(records, nlp.pipe([r["text"] for r in records]), strict=True):
        ents = [
            {"start_idx": s.start, "end_idx": s.end, "type": s.type, "entity": s.text}
            for s in spans
        ]
        out.append(dict(r, entities=ents))
    return out


def read_jsonl(path: Path) -> List[dict]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


@pytest.fixture(scope="module")
def nlp(tiny_model_dir: Path):
    return nerkit.load(tiny_model_dir, device="cpu")


def test_jsonl_keeps_fields_and_order_and_equals_pipe(tiny_model_dir: Path, nlp, tmp_path: Path):
    records = write_jsonl(tmp_path / "in.jsonl", 150, corpus_texts())
    out = tmp_path / "out.jsonl"
    args = [
        "predict",
        str(tiny_model_dir),
        str(tmp_path / "in.jsonl"),
        "-o",
        str(out),
        "--chunk-size",
        "16",
    ]
    result = runner.invoke(app, [*args, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert read_jsonl(out) == expected(nlp, records)
    assert any(r["entities"] for r in read_jsonl(out))


def test_stdin_to_stdout(tiny_model_dir: Path, nlp, tmp_path: Path):
    records = write_jsonl(tmp_path / "in.jsonl", 20, corpus_texts())
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nerkit",
            "predict",
            str(tiny_model_dir),
            "-",
            "-o",
            "-",
            "--device",
            "cpu",
        ],
        input=(tmp_path / "in.jsonl").read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=ENV,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(x) for x in proc.stdout.splitlines()] == expected(nlp, records)


def test_progress_shows_rate_and_eta(tmp_path: Path, nlp, capsys):
    write_jsonl(tmp_path / "in.jsonl", 40, corpus_texts())
    predict_stream(
        nlp.pipe, str(tmp_path / "in.jsonl"), str(tmp_path / "o.jsonl"), chunk_size=8, progress=True
    )
    err = capsys.readouterr().err
    assert "records/s" in err and "ETA" in err and "40/40" in err


def test_bad_lines_and_options_are_named(tiny_model_dir: Path, tmp_path: Path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 1, "text": "发热"}\n{"id": 2, "text": 5}\n', encoding="utf-8")
    result = runner.invoke(
        app, ["predict", str(tiny_model_dir), str(src), "-o", str(tmp_path / "o.jsonl")]
    )
    assert result.exit_code == 1 and "line 2" in result.output and '"text"' in result.output
    src.write_text('{"id": 1, "text": "发热"}\n{"id": 2, "te\n', encoding="utf-8")
    result = runner.invoke(
        app, ["predict", str(tiny_model_dir), str(src), "-o", str(tmp_path / "o.jsonl")]
    )
    assert result.exit_code == 1 and "line 2: invalid JSON" in result.output
    result = runner.invoke(
        app,
        [
            "predict",
            str(tiny_model_dir),
            str(CORPUS / "test.json"),
            "-o",
            str(tmp_path / "o.json"),
            "--resume",
        ],
    )
    assert result.exit_code == 1 and "--resume works on JSON Lines" in result.output
    result = runner.invoke(
        app,
        [
            "predict",
            str(tiny_model_dir),
            str(CORPUS / "test.json"),
            "-o",
            str(tmp_path / "o.jsonl"),
        ],
    )
    # a JSON list in is read whole, not streamed: the .jsonl output is written by the doccano
    # writer, one line per input record, in order
    assert result.exit_code == 0, result.output
    from nerkit.data import formats

    written = formats.read(tmp_path / "o.jsonl")
    source = formats.read(CORPUS / "test.json")
    assert formats.detect(tmp_path / "o.jsonl") == "doccano"
    assert [ex.text for ex in written] == [ex.text for ex in source]


def test_resume_refuses_the_output_of_another_input(tiny_model_dir: Path, tmp_path: Path):
    write_jsonl(tmp_path / "a.jsonl", 10, ["甲"])
    write_jsonl(tmp_path / "b.jsonl", 10, ["乙"])
    out = tmp_path / "o.jsonl"
    assert (
        runner.invoke(
            app, ["predict", str(tiny_model_dir), str(tmp_path / "a.jsonl"), "-o", str(out)]
        ).exit_code
        == 0
    )
    result = runner.invoke(
        app, ["predict", str(tiny_model_dir), str(tmp_path / "b.jsonl"), "-o", str(out), "--resume"]
    )
    assert result.exit_code == 1 and "written for another input" in result.output


def test_kill_and_resume_loses_nothing(tiny_model_dir: Path, nlp, tmp_path: Path):
    records = write_jsonl(tmp_path / "in.jsonl", 400, [t[:24] for t in corpus_texts()])
    out = tmp_path / "out.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "nerkit",
        "predict",
        str(tiny_model_dir),
        str(tmp_path / "in.jsonl"),
    ]
    cmd += ["-o", str(out), "--chunk-size", "4", "--device", "cpu", "--no-progress"]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300
    while not (out.exists() and out.stat().st_size > 4_000) and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = len(read_jsonl_complete(out))
    assert 0 < partial < len(records), "the kill should land mid-run"
    with open(out, "a", encoding="utf-8") as fh:
        fh.write('{"id": "r9999", "text": "cut by the ki')  # a line cut by the kill
    result = runner.invoke(app, [*cmd[3:], "--resume"])
    assert result.exit_code == 0, result.output
    got = read_jsonl(out)
    assert [r["id"] for r in got] == [r["id"] for r in records]  # no duplicate, none missing
    assert got == expected(nlp, records)


def read_jsonl_complete(path: Path) -> List[dict]:
    lines = path.read_text(encoding="utf-8").split("\n")[:-1]  # drop a last line without newline
    return [json.loads(x) for x in lines if x.strip()]


def test_peak_memory_does_not_grow_with_the_input(tiny_model_dir: Path, tmp_path: Path):
    probe = (
        "import resource, sys\n"
        "from nerkit.cli.main import app\n"
        "try:\n    app(sys.argv[1:])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    peaks = {}
    for n in (10_000, 100_000):
        src = tmp_path / f"in{n}.jsonl"
        with open(src, "w", encoding="utf-8") as fh:
            fh.writelines(
                json.dumps({"id": i, "text": "患者发热咳嗽"[: 3 + i % 4]}, ensure_ascii=False)
                + "\n"
                for i in range(n)
            )
        args = [
            str(tiny_model_dir),
            str(src),
            "-o",
            str(tmp_path / f"out{n}.jsonl"),
            "--device",
            "cpu",
        ]
        proc = subprocess.run(
            [sys.executable, "-c", probe, "predict", *args, "--batch-size", "1024", "--chunk-size", "4096", "--no-progress"],
            cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        peaks[n] = int(proc.stdout.split()[-1])  # KiB
        assert sum(1 for _ in open(tmp_path / f"out{n}.jsonl", encoding="utf-8")) == n
    # 10x the records: the same peak (a list of 100k records would add tens of MB)
    assert abs(peaks[100_000] - peaks[10_000]) < 0.03 * peaks[10_000] + 8_000, peaks


def test_torchrun_two_gloo_ranks_write_one_output_in_order(
    tiny_model_dir: Path, nlp, tmp_path: Path
):
    records = write_jsonl(tmp_path / "in.jsonl", 101, corpus_texts())
    out = tmp_path / "out.jsonl"
    proc = subprocess.run(
        [
            sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
            "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
            "-m", "nerkit", "predict", str(tiny_model_dir), str(tmp_path / "in.jsonl"), "-o", str(out),
            "--chunk-size", "16", "--no-progress",
        ],
        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert read_jsonl(out) == expected(nlp, records)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "in.jsonl",
        "out.jsonl",
    ]  # parts merged, removed


def test_merge_parts_interleaves_in_input_order(tmp_path: Path):
    out = tmp_path / "o.jsonl"
    for rank in range(3):
        lines = [json.dumps({"i": i}) + "\n" for i in range(rank, 8, 3)]
        part_path(out, Shard(rank, 3)).write_text("".join(lines), encoding="utf-8")
    assert merge_parts(out, 3) == 8
    assert [r["i"] for r in read_jsonl(out)] == list(range(8))
    assert [p.name for p in tmp_path.iterdir()] == ["o.jsonl"]
