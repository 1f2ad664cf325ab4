"""Long-text windows: covering splits, and merging window predictions back."""

from __future__ import annotations

import random

import pytest

from nerkit.data.windows import clip_entities, merge_windows, responsible_windows, split_windows
from nerkit.types import Entity


def check_cover(windows, length, max_chars, overlap):
    covered = [0] * length
    for s, e in windows:
        assert 0 <= s < e <= length and e - s <= max_chars
        for i in range(s, e):
            covered[i] += 1
    assert all(covered), "every character is in a window"
    for (s1, e1), (s2, e2) in zip(windows, windows[1:], strict=False):
        assert s1 < s2 and e1 < e2 and e1 - s2 >= overlap


@pytest.mark.parametrize(
    "length, expected",
    [
        (0, []),
        (1, [(0, 1)]),
        (510, [(0, 510)]),
        (511, [(0, 510), (1, 511)]),
        (956, [(0, 510), (446, 956)]),
        (957, [(0, 510), (446, 956), (447, 957)]),
        (2078, [(0, 510), (446, 956), (892, 1402), (1338, 1848), (1568, 2078)]),
    ],
)
def test_split_windows_hand_computed(length, expected):
    windows = split_windows(length, 510, 64)
    assert windows == expected
    check_cover(windows, length, 510, 64)


def test_split_windows_no_overlap_and_random_cover():
    assert split_windows(10, 5, 0) == [(0, 5), (5, 10)]
    assert split_windows(11, 5, 0) == [(0, 5), (5, 10), (6, 11)]
    rng = random.Random(0)
    for _ in range(300):
        max_chars = rng.randint(1, 40)
        overlap = rng.randint(0, max_chars - 1)
        length = rng.randint(0, 200)
        windows = split_windows(length, max_chars, overlap)
        check_cover(windows, length, max_chars, overlap)
        if length > max_chars:
            assert all(e - s == max_chars for s, e in windows) and windows[-1][1] == length


@pytest.mark.parametrize("max_chars, overlap", [(10, 10), (10, -1), (0, 0), (5, 7)])
def test_split_windows_rejects_bad_overlap(max_chars, overlap):
    with pytest.raises(ValueError, match="max_chars"):
        split_windows(100, max_chars, overlap)


def test_clip_entities():
    ents = [Entity(0, 2, "a"), Entity(5, 7, "b"), Entity(8, 12, "c"), Entity(11, 11, "d")]
    assert clip_entities(ents, 5, 12) == [Entity(0, 2, "b"), Entity(6, 6, "d")]


# Two windows over 16 characters: A = [0, 10), B = [6, 16); overlap [6, 10),
# A owns [0, 8), B owns [8, 16). Cut edges: A's char 9, B's char 6.
WINDOWS = [(0, 10), (6, 16)]


def local(ent: Entity, window) -> Entity:
    return ent.shift(-window[0])


def test_entity_in_overlap_kept_once_with_max_score():
    e1, e2 = Entity(7, 8, "sym"), Entity(8, 8, "bod")  # owned by A and by B respectively
    per_window = [
        [(local(e1, WINDOWS[0]), 0.6), (local(e2, WINDOWS[0]), 0.7)],
        [(local(e1, WINDOWS[1]), 0.9), (local(e2, WINDOWS[1]), 0.5)],
    ]
    assert merge_windows(WINDOWS, per_window) == [(e1, 0.9), (e2, 0.7)]
    # seen by its owner only: kept; seen only by the window that does not own its start: dropped
    assert merge_windows(WINDOWS, [[(local(e1, WINDOWS[0]), 0.6)], []]) == [(e1, 0.6)]
    assert merge_windows(WINDOWS, [[], [(local(e1, WINDOWS[1]), 0.6)]]) == []


def test_entity_across_boundary_taken_where_whole():
    gold = Entity(7, 11, "dis")  # starts in A's part, but A sees it cut at its edge (7..9)
    per_window = [[(Entity(7, 9, "dis"), 0.8)], [(local(gold, WINDOWS[1]), 0.7)]]
    assert merge_windows(WINDOWS, per_window) == [(gold, 0.7)]
    gold = Entity(4, 7, "sym")  # B sees it cut at its left edge (6..7): A's copy wins
    per_window = [[(gold, 0.8)], [(Entity(0, 1, "sym"), 0.9)]]
    assert merge_windows(WINDOWS, per_window) == [(gold, 0.8)]


def test_text_edges_are_not_cut_edges():
    first, last = Entity(0, 3, "bod"), Entity(12, 15, "bod")
    per_window = [[(first, 0.5)], [(local(last, WINDOWS[1]), 0.5)]]
    assert merge_windows(WINDOWS, per_window) == [(first, 0.5), (last, 0.5)]


def test_entity_longer_than_overlap_kept_as_predicted():
    # [4..12] covers the whole overlap: no window sees it whole; each piece is kept once.
    per_window = [[(Entity(4, 9, "sym"), 0.5)], [(Entity(0, 6, "sym"), 0.5)]]
    assert merge_windows(WINDOWS, per_window) == [
        (Entity(4, 9, "sym"), 0.5),
        (Entity(6, 12, "sym"), 0.5),
    ]


def test_single_window_and_sorting_and_duplicates():
    per_window = [
        [
            (Entity(3, 4, "b"), 0.2),
            (Entity(1, 2, "a"), 0.4),
            (Entity(3, 4, "b"), 0.6),
            (Entity(3, 4, "a"), 0.1),
        ]
    ]
    assert merge_windows([(0, 5)], per_window) == [
        (Entity(1, 2, "a"), 0.4),
        (Entity(3, 4, "a"), 0.1),
        (Entity(3, 4, "b"), 0.6),
    ]
    assert merge_windows([], []) == []


def test_merge_rejects_bad_input():
    with pytest.raises(ValueError, match="2 windows but predictions for 1"):
        merge_windows(WINDOWS, [[]])
    with pytest.raises(ValueError, match="outside the window"):
        merge_windows(WINDOWS, [[(Entity(8, 10, "a"), 1.0)], []])
    with pytest.raises(ValueError, match="does not follow"):
        merge_windows([(0, 10), (12, 20)], [[], []])


def whole_somewhere(ent: Entity, windows, length: int) -> bool:
    return any(
        s <= ent.start
        and ent.end < e
        and (ent.start > s or s == 0)
        and (ent.end < e - 1 or e == length)
        for s, e in windows
    )


def perfect_model(gold, windows):
    """What a perfect model sees: every entity overlapping the window, cut to the window."""
    out = []
    for s, e in windows:
        preds = []
        for g in gold:
            a, b = max(g.start, s), min(g.end, e - 1)
            if a <= b:
                preds.append((Entity(a - s, b - s, g.label), 1.0))
        out.append(preds)
    return out


def test_perfect_predictions_recover_gold_exactly():
    """Brute force: truncated copies are dropped, every entity seen whole is kept once."""
    rng = random.Random(1)
    checked = 0
    for _ in range(400):
        max_chars = rng.randint(3, 30)
        overlap = rng.randint(1, max_chars - 1)
        length = rng.randint(1, 120)
        windows = split_windows(length, max_chars, overlap)
        gold = set()
        for _ in range(rng.randint(0, 12)):
            start = rng.randrange(length)
            end = min(length - 1, start + rng.randint(0, 8))
            gold.add(Entity(start, end, rng.choice("xyz")))
        gold = {g for g in gold if whole_somewhere(g, windows, length)}
        merged = merge_windows(windows, perfect_model(gold, windows))
        assert [e for e, _ in merged] == sorted(gold)
        checked += len(gold)
    assert checked > 500


def test_2078_chars_with_entities_at_every_boundary():
    length = 2078
    windows = split_windows(length, 510, 64)
    gold = set()
    for (_, e1), (s2, _) in zip(windows, windows[1:], strict=False):
        mid = (s2 + e1) // 2
        gold |= {
            Entity(mid - 3, mid + 3, "sym"),
            Entity(e1 - 2, e1 + 5, "dis"),
            Entity(s2 - 5, s2 + 1, "bod"),
        }
    gold |= {Entity(0, 0, "bod"), Entity(2077, 2077, "dis"), Entity(1000, 1020, "pro")}
    merged = merge_windows(windows, perfect_model(gold, windows))
    assert [e for e, _ in merged] == sorted(gold)


def reference_merge(windows, per_window):
    """The rule of nerkit.data.windows written out directly, one entity at a time."""
    n, length = len(windows), windows[-1][1] if windows else 0
    bounds = [0] + [(windows[i + 1][0] + windows[i][1]) // 2 for i in range(n - 1)] + [length]

    def whole(i, s, e):
        ws, we = windows[i]
        return (s > ws or ws == 0) and (e < we - 1 or we == length)

    def responsible(s, e):
        own = next(i for i in range(n) if bounds[i] <= s < bounds[i + 1])
        containing = [i for i in range(n) if windows[i][0] <= s and e < windows[i][1]]
        pool = [i for i in containing if whole(i, s, e)] or containing
        return min(pool, key=lambda i: (abs(i - own), i))

    best, kept = {}, set()
    for w, ((ws, _), preds) in enumerate(zip(windows, per_window, strict=True)):
        for ent, score in preds:
            glob = Entity(ent.start + ws, ent.end + ws, ent.label)
            best[glob] = max(score, best.get(glob, score))
            if responsible(glob.start, glob.end) == w:
                kept.add(glob)
    return [(ent, best[ent]) for ent in sorted(kept)]


def random_predictions(rng, windows):
    """Noisy window predictions: spans anywhere (edges included), duplicates, any score."""
    out = []
    for s, e in windows:
        preds = []
        for _ in range(rng.randint(0, 10)):
            a = rng.randrange(e - s)
            b = min(e - s - 1, a + rng.choice([0, 1, 2, 5, 40]))
            if rng.random() < 0.3:
                b = e - s - 1  # touch the window's end
            if rng.random() < 0.2:
                a = 0  # touch its start
            preds.append((Entity(a, max(a, b), rng.choice("xyz")), round(rng.random(), 3)))
        out.append(preds + preds[: rng.randint(0, 2)])
    return out


def test_vectorised_merge_equals_reference():
    rng = random.Random(7)
    kept = 0
    for _ in range(600):
        max_chars = rng.randint(2, 30)
        overlap = rng.randint(0, max_chars - 1)
        windows = split_windows(rng.randint(1, 150), max_chars, overlap)
        per_window = random_predictions(rng, windows)
        got = merge_windows(windows, per_window)
        assert got == reference_merge(windows, per_window)
        kept += len(got)
    assert kept > 2000


def test_responsible_windows_over_many_records_at_once():
    """One call over records laid end to end (empty ones included) = one merge per record."""
    rng = random.Random(3)
    max_chars, overlap = 12, 5
    lengths = [rng.choice([0, 1, 5, 12, 13, 30, 47]) for _ in range(60)]
    win_rec, win_start, win_end, rows, expected = [], [], [], [], {}
    for r, n in enumerate(lengths):
        windows = split_windows(n, max_chars, overlap)
        per_window = random_predictions(rng, windows)
        for (s, e), preds in zip(windows, per_window, strict=True):
            rows += [(len(win_rec), ent, score) for ent, score in preds]
            win_rec.append(r)
            win_start.append(s)
            win_end.append(e)
        expected[r] = reference_merge(windows, per_window)
    start, end, keep = responsible_windows(
        win_rec,
        win_start,
        win_end,
        lengths,
        [w for w, _, _ in rows],
        [e.start for _, e, _ in rows],
        [e.end for _, e, _ in rows],
    )
    got = {r: set() for r in range(len(lengths))}
    for (w, ent, _), s, e, k in zip(rows, start.tolist(), end.tolist(), keep.tolist(), strict=True):
        if k:
            got[win_rec[w]].add(Entity(s, e, ent.label))
    assert got == {r: {e for e, _ in exp} for r, exp in expected.items()}
    assert sum(map(len, got.values())) > 200
