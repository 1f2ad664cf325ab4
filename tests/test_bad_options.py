"""Issue 22, item 1: no command ends in a traceback, whatever the value of any option.

``test_every_option_of_every_command`` walks the command tree (so a new command or option is
walked too), gives each option and argument in turn the bad values of its kind (negative and
non-numeric numbers, unknown names, a missing path, a folder where a file is expected and the
reverse, an output under a file or in a folder nobody may write in) with every other one valid,
and expects exit 1 (nerkit's one paragraph) or 2 (the usage error), naming the option or the
value, never a traceback and never a run.
"""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path
from typing import Dict, List

import pytest
import typer.main
from typer.testing import CliRunner

from nerkit.cli.main import app

from .conftest import CORPUS, QUICKSTART, ROOT, cli_args

PRETRAIN = ROOT / "configs" / "pretrain-quickstart.cfg"

runner = CliRunner()
WIDE = {"COLUMNS": "1000"}  # usage errors in one line: values are never wrapped


def run(*args) -> object:
    return runner.invoke(app, [str(a) for a in args], env=WIDE)


def assert_clean(result, *needles: str) -> str:
    """Exit 1 (nerkit's error) or 2 (a usage error), no traceback; one of the needles shown."""
    assert isinstance(result.exception, SystemExit), (result.exception, result.output)
    assert result.exit_code in (1, 2), result.output
    assert "Traceback" not in result.output, result.output
    if needles:
        assert any(n in result.output for n in needles), (needles, result.output)
    return result.output


def _commands() -> Dict[str, object]:
    """'predict' or 'debug config' -> the click command."""
    out = {}

    def walk(cmd, prefix: List[str]) -> None:
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                walk(sub, [*prefix, name])
        else:
            out[" ".join(prefix)] = cmd

    walk(typer.main.get_command(app), [])
    return out


@pytest.fixture(scope="module")
def places(tmp_path_factory, tiny_model_dir: Path) -> dict:
    root = tmp_path_factory.mktemp("bad-options")
    run_dir = root / "run"  # a training run `nerkit plot` can read
    run_dir.mkdir()
    rows = [{"event": "step", "step": 1, "loss": 2.0}, {"event": "eval", "step": 1, "f1": 0.1}]
    (run_dir / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    binary = root / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage\x81")
    locked = root / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.access(locked, os.W_OK):  # root may write anywhere but in /sys
        locked = Path("/sys") if Path("/sys").is_dir() and not _writable(Path("/sys")) else None
    return {
        "root": root,
        "model": tiny_model_dir,
        "run": run_dir,
        "file": ROOT / "README.md",
        "binary": binary,
        "locked": locked,
    }


def _writable(folder: Path) -> bool:
    try:
        (folder / ".nerkit-probe").touch()
    except OSError:
        return False
    (folder / ".nerkit-probe").unlink()
    return True


# What each command is given when its parameters are not the one under test: a valid call.
def _valid(p: dict) -> Dict[str, Dict[str, str]]:
    dev, out = str(CORPUS / "dev.json"), p["root"]
    return {
        "train": {"config": str(QUICKSTART)},
        "evaluate": {"model": p["model"], "data": dev, "output": out / "m.json", "device": "cpu"},
        "predict": {"model": p["model"], "input": dev, "output": out / "p.json", "device": "cpu"},
        "serve": {"model": p["model"], "port": "8080", "device": "cpu"},
        "convert": {"input": dev, "output": out / "c.conll"},
        "export": {"model": p["model"], "output": out / "onnx"},
        "score": {"gold": dev, "pred": dev},
        "registry": {},
        "visualize": {"source": p["model"], "input": dev, "output": out / "v.html"},
        "plot": {"runs": p["run"], "output": out / "t.png"},
        "info": {},
        "debug config": {"config": str(QUICKSTART)},
        "debug data": {"config": str(QUICKSTART)},
        "debug vectors": {"config": str(QUICKSTART)},
        "pretrain": {"config": str(PRETRAIN), "output": out / "pt"},
        "vectors": {"config": str(PRETRAIN), "output": out / "v.txt"},
        "sweep": {
            "config": str(ROOT / "configs" / "sweeps" / "quickstart.cfg"),
            "output": out / "sw",
        },
        "ensemble": {"models": [p["model"], p["model"]], "output": out / "ens"},
    }


FOLDERS = {"model", "runs", "resume", ("export", "output"), ("visualize", "source")}
OUTPUTS = {"output"}
# Owned elsewhere: train --output (an existing file or run) is issue 27's.
# Folder outputs of pretrain and sweep: an existing folder is a valid output (the run goes in it).
SKIP = {("train", "output"), ("pretrain", "output"), ("sweep", "output")}


def _bad_values(command: str, param, p: dict) -> List[str]:
    name, kind = param.name, str(param.bare_type())  # the annotation's name: "int", "Path"
    kind = re.sub(r"^[Ll]ist\[(.*)\]$", r"\1", kind)  # List[Path]: bad values of one Path
    if kind == "bool":
        return []
    if kind == "int":
        return ["-5", "abc", "1.5"] + (["99999", "0"] if name == "port" else [])
    if kind == "float":
        return ["-1", "nan", "inf", "1e9"]
    if kind == "str":
        if param.multiple or param.nargs == -1:
            return ["novalue", "nosuch=1"]
        return ["nonsense value"]
    assert kind == "Path", f"{command} {name}: no bad values for {kind}; add them here"
    missing = str(p["root"] / "no-such" / "thing.json")
    folder = name in FOLDERS or (command, name) in FOLDERS
    if name in OUTPUTS or (command == "convert" and name == "output"):
        under_file = str(p["file"] / "x.json")
        bad = [under_file]
        if folder:
            bad.append(str(p["file"]))
        elif command not in ("predict", "convert"):  # for them a folder is a brat corpus
            bad.append(str(p["root"]))
        if p["locked"] is not None:
            bad.append(str(p["locked"] / "x.json"))
        return bad
    if folder:
        return [missing, str(p["file"])]
    if command == "visualize" and name == "source":
        return [missing]
    return [missing, str(p["root"]), str(p["binary"])]


def _argv(cmd, values: Dict[str, str], extra: List[str]) -> List[str]:
    """The command line of ``values`` (arguments in order, then options)."""
    args, opts = [], []
    for param in cmd.params:
        if param.name not in values:
            continue
        if param.param_type_name == "argument":
            value = values[param.name]  # a list: an argument that takes several (ensemble MODEL...)
            args += [str(v) for v in value] if isinstance(value, list) else [str(value)]
        else:
            opts += [param.opts[0], str(values[param.name])]
    return args + opts + extra


def test_every_option_of_every_command(places, monkeypatch):
    import uvicorn

    def refuse(*args, **kwargs):
        raise AssertionError("nerkit serve started a server on bad options")

    monkeypatch.setattr(uvicorn, "run", refuse)
    valid = _valid(places)
    commands = _commands()
    assert set(commands) == set(valid), "a new command: give it a valid call in _valid"
    walked = 0
    for name, cmd in commands.items():
        extra = cli_args() if name == "train" else []  # seconds, if a bad value were accepted
        for param in cmd.params:
            if (name, param.name) in SKIP:
                continue
            for bad in _bad_values(name, param, places):
                values = dict(valid[name], **{param.name: bad})
                result = run(*name.split(), *_argv(cmd, values, extra))
                shown = [bad, param.opts[0], param.name.upper(), repr(bad.partition("=")[0])]
                try:
                    assert_clean(result, *shown)
                except AssertionError as err:
                    raise AssertionError(f"nerkit {name} {param.opts[0]} {bad!r}: {err}") from None
                walked += 1
    assert walked > 100


def test_serve_port_out_of_range_and_taken(tiny_model_dir: Path, monkeypatch):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    out = assert_clean(run("serve", tiny_model_dir, "--port", "99999"), "--port")
    assert "65535" in out
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = assert_clean(run("serve", tiny_model_dir, "--port", port, "--device", "cpu"))
    assert f"--port {port}: cannot listen there" in out and "pick another --port" in out
    out = assert_clean(run("serve", tiny_model_dir, "--host", "no-such-host.invalid"), "--host")
    assert "127.0.0.1" in out


def test_outputs_that_cannot_be_written_are_refused_before_any_work(places, monkeypatch):
    import nerkit.loading

    def no_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the output was checked")

    monkeypatch.setattr(nerkit.loading, "load", no_load)
    model, dev, readme = places["model"], CORPUS / "dev.json", places["file"]
    out = assert_clean(run("evaluate", model, dev, "-o", places["root"]), "--output")
    assert f"{places['root']}: is a folder, expected a file name" in out
    assert str(places["root"] / "metrics.json") in out
    out = assert_clean(run("predict", model, dev, "-o", readme / "p.json"), "--output")
    assert f"{readme} is a file, so nothing can be created under it" in out
    out = assert_clean(run("export", model, "-o", readme), "--output")
    assert "is a file, expected a folder" in out
    if places["locked"] is not None:
        out = assert_clean(run("score", dev, dev, "-o", places["locked"] / "m.json"), "--output")
        assert f"can't write in {places['locked']}" in out
    # a new folder on the way is fine: it is created
    result = run("score", dev, dev, "-o", places["root"] / "new" / "deeper" / "m.json")
    assert result.exit_code == 0, result.output
    assert json.loads((places["root"] / "new" / "deeper" / "m.json").read_text())["f1"] == 1.0


def test_huge_numbers_work(tiny_model_dir: Path, tmp_path: Path):
    """Larger than any machine's memory is not an error for a batch or chunk size: it is all
    records at once (--chunk-size 10**23 was a ValueError inside itertools.islice)."""
    import nerkit

    texts = [r["text"] for r in json.loads((CORPUS / "dev.json").read_text("utf8"))[:5]]
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), "utf8")
    huge = str(10**23)
    result = run("predict", tiny_model_dir, src, "-o", out, "--device", "cpu", "--chunk-size", huge,
                 "--batch-size", huge, "--max-tokens", huge)  # fmt: skip
    assert result.exit_code == 0, result.output
    nlp = nerkit.load(tiny_model_dir, device="cpu")
    got = [[(e["start_idx"], e["end_idx"], e["type"]) for e in json.loads(line)["entities"]]
           for line in out.read_text("utf8").splitlines()]  # fmt: skip
    assert got == [[(s.start, s.end, s.type) for s in spans] for spans in nlp.pipe(texts)]
