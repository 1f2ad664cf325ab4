"""Model directories: write and read a trained model without the training data.

A model directory (format 2) holds::

    config.cfg          the full filled config: [model] is the architecture, the
                        resources used to initialise it are in [initialize] / [paths]
    meta.json           format, versions, labels, tag sets, scores, which
                        package provides each component, and the files the
                        components declare (``files``: source and folder of its copy)
    model.safetensors   every weight (encoder, fusion, decoder, word vectors)
    encoder/            the encoder's ``to_disk`` (tokenizer files, config.json)
    lexicon/            the lexicon's ``to_disk`` (words.json, vectors.safetensors),
      segmenter/        and its segmenter's (the pkuseg model copy), if any

Saving calls ``model.to_disk(dir)``, which calls ``to_disk`` on each component with
assets; loading resolves ``[model]`` alone (no ``[initialize]`` resource is touched),
calls ``from_disk`` on the same components, loads the weights and writes nothing.
Nothing here names a component's arguments. Nothing is unpickled on load.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import time
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import torch
from confection import Config
from safetensors import SafetensorError
from safetensors.torch import load_model as st_load_model
from safetensors.torch import save_model as st_save_model

from ..about import __version__
from ..assets import declared_files
from ..config import as_dict, check_config, interpolated, resolve_section
from ..errors import ConfigError, ModelLoadError, NerkitError, UnknownComponentError
from ..registrations import populate
from ..registry import KINDS, registry
from ..util import file_mode
from .base import TagScheme
from .ner_model import NERModel

REQUIRED_FILES = ("config.cfg", "model.safetensors", "meta.json")
FORMAT = 2  # meta.json "format"; format 1 (nerkit 0.1.0, no "format" key) edited the config on load


def save_model(
    model: NERModel, path: Path, config: Config, meta: Optional[Dict[str, Any]] = None
) -> None:
    """Write ``model`` into the (empty or new) directory ``path``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    cfg = interpolated(config)
    cfg.to_disk(path / "config.cfg")
    st_save_model(model, str(path / "model.safetensors"))
    model.to_disk(path)
    scheme = model.decoder.scheme
    info = {
        "format": FORMAT,
        "nerkit_version": __version__,
        "labels": list(scheme.labels),
        "scheme": type(scheme).__name__,
        "components": component_packages(as_dict(cfg)),
        "files": bundled_files(model, path, as_dict(cfg), as_dict(config)),
    }
    if isinstance(scheme, TagScheme):
        info["tags"] = [scheme.layer_tags(i) for i in range(scheme.num_layers)]
    info.update(meta or {})
    (path / "meta.json").write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf8")
    for weights in path.rglob("*.safetensors"):  # safetensors writes them 0600
        os.chmod(weights, file_mode())


def bundled_files(
    model: NERModel, path: Path, data: Dict[str, Any], raw: Dict[str, Any]
) -> Dict[str, Dict[str, Optional[str]]]:
    """meta.json's ``files``: each file argument a component declares
    (:func:`nerkit.registry.file_args`, built-ins and plugins alike) that the config sets,
    ``{"initialize.model.encoder.name_or_path": {"source": VALUE, "copy": "encoder"}}``.

    ``copy`` is the folder of the model directory ``path`` (saved already) where the
    component's ``to_disk`` put what it read: its own block's folder, else the nearest
    enclosing asset component's (Word2Vec's vectors are in ``lexicon``); None where no
    asset component holds the component or its folder is empty (what it read is in the
    weights, or a loaded model reads the source again). ``data``: the config interpolated;
    ``raw``: as written."""
    owners = model.asset_components()
    found: Dict[str, Dict[str, Optional[str]]] = {}
    for item in declared_files(data, raw, ("model",)):
        parts = item.block.split(".")[1:]  # "model.lexicon.segmenter" -> lexicon, segmenter
        folders = (
            [parts[:n] for n in range(len(parts), 0, -1)]
            if parts[:1] and parts[0] in owners
            else []
        )
        copy = next(("/".join(f) for f in folders if _wrote(path.joinpath(*f))), None)
        found[item.where] = {"source": item.value, "copy": copy}
    return found


def _wrote(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


def load_model(
    path: Union[str, Path], device: Union[str, torch.device] = "cpu"
) -> Tuple[NERModel, Config]:
    """Rebuild a model from its directory; no training data or downloads needed.

    Read-only: nothing is written, renamed or deleted, here or in the parent. If a
    trainer replaces the directory while it is being read (``atomic_dir`` swaps in a
    new directory), the read is retried, so a model read during a save is the old or
    the new checkpoint, never a mix of both. Interrupted saves are recovered by the
    writer (training start and ``--resume``), not here.
    """
    path = Path(path)
    for attempt in range(_SWAP_RETRIES + 1):
        before = _dir_identity(path)
        try:
            result = _load_model_once(path, device)
        except (NerkitError, OSError):
            if attempt < _SWAP_RETRIES and _save_in_progress(path, before):
                time.sleep(_SWAP_WAIT)
                continue
            raise
        if before is not None and _dir_identity(path) == before:
            return result
        time.sleep(_SWAP_WAIT)  # swapped while reading: read the new one
    raise ModelLoadError(
        f"{path} was replaced {_SWAP_RETRIES} times while being read (a training run saving "
        "it?). Load it again when the run has finished, or copy it first."
    )


_SWAP_RETRIES = 50
_SWAP_WAIT = 0.05  # seconds


def _dir_identity(path: Path) -> Optional[Tuple[int, int, int]]:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_ctime_ns)


def _save_in_progress(path: Path, before: Optional[Tuple[int, int, int]]) -> bool:
    """True if ``path`` appeared, vanished or was replaced while being read, or a
    writer's temporary siblings (``atomic_dir``) exist next to it."""
    if _dir_identity(path) != before:
        return True
    return any(path.parent.glob(f".tmp-{path.name}-*")) or any(
        path.parent.glob(f".old-{path.name}-*")
    )


def _load_model_once(path: Path, device: Union[str, torch.device]) -> Tuple[NERModel, Config]:
    cfg, _ = read_model_dir(path)
    model = build_model(path, cfg)
    try:
        st_load_model(model, str(path / "model.safetensors"), strict=True)
    except SafetensorError as err:
        raise ModelLoadError(
            f"{path / 'model.safetensors'} can't be read ({type(err).__name__}: {err}): the file is "
            f"truncated or damaged, e.g. by an interrupted copy or a full disk. {RECOPY}"
        ) from None
    except RuntimeError as err:
        raise ModelLoadError(
            f"{path / 'model.safetensors'} does not match the model built from its config.cfg: {err}"
        ) from None
    model.to(device)
    model.eval()
    return model, cfg


RECOPY = (
    "Copy the complete model directory again (model-best/ or model-last/ of the training run), "
    "or train the model again."
)


def read_model_dir(
    path: Path,
    required: Tuple[str, ...] = REQUIRED_FILES,
    kind: str = "nerkit",
    backend: str = "torch",
) -> Tuple[Config, Dict[str, Any]]:
    """The config and meta.json of a model directory (PyTorch, or ``kind`` "ONNX" with its
    own ``required`` files and meta.json ``backend``), checked: the files are there and
    readable, the format is this nerkit's, every component is registered here and the
    config is valid. Reads only."""
    if not path.is_dir():
        raise ModelLoadError(
            f"Model directory not found: {path}. Pass a directory written by `nerkit train` "
            "(e.g. runs/q/model-best)."
        )
    missing = [f for f in required if not (path / f).exists()]
    if missing:
        writer = _backend_of(path)
        if writer not in (None, backend):  # another backend's directory, not a broken one
            raise ModelLoadError(
                f"{path} is a model directory of backend {writer!r} (its meta.json says so), "
                f"not a {kind} model directory: it has no {', '.join(missing)}. Load it with "
                "nerkit.load (which picks the backend), or pass the directory it was made from."
            )
        raise ModelLoadError(
            f"{path} is not a complete {kind} model directory: missing {', '.join(missing)}."
        )
    try:
        meta = json.loads((path / "meta.json").read_text(encoding="utf8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelLoadError(
            f"{path / 'meta.json'} is not valid JSON ({err}): the file is damaged. {RECOPY}"
        ) from None
    _check_format(path, meta)
    try:
        cfg = Config().from_disk(path / "config.cfg", interpolate=False)
    except Exception as err:  # configparser / confection parse errors
        raise ModelLoadError(
            f"{path / 'config.cfg'} can't be read ({err}): the file is damaged. {RECOPY}"
        ) from None
    _check_components(as_dict(cfg), meta.get("components", {}))
    check_config(cfg, initialize=False)
    return cfg, meta


def _backend_of(path: Path) -> Optional[str]:
    """The ``backend`` a readable meta.json of ``path`` names (``onnx``, ``ensemble``; PyTorch
    directories name none), else None."""
    try:
        meta = json.loads((path / "meta.json").read_text(encoding="utf8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    backend = meta.get("backend") if isinstance(meta, dict) else None
    return backend if isinstance(backend, str) else None


def build_model(path: Path, cfg: Config) -> NERModel:
    """The model of ``[model]`` alone (no ``[initialize]`` resource), its components'
    assets restored from the directory (``from_disk``); weights are loaded by the caller."""
    try:
        model: NERModel = resolve_section(cfg, "model", initialize=False)
        return model.from_disk(path)  # each component's assets (encoder/, lexicon/, ...)
    except ModelLoadError as err:
        reason = getattr(err, "reason", str(err))
        raise ModelLoadError(f"Can't rebuild the model of {path} ({reason}). {RECOPY}") from None


def _check_format(path: Path, meta: Dict[str, Any]) -> None:
    found = meta.get("format", 1)
    if found == FORMAT:
        return
    if found == 1:
        raise ModelLoadError(
            f"{path} is a model directory of format 1 (written by nerkit "
            f"{meta.get('nerkit_version', '0.1.0')}); this nerkit {__version__} reads format "
            f"{FORMAT}, where the init-only resources moved to [initialize]. Convert it "
            f"(read-only for the original): python -m nerkit.models.convert {path} {path}-v{FORMAT}"
        )
    raise ModelLoadError(
        f"{path}: model directory format {found!r}; this nerkit {__version__} reads format "
        f"{FORMAT}. Load it with the nerkit version that wrote it ({meta.get('nerkit_version', '?')})."
    )


def component_packages(data: Dict[str, Any]) -> Dict[str, str]:
    """Map each ``kind:name`` the config uses to the distribution that provides it."""
    populate()
    found: Dict[str, str] = {}
    dists = importlib.metadata.packages_distributions()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k.startswith("@") and k[1:] in KINDS:
                    try:
                        func = registry.get(k[1:], v)
                        top = func.__module__.split(".")[0]
                        found[f"{k[1:]}:{v}"] = (dists.get(top) or [top])[0]
                    except UnknownComponentError:
                        pass
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(data)
    return found


def _check_components(data: Dict[str, Any], providers: Dict[str, str]) -> None:
    populate()

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k.startswith("@") and k[1:] in KINDS and not registry.has(k[1:], v):
                    pkg = providers.get(f"{k[1:]}:{v}", "an unknown package")
                    raise ConfigError(
                        f"{where}.{k}: this model uses the component '{v}' ({k[1:]}), which is "
                        f"not registered here. It was provided by the package '{pkg}': "
                        f"install it (pip install {pkg}) and load the model again."
                    )
                walk(v, f"{where}.{k}" if where else k)

    walk(data, "")
