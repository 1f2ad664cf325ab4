"""Render texts with (nested) entities as one self-contained HTML page.

The layout follows displaCy's span view: every character is a cell, and each
entity is a horizontal bar in a row (a *track*) under the characters it
covers. Overlapping entities get different tracks (greedy interval
colouring), so ``sym`` spans stay readable above the ``bod`` spans nested in
them. With gold entities every bar is marked ``correct`` (predicted and
gold), ``missed`` (gold only) or ``spurious`` (predicted only).

The page has no scripts and fetches nothing: styles are inline and the
legend's filters are plain checkboxes driven by CSS ``:has()``.

Structure (stable, used by tests and tools): every entity has exactly one
element with class ``ent`` carrying ``data-label``, ``data-start``,
``data-end`` (inclusive), ``data-status`` (``predicted`` without gold) and
``data-track``; the characters it covers after the first hold plain ``seg``
slices of the same bar. Records are ``<section class="rec" id="rec-N"
data-index="N">``.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union
from unicodedata import east_asian_width

from .errors import DataError
from .types import CMEEE_LABELS, Entity

# code -> (Chinese name, English name, colour). Fixed so pages are comparable.
LABEL_INFO: Dict[str, Tuple[str, str, str]] = {
    "dis": ("疾病", "disease", "#e15759"),
    "sym": ("临床表现", "clinical manifestation", "#f28e2b"),
    "pro": ("医疗程序", "medical procedure", "#4e79a7"),
    "equ": ("医疗设备", "medical equipment", "#9c755f"),
    "dru": ("药物", "drug", "#59a14f"),
    "ite": ("医学检验项目", "lab-test item", "#76b7b2"),
    "bod": ("身体", "body part", "#edc948"),
    "dep": ("科室", "department", "#ff9da7"),
    "mic": ("微生物类", "microorganism", "#b07aa1"),
}
# Colours for labels outside LABEL_INFO, assigned in order of first use.
EXTRA_COLOURS = ("#8cd17d", "#a0cbe8", "#d37295", "#86bcb6", "#f1ce63", "#bab0ac", "#499894")

STATUSES = ("correct", "missed", "spurious")
STATUS_MARK = {"correct": "✓", "missed": "−", "spurious": "+", "predicted": ""}
STATUS_HELP = {
    "correct": "predicted and gold (same start, end and type)",
    "missed": "gold only: the model did not predict it (dashed outline)",
    "spurious": "predicted only: not in the gold data (hatched, red border)",
}
TAG_CHARS = 2
"""Fewest characters reserved after a bar's start for its label tag (see ``tag_cells``)."""

NAV_PAGE = 100
"""Records per entry of the jump list shown above long pages."""

# Geometry, in px.
_CHAR_H = 26
_BAR_H = 13
_BAR_GAP = 3
# Bounds for reserving room for a label tag, so that a tag never runs into the next bar of its
# row: a wide (CJK) character's cell is exactly 1em (17px), any other cell is at least its
# min-width (6px); a tag glyph (600 10px) is at most 7px wide, plus its 2px offset, 4px padding
# and a 2px gap.
_WIDE_PX = 17
_NARROW_MIN_PX = 6
_TAG_GLYPH_PX = 7
_TAG_EXTRA_PX = 8


@dataclass(frozen=True)
class _Bar:
    entity: Entity
    status: str  # correct / missed / spurious, or "predicted" without gold
    track: int


def tag_cells(text: str, start: int, tag: str) -> int:
    """Characters from ``start`` that the label ``tag`` may cover (at least ``TAG_CHARS``).

    A conservative bound: narrow characters (Latin letters, digits) are thinner than a
    tag, so a tag over them needs more of them than over CJK characters."""
    need = len(tag) * _TAG_GLYPH_PX + _TAG_EXTRA_PX
    cells = width = 0
    for ch in text[start:]:
        if width >= need:
            break
        width += _WIDE_PX if east_asian_width(ch) in ("W", "F") else _NARROW_MIN_PX
        cells += 1
    return max(cells, TAG_CHARS)


def _tag_text(label: str, status: str) -> str:
    mark = STATUS_MARK[status]
    return f"{label} {mark}" if mark else label


def assign_tracks(
    spans: Sequence[Tuple[int, int]], min_width: Union[int, Sequence[int]] = 1
) -> List[int]:
    """Give each inclusive ``(start, end)`` span the lowest row free over its extent.

    A span occupies ``[start, max(end, start + min_width - 1)]`` (room for its
    label tag; ``min_width`` is one number for all spans or one per span). Spans are placed by start, longer first, so an outer entity gets
    a lower row than the ones nested in it. Placing intervals in start order on
    the first free row uses the fewest rows possible (the largest number of
    spans over one position). Returns the rows in the input order.
    """
    order = sorted(range(len(spans)), key=lambda i: (spans[i][0], -spans[i][1], i))
    row_end: List[int] = []  # last occupied position of each row
    tracks = [0] * len(spans)
    widths = [min_width] * len(spans) if isinstance(min_width, int) else list(min_width)
    for i in order:
        start, end = spans[i]
        stop = max(end, start + widths[i] - 1)
        for row, last in enumerate(row_end):
            if last < start:
                row_end[row] = stop
                tracks[i] = row
                break
        else:
            tracks[i] = len(row_end)
            row_end.append(stop)
    return tracks


def render_html(
    texts: Sequence[str],
    predictions: Sequence[Sequence[Entity]],
    gold: Optional[Sequence[Sequence[Entity]]] = None,
    title: str = "nerkit",
    labels: Sequence[str] = CMEEE_LABELS,
    indices: Optional[Sequence[int]] = None,
) -> str:
    """One HTML page showing every record's text with its entities as stacked bars.

    ``predictions[i]`` (and ``gold[i]``) are the entities of ``texts[i]``
    (``Entity(start, end, label)``, ``end`` inclusive; plain 3-tuples work too).
    ``labels`` sets the legend's order; labels found in the data but not listed
    are appended. ``indices`` are the record numbers shown (default 0..n-1),
    for pages that show a subset of a file.
    """
    n = len(texts)
    _check_lengths(n, predictions, "predictions")
    if gold is not None:
        _check_lengths(n, gold, "gold")
    if indices is None:
        indices = range(n)
    elif len(indices) != n:
        raise DataError(
            f"render_html got {n} texts but {len(indices)} indices; pass one record "
            "number per text, or leave indices out to number them 0..n-1."
        )

    records: List[Tuple[int, str, List[_Bar]]] = []
    for pos in range(n):
        idx = int(indices[pos])
        text = texts[pos]
        if not isinstance(text, str):
            raise DataError(f"Record {idx}: the text is a {type(text).__name__}, not a str.")
        pred = _entities(predictions[pos], text, idx, "predictions")
        if gold is None:
            bars = [(e, "predicted") for e in sorted(pred)]
        else:
            ref = _entities(gold[pos], text, idx, "gold")
            bars = [
                (e, "correct" if e in pred and e in ref else "missed" if e in ref else "spurious")
                for e in sorted(pred | ref)
            ]
        widths = [tag_cells(text, e.start, _tag_text(e.label, s)) for e, s in bars]
        tracks = assign_tracks([(e.start, e.end) for e, _ in bars], widths)
        records.append((idx, text, [_Bar(e, s, t) for (e, s), t in zip(bars, tracks, strict=True)]))

    legend_labels = list(dict.fromkeys(labels))
    for _, _, bars in records:
        for bar in bars:
            if bar.entity.label not in legend_labels:
                legend_labels.append(bar.entity.label)
    colours = _colours(legend_labels)
    label_class = {label: f"L{i}" for i, label in enumerate(legend_labels)}
    max_tracks = max((b.track + 1 for _, _, bars in records for b in bars), default=0)

    parts = [
        '<!DOCTYPE html>\n<html lang="zh">\n<head>\n<meta charset="utf-8">\n',
        f"<title>{_esc(title)}</title>\n<style>\n",
        _css(legend_labels, colours, label_class, max_tracks, gold is not None),
        "</style>\n</head>\n<body>\n",
        f"<h1>{_esc(title)}</h1>\n",
        _summary(records, legend_labels, label_class, gold is not None),
        _legend(legend_labels, label_class, gold is not None),
        _nav([idx for idx, _, _ in records]),
        "<main>\n",
    ]
    for idx, text, bars in records:
        parts.append(_record(idx, text, bars, label_class, gold is not None))
    parts.append("</main>\n</body>\n</html>\n")
    return "".join(parts)


def write_html(path: Union[str, Path], *args: Any, **kwargs: Any) -> Path:
    """Write :func:`render_html`'s page (the same arguments after ``path``) to ``path``
    (UTF-8, parent folders created)."""
    path = Path(path)
    page = render_html(*args, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


# ---------------------------------------------------------------- validation


def _check_lengths(n: int, lists: Sequence, name: str) -> None:
    if len(lists) != n:
        raise DataError(
            f"render_html got {n} texts but {len(lists)} {name} lists; pass one list of "
            "entities per text, in the same order (an empty list for a record without "
            "entities)."
        )


def _entities(items: Iterable, text: str, idx: int, name: str) -> set:
    out = set()
    for k, item in enumerate(items):
        try:
            start, end, label = item
        except (TypeError, ValueError):
            raise DataError(
                f"Record {idx}, {name} entity {k}: expected Entity(start, end, label), "
                f"got {item!r}."
            ) from None
        if not isinstance(label, str) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in (start, end)
        ):
            raise DataError(
                f"Record {idx}, {name} entity {k} {tuple(item)!r}: start and end must be "
                "ints and label a str."
            )
        if not 0 <= start <= end < len(text):
            raise DataError(
                f"Record {idx}, {name} entity {k} {tuple(item)!r} does not fit the text "
                f"(length {len(text)}): need 0 <= start <= end < {len(text)}, with end "
                "inclusive as in CMeEE. Check that the entities belong to this text and "
                "use inclusive ends (end_idx, not end_idx + 1)."
            )
        out.add(Entity(start, end, label))
    return out


# ---------------------------------------------------------------- pieces


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _css_string(value: str) -> str:
    """A CSS string literal; ``<`` escaped so no value can close the style element."""
    body = "".join(c if c.isalnum() or c in " _-.:" else f"\\{ord(c):x} " for c in value)
    return f'"{body}"'


def _colours(labels: Sequence[str]) -> Dict[str, str]:
    out: Dict[str, str] = {}
    extra = 0
    for label in labels:
        if label in LABEL_INFO:
            out[label] = LABEL_INFO[label][2]
        else:
            out[label] = EXTRA_COLOURS[extra % len(EXTRA_COLOURS)]
            extra += 1
    return out


def _rgb(colour: str) -> Tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _ink(colour: str) -> str:
    """Black or white, whichever reads better on ``colour`` (WCAG luminance)."""
    lin = [c / 255 for c in _rgb(colour)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in lin]
    lum = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    return "#111" if (lum + 0.05) / 0.05 > 1.05 / (lum + 0.05) else "#fff"


def _rgba(colour: str, alpha: float) -> str:
    r, g, b = _rgb(colour)
    return f"rgba({r},{g},{b},{alpha})"


def _css(
    labels: Sequence[str],
    colours: Dict[str, str],
    label_class: Dict[str, str],
    max_tracks: int,
    with_gold: bool,
) -> str:
    rows = [
        "body{font-family:system-ui,'Noto Sans CJK SC','WenQuanYi Micro Hei','PingFang SC',"
        "'Microsoft YaHei',sans-serif;margin:16px auto;max-width:1120px;padding:0 12px;"
        "color:#222;background:#fff}",
        "h1{font-size:20px;margin:0 0 8px}",
        "table.sum{border-collapse:collapse;font-size:13px;margin:6px 0 10px}",
        "table.sum td,table.sum th{border:1px solid #ddd;padding:2px 8px;text-align:right}",
        "table.sum th:first-child,table.sum td:first-child{text-align:left}",
        ".legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:13px;margin:6px 0;"
        "align-items:center}",
        ".legend label{display:inline-flex;align-items:center;gap:4px;cursor:pointer}",
        ".sw{display:inline-block;width:26px;height:12px;position:relative}",
        ".note{font-size:12px;color:#666}",
        "nav{font-size:12px;margin:6px 0;line-height:1.8}",
        "nav a{margin-right:8px}",
        # Off-screen records skip layout and paint: pages of thousands stay responsive.
        ".rec{border-top:1px solid #ddd;padding:8px 0 4px;content-visibility:auto;"
        "contain-intrinsic-size:auto 90px}",
        ".rec>header{font-size:12px;color:#555;margin-bottom:2px}",
        ".rec>header a{font-weight:600;color:#333;text-decoration:none;margin-right:8px}",
        ".rec>header .k{margin-right:8px}",
        ".txt{display:flex;flex-wrap:wrap;align-items:flex-start}",
        f".c{{position:relative;display:block;font-size:17px;line-height:{_CHAR_H}px;"
        f"height:{_CHAR_H}px;white-space:pre;min-width:6px;"
        f"padding-bottom:calc(var(--tracks) * {_BAR_H + _BAR_GAP}px + 4px)}}",
        ".c.ws{color:#aaa}",
        # Wide (CJK) characters get a fixed 1em cell: bars line up whatever the font.
        ".c.w{width:1em;text-align:center}",
        f".g{{position:absolute;left:0;right:0;height:{_BAR_H}px;box-sizing:border-box;"
        "z-index:1;display:block}",
        ".g.ent{left:2px;z-index:2}",
        f".g>b{{position:absolute;left:2px;top:0;font:600 10px/{_BAR_H - 2}px "
        "system-ui,sans-serif;white-space:nowrap;z-index:3}",
        ".g.st-missed{background:#fff;border-top:2px dashed;border-bottom:2px dashed}",
        ".g.st-missed.ent,.g.st-missed.edge{border-left:2px dashed}",
        ".g.st-missed.e,.g.st-missed.edge{border-right:2px dashed}",
        ".g.st-spurious{border-top:2px solid #d00;border-bottom:2px solid #d00}",
        ".g.st-spurious.ent,.g.st-spurious.edge{border-left:2px solid #d00}",
        ".g.st-spurious.e,.g.st-spurious.edge{border-right:2px solid #d00}",
        ".g.st-spurious>b,.g.st-missed>b{background:rgba(255,255,255,.85);padding:0 2px;left:1px}",
        ".empty{font-size:12px;color:#999}",
    ]
    for t in range(max(max_tracks, 1)):
        rows.append(f".t{t}{{top:{_CHAR_H + 2 + t * (_BAR_H + _BAR_GAP)}px}}")
    for label in labels:
        cls, col = label_class[label], colours[label]
        ink = _ink(col)
        rows.append(f".{cls}{{background:{col};color:{ink};border-color:{col}}}")
        rows.append(f".{cls}.st-missed{{color:#111;border-color:{col}}}")
        rows.append(
            f".{cls}.st-spurious{{color:#111;background:repeating-linear-gradient(135deg,"
            f"{col} 0 3px,{_rgba(col, 0.25)} 3px 6px)}}"
        )
    # Filters: unticking a legend entry hides its bars (no script needed).
    for i, label in enumerate(labels):
        rows.append(
            f"body:has(#fl{i}:not(:checked)) .rec .{label_class[label]}{{visibility:hidden}}"
        )
    if with_gold:
        for status in STATUSES:
            rows.append(
                f"body:has(#fs-{status}:not(:checked)) .rec .st-{status}{{visibility:hidden}}"
            )
        rows.append('body:has(#f-errors:checked) .rec[data-errors="0"]{display:none}')
    return "\n".join(rows) + "\n"


def _summary(
    records: Sequence[Tuple[int, str, List[_Bar]]],
    labels: Sequence[str],
    label_class: Dict[str, str],
    with_gold: bool,
) -> str:
    n = len(records)
    counts: Counter = Counter()
    for _, _, bars in records:
        for bar in bars:
            counts[bar.entity.label, bar.status] += 1
    if not with_gold:
        total = sum(counts.values())
        cells = "".join(
            f"<tr><td>{_esc(lab)}</td><td>{counts[lab, 'predicted']}</td></tr>"
            for lab in labels
            if counts[lab, "predicted"]
        )
        return (
            f'<p class="note">{n} records, {total} entities.</p>\n'
            f'<table class="sum"><tr><th>type</th><th>entities</th></tr>{cells}</table>\n'
        )

    def row(name: str, c: int, m: int, s: int) -> str:
        p = c / (c + s) if c + s else 0.0
        r = c / (c + m) if c + m else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return (
            f"<tr><td>{name}</td><td>{c + m}</td><td>{c + s}</td><td>{c}</td><td>{m}</td>"
            f"<td>{s}</td><td>{100 * p:.2f}</td><td>{100 * r:.2f}</td><td>{100 * f:.2f}</td></tr>"
        )

    body = [
        '<table class="sum"><tr><th>type</th><th>gold</th><th>predicted</th>'
        "<th>✓ correct</th><th>− missed</th><th>+ spurious</th>"
        "<th>precision %</th><th>recall %</th><th>F1 %</th></tr>"
    ]
    tot = [0, 0, 0]
    for lab in labels:
        c, m, s = (counts[lab, st] for st in STATUSES)
        tot = [tot[0] + c, tot[1] + m, tot[2] + s]
        if c + m + s:  # types absent from both sides would only add rows of zeros
            body.append(row(_esc(lab), c, m, s))
    body.append(row("<b>all (micro)</b>", *tot))
    body.append("</table>\n")
    with_errors = sum(any(b.status != "correct" for b in bars) for _, _, bars in records)
    return (
        f'<p class="note">{n} records, {with_errors} with errors. Strict matching: '
        "an entity is correct when start, end and type all agree.</p>\n" + "".join(body)
    )


def _legend(labels: Sequence[str], label_class: Dict[str, str], with_gold: bool) -> str:
    items = []
    for i, label in enumerate(labels):
        zh, en, _ = LABEL_INFO.get(label, ("", "", ""))
        names = f' {_esc(zh)} <span class="note">{_esc(en)}</span>' if zh else ""
        items.append(
            f'<label><input type="checkbox" id="fl{i}" checked>'
            f'<span class="sw {label_class[label]}" data-legend-label="{_esc(label)}"></span>'
            f"<b>{_esc(label)}</b>{names}</label>"
        )
    out = [f'<div class="legend">{"".join(items)}</div>\n']
    if with_gold:
        marks = []
        for status in STATUSES:
            cls = f"g edge st-{status} {label_class[labels[0]]}" if labels else f"g st-{status}"
            marks.append(
                f'<label title="{_esc(STATUS_HELP[status])}"><input type="checkbox" '
                f'id="fs-{status}" checked><span class="sw"><span class="{cls}" '
                f'style="top:0;left:0"></span></span>{STATUS_MARK[status]} {status} '
                f'<span class="note">{_esc(STATUS_HELP[status])}</span></label>'
            )
        marks.append('<label><input type="checkbox" id="f-errors">only records with errors</label>')
        out.append(f'<div class="legend">{"".join(marks)}</div>\n')
    out.append(
        '<p class="note">Untick an entry to hide its bars. Hover a label tag for '
        "the entity's span and text; ends are inclusive.</p>\n"
    )
    return "".join(out)


def _nav(indices: Sequence[int]) -> str:
    if len(indices) <= NAV_PAGE:
        return ""
    links = [
        f'<a href="#rec-{indices[i]}">{indices[i]}–{indices[min(i + NAV_PAGE, len(indices)) - 1]}</a>'
        for i in range(0, len(indices), NAV_PAGE)
    ]
    return f"<nav>Records: {''.join(links)}</nav>\n"


_VISIBLE_WS = {"\n": "↵", "\r": "␍", "\t": "⇥"}


def _record(
    idx: int, text: str, bars: Sequence[_Bar], label_class: Dict[str, str], with_gold: bool
) -> str:
    tracks = max((b.track + 1 for b in bars), default=0)
    slices: List[List[str]] = [[] for _ in text]
    for bar in bars:
        e = bar.entity
        base = f"g t{bar.track} {label_class[e.label]} st-{bar.status}"
        end_cls = " e" if e.start == e.end else ""
        tag = _esc(_tag_text(e.label, bar.status))
        tip = f"{e.label} [{e.start}, {e.end}] {text[e.start : e.end + 1]}"
        if bar.status != "predicted":
            tip += f" ({bar.status})"
        slices[e.start].append(
            f'<i class="{base} ent{end_cls}" data-label="{_esc(e.label)}" '
            f'data-start="{e.start}" data-end="{e.end}" data-status="{bar.status}" '
            f'data-track="{bar.track}" title="{_esc(tip)}"><b>{tag}</b></i>'
        )
        for pos in range(e.start + 1, e.end + 1):
            end_cls = " e" if pos == e.end else ""
            slices[pos].append(f'<i class="{base} seg{end_cls}"></i>')

    cells = []
    for pos, ch in enumerate(text):
        shown = _VISIBLE_WS.get(ch)
        if shown is None and not ch.isprintable() and ch != " ":
            shown = "·"
        cls = "c ws" if shown else "c w" if east_asian_width(ch) in ("W", "F") else "c"
        cells.append(f'<span class="{cls}">{_esc(shown or ch)}{"".join(slices[pos])}</span>')

    status_counts = Counter(b.status for b in bars)
    if with_gold:
        counts = (
            f'<span class="k">✓ {status_counts["correct"]} correct</span>'
            f'<span class="k">− {status_counts["missed"]} missed</span>'
            f'<span class="k">+ {status_counts["spurious"]} spurious</span>'
        )
        errors = status_counts["missed"] + status_counts["spurious"]
        extra = f' data-errors="{errors}"'
    else:
        counts = f'<span class="k">{len(bars)} entities</span>'
        extra = ""
    if not bars:
        counts += '<span class="empty">no entities</span>'
    body = "".join(cells) if text else '<span class="empty">(empty text)</span>'
    return (
        f'<section class="rec" id="rec-{idx}" data-index="{idx}"{extra}>\n'
        f'<header><a href="#rec-{idx}">#{idx}</a><span class="k">{len(text)} chars</span>'
        f"{counts}</header>\n"
        f'<div class="txt" style="--tracks:{tracks}">{body}</div>\n</section>\n'
    )
