"""Small helpers shared across nerkit."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any, Iterator, Optional

import torch


def file_mode(mode: int = 0o666) -> int:
    """``mode`` less the process umask: what ``open(path, "w")`` would give a new file."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Write a directory so that ``path`` is always complete or absent.

    Yields a temporary sibling to write into. On success an existing ``path``
    is moved aside, the new directory renamed into place, and the old one
    removed; a crash at any point leaves either the old complete directory,
    the new complete one, or (between the two renames) none plus a
    ``.old-*`` sibling that ``recover_dir`` puts back.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{path.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        _fsync_tree(tmp)
        old = None
        if path.exists():
            old = path.parent / f".old-{path.name}-{uuid.uuid4().hex[:8]}"
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def recover_dir(path: Path) -> None:
    """Undo an interrupted ``atomic_dir`` swap and remove stale temporaries."""
    path = Path(path)
    if not path.parent.exists():
        return
    for tmp in path.parent.glob(f".tmp-{path.name}-*"):
        shutil.rmtree(tmp, ignore_errors=True)
    olds = sorted(path.parent.glob(f".old-{path.name}-*"))
    if not path.exists() and olds:
        os.replace(olds[-1], path)
        olds = olds[:-1]
    for old in olds:
        shutil.rmtree(old, ignore_errors=True)


def _fsync_tree(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())


# First path components that name a project's own folders, never a hub organisation.
LOCAL_ROOTS = frozenset(
    {
        "assets",
        "models",
        "model",
        "runs",
        "data",
        "projects",
        "configs",
        "checkpoints",
        "outputs",
        "output",
    }
)
HUB_ID_RE = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


def looks_local(name: str) -> bool:
    """True when ``name`` means a file or directory here, never a Hugging Face hub id.

    The rule: it exists; or it starts with ``/``, ``./``, ``../``, ``~`` or a drive
    letter; or it holds a backslash or more than one ``/``; or it is not of the
    hub's ``name`` / ``org/name`` form; or its first component is an existing
    directory, or it is (or starts with) one of the project folder names in :data:`LOCAL_ROOTS`
    (``assets``, ``assets/chinese-roberta-wwm-ext-large`` are local paths even before the
    download). Only what is left (``bert-base-chinese``, ``hfl/chinese-roberta-wwm-ext``)
    may be looked up on the hub.
    """
    if not name:
        return True
    if Path(name).expanduser().exists():
        return True
    if (
        name.startswith(("/", "./", "../", "~", ".\\", "..\\"))
        or "\\" in name
        or re.match(r"[A-Za-z]:", name)
    ):
        return True
    if not HUB_ID_RE.fullmatch(name):
        return True
    first = name.split("/", 1)[0]
    return first in LOCAL_ROOTS or ("/" in name and Path(first).is_dir())


DEVICE_RE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def device_problem(name: Any) -> Optional[str]:
    """Why ``name`` is not a device string nerkit accepts, or None."""
    if isinstance(name, str) and DEVICE_RE.fullmatch(name):
        return None
    return (
        f"{name!r} is not a device: use auto (CUDA when available, else CPU), cpu, cuda, cuda:N "
        "(the N-th GPU, from 0) or mps (Apple GPUs)"
    )


def resolve_device(name: str, setting: str = "system.device") -> torch.device:
    """ "auto" picks CUDA when available; otherwise the named device, checked to exist here.

    ``setting`` names where the value came from (``system.device``, ``--device``) in errors.
    """
    from .errors import ConfigError

    flag = setting if setting.startswith("--") else f"--{setting}"
    problem = device_problem(name)
    if problem:
        raise ConfigError(f"{setting}: {problem}. E.g. {flag} cpu.")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"{setting}: '{name}' was asked for but CUDA is not available here (no GPU, or a "
                f"CPU-only torch build). Use {flag} cpu (or auto)."
            )
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ConfigError(
                f"{setting}: '{name}' was asked for but this machine has {count} CUDA device(s), "
                f"cuda:0 to cuda:{count - 1}. Use {flag} cuda:0 (or auto)."
            )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(
            f"{setting}: 'mps' was asked for but MPS is not available here. Use {flag} cpu (or auto)."
        )
    return dev
