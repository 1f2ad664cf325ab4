"""The lexicon: lattice words of a text and their vectors (``nerkit.Lexicon.v1``).

``initialize(texts)`` segments the corpus (through the on-disk cache),
collects the words the lattices use and builds a reduced vocabulary::

    row 0   padding (zeros)
    row 1   unknown word (random)
    row 2+  the corpus's lattice words, most frequent first (ties by word)

``vectors`` ([V, E] float32) holds the pretrained vector of every word found in
the word vectors and a seeded random vector U(-a, a), a = sqrt(3 / E), for the
others (with ``missing = "unknown"`` the words without a pretrained vector
get no row and share row 1). Without word vectors every row but 0 is random
and ``E`` is the ``dim`` setting.

``lattice(text)`` gives ``(start, end inclusive, row)`` per word. A word that
has no row (new words of new texts, or missing words with ``missing =
"unknown"``) gets row 1, or is left out with ``drop_unknown = true``.

Lexicon matchers fed from the word vectors' vocabulary (or a words file) are
restricted after ``initialize`` to the words they found in the corpus, and
those lists are saved with the vocabulary: a model directory needs neither
the vectors file nor the words file, and a reloaded model produces exactly
the lattices of the model in memory. The pkuseg segmenter still runs on new
texts, so its model must be available when predicting.

The segmentations of ``initialize``'s texts are kept in memory, so the
lattices of the training and dev records cost a dict lookup; other texts are
segmented on demand (``lattices(texts)`` does it in bulk through the cache).

``to_disk``/``from_disk`` write ``words.json`` and ``vectors.safetensors`` (no
pickle), and the segmenter's own files under ``segmenter/`` (its ``to_disk``).
The word vectors (``vectors``) are an init-only resource: set them in
``[initialize.model.lexicon.vectors]``; a saved lexicon needs no vectors file.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from ..errors import ConfigError, ModelLoadError
from .base import LatticeWord, Segmenter, Word, WordListSegmenter
from .cache import segment_corpus

PAD = 0
UNK = 1
FORMAT_VERSION = 1
WORDS_FILE = "words.json"
VECTORS_FILE = "vectors.safetensors"
SEGMENTER_DIR = "segmenter"  # the segmenter's to_disk files
MISSING_POLICIES = ("random", "unknown")


def lexicon(
    segmenter: Any,
    vectors: Optional[Any] = None,
    dim: int = 100,
    missing: str = "random",
    drop_unknown: bool = False,
    seed: int = 0,
    cache_dir: Optional[str] = None,
    use_cache: bool = True,
) -> Lexicon:
    """Lattice words (from ``segmenter``) and their vectors (from ``vectors``).

    segmenter: an ``@segmenters`` component.
    vectors: an ``@vectors`` component, or null for random word vectors.
    dim: the word vector size when there are no pretrained vectors.
    missing: words without a pretrained vector get their own random row
        ("random") or share the unknown row ("unknown").
    drop_unknown: leave words that map to the unknown row out of the lattice.
    seed: seed of the random rows.
    cache_dir: where segmentations are cached; null: $NERKIT_CACHE/segments
        or ~/.cache/nerkit/segments.
    use_cache: read and write the segmentation cache.
    """
    return Lexicon(segmenter, vectors, dim, missing, drop_unknown, seed, cache_dir, use_cache)


class Lexicon:
    def __init__(
        self,
        segmenter: Any,
        vectors: Optional[Any],
        dim: int,
        missing: str,
        drop_unknown: bool,
        seed: int,
        cache_dir: Optional[str],
        use_cache: bool,
    ) -> None:
        if not callable(segmenter):
            raise ConfigError(
                f"model.lexicon.segmenter: expected an @segmenters component, got {type(segmenter).__name__}."
            )
        if missing not in MISSING_POLICIES:
            raise ConfigError(
                f"model.lexicon.missing: expected one of {', '.join(MISSING_POLICIES)}, got {missing!r}."
            )
        if vectors is None and dim < 1:
            raise ConfigError(f"model.lexicon.dim: expected a positive size, got {dim}.")
        self.segmenter = segmenter
        self.pretrained = vectors  # the word vectors component (a Word2Vec), or None
        self.dim: int = int(vectors.dim) if vectors is not None else dim
        self.missing = missing
        self.drop_unknown = drop_unknown
        self.seed = seed
        self.cache_dir = cache_dir
        self.use_cache = use_cache
        self.words: List[str] = []  # row -> word; rows 0 and 1 are "" (padding, unknown)
        self.word_to_id: Dict[str, int] = {}
        self.vectors: Optional[Tensor] = None  # [V, E] float32
        self.pretrained_rows: Optional[Tensor] = None  # [V] bool, True where the row is pretrained
        self.unknown_words: List[str] = []  # corpus words that map to the unknown row
        self._matcher_words: List[List[str]] = []  # per matcher, the words it keeps
        self._memo: Dict[str, List[Tuple[int, int]]] = {}  # text -> spans, for initialize's texts

    # -- building ------------------------------------------------------------------

    @property
    def initialized(self) -> bool:
        return self.vectors is not None

    def __len__(self) -> int:
        return len(self.words)

    def initialize(self, texts: Iterable[str]) -> None:
        """Build the vocabulary and vectors from the lattice words of ``texts``."""
        texts = list(texts)
        matchers = list(_matchers(self.segmenter))
        for m in matchers:
            m.reset()
            if m.needs_words:
                if self.pretrained is None:
                    raise ConfigError(
                        "model.lexicon: the LexiconMatcher has no words_file and the lexicon has "
                        "no vectors to take the words from. Set model.lexicon.vectors or the "
                        "matcher's words_file."
                    )
                m.set_words(self.pretrained.vocab(), source="word vectors", transient=True)
        segmented = segment_corpus(self.segmenter, texts, self.cache_dir, self.use_cache)
        counts = Counter(w for words in segmented for w, _, _ in words)
        ordered = sorted(counts, key=lambda w: (-counts[w], w))

        found: List[str] = []
        matrix = np.zeros((0, self.dim), dtype=np.float32)
        if self.pretrained is not None:
            found, matrix = self.pretrained.lookup(ordered)
        kept = found if self.missing == "unknown" else ordered
        self.words = ["", ""] + list(kept)
        self.word_to_id = {w: i for i, w in enumerate(self.words) if i > UNK}
        self.unknown_words = [w for w in ordered if w not in self.word_to_id]

        V, E = len(self.words), self.dim
        gen = torch.Generator().manual_seed(self.seed)
        bound = math.sqrt(3.0 / E)
        vectors = (torch.rand(V, E, generator=gen, dtype=torch.float32) * 2 - 1) * bound
        vectors[PAD] = 0
        pretrained_rows = torch.zeros(V, dtype=torch.bool)
        if found:
            rows = torch.tensor([self.word_to_id[w] for w in found], dtype=torch.long)
            vectors[rows] = torch.from_numpy(np.ascontiguousarray(matrix, dtype=np.float32))
            pretrained_rows[rows] = True
        self.vectors = vectors
        self.pretrained_rows = pretrained_rows

        # Each matcher keeps only the corpus words it found: same lattices on these
        # texts, and nothing of the full lexicon is needed after saving.
        self._matcher_words = [[w for w in ordered if m.has_word(w)] for m in matchers]
        for m, words in zip(matchers, self._matcher_words, strict=True):
            m.restrict(words)
        self._memo = {
            t: [(s, e) for _, s, e in words] for t, words in zip(texts, segmented, strict=True)
        }
        if self.pretrained is not None:
            self.pretrained.release()  # the full vectors are no longer needed

    # -- lattices -------------------------------------------------------------------

    def segment(self, text: str) -> List[Word]:
        """The segmenter's words of ``text`` (remembered for initialize's texts)."""
        spans = self._memo.get(text)
        if spans is not None:
            return [(text[s : e + 1], s, e) for s, e in spans]
        return [(w, s, e) for w, s, e in self.segmenter(text)]

    def lattice(self, text: str) -> List[LatticeWord]:
        """``(start, end inclusive, row)`` of each lattice word, sorted by (start, end)."""
        self._check_initialized()
        return self._ids(self.segment(text))

    def lattices(self, texts: Sequence[str]) -> List[List[LatticeWord]]:
        """``lattice`` of many texts, segmenting the unseen ones through the cache."""
        self._check_initialized()
        todo = [t for t in dict.fromkeys(texts) if t not in self._memo]
        fresh = dict(
            zip(
                todo,
                segment_corpus(self.segmenter, todo, self.cache_dir, self.use_cache),
                strict=True,
            )
        )
        return [self._ids(fresh[t] if t in fresh else self.segment(t)) for t in texts]

    def _ids(self, words: Iterable[Word]) -> List[LatticeWord]:
        get = self.word_to_id.get
        out = [(s, e, get(w, UNK)) for w, s, e in sorted(words, key=lambda x: (x[1], x[2]))]
        if self.drop_unknown:
            out = [x for x in out if x[2] != UNK]
        return out

    def has_vector(self, word: str) -> bool:
        """True if ``word`` has a pretrained vector row."""
        i = self.word_to_id.get(word)
        return i is not None and self.pretrained_rows is not None and bool(self.pretrained_rows[i])

    def _check_initialized(self) -> None:
        if not self.initialized:
            raise ModelLoadError(
                "The lexicon is not initialised: call initialize(texts) (training does) or "
                "from_disk(model_dir / 'lexicon') before asking for lattices."
            )

    # -- serialisation ----------------------------------------------------------------

    def to_disk(self, path: Union[str, Path]) -> None:
        """Write ``words.json`` and ``vectors.safetensors`` into the directory ``path``."""
        self._check_initialized()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        data = {
            "format": FORMAT_VERSION,
            "dim": self.dim,
            "words": self.words[2:],
            "pretrained": [bool(x) for x in self.pretrained_rows.tolist()],
            "unknown_words": self.unknown_words,
            "matcher_words": self._matcher_words,
            "missing": self.missing,
        }
        (path / WORDS_FILE).write_text(json.dumps(data, ensure_ascii=False), encoding="utf8")
        save_file({"vectors": self.vectors.contiguous()}, str(path / VECTORS_FILE))
        self.segmenter.to_disk(path / SEGMENTER_DIR)

    def from_disk(self, path: Union[str, Path]) -> Lexicon:
        """Read what ``to_disk`` wrote; no vectors file or corpus needed."""
        path = Path(path)
        words_path, vectors_path = path / WORDS_FILE, path / VECTORS_FILE
        for f in (words_path, vectors_path):
            if not f.is_file():
                raise ModelLoadError(
                    f"Lexicon file missing: {f}. A model trained with a lexicon keeps it in "
                    "<model dir>/lexicon/; copy the whole model directory."
                )
        try:
            data = json.loads(words_path.read_text(encoding="utf8"))
            vectors = load_file(str(vectors_path))["vectors"]
        except (ValueError, KeyError, OSError) as err:
            raise ModelLoadError(f"Can't read the lexicon in {path}: {err}") from None
        if data.get("format") != FORMAT_VERSION:
            raise ModelLoadError(
                f"{words_path}: lexicon format {data.get('format')!r}, this nerkit reads "
                f"format {FORMAT_VERSION}."
            )
        words = ["", ""] + list(data["words"])
        if tuple(vectors.shape) != (len(words), int(data["dim"])) or len(data["pretrained"]) != len(
            words
        ):
            raise ModelLoadError(
                f"{path}: {len(words)} words and dim {data['dim']} in {WORDS_FILE}, but "
                f"vectors of shape {tuple(vectors.shape)} in {VECTORS_FILE}."
            )
        self.segmenter.from_disk(path / SEGMENTER_DIR)
        matchers = list(_matchers(self.segmenter))
        if len(matchers) != len(data["matcher_words"]):
            raise ModelLoadError(
                f"{path}: the lexicon was saved with {len(data['matcher_words'])} LexiconMatcher(s) "
                f"but the config's segmenter has {len(matchers)}. Load it with the config it was "
                "trained with."
            )
        self.words = words
        self.word_to_id = {w: i for i, w in enumerate(words) if i > UNK}
        self.dim = int(data["dim"])
        self.vectors = vectors.to(torch.float32)
        self.pretrained_rows = torch.tensor(data["pretrained"], dtype=torch.bool)
        self.unknown_words = list(data["unknown_words"])
        self._matcher_words = [list(ws) for ws in data["matcher_words"]]
        for m, ws in zip(matchers, self._matcher_words, strict=True):
            m.restrict(ws)
        self._memo = {}
        return self

    def __repr__(self) -> str:
        state = f"{len(self.words)} rows" if self.initialized else "not initialised"
        return f"Lexicon({self.segmenter!r}, dim={self.dim}, {state})"


def _matchers(segmenter: Segmenter) -> List[WordListSegmenter]:
    """Segmenters inside ``segmenter`` (itself included) that take a word list."""
    return segmenter.matchers()
