"""Corpus statistics: text lengths, entity types, nesting, a label scheme's ceiling."""

from __future__ import annotations

from collections import Counter
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np

from ..types import Entity, Example


def _summary(values: Sequence[int]) -> Dict[str, float]:
    if not values:
        return {"min": 0, "mean": 0.0, "median": 0.0, "p95": 0.0, "max": 0}
    arr = np.asarray(values, dtype=np.float64)
    return {
        "min": int(arr.min()),
        "mean": float(arr.mean()),
        "median": float(np.median(arr)),
        "p95": float(np.percentile(arr, 95)),
        "max": int(arr.max()),
    }


def overlap_pairs(entities: Sequence[Entity]) -> Dict[str, Counter]:
    """Pairs of overlapping entities of one record, by kind.

    ``nested``: ``"outer>inner"`` where the outer span strictly contains the inner
    one; ``same_span``: ``"a=b"`` (types sorted) for one span with two types;
    ``crossing``: ``"a|b"`` (types sorted) for spans that overlap partially.
    """
    out = {"nested": Counter(), "same_span": Counter(), "crossing": Counter()}
    ents = sorted(set(entities))
    for i, a in enumerate(ents):
        for b in ents[i + 1 :]:
            if b.start > a.end:
                break  # sorted by start: no later entity overlaps a
            if (a.start, a.end) == (b.start, b.end):
                x, y = sorted((a.label, b.label))
                out["same_span"][f"{x}={y}"] += 1
            elif a.start <= b.start and b.end <= a.end:
                out["nested"][f"{a.label}>{b.label}"] += 1
            elif b.start <= a.start and a.end <= b.end:
                out["nested"][f"{b.label}>{a.label}"] += 1
            else:
                x, y = sorted((a.label, b.label))
                out["crossing"][f"{x}|{y}"] += 1
    return out


def scheme_ceiling(examples: Iterable[Example], scheme: Any) -> Dict[str, Any]:
    """Fraction of gold entities that survive ``scheme.decode(scheme.encode(ents, len(text)))``."""
    total: Counter = Counter()
    kept: Counter = Counter()
    for ex in examples:
        gold = set(ex.entities)
        back = set(scheme.decode(scheme.encode(sorted(gold), len(ex.text))))
        total.update(e.label for e in gold)
        kept.update(e.label for e in gold & back)
    n, k = sum(total.values()), sum(kept.values())
    return {
        "entities": n,
        "recovered": k,
        "ceiling": k / n if n else 0.0,
        "per_type": {lab: kept[lab] / total[lab] for lab in sorted(total, key=lambda x: -total[x])},
    }


def corpus_stats(
    examples: Iterable[Example], max_chars: Optional[int], scheme: Optional[Any] = None
) -> Dict[str, Any]:
    """Statistics of a corpus, JSON-serialisable.

    Keys: records, characters, text_length (min/mean/median/p95/max), over_max_chars
    (texts longer than ``max_chars``, which will be split into windows; None without a
    ``max_chars``: the encoder's cap is not known), max_chars,
    entities, entities_per_type (most frequent first), entity_length,
    nested_pairs / same_span_pairs / crossing_pairs (see :func:`overlap_pairs`)
    and, with a ``scheme`` (anything with ``encode(entities, length)`` and
    ``decode(targets)``), ``scheme``: its recoverable ceiling.
    """
    examples = list(examples)
    lengths = [len(ex.text) for ex in examples]
    types: Counter = Counter()
    ent_lengths: List[int] = []
    pairs = {"nested": Counter(), "same_span": Counter(), "crossing": Counter()}
    for ex in examples:
        types.update(e.label for e in ex.entities)
        ent_lengths.extend(e.end - e.start + 1 for e in ex.entities)
        if len(ex.entities) > 1:
            for kind, counts in overlap_pairs(ex.entities).items():
                pairs[kind].update(counts)
    stats: Dict[str, Any] = {
        "records": len(examples),
        "characters": int(sum(lengths)),
        "text_length": _summary(lengths),
        "max_chars": max_chars,
        "over_max_chars": sum(n > max_chars for n in lengths) if max_chars is not None else None,
        "entities": sum(types.values()),
        "entities_per_type": dict(types.most_common()),
        "entity_length": _summary(ent_lengths),
        "nested_pairs": dict(pairs["nested"].most_common()),
        "same_span_pairs": dict(pairs["same_span"].most_common()),
        "crossing_pairs": dict(pairs["crossing"].most_common()),
    }
    if scheme is not None:
        stats["scheme"] = {"name": repr(scheme), **scheme_ceiling(examples, scheme)}
    return stats


# Above this share of [UNK] characters, evaluate/predict warn (a real Chinese BERT vocabulary
# leaves well under 1% of CMeEE's characters unknown; the 716-character quickstart one, 19%).
UNKNOWN_WARN_RATE = 0.02


def char_coverage(
    texts: Iterable[str],
    char_ids: Any,
    unk_id: int,
    top: int = 10,
    counts: Optional[Counter] = None,
) -> Dict[str, Any]:
    """How much of ``texts`` a vocabulary covers, counting characters.

    ``char_ids(text)`` gives one id per character and ``unk_id`` is the unknown id.
    ``counts``: character counts already taken (a stream's running tally), added to
    those of ``texts``. Keys: characters, unknown (characters mapped to unk), rate
    (unknown / characters), distinct, distinct_unknown, top_unknown (most frequent
    unknown characters and counts).
    """
    counts = Counter(counts or {})
    for text in texts:
        counts.update(text)
    unknown: Counter = Counter()
    for char, n in counts.items():
        if char_ids(char)[0] == unk_id:
            unknown[char] = n
    total, unk = sum(counts.values()), sum(unknown.values())
    return {
        "characters": total,
        "unknown": unk,
        "rate": unk / total if total else 0.0,
        "distinct": len(counts),
        "distinct_unknown": len(unknown),
        "top_unknown": unknown.most_common(top),
    }


def format_coverage(cov: Dict[str, Any], known: str = "in the vocabulary") -> str:
    """One line: "98.50% of 1234 characters in the vocabulary; 1.50% unknown (3 of 80 distinct; ...)"."""
    top = ", ".join(f"{c} {n}" for c, n in cov["top_unknown"])
    return (
        f"{100 * (1 - cov['rate']):.2f}% of {cov['characters']} characters {known}; "
        f"{100 * cov['rate']:.2f}% unknown ({cov['distinct_unknown']} of {cov['distinct']} distinct"
        + (f"; most frequent: {top})" if top else ")")
    )


def format_unknown_warning(
    cov: Dict[str, Any], source: str, threshold: float = UNKNOWN_WARN_RATE
) -> str:
    """A warning when more than ``threshold`` of the characters are unknown to the encoder; "" otherwise."""
    if cov["rate"] <= threshold:
        return ""
    top = "".join(c for c, _ in cov["top_unknown"])
    return (
        f"{100 * cov['rate']:.1f}% of the characters of {source} ({cov['unknown']} of {cov['characters']}, "
        f"{cov['distinct_unknown']} distinct, e.g. {top}) are not in the model's vocabulary: the encoder "
        "reads each of them as the same [UNK] token, so it cannot tell them apart and entities written "
        f"with them are mostly missed (above {100 * threshold:.0f}% scores drop sharply). Train with an "
        "encoder whose vocabulary covers this data (e.g. a Chinese BERT's 21,128-entry vocab.txt)."
    )


def format_stats(stats: Dict[str, Any]) -> str:
    """A readable multi-line report of :func:`corpus_stats`."""
    tl, el = stats["text_length"], stats["entity_length"]
    lines = [
        f"records               {stats['records']}",
        f"characters            {stats['characters']}",
        f"text length           min {tl['min']}, mean {tl['mean']:.1f}, median {tl['median']:.0f}, "
        f"p95 {tl['p95']:.0f}, max {tl['max']}",
    ]
    if stats["max_chars"] is not None:
        over = f"over {stats['max_chars']} chars"
        lines.append(f"{over:<22}{stats['over_max_chars']} (split into overlapping windows)")
    lines += [
        f"entities              {stats['entities']}",
        f"entity length         min {el['min']}, mean {el['mean']:.1f}, median {el['median']:.0f}, "
        f"p95 {el['p95']:.0f}, max {el['max']}",
    ]
    if stats["entities_per_type"]:
        lines.append(
            "entities per type     "
            + ", ".join(f"{k} {v}" for k, v in stats["entities_per_type"].items())
        )
    for key, title in (
        ("nested_pairs", "nested (outer>inner)"),
        ("same_span_pairs", "same span, 2 types"),
        ("crossing_pairs", "crossing overlaps"),
    ):
        pairs = stats[key]
        body = ", ".join(f"{k} {v}" for k, v in pairs.items()) if pairs else "-"
        lines.append(f"{title:<22}{sum(pairs.values())}: {body}")
    if "scheme" in stats:
        s = stats["scheme"]
        per = ", ".join(f"{k} {100 * v:.2f}" for k, v in s["per_type"].items())
        lines.append(
            f"scheme ceiling        {100 * s['ceiling']:.2f}% ({s['recovered']}/{s['entities']}) "
            f"with {s['name']}"
        )
        if per:
            lines.append(f"  per type (%)        {per}")
    return "\n".join(lines)


def longest_records(examples: Sequence[Example], n: int = 5) -> List[Dict[str, Any]]:
    """The ``n`` longest records, longest first: index, id and length."""
    order = sorted(range(len(examples)), key=lambda i: (-len(examples[i].text), i))[:n]
    return [{"index": i, "id": examples[i].id, "length": len(examples[i].text)} for i in order]


def format_extras(longest: List[Dict[str, Any]], unseen: Optional[Counter]) -> str:
    """Report lines for :func:`longest_records` and (for dev/test) labels not in train."""
    lines = [
        "longest records       "
        + ", ".join(
            f"#{r['index']}" + (f" ({r['id']})" if r["id"] is not None else "") + f" {r['length']}"
            for r in longest
        )
    ]
    if unseen is not None:
        body = ", ".join(f"{lab} {k}" for lab, k in unseen.most_common()) if unseen else "-"
        lines.append(f"labels not in train   {sum(unseen.values())}: {body}")
    return "\n".join(lines)
