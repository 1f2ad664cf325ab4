"""Union of several segmenters' words (``nerkit.UnionSegmenter.v1``).

Config (one sub-section per segmenter, in order, under ``*``)::

    [model.lexicon.segmenter]
    @segmenters = "nerkit.UnionSegmenter.v1"

    [model.lexicon.segmenter.*.pkuseg]
    @segmenters = "nerkit.PkusegSegmenter.v1"

    [model.lexicon.segmenter.*.matcher]
    @segmenters = "nerkit.LexiconMatcher.v1"
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..errors import ConfigError
from .base import Segmenter, Word, WordListSegmenter


def union_segmenter(*segmenters: Any) -> UnionSegmenter:
    """The words of every given segmenter, deduplicated by span, sorted by (start, end)."""
    return UnionSegmenter(list(segmenters))


class UnionSegmenter(Segmenter):
    def __init__(self, segmenters: Sequence[Any]) -> None:
        if not segmenters:
            raise ConfigError(
                "UnionSegmenter needs at least one segmenter: add sub-sections like "
                "[model.lexicon.segmenter.*.pkuseg] with @segmenters = ..."
            )
        for i, seg in enumerate(segmenters):
            if not callable(seg):
                raise ConfigError(
                    f"UnionSegmenter: segmenter {i} is a {type(seg).__name__}, not a segmenter "
                    "(give each one an @segmenters name)."
                )
        self.segmenters = list(segmenters)

    def __call__(self, text: str) -> List[Word]:
        spans: Dict[Tuple[int, int], str] = {}
        for seg in self.segmenters:
            for word, start, end in seg(text):
                spans.setdefault((start, end), word)
        return [(word, s, e) for (s, e), word in sorted(spans.items())]

    def matchers(self) -> List[WordListSegmenter]:
        return [m for seg in self.segmenters for m in seg.matchers()]

    def to_disk(self, path: Path) -> None:
        """Each segmenter's files in ``path/<i>/`` (i: its position in the union)."""
        for i, seg in enumerate(self.segmenters):
            seg.to_disk(Path(path) / str(i))

    def from_disk(self, path: Path) -> UnionSegmenter:
        for i, seg in enumerate(self.segmenters):
            seg.from_disk(Path(path) / str(i))
        return self

    @property
    def cache_key(self) -> Optional[str]:
        keys = [seg.cache_key for seg in self.segmenters]
        if any(k is None for k in keys):
            return None  # a segmenter without a key can't be cached
        return "nerkit.UnionSegmenter.v1(" + " + ".join(keys) + ")"

    def __repr__(self) -> str:
        return f"UnionSegmenter({self.segmenters!r})"
