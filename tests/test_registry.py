"""Registration has no import side effects and the registry matches its checked-in snapshot."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nerkit.errors import NerkitError, UnknownComponentError
from nerkit.registrations import BUILTINS, snapshot
from nerkit.registry import KINDS, registry

from .conftest import ROOT

SNAPSHOT = ROOT / "tests" / "fixtures" / "registry.json"
REGENERATE = "python -m nerkit.registrations > tests/fixtures/registry.json"


def snapshot_problems(expected: dict, current: dict) -> list:
    problems = []
    for kind in sorted(set(expected) | set(current)):
        old, new = expected.get(kind, {}), current.get(kind, {})
        for name in sorted(set(old) - set(new)):
            problems.append(
                f"{kind}: '{name}' is in the snapshot but not registered (nerkit/registrations.py)"
            )
        for name in sorted(set(new) - set(old)):
            problems.append(
                f"{kind}: '{name}' is registered but not in the snapshot; regenerate: {REGENERATE}"
            )
        for name in sorted(set(old) & set(new)):
            if old[name] != new[name]:
                problems.append(
                    f"{kind}: '{name}' moved from {old[name]} to {new[name]}; regenerate: {REGENERATE}"
                )
    return problems


def test_registry_matches_snapshot():
    expected = json.loads(SNAPSHOT.read_text(encoding="utf8"))
    assert sum(len(v) for v in expected.values()) >= 38
    problems = snapshot_problems(expected, snapshot())
    assert not problems, "\n".join(problems)


def test_unregistering_a_builtin_fails_the_snapshot():
    code = (
        "import json, nerkit.registrations as r\n"
        "del r.BUILTINS['decoders']['nerkit.CRFDecoder.v1']\n"
        "print(json.dumps(r.snapshot()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    problems = snapshot_problems(
        json.loads(SNAPSHOT.read_text(encoding="utf8")), json.loads(out.stdout)
    )
    assert problems == [
        "decoders: 'nerkit.CRFDecoder.v1' is in the snapshot but not registered (nerkit/registrations.py)"
    ]


def test_kinds_come_from_the_registry_class():
    assert KINDS == registry.kinds()
    assert set(BUILTINS) <= set(KINDS)
    assert "decoders" in KINDS and "populated" not in KINDS


def test_no_module_registers_on_import():
    """Components are listed in registrations.py, never with import-time decorators."""
    offenders = []
    for path in sorted((ROOT / "nerkit").rglob("*.py")):
        for i, line in enumerate(path.read_text(encoding="utf8").splitlines(), 1):
            if re.match(r"\s*@registry\.\w+\(", line):
                offenders.append(f"{path.relative_to(ROOT)}:{i}")
    assert not offenders, (
        f"register these in nerkit/registrations.py instead of a decorator: {offenders}"
    )


def test_importing_modules_registers_nothing_and_registry_imports_no_component():
    code = (
        "import catalogue, nerkit.models.decoders.linear, nerkit.training.loggers\n"
        "import nerkit.data.formats, nerkit.data.formats.brat, nerkit.data.formats.ccks\n"
        "import nerkit.data.formats.cmeee, nerkit.data.formats.conll, nerkit.data.formats.doccano\n"
        "import nerkit.data.formats.label_studio\n"
        "from nerkit.registry import registry\n"
        "assert not registry.populated\n"
        "assert not [k for k in catalogue.REGISTRY if k[0] == 'nerkit'], catalogue.REGISTRY\n"
        "assert registry.has('decoders', 'nerkit.LinearDecoder.v1')  # first lookup populates\n"
        "assert registry.populated\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    code = "import sys, nerkit.registry; print(sorted(m for m in sys.modules if m.startswith('nerkit')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.replace("'", '"')) == [
        "nerkit",
        "nerkit.about",
        "nerkit.errors",
        "nerkit.registrations",
        "nerkit.registry",
        "nerkit.types",
    ]


def test_unknown_component_is_a_nerkit_error():
    with pytest.raises(UnknownComponentError, match="Did you mean 'nerkit.CRFDecoder.v1'") as err:
        registry.get("decoders", "nerkit.CRFDecodr.v1")
    assert isinstance(err.value, NerkitError)
    with pytest.raises(UnknownComponentError, match="did you mean '@decoders'"):
        registry.get("decoder", "nerkit.CRFDecoder.v1")


def test_cli_reports_unknown_component_in_one_paragraph(tmp_path: Path):
    from .conftest import QUICKSTART

    cfg = tmp_path / "bad.cfg"
    cfg.write_text(
        f'[nerkit]\nextends = "{QUICKSTART}"\n\n[model.decoder]\n@decoders = "nerkit.CRFDecodr.v1"\n',
        encoding="utf8",
    )
    out = subprocess.run(
        [sys.executable, "-m", "nerkit", "debug", "config", str(cfg)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert (
        "nerkit.CRFDecodr.v1" in out.stderr and "Did you mean 'nerkit.CRFDecoder.v1'" in out.stderr
    )
