"""Issue 13 (items 5-10, 12 and the smaller ones): what a new user meets in the first hour.

Each test reproduces a reported failure and checks the fixed behaviour: a
one-paragraph nerkit error (exit 1, no traceback) naming the setting or file
and the fix, or the right result with a clear warning.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import nerkit
from nerkit.cli.main import app
from nerkit.errors import AssetError, InputError, ModelLoadError

from .conftest import CORPUS, QUICKSTART, ROOT, TINY_BERT, cli_args

runner = CliRunner()
BASE = ROOT / "configs" / "base.cfg"
# A 2-step run: enough for a loadable model directory.
TINY = {"corpora.max_train_records": 16, "corpora.max_dev_records": 8, "training.max_epochs": 1}


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def assert_clean_error(result, *needles: str) -> str:
    """Exit 1 with nerkit's one-paragraph error: no traceback, the needles in the message."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, (needle, result.output)
    return result.output


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple:
    out = tmp_path_factory.mktemp("first-contact")
    result = invoke("train", QUICKSTART, "--output", out, *cli_args(**TINY))
    assert result.exit_code == 0, result.output
    return out / "model-best", result.output


@pytest.fixture()
def records() -> list:
    return json.loads((CORPUS / "dev.json").read_text(encoding="utf8"))[:6]


# ------------------------------------------------------------------ 5. the submission name


def test_predict_under_another_name_warns_and_succeeds(trained, records, tmp_path: Path):
    src = tmp_path / "CMeEE_test.json"
    src.write_text(
        json.dumps([{"text": r["text"]} for r in records], ensure_ascii=False), encoding="utf8"
    )
    out = tmp_path / "anything_else.json"
    result = invoke("predict", trained[0], src, "--output", out, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "valid prediction file" in result.output and "named CMeEE_test.json" in result.output
    written = json.loads(out.read_text(encoding="utf8"))
    assert [r["text"] for r in written] == [r["text"] for r in records]


# ------------------------------------------------------------------ 6. JSON Lines


def test_evaluate_and_predict_read_json_lines(trained, records, tmp_path: Path):
    as_json, as_jsonl = tmp_path / "part.json", tmp_path / "part.jsonl"
    as_json.write_text(json.dumps(records, ensure_ascii=False), encoding="utf8")
    as_jsonl.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf8"
    )
    metrics = []
    for path in (as_json, as_jsonl):
        out = tmp_path / f"m-{path.suffix[1:]}.json"
        result = invoke("evaluate", trained[0], path, "--output", out, "--device", "cpu")
        assert result.exit_code == 0, result.output
        metrics.append(json.loads(out.read_text()))
    assert metrics[0] == metrics[1]
    pred = tmp_path / "pred.json"
    result = invoke("predict", trained[0], as_jsonl, "--output", pred, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert [r["text"] for r in json.loads(pred.read_text(encoding="utf8"))] == [
        r["text"] for r in records
    ]
    result = invoke("score", as_jsonl, pred)  # score reads JSON Lines gold too
    assert result.exit_code == 0, result.output


# ------------------------------------------------------------------ 7. unknown characters


def test_evaluate_warns_about_unknown_characters(trained, tmp_path: Path):
    vocab = set((TINY_BERT / "vocab.txt").read_text(encoding="utf8").split("\n"))
    rare = [c for c in "龘靐齉麤鱻爩驫厵纞虋" if c not in vocab]
    assert len(rare) >= 5
    # 10 records of 20 characters: 5 unknown each, 25% in all
    texts = ["患者" + "".join(rare[:5]) + "头痛三天伴有恶心呕吐" + "。" for _ in range(10)]
    texts = [t[:20].ljust(20, "。") for t in texts]
    path = tmp_path / "rare.json"
    path.write_text(
        json.dumps([{"text": t, "entities": []} for t in texts], ensure_ascii=False),
        encoding="utf8",
    )
    unknown = sum(c not in vocab for t in texts for c in t)  # independent count from vocab.txt
    rate = 100 * unknown / sum(map(len, texts))
    result = invoke("evaluate", trained[0], path, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert f"{rate:.1f}% of the characters of {path}" in result.output
    assert "[UNK]" in result.output and "vocabulary" in result.output
    quiet = invoke("evaluate", trained[0], CORPUS / "dev.json", "--device", "cpu")
    assert quiet.exit_code == 0 and "are not in the model's vocabulary" not in quiet.output
    # debug data reports the encoder's coverage of each file and flags the high rate
    report = invoke("debug", "data", QUICKSTART, "--paths.dev", path)
    assert report.exit_code == 0, report.output
    dev_part = report.output.split("== dev")[1]
    assert f"{rate:.2f}% unknown" in dev_part and "⚠ high" in dev_part
    assert "encoder vocabulary    716 entries" in report.output
    # the streaming path (JSON Lines in and out) tallies the characters it predicts
    lines = tmp_path / "rare.jsonl"
    lines.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts))
    out = tmp_path / "rare-pred.jsonl"
    streamed = invoke("predict", trained[0], lines, "--output", out, "--device", "cpu")
    assert streamed.exit_code == 0, streamed.output
    assert f"{rate:.1f}% of the characters of {lines}" in streamed.output
    assert len(out.read_text(encoding="utf8").splitlines()) == len(texts)
    known = [r["text"] for r in json.loads((CORPUS / "dev.json").read_text(encoding="utf8"))]
    lines.write_text("".join(json.dumps({"text": t}) + "\n" for t in known))  # quiet above
    streamed = invoke(
        "predict", trained[0], lines, "--output", out, "--device", "cpu", "--overwrite"
    )
    assert streamed.exit_code == 0 and "are not in the model's vocabulary" not in streamed.output


# ------------------------------------------------------------------ 8. tracebacks


def test_bad_device_is_a_config_error_in_debug_config_and_train():
    for cmd in (["debug", "config"], ["train"]):
        result = invoke(*cmd, QUICKSTART, *cli_args(**{"system.device": "gpu"}))
        assert_clean_error(result, "system.device", "'gpu' is not a device", "cpu, cuda, cuda:N")
    result = invoke("evaluate", "no-such-model", CORPUS / "dev.json", "--device", "gpu")
    assert_clean_error(result)


def test_cuda_without_cuda_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    result = invoke("debug", "config", QUICKSTART, *cli_args(**{"system.device": "cuda:1"}))
    assert_clean_error(result, "system.device", "CUDA is not available", "--system.device cpu")


@pytest.mark.parametrize("value", [0, -4])
def test_batch_size_below_one_is_rejected_up_front(value: int):
    result = invoke("train", QUICKSTART, *cli_args(**{"training.batch_size": value}))
    assert_clean_error(result, "training.batch_size: must be at least 1", f"got {value}")


def test_truncated_weights_name_the_file(trained, tmp_path: Path):
    model = tmp_path / "model"
    shutil.copytree(trained[0], model)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:5])
    result = invoke("evaluate", model, CORPUS / "dev.json", "--device", "cpu")
    assert_clean_error(
        result, str(weights), "truncated or damaged", "Copy the complete model directory"
    )
    with pytest.raises(ModelLoadError):
        nerkit.load(model, device="cpu")


# ------------------------------------------------------------------ 9. silent nonsense


def test_training_that_would_never_stop_is_rejected():
    result = invoke(
        "debug",
        "config",
        QUICKSTART,
        *cli_args(**{"training.max_epochs": 0, "training.max_steps": 0}),
    )
    assert_clean_error(result, "max_epochs = 0 and max_steps = 0", "never stop")


def test_train_without_output_says_nothing_is_saved(trained):
    result = invoke("train", QUICKSTART, *cli_args(**TINY))
    assert result.exit_code == 0, result.output
    assert "No --output given: this run saves nothing" in result.output
    assert "Nothing saved (no --output)" in result.output
    assert "No --output" not in trained[1]


def test_pipeline_rejects_what_is_not_a_text(trained):
    nlp = nerkit.load(trained[0], device="cpu")
    with pytest.raises(
        InputError, match=r"nlp\(text\) expects a str, got list.*nlp\.pipe\(texts\)"
    ):
        nlp(["患者头痛", "发热"])
    with pytest.raises(InputError, match="got NoneType"):
        nlp(None)
    with pytest.raises(InputError, match=r"got bytes.*decode\('utf-8'\)"):
        nlp("患者头痛".encode())
    with pytest.raises(TypeError, match=r"item 1 of nlp\.pipe"):  # InputError is a TypeError
        list(nlp.pipe(["患者头痛", 3]))
    with pytest.raises(InputError, match="got one str"):
        list(nlp.pipe("患者头痛"))
    assert [len(s) for s in nlp.pipe(["患者头痛", "发热"])] == [
        len(nlp("患者头痛")),
        len(nlp("发热")),
    ]


def test_unknown_paths_key_on_the_command_line():
    result = invoke("debug", "config", QUICKSTART, "--paths.trian", "x.json")
    assert_clean_error(result, "--paths.trian", "no key 'trian'", "did you mean 'train'")
    # from Python (e.g. a script adding a path) an extra [paths] key stays allowed
    from nerkit.config import load_config

    assert load_config(QUICKSTART, {"paths.extra": "x"})["paths"]["extra"] == "x"


# ------------------------------------------------------------------ 10. missing assets


def _no_hub(monkeypatch) -> list:
    """Make any transformers lookup fail loudly; returns the names it was asked for."""
    import transformers

    asked: list = []

    def refuse(name, *args, **kwargs):
        asked.append(name)
        raise AssertionError(f"{name} was sent to transformers")

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", refuse)
    return asked


def test_every_missing_asset_listed_at_once_without_the_hub(monkeypatch, tmp_path: Path):
    asked = _no_hub(monkeypatch)
    monkeypatch.chdir(tmp_path)  # no assets/ here
    for cmd in (["debug", "config"], ["train"]):
        result = invoke(*cmd, ROOT / "configs" / "best.cfg")
        if cmd[0] == "debug":  # valid, files missing: exit 2, the filled config printed first
            assert result.exit_code == 2 and "[initialize.model.encoder]" in result.output
            result.exit_code = 1
        out = assert_clean_error(
            result, "5 files this config reads are missing", "projects/cmeee/README.md"
        )
        for where in (
            "corpora.train",
            "corpora.dev",
            "initialize.model.encoder.name_or_path",
            "initialize.model.lexicon.vectors.path",
            "initialize.model.lexicon.segmenter.model",
        ):
            assert f"  - {where} = {ROOT}/projects/cmeee/assets/" in out
        assert (
            "hf download hfl/chinese-roberta-wwm-ext-large" in out and "huggingface-cli" not in out
        )
    assert asked == []


def test_local_encoder_path_is_never_sent_to_the_hub(monkeypatch):
    from nerkit.models.encoders.transformer import transformer_encoder as TransformerEncoder

    asked = _no_hub(monkeypatch)
    with pytest.raises(
        ModelLoadError, match="assets/chinese-roberta-wwm-ext-large does not exist.*never sends"
    ):
        TransformerEncoder("assets/chinese-roberta-wwm-ext-large")
    assert asked == []


def test_asset_check_in_python_lists_missing_paths(tmp_path: Path):
    from nerkit.assets import check_assets, find_assets
    from nerkit.config import load_config

    cfg = load_config(
        BASE, {"paths.train": str(tmp_path / "t.json"), "paths.dev": str(CORPUS / "dev.json")}
    )
    refs = {r.where: r for r in find_assets(cfg)}
    assert refs["initialize.model.encoder.name_or_path"].paths_key == "bert"
    assert (
        refs["corpora.dev"].problem() is None
        and refs["corpora.train"].problem() == "file not found"
    )
    with pytest.raises(AssetError) as err:
        check_assets(cfg)
    assert "2 files" in str(err.value) and "(${paths.bert})" in str(err.value)
    # a hub id is left to the encoder (it may download it)
    hub = load_config(
        BASE,
        {
            "paths.bert": "bert-base-chinese",
            "paths.train": str(CORPUS / "train.json"),
            "paths.dev": str(CORPUS / "dev.json"),
        },
    )
    check_assets(hub)


def test_model_dir_without_encoder_gets_advice_that_works(trained, tmp_path: Path):
    model = tmp_path / "model"
    shutil.copytree(trained[0], model)
    shutil.rmtree(model / "encoder")
    result = invoke(
        "predict", model, CORPUS / "dev.json", "--output", tmp_path / "p.json", "--device", "cpu"
    )
    out = assert_clean_error(result, "encoder/ is missing", "Copy the complete model directory")
    assert "--model.encoder" not in out  # an option predict does not take


# ------------------------------------------------------------------ 12. debug data


def test_debug_data_lists_every_problem_with_a_cap(tmp_path: Path):
    bad = [
        {"text": "患者头痛", "entities": [{"start_idx": 0, "end_idx": 9, "type": "sym"}]}
        for _ in range(25)
    ]
    bad.insert(3, {"text": ""})
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad, ensure_ascii=False), encoding="utf8")
    result = invoke("debug", "data", QUICKSTART, "--paths.dev", path)
    assert (
        result.exit_code == 1 and "Traceback" not in result.output
    )  # the report, then a clear error
    assert "✘ 26 problems in the data (listed above)" in result.output
    dev = result.output.split("== dev")[1]
    assert "validation problems: 26 (first 20 below)" in dev
    assert dev.count("\n  - ") == 20
    assert (
        "record 3, text: is empty" in dev and "record 2, entities[0].end_idx: 9 is outside" in dev
    )
    assert "validation problems in all files: 26" in result.output


def test_debug_data_warns_when_train_and_dev_are_one_file(tmp_path: Path):
    copy = tmp_path / "copy.json"
    shutil.copy(CORPUS / "train.json", copy)
    for dev in (CORPUS / "train.json", copy):
        result = invoke("debug", "data", QUICKSTART, "--paths.dev", dev)
        assert result.exit_code == 0, result.output
        assert "⚠ train and dev are the same file" in result.output
    result = invoke("debug", "data", QUICKSTART)
    assert "same file" not in result.output
    assert "dev chars in train" in result.output


# ------------------------------------------------------------------ smaller things


def test_version_info_and_repr(trained):
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.strip() == f"nerkit {nerkit.__version__}"
    result = invoke("info", trained[0])
    assert result.exit_code == 0, result.output
    for needle in (
        "nerkit        " + nerkit.__version__,
        "torch",
        "CUDA",
        "labels        dis, sym",
        "dev scores",
    ):
        assert needle in result.output
    nlp = nerkit.load(trained[0], device="cpu")
    text = repr(nlp)
    assert str(trained[0]) in text and "labels=['dis'" in text and "TransformerEncoder" in text


def test_train_prints_a_start_banner(trained):
    out = trained[1]
    assert "ℹ model: " in out and " parameters (" in out
    assert "ℹ train: 16 records" in out and "ℹ dev:   8 records" in out
    assert "ℹ labels (9): dis, sym, pro" in out and "on cpu (fp32)" in out
    assert out.index("ℹ model") < out.index("Epoch")  # before the table


def test_quickstart_vocabulary_on_real_cmeee_is_flagged(trained, shared_data: Path):
    """The reported case: the 716-character vocabulary leaves about a fifth of CMeEE dev unknown."""
    from nerkit.data.stats import format_unknown_warning

    nlp = nerkit.load(trained[0], device="cpu")
    texts = [
        r["text"]
        for r in json.loads((shared_data / "cmeee" / "CMeEE_dev.json").read_text(encoding="utf8"))
    ]
    cov = nlp.char_coverage(texts)
    vocab = set((TINY_BERT / "vocab.txt").read_text(encoding="utf8").split("\n"))
    plain = sum(c not in vocab for t in texts for c in t) / sum(
        map(len, texts)
    )  # no normalisation at all
    assert 0.17 < cov["rate"] < 0.21 and cov["rate"] <= plain
    assert format_unknown_warning(cov, "CMeEE_dev.json").startswith(
        f"{100 * cov['rate']:.1f}% of the characters"
    )
