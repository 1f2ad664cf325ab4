"""Small helpers shared across nerkit."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator

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


def resolve_device(name: str) -> torch.device:
    """"auto" picks CUDA when available; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        from .errors import ConfigError

        raise ConfigError(
            f"system.device: '{name}' was asked for but CUDA is not available here. "
            "Use --system.device cpu (or auto)."
        )
    return dev
