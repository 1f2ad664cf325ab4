"""Long texts: overlapping character windows, and merging their entities back.

``split_windows`` cuts ``[0, length)`` into windows of ``max_chars`` characters
whose neighbours share ``overlap`` characters (the last window is moved left
to end at the text's end, so it may share more).

``merge_windows`` maps window-local predictions to record coordinates and keeps
each entity from exactly one window. Definitions:

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

from typing import Dict, List, Sequence, Set, Tuple

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
    n = len(windows)
    length = windows[-1][1]
    starts = [s for s, _ in windows]
    ends = [e for _, e in windows]
    # bounds[i] is the first character owned by window i; window i owns [bounds[i], bounds[i+1]).
    bounds = [0] + [(starts[i + 1] + ends[i]) // 2 for i in range(n - 1)] + [length]

    def owner(pos: int) -> int:
        i = 0
        while bounds[i + 1] <= pos:
            i += 1
        return i

    def whole(i: int, s: int, e: int) -> bool:
        ws, we = windows[i]
        return (s > ws or ws == 0) and (e < we - 1 or we == length)

    def responsible(s: int, e: int) -> int:
        own = owner(s)
        containing = [i for i in range(n) if starts[i] <= s and e < ends[i]]
        seen_whole = [i for i in containing if whole(i, s, e)]
        pool = seen_whole or containing
        return min(pool, key=lambda i: (abs(i - own), i))

    best: Dict[Entity, float] = {}  # highest score of each entity, over all windows
    kept: Set[Entity] = set()  # entities predicted by their responsible window
    decided: Dict[Tuple[int, int], int] = {}
    for w, ((ws, we), preds) in enumerate(zip(windows, per_window, strict=True)):
        size = we - ws
        for ent, score in preds:
            if not 0 <= ent.start <= ent.end < size:
                raise ValueError(
                    f"window {w} ({ws}, {we}): entity {tuple(ent)} is outside the window's "
                    f"{size} characters; predictions must be in window coordinates."
                )
            s, e = ent.start + ws, ent.end + ws
            glob = Entity(s, e, ent.label)
            score = float(score)
            if glob not in best or score > best[glob]:
                best[glob] = score
            key = (s, e)
            if key not in decided:
                decided[key] = responsible(s, e)
            if decided[key] == w:
                kept.add(glob)
    return [(ent, best[ent]) for ent in sorted(kept)]
