"""Issue 27: a finished run or a gold file is never overwritten silently, and the faults a new
user hits end in one message that names the fix (one test per row of the issue's table)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nerkit.cli.main import app
from nerkit.config import load_config, validate_config
from nerkit.data import formats
from nerkit.data.encoding import guess_encoding, input_encoding
from nerkit.errors import DataError, OutputError
from nerkit.types import Entity, Example
from nerkit.util import check_output_dir, check_output_file

from .conftest import CORPUS, QUICKSTART, ROOT, cli_args

runner = CliRunner()
LOGGER = {"@loggers": "nerkit.DefaultLoggers.v1", "progress_bar": False}  # writes log.jsonl
QUICK = {"corpora.max_train_records": 16, "training.max_epochs": 1, "training.logger": LOGGER}


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def evals(run: Path) -> list:
    lines = (run / "log.jsonl").read_text(encoding="utf8").splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == "eval"]


# rows 1, 2 and 9: the two data-loss rows as a new user meets them, and Ctrl-C


def test_training_twice_into_one_folder_and_predicting_onto_the_input(tmp_path: Path, monkeypatch):
    from nerkit.training.loop import Trainer

    run = tmp_path / "runs" / "q"
    overrides = cli_args(**dict(QUICK, **{"training.max_epochs": 2}))
    original = Trainer.run

    def interrupted(self):  # Ctrl-C past the checkpoint of the first epoch (2 steps)
        self.stop_after_steps = 3
        return original(self)

    monkeypatch.setattr(Trainer, "run", interrupted)
    stopped = invoke("train", QUICKSTART, "--output", run, *overrides)
    assert stopped.exit_code == 130 and "Traceback" not in stopped.output
    assert "last checkpoint (step 2)" in stopped.output
    command = stopped.output.strip().splitlines()[-1].strip()
    assert command == shlex.join(
        ["nerkit", "train", str(QUICKSTART), "--resume", str(run), *overrides]
    )
    monkeypatch.setattr(Trainer, "run", original)
    first = runner.invoke(app, shlex.split(command)[1:])  # the printed command continues it
    assert first.exit_code == 0, first.output
    assert [r["step"] for r in evals(run)] == [2, 4]  # step 2 not evaluated twice
    best = (run / "model-best" / "model.safetensors").read_bytes()
    log = (run / "log.jsonl").read_bytes()

    again = invoke("train", QUICKSTART, "--output", run, *cli_args(**QUICK))
    assert again.exit_code == 1 and "Traceback" not in again.output
    assert f"--output {run} already holds a training run" in again.output
    assert f"--resume {run}" in again.output and "--overwrite" in again.output
    assert (run / "model-best" / "model.safetensors").read_bytes() == best
    assert (run / "log.jsonl").read_bytes() == log  # stopped before anything was written

    (run / "notes.txt").write_text("mine", encoding="utf8")
    other_seed = dict(QUICK, **{"system.seed": 7})
    replaced = invoke("train", QUICKSTART, "--output", run, "--overwrite", *cli_args(**other_seed))
    assert replaced.exit_code == 0, replaced.output
    assert len(evals(run)) == 1  # the new run's log only, not appended to the old one
    assert (run / "model-best" / "model.safetensors").read_bytes() != best  # the new run's
    assert (run / "notes.txt").read_text(encoding="utf8") == "mine"  # not the run's: kept

    # predict onto its own input: refused by any name of the file, the gold entities intact
    gold = tmp_path / "X.json"
    gold.write_bytes((CORPUS / "dev.json").read_bytes())
    (tmp_path / "link.json").symlink_to(gold)
    os.chdir(tmp_path)  # pytest's tmp_path outlives the test; the cwd is restored below
    try:
        for out in ("X.json", "./X.json", "runs/../X.json", "link.json", gold):
            result = invoke("predict", run / "model-best", "X.json", "-o", out)
            assert result.exit_code == 1 and "is the input X.json" in result.output, result.output
            result = invoke("convert", "link.json", out, "--overwrite")
            assert result.exit_code == 1 and "is the input link.json" in result.output
        result = invoke("score", "X.json", "X.json", "-o", "link.json")
        assert result.exit_code == 1 and "is the input X.json" in result.output
    finally:
        os.chdir(ROOT)
    assert gold.read_bytes() == (CORPUS / "dev.json").read_bytes()

    pred = tmp_path / "pred.json"
    assert invoke("predict", run / "model-best", gold, "-o", pred).exit_code == 0
    written = pred.read_bytes()
    result = invoke("predict", run / "model-best", gold, "-o", pred)
    assert result.exit_code == 1 and "already exists" in result.output
    assert "--overwrite" in result.output and pred.read_bytes() == written
    assert invoke("predict", run / "model-best", gold, "-o", pred, "--overwrite").exit_code == 0
    conll = tmp_path / "x.conll"
    assert invoke("convert", gold, conll).exit_code == 0
    result = invoke("convert", gold, conll)
    assert result.exit_code == 1 and "already exists" in result.output


def test_output_dir_rules(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    assert check_output_dir(tmp_path / "empty") is False
    assert check_output_dir(tmp_path / "new" / "run") is False and not (tmp_path / "new").exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.txt").write_text("x")
    assert check_output_dir(other) is False  # a run's entries go beside other files
    with pytest.raises(OutputError, match="not empty .* holds no nerkit model"):
        check_output_dir(other, overwrite=True, entries=None)  # a whole folder: never replaced
    (other / "model-last").mkdir()
    with pytest.raises(OutputError, match=r"Pass a new folder, or add --overwrite") as err:
        check_output_dir(other, resume=False)
    assert "--resume" not in str(err.value)  # no checkpoint there to continue
    assert check_output_dir(other, overwrite=True) is True
    assert check_output_dir(other, resume=True) is False


# row 3: non-UTF-8 input, every path


def gbk_copy(src: Path, dest: Path) -> Path:
    dest.write_bytes(src.read_text(encoding="utf8").encode("gbk"))
    return dest


CORPUS_SAMPLE = [
    Example("患者右下腹疼痛三天", [Entity(2, 6, "sym")], id="a"),
    Example("无发热", [Entity(1, 2, "sym")], id="b"),
]


@pytest.mark.parametrize(
    "fmt, name", [("cmeee", "c.json"), ("conll", "c.conll"), ("doccano", "c.jsonl"),
                  ("labelstudio", "c.json"), ("ccks", "c.json"), ("brat", "c")],
)  # fmt: skip
def test_every_reader_names_the_encoding_and_reads_it_with_the_option(
    tmp_path: Path, fmt: str, name: str
):
    path = tmp_path / name
    formats.write(path, CORPUS_SAMPLE, fmt)
    want = [(ex.text, ex.entities) for ex in formats.read(path, fmt)]
    for file in [path] if path.is_file() else sorted(path.iterdir()):
        gbk_copy(file, file)
    with pytest.raises(
        DataError, match=r"line \d+: not UTF-8 text .* reads as GBK: pass --encoding gb18030"
    ):
        formats.read(path, fmt)
    with input_encoding("gb18030"):
        assert [(ex.text, ex.entities) for ex in formats.read(path, fmt)] == want
        if fmt != "brat":
            assert formats.detect(path) in (fmt, "cmeee")  # detection reads the head too


def test_gbk_input_to_predict_file_and_stdin(tiny_model_dir: Path, tmp_path: Path):
    records = json.loads((CORPUS / "dev.json").read_text(encoding="utf8"))[:3]
    lines = "".join(
        json.dumps({"id": i, "text": r["text"]}, ensure_ascii=False) + "\n"
        for i, r in enumerate(records)
    )
    src = tmp_path / "in.jsonl"
    src.write_bytes(lines.encode("gbk"))
    out = tmp_path / "out.jsonl"
    result = invoke("predict", tiny_model_dir, src, "-o", out)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        f"{src}, line 1: not UTF-8 text" in result.output and "--encoding gb18030" in result.output
    )
    assert not out.exists()  # no empty output left to block the rerun
    piped = runner.invoke(
        app, ["predict", str(tiny_model_dir), "-", "-o", "-"], input=lines.encode("gbk")
    )
    assert piped.exit_code == 1 and "stdin, line 1: not UTF-8 text" in piped.output
    piped = runner.invoke(
        app,
        ["predict", str(tiny_model_dir), "-", "-o", "-", "--encoding", "gbk"],
        input=lines.encode("gbk"),
    )
    assert piped.exit_code == 0
    assert [json.loads(x)["text"] for x in piped.stdout_bytes.decode("utf-8").splitlines()] == [
        r["text"] for r in records
    ]
    json_in = gbk_copy(CORPUS / "dev.json", tmp_path / "dev.json")
    result = invoke("evaluate", tiny_model_dir, json_in)
    assert result.exit_code == 1 and "reads as GBK" in result.output
    result = invoke("evaluate", tiny_model_dir, json_in, "--encoding", "gb18030")
    assert result.exit_code == 0, result.output
    result = invoke("evaluate", tiny_model_dir, json_in, "--encoding", "gbx")
    assert result.exit_code == 1 and "--encoding 'gbx': not an encoding" in result.output


def test_guess_encoding():
    text = "患者右下腹疼痛三天，伴发热。"
    assert guess_encoding(text.encode("gbk")) == ("GBK", "gb18030")
    assert guess_encoding("𠀀患者".encode("gb18030")) == ("GB18030", "gb18030")  # beyond GBK
    assert guess_encoding(text.encode("utf-16")) == ("UTF-16", "utf-16")
    assert guess_encoding(text.encode("utf-8"), exclude="gb18030") == ("UTF-8", "utf-8")
    assert guess_encoding(bytes(range(128, 256))) is None
    # a sample cut inside a character still reads
    assert guess_encoding(("病" * 40000).encode("gbk")[:-1]) == ("GBK", "gb18030")


# row 4: a broken plugin never takes down registry or info

BROKEN_CHECK = textwrap.dedent(
    """
    from typer.testing import CliRunner
    from nerkit.cli.main import app
    from nerkit.config import load_config, validate_config
    r = CliRunner()
    for args in (["registry", "decoders"], ["info"]):
        res = r.invoke(app, args)
        print("EXIT", res.exit_code, repr(res.exception))
        print(res.output)
    cfg = load_config(r"{config}", {{"model.decoder": {{"@decoders": "acme.Broken.v1"}}}})
    print("PROBLEMS", validate_config(cfg))
    """
)


def test_a_broken_plugin_is_listed_not_fatal(tmp_path: Path):
    info = tmp_path / "site" / "acme_ner-0.2.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-ner\nVersion: 0.2\n")
    (info / "entry_points.txt").write_text(
        "[nerkit_decoders]\nacme.Broken.v1 = acme_gone.heads:f\n"
    )
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))
    code = BROKEN_CHECK.format(config=QUICKSTART)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.count("EXIT 0 None") == 2, out
    assert "nerkit.LinearDecoder.v1  [nerkit]" in out  # the rest is still listed
    assert "acme.Broken.v1  [BROKEN: acme-ner]" in out
    assert "BROKEN plugin decoders:acme.Broken.v1 (acme-ner)" in out
    assert "'acme.Broken.v1 = acme_gone.heads:f'" in out
    assert "ModuleNotFoundError: No module named 'acme_gone'" in out
    problems = out.split("PROBLEMS", 1)[1]
    assert (
        "model.decoder.@decoders: 'acme.Broken.v1' comes from the installed package acme-ner"
        in problems
    )
    assert "pip uninstall acme-ner" in problems


# row 5: extends replaces a section whose component changes, [initialize] included


def test_extends_drops_the_replaced_components_initialize_block(tmp_path: Path):
    child = tmp_path / "plugin.cfg"
    child.write_text(
        f'[nerkit]\nextends = "{QUICKSTART}"\n\n[model.encoder]\n@encoders = "acme.CharEncoder.v1"\n'
        "dim = 64\n"
    )
    cfg = load_config(child)
    assert dict(cfg["model"]["encoder"]) == {"@encoders": "acme.CharEncoder.v1", "dim": 64}
    assert "encoder" not in cfg["initialize"]["model"]
    # the child's own init-only arguments of the new component are kept; the same
    # component keeps the base's and merges the child's
    child.write_text(child.read_text() + '\n[initialize.model.encoder]\nvocab = "v.txt"\n')
    assert dict(load_config(child)["initialize"]["model"]["encoder"]) == {"vocab": "v.txt"}
    same = tmp_path / "same.cfg"
    same.write_text(
        f'[nerkit]\nextends = "{QUICKSTART}"\n\n[initialize.model.encoder]\npretrained = true\n'
    )
    init = dict(load_config(same)["initialize"]["model"]["encoder"])
    assert init == {"name_or_path": "${paths.encoder}", "pretrained": True}


def test_an_init_only_argument_error_names_initialize():
    cfg = load_config(QUICKSTART, {"initialize.model.encoder.name_or_pth": "x"})
    problems = validate_config(cfg)
    assert any(p.startswith("initialize.model.encoder.name_or_pth: ") for p in problems), problems
    cfg = load_config(QUICKSTART, {"model.encoder.max_lenght": 3})
    assert any(p.startswith("model.encoder.max_lenght: ") for p in validate_config(cfg))


# row 6: export of an encoder that ignores the attention mask; no half-written folder


def test_export_of_an_encoder_without_attention_mask(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch
):
    pytest.importorskip("onnxruntime")
    import nerkit
    from nerkit.export import onnx as export
    from nerkit.models import io
    from nerkit.pipeline import Pipeline

    model, cfg = io.load_model(tiny_model_dir, device="cpu")
    encoder = model.encoder
    bert = encoder.transformer

    def forward(input_ids, attention_mask):  # [B, T] -> [B, T, H], the mask unused
        return bert(input_ids=input_ids).last_hidden_state

    monkeypatch.setattr(encoder, "forward", forward)
    monkeypatch.setattr(io, "load_model", lambda path, device="cpu": (model, cfg))
    out = tmp_path / "onnx"
    export.export_onnx(tiny_model_dir, out)
    meta = json.loads((out / "meta.json").read_text(encoding="utf8"))
    assert meta["onnx"]["inputs"] == ["input_ids", "char_mask"]
    texts = [r["text"] for r in json.loads((CORPUS / "dev.json").read_text(encoding="utf8"))]
    got = list(nerkit.load(out).pipe(texts))
    want = list(Pipeline(model, cfg, tiny_model_dir).pipe(texts))  # the same unmasked encoder
    assert [[(s.start, s.end, s.type) for s in x] for x in got] == [
        [(s.start, s.end, s.type) for s in x] for x in want
    ]

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export, "save_file", broken)
    with pytest.raises(RuntimeError):
        export.export_onnx(tiny_model_dir, tmp_path / "sub" / "half")
    assert not (tmp_path / "sub").exists()
    with pytest.raises(RuntimeError):
        export.export_onnx(tiny_model_dir, out, overwrite=True)
    assert json.loads((out / "meta.json").read_text(encoding="utf8")) == meta  # old one intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["onnx"]


# row 7: outputs that can't be written


def test_unwritable_outputs_are_one_message(tiny_model_dir: Path, tmp_path: Path):
    afile = tmp_path / "a.txt"
    afile.write_text("x")
    result = invoke("train", QUICKSTART, "--output", afile, *cli_args())
    assert result.exit_code == 1 and "that is a file, but --output names a folder" in result.output
    result = invoke("train", QUICKSTART, "--output", afile / "run", *cli_args())
    assert (
        result.exit_code == 1 and f"{afile} is a file, so nothing can be created" in result.output
    )
    result = invoke("predict", tiny_model_dir, CORPUS / "dev.json", "-o", afile / "p.json")
    assert result.exit_code == 1 and "is a file, so nothing can be created" in result.output
    if Path("/proc/self").is_dir():  # Linux: /proc takes no new files, not even from root
        result = invoke("predict", tiny_model_dir, CORPUS / "dev.json", "-o", "/proc/x.json")
        assert (
            result.exit_code == 1 and "--output /proc/x.json: can't write in /proc" in result.output
        )
    result = invoke("export", tiny_model_dir, "--output", afile)
    assert result.exit_code == 1 and "is a file, expected a folder" in result.output
    with pytest.raises(OutputError, match="is the input"):
        check_output_file(tmp_path / "x" / ".." / "a.txt", overwrite=True, inputs=[afile])


# row 8: messages that offer a fix the command has


def test_messages_offer_a_fix_the_command_has(tiny_model_dir: Path, tmp_path: Path):
    brat = tmp_path / "brat"
    brat.mkdir()
    (brat / "a.txt").write_text("发热伴咳嗽\n", encoding="utf8")
    (brat / "a.ann").write_text("T1\tsym 0 1;3 4\t发 咳\n", encoding="utf8")
    out = tmp_path / "p.json"
    result = invoke("predict", tiny_model_dir, brat, "--from", "brat", "-o", out)
    assert result.exit_code == 0, result.output  # input entities are ignored, as its help says
    assert [r["text"] for r in json.loads(out.read_text(encoding="utf8"))] == ["发热伴咳嗽\n"]
    result = invoke("convert", brat, tmp_path / "c.json")
    assert result.exit_code == 1 and "-r discontinuous=cover" in result.output

    result = invoke("train", QUICKSTART, "--outptu", tmp_path / "r")
    assert (
        result.exit_code == 1
        and "No such option: --outptu. Did you mean --output?" in result.output
    )
    assert "--training.outptu" not in result.output

    bad = tmp_path / "bad.conll"
    bad.write_text("发 B-sym\n热 I-sym\n\n咳 X-sym\n", encoding="utf8")
    result = invoke("convert", bad, tmp_path / "b.json")
    assert result.exit_code == 1 and f"{bad}, line 4: tag 'X-sym'" in result.output

    result = invoke("convert", brat, tmp_path / "d.json", "-r", "discontinous=cover")
    assert result.exit_code == 1 and "unexpected keyword" not in result.output
    assert "the brat reader: no option 'discontinous'. Did you mean discontinuous?" in result.output


def test_label_studio_warns_only_about_annotations_it_ignored(tmp_path: Path):
    task = {"data": {"text": "发热"}, "annotations": [{"result": []}]}
    path = tmp_path / "ls.json"
    path.write_text(json.dumps([task], ensure_ascii=False), encoding="utf8")
    assert not any("further annotations" in w for w in formats.read(path, "labelstudio").warnings)
    task["annotations"].append({"result": []})
    path.write_text(json.dumps([task], ensure_ascii=False), encoding="utf8")
    warnings = formats.read(path, "labelstudio").warnings
    assert any("1 further annotations" in w for w in warnings), warnings


def test_pretrain_never_replaces_a_finished_run_by_accident(tmp_path: Path):
    run = tmp_path / "pt"
    (run / "model-best").mkdir(parents=True)
    (run / "log.jsonl").write_text('{"step": 1}\n', encoding="utf8")
    config = ROOT / "configs" / "pretrain-quickstart.cfg"
    result = invoke("pretrain", config, "--output", run)
    assert (
        result.exit_code == 1
        and "already holds" in result.output
        and "--overwrite" in result.output
    )
    assert (run / "log.jsonl").read_text(encoding="utf8") == '{"step": 1}\n'  # untouched


def test_output_kind_is_checked_where_the_file_check_is(tmp_path: Path):
    """check_output_path (kind, writability) and check_output_file (+ input, --overwrite):
    one place in nerkit.util for every command's output."""
    from nerkit.util import check_output_path

    folder, afile = tmp_path / "brat", tmp_path / "a.json"
    folder.mkdir()
    afile.write_text("[]")
    check_output_file(folder, overwrite=True, folder=True)  # an existing brat folder, replaced
    with pytest.raises(OutputError, match=r"is a folder, expected a file name, e\.g\. .*m\.json"):
        check_output_file(folder, overwrite=True, example="m.json")
    with pytest.raises(OutputError, match="a.json: is a file, expected a folder"):
        check_output_path(afile, "--output", folder=True)
    with pytest.raises(OutputError, match="already exists"):
        check_output_file(afile, folder=False)
    with pytest.raises(OutputError, match=f"{afile} is a file, so nothing can be created"):
        check_output_path(afile / "x.json")
    check_output_path("-")
    check_output_path(tmp_path / "new" / "deeper" / "x.json")
    assert not (tmp_path / "new").exists()  # checked, not created
