"""In-domain word vectors (``nerkit vectors``): word2vec over a segmenter's words.

The pretraining config's text (``[pretraining] train``) is read as a stream and
each document cut into the segmenter's words (where words overlap, as the
lexicon matcher's do, the longest from the left; characters outside every word
are tokens of their own: :func:`nerkit.training.masking.word_units`). The tokens
go to a temporary file, one document a line, that gensim's skip-gram with
negative sampling reads ``epochs + 1`` times (memory does not grow with the
text). The vectors are written in word2vec text format (binary for ``.bin``),
which ``nerkit.Word2Vec.v1`` and gensim's ``KeyedVectors.load_word2vec_format``
read.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List

from confection import Config

from ..data.text import check_texts, iter_documents
from ..errors import DataError
from .masking import word_units
from .pretrain_config import pretrain_run


@dataclass
class VectorsResult:
    path: Path
    documents: int
    tokens: int
    words: int  # vocabulary size (tokens seen at least min_count times)
    dim: int


def tokens(text: str, segmenter) -> List[str]:
    """The segmenter's words of ``text`` and the characters between them, whitespace left out."""
    pieces = (text[s:e] for s, e in word_units(len(text), segmenter(text)))
    return [p for p in pieces if p.strip() and not any(c.isspace() for c in p)]


def _write_tokens(docs: Iterable[str], segmenter, path: Path) -> tuple:
    n_docs = n_tokens = 0
    with open(path, "w", encoding="utf8") as f:
        for text in docs:
            words = tokens(text, segmenter)
            if words:
                f.write(" ".join(words) + "\n")
                n_docs += 1
                n_tokens += len(words)
    return n_docs, n_tokens


def train_vectors(cfg: Config, output: Path) -> VectorsResult:
    """word2vec (skip-gram, negative sampling) with ``[vectors]``'s settings, written to ``output``."""
    from gensim.models import Word2Vec
    from gensim.models.word2vec import LineSentence

    run = pretrain_run(cfg)
    s, v = run.pretraining, run.vectors
    segmenter = run.vectors_segmenter()
    check_texts(s.train_files, s.text_field, s.max_line_chars, 10**9, 0, "pretraining.train")
    output = Path(output)
    if output.is_dir():
        raise DataError(
            f"--output {output} is a folder; pass a file name, e.g. {output}/vectors.txt."
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".vectors-") as tmp:
        corpus = Path(tmp) / "tokens.txt"
        docs = (d.text for d in iter_documents(s.train_files, s.text_field, s.max_line_chars))
        n_docs, n_tokens = _write_tokens(docs, segmenter, corpus)
        model = Word2Vec(
            sentences=LineSentence(str(corpus)),
            vector_size=v.dim,
            window=v.window,
            min_count=v.min_count,
            epochs=v.epochs,
            negative=v.negative,
            sample=v.sample,
            sg=1,
            hs=0,
            workers=v.workers,
            seed=run.system.seed,
        )
        if not len(model.wv):
            raise DataError(
                f"vectors.min_count = {v.min_count}: no word occurs that often in "
                f"{', '.join(s.train_files)}. Lower it (--vectors.min_count 1) or add text."
            )
        written = Path(tmp) / output.name
        model.wv.save_word2vec_format(str(written), binary=output.suffix.lower() == ".bin")
        os.replace(written, output)  # complete or absent
    return VectorsResult(output, n_docs, n_tokens, len(model.wv), v.dim)
