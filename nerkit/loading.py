"""``nerkit.load``: open a model directory with the backend that wrote it.

The dispatch sits above both backends, so neither imports the other: a directory
written by ``nerkit train`` becomes a :class:`nerkit.pipeline.Pipeline` (PyTorch), one
written by ``nerkit export --format onnx`` an ``OnnxPipeline`` (ONNX Runtime, a
Pipeline subclass in :mod:`nerkit.export.runtime`, imported only when asked for), one
written by ``nerkit ensemble`` an ``EnsemblePipeline`` (:mod:`nerkit.ensemble`) of its
members, each loaded here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

from .ensemble import is_ensemble_dir, load_ensemble
from .errors import ModelLoadError
from .pipeline import Pipeline, load_torch

BACKENDS = ("auto", "torch", "onnx")


def load(path: Union[str, Path], device: str = "auto", backend: str = "auto") -> Pipeline:
    """Load a model directory written by ``nerkit train`` (PyTorch) or ``nerkit export``
    (ONNX, run by ONNX Runtime). ``backend``: "auto" (from the directory),
    "torch" or "onnx"."""
    if backend not in BACKENDS:
        raise ModelLoadError(f"backend: expected auto, torch or onnx, got {backend!r}.")
    if is_ensemble_dir(Path(path)):  # members load with ``backend``, each from its own folder
        return load_ensemble(Path(path), device, lambda p, d: load(p, device=d, backend=backend))
    if backend != "torch":
        from .export.runtime import is_onnx_dir, load_onnx

        if is_onnx_dir(Path(path)):
            return load_onnx(Path(path), device=device)
        if backend == "onnx":
            raise ModelLoadError(
                f"{path} is not an ONNX model directory (no model.onnx with meta.json backend "
                f"'onnx'). Write one with: nerkit export {path} --format onnx --output DIR"
            )
    return load_torch(path, device=device)
