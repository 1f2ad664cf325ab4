"""Readers (JSON list, JSON Lines), record validation, and corpus statistics."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from confection import Config

from nerkit.data.formats.cmeee import Corpus, cmeee_json_reader, parse_records, read_cmeee
from nerkit.data.stats import corpus_stats, format_stats, overlap_pairs
from nerkit.errors import ConfigError, DataError
from nerkit.registry import names, registry
from nerkit.types import CMEEE_LABELS, Entity, Example

from .conftest import needs_shared

DEV = "cmeee/CMeEE_dev.json"  # relative to the shared data folder
TEST = "cmeee/CMeEE_test.json"

RECORDS = [
    {
        "text": "患者头痛三天",
        "entities": [
            {"start_idx": 2, "end_idx": 3, "type": "sym", "entity": "头痛"},
            {"start_idx": 2, "end_idx": 2, "type": "bod", "entity": "头"},
        ],
    },
    {"text": "无", "entities": []},
    {"text": "测试文本"},  # no entities key, as in test files
]


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def bad(records_entity: dict, text: str = "患者头痛三天") -> list:
    return [RECORDS[1], {"text": text, "entities": [RECORDS[0]["entities"][0], records_entity]}]


def test_reads_json_list(tmp_path):
    path = write_json(tmp_path / "CMeEE_dev.json", RECORDS)
    corpus = registry.get("readers", "nerkit.CMeEEJson.v1")()(path)
    assert isinstance(corpus, Corpus) and isinstance(corpus, list)
    assert len(corpus) == 3 and corpus.path == str(path) and corpus.warnings == []
    assert corpus[0] == Example(
        "患者头痛三天", [Entity(2, 3, "sym"), Entity(2, 2, "bod")], 0, str(path)
    )
    assert corpus[1].entities == [] and corpus[1].index == 1
    assert corpus[2].entities == [] and corpus[2].text == "测试文本" and corpus[2].index == 2
    assert corpus.num_entities == 2 and corpus.texts == ["患者头痛三天", "无", "测试文本"]


def test_reads_json_lines_and_auto(tmp_path):
    lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in RECORDS)
    path = tmp_path / "part.jsonl"
    path.write_text(
        lines.replace("\n", "\n\n", 1) + "\n", encoding="utf-8"
    )  # a blank line is skipped
    corpus = registry.get("readers", "nerkit.JsonLines.v1")()(str(path))
    expected = read_cmeee(write_json(tmp_path / "part.json", RECORDS))
    assert [(e.text, e.entities, e.index) for e in corpus] == [
        (e.text, e.entities, e.index) for e in expected
    ]
    auto = registry.get("readers", "nerkit.CMeEEAuto.v1")()
    assert [e.text for e in auto(path)] == [e.text for e in auto(tmp_path / "part.json")]
    assert {"nerkit.CMeEEJson.v1", "nerkit.JsonLines.v1", "nerkit.CMeEEAuto.v1"} <= set(
        names("readers")
    )


def test_reader_from_config(tmp_path):
    path = write_json(
        tmp_path / "d.json",
        [{"text": "abc", "entities": [{"start_idx": 0, "end_idx": 1, "type": "X"}]}],
    )
    cfg = Config().from_str(
        """
        [reader]
        @readers = "nerkit.CMeEEJson.v1"
        labels = ["X", "Y"]
        on_mismatch = "warn"
        """
    )
    reader = registry.resolve(cfg)["reader"]
    assert reader.labels == ("X", "Y") and reader.on_mismatch == "warn"
    assert reader(path)[0].entities == [Entity(0, 1, "X")]
    with pytest.raises(ConfigError, match="on_mismatch"):
        registry.get("readers", "nerkit.CMeEEJson.v1")(on_mismatch="ignore")
    with pytest.raises(ConfigError, match="twice"):
        cmeee_json_reader(labels=["a", "a"])


@pytest.mark.parametrize(
    "entity, field, message",
    [
        (
            {"start_idx": 2, "end_idx": 54, "type": "sym"},
            "entities[1].end_idx",
            "54 is outside the text (length 6)",
        ),
        (
            {"start_idx": -1, "end_idx": 2, "type": "sym"},
            "entities[1].start_idx",
            "-1 is outside the text (length 6)",
        ),
        (
            {"start_idx": 3, "end_idx": 2, "type": "sym"},
            "entities[1].end_idx",
            "2 is before start_idx 3",
        ),
        (
            {"start_idx": "2", "end_idx": 3, "type": "sym"},
            "entities[1].start_idx",
            "expected an integer, got str '2'",
        ),
        (
            {"start_idx": True, "end_idx": 3, "type": "sym"},
            "entities[1].start_idx",
            "expected an integer, got bool",
        ),
        ({"start_idx": 2, "type": "sym"}, "entities[1].end_idx", "missing"),
        (
            {"start_idx": 2, "end_idx": 3, "type": "xyz"},
            "entities[1].type",
            "'xyz' is not one of the labels",
        ),
        ({"start_idx": 2, "end_idx": 3, "type": ["sym"]}, "entities[1].type", "expected a string"),
        (
            {"start_idx": 2, "end_idx": 3, "type": "sym", "entity": "头"},
            "entities[1].entity",
            "'头' does not match",
        ),
    ],
)
def test_entity_errors_name_file_record_field(tmp_path, entity, field, message):
    path = write_json(tmp_path / "CMeEE_dev.json", bad(entity))
    with pytest.raises(DataError) as info:
        read_cmeee(path, labels=CMEEE_LABELS)
    text = str(info.value)
    assert text.startswith(f"{path}, record 1, {field}: ")
    assert message in text


def test_labels_default_to_any_label(tmp_path):
    # Without `labels` the reader takes every type: the label set is learned from the data.
    data = [{"text": "左腿疼痛", "entities": [{"start_idx": 0, "end_idx": 1, "type": "身体 部位"}]}]
    corpus = read_cmeee(write_json(tmp_path / "x.json", data))
    assert corpus[0].entities == [Entity(0, 1, "身体 部位")]


def test_record_errors(tmp_path):
    cases = [
        ([RECORDS[0], "just text"], "record 1, record: expected an object"),
        ([{"entities": []}], "record 0, text: missing"),
        ([{"text": ""}], "record 0, text: is empty"),
        ([{"text": 5}], "record 0, text: expected a string, got int 5"),
        ([{"text": "ab", "entities": {"a": 1}}], "record 0, entities: expected a list"),
        ([{"text": "ab", "entities": ["x"]}], "record 0, entities[0]: expected an object"),
    ]
    for data, message in cases:
        with pytest.raises(DataError, match=re.escape(message)):
            read_cmeee(write_json(tmp_path / "x.json", data))
    with pytest.raises(
        DataError, match="one JSON dict spread over several lines.*Wrap the records in"
    ):
        read_cmeee(write_json(tmp_path / "x.json", RECORDS[0]))
    with pytest.raises(DataError, match="expected a JSON list of records .or JSON Lines.*got str"):
        read_cmeee(write_json(tmp_path / "x.json", "text"))


def test_malformed_json_names_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"text": "ab",\n   "entities": [}\n]', encoding="utf-8")
    with pytest.raises(DataError, match=r"broken\.json: invalid JSON at line 3, column 17"):
        read_cmeee(path)
    lines = tmp_path / "broken.jsonl"
    lines.write_text('{"text": "ab"}\n\n{"text": "cd",}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"broken\.jsonl: invalid JSON at line 3, column 15"):
        read_cmeee(lines)


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(DataError, match=re.escape(f"file not found: {missing}")):
        read_cmeee(missing)


def test_mismatch_warn_keeps_entity_by_offsets(tmp_path):
    data = [
        {
            "text": "患者头痛三天",
            "entities": [{"start_idx": 2, "end_idx": 3, "type": "sym", "entity": "头疼"}],
        },
        {
            "text": "腹痛",
            "entities": [{"start_idx": 0, "end_idx": 1, "type": "sym", "entity": "腹"}],
        },
    ]
    path = write_json(tmp_path / "w.json", data)
    with pytest.raises(DataError, match="on_mismatch"):
        read_cmeee(path)
    corpus = read_cmeee(path, on_mismatch="warn")
    assert [ex.entities for ex in corpus] == [[Entity(2, 3, "sym")], [Entity(0, 1, "sym")]]
    assert len(corpus.warnings) == 2
    assert corpus.warnings[1].startswith(
        f"{path}, record 1, entities[0].entity: '腹' does not match"
    )
    assert "text[0:2] = '腹痛'" in corpus.warnings[1]


def test_parse_records_in_memory():
    corpus = parse_records(
        [{"text": "ab", "entities": [{"start_idx": 1, "end_idx": 1, "type": "Z"}]}], labels=["Z"]
    )
    assert corpus[0].entities == [Entity(1, 1, "Z")] and corpus[0].source == "<records>"


@pytest.mark.shared
def test_real_dev_file_fast_and_complete():
    dev = needs_shared(DEV)
    t0 = time.process_time()  # CPU time: robust to other processes sharing the machine
    corpus = read_cmeee(dev)
    elapsed = time.process_time() - t0
    assert len(corpus) == 5000 and corpus.num_entities == 20300 and corpus.warnings == []
    assert elapsed < 1.0, f"reading + validating took {elapsed:.2f}s"
    for ex in corpus[:200]:
        for e in ex.entities:
            assert 0 <= e.start <= e.end < len(ex.text) and e.label in CMEEE_LABELS


@pytest.mark.shared
def test_real_test_file_has_no_entities():
    corpus = read_cmeee(needs_shared(TEST))
    assert len(corpus) == 3000 and corpus.num_entities == 0


# -- statistics --------------------------------------------------------------


class FlatFirstWins:
    """A toy one-layer scheme: keeps the longest entity per character, drops overlapping ones."""

    def encode(self, entities, length):
        tags = [None] * length
        for e in sorted(entities, key=lambda e: (e.start - e.end, e.start)):
            if all(t is None for t in tags[e.start : e.end + 1]):
                for i in range(e.start, e.end + 1):
                    tags[i] = e
        return tags

    def decode(self, tags):
        return sorted({t for t in tags if t is not None})


def test_overlap_pairs_by_kind():
    ents = [
        Entity(0, 5, "sym"),
        Entity(0, 1, "bod"),
        Entity(3, 5, "bod"),
        Entity(3, 5, "dis"),
        Entity(5, 7, "pro"),
    ]
    pairs = overlap_pairs(ents)
    assert pairs["nested"] == {"sym>bod": 2, "sym>dis": 1}
    assert pairs["same_span"] == {"bod=dis": 1}
    assert pairs["crossing"] == {"pro|sym": 1, "bod|pro": 1, "dis|pro": 1}


def test_corpus_stats_small():
    examples = [
        Example("头痛三天", [Entity(0, 1, "sym"), Entity(0, 0, "bod")]),
        Example("无", []),
        Example("a" * 10, [Entity(2, 4, "dis")]),
    ]
    stats = corpus_stats(examples, max_chars=4, scheme=FlatFirstWins())
    assert stats["records"] == 3 and stats["characters"] == 15 and stats["over_max_chars"] == 1
    assert stats["text_length"] == {
        "min": 1,
        "mean": 5.0,
        "median": 4.0,
        "p95": pytest.approx(9.4),
        "max": 10,
    }
    assert stats["entities"] == 3 and stats["entities_per_type"] == {"sym": 1, "bod": 1, "dis": 1}
    assert stats["nested_pairs"] == {"sym>bod": 1} and stats["same_span_pairs"] == {}
    assert stats["scheme"]["recovered"] == 2 and stats["scheme"]["ceiling"] == pytest.approx(2 / 3)
    assert stats["scheme"]["per_type"] == {"sym": 1.0, "bod": 0.0, "dis": 1.0}
    json.dumps(stats)  # serialisable
    text = format_stats(stats)
    assert "records               3" in text and "sym>bod 1" in text and "66.67%" in text


@pytest.mark.shared
def test_real_dev_statistics_match_readme():
    corpus = read_cmeee(needs_shared(DEV))
    stats = corpus_stats(corpus, max_chars=510)
    assert stats["records"] == 5000 and stats["entities"] == 20300
    assert stats["over_max_chars"] == 14 and stats["text_length"]["max"] == 2078
    assert round(stats["text_length"]["mean"]) == 54
    assert stats["entities_per_type"] == {
        "bod": 5883, "dis": 4935, "sym": 4130, "pro": 2057, "dru": 1440,
        "ite": 923, "mic": 584, "equ": 238, "dep": 110,
    }  # fmt: skip
    sym_nested = sum(v for k, v in stats["nested_pairs"].items() if k.startswith("sym>"))
    assert sym_nested == 1205 and stats["nested_pairs"]["sym>bod"] > 1000
    assert (
        sum(stats["nested_pairs"].values()) - sym_nested + sum(stats["crossing_pairs"].values())
        == 4
    )
    assert sum(stats["same_span_pairs"].values()) == 16


@pytest.mark.shared
def test_real_dev_scheme_ceilings():
    from nerkit.data.schemes.bio import bio_scheme
    from nerkit.data.schemes.nested_bio import nested_bio_scheme

    corpus = read_cmeee(needs_shared(DEV))
    labels = list(CMEEE_LABELS)
    nested = corpus_stats(corpus, 510, scheme=nested_bio_scheme(labels=labels))["scheme"]
    flat = corpus_stats(corpus, 510, scheme=bio_scheme(labels=labels))["scheme"]
    assert round(100 * nested["ceiling"], 2) == 99.92
    assert round(100 * flat["ceiling"], 2) == 93.98


def test_format_follows_the_file_whatever_the_reader(tmp_path):
    """Issue 13.6: the training reader (CMeEEJson) reads JSON Lines, and JsonLines reads a JSON list."""
    lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in RECORDS) + "\n"
    (tmp_path / "a.jsonl").write_text(lines, encoding="utf-8")
    (tmp_path / "b.json").write_text(lines, encoding="utf-8")  # JSON Lines content, .json name
    expected = [(e.text, e.entities) for e in read_cmeee(write_json(tmp_path / "c.json", RECORDS))]
    for name in ("nerkit.CMeEEJson.v1", "nerkit.JsonLines.v1", "nerkit.CMeEEAuto.v1"):
        reader = registry.get("readers", name)()
        for path in ("a.jsonl", "b.json", "c.json"):
            assert [(e.text, e.entities) for e in reader(tmp_path / path)] == expected, (name, path)


def test_collect_lists_every_problem(tmp_path):
    """Issue 13.12: collecting mode reports every broken record and entity, keeps the rest."""

    records = [
        {"text": "ab", "entities": [{"start_idx": 0, "end_idx": 5, "type": "sym"}]},
        {"text": ""},
        {
            "text": "abc",
            "entities": [
                {"start_idx": 0, "end_idx": 0, "type": "xx"},
                {"start_idx": 1, "end_idx": 2, "type": "sym"},
            ],
        },
    ]
    problems: list = []
    corpus = cmeee_json_reader(labels=CMEEE_LABELS).collect(
        write_json(tmp_path / "d.json", records), problems
    )
    assert len(problems) == 3
    assert "record 0, entities[0].end_idx: 5 is outside" in problems[0]
    assert "record 1, text: is empty" in problems[1]
    assert "record 2, entities[0].type: 'xx'" in problems[2]
    assert [(e.index, e.entities) for e in corpus] == [(0, []), (2, [Entity(1, 2, "sym")])]
    # JSON Lines: a line that is not JSON is one problem; later records keep their numbers
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "ab"}\n{"text": \n{"text": ""}\n', encoding="utf-8")
    problems = []
    corpus = cmeee_json_reader().collect(path, problems)
    assert (
        len(problems) == 2
        and "invalid JSON at line 2" in problems[0]
        and "record 2, text" in problems[1]
    )
    assert [e.text for e in corpus] == ["ab"]
