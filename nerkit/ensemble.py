"""Ensembles: several trained models with the same labels as one model directory.

``nerkit ensemble MODEL... --output DIR`` writes::

    DIR/meta.json      backend "ensemble", method, min_votes, labels, and per member its
                       source, config (config.cfg's text) and metrics (its meta.json)
    DIR/config.cfg     the first member's config (its reader reads data files)
    DIR/members/00/    each member's model directory, copied (training state left out)

``nerkit.load(DIR)`` (:mod:`nerkit.loading`) returns an :class:`EnsemblePipeline`, a
Pipeline whose ``_predict`` combines its members', so ``pipe``, ``evaluate``, ``predict``,
``serve`` and ``visualize`` take it like any model. Loading writes nothing and unpickles
nothing (each member loads as a model directory does).

Methods: ``vote``, span-level voting for any mix of decoders: an entity (start, end, label)
is kept when at least ``min_votes`` members predict it (default: a majority); its score
is the members' mean confidence, a member that did not predict it counting 0. ``average``:
members of one architecture (same decoder, labels, tag sets, encoder vocabulary, windows
and lexicon; e.g. the seeds of one config) run on the same batches, their decoders'
``score_tensor`` outputs are averaged and decoded by the first member's decoder (a CRF
decodes the mean emissions with the first member's transitions).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from .errors import ConfigError, ModelLoadError
from .models.prediction import predict_spans
from .pipeline import Pipeline
from .spans import SpanArrays
from .types import Example

BACKEND = "ensemble"
METHODS = ("vote", "average")
MEMBERS = "members"
MODEL_FILES = ("config.cfg", "meta.json")


def vote(parts: Sequence[SpanArrays], labels: Sequence[str], min_votes: int) -> SpanArrays:
    """Entities predicted by at least ``min_votes`` of the parts (each one model's
    de-duplicated predictions over the same sequences); score = sum of scores / len(parts)."""
    labels = tuple(labels)
    index = {name: i for i, name in enumerate(labels)}
    size = parts[0].size
    rows = []
    for part in parts:
        if part.size != size:
            raise ValueError("vote: the parts cover different numbers of sequences.")
        remap = np.asarray([index[name] for name in part.labels], dtype=np.int64)
        label = remap[part.label] if len(part) else part.label
        rows.append(np.stack([part.seq, part.start, part.end, label], axis=1))
    stacked = np.concatenate(rows) if rows else np.zeros((0, 4), dtype=np.int64)
    if len(stacked) == 0:
        return SpanArrays.empty(size, labels)
    scores = np.concatenate([part.score for part in parts])
    keys, inverse = np.unique(stacked, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    votes = np.bincount(inverse, minlength=len(keys))
    total = np.bincount(inverse, weights=scores, minlength=len(keys))
    kept = votes >= min_votes
    keys, mean = keys[kept], total[kept] / len(parts)
    return SpanArrays.build(size, keys[:, 0], keys[:, 1], keys[:, 2], keys[:, 3], mean, labels)


class EnsemblePipeline(Pipeline):
    """Members' predictions combined by voting or by averaging their decoders' scores."""

    backend = BACKEND

    def __init__(
        self,
        members: Sequence[Pipeline],
        method: str,
        min_votes: int,
        path: Optional[Path] = None,
    ) -> None:
        super().__init__(members[0].model, members[0].config, path)
        self.members = list(members)
        self.method = method
        self.min_votes = min_votes
        self._labels = tuple(members[0].labels)

    @property
    def labels(self):
        return self._labels

    def weights_origin(self) -> Dict[str, Any]:
        """What each member's encoder weights started from (``/v1/model`` reports it)."""
        return {"members": [member.weights_origin() for member in self.members]}

    def __repr__(self) -> str:
        return (
            f"<nerkit.EnsemblePipeline {self.path or '(not saved)'}: {len(self.members)} models, "
            f"{self.method}"
            + (f" (at least {self.min_votes} votes)" if self.method == "vote" else "")
            + f", labels={list(self.labels)}>"
        )

    def _predict(
        self, examples: Sequence[Example], batch_size: int, max_tokens: Optional[int], progress=None
    ) -> SpanArrays:
        if self.method == "average":
            return self._average(examples, batch_size, max_tokens, progress)
        parts = [
            member._predict(examples, batch_size, max_tokens, progress if i == 0 else None)
            for i, member in enumerate(self.members)
        ]
        return vote(parts, self.labels, self.min_votes)

    @torch.no_grad()
    def _average(
        self, examples: Sequence[Example], batch_size: int, max_tokens: Optional[int], progress
    ) -> SpanArrays:
        models = [member.model for member in self.members]
        first = models[0]

        def decode_batch(batch) -> SpanArrays:
            scores = [m.decoder.score_tensor(m(batch.to(m.device)), batch.char_mask.to(m.device)) for m in models]  # fmt: skip
            mean = torch.stack([s.float().to(first.device) for s in scores]).mean(0)
            return first.decoder.spans_from_scores(mean, batch.char_mask.to(first.device))

        return predict_spans(
            first,
            examples,
            batch_size=batch_size,
            progress=progress,
            max_tokens=max_tokens,
            decode_batch=decode_batch,
        )


# ----------------------------------------------------------------------------- directories


def is_ensemble_dir(path: Path) -> bool:
    meta = Path(path) / "meta.json"
    if not (Path(path) / MEMBERS).is_dir() or not meta.exists():
        return False
    try:
        return json.loads(meta.read_text(encoding="utf8")).get("backend") == BACKEND
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


def _read_meta(path: Path) -> Dict[str, Any]:
    path = Path(path)
    missing = [f for f in MODEL_FILES if not (path / f).exists()]
    if not path.is_dir() or missing:
        raise ModelLoadError(
            f"{path} is not a model directory"
            + (f" (missing {', '.join(missing)})" if path.is_dir() else " (no such directory)")
            + ". Pass directories written by `nerkit train` (e.g. runs/q/model-best)."
        )
    try:
        return json.loads((path / "meta.json").read_text(encoding="utf8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelLoadError(f"{path / 'meta.json'} is not valid JSON ({err}).") from None


def label_differences(metas: Sequence[Dict[str, Any]], names: Sequence[str]) -> List[str]:
    """How each model's labels differ from the first's (empty when all are the same set)."""
    first = set(metas[0].get("labels", []))
    out = []
    for meta, name in zip(metas[1:], names[1:], strict=True):
        labels = set(meta.get("labels", []))
        if labels != first:
            extra, missing = sorted(labels - first), sorted(first - labels)
            parts = ([f"has {', '.join(extra)}"] if extra else []) + (
                [f"lacks {', '.join(missing)}"] if missing else []
            )
            out.append(f"{name} {' and '.join(parts)} (compared with {names[0]})")
    return out


def _asset_digest(path: Path) -> str:
    """What featurises text (tokenizer, lexicon files), weights left out."""
    digest = hashlib.sha256()
    for sub in ("encoder", "lexicon"):
        for file in sorted((path / sub).rglob("*")):
            if file.is_file() and file.suffix != ".safetensors" and file.name != "config.json":
                digest.update(str(file.relative_to(path)).encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()


def average_problem(paths: Sequence[Path], metas: Sequence[Dict[str, Any]]) -> Optional[str]:
    """Why the models' decoder scores cannot be averaged (None if they can)."""
    from confection import Config

    def model_section(path: Path) -> Dict[str, Any]:
        cfg = Config().from_disk(path / "config.cfg", interpolate=False)
        return json.loads(json.dumps(dict(cfg).get("model", {}), default=str))

    first = model_section(paths[0])
    for path, meta in zip(paths[1:], metas[1:], strict=True):
        if meta.get("backend", "torch") != "torch" or metas[0].get("backend", "torch") != "torch":
            return f"{path} is not a PyTorch model directory (averaging runs the members' networks)"
        other = model_section(path)
        dec_a, dec_b = first.get("decoder", {}), other.get("decoder", {})
        if dec_a.get("@decoders") != dec_b.get("@decoders"):
            return (
                f"{paths[0]} decodes with {dec_a.get('@decoders')} but {path} with "
                f"{dec_b.get('@decoders')}; averaging needs one decoder kind (use --method vote)"
            )
        if meta.get("tags") != metas[0].get("tags") or meta.get("labels") != metas[0].get("labels"):
            return f"{path} has other tags or label order than {paths[0]} (use --method vote)"
        same = {k: v for k, v in first.items() if k not in ("decoder", "fusion")}
        if same != {k: v for k, v in other.items() if k not in ("decoder", "fusion")}:
            return (
                f"{path} reads text differently from {paths[0]} (its [model] encoder, lexicon or "
                "window settings differ), so the members cannot share batches (use --method vote)"
            )
        if _asset_digest(path) != _asset_digest(paths[0]):
            return f"{path} has another tokenizer or word list than {paths[0]} (use --method vote)"
    return None


def write_ensemble(
    models: Sequence[Union[str, Path]],
    output: Union[str, Path],
    method: str = "vote",
    min_votes: Optional[int] = None,
) -> Dict[str, Any]:
    """Copy ``models`` into the new model directory ``output`` as one ensemble; its meta."""
    from .about import __version__
    from .util import atomic_dir

    paths = [Path(m) for m in models]
    output = Path(output)
    if len(paths) < 2:
        raise ConfigError(f"nerkit ensemble needs at least two models, got {len(paths)}.")
    if method not in METHODS:
        raise ConfigError(f"--method: expected one of {', '.join(METHODS)}, got {method!r}.")
    if output.exists() and any(output.iterdir()):
        raise ConfigError(f"--output {output} exists and is not empty; pick a new folder.")
    metas = [_read_meta(p) for p in paths]
    nested = [str(p) for p, m in zip(paths, metas, strict=True) if m.get("backend") == BACKEND]
    if nested:
        raise ConfigError(f"{', '.join(nested)} is an ensemble already; pass its members instead.")
    differences = label_differences(metas, [str(p) for p in paths])
    if differences:
        raise ConfigError(
            "The models have different labels, so their entities can't be combined: "
            + "; ".join(differences)
            + ". Ensemble models trained on the same label set."
        )
    n = len(paths)
    if min_votes is None:
        min_votes = n // 2 + 1
    if method == "vote" and not 1 <= min_votes <= n:
        raise ConfigError(f"--min-votes: must be between 1 and {n} (the models), got {min_votes}.")
    if method == "average":
        problem = average_problem(paths, metas)
        if problem:
            raise ConfigError(f"--method average: {problem}.")
    members = []
    with atomic_dir(output) as tmp:
        for i, (path, meta) in enumerate(zip(paths, metas, strict=True)):
            name = f"{MEMBERS}/{i:02d}"
            shutil.copytree(path, tmp / name, ignore=shutil.ignore_patterns("training_state"))
            members.append(
                {
                    "path": name,
                    "source": str(path.resolve()),
                    "config": (path / "config.cfg").read_text(encoding="utf8"),
                    "meta": meta,
                }
            )
        shutil.copy(paths[0] / "config.cfg", tmp / "config.cfg")
        info = {
            "format": metas[0].get("format", 2),
            "backend": BACKEND,
            "nerkit_version": __version__,
            "method": method,
            "min_votes": min_votes if method == "vote" else None,
            "labels": list(metas[0]["labels"]),
            "members": members,
        }
        (tmp / "meta.json").write_text(
            json.dumps(info, ensure_ascii=False, indent=2), encoding="utf8"
        )
    return info


def load_ensemble(
    path: Path, device: str, load_member: Callable[[Path, str], Pipeline]
) -> EnsemblePipeline:
    """The pipeline of an ensemble directory; ``load_member`` opens each member directory."""
    path = Path(path)
    meta = _read_meta(path)
    method, members = meta.get("method"), meta.get("members") or []
    if method not in METHODS or len(members) < 2:
        raise ModelLoadError(
            f"{path / 'meta.json'}: not a complete ensemble (method {method!r}, "
            f"{len(members)} members). Write it again with nerkit ensemble."
        )
    pipes = [load_member(path / m["path"], device) for m in members]
    for m, pipe in zip(members, pipes, strict=True):
        if set(pipe.labels) != set(meta["labels"]):
            raise ModelLoadError(
                f"{path / m['path']}: its labels {list(pipe.labels)} are not the ensemble's "
                f"{meta['labels']}; the directory was changed after nerkit ensemble wrote it."
            )
    return EnsemblePipeline(pipes, method, meta.get("min_votes") or 0, path)
