"""tests/shared_guard.py: a test that reads ../shared without saying so fails."""

from __future__ import annotations

import re

from .conftest import ROOT

TESTS = ROOT / "tests"


def test_guard_fails_unmarked_tests_that_read_the_shared_folder(pytester, tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    (shared / "data").mkdir(parents=True)
    data = shared / "data" / "x.txt"
    data.write_text("x", encoding="utf8")
    pytester.makeconftest(
        f"""
import pytest

@pytest.fixture
def shared_data():
    return {str(shared)!r}
"""
    )
    pytester.makepyfile(
        test_reads=f"""
import os, subprocess, sys
import pytest

DATA = {str(data)!r}

@pytest.fixture
def loaded():
    return open(DATA).read()

def test_unmarked_open():
    assert open(DATA).read() == "x"

def test_unmarked_listdir():
    assert os.listdir({str(shared / "data")!r}) == ["x.txt"]

def test_unmarked_subprocess():
    subprocess.run([sys.executable, "-c", "pass", DATA], check=True)

def test_unmarked_fixture(loaded):
    assert loaded == "x"

@pytest.mark.shared
def test_marked(loaded):
    assert open(DATA).read() == "x"

def test_requests_shared_data(shared_data):
    assert open(os.path.join(shared_data, "data", "x.txt")).read() == "x"

def test_elsewhere(tmp_path):
    (tmp_path / "a").write_text("a")
    assert open(tmp_path / "a").read() == "a"
"""
    )
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    result = pytester.runpytest_subprocess(
        "-p", "tests.shared_guard", "--shared-root", str(shared), "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=3, failed=4)
    out = result.stdout.str()
    failed = sorted(re.findall(r"FAILED test_reads.py::(\w+)", out))
    assert failed == [
        "test_unmarked_fixture",
        "test_unmarked_listdir",
        "test_unmarked_open",
        "test_unmarked_subprocess",
    ]
    assert "without the 'shared' marker" in out and "needs_shared" in out


def test_only_conftest_names_the_shared_folder():
    """Paths into ../shared come from conftest (SHARED, needs_shared, shared_data), so the guard's
    convention holds by construction; a test building its own path would bypass it."""
    pattern = re.compile(r"""["'/]shared["'/]|parents\[1\]\.parent""")
    offenders = [
        f"{path.name}:{number}"
        for path in sorted(TESTS.glob("*.py"))
        if path.name not in {"conftest.py", "shared_guard.py", "test_shared_guard.py"}
        for number, line in enumerate(path.read_text(encoding="utf8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders, f"build ../shared paths with conftest.needs_shared: {offenders}"
