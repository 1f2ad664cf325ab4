"""A pytest plugin: a test that reads ``../shared`` must say so, so that a fresh clone skips it.

A user's clone has no ``../shared`` (the project's data folder: CMeEE files, the real BERT
vocabulary). A test that reads it must carry the ``shared`` marker (``@pytest.mark.shared``,
or request the ``shared_data`` fixture, which adds the marker) and skip when the file is
absent (``needs_shared`` in conftest). This plugin makes the first half checkable: an audit
hook sees every file a test opens or lists in this process, and every command line it starts,
and fails an unmarked test that touches ``../shared``. ``.ci/run`` checks the second half by
running the marked tests once more in a copy of the repository with no ``../shared`` beside it.

``--shared-root DIR`` changes the guarded folder (default: ``shared`` beside the repository);
tests/test_shared_guard.py uses it to check the plugin itself.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import pytest

DEFAULT_ROOT = Path(__file__).resolve().parents[1].parent / "shared"
MARKER = "shared"

_root: Optional[str] = None  # the guarded folder, as an absolute path string ending in os.sep
_current: Optional[pytest.Item] = None  # the unmarked test that runs now (None: nothing to guard)
_touched: List[str] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--shared-root",
        default=str(DEFAULT_ROOT),
        help="folder that only tests marked 'shared' may read (default: ../shared)",
    )


def pytest_configure(config: pytest.Config) -> None:
    global _root
    config.addinivalue_line(
        "markers", f"{MARKER}: reads ../shared (skips where it is absent, as in a fresh clone)"
    )
    _root = os.path.join(os.path.realpath(config.getoption("--shared-root")), "")
    sys.addaudithook(_audit)


def _hits(value: object) -> bool:
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value:
        return False
    if (
        _root in value or _root.rstrip(os.sep) == value
    ):  # absolute paths, also inside a command line
        return True
    return os.path.join(os.path.realpath(value), "").startswith(_root)


def _audit(event: str, args: tuple) -> None:
    if _current is None or event not in ("open", "os.listdir", "os.scandir", "subprocess.Popen"):
        return
    try:
        if event == "subprocess.Popen":  # (executable, args, cwd, env)
            command = args[1] if isinstance(args[1], (list, tuple)) else [args[1]]
            values = [args[0], args[2], *command]
        else:
            values = [args[0]]
        _touched.extend(f"{event} {value}" for value in values if _hits(value))
    except Exception:  # an audit hook must never break the code it watches
        pass


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(MARKER)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Optional[pytest.Item]):
    global _current
    _current = None if item.get_closest_marker(MARKER) else item
    _touched.clear()
    try:
        yield
    finally:
        _current = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if _touched and item is _current and report.when == "call" and not report.failed:
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} reads {_root} without the '{MARKER}' marker: "
            + "; ".join(sorted(set(_touched))[:5])
            + ". A fresh clone has no ../shared: mark the test @pytest.mark.shared (or request the "
            "shared_data fixture) and get the file through conftest.needs_shared(...), which skips "
            "when it is absent."
        )
