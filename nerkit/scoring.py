"""The CMeEE metric: strict micro precision, recall and F1.

An entity counts as correct only if its record, start, end (inclusive) and type
all match a gold entity. Duplicates within a record count once (entities are
compared as sets of ``(record index, start, end, label)``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from .types import Entity

Key = Tuple[int, int, int, str]


def _as_entity(item: Any) -> Entity:
    """An Entity from ``Entity``/``(start, end, label)`` or a scored ``(Entity, score)`` pair."""
    if len(item) == 2 and isinstance(item[0], tuple):
        item = item[0]
    start, end, label = item
    return Entity(int(start), int(end), str(label))


def _keys(docs: Sequence[Iterable[Any]]) -> Set[Key]:
    out: Set[Key] = set()
    for i, ents in enumerate(docs):
        for item in ents:
            e = _as_entity(item)
            out.add((i, e.start, e.end, e.label))
    return out


def prf(tp: int, fp: int, fn: int) -> Tuple[float, float, float]:
    """(precision, recall, F1); 0.0 wherever a denominator is zero."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def score(
    gold: Sequence[Iterable[Entity]],
    pred: Sequence[Iterable[Entity]],
    labels: Optional[Sequence[str]] = None,
) -> Dict[str, Any]:
    """Strict micro P/R/F1 of ``pred`` against ``gold``, one entity list per record.

    Items may be ``Entity`` or scored ``(Entity, score)`` pairs. ``labels`` fixes
    the order of ``per_type`` and gives a row to types with no entities; types
    met that are not in ``labels`` get rows after them. The overall scores count
    every entity whatever its type.

    Returns ``{"precision", "recall", "f1", "tp", "fp", "fn", "per_type": {label:
    {"precision", "recall", "f1", "tp", "fp", "fn", "support"}}}``; ``support``
    is the number of gold entities of the type.
    """
    if len(gold) != len(pred):
        raise ValueError(
            f"score: {len(gold)} gold records but {len(pred)} predicted; "
            "predictions must have one entity list per gold record, in the same order."
        )
    g = _keys(gold)
    p = _keys(pred)
    tp_set = g & p
    tp_by = Counter(k[3] for k in tp_set)
    gold_by = Counter(k[3] for k in g)
    pred_by = Counter(k[3] for k in p)
    order: List[str] = list(labels) if labels is not None else []
    seen = set(order)
    order += sorted((set(gold_by) | set(pred_by)) - seen)
    per_type: Dict[str, Dict[str, Any]] = {}
    for label in order:
        tp = tp_by[label]
        fp = pred_by[label] - tp
        fn = gold_by[label] - tp
        per_type[label] = {**_scores(tp, fp, fn), "support": gold_by[label]}
    tp = len(tp_set)
    return {**_scores(tp, len(p) - tp, len(g) - tp), "per_type": per_type}


def _scores(tp: int, fp: int, fn: int) -> Dict[str, Any]:
    pr, rc, f1 = prf(tp, fp, fn)
    return {"precision": pr, "recall": rc, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def _width(text: str) -> int:
    """Terminal columns of ``text``: wide (CJK) characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def format_scores(scores: Dict[str, Any], digits: int = 2) -> str:
    """A plain-text table: one row per type, then the micro-averaged total.

    The type column is as wide as the widest label (CJK characters count twice)."""
    names = [*scores.get("per_type", {}), "micro", "type"]
    width = max(8, max(_width(n) for n in names) + 2)
    header = f"{'type':<{width}}{'P':>8}{'R':>8}{'F1':>8}{'TP':>8}{'FP':>8}{'FN':>8}{'support':>9}"
    lines = [header, "-" * len(header)]

    def row(name: str, s: Dict[str, Any], support: int) -> str:
        pct = [f"{100 * s[k]:.{digits}f}" for k in ("precision", "recall", "f1")]
        pad = " " * (width - _width(name))
        return (
            f"{name}{pad}{pct[0]:>8}{pct[1]:>8}{pct[2]:>8}"
            f"{s['tp']:>8}{s['fp']:>8}{s['fn']:>8}{support:>9}"
        )

    for label, s in scores.get("per_type", {}).items():
        lines.append(row(label, s, s.get("support", s["tp"] + s["fn"])))
    lines.append("-" * len(header))
    lines.append(row("micro", scores, scores["tp"] + scores["fn"]))
    return "\n".join(lines)
