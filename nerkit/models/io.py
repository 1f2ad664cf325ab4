"""Model directories: write and read a trained model without the training data.

A model directory holds::

    config.cfg          the full filled config the model was trained with
    model.safetensors   every weight (encoder, fusion, decoder, word vectors)
    encoder/            the tokenizer files and the transformer's config.json
    lexicon/            the reduced lexicon (words.json + vectors.safetensors), if any
      segmenters/<i>/   a copy of each segmenter's files (the pkuseg model: msgpack, npz,
                        text word lists), used instead of the original when loading
    meta.json           labels, tag sets, scores, and which package provides each component

Nothing is unpickled on load: weights are safetensors, the rest JSON/text.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
from confection import Config
from safetensors import SafetensorError
from safetensors.torch import load_model as st_load_model
from safetensors.torch import save_model as st_save_model

from .. import __version__
from ..config import _to_dict, check_config, interpolated, resolve_section
from ..errors import ConfigError, ModelLoadError
from ..registry import KINDS, UnknownComponentError, registry
from ..util import file_mode, recover_dir
from .ner_model import NERModel

REQUIRED_FILES = ("config.cfg", "model.safetensors", "meta.json")
RECOPY = (
    "Copy the complete model directory again (model-best/ or model-last/ of the training run), "
    "or train the model again."
)
SEGMENTERS_DIR = "lexicon/segmenters"  # copies of segmenter files (the pkuseg model), one folder each
SEGMENTER_SETTINGS = "settings.json"  # the config settings that point a segmenter at its copy


def save_model(model: NERModel, path: Path, config: Config, meta: Optional[Dict[str, Any]] = None) -> None:
    """Write ``model`` into the (empty or new) directory ``path``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    cfg = interpolated(config)
    cfg.to_disk(path / "config.cfg")
    st_save_model(model, str(path / "model.safetensors"))
    model.encoder.save_assets(path / "encoder")
    if model.lexicon is not None:
        model.lexicon.to_disk(path / "lexicon")
        _save_segmenters(model.lexicon.segmenter, _to_dict(cfg), path / SEGMENTERS_DIR)
    scheme = model.decoder.scheme
    info = {
        "nerkit_version": __version__,
        "labels": list(scheme.labels),
        "scheme": type(scheme).__name__,
        "components": component_packages(_to_dict(cfg)),
    }
    if hasattr(scheme, "num_layers"):
        info["tags"] = [scheme.layer_tags(i) for i in range(scheme.num_layers)]
    info.update(meta or {})
    (path / "meta.json").write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf8")
    for weights in path.rglob("*.safetensors"):  # safetensors writes them 0600
        os.chmod(weights, file_mode())


def load_model(path: Union[str, Path], device: Union[str, torch.device] = "cpu") -> Tuple[NERModel, Config]:
    """Rebuild a model from its directory; no training data or downloads needed."""
    path = Path(path)
    cfg = model_dir_config(path)
    try:
        model: NERModel = resolve_section(cfg, "model")
    except ModelLoadError as err:
        reason = getattr(err, "reason", str(err))
        raise ModelLoadError(f"Can't rebuild the model of {path} ({reason}). {RECOPY}") from None
    if model.lexicon is not None:
        model.lexicon.from_disk(path / "lexicon")
    model.build_heads()
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


def model_dir_config(path: Path, required: Tuple[str, ...] = REQUIRED_FILES) -> Config:
    """The config of a model directory, pointed at the directory's own copies of its
    assets (tokenizer, reduced vectors, segmenter files), checked."""
    recover_dir(path)
    if not path.is_dir():
        raise ModelLoadError(
            f"Model directory not found: {path}. Pass a directory written by `nerkit train` "
            "(e.g. runs/q/model-best)."
        )
    missing = [f for f in required if not (path / f).exists()]
    if missing:
        raise ModelLoadError(
            f"{path} is not a complete nerkit model directory: missing {', '.join(missing)}."
        )
    try:
        meta = json.loads((path / "meta.json").read_text(encoding="utf8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelLoadError(f"{path / 'meta.json'} is not valid JSON ({err}): the file is damaged. {RECOPY}") from None
    try:
        cfg = Config().from_disk(path / "config.cfg", interpolate=False)
    except Exception as err:  # configparser / confection parse errors
        raise ModelLoadError(f"{path / 'config.cfg'} can't be read ({err}): the file is damaged. {RECOPY}") from None
    _check_components(_to_dict(cfg), meta.get("components", {}))
    data = _to_dict(cfg)
    enc = data["model"]["encoder"]
    if "name_or_path" in enc:
        if not (path / "encoder").is_dir():
            raise ModelLoadError(
                f"{path / 'encoder'}/ is missing: it holds the tokenizer and the transformer's config "
                f"that `nerkit train` saved with the model, and loading needs nothing else. {RECOPY}"
            )
        enc["name_or_path"] = str(path / "encoder")
        enc["pretrained"] = False
    lex = data["model"].get("lexicon")
    if isinstance(lex, dict) and "vectors" in lex:
        lex["vectors"] = None  # the reduced vectors are stored in lexicon/
    _point_at_saved_segmenters(data, path / SEGMENTERS_DIR)
    cfg = Config(data, is_interpolated=False)
    check_config(cfg)
    return cfg


def _segmenter_nodes(data: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Config blocks of the lexicon's segmenters, pre-order (a union's ``*`` blocks in order)."""
    lex = data.get("model", {}).get("lexicon")
    root = lex.get("segmenter") if isinstance(lex, dict) else None

    def walk(node: Any) -> List[Dict[str, Any]]:
        if not (isinstance(node, dict) and "@segmenters" in node):
            return []
        children = node.get("*") if isinstance(node.get("*"), dict) else {}
        return [node] + [n for child in children.values() for n in walk(child)]

    return walk(root)


def _segmenter_objects(segmenter: Any) -> List[Any]:
    """The segmenter objects in the same pre-order as ``_segmenter_nodes``."""
    return [segmenter] + [s for child in getattr(segmenter, "segmenters", None) or () for s in _segmenter_objects(child)]


def _save_segmenters(segmenter: Any, data: Dict[str, Any], dest: Path) -> None:
    """Copy the files of segmenters that have them (``to_disk``), e.g. the pkuseg
    model, into ``dest/<i>/``, so that prediction does not need the originals."""
    nodes, objects = _segmenter_nodes(data), _segmenter_objects(segmenter)
    if len(nodes) != len(objects):
        return  # a segmenter with its own nesting: the config can't be pointed at copies
    for i, seg in enumerate(objects):
        if callable(getattr(seg, "to_disk", None)):
            settings = seg.to_disk(dest / str(i))
            (dest / str(i) / SEGMENTER_SETTINGS).write_text(json.dumps(settings, indent=2), encoding="utf8")


def _point_at_saved_segmenters(data: Dict[str, Any], saved: Path) -> None:
    """Point each segmenter block that has a saved copy at it (paths in its settings file)."""
    for i, node in enumerate(_segmenter_nodes(data)):
        settings_file = saved / str(i) / SEGMENTER_SETTINGS
        if settings_file.is_file():
            settings = json.loads(settings_file.read_text(encoding="utf8"))
            for key, value in settings.items():
                node[key] = None if value is None else str((saved / str(i) / value).resolve())


def component_packages(data: Dict[str, Any]) -> Dict[str, str]:
    """Map each ``kind:name`` the config uses to the distribution that provides it."""
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
