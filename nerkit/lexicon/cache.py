"""On-disk cache of corpus segmentations, so a second run does not segment again.

One SQLite file per segmenter setting: ``<cache_dir>/<sha1(cache_key)>.sqlite``,
where ``cache_key`` is the segmenter's description of everything that changes
its output (model and its files' fingerprint, dictionaries, filters). A row
maps the SHA-1 of a text to its word spans ``[s0, e0, s1, e1, ...]`` (``e``
inclusive); the words themselves are ``text[s:e + 1]``. Writes are one
transaction per corpus, and SQLite's locking makes concurrent runs (e.g. DDP
ranks) safe.

Cache directory: the ``cache_dir`` argument, else ``$NERKIT_CACHE/segments``,
else ``$XDG_CACHE_HOME/nerkit/segments`` (default ``~/.cache/nerkit/segments``).
A cache that can't be opened or written is skipped with a warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

logger = logging.getLogger("nerkit")

Word = Tuple[str, int, int]  # (word, first char, last char inclusive)
ENV = "NERKIT_CACHE"
_CHUNK = 500  # hashes per SELECT (below SQLite's variable limit)


def default_cache_dir() -> Path:
    """``$NERKIT_CACHE/segments``, else ``$XDG_CACHE_HOME/nerkit/segments``."""
    root = os.environ.get(ENV)
    if root:
        return Path(root).expanduser() / "segments"
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "nerkit" / "segments"


def resolve_cache_dir(cache_dir: Union[str, Path, None] = None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir else default_cache_dir()


def text_hash(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf8", "surrogatepass")).digest()


class SegmentCache:
    """The cached segmentations of one segmenter setting."""

    def __init__(self, directory: Union[str, Path], key: str) -> None:
        self.key = key
        self.directory = Path(directory)
        self.path = self.directory / f"{hashlib.sha1(key.encode('utf8')).hexdigest()[:24]}.sqlite"

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.directory.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), timeout=120)
        try:
            with conn:
                conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS segments (hash BLOB PRIMARY KEY, spans TEXT NOT NULL)"
                )
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('key', ?)", (self.key,))
                (stored,) = conn.execute("SELECT value FROM meta WHERE name = 'key'").fetchone()
            if stored != self.key:
                raise sqlite3.DatabaseError(
                    f"{self.path} belongs to another segmenter setting ({stored[:80]})"
                )
            yield conn
        finally:
            conn.close()

    def get(self, hashes: Sequence[bytes]) -> Dict[bytes, List[int]]:
        """Stored flat span lists of the given text hashes (absent ones left out)."""
        found: Dict[bytes, List[int]] = {}
        if not self.path.exists():
            return found
        with self._connect() as conn:
            for i in range(0, len(hashes), _CHUNK):
                chunk = list(hashes[i : i + _CHUNK])
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT hash, spans FROM segments WHERE hash IN ({marks})", chunk
                )
                for h, spans in rows:
                    found[bytes(h)] = json.loads(spans)
        return found

    def put(self, items: Iterable[Tuple[bytes, List[int]]]) -> None:
        rows = [(h, json.dumps(spans, separators=(",", ":"))) for h, spans in items]
        with self._connect() as conn, conn:
            conn.executemany("INSERT OR REPLACE INTO segments VALUES (?, ?)", rows)

    def __len__(self) -> int:
        if not self.path.exists():
            return 0
        with self._connect() as conn:
            return conn.execute("SELECT COUNT(*) FROM segments").fetchone()[0]


def segment_corpus(
    segmenter: Any,
    texts: Iterable[str],
    cache_dir: Union[str, Path, None] = None,
    use_cache: bool = True,
) -> List[List[Word]]:
    """``segmenter(text)`` for every text, in order, reading and filling the cache.

    Each distinct text is segmented at most once. Segmenters without a
    ``cache_key`` (or ``use_cache=False``) are run without the cache.
    """
    texts = list(texts)
    unique = list(dict.fromkeys(texts))
    results: Dict[str, List[Word]] = {}
    key = segmenter.cache_key if use_cache else None
    cache: Optional[SegmentCache] = None
    hashes: Dict[str, bytes] = {}
    if key is not None:
        cache = SegmentCache(resolve_cache_dir(cache_dir), key)
        hashes = {t: text_hash(t) for t in unique}
        try:
            stored = cache.get(list(hashes.values()))
        except (sqlite3.Error, OSError, ValueError) as err:
            logger.warning(
                "Segmentation cache %s unusable, segmenting without it: %s", cache.path, err
            )
            cache, stored = None, {}
        for t in unique:
            words = _decode(t, stored.get(hashes[t]))
            if words is not None:
                results[t] = words
    todo = [t for t in unique if t not in results]
    for t in todo:
        results[t] = [(w, s, e) for w, s, e in segmenter(t)]
    if cache is not None and todo:
        try:
            cache.put((hashes[t], [i for _, s, e in results[t] for i in (s, e)]) for t in todo)
        except (sqlite3.Error, OSError) as err:
            logger.warning("Can't write the segmentation cache %s: %s", cache.path, err)
    if cache is not None:
        logger.info(
            "Segmented %d texts (%d from the cache %s)",
            len(unique),
            len(unique) - len(todo),
            cache.path,
        )
    return [results[t] for t in texts]


def _decode(text: str, spans: Optional[List[int]]) -> Optional[List[Word]]:
    """Rebuild (word, start, end) from stored spans; None if absent or inconsistent."""
    if spans is None or not isinstance(spans, list) or len(spans) % 2:
        return None
    n = len(text)
    out: List[Word] = []
    for i in range(0, len(spans), 2):
        s, e = spans[i], spans[i + 1]
        if not (isinstance(s, int) and isinstance(e, int) and 0 <= s <= e < n):
            return None
        out.append((text[s : e + 1], s, e))
    return out
