"""Corpus formats: round trips over CMeEE dev, hand-made edge cases, malformed files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nerkit.data import formats
from nerkit.data.formats.brat import brat_reader
from nerkit.data.formats.cmeee import read_cmeee
from nerkit.data.formats.conll import conll_reader, conll_writer
from nerkit.errors import DataError
from nerkit.registry import names, registry
from nerkit.types import Entity, Example

# format -> output name (a folder for brat)
TARGETS = {
    "cmeee": "out.json",
    "doccano": "out.jsonl",
    "labelstudio": "out.json",
    "ccks": "out.jsonl",
    "brat": "out_brat",
    "conll": "out.conll",
}
NESTING = {"cmeee", "doccano", "labelstudio", "ccks", "brat"}  # formats that keep every entity


def ents(ex):
    return sorted(set(ex.entities))


@pytest.fixture(scope="module")
def cmeee_dev(shared_data):
    return read_cmeee(shared_data / "cmeee" / "CMeEE_dev.json")


@pytest.mark.parametrize("fmt", sorted(TARGETS))
def test_round_trip_cmeee_dev(tmp_path, cmeee_dev, fmt):
    out = tmp_path / TARGETS[fmt]
    report = formats.write(out, cmeee_dev, fmt)
    assert formats.detect(out) == fmt
    back = formats.read(out)
    assert [ex.text for ex in back] == [ex.text for ex in cmeee_dev]
    gold = sum(len(set(ex.entities)) for ex in cmeee_dev)
    if fmt in NESTING:
        assert [ents(b) for b in back] == [ents(a) for a in cmeee_dev]
        assert report.entities == gold and report.lost == 0
        return
    # one tag layer: what comes back is a non-overlapping subset, each dropped entity
    # overlaps a kept one at least as long, and the report counts every dropped one
    assert report.entities == sum(len(b.entities) for b in back)
    assert report.entities + sum(report.dropped.values()) == gold
    for a, b in zip(cmeee_dev, back, strict=True):
        kept = set(b.entities)
        assert kept <= set(a.entities)
        spans = sorted(kept)
        assert all(x.end < y.start for x, y in zip(spans, spans[1:], strict=False))
        for d in set(a.entities) - kept:
            assert any(
                k.start <= d.end and d.start <= k.end and k.end - k.start >= d.end - d.start
                for k in kept
            )


EDGE = [
    Example("", [], 0, id="empty"),
    Example("头痛", [Entity(0, 0, "部位"), Entity(1, 1, "症状")], 1, id="adjacent"),
    Example(
        "发热 三天\t咳嗽　ＣＴ示",
        [Entity(0, 1, "Sym One"), Entity(3, 4, "time"), Entity(9, 10, "检查")],
        2,
    ),
    Example(
        "左腿\r\n疼痛。",
        [Entity(0, 1, "部位"), Entity(4, 5, "症状"), Entity(0, 6, "all")],
        3,
        id="7",
    ),
]


@pytest.mark.parametrize("fmt", sorted(TARGETS))
def test_edge_cases_round_trip(tmp_path, fmt):
    examples = EDGE if fmt != "cmeee" else EDGE[1:]  # CMeEE records need a text
    if fmt == "brat":  # brat types cannot hold a space
        examples = [
            Example(
                e.text,
                [Entity(x.start, x.end, x.label.replace(" ", "_")) for x in e.entities],
                e.index,
                id=e.id,
            )
            for e in examples
        ]
    out = tmp_path / TARGETS[fmt]
    report = formats.write(out, examples, fmt)
    back = formats.read(out, fmt)
    if fmt == "brat":  # a brat folder is read in file-name order: the records' ids
        back = [back[k] for k in (3, 1, 2, 0)]
        assert [b.id for b in back] == ["empty", "adjacent", "doc00002", "7"]
    assert [b.text for b in back] == [e.text for e in examples]
    expect = [ents(e) for e in examples]
    if fmt == "conll":  # one layer: the covering "all" entity of the last record wins
        expect[-1] = [Entity(0, 6, "all")]
        assert sum(report.dropped.values()) == 2
    assert [ents(b) for b in back] == expect
    if fmt in ("doccano", "labelstudio", "conll", "brat"):  # ids travel (brat: as file names)
        assert [b.id for b in back][-1] == "7"
        assert back[0].id in ("empty", "adjacent")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path


# -- CoNLL ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scheme, tags",
    [
        ("BIO", ["B-x", "I-x", "B-x", "O", "B-y"]),
        ("IOB1", ["I-x", "I-x", "B-x", "O", "I-y"]),
        ("BIOES", ["B-x", "E-x", "S-x", "O", "S-y"]),
        ("BMES", ["B_x", "E_x", "S_x", "O", "S_y"]),
        ("BIOE", ["B-x", "E-x", "B-x", "O", "B-y"]),
    ],
)
def test_conll_schemes_read_and_write(tmp_path, scheme, tags):
    path = write(
        tmp_path / "a.conll",
        "".join(f"{c}\t{t}\n" for c, t in zip("头痛发热咳", tags, strict=True)),
    )
    ex = conll_reader(scheme=scheme)(path)[0]
    assert ex.text == "头痛发热咳"
    assert ex.entities == [Entity(0, 1, "x"), Entity(2, 2, "x"), Entity(4, 4, "y")]
    out = tmp_path / "b.conll"
    conll_writer(scheme=scheme, tag_separator=tags[1][1], delimiter="\t")(out, [ex])
    assert out.read_text("utf-8") == path.read_text("utf-8") + "\n"


def test_conll_tokens_columns_docstart_ids_bom(tmp_path):
    text = "\ufeff-DOCSTART- -X- O\n\n# id = d1\nLeft NNP B-body_part\nleg NN I-body_part\npain NN B-symptom\n\n# id = d2\n\nok X O\n"
    corpus = conll_reader(token_separator=" ", tag_column=2)(write(tmp_path / "t.conll", text))
    assert [(e.id, e.text) for e in corpus] == [("d1", "Left leg pain"), ("d2", ""), (None, "ok")]
    assert corpus[0].entities == [Entity(0, 7, "body_part"), Entity(9, 12, "symptom")]
    # token-level writing keeps the tokens and the offsets
    out = tmp_path / "w.conll"
    conll_writer(token_separator=" ")(out, corpus)
    again = conll_reader(token_separator=" ")(out)
    assert [(e.id, e.text, e.entities) for e in again] == [
        (e.id, e.text, e.entities) for e in corpus
    ]


def test_conll_ill_formed_sequences(tmp_path):
    # O I-x I-x: one entity; B-x I-y: x then y; E-x with nothing open: a one-token entity
    path = write(tmp_path / "a.conll", "a O\nb I-x\nc I-x\nd B-x\ne I-y\nf E-z\n")
    corpus = conll_reader()(path)
    assert corpus[0].entities == [
        Entity(1, 2, "x"),
        Entity(3, 3, "x"),
        Entity(4, 4, "y"),
        Entity(5, 5, "z"),
    ]
    assert len(corpus.warnings) == 3 and "line 2" in corpus.warnings[0]
    with pytest.raises(DataError, match=r"a\.conll, line 2: 'I-x' continues no entity"):
        conll_reader(on_invalid="error")(path)


@pytest.mark.parametrize(
    "content, message",
    [
        ("头 B-x\n痛 X-x\n", r"bad\.conll, line 2: tag 'X-x' is not O or PREFIX-LABEL"),
        ("头 B-x\n痛 E-x\n", r"line 2: tag 'E-x' .* BIO scheme"),
        ("头\n", r"line 1: '头' has one column"),
        ("头 B+x\n", r"line 1: tag 'B\+x'"),
    ],
)
def test_conll_malformed(tmp_path, content, message):
    with pytest.raises(DataError, match=message):
        conll_reader(scheme="BIO")(write(tmp_path / "bad.conll", content))


def test_conll_labels_checked(tmp_path):
    with pytest.raises(DataError, match=r"line 1: label 'y' .* not one of the reader's labels"):
        conll_reader(labels=["x"])(write(tmp_path / "a.conll", "a B-y\n"))


# -- brat -------------------------------------------------------------------------


def test_brat_reads_checks_and_ignores(tmp_path):
    write(tmp_path / "b/a.txt", "\ufeff左腿\r\n疼痛")
    write(
        tmp_path / "b/a.ann",
        "T1\t部位 1 3\t左腿\nT2\t症状 5 7\t疼痛\nR1\trel Arg1:T1 Arg2:T2\nA1\tNeg T2\n#1\tnote T1\tx\n",
    )
    write(tmp_path / "b/sub/c.txt", "无")  # no .ann: a record without entities
    corpus = brat_reader()(tmp_path / "b")
    assert [(e.id, e.text) for e in corpus] == [("a", "\ufeff左腿\r\n疼痛"), ("sub/c", "无")]
    assert corpus[0].entities == [Entity(1, 2, "部位"), Entity(5, 6, "症状")]
    assert "1 attributes, 1 notes, 1 relations" in corpus.warnings[-1]


def test_brat_discontinuous(tmp_path):
    write(tmp_path / "a.txt", "左腿和右腿痛")
    write(tmp_path / "a.ann", "T1\t部位 0 2;3 5\t左腿 右腿\n")
    with pytest.raises(DataError, match=r"a\.ann, line 1: discontinuous entity '部位' at 0 2;3 5"):
        brat_reader()(tmp_path)
    corpus = brat_reader(discontinuous="cover")(tmp_path)
    assert corpus[0].entities == [Entity(0, 4, "部位")] and "covering span" in corpus.warnings[0]


@pytest.mark.parametrize(
    "ann, message",
    [
        (
            "T1\t部位 0 9\t左腿\n",
            r"a\.ann, line 1: offsets 0 9 are not a span of the text \(length 4",
        ),
        ("T1\t部位 0 2\t右腿\n", r"a\.ann, line 1: entity text '右腿' does not match"),
        ("T1\t部位 0 x\t左腿\n", r"line 1: offsets '0 x' are not"),
        ("X1\tfoo\n", r"line 1: 'X1\\tfoo' is not a brat annotation"),
    ],
)
def test_brat_malformed(tmp_path, ann, message):
    write(tmp_path / "a.txt", "左腿疼痛")
    write(tmp_path / "a.ann", ann)
    with pytest.raises(DataError, match=message):
        brat_reader()(tmp_path)


def test_brat_writer_refuses_a_folder_with_a_corpus(tmp_path):
    formats.write(tmp_path / "b", EDGE[1:2], "brat")
    with pytest.raises(DataError, match=r"already holds \.txt/\.ann files"):
        formats.write(tmp_path / "b", EDGE[1:2], "brat")


def test_brat_ann_without_txt(tmp_path):
    write(tmp_path / "a.ann", "T1\tx 0 1\ta\n")
    with pytest.raises(DataError, match=r"a\.ann: there is no a\.txt next to it"):
        brat_reader()(tmp_path)


# -- JSON formats -------------------------------------------------------------------


def test_doccano_both_forms_and_bom(tmp_path):
    lines = [
        {"id": 1, "text": "右下腹疼痛", "label": [[0, 3, "部位"], [0, 5, "症状"]]},
        {
            "id": "b",
            "text": "发热",
            "entities": [{"id": 9, "start_offset": 0, "end_offset": 2, "label": "症状"}],
            "relations": [],
        },
    ]
    path = write(
        tmp_path / "d.jsonl",
        "\ufeff" + "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\r\n",
    )
    corpus = formats.read(path)
    assert [(e.id, e.entities) for e in corpus] == [
        ("1", [Entity(0, 2, "部位"), Entity(0, 4, "症状")]),
        ("b", [Entity(0, 1, "症状")]),
    ]
    formats.write(tmp_path / "e.jsonl", corpus, "doccano", style="entities")
    assert [(e.id, e.entities) for e in formats.read(tmp_path / "e.jsonl")] == [
        (e.id, e.entities) for e in corpus
    ]
    assert json.loads((tmp_path / "e.jsonl").read_text("utf-8").split("\n")[0])["id"] == 1


@pytest.mark.parametrize(
    "fmt, record, message",
    [
        (
            "doccano",
            {"text": "头痛", "label": [[0, 3, "x"]]},
            r"line 1, label\[0\]: offsets \(0, 3\) are not a span",
        ),
        (
            "doccano",
            {"text": "头痛", "label": [[1, 1, "x"]]},
            r"offsets \(1, 1\) are not a span .*exclusive",
        ),
        ("doccano", {"label": []}, r"line 1, text: expected a string"),
        (
            "doccano",
            {"text": "头痛", "entities": [{"start_offset": 0, "label": "x"}]},
            r"entities\[0\]\.end_offset: missing",
        ),
        (
            "ccks",
            {
                "originalText": "头痛",
                "entities": [{"start_pos": 0, "end_pos": 5, "label_type": "x"}],
            },
            r"line 1, entities\[0\]: offsets \(0, 5\)",
        ),
        ("ccks", {"text": "头痛"}, r"line 1: 'originalText' is missing"),
        (
            "labelstudio",
            [
                {
                    "data": {"text": "头痛"},
                    "annotations": [
                        {
                            "result": [
                                {
                                    "type": "labels",
                                    "value": {"start": 0, "end": 1, "text": "痛", "labels": ["x"]},
                                }
                            ]
                        }
                    ],
                }
            ],
            r"record 0, annotations\[0\]\.result\[0\]\.value\.text: '痛' does not match",
        ),
        (
            "labelstudio",
            [{"data": {"body": "头痛"}}],
            r"record 0, data\.text: expected the task's text",
        ),
        (
            "labelstudio",
            [
                {
                    "data": {"text": "头痛"},
                    "annotations": [
                        {
                            "result": [
                                {"type": "labels", "value": {"start": 0, "end": 9, "labels": ["x"]}}
                            ]
                        }
                    ],
                }
            ],
            r"record 0, annotations\[0\]\.result\[0\]\.value: offsets \(0, 9\)",
        ),
    ],
)
def test_json_formats_malformed(tmp_path, fmt, record, message):
    content = json.dumps(record, ensure_ascii=False)
    path = write(tmp_path / ("x.json" if fmt == "labelstudio" else "x.jsonl"), content + "\n")
    with pytest.raises(DataError, match=message) as info:
        formats.read(path, fmt)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_label_studio_reads_first_annotation_and_counts_the_rest(tmp_path):
    task = {
        "id": 5,
        "data": {"text": "左腿疼痛"},
        "annotations": [
            {
                "was_cancelled": True,
                "result": [{"type": "labels", "value": {"start": 0, "end": 1, "labels": ["x"]}}],
            },
            {
                "result": [
                    {
                        "type": "labels",
                        "value": {"start": 0, "end": 2, "text": "左腿", "labels": ["部位", "body"]},
                    },
                    {"type": "choices", "value": {"choices": ["ok"]}},
                ]
            },
        ],
        "predictions": [{"result": []}],
    }
    corpus = formats.read(write(tmp_path / "ls.json", json.dumps([task], ensure_ascii=False)))
    assert corpus[0].id == "5" and corpus[0].entities == [
        Entity(0, 1, "部位"),
        Entity(0, 1, "body"),
    ]
    assert "1 choices results" in corpus.warnings[0] and "1 predictions" in corpus.warnings[0]


def test_detect_and_output_format(tmp_path):
    assert formats.output_format(tmp_path / "x.bmes") == "conll"
    assert formats.output_format(tmp_path / "folder") == "brat"
    with pytest.raises(DataError, match=r"--to"):
        formats.output_format(tmp_path / "x.xml")
    with pytest.raises(DataError, match=r"--from"):
        formats.detect(write(tmp_path / "x.txt", "hello world\n"))
    formats.write(tmp_path / "x.bmes", EDGE[1:2])
    assert "S-部位" in (tmp_path / "x.bmes").read_text("utf-8")


def test_formats_are_registered():
    for name in (
        "nerkit.CoNLL.v1",
        "nerkit.Brat.v1",
        "nerkit.Doccano.v1",
        "nerkit.LabelStudio.v1",
        "nerkit.CCKS.v1",
    ):
        assert name in names("readers")
    for name in (
        "nerkit.CoNLLWriter.v1",
        "nerkit.BratWriter.v1",
        "nerkit.DoccanoWriter.v1",
        "nerkit.LabelStudioWriter.v1",
        "nerkit.CCKSWriter.v1",
        "nerkit.CMeEEWriter.v1",
    ):
        assert name in names("writers")
    reader = registry.get("readers", "nerkit.CoNLL.v1")(scheme="BMES")
    assert reader.prefixes == "BMES"


def test_crlf_and_bom_files(tmp_path):
    # Windows line ends and a BOM, as exported by many tools: same records as without them
    conll = write(tmp_path / "a.conll", "\ufeff头 B-x\r\n痛 I-x\r\n\r\n热 S-y\r\n")
    assert [(e.text, e.entities) for e in conll_reader()(conll)] == [
        ("头痛", [Entity(0, 1, "x")]),
        ("热", [Entity(0, 0, "y")]),
    ]
    rec = {
        "originalText": "患者因高血压入院",
        "entities": [{"label_type": "疾病和诊断", "start_pos": 3, "end_pos": 6, "overlap": 0}],
    }
    ccks = write(tmp_path / "c.txt", "\ufeff" + json.dumps(rec, ensure_ascii=False) + "\r\n")
    assert formats.detect(ccks) == "ccks"
    assert formats.read(ccks)[0].entities == [Entity(3, 5, "疾病和诊断")]
    write(tmp_path / "b/n.txt", "左腿")
    write(tmp_path / "b/n.ann", "T1\t部位 0 2\t左腿\r\n")
    assert formats.read(tmp_path / "b")[0].entities == [Entity(0, 1, "部位")]


def test_conll_token_writer_widens_entities_inside_tokens(tmp_path):
    ex = Example("Left leg pain", [Entity(1, 6, "body"), Entity(9, 12, "symptom")], 0)
    report = conll_writer(token_separator=" ")(tmp_path / "t.conll", [ex])
    assert report.changed == {"widened to whole tokens: its ends are inside a token": 1}
    back = conll_reader(token_separator=" ")(tmp_path / "t.conll")[0]
    assert back.entities == [Entity(0, 7, "body"), Entity(9, 12, "symptom")]


def test_an_option_the_format_does_not_take_is_one_data_error(tmp_path: Path):
    """formats.read / formats.write (what convert and score call) name the reader or writer."""
    src = tmp_path / "g.conll"
    src.write_text("右 B-bod\n腹 I-bod\n", encoding="utf8")
    with pytest.raises(DataError, match=r"^the conll reader: .*'nosuch'.*data-formats\.md"):
        formats.read(src, nosuch=1)
    corpus = formats.read(src, scheme="BIO")  # a real option still passes through
    assert [(e.start, e.end, e.label) for e in corpus[0].entities] == [(0, 1, "bod")]
    with pytest.raises(DataError, match=r"^the cmeee writer: .*'nosuch'"):
        formats.write(tmp_path / "out.json", corpus, nosuch=1)
    assert not (tmp_path / "out.json").exists()  # nothing written
