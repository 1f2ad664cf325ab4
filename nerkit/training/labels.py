"""The corpora's labels against the model's.

Labels a config leaves out are learned when the model is initialised: the decoder's
label scheme reads the training examples (``LabelScheme.initialize(get_examples)``,
spaCy's way) and reports what it learned (``NERModel.label_config()``), which the run
records in the model directory's ``config.cfg``; ``meta.json`` lists the labels, so a
saved model needs neither the corpus nor the original config to load.
"""

from __future__ import annotations

import logging
from typing import Sequence

from ..data.labels import unknown_labels
from ..errors import DataError
from ..types import Example

logger = logging.getLogger("nerkit")


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
