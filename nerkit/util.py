"""Small helpers shared across nerkit."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence, Union

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


# What a training run writes inside its output folder (other files there are left alone).
RUN_ENTRIES = ("model-best", "model-last", "log.jsonl")
PathLike = Union[str, Path]


def check_output_dir(
    path: PathLike,
    overwrite: bool = False,
    resume: Optional[bool] = None,
    what: str = "--output",
    entries: Optional[Sequence[str]] = RUN_ENTRIES,
) -> bool:
    """Check, before any work, that ``path`` may take a command's output folder.

    ``entries``: the names the command writes inside ``path`` (a training run's by
    default; other files there stay). ``entries=None``: the command writes the folder
    whole (an exported model), so it must be new, empty, or a model folder to replace.
    A folder that already holds such an output stops the command (an ``OutputError``
    offering the ways on) unless ``resume`` (continue it; None: the command has no
    ``--resume``) or ``overwrite``: then True is returned, and the caller removes the
    earlier output with :func:`remove_outputs` just before it writes, so an old log never
    outlives its model. A file where the folder goes, or a path that can't be created,
    is an ``OutputError`` too. ``what`` names the option in messages.
    """
    from .errors import OutputError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(
            f"{what} {path}: that is a file, but {what} names a folder to write into. Pass a "
            "folder path that does not exist yet (it is created), or an empty folder."
        )
    if not path.exists():
        check_creatable(path, what)
        return False
    present = sorted(p.name for p in path.iterdir())
    _check_writable(path, what)
    if not present or resume:
        return False
    ours = _earlier_output(path, present, entries)
    if not ours:
        if entries is not None:
            return False  # other files only: the command adds its own beside them
        raise OutputError(
            f"{what} {path}: that folder is not empty ({_listing(present)}) and holds no nerkit "
            "model, and the output is written as a whole folder. Pass a new or empty folder."
        )
    if overwrite:
        return True
    ways = []
    if resume is not None and (path / "model-last" / "training_state").is_dir():
        ways.append(f"continue it with --resume {path}")
    ways += ["pass a new folder", f"add --overwrite to replace it whole ({_listing(ours)})"]
    fix = ", or ".join([", ".join(ways[:-1]), ways[-1]])
    raise OutputError(
        f"{what} {path} already holds "
        + ("a training run" if entries == RUN_ENTRIES else "an earlier output")
        + f" ({_listing(ours)}); nothing was written. {fix[0].upper()}{fix[1:]}."
    )


def _earlier_output(path: Path, present: Sequence[str], entries: Optional[Sequence[str]]):
    """The names in ``present`` that belong to an earlier output (leftovers of interrupted
    ``atomic_dir`` saves included); for a whole-folder output, all of them when it is a model."""
    if entries is None:
        return list(present) if (path / "meta.json").is_file() else []
    return [
        n
        for n in present
        if n in entries or any(n.startswith((f".tmp-{e}-", f".old-{e}-")) for e in entries)
    ]


def remove_outputs(path: PathLike, entries: Sequence[str] = RUN_ENTRIES) -> None:
    """Remove the earlier output that :func:`check_output_dir` found (``--overwrite``): the
    ``entries`` and their interrupted-save leftovers. (A whole-folder output is replaced by
    writing the new one through :func:`atomic_dir` instead, as ``nerkit export`` does.)"""
    path = Path(path)
    if not path.is_dir():
        return
    for name in _earlier_output(path, sorted(p.name for p in path.iterdir()), entries):
        target = path / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()


def check_output_file(
    path: PathLike,
    overwrite: bool = False,
    inputs: Iterable[PathLike] = (),
    what: str = "--output",
    folder: bool = False,
    example: str = "out.json",
) -> None:
    """Check, before any work, that the output file (or brat folder: ``folder``) ``path``
    may be written: it is none of ``inputs`` (symlinks, relative paths and hard links
    included; not even with ``overwrite``), it exists only with ``overwrite``, and it is
    what :func:`check_output_path` accepts. ``-`` (stdout) always may."""
    from .errors import OutputError

    if str(path) == "-":
        return
    path = Path(path)
    for src in inputs:
        if str(src) != "-" and same_path(path, Path(src)):
            raise OutputError(
                f"{what} {path} is the input {src}: writing it would replace the input it is "
                "read from. Pass another output path."
            )
    if path.exists():
        if not overwrite:
            raise OutputError(
                f"{what} {path} already exists; nothing was written. Pass another path, or add "
                "--overwrite to replace it."
            )
        if not os.access(path, os.W_OK):
            raise OutputError(f"{what} {path}: can't write it (permission denied).")
    check_output_path(path, what, folder, example)


def check_output_path(
    path: PathLike, what: str = "--output", folder: bool = False, example: str = "out.json"
) -> None:
    """Check, before any work, that ``path`` can take an output: a folder when ``folder``,
    else a file (``example``: the file name suggested inside a folder given instead), that
    exists in a folder this process can write in, or can be created. ``-`` (stdout) always
    may. ``what`` names the option in messages."""
    from .errors import OutputError

    if str(path) == "-":
        return
    path = Path(path)
    if folder and path.is_file():
        raise OutputError(
            f"{what} {path}: is a file, expected a folder. Pass a new or existing folder."
        )
    if not folder and path.is_dir():
        raise OutputError(
            f"{what} {path}: is a folder, expected a file name, e.g. {path / example}."
        )
    if path.exists():  # written in: the folder itself, or the file's folder
        _check_writable(path if path.is_dir() else path.absolute().parent, what, path)
    else:
        check_creatable(path, what)


def same_path(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name the same file or folder."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_creatable(path: PathLike, what: str = "--output") -> None:
    """``path`` (absent) can be created: its nearest existing parent is a folder this
    process can write in; else an ``OutputError`` naming ``what``."""
    from .errors import OutputError

    path = Path(path)
    parent = path.absolute().parent
    while not parent.exists() and not parent.is_symlink():
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(
            f"{what} {path}: {parent} is a file, so nothing can be created under it. Pass a path "
            "inside a folder."
        )
    _check_writable(parent, what, path)


def _check_writable(folder: Path, what: str, path: Optional[Path] = None) -> None:
    from .errors import OutputError

    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise OutputError(
            f"{what} {path or folder}: can't write in {folder} ({err.strerror or err}). Pass a "
            "path in a folder you can write to."
        ) from None


def _listing(names: Sequence[str], n: int = 4) -> str:
    shown = ", ".join(names[:n])
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")


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
