"""Filling a config's label set from the training corpus.

A registered component under ``[model]`` whose signature has a ``labels``
argument (the label schemes, the ``*NestedDecoder`` heads, plugins alike) and
whose block leaves it out (or sets it to null) gets the labels of the training
corpus; if it also has a ``layers`` argument left out, it gets layers that keep
the corpus's overlapping labels apart (:func:`nerkit.data.labels.nesting_layers`),
as do listed labels without ``sym`` (with ``sym`` the scheme's default, the
study's sym / other split, applies).
The filled config is what the model directory's ``config.cfg`` records, and
``meta.json`` lists the labels, so a saved model needs neither the corpus nor
the original config to load.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

from confection import Config

from ..config import as_dict
from ..data.labels import collect_labels, nesting_layers, unknown_labels
from ..errors import DataError
from ..registry import KINDS, registry
from ..types import Example

logger = logging.getLogger("nerkit")


def _blocks(node: Any, path: str):
    """(path, block) of every registered-component block under ``node``, pre-order."""
    if not isinstance(node, dict):
        return
    ref = next(((k, v) for k, v in node.items() if k.startswith("@") and k[1:] in KINDS), None)
    if ref is not None:
        yield path, node, ref
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _blocks(value, f"{path}.{key}")


def fill_labels(
    cfg: Config, train: Sequence[Example]
) -> Tuple[Config, Optional[List[str]], List[str]]:
    """``(config with labels filled in, the learned labels or None, the filled paths)``."""
    data: Dict[str, Any] = as_dict(cfg)
    learned: Optional[List[str]] = None
    filled: List[str] = []
    for path, block, (at_key, name) in _blocks(data.get("model", {}), "model"):
        params = inspect.signature(registry.get(at_key[1:], name)).parameters
        if "labels" not in params:
            continue
        given = block.get("labels")
        if given is None:
            if learned is None:
                learned = collect_labels(train)
                if not learned:
                    raise DataError(
                        f"{path}.labels: the config lists no labels, so they are learned from the "
                        "training corpus, but it has no entities. Check the training file and its "
                        "reader, or list the labels in the config."
                    )
            block["labels"] = list(learned)
            filled.append(f"{path}.labels")
        labels = block["labels"]
        # layers left out: learned, except for listed labels with "sym" (the study's sym / rest split)
        if (
            "layers" in params
            and block.get("layers") is None
            and isinstance(labels, list)
            and (given is None or "sym" not in labels)
        ):
            block["layers"] = nesting_layers(train, labels)
            filled.append(f"{path}.layers")
    return Config(data, is_interpolated=cfg.is_interpolated), learned, filled


def check_corpus_labels(
    labels: Sequence[str], train: Sequence[Example], dev: Sequence[Example], allow_unseen: bool
) -> None:
    """A DataError when the training corpus has labels the model lacks, or the dev corpus
    has labels the model is not trained on (unless ``allow_unseen``: then a warning)."""
    unknown = unknown_labels(train, labels)
    if unknown:
        raise DataError(
            f"paths.train: {sum(unknown.values())} entities have labels the model does not have "
            f"({_listing(unknown)}); the model's labels are {list(labels)}. Add them to `labels` in "
            "the config, or leave `labels` out to learn them from the training corpus."
        )
    unseen = unknown_labels(dev, labels)
    if not unseen:
        return
    message = (
        f"paths.dev: {sum(unseen.values())} entities have labels the model is not trained on "
        f"({_listing(unseen)}; the model's labels come from the training corpus: {list(labels)})"
    )
    if not allow_unseen:
        raise DataError(
            f"{message}. Fix the dev file, add such entities to the training corpus, or set "
            "[corpora] allow_unseen_labels = true to score them as missed entities."
        )
    logger.warning("%s; they count as missed entities.", message)


def _listing(counts) -> str:
    return ", ".join(f"'{lab}' {n}" for lab, n in counts.most_common())
