"""Issue 22, items 2 and 3: plain text in (a .txt file, stdin), and files with no records.

Plain text is one text a line; every line is a record (empty ones too, with no entities),
its id the line number, so the output's lines stay aligned with the input's. `nerkit predict`,
`nlp.read` and `nerkit serve` give the same entities for the same texts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import pytest
from typer.testing import CliRunner

import nerkit
from nerkit.cli.main import app
from nerkit.data.plaintext import is_plain_text, read_text_lines
from nerkit.errors import DataError

from .conftest import CORPUS
from .test_first_contact import assert_clean_error

runner = CliRunner()


def invoke(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


@pytest.fixture(scope="module")
def nlp(tiny_model_dir: Path):
    return nerkit.load(tiny_model_dir, device="cpu")


@pytest.fixture(scope="module")
def lines() -> List[str]:
    """Texts of the sample corpus with empty lines among them (first, middle, last)."""
    texts = [r["text"] for r in json.loads((CORPUS / "dev.json").read_text("utf8"))[:6]]
    return ["", *texts[:3], "", "", *texts[3:], ""]


def expected(nlp, lines: List[str]) -> List[dict]:
    """What the output must hold: nlp.pipe's spans per line, ids the line numbers."""
    return [
        {
            "id": i,
            "text": text,
            "entities": [
                {"start_idx": s.start, "end_idx": s.end, "type": s.type, "entity": s.text}
                for s in spans
            ],
        }
        for i, (text, spans) in enumerate(zip(lines, nlp.pipe(lines), strict=True), start=1)
    ]


def read_jsonl(text: str) -> List[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_predict_a_txt_file_keeps_every_line(nlp, tiny_model_dir, lines, tmp_path: Path):
    notes = tmp_path / "notes.txt"  # a BOM and Windows line ends, as Notepad writes them
    notes.write_bytes(b"\xef\xbb\xbf" + "".join(t + "\r\n" for t in lines).encode("utf8"))
    out = tmp_path / "out.jsonl"
    result = invoke("predict", tiny_model_dir, notes, "-o", out, "--device", "cpu")
    assert result.exit_code == 0, result.output
    got = read_jsonl(out.read_text("utf8"))
    want = expected(nlp, lines)
    assert got == want
    assert [r["id"] for r in got] == list(range(1, len(lines) + 1))
    assert [r["entities"] for r in got if r["text"] == ""] == [[]] * 4
    assert sum(len(r["entities"]) for r in want) > 0  # the comparison is not of empty lists
    assert f"{len(lines)} records" in result.output


def test_predict_plain_text_on_stdin(nlp, tiny_model_dir, lines):
    stdin = "".join(t + "\n" for t in lines)
    result = invoke("predict", tiny_model_dir, "-", "-o", "-", "--device", "cpu", input=stdin)
    assert result.exit_code == 0, result.output
    assert read_jsonl(result.stdout) == expected(nlp, lines)
    # JSON Lines on stdin stays JSON Lines (the first line is an object): its fields are kept
    records = "".join(
        json.dumps({"id": f"n{i}", "text": t}) + "\n" for i, t in enumerate(lines[1:3])
    )
    result = invoke("predict", tiny_model_dir, "-", "-o", "-", "--device", "cpu", input=records)
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in read_jsonl(result.stdout)] == ["n0", "n1"]
    # --from text reads a first line "{" as text too
    result = invoke(
        "predict",
        tiny_model_dir,
        "-",
        "-o",
        "-",
        "--from",
        "text",
        "--device",
        "cpu",
        input=records,
    )
    assert result.exit_code == 0, result.output
    assert [r["text"] for r in read_jsonl(result.stdout)] == records.splitlines()


def test_serve_and_predict_agree_on_the_same_texts(nlp, tiny_model_dir, lines, tmp_path: Path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from nerkit.serve.app import create_app

    notes = tmp_path / "notes.txt"
    notes.write_text("".join(t + "\n" for t in lines), encoding="utf8")
    out = tmp_path / "out.jsonl"
    assert invoke("predict", tiny_model_dir, notes, "-o", out, "--device", "cpu").exit_code == 0
    predicted = [
        [(e["start_idx"], e["end_idx"], e["type"], e["entity"]) for e in r["entities"]]
        for r in read_jsonl(out.read_text("utf8"))
    ]
    with TestClient(create_app(nlp)) as client:
        answer = client.post("/v1/ner", json={"texts": lines})
    assert answer.status_code == 200, answer.text
    served = [
        [(s["start"], s["end"], s["type"], s["text"]) for s in r["spans"]]
        for r in answer.json()["results"]
    ]
    assert served == predicted and any(predicted)


def test_python_api_reads_plain_text(nlp, lines, tmp_path: Path):
    notes = tmp_path / "notes.txt"
    notes.write_text("".join(t + "\n" for t in lines), encoding="utf8")
    examples = nlp.read(notes)
    assert [ex.text for ex in examples] == lines
    assert [ex.id for ex in examples] == [str(i) for i in range(1, len(lines) + 1)]
    assert all(ex.entities == [] for ex in examples)
    preds = nlp.predict_examples(examples)
    assert [[(e.start, e.end, e.label) for e in p] for p in preds] == [
        [(s.start, s.end, s.type) for s in spans] for spans in nlp.pipe(lines)
    ]
    other = tmp_path / "notes.data"
    other.write_text("患者头痛\n", encoding="utf8")
    assert [ex.text for ex in nlp.read(other, fmt="text")] == ["患者头痛"]


def test_a_txt_beside_its_ann_is_brat_not_plain_text(tmp_path: Path):
    doc = tmp_path / "doc.txt"
    doc.write_text("患者头痛\n", encoding="utf8")
    assert is_plain_text(doc)
    (tmp_path / "doc.ann").write_text("T1\tsym 2 4\t头痛\n", encoding="utf8")
    assert not is_plain_text(doc)
    assert is_plain_text(doc, "text") and not is_plain_text(doc, "brat")


def test_plain_text_mistakes_are_one_message(tiny_model_dir, tmp_path: Path):
    notes = tmp_path / "notes.txt"
    notes.write_text("患者头痛\n", encoding="utf8")
    result = invoke("predict", tiny_model_dir, notes, "-o", tmp_path / "out.json")
    assert_clean_error(result, "read as plain text", "--output NAME.jsonl", "--from brat")
    notes.write_bytes("患者头痛\n".encode() + b"\xff\xfe\n")
    result = invoke("predict", tiny_model_dir, notes, "-o", tmp_path / "o.jsonl", "--device", "cpu")
    assert_clean_error(
        result, str(notes), "not UTF-8", "--encoding"
    )  # the fix: the file's encoding
    with pytest.raises(DataError, match="not UTF-8"):
        read_text_lines(notes)
    result = invoke(
        "predict", tiny_model_dir, "-", "-o", "-", "--device", "cpu", input=b"ok\n\xff\xfe\n"
    )
    assert_clean_error(result, "stdin", "not UTF-8")
    result = invoke("evaluate", tiny_model_dir, notes, "--device", "cpu")
    assert_clean_error(result, "read as plain text", "no gold entities")


def test_resume_a_plain_text_run(nlp, tiny_model_dir, lines, tmp_path: Path):
    notes = tmp_path / "notes.txt"
    notes.write_text("".join(t + "\n" for t in lines), encoding="utf8")
    out = tmp_path / "out.jsonl"
    want = expected(nlp, lines)
    done = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in want[:5])
    out.write_text(done + '{"id": 6, "te', encoding="utf8")  # cut mid-line
    result = invoke("predict", tiny_model_dir, notes, "-o", out, "--resume", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert read_jsonl(out.read_text("utf8")) == want
    assert "5 kept" in result.output


@pytest.mark.parametrize("content", ["[]", "", "\n\n"])
def test_evaluate_and_score_refuse_a_file_without_records(tiny_model_dir, tmp_path, content):
    empty = tmp_path / "empty.json"
    empty.write_text(content, encoding="utf8")
    result = invoke("evaluate", tiny_model_dir, empty, "--device", "cpu")
    assert_clean_error(result, str(empty))
    if content == "[]":
        assert "holds no records, so there is nothing to score" in result.output
    result = invoke("score", empty, empty, "--from", "cmeee")
    assert_clean_error(result, str(empty))
    if content == "[]":
        assert "holds no records, so there is nothing to score" in result.output
    lines = tmp_path / "empty.jsonl"
    lines.write_text(content.replace("[]", ""), encoding="utf8")
    result = invoke("evaluate", tiny_model_dir, lines, "--device", "cpu")
    assert_clean_error(result, "holds no records, so there is nothing to score")
