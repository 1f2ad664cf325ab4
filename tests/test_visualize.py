"""Entity HTML pages: structure, tracks, gold marks, escaping, and a headless render."""

from __future__ import annotations

import itertools
import random
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest

from nerkit.errors import DataError
from nerkit.types import CMEEE_LABELS, Entity
from nerkit.visualize import (
    LABEL_INFO,
    NAV_PAGE,
    assign_tracks,
    render_html,
    write_html,
)

E = Entity
# 年长儿可诉头痛、关节和肌肉酸痛、乏力等: nested sym over two bod spans.
TEXT = "年长儿可诉头痛、关节和肌肉酸痛、乏力等，可有腹泻。"
GOLD = [E(5, 6, "sym"), E(8, 9, "bod"), E(11, 12, "bod"), E(8, 14, "sym"), E(16, 17, "sym")]
PRED = [E(5, 6, "sym"), E(8, 9, "bod"), E(8, 14, "sym"), E(16, 17, "dis"), E(22, 23, "sym")]


class Page(HTMLParser):
    """Collects entity bars, bar slices, records and each record's displayed characters."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: List[str] = []
        self.ents: List[Dict[str, str]] = []  # attrs of each .ent, plus "record"
        self.segs: List[Dict[str, str]] = []  # attrs of each .seg, plus "record", "pos"
        self.records: List[Dict[str, str]] = []
        self.chars: Dict[int, List[str]] = {}  # record -> characters of its cells
        self.external: List[str] = []
        self._stack: List[List[str]] = []
        self._record = -1
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        self.tags.append(tag)
        for key in ("src", "href"):
            if key in a and not a[key].startswith("#"):
                self.external.append(a[key])
        if tag == "section" and "rec" in classes:
            self._record = int(a["data-index"])
            self.records.append(a)
            self.chars[self._record] = []
        if "c" in classes:
            self.chars[self._record].append("")
        if "ent" in classes:
            self.ents.append({**a, "record": self._record})
        if "seg" in classes:
            self.segs.append(
                {**a, "record": self._record, "pos": len(self.chars[self._record]) - 1}
            )
        self._stack.append(classes)

    def handle_endtag(self, tag):
        self._stack.pop()

    def handle_data(self, data):
        if self._stack and "c" in self._stack[-1]:  # text directly in a character cell
            self.chars[self._record][-1] += data


def ent_tuples(page: Page, record: int = 0) -> set:
    return {
        (int(a["data-start"]), int(a["data-end"]), a["data-label"])
        for a in page.ents
        if a["record"] == record
    }


def classes_of(attrs: Dict[str, str]) -> List[str]:
    return attrs["class"].split()


# ---------------------------------------------------------------- tracks


def test_assign_tracks_hand_cases():
    # outer (0, 9) first, nested ones below it, disjoint later span back on row 0
    assert assign_tracks([(2, 3), (0, 9), (5, 6), (12, 13)]) == [1, 0, 1, 0]
    # identical spans (same span, two types) never share a row
    assert assign_tracks([(4, 6), (4, 6)]) == [0, 1]
    # adjacent spans share a row; with a 2-char tag a 1-char span blocks its neighbour
    assert assign_tracks([(0, 0), (1, 1)]) == [0, 0]
    assert assign_tracks([(0, 0), (1, 1)], min_width=2) == [0, 1]
    assert assign_tracks([]) == []


def test_assign_tracks_optimal_brute_force():
    rng = random.Random(0)
    for _ in range(300):
        spans = []
        for _ in range(rng.randint(1, 8)):
            s = rng.randint(0, 15)
            spans.append((s, s + rng.randint(0, 5)))
        width = rng.choice([1, 2])
        tracks = assign_tracks(spans, width)
        ext = [(s, max(e, s + width - 1)) for s, e in spans]
        # no two overlapping extents share a row ...
        for (i, a), (j, b) in itertools.combinations(enumerate(ext), 2):
            if a[0] <= b[1] and b[0] <= a[1]:
                assert tracks[i] != tracks[j], (spans, tracks)
        # ... and the rows used are as few as the deepest overlap allows
        depth = max(sum(s <= p <= e for s, e in ext) for p in range(0, 25))
        assert max(tracks) + 1 == depth


def test_tags_of_one_character_entities_do_not_reach_the_next_bar_of_their_row():
    """The issue's case: a one-character entity's tag ("bod ✓") is wider than two CJK cells, and
    far wider than two Latin letters, so it ran into a bar that starts two characters later."""
    from unicodedata import east_asian_width

    from nerkit.visualize import _NARROW_MIN_PX, _TAG_EXTRA_PX, _TAG_GLYPH_PX, _WIDE_PX, tag_cells

    assert tag_cells("头痛发热乏力", 0, "bod") == 2  # 29px of tag: two 17px cells
    assert tag_cells("头痛发热乏力", 0, "bod ✓") == 3  # 43px: three
    assert tag_cells("CT ab 12", 0, "bod ✓") == 8  # 6px a Latin cell at least: all eight
    assert tag_cells("头", 0, "bod ✓") == 2  # at the end of the text: nothing to reach

    text = "头痛伴C反应蛋白升高，T波倒置。"
    gold = [E(0, 0, "bod"), E(2, 2, "sym"), E(3, 3, "ite"), E(5, 5, "ite"), E(11, 11, "ite")]
    pred = [E(0, 0, "bod"), E(3, 3, "ite"), E(12, 12, "sym")]
    page = Page(render_html([text], [pred], [gold]))
    rows: Dict[int, List[Tuple[int, int, str]]] = {}
    for ent in page.ents:
        tag = (
            ent["data-label"]
            + {"correct": " ✓", "missed": " −", "spurious": " +"}[ent["data-status"]]
        )
        rows.setdefault(int(ent["data-track"]), []).append(
            (int(ent["data-start"]), int(ent["data-end"]), tag)
        )
    cell = [_WIDE_PX if east_asian_width(ch) in ("W", "F") else _NARROW_MIN_PX for ch in text]
    for bars in rows.values():
        bars.sort()
        for (start, end, tag), (next_start, _, _) in zip(bars, bars[1:], strict=False):
            room = sum(cell[start:next_start])  # px from this bar's start to the next one's
            assert next_start > end and room >= len(tag) * _TAG_GLYPH_PX + _TAG_EXTRA_PX, (
                tag,
                bars,
            )
    assert len(rows) > 1  # the tags pushed neighbours onto other rows


# ---------------------------------------------------------------- structure


def test_bars_without_gold():
    page = Page(render_html([TEXT], [PRED]))
    assert len(page.ents) == len(PRED)
    assert ent_tuples(page) == set(PRED)
    assert {a["data-status"] for a in page.ents} == {"predicted"}
    # one slice per further character of each entity, on the entity's own row
    assert len(page.segs) == sum(e.end - e.start for e in PRED)
    track = {(int(a["data-start"]), a["data-label"]): a["data-track"] for a in page.ents}
    for seg in page.segs:
        owner = [
            e
            for e in PRED
            if e.start < seg["pos"] <= e.end and f"t{track[e.start, e.label]}" in classes_of(seg)
        ]
        assert owner, seg
    # the characters shown are the text, one cell per character
    assert "".join(page.chars[0]) == TEXT and len(page.chars[0]) == len(TEXT)
    # label tag text and legend
    html = render_html([TEXT], [PRED])
    for code, (zh, en, colour) in LABEL_INFO.items():
        assert code in html and zh in html and en in html and colour in html
    assert "✓" not in re.sub(r"<style>.*</style>", "", html, flags=re.S).split("<main>")[1]


def test_nested_entities_on_different_tracks():
    page = Page(render_html([TEXT], [GOLD]))
    track = {(int(a["data-start"]), int(a["data-end"])): int(a["data-track"]) for a in page.ents}
    assert track[8, 14] != track[8, 9] and track[8, 14] != track[11, 12]
    assert track[8, 14] == 0  # the outer span is on the row nearest the text
    assert track[8, 9] == track[11, 12] == 1  # disjoint nested spans share a row
    assert track[5, 6] == track[16, 17] == 0
    assert page.records[0]["id"] == "rec-0"


def test_gold_statuses_and_counts():
    html = render_html([TEXT], [PRED], [GOLD])
    page = Page(html)
    status = {
        (int(a["data-start"]), int(a["data-end"]), a["data-label"]): a["data-status"]
        for a in page.ents
    }
    assert status == {
        (5, 6, "sym"): "correct",
        (8, 9, "bod"): "correct",
        (8, 14, "sym"): "correct",
        (11, 12, "bod"): "missed",
        (16, 17, "sym"): "missed",
        (16, 17, "dis"): "spurious",
        (22, 23, "sym"): "spurious",
    }
    # bars carry the status class that styles them (dashed / hatched)
    for a in page.ents:
        assert f"st-{a['data-status']}" in classes_of(a)
    # same span, two types: separate rows
    tracks = {(a["data-label"]): a["data-track"] for a in page.ents if a["data-start"] == "16"}
    assert tracks["sym"] != tracks["dis"]
    # per-record counts and the summary: 3 correct, 2 missed, 2 spurious
    assert "✓ 3 correct" in html and "− 2 missed" in html and "+ 2 spurious" in html
    assert page.records[0]["data-errors"] == "4"
    # micro P = 3/5, R = 3/5, F1 = 0.6 in the "all" row, as percentages (as on the CLI)
    assert re.search(
        r"all \(micro\).*?<td>5</td><td>5</td><td>3</td><td>2</td><td>2</td>"
        r"<td>60\.00</td><td>60\.00</td><td>60\.00</td>",
        html,
    )
    # the legend explains the marks and offers filters
    for word in ("dashed outline", "hatched", 'id="fs-missed"', 'id="f-errors"'):
        assert word in html


def test_escaping_and_self_contained():
    evil = 'a<script>alert("x")</script>&b'
    label = '"><img src=x onerror=alert(1)>'
    html = render_html([evil], [[E(1, 8, label)]], title="<b>t</b>", labels=[label])
    page = Page(html)
    assert "script" not in page.tags and "img" not in page.tags
    assert "".join(page.chars[0]) == evil
    assert page.ents[0]["data-label"] == label and ent_tuples(page) == {(1, 8, label)}
    assert "<title>&lt;b&gt;t&lt;/b&gt;</title>" in html
    # a label cannot end the style element from inside a CSS selector
    style = html.split("<style>")[1].split("</style>")[0]
    assert "<" not in style
    assert page.external == [] and "@import" not in html and "url(" not in html


def test_unknown_labels_get_colours_and_legend_entries():
    html = render_html(["肺炎链球菌"], [[E(0, 1, "organ"), E(0, 4, "mic")]], labels=["mic"])
    page = Page(html)
    assert ent_tuples(page) == {(0, 1, "organ"), (0, 4, "mic")}
    assert 'data-legend-label="organ"' in html and 'data-legend-label="mic"' in html
    assert 'data-legend-label="dis"' not in html  # only the labels asked for, plus found ones


def test_empty_records_whitespace_and_indices():
    texts = ["", "无实体。", "a b\nc"]
    html = render_html(texts, [[], [], [E(2, 2, "dru")]], indices=[7, 8, 9])
    page = Page(html)
    assert [r["data-index"] for r in page.records] == ["7", "8", "9"]
    assert "(empty text)" in html and html.count("no entities") == 2
    assert page.chars[7] == []
    # whitespace keeps its cell (positions stay aligned); a newline is shown as ↵
    assert page.chars[9] == ["a", " ", "b", "↵", "c"]
    assert ent_tuples(page, 9) == {(2, 2, "dru")}


def test_many_records_all_shown_with_jump_list():
    n = NAV_PAGE * 2 + 5
    texts = [f"病例{i}" for i in range(n)]
    preds = [[E(0, 1, "dis")] if i % 2 else [] for i in range(n)]
    html = render_html(texts, preds)
    page = Page(html)
    assert len(page.records) == n and len(page.ents) == (n // 2)
    assert f'<a href="#rec-{NAV_PAGE}">{NAV_PAGE}–{2 * NAV_PAGE - 1}</a>' in html
    assert f'id="rec-{n - 1}"' in html
    assert "<nav>" not in render_html(texts[:NAV_PAGE], preds[:NAV_PAGE])


def test_input_errors_name_the_record():
    with pytest.raises(DataError, match="2 texts but 1 predictions"):
        render_html(["a", "b"], [[]])
    with pytest.raises(DataError, match="1 texts but 0 gold"):
        render_html(["a"], [[]], gold=[])
    with pytest.raises(
        DataError, match=r"Record 1, predictions entity 0 \(1, 2, 'sym'\).*length 2"
    ):
        render_html(["ab", "cd"], [[], [E(1, 2, "sym")]])
    with pytest.raises(DataError, match=r"Record 0, gold entity 1 .*start <= end"):
        render_html(["abc"], [[]], [[E(0, 0, "sym"), E(2, 1, "sym")]])
    with pytest.raises(DataError, match="Record 0, predictions entity 0: expected Entity"):
        render_html(["abc"], [[(0, 1)]])


def test_write_html(tmp_path):
    out = write_html(tmp_path / "sub" / "page.html", [TEXT], [PRED], [GOLD], title="t")
    assert out == tmp_path / "sub" / "page.html"
    assert out.read_text("utf-8") == render_html([TEXT], [PRED], [GOLD], title="t")


def test_real_dev_records(shared_data):
    import json

    records = json.loads((shared_data / "cmeee" / "CMeEE_dev.json").read_text("utf-8"))[:200]
    texts = [r["text"] for r in records]
    gold = [[E(e["start_idx"], e["end_idx"], e["type"]) for e in r["entities"]] for r in records]
    page = Page(render_html(texts, gold, gold))
    assert len(page.ents) == sum(len(set(g)) for g in gold)
    assert {a["data-status"] for a in page.ents} == {"correct"}
    for i, text in enumerate(texts):
        assert ent_tuples(page, i) == set(gold[i])
        shown = page.chars[i]
        assert len(shown) == len(text)
        assert all(a == b for a, b in zip(shown, text, strict=True) if b.isprintable())


# ---------------------------------------------------------------- headless Chromium

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's `chromium` package on PATH (apt-get install chromium)"
)


def chromium(tmp_path: Path, html_file: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,800",
        *args, html_file.as_uri(),
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def screenshot(tmp_path: Path, html_file: Path) -> np.ndarray:
    import matplotlib.image

    png = html_file.with_suffix(".png")
    chromium(tmp_path, html_file, f"--screenshot={png}")
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rgb = matplotlib.image.imread(png)[..., :3]
    assert rgb.shape == (800, 1200, 3)
    return rgb


def count_colour(rgb: np.ndarray, hex_colour: str) -> int:
    target = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(rgb - target).max(axis=-1) < 2.5 / 255).sum())


@needs_chromium
def test_chromium_draws_bars(tmp_path):
    sym, bod = LABEL_INFO["sym"][2], LABEL_INFO["bod"][2]
    texts, preds = [TEXT] * 3, [PRED] * 3
    page = write_html(tmp_path / "page.html", texts, preds, [GOLD] * 3)
    empty = write_html(tmp_path / "empty.html", texts, [[]] * 3, [[]] * 3)
    no_sym = tmp_path / "no_sym.html"  # the legend's sym checkbox unticked: CSS hides sym bars
    sym_box = f'id="fl{CMEEE_LABELS.index("sym")}" checked'
    no_sym.write_text(
        page.read_text("utf-8").replace(sym_box, f'id="fl{CMEEE_LABELS.index("sym")}"')
    )

    drawn, legend_only, filtered = (screenshot(tmp_path, p) for p in (page, empty, no_sym))
    # The legend alone shows a little of each colour; the bars add far more.
    # Solid sym bars per record: (5,6) and (8,14) -> 9 chars x 17 px x 13 px ~ 2000 px.
    assert count_colour(legend_only, sym) > 100
    assert count_colour(drawn, sym) > count_colour(legend_only, sym) + 3 * 1000
    assert count_colour(drawn, bod) > count_colour(legend_only, bod) + 3 * 150
    assert count_colour(filtered, sym) < count_colour(legend_only, sym) + 300
    assert count_colour(filtered, bod) > count_colour(legend_only, bod) + 3 * 150

    dom = chromium(tmp_path, page, "--dump-dom").stdout
    assert (
        dom.count('class="g ')
        == len(Page(page.read_text("utf-8")).ents) + len(Page(page.read_text("utf-8")).segs) + 3
    )  # + the three status samples in the legend
    assert len(re.findall(r'<i class="[^"]*\bent\b[^"]*" data-label=', dom)) == 3 * 7
    assert 'data-status="missed"' in dom and 'data-status="spurious"' in dom
