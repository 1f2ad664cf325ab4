"""Writing CMeEE prediction files and checking them against the format rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nerkit.data.formats.cmeee import read_cmeee
from nerkit.data.submission import check_submission, submission_name_warning, write_cmeee
from nerkit.types import Entity

from .conftest import needs_shared

TEXTS = ["患者头痛三天", "无明显异常", "腹部CT"]
ENTS = [
    [Entity(2, 3, "sym"), Entity(2, 2, "bod")],
    [],
    [(Entity(2, 3, "equ"), 0.9), (Entity(0, 1, "bod"), 0.8)],  # scored pairs are accepted
]


@pytest.fixture()
def inputs(tmp_path) -> Path:
    path = tmp_path / "input.json"
    path.write_text(json.dumps([{"text": t} for t in TEXTS], ensure_ascii=False), encoding="utf-8")
    return path


def test_write_round_trip(tmp_path, inputs):
    out = write_cmeee(tmp_path / "sub" / "pred.json", TEXTS, ENTS)
    raw = out.read_text(encoding="utf-8")
    assert "头痛" in raw  # ensure_ascii=False
    data = json.loads(raw)
    assert data[0] == {
        "text": "患者头痛三天",
        "entities": [
            {"start_idx": 2, "end_idx": 2, "type": "bod", "entity": "头"},
            {"start_idx": 2, "end_idx": 3, "type": "sym", "entity": "头痛"},
        ],
    }
    assert data[1] == {"text": "无明显异常", "entities": []}
    assert [e["entity"] for e in data[2]["entities"]] == ["腹部", "CT"]
    corpus = read_cmeee(out)
    assert [ex.entities for ex in corpus] == [
        [Entity(2, 2, "bod"), Entity(2, 3, "sym")],
        [],
        [Entity(0, 1, "bod"), Entity(2, 3, "equ")],
    ]
    assert check_submission(out, inputs) == []
    assert list(out.parent.iterdir()) == [out]  # no temporary file left behind


def test_write_indent_and_errors(tmp_path):
    out = write_cmeee(tmp_path / "p.json", TEXTS[:1], [[]], indent=2)
    assert out.read_text(encoding="utf-8").startswith('[\n  {\n    "text"')
    with pytest.raises(ValueError, match="2 texts but 1 entity lists"):
        write_cmeee(tmp_path / "p.json", TEXTS[:2], [[]])
    with pytest.raises(ValueError, match="record 0: entity .* outside the text"):
        write_cmeee(tmp_path / "p.json", ["ab"], [[Entity(1, 2, "sym")]])


def write_raw(path: Path, records) -> Path:
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return path


def test_check_submission_finds_every_problem(tmp_path, inputs):
    records = [
        {
            "text": "患者头痛三天",
            "entities": [
                {"start_idx": 2, "end_idx": 6, "type": "sym"},  # end outside
                {"start_idx": 3, "end_idx": 2, "type": "sym"},  # end before start
                {"start_idx": "2", "end_idx": 3, "type": "sym"},  # not an integer
                {"start_idx": 2, "end_idx": 3, "type": "xyz"},  # unknown type
                {"start_idx": 2, "end_idx": 3, "type": "sym", "entity": "头"},  # wrong string
                {"start_idx": 2, "end_idx": 3, "type": "sym"},  # fine
            ],
        },
        {"text": "无明显异常!", "entities": []},  # text changed
        {"text": "腹部CT"},  # no entities list
    ]
    pred = write_raw(tmp_path / "pred.json", records)
    problems = check_submission(pred, inputs)
    where = f"{pred}, record"
    assert problems == [
        f"{where} 0, entities[0].end_idx: 6 is outside the text (length 6).",
        f"{where} 0, entities[1].end_idx: 2 is before start_idx 3.",
        f"{where} 0, entities[2].start_idx: expected an integer, got '2'.",
        f"{where} 0, entities[3].type: 'xyz' is not one of dis, sym, pro, equ, dru, ite, bod, dep, mic.",
        f"{where} 0, entities[4].entity: '头' differs from the text span '头痛'.",
        f"{where} 1, text: differs from record 1 of the input (records must keep the input order).",
        f"{where} 2, entities: expected a list, got NoneType.",
    ]


def test_check_submission_counts_and_files(tmp_path, inputs):
    pred = write_raw(tmp_path / "pred.json", [{"text": t, "entities": []} for t in TEXTS[:2]])
    assert check_submission(pred, inputs) == [f"{pred}: 2 records but the input {inputs} has 3."]
    swapped = write_raw(
        tmp_path / "swap.json", [{"text": t, "entities": []} for t in reversed(TEXTS)]
    )
    assert len(check_submission(swapped, inputs)) == 2  # records 0 and 2 are out of order
    assert check_submission(tmp_path / "none.json", inputs) == [
        f"prediction file not found: {tmp_path / 'none.json'}"
    ]
    broken = tmp_path / "broken.json"
    broken.write_text("[{]", encoding="utf-8")
    assert check_submission(broken, inputs)[0].startswith(
        f"{broken}: invalid JSON at line 1, column 3"
    )
    assert (
        "expected a JSON list"
        in check_submission(write_raw(tmp_path / "obj.json", "a string"), inputs)[0]
    )
    valid = write_cmeee(tmp_path / "valid.json", TEXTS, ENTS)
    assert check_submission(valid, inputs) == []
    only_sym = check_submission(valid, inputs, labels=["sym"])
    assert len(only_sym) == 3 and all("is not one of sym." in p for p in only_sym)  # bod, bod, equ
    # JSON Lines predictions are read too
    lines = tmp_path / "pred.jsonl"
    lines.write_text(
        "\n".join(json.dumps({"text": t, "entities": []}, ensure_ascii=False) for t in TEXTS),
        encoding="utf-8",
    )
    assert check_submission(lines, inputs) == []


def test_check_submission_wants_official_name(tmp_path):
    inputs = write_raw(tmp_path / "CMeEE_test.json", [{"text": "ab"}])
    out_dir = tmp_path / "out"
    wrong = write_cmeee(out_dir / "predictions.json", ["ab"], [[]])
    assert check_submission(wrong, inputs) == []  # a valid file: the name is only a warning
    assert "expects it to be named CMeEE_test.json" in submission_name_warning(wrong, inputs)
    right = write_cmeee(out_dir / "CMeEE_test.json", ["ab"], [[]])
    assert check_submission(right, inputs) == [] and submission_name_warning(right, inputs) is None
    assert submission_name_warning(wrong, tmp_path / "other.json") is None


@pytest.mark.shared
def test_real_test_file_submission(tmp_path):
    test = needs_shared("cmeee/CMeEE_test.json")
    corpus = read_cmeee(test)
    preds = [[Entity(0, min(1, len(ex.text) - 1), "dis")] for ex in corpus]
    out = write_cmeee(tmp_path / "CMeEE_test.json", [ex.text for ex in corpus], preds)
    assert check_submission(out, test) == []
    assert len(json.loads(out.read_text(encoding="utf-8"))) == 3000


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_file_honours_the_umask(tmp_path, umask, mode):
    """The atomic write goes through mkstemp (always 0600); the file gets the mode of a normal write."""
    import os

    old = os.umask(umask)
    try:
        out = write_cmeee(tmp_path / "pred.json", ["ab"], [[]])
        plain = tmp_path / "plain.json"
        plain.write_text("[]")
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == mode == plain.stat().st_mode & 0o777
