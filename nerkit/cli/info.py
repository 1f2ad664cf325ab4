"""`nerkit info`: what is installed here, and what a model directory holds."""

from __future__ import annotations

import importlib.metadata
import json
import platform
import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import ModelLoadError
from ..registry import KINDS, broken_plugins, get_all
from .common import friendly

PACKAGES = (
    "torch",
    "transformers",
    "tokenizers",
    "safetensors",
    "confection",
    "catalogue",
    "pydantic",
    "spacy-pkuseg",
)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def installation_info() -> str:
    """nerkit's version, Python, key packages, devices and registered plugins."""
    import torch

    from ..about import __version__

    cuda = (
        f"yes, {torch.cuda.device_count()} device(s): "
        + ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        if torch.cuda.is_available()
        else "no"
    )
    lines = [
        f"nerkit        {__version__} ({Path(__file__).resolve().parents[1]})",
        f"python        {platform.python_version()} ({sys.executable})",
        f"platform      {platform.platform()}",
    ]
    lines += [f"{name:<14}{_version(name)}" for name in PACKAGES]
    lines.append(
        f"CUDA          {cuda} (torch built for CUDA {torch.version.cuda or 'none: CPU-only build'})"
    )
    lines.append(f"MPS           {'yes' if torch.backends.mps.is_available() else 'no'}")
    plugins: List[str] = []
    for kind in KINDS:
        for name, func in get_all(kind).items():
            top = func.__module__.split(".")[0]
            if top != "nerkit":
                plugins.append(f"{kind}:{name} ({top})")
    lines.append(f"plugins       {', '.join(plugins) if plugins else 'none'}")
    lines += [
        f"BROKEN plugin {b.kind}:{b.name} ({b.package}): {b.describe()}" for b in broken_plugins()
    ]
    return "\n".join(lines)


def model_info(path: Path) -> str:
    """Labels, scores, training step and components from a model directory's meta.json."""
    meta_file = Path(path) / "meta.json"
    if not meta_file.is_file():
        raise ModelLoadError(
            f"{path} has no meta.json: pass a model directory written by `nerkit train`."
        )
    try:
        meta = json.loads(meta_file.read_text(encoding="utf8"))
    except json.JSONDecodeError as err:
        raise ModelLoadError(f"{meta_file} is not valid JSON ({err}).") from None
    lines = [f"\nmodel         {path}", f"trained with  nerkit {meta.get('nerkit_version', '?')}"]
    lines.append(f"labels        {', '.join(meta.get('labels', []))} ({meta.get('scheme', '?')})")
    scores = meta.get("scores")
    if scores:
        lines.append(
            "dev scores    "
            + ", ".join(f"{k} {100 * float(v):.2f}%" for k, v in scores.items())
            + f" (step {meta.get('step', '?')})"
        )
    for key, provider in sorted(meta.get("components", {}).items()):
        lines.append(f"component     {key} ({provider})")
    return "\n".join(lines)


@friendly
def info(
    model: Optional[Path] = typer.Argument(
        None, help="A model directory: also print its labels, scores and components."
    ),
) -> None:
    """Versions, devices and plugins of this installation (and a model directory's facts)."""
    typer.echo(installation_info())
    if model is not None:
        typer.echo(model_info(model))
