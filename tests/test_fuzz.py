"""Issue 22, item 5: fuzzed input never crashes nerkit (hypothesis).

Every corpus reader (CMeEE JSON and JSON Lines, CoNLL, brat, doccano, Label Studio, CCKS), the
config parser with ``--section.key`` overrides, and the HTTP endpoint ``POST /v1/ner`` get
valid inputs (written by nerkit's own writers) broken by random mutations: truncation, random
bytes, deleted or doubled slices, numbers made huge, negative or fractional, brackets and quotes
removed or added, a BOM (UTF-8 or UTF-16), CRLF or CR line ends, a slice re-encoded as GBK or
UTF-16, and, in JSON, any node replaced by a value of another type. Each case must end in
nerkit's own error type (``NerkitError``; an HTTP 4xx with nerkit's error body) or a correct
result: entities inside their texts; the unmutated input read back exactly as written; the
served spans equal to ``nlp.pipe``'s. Never another exception, never a 500.

Cases per target: ``NERKIT_FUZZ_EXAMPLES`` (default 30; derandomized, so CI runs the same cases
every time). The large mode (docs/data-formats.md) is random and runs thousands per target::

    NERKIT_FUZZ_EXAMPLES=5000 python -m pytest tests/test_fuzz.py -q -p no:cacheprovider
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, List

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="the fuzz suite needs hypothesis (.[dev])")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from nerkit.config import check_config, filled_config, load_config, parse_overrides  # noqa: E402
from nerkit.data import formats  # noqa: E402
from nerkit.errors import NerkitError  # noqa: E402
from nerkit.types import Entity, Example  # noqa: E402

from .conftest import QUICKSTART  # noqa: E402

EXAMPLES = int(os.environ.get("NERKIT_FUZZ_EXAMPLES", "30"))
LARGE = "NERKIT_FUZZ_EXAMPLES" in os.environ
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LARGE,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

LABELS = ("dis", "sym", "pro")
CHARS = "患者头痛发热三天咳嗽伴恶心呕吐入院诊断为肺炎abcXYZ0123,.:;()"


@st.composite
def corpora(draw) -> List[Example]:
    """Valid records: texts without whitespace, entities that do not overlap (every format
    holds them exactly)."""
    out = []
    for i in range(draw(st.integers(1, 4))):
        text = draw(st.text(alphabet=CHARS, min_size=1, max_size=30))
        entities, pos = [], 0
        while pos < len(text) and draw(st.booleans()):
            start = draw(st.integers(pos, len(text) - 1))
            end = draw(st.integers(start, min(start + 5, len(text) - 1)))
            entities.append(Entity(start, end, draw(st.sampled_from(LABELS))))
            pos = end + 1
        out.append(Example(text, entities, i, None, f"doc{i}"))
    return out


JSON_VALUES = st.sampled_from(
    [None, True, False, 0, -1, -(10**18), 10**30, 1.5, float("nan"), "", "x", "头痛", [], [1], {}]
)
NUMBERS = [b"-1", b"-0", b"99999999999999999999999", b"1e400", b"1.5", b"NaN", b"0x1f", b""]
BRACKETS = b"[]{}\"'\t\n:,T#"


def _replace_node(draw, node: Any) -> Any:
    """``node`` with one random descendant (or itself) replaced by a value of another type."""
    if isinstance(node, dict) and node and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(node)))
        node = dict(node)
        if draw(st.integers(0, 5)) == 0:
            del node[key]
        else:
            node[key] = _replace_node(draw, node[key])
        return node
    if isinstance(node, list) and node and draw(st.booleans()):
        i = draw(st.integers(0, len(node) - 1))
        return [*node[:i], _replace_node(draw, node[i]), *node[i + 1 :]]
    return draw(JSON_VALUES)


def _mutate_json(draw, data: bytes) -> bytes:
    try:
        text = data.decode("utf-8")
        whole = json.loads(text)
    except UnicodeDecodeError:  # an earlier mutation broke the encoding
        return data
    except ValueError:  # JSON Lines: change one line
        lines = text.splitlines()
        if not lines:
            return data
        i = draw(st.integers(0, len(lines) - 1))
        try:
            lines[i] = json.dumps(_replace_node(draw, json.loads(lines[i])), ensure_ascii=False)
        except ValueError:
            return data
        return ("\n".join(lines) + "\n").encode("utf-8")
    return json.dumps(_replace_node(draw, whole), ensure_ascii=False).encode("utf-8")


def _mutate(draw, data: bytes, is_json: bool) -> bytes:
    kinds = ["truncate", "insert", "delete", "double", "number", "bracket", "bom", "newline"]
    kinds += ["encoding"] + (["json"] * 3 if is_json else [])
    kind = draw(st.sampled_from(kinds))
    n = len(data)
    at = draw(st.integers(0, n))
    if kind == "truncate":
        return data[:at]
    if kind == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    if kind == "delete":
        return data[:at] + data[at + draw(st.integers(1, 16)) :]
    if kind == "double":
        return data[:at] + data[at : at + 16] + data[at:]
    if kind == "number":
        numbers = list(re.finditer(rb"\d+", data))
        if not numbers:
            return data
        m = draw(st.sampled_from(numbers))
        return data[: m.start()] + draw(st.sampled_from(NUMBERS)) + data[m.end() :]
    if kind == "bracket":
        if draw(st.booleans()) and n:
            i = draw(st.integers(0, n - 1))
            return data[:i] + data[i + 1 :]
        return data[:at] + bytes([draw(st.sampled_from(BRACKETS))]) + data[at:]
    if kind == "bom":
        return draw(st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"])) + data
    if kind == "newline":
        return data.replace(b"\n", draw(st.sampled_from([b"\r\n", b"\r", b"\n\n", b"\x0b"])))
    if kind == "encoding":  # a slice in another encoding (a file pasted together)
        text = data.decode("utf-8", errors="replace")
        cut = draw(st.integers(0, len(text)))
        codec = draw(st.sampled_from(["gbk", "utf-16", "latin-1"]))
        return text[:cut].encode("utf-8") + text[cut:].encode(codec, errors="replace")
    return _mutate_json(draw, data)


def _mutations(draw, data: bytes, is_json: bool) -> bytes:
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 2, 3]))):  # unchanged: 1 case in 7
        data = _mutate(draw, data, is_json)
    return data


def assert_sound(corpus) -> None:
    """What a reader returns: texts, and entities inside them with string labels."""
    for ex in corpus:
        assert isinstance(ex.text, str)
        for e in ex.entities:
            assert isinstance(e, Entity) and isinstance(e.label, str) and e.label, e
            assert isinstance(e.start, int) and isinstance(e.end, int), e
            assert 0 <= e.start <= e.end < len(ex.text), (e, len(ex.text))


def same(corpus, examples: List[Example]) -> None:
    assert [(ex.text, sorted(ex.entities)) for ex in corpus] == [
        (ex.text, sorted(ex.entities)) for ex in examples
    ]


# (format, file name): the file is written by nerkit's writer, mutated and read back.
FILE_FORMATS = [
    ("cmeee", "corpus.json"),
    ("cmeee", "corpus.jsonl"),
    ("conll", "corpus.conll"),
    ("doccano", "corpus.jsonl"),
    ("labelstudio", "corpus.json"),
    ("ccks", "corpus.ccks"),
]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.parametrize("fmt,name", FILE_FORMATS, ids=[f"{f}-{n}" for f, n in FILE_FORMATS])
@FUZZ
@given(data=st.data())
def test_file_readers_never_crash(work: Path, fmt: str, name: str, data) -> None:
    examples = data.draw(corpora())
    path = work / f"{fmt}-{name}"
    formats.write(path, examples, fmt)
    raw = path.read_bytes()
    broken = _mutations(data.draw, raw, is_json=name.endswith((".json", ".jsonl", ".ccks")))
    path.write_bytes(broken)
    try:
        corpus = formats.read(path, fmt)
    except NerkitError as err:
        event(f"refused: {type(err).__name__}")
        return
    event("read" + (" (unchanged)" if broken == raw else " (changed)"))
    assert_sound(corpus)
    if broken == raw:
        same(corpus, examples)


@FUZZ
@given(data=st.data())
def test_brat_reader_never_crashes(work: Path, data) -> None:
    examples = data.draw(corpora())
    root = work / "brat"
    shutil.rmtree(root, ignore_errors=True)
    formats.write(root, examples, "brat")
    changed = False
    for doc in sorted(root.glob("doc*.*")):
        raw = doc.read_bytes()
        if data.draw(st.integers(0, 2)) == 0:
            broken = _mutations(data.draw, raw, is_json=False)
            doc.write_bytes(broken)
            changed |= broken != raw
    try:
        corpus = formats.read(root, "brat")
    except NerkitError as err:
        event(f"refused: {type(err).__name__}")
        return
    event("read" + (" (unchanged)" if not changed else " (changed)"))
    assert_sound(corpus)
    if not changed:
        same(corpus, examples)


CONFIG_TEXT = QUICKSTART.read_bytes()
KEYS = ["training.max_epochs", "training.batch_size", "training.optimizer.learn_rate"]
KEYS += ["system.seed", "system.device", "corpora.max_train_records", "paths.train", "nerkit"]
KEYS += ["model.decoder.@decoders", "training", "a.b.c.d", "", ".", "training.", "[x]"]
OVERRIDE_VALUES = st.one_of(
    st.sampled_from(["3", "-1", "0", "1e400", "nan", "null", "true", "[1,", "{", '"x"', "cpu"]),
    st.sampled_from(["${paths.train}", "${nope}", '{"@loggers": "x"}', "[]", "{}", ""]),
    st.text(max_size=12),
)


@FUZZ
@given(data=st.data())
def test_config_parser_and_overrides_never_crash(work: Path, data) -> None:
    text = _mutations(data.draw, CONFIG_TEXT, is_json=False)
    path = work / "fuzz.cfg"
    path.write_bytes(text)
    args: List[str] = []
    for _ in range(data.draw(st.integers(0, 3))):
        key = data.draw(st.sampled_from(KEYS))
        value = data.draw(OVERRIDE_VALUES)
        if data.draw(st.booleans()):
            args.append(f"--{key}={value}")
        else:
            args += data.draw(st.sampled_from([[f"--{key}", value], [key, value], [f"--{key}"]]))
    try:
        cfg = load_config(path, parse_overrides(args))
        check_config(cfg, initialize=False)
        filled_config(cfg).to_str()
    except NerkitError as err:
        event(f"refused: {type(err).__name__}")
        return
    event("valid")


@pytest.fixture(scope="module")
def client(tiny_model_dir: Path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    import nerkit
    from nerkit.serve.app import Limits, create_app

    nlp = nerkit.load(tiny_model_dir, device="cpu")
    app = create_app(nlp, max_wait_ms=0, limits=Limits(max_texts=8, max_chars=400))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c, nlp


TEXTS = st.text(alphabet=st.characters(codec="utf-8"), max_size=40) | st.text(CHARS, max_size=60)


@st.composite
def bodies(draw) -> bytes:
    """A request body: valid ones, valid ones broken, random JSON, random bytes."""
    kind = draw(st.integers(0, 4))
    if kind == 4:
        return draw(st.binary(max_size=64))
    if kind == 3:
        value = draw(
            st.recursive(JSON_VALUES | TEXTS, lambda c: st.lists(c) | st.dictionaries(TEXTS, c))
        )
        return json.dumps(value, ensure_ascii=draw(st.booleans())).encode("utf-8")
    if draw(st.booleans()):
        body: Any = {"text": draw(TEXTS)}
    else:
        body = {"texts": draw(st.lists(TEXTS, max_size=10))}
    if draw(st.booleans()):
        body["id"] = draw(st.one_of(st.integers(), TEXTS))
    raw = json.dumps(body, ensure_ascii=draw(st.booleans())).encode("utf-8")
    if kind == 2:
        return _mutations(draw, raw, is_json=True)
    return raw


@FUZZ
@given(body=bodies())
def test_http_endpoint_never_crashes(client, body: bytes) -> None:
    c, nlp = client
    answer = c.post("/v1/ner", content=body, headers={"content-type": "application/json"})
    assert answer.status_code in (200, 400, 413, 422), (answer.status_code, answer.text)
    event(f"HTTP {answer.status_code}")
    payload = answer.json()
    if answer.status_code != 200:
        assert set(payload) == {"error"} and payload["error"]["status"] == answer.status_code
        assert payload["error"]["message"]
        return
    request = json.loads(body)
    texts = [request["text"]] if "text" in request else request["texts"]
    served = [
        [(s["start"], s["end"], s["type"], s["text"]) for s in r["spans"]]
        for r in payload["results"]
    ]
    assert served == [
        [(s.start, s.end, s.type, s.text) for s in spans] for spans in nlp.pipe(texts)
    ]
    assert payload["id"] == request.get("id")


@pytest.mark.parametrize("name", ["3", '{"@loggers": "x"}', "null", "[1]"])
def test_a_component_name_that_is_not_a_string(name: str) -> None:
    """Found by the fuzzer: `--model.decoder.@decoders 3` was a TypeError inside catalogue."""
    cfg = load_config(QUICKSTART, parse_overrides(["--model.decoder.@decoders", name]))
    with pytest.raises(NerkitError, match=r"model\.decoder\.@decoders: expected the name of a"):
        check_config(cfg, initialize=False)
