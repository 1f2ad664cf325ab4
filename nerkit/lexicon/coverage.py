"""How well the word vectors cover the lattice words, overall and per entity type.

A lattice word is *found* when it has a pretrained vector row in the
initialised lexicon. Per entity type:

- ``exact_rate``: share of gold entities whose span is exactly a lattice word
  (the lattice can hand the model the whole entity);
- ``exact_found_rate``: share of gold entities whose span is a lattice word
  with a pretrained vector;
- ``overlap_rate``: among the lattice word occurrences that overlap at least
  one entity of the type, the share that are found.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Dict, List, Sequence, Set, Tuple

from ..types import Example


def lexicon_coverage(examples: Sequence[Example], lexicon: Any, top: int = 20) -> Dict[str, Any]:
    """Coverage statistics of ``lexicon`` (initialised) on ``examples``.

    Returns ``texts``, ``vocab_size`` (rows incl. padding and unknown),
    ``vocab_pretrained``, word occurrences ``tokens``/``tokens_found``/
    ``token_coverage``, distinct words ``types``/``types_found``/
    ``type_coverage``, ``top_missing`` ([word, count] of the most frequent
    words without a vector) and ``labels``: per entity type ``entities``,
    ``exact``, ``exact_rate``, ``exact_found``, ``exact_found_rate``,
    ``overlap_words``, ``overlap_found``, ``overlap_rate``.
    """
    tokens = tokens_found = 0
    counts: Counter = Counter()
    found_cache: Dict[str, bool] = {}
    per_label: Dict[str, Counter] = defaultdict(Counter)

    def found(word: str) -> bool:
        f = found_cache.get(word)
        if f is None:
            f = found_cache[word] = lexicon.has_vector(word)
        return f

    for ex in examples:
        words = lexicon.segment(ex.text)
        by_span = {(s, e): w for w, s, e in words}
        for w, _, _ in words:
            counts[w] += 1
            tokens += 1
            tokens_found += found(w)
        overlapping: Dict[str, Set[Tuple[int, int]]] = defaultdict(set)
        for ent in ex.entities:
            stats = per_label[ent.label]
            stats["entities"] += 1
            w = by_span.get((ent.start, ent.end))
            if w is not None:
                stats["exact"] += 1
                stats["exact_found"] += found(w)
            for _, s, e in words:
                if s <= ent.end and e >= ent.start:
                    overlapping[ent.label].add((s, e))
        for label, spans in overlapping.items():
            per_label[label]["overlap_words"] += len(spans)
            per_label[label]["overlap_found"] += sum(found(by_span[sp]) for sp in spans)

    types_found = sum(found(w) for w in counts)
    missing = sorted(
        ((w, c) for w, c in counts.items() if not found(w)), key=lambda x: (-x[1], x[0])
    )
    labels = {}
    for label in sorted(per_label):
        st = per_label[label]
        n = st["entities"]
        labels[label] = {
            "entities": n,
            "exact": st["exact"],
            "exact_rate": _rate(st["exact"], n),
            "exact_found": st["exact_found"],
            "exact_found_rate": _rate(st["exact_found"], n),
            "overlap_words": st["overlap_words"],
            "overlap_found": st["overlap_found"],
            "overlap_rate": _rate(st["overlap_found"], st["overlap_words"]),
        }
    pretrained = lexicon.pretrained_rows
    return {
        "texts": len(examples),
        "vocab_size": len(lexicon),
        "vocab_pretrained": int(pretrained.sum()) if pretrained is not None else 0,
        "tokens": tokens,
        "tokens_found": tokens_found,
        "token_coverage": _rate(tokens_found, tokens),
        "types": len(counts),
        "types_found": types_found,
        "type_coverage": _rate(types_found, len(counts)),
        "top_missing": [[w, c] for w, c in missing[:top]],
        "labels": labels,
    }


def _rate(num: int, den: int) -> float:
    return num / den if den else 0.0


def format_coverage(stats: Dict[str, Any]) -> str:
    """A plain-text report of ``lexicon_coverage``'s result."""
    lines: List[str] = [
        f"texts: {stats['texts']}",
        f"lexicon rows: {stats['vocab_size']} ({stats['vocab_pretrained']} with pretrained vectors)",
        f"lattice words: {stats['tokens']} occurrences, {stats['tokens_found']} found "
        f"({stats['token_coverage']:.2%})",
        f"distinct words: {stats['types']}, {stats['types_found']} found ({stats['type_coverage']:.2%})",
    ]
    if stats["labels"]:
        lines.append("")
        lines.append(
            f"{'type':<8}{'entities':>10}{'exact':>9}{'exact+vec':>11}{'overlap words':>15}{'found':>9}"
        )
        for label, st in stats["labels"].items():
            lines.append(
                f"{label:<8}{st['entities']:>10}{st['exact_rate']:>9.1%}{st['exact_found_rate']:>11.1%}"
                f"{st['overlap_words']:>15}{st['overlap_rate']:>9.1%}"
            )
        lines.append(
            "exact: entity span is a lattice word; exact+vec: ...with a pretrained vector; "
            "found: share of lattice words overlapping entities that have a vector"
        )
    if stats["top_missing"]:
        lines.append("")
        lines.append(
            "most frequent words without a vector: "
            + ", ".join(f"{w} ({c})" for w, c in stats["top_missing"])
        )
    return "\n".join(lines)
