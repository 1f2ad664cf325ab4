"""Long texts: overlapping character windows, and merging their entities back.

``split_windows`` cuts ``[0, length)`` into windows of ``max_chars`` characters
whose neighbours share ``overlap`` characters (the last window is moved left
to end at the text's end, so it may share more).

``merge_windows`` (lists of entities) and ``responsible_windows`` (arrays, many
records at once; what the model uses) map window-local predictions to record
coordinates and keep each entity from exactly one window. Definitions:

- A window's *cut edges* are its first character when it does not start at 0
  and its last character when it does not end at the text's end: an entity
  touching a cut edge may continue outside the window (it may be truncated).
- An entity is *whole* in a window that contains it without touching a cut edge.
- Each window *owns* the characters up to the middle of its overlaps: the
  boundary between windows ``i`` and ``i+1`` is ``(start[i+1] + end[i]) // 2``,
  so owned regions partition the text.

Rule: a prediction ``e`` made by window ``w`` is kept iff ``w`` is the window
responsible for ``e``'s span, which is, among the windows containing the span,

1. the one owning ``e.start`` if ``e`` is whole there, else
2. the window where ``e`` is whole that is nearest (by index) to that owner, or,
3. if ``e`` is whole in no window (it touches a cut edge everywhere, i.e. it is
   longer than the overlap), the containing window nearest to the owner.

So an entity inside an overlap, seen by both windows, is kept once (from the
owner of its start); an entity cut at a window's edge is taken from the
neighbour that sees it whole, and the truncated copy is dropped. Entities
longer than the overlap cannot be seen whole and are kept as predicted (case 3):
choose ``overlap`` at least as long as the longest entity expected (CMeEE dev:
114 characters). An entity that is kept gets the highest score any window gave
it (windows that see it truncated cannot give it: their span differs). Output is
sorted by (start, end, label).
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

from ..spans import SpanArrays
from ..types import Entity

Window = Tuple[int, int]  # (start, end exclusive) in record coordinates


def split_windows(length: int, max_chars: int, overlap: int) -> List[Window]:
    """Windows ``(start, end)`` (end exclusive) covering ``range(length)``.

    A text of at most ``max_chars`` characters is one window; an empty text has
    none. Otherwise every window has ``max_chars`` characters, starts step by
    ``max_chars - overlap`` and the last one ends at ``length``.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}.")
    if not 0 <= overlap < max_chars:
        raise ValueError(
            f"overlap must satisfy 0 <= overlap < max_chars ({max_chars}), got {overlap}."
        )
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}.")
    if length == 0:
        return []
    if length <= max_chars:
        return [(0, length)]
    stride = max_chars - overlap
    windows: List[Window] = []
    start = 0
    while start + max_chars < length:
        windows.append((start, start + max_chars))
        start += stride
    windows.append((length - max_chars, length))
    return windows


def clip_entities(entities: Sequence[Entity], start: int, end: int) -> List[Entity]:
    """Entities fully inside the window ``[start, end)``, in window coordinates."""
    return [
        Entity(e.start - start, e.end - start, e.label)
        for e in entities
        if e.start >= start and e.end < end
    ]


def _check_windows(windows: Sequence[Window]) -> None:
    prev_start, prev_end = None, 0
    for i, (s, e) in enumerate(windows):
        if not s < e:
            raise ValueError(f"window {i} ({s}, {e}) is empty; windows are (start, end exclusive).")
        if prev_start is None:
            if s != 0:
                raise ValueError(f"window 0 starts at {s}; the first window must start at 0.")
        elif not (prev_start < s <= prev_end and e > prev_end):
            raise ValueError(
                f"window {i} ({s}, {e}) does not follow window {i - 1} ({prev_start}, {prev_end}): "
                "windows must be in order, each starting inside or right after the previous one "
                "and reaching further."
            )
        prev_start, prev_end = s, e


def responsible_windows(
    window_record: np.ndarray,
    window_start: np.ndarray,
    window_end: np.ndarray,
    record_length: np.ndarray,
    row_window: np.ndarray,
    row_start: np.ndarray,
    row_end: np.ndarray,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rule of the module doc for many records at once, with no Python loop.

    Windows ``[W]`` (record index, start, end exclusive, record coordinates) are
    grouped by record in order, as ``split_windows`` makes them; rows ``[N]``
    are predictions (window index, start, end inclusive, window coordinates).
    Returns the rows' (start, end) in record coordinates and ``keep`` [N]: the
    row's window is the one responsible for its span.

    How: with the records laid end to end, window starts, window ends and owned
    regions are sorted, so the windows containing a span are the index range
    ``[lo, hi]`` found by binary search, the windows where it is whole are that
    range less ``lo`` if the span touches its last character and less ``hi`` if
    it touches its first, and the responsible window is the owner clipped into
    the chosen range.
    """
    window_record, window_start, window_end, record_length, row_window, row_start, row_end = (
        np.asarray(a, dtype=np.int64).reshape(-1)
        for a in (
            window_record,
            window_start,
            window_end,
            record_length,
            row_window,
            row_start,
            row_end,
        )
    )
    size = window_end - window_start
    bad = (row_start < 0) | (row_end < row_start) | (row_end >= size[row_window])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        w = int(row_window[i])
        raise ValueError(
            f"window {w} ({int(window_start[w])}, {int(window_end[w])}): entity "
            f"({int(row_start[i])}, {int(row_end[i])}) is outside the window's {int(size[w])} "
            "characters; predictions must be in window coordinates."
        )
    start = row_start + window_start[row_window]
    end = row_end + window_start[row_window]
    offset = np.concatenate([[0], np.cumsum(record_length)[:-1]])[window_record]
    g_start, g_end = window_start + offset, window_end + offset  # [W] non-decreasing
    first = np.ones(len(window_record), dtype=bool)
    first[1:] = window_record[1:] != window_record[:-1]
    # window i owns [own_start[i], own_start[i + 1]): from the middle of its overlap with i - 1
    own_start = g_start.copy()
    own_start[1:] = np.where(
        first[1:], g_start[1:], (window_start[1:] + window_end[:-1]) // 2 + offset[1:]
    )
    s = start + offset[row_window]
    e = end + offset[row_window]
    owner = np.searchsorted(own_start, s, side="right") - 1
    hi = np.searchsorted(g_start, s, side="right") - 1  # last window starting at or before s
    lo = np.searchsorted(g_end, e, side="right")  # first window ending after e
    # e on lo's last character / s on hi's first: not whole there. (At the text's own
    # edges the range is that one window, so the fallback below picks it all the same.)
    whole_lo = lo + (g_end[lo] == e + 1)
    whole_hi = hi - (g_start[hi] == s)
    has_whole = whole_lo <= whole_hi
    responsible = np.clip(
        owner, np.where(has_whole, whole_lo, lo), np.where(has_whole, whole_hi, hi)
    )
    return start, end, responsible == row_window


def merge_windows(
    windows: Sequence[Window],
    per_window: Sequence[Sequence[Tuple[Entity, float]]],
) -> List[Tuple[Entity, float]]:
    """Window-local scored entities -> record-level scored entities (rule in the module doc)."""
    if len(windows) != len(per_window):
        raise ValueError(f"{len(windows)} windows but predictions for {len(per_window)}.")
    if not windows:
        return []
    _check_windows(windows)
    labels = sorted({ent.label for preds in per_window for ent, _ in preds})
    index = {name: i for i, name in enumerate(labels)}
    rows = [
        (w, e.start, e.end, index[e.label], float(sc))
        for w, preds in enumerate(per_window)
        for e, sc in preds
    ]
    if not rows:
        return []
    row_window, row_start, row_end, row_label, row_score = zip(*rows, strict=True)
    n = len(windows)
    start, end, keep = responsible_windows(
        np.zeros(n),
        [s for s, _ in windows],
        [e for _, e in windows],
        [windows[-1][1]],
        row_window,
        row_start,
        row_end,
    )
    merged = SpanArrays.build(
        1, np.zeros(len(rows)), start, end, row_label, row_score, labels, keep=keep
    )
    return merged.entities()[0]
