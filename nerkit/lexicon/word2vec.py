"""Pretrained word vectors in word2vec format (``nerkit.Word2Vec.v1``).

Reads the text format (header ``count dim``, then ``word v1 .. v_dim`` per
line; e.g. sgns.merge.word, Medical.txt; a file without the header line is
accepted too) and the binary format, optionally gzip/bz2-compressed.

Memory and speed: only the header is read when the config is resolved (for
``dim``); the file is read on the first ``vocab()``/``lookup()``.

- Text files are streamed: one pass records each word and the byte offset of
  its line (a word list, a dict and an int64 array: no vectors), and
  ``lookup`` parses only the requested lines (seeking to them; compressed
  files are scanned again). gensim's ``load_word2vec_format`` would parse every
  value of the file into a numpy scalar: about 70 s per 100k x 300 vectors
  measured here, i.e. over 15 minutes for sgns.merge.word (1.3M x 300), and
  1.5 GB of float32 kept in memory.
- Binary files go through gensim's ``KeyedVectors.load_word2vec_format``
  (chunked and fast: 1.3 s per 100k x 300), which holds the whole matrix as
  one float32 numpy array.

A duplicated word keeps its first vector (as gensim does). ``release()`` frees
what was loaded once the ``Lexicon`` has taken the rows it needs.
"""

from __future__ import annotations

import bz2
import gzip
import logging
import time
from pathlib import Path
from typing import IO, Dict, Iterable, List, Optional, Tuple

import numpy as np

from ..errors import ModelLoadError
from ..registry import FileArg, file_args
from .base import Vectors

logger = logging.getLogger("nerkit")

_BINARY_EXT = (".bin",)
_TEXT_EXT = (".txt", ".vec", ".csv")
_FIX = "the vectors block of the config, e.g. --initialize.model.lexicon.vectors.path /data/sgns.merge.word"


@file_args(path=FileArg("file", "word vectors"))
def word2vec(
    path: str,
    binary: Optional[bool] = None,
    limit: Optional[int] = None,
    unicode_errors: str = "replace",
) -> Word2Vec:
    """Word vectors from a word2vec text or binary file.

    path: the vectors file (.gz and .bz2 are read compressed).
    binary: the file's format; null guesses it from the extension (.bin:
        binary; .txt/.vec: text) or else from the bytes after the header.
    limit: read only the first ``limit`` vectors (files list frequent words first).
    unicode_errors: how to treat words that are not valid UTF-8 ("strict",
        "replace", "ignore").
    """
    return Word2Vec(path, binary, limit, unicode_errors)


class Word2Vec(Vectors):
    """A word2vec file: ``dim``, ``vocab()``, ``lookup(words)``, loaded on first use."""

    def __init__(
        self,
        path: str,
        binary: Optional[bool],
        limit: Optional[int],
        unicode_errors: str,
    ) -> None:
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise ModelLoadError(
                f"Word vectors file not found: {self.path}. Set `path` in {_FIX} "
                "(or set vectors to null to train randomly initialised word embeddings)."
            )
        if limit is not None and limit < 1:
            raise ModelLoadError(
                f"Word2Vec: limit must be >= 1 or null, got {limit} ({self.path})."
            )
        self.limit = limit
        self.unicode_errors = unicode_errors
        count, dim, guess = _sniff(self.path)
        if binary is None and guess is None:
            raise ModelLoadError(
                f"Can't tell whether {self.path} is in word2vec text or binary format: set "
                "binary = true or false in the vectors block (e.g. --initialize.model.lexicon.vectors.binary false)."
            )
        self.binary = guess if binary is None else binary
        self.has_header = count is not None
        if self.binary and not self.has_header:
            raise ModelLoadError(
                f"{self.path}: a binary word2vec file must start with a 'count dim' header line."
            )
        self.dim = dim
        self._kv = None  # gensim KeyedVectors (binary files)
        self._words: Optional[List[str]] = None  # row -> word
        self._rows: Optional[Dict[str, int]] = None  # word -> row (first occurrence)
        self._offsets: Optional[np.ndarray] = None  # [rows] int64 line offsets (text files)

    # -- loading -----------------------------------------------------------------

    def _load_binary(self):
        if self._kv is None:
            from gensim.models import KeyedVectors

            t0 = time.perf_counter()
            try:
                kv = KeyedVectors.load_word2vec_format(
                    str(self.path),
                    binary=True,
                    limit=self.limit,
                    unicode_errors=self.unicode_errors,
                    datatype=np.float32,
                )
            except (ValueError, EOFError, UnicodeDecodeError, OSError) as err:
                raise ModelLoadError(
                    f"Can't read {self.path} as a word2vec binary file: {err}. If it is a text "
                    "file, set binary = false in the vectors block (--initialize.model.lexicon.vectors.binary false)."
                ) from None
            if kv.vector_size != self.dim:
                raise ModelLoadError(
                    f"{self.path}: the header says {self.dim} dimensions but the vectors have "
                    f"{kv.vector_size}."
                )
            self._log_loaded(len(kv.index_to_key), t0)
            self._kv = kv
            self._words = kv.index_to_key
            self._rows = kv.key_to_index
        return self._kv

    def _load_text_index(self) -> None:
        """One pass over a text file: every word and the byte offset of its line."""
        if self._words is not None:
            return
        t0 = time.perf_counter()
        words: List[str] = []
        rows: Dict[str, int] = {}
        offsets: List[int] = []
        limit = self.limit if self.limit is not None else -1
        with _open(self.path) as f:
            pos = 0
            if self.has_header:
                pos = len(f.readline())
            for line in f:
                if len(words) == limit:
                    break
                start, pos = pos, pos + len(line)
                word = line.split(b" ", 1)[0].strip()
                if not word:
                    continue
                if not words:
                    self._check_first_line(line)
                text = word.decode("utf8", errors=self.unicode_errors)
                rows.setdefault(text, len(words))
                words.append(text)
                offsets.append(start)
        if not words:
            raise ModelLoadError(f"{self.path} holds no word vectors.")
        self._words, self._rows = words, rows
        self._offsets = np.asarray(offsets, dtype=np.int64)
        self._log_loaded(len(words), t0)

    def _check_first_line(self, line: bytes) -> None:
        values = line.split(b" ", 1)[1].split() if b" " in line else []
        try:
            ok = len(values) == self.dim and np.array(values, dtype=np.float32).shape == (self.dim,)
        except ValueError:
            ok = False
        if not ok:
            raise ModelLoadError(
                f"Can't read {self.path} as a word2vec text file: its first vector line does not "
                f"hold {self.dim} numbers. If it is a binary file, set binary = true in the "
                "vectors block (--initialize.model.lexicon.vectors.binary true)."
            )

    def _ensure_index(self) -> None:
        if self.binary:
            self._load_binary()
        else:
            self._load_text_index()

    def _log_loaded(self, n: int, t0: float) -> None:
        logger.info(
            "Read %d word vectors (dim %d) from %s in %.1fs",
            n,
            self.dim,
            self.path,
            time.perf_counter() - t0,
        )

    def release(self) -> None:
        """Free what was loaded; the next ``vocab()``/``lookup()`` reads the file again."""
        self._kv = None
        self._words = None
        self._rows = None
        self._offsets = None

    @property
    def loaded(self) -> bool:
        return self._words is not None

    # -- queries -----------------------------------------------------------------

    def vocab(self) -> List[str]:
        """Every word of the file (within ``limit``), in file order."""
        self._ensure_index()
        return self._words

    def __len__(self) -> int:
        self._ensure_index()
        return len(self._words)

    def __contains__(self, word: str) -> bool:
        self._ensure_index()
        return word in self._rows

    def lookup(self, words: Iterable[str]) -> Tuple[List[str], np.ndarray]:
        """The words that have a vector, in input order, and their rows: [n, dim] float32.

        A malformed line (wrong number of values) is logged and its word
        reported as missing.
        """
        self._ensure_index()
        rows = self._rows
        wanted = [(w, rows[w]) for w in words if w in rows]
        if self.binary:
            vectors = self._kv.vectors
            matrix = {r: vectors[r] for _, r in wanted}
        else:
            matrix = self._read_rows(sorted({r for _, r in wanted}))
        found = [w for w, r in wanted if r in matrix]
        if not found:
            return found, np.zeros((0, self.dim), dtype=np.float32)
        return found, np.stack([matrix[r] for w, r in wanted if r in matrix]).astype(
            np.float32, copy=False
        )

    def _read_rows(self, rows: List[int]) -> Dict[int, np.ndarray]:
        """Parse the lines of the given rows of a text file."""
        out: Dict[int, np.ndarray] = {}
        if not rows:
            return out
        offsets = self._offsets
        compressed = self.path.name.lower().endswith((".gz", ".bz2"))
        with _open(self.path) as f:
            if compressed:  # no cheap seeking: scan once, keeping the wanted lines
                by_offset = {int(offsets[r]): r for r in rows}
                pos = 0
                for line in f:
                    r = by_offset.get(pos)
                    if r is not None:
                        out[r] = self._parse(line, r)
                    pos += len(line)
            else:
                for r in rows:
                    f.seek(int(offsets[r]))
                    out[r] = self._parse(f.readline(), r)
        return {r: v for r, v in out.items() if v is not None}

    def _parse(self, line: bytes, row: int) -> Optional[np.ndarray]:
        values = line.split(b" ", 1)[1].split() if b" " in line else []
        try:
            vec = np.array(values, dtype=np.float32)
        except ValueError:
            vec = None
        if vec is None or vec.shape != (self.dim,):
            logger.warning(
                "%s: the vector of %r (entry %d) is malformed (expected %d numbers); skipping it",
                self.path,
                self._words[row],
                row + 1,
                self.dim,
            )
            return None
        return vec

    def __repr__(self) -> str:
        fmt = "binary" if self.binary else "text"
        return f"Word2Vec({str(self.path)!r}, {fmt}, dim={self.dim}, limit={self.limit})"


def _open(path: Path) -> IO[bytes]:
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    if name.endswith(".bz2"):
        return bz2.open(path, "rb")
    return path.open("rb")


def _sniff(path: Path) -> Tuple[Optional[int], int, Optional[bool]]:
    """(count from the header or None, dim, binary guess or None) from the file's start."""
    with _open(path) as f:
        first = f.readline(1 << 20)
        rest = f.read(1 << 16)
    tokens = first.split()
    if len(tokens) == 2 and all(t.isdigit() for t in tokens):
        count, dim = int(tokens[0]), int(tokens[1])
    elif len(tokens) > 2 and _floats(tokens[1:]):
        return None, len(tokens) - 1, False  # text without header
    else:
        raise ModelLoadError(
            f"{path} is not a word2vec file: its first line should be 'count dim' "
            f"(or a word and its vector), got {first[:80]!r}. Check `path` in {_FIX}."
        )
    if dim < 1:
        raise ModelLoadError(f"{path}: the header gives dimension {dim}.")
    name = path.name.lower()
    for ext in (".gz", ".bz2"):
        if name.endswith(ext):
            name = name[: -len(ext)]
    if name.endswith(_BINARY_EXT):
        return count, dim, True
    if name.endswith(_TEXT_EXT):
        return count, dim, False
    if not rest:
        return count, dim, None
    line = rest.split(b"\n", 1)[0]
    try:
        parts = line.decode("utf8").split()
    except UnicodeDecodeError:
        return count, dim, True
    return count, dim, not (len(parts) == dim + 1 and _floats(parts[1:]))


def _floats(tokens: List) -> bool:
    try:
        for t in tokens:
            float(t)
    except ValueError:
        return False
    return True
