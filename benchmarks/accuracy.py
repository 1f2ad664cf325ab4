"""Accuracy on CMeEE of nerkit configs against a plain transformers script, same budget.

    python benchmarks/accuracy.py --quick              # a small subset, < 5 minutes
    python benchmarks/accuracy.py --threads 2          # every row (~3 h 45 min on 2 cores)
    python benchmarks/accuracy.py --rows plain,bio-strict,crf-nested --threads 1

Data: ``CMeEE_dev.json`` (../shared/data/cmeee) split by record index: index % 5 != 0
trains (4,000 records), index % 5 == 0 is scored (1,000). Model: a randomly initialised
BERT built from a config (4 layers, width 256, 4 heads, the real 21,128-entry Chinese
vocabulary from ../shared/data/vocab); nothing is downloaded. Every row gets the same
budget: 10 epochs, batch 32, AdamW lr 5e-4 (encoder and head), weight decay 0.01, cosine
schedule with 10% warm-up, gradient clipping 1.0, windows of 128 positions, seed 13.

Rows: ``plain`` is a plain transformers script written for this benchmark
(``BertForTokenClassification``, one flat BIO layer, an I- without a B- dropped at
decoding), run in the same process; every other row is a nerkit config built from
``BASE`` plus the row's overrides (``ROWS``) and trained by nerkit's own loop. Each
row reports strict micro P/R/F1 on the scored part, its F1 ratio to ``plain``, training
wall time and training tokens/s (characters of the training windows processed per
second; nerkit's windows overlap by 32 characters on long records, so it processes a
few more). The final weights are scored (the EMA for EMA rows); no checkpoint is picked
on the scored part.

Random-initialised encoders show the relative effect of decoders, decoding rules and
training tricks only; absolute F1 is far below pretrained models.

``--json FILE`` appends one JSON line per row; ``--save DIR`` keeps the trained models
(``DIR/ROW/model-last``) and the scored records (``DIR/scored.json``); ``--corpus``/``--vocab`` point at other
data (the tests use the quickstart sample with a tiny model).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # run from a plain checkout
sys.path.insert(0, str(HERE))

import torch  # noqa: E402
from base_model import write_encoder_dir  # noqa: E402

from nerkit.config import load_config  # noqa: E402
from nerkit.models.batching import make_batches  # noqa: E402
from nerkit.scoring import score  # noqa: E402
from nerkit.training.loop import Trainer, evaluate  # noqa: E402
from nerkit.types import CMEEE_LABELS, Entity, Example  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
CORPUS = SHARED / "cmeee" / "CMeEE_dev.json"
VOCAB = SHARED / "vocab" / "bert-base-chinese-vocab.txt"

BUDGET = {
    "epochs": 10,
    "batch_size": 32,
    "lr": 5e-4,
    "weight_decay": 0.01,
    "warmup": 0.1,
    "clip": 1.0,
}
MAX_LENGTH = 128
SEED = 13

BASE = """
[paths]
train = null
dev = null
encoder = null

[system]
seed = 13
device = "cpu"
mixed_precision = "no"

[corpora]
train = ${paths.train}
dev = ${paths.dev}
max_dev_records = 1

[corpora.reader]
@readers = "nerkit.CMeEEJson.v1"

[model]
@models = "nerkit.NERModel.v1"
window_overlap = 32

[model.encoder]
@encoders = "nerkit.TransformerEncoder.v1"
max_length = 128

[model.decoder]
@decoders = "nerkit.LinearDecoder.v1"
dropout = 0.1

[model.decoder.scheme]
@label_schemes = "nerkit.BIO.v1"

[initialize]

[initialize.model.encoder]
name_or_path = ${paths.encoder}
pretrained = false

[training]
max_epochs = 10
batch_size = 32
eval_batch_size = 64
grad_clip = 1.0
eval_frequency = 0
patience = 0
log_every = 0

[training.optimizer]
@optimizers = "nerkit.AdamW.v1"
learning_rate = 5e-4
head_learning_rate = 5e-4
weight_decay = 0.01

[training.schedule]
@schedules = "nerkit.CosineSchedule.v1"
warmup_ratio = 0.1

[training.adversarial]
@adversarial = "nerkit.NoAdversarial.v1"

[training.logger]
@loggers = "nerkit.ConsoleLogger.v1"
progress_bar = false
"""

SPANS = {"@label_schemes": "nerkit.Spans.v1"}
NESTED = {"@label_schemes": "nerkit.NestedBIO.v1"}
GP = {"model.decoder": {"@decoders": "nerkit.GlobalPointer.v1", "head_size": 64, "scheme": SPANS}}
EGP_DECODER = {"@decoders": "nerkit.EfficientGlobalPointer.v1", "head_size": 64, "scheme": SPANS}
EGP = {"model.decoder": EGP_DECODER}
# The nested heads list CMeEE's labels, so they get the study's layers (sym / the other types);
# left out, nerkit would learn labels and layers from the training split.
CRF = {"model.decoder": {"@decoders": "nerkit.CRFNestedDecoder.v1", "labels": list(CMEEE_LABELS)}}
# The word list is an init-only resource: read at training, kept in the model directory.
LEXICON = {
    "model.lexicon": {
        "@lexicons": "nerkit.Lexicon.v1",
        "dim": 100,
        "segmenter": {"@segmenters": "nerkit.LexiconMatcher.v1", "min_length": 2},
    },
    "initialize.model.lexicon": {"segmenter": {"words_file": "@WORDS@"}},
}
FLAT = {
    "model.fusion": {
        "@fusions": "nerkit.FLAT.v1",
        "num_layers": 1,
        "num_heads": 8,
        "hidden_size": 256,
    }
}
FLAT_LIGHT = {"model.fusion": {"@fusions": "nerkit.FLATLight.v1", "num_layers": 1, "num_heads": 8}}
CONCAT = {"model.fusion": {"@fusions": "nerkit.ConcatFusion.v1"}}
FGM = {"training.adversarial": {"@adversarial": "nerkit.FGM.v1", "epsilon": 1.0}}
PGD = {
    "training.adversarial": {
        "@adversarial": "nerkit.PGD.v1",
        "epsilon": 1.0,
        "alpha": 0.3,
        "steps": 3,
    }
}
EMA = {"training.averaging": {"@averaging": "nerkit.EMA.v1", "decay": 0.99, "warmup": True}}


def _bio(decoding: str) -> Dict[str, Any]:
    return {"model.decoder.decoding": decoding}


def _nested(decoding: str) -> Dict[str, Any]:
    return {
        "model.decoder": {
            "@decoders": "nerkit.LinearNestedDecoder.v1",
            "decoding": decoding,
            "labels": list(CMEEE_LABELS),
        }
    }


# name -> (description, overrides of BASE). "plain" is the transformers script.
ROWS: Dict[str, Tuple[str, Dict[str, Any]]] = {
    "plain": (
        "plain transformers script (BertForTokenClassification, flat BIO, strict reading)",
        {},
    ),
    "bio-strict": (
        "`nerkit.BIO.v1` + `LinearDecoder.v1`, decoding strict (default)",
        _bio("strict"),
    ),
    "bio-lenient": ("the same, decoding lenient (the old default)", _bio("lenient")),
    "bio-constrained": ("the same, decoding constrained (Viterbi)", _bio("constrained")),
    "nested-strict": ("`LinearNestedDecoder.v1` (the study's head), strict", _nested("strict")),
    "nested-constrained": ("`LinearNestedDecoder.v1`, constrained", _nested("constrained")),
    "crf-nested": ("`CRFNestedDecoder.v1`", CRF),
    "crf-nested-learned": (
        "`CRFNestedDecoder.v1`, labels and layers learned from the training split",
        {"model.decoder": {"@decoders": "nerkit.CRFNestedDecoder.v1"}},
    ),
    "gp": ("`GlobalPointer.v1`", GP),
    "egp": ("`EfficientGlobalPointer.v1`", EGP),
    "egp-fgm": ("EGP + FGM (epsilon 1)", {**EGP, **FGM}),
    "egp-pgd": ("EGP + PGD (epsilon 1, alpha 0.3, 3 steps)", {**EGP, **PGD}),
    "egp-ema": ("EGP + EMA (decay 0.99, warm-up)", {**EGP, **EMA}),
    "egp-bs": (
        "EGP + boundary smoothing (epsilon 0.2, D 1)",
        {"model.decoder": {**EGP_DECODER, "boundary_smoothing": 0.2, "smoothing_distance": 1}},
    ),
    "egp-fgm-ema-bs": (
        "EGP + FGM + EMA + boundary smoothing",
        {"model.decoder": {**EGP_DECODER, "boundary_smoothing": 0.2}, **FGM, **EMA},
    ),
    "flat-crf": (
        "FLAT over the pkuseg-dictionary lattice + CRF nested",
        {**LEXICON, **FLAT, **CRF},
    ),
    "flat-egp": ("FLAT over the lattice + EGP", {**LEXICON, **FLAT, **EGP}),
    "flat-light-crf": (
        "FLAT-light over the lattice + CRF nested",
        {**LEXICON, **FLAT_LIGHT, **CRF},
    ),
    "flat-light-egp": ("FLAT-light over the lattice + EGP", {**LEXICON, **FLAT_LIGHT, **EGP}),
    "concat-crf": (
        "concat fusion (sum) of lattice words + CRF nested",
        {**LEXICON, **CONCAT, **CRF},
    ),
    "concat-egp": ("concat fusion of lattice words + EGP", {**LEXICON, **CONCAT, **EGP}),
    "flat-crf-ema": ("FLAT + CRF nested + EMA", {**LEXICON, **FLAT, **CRF, **EMA}),
    "flat-egp-fgm-ema": ("FLAT + EGP + FGM + EMA", {**LEXICON, **FLAT, **EGP, **FGM, **EMA}),
}
# The study's ladder on a pretrained encoder (``--pretrained DIR``; benchmarks/pretrained.py
# writes one): the study's head, FLAT with random then in-domain vectors (``--vectors``),
# FGM, PGD and layer-wise decay on top, and the heads beyond the study.
NESTED_HEAD = _nested("strict")
VECTORS = {
    "initialize.model.lexicon": {
        "segmenter": {"words_file": "@WORDS@"},
        "vectors": {"@vectors": "nerkit.Word2Vec.v1", "path": "@VECTORS@"},
    }
}
FLAT_VEC = {**LEXICON, **VECTORS, **FLAT, **NESTED_HEAD}


def _lld(rate: float) -> Dict[str, Any]:
    return {"training.optimizer.layerwise_decay": rate}


ROWS.update(
    {
        "flat-random": (
            "FLAT over the lattice, random word vectors + the study's head",
            {**LEXICON, **FLAT, **NESTED_HEAD},
        ),
        "flat-vectors": (
            "FLAT + in-domain word vectors (`nerkit vectors`) + the study's head",
            FLAT_VEC,
        ),
        "flat-vectors-fgm": ("FLAT + in-domain vectors + FGM (epsilon 1)", {**FLAT_VEC, **FGM}),
        "flat-vectors-pgd": (
            "FLAT + in-domain vectors + PGD (epsilon 1, alpha 0.3, 3 steps)",
            {**FLAT_VEC, **PGD},
        ),
        "nested-lld0.8": (
            "the study's head, layer-wise lr decay 0.8",
            {**NESTED_HEAD, **_lld(0.8)},
        ),
        "nested-lld0.9": (
            "the study's head, layer-wise lr decay 0.9",
            {**NESTED_HEAD, **_lld(0.9)},
        ),
        "nested-lld0.95": (
            "the study's head, layer-wise lr decay 0.95",
            {**NESTED_HEAD, **_lld(0.95)},
        ),
    }
)
LADDER_ROWS = [
    "plain",
    "nested-strict",
    "flat-random",
    "flat-vectors",
    "flat-vectors-fgm",
    "flat-vectors-pgd",
    "nested-lld0.8",
    "nested-lld0.9",
    "nested-lld0.95",
    "crf-nested",
    "egp",
    "flat-crf",
    "flat-egp",
]
# Rows that differ from another row only in the decoding rule: the same training (same
# seed, same batches) gives the same weights, so when both run, the variant re-decodes the
# other row's trained model instead of training again (its time and tokens/s are the other's).
DECODING_VARIANTS: Dict[str, Tuple[str, str]] = {
    "bio-lenient": ("bio-strict", "lenient"),
    "bio-constrained": ("bio-strict", "constrained"),
    "nested-constrained": ("nested-strict", "constrained"),
}
QUICK_ROWS = ["plain", "bio-strict", "bio-lenient", "bio-constrained", "crf-nested", "egp"]
QUICK = {"train_records": 800, "eval_records": 200, "epochs": 3}


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def split_records(path: Path) -> Tuple[List[dict], List[dict]]:
    """(train: index % 5 != 0, eval: index % 5 == 0) records of a CMeEE file."""
    records = json.loads(path.read_text(encoding="utf8"))
    train = [r for i, r in enumerate(records) if i % 5 != 0]
    held = [r for i, r in enumerate(records) if i % 5 == 0]
    return train, held


def entities_of(record: dict) -> List[Entity]:
    return sorted(
        {Entity(e["start_idx"], e["end_idx"], e["type"]) for e in record.get("entities", [])}
    )


def lexicon_words(dest: Path) -> Path:
    """The dictionary shipped inside spacy-pkuseg's wheel, as a words file (one per line)."""
    import spacy_pkuseg

    default = Path(spacy_pkuseg.__file__).parent / "dicts" / "default.pkl"
    post = spacy_pkuseg.Postprocesser(None, [str(default)])  # the library reads its own file
    words = sorted(w for w in post.common_words | post.other_words if w)
    dest.write_text("\n".join(words) + "\n", encoding="utf8")
    return dest


# ---------------------------------------------------------------------------
# The plain transformers script
# ---------------------------------------------------------------------------


def plain_optimizer(model: torch.nn.Module, budget: Dict[str, Any]) -> torch.optim.AdamW:
    """AdamW as plain scripts set it up: no weight decay on biases and LayerNorm weights."""
    no_decay = ("bias", "LayerNorm.weight")
    params = list(model.named_parameters())
    groups = [
        {
            "params": [p for n, p in params if not n.endswith(no_decay)],
            "weight_decay": budget["weight_decay"],
        },
        {"params": [p for n, p in params if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=budget["lr"])


def plain_script(
    train: List[dict],
    held: List[dict],
    encoder_dir: Path,
    budget: Dict[str, Any],
    seed: int = SEED,
    pretrained: bool = False,
    device: str = "cpu",
) -> Dict[str, Any]:
    """BertForTokenClassification on one flat BIO layer (from ``encoder_dir``'s weights when
    ``pretrained``) on ``device``; returns scores, seconds, tokens."""
    from transformers import BertConfig, BertForTokenClassification, get_cosine_schedule_with_warmup

    torch.manual_seed(seed)
    rng = random.Random(seed)
    vocab = {
        w: i
        for i, w in enumerate((encoder_dir / "vocab.txt").read_text(encoding="utf8").split("\n"))
    }
    unk, cls, sep = vocab["[UNK]"], vocab["[CLS]"], vocab["[SEP]"]
    tags = ["O"] + [f"{p}-{t}" for t in CMEEE_LABELS for p in "BI"]
    width = MAX_LENGTH - 2

    def chunks(record: dict) -> List[Tuple[int, List[int], List[int]]]:
        """(offset, ids, BIO tag ids) per 126-char piece; longer entities first, no overlaps."""
        text, out = record["text"], []
        for off in range(0, max(len(text), 1), width):
            piece = text[off : off + width]
            ids = [vocab.get(ch, vocab.get(ch.lower(), unk)) for ch in piece]
            lab = [0] * len(piece)
            ents = [e for e in entities_of(record) if off <= e.start and e.end < off + len(piece)]
            for e in sorted(ents, key=lambda e: e.start - e.end):
                span = range(e.start - off, e.end - off + 1)
                if all(lab[i] == 0 for i in span):
                    k = CMEEE_LABELS.index(e.label)
                    for i in span:
                        lab[i] = 2 + 2 * k
                    lab[e.start - off] = 1 + 2 * k
            out.append((off, ids, lab))
        return out

    def batch(items: Sequence[Tuple[int, List[int], List[int]]]):
        n = max(len(ids) for _, ids, _ in items) + 2
        input_ids = torch.zeros(len(items), n, dtype=torch.long)
        labels = torch.full((len(items), n), -100, dtype=torch.long)
        for b, (_, ids, lab) in enumerate(items):
            input_ids[b, : len(ids) + 2] = torch.tensor([cls, *ids, sep])
            labels[b, 1 : len(ids) + 1] = torch.tensor(lab)
        input_ids, labels = input_ids.to(device), labels.to(device)
        return input_ids, (input_ids != 0).long(), labels

    config = BertConfig.from_pretrained(str(encoder_dir), num_labels=len(tags))
    if pretrained:
        model = BertForTokenClassification.from_pretrained(str(encoder_dir), config=config)
    else:
        model = BertForTokenClassification(config)
    model.to(device)
    optimizer = plain_optimizer(model, budget)
    pieces = [c for r in train for c in chunks(r)]
    bs = budget["batch_size"]
    total = math.ceil(len(pieces) / bs) * budget["epochs"]
    schedule = get_cosine_schedule_with_warmup(optimizer, int(budget["warmup"] * total), total)
    started, tokens, positions = time.perf_counter(), 0, 0
    model.train()
    for _ in range(budget["epochs"]):
        rng.shuffle(pieces)
        for s in range(0, len(pieces), bs):
            input_ids, attention, labels = batch(pieces[s : s + bs])
            loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), budget["clip"])
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            tokens += int((labels != -100).sum())
            positions += input_ids.numel()  # [B, T] computed, padding included
    seconds = time.perf_counter() - started
    model.eval()
    preds = []
    with torch.no_grad():
        for record in held:
            found = set()
            items = chunks(record)
            input_ids, attention, _ = batch(items)
            best = model(input_ids=input_ids, attention_mask=attention).logits.argmax(-1)
            for b, (off, ids, _) in enumerate(items):
                seq = [tags[t] for t in best[b, 1 : len(ids) + 1].tolist()] + ["O"]
                start = None
                for i, tag in enumerate(seq):  # strict: entities start at B- only
                    if start is not None and tag == f"I-{seq[start][2:]}":
                        continue
                    if start is not None:
                        found.add(Entity(off + start, off + i - 1, seq[start][2:]))
                    start = i if tag.startswith("B-") else None
            preds.append(sorted(found))
    scores = score([entities_of(r) for r in held], preds, labels=CMEEE_LABELS)
    return {"scores": scores, "seconds": seconds, "tokens": tokens, "positions": positions}


# ---------------------------------------------------------------------------
# nerkit rows
# ---------------------------------------------------------------------------


def _fill(value: Any, words: Optional[Path], vectors: Optional[Path] = None) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, words, vectors) for k, v in value.items()}
    if value == "@WORDS@":
        return str(words)
    if value == "@VECTORS@" and vectors is not None:
        return str(vectors)
    return value


def row_config(
    overrides: Dict[str, Any],
    work: Path,
    encoder_dir: Path,
    budget: Dict[str, Any],
    words: Optional[Path],
    seed: int = SEED,
    pretrained: bool = False,
    vectors: Optional[Path] = None,
    extra: Optional[Dict[str, Any]] = None,
    device: str = "cpu",
):
    """The config of a nerkit row: ``BASE``, the budget, the row's overrides, ``extra``."""
    base = work / "base.cfg"
    base.write_text(BASE, encoding="utf8")
    settings = {
        "paths.train": str(work / "train.json"),
        "paths.dev": str(work / "train.json"),
        "paths.encoder": str(encoder_dir),
        "training.max_epochs": budget["epochs"],
        "training.batch_size": budget["batch_size"],
        "training.grad_clip": budget["clip"],
        "training.optimizer.learning_rate": budget["lr"],
        "training.optimizer.head_learning_rate": budget["lr"],
        "training.optimizer.weight_decay": budget["weight_decay"],
        "training.schedule.warmup_ratio": budget["warmup"],
        "system.seed": seed,
        "initialize.model.encoder.pretrained": pretrained,
        "system.device": device,
    }
    return load_config(base, {**settings, **_fill(overrides, words, vectors), **(extra or {})})


def nerkit_row(
    overrides: Dict[str, Any],
    work: Path,
    encoder_dir: Path,
    held: List[dict],
    budget: Dict[str, Any],
    words: Optional[Path],
    seed: int = SEED,
    pretrained: bool = False,
    vectors: Optional[Path] = None,
    save: Optional[Path] = None,
    device: str = "cpu",
) -> Dict[str, Any]:
    cfg = row_config(
        overrides, work, encoder_dir, budget, words, seed, pretrained, vectors, device=device
    )
    trainer = Trainer(cfg, output_dir=save)  # save: model-last/ (and model-best/) kept there
    started = time.perf_counter()
    trainer.run()
    seconds = time.perf_counter() - started
    feats, t = trainer.train_feats, trainer.training
    tokens = sum(f.length for f in feats) * budget["epochs"]
    # the loop's own batches again (make_batches is deterministic in seed and epoch):
    # [B, T] positions computed per batch, T = the longest window + [CLS] and [SEP]
    positions = sum(
        len(b) * (max(feats[i].length for i in b) + 2)
        for epoch in range(budget["epochs"])
        for b in make_batches(
            feats, t.batch_size, trainer.system.seed, epoch, t.length_bucketing, t.bucket_size
        )
    )
    examples = [Example(r["text"], entities_of(r), index=i) for i, r in enumerate(held)]
    with trainer.averaging.applied(trainer.model):
        scores = evaluate(trainer.model, examples, 64)
    return {
        "scores": scores,
        "seconds": seconds,
        "tokens": tokens,
        "positions": positions,
        "trainer": trainer,
        "examples": examples,
    }


def redecode(trained: Dict[str, Any], decoding: str) -> Dict[str, Any]:
    """Score a trained row's model again with another decoding rule."""
    trainer = trained["trainer"]
    decoder = trainer.model.decoder
    before = decoder.decoding
    decoder.decoding = decoding
    try:
        with trainer.averaging.applied(trainer.model):
            scores = evaluate(trainer.model, trained["examples"], 64)
    finally:
        decoder.decoding = before
    return {**trained, "scores": scores, "shared": True}


# ---------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------


def markdown(rows: List[Dict[str, Any]]) -> str:
    """The table; ratios only with the plain script in the same rows ("-" without it).

    tokens/s counts real characters; positions/s counts the [B, T] positions computed,
    padding included (the equal-padding view of speed). Rows written before positions
    were counted print "-" there.
    """
    plain = next((r for r in rows if r["row"] == "plain"), None)
    lines = [
        "| row | system | P | R | F1 | F1 / plain | train s | tokens/s | tokens/s / plain "
        "| positions/s | positions/s / plain |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]

    def per_s(r: Dict[str, Any], key: str) -> Tuple[str, str]:
        value = r.get(key)
        if value is None:
            return "-", "-"
        base = plain.get(key) if plain else None
        return f"{value:.0f}", (f"{value / base:.2f}" if base else "-")

    for r in rows:
        ratio = f"{r['f1'] / plain['f1']:.2f}x" if plain and plain["f1"] > 0 else "-"
        tokens, tokens_ratio = per_s(r, "tokens_per_s")
        positions, positions_ratio = per_s(r, "positions_per_s")
        shared = " (same training as above)" if r.get("shared_training") else ""
        lines.append(
            f"| {r['row']} | {r['description']}{shared} | {100 * r['precision']:.1f} | "
            f"{100 * r['recall']:.1f} | {100 * r['f1']:.1f} | {ratio} | {r['seconds']:.0f} | "
            f"{tokens} | {tokens_ratio} | {positions} | {positions_ratio} |"
        )
    return "\n".join(lines)


def require_inputs(args: argparse.Namespace) -> None:
    for path, what in ((args.corpus, "--corpus"), (args.vocab, "--vocab")):
        if not path.exists():
            raise SystemExit(
                f"{what}: {path} not found (../shared/data is not part of a fresh clone)."
            )


def make_workdir(train: List[dict], args: argparse.Namespace, prefix: str) -> Tuple[Path, Path]:
    """(a temporary folder holding train.json, the random encoder's folder in it) for the
    model sizes of ``args`` (layers, width, heads, vocab)."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    (work / "train.json").write_text(json.dumps(train, ensure_ascii=False), encoding="utf8")
    encoder_dir = work / "encoder"
    write_encoder_dir(encoder_dir, args.vocab, args.layers, args.width, MAX_LENGTH)
    config = json.loads((encoder_dir / "config.json").read_text(encoding="utf8"))
    config["num_attention_heads"] = args.heads
    (encoder_dir / "config.json").write_text(json.dumps(config, indent=2), encoding="utf8")
    return work, encoder_dir


def run(args: argparse.Namespace) -> List[Dict[str, Any]]:
    torch.set_num_threads(args.threads)
    default = LADDER_ROWS if args.pretrained else list(ROWS)
    names = args.rows.split(",") if args.rows else (QUICK_ROWS if args.quick else default)
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        raise SystemExit(f"--rows: unknown rows {unknown}; rows: {', '.join(ROWS)}")
    if "plain" not in names and not args.skip_plain:
        names = ["plain", *names]  # ratios need the plain script in the same run
    require_inputs(args)
    if args.vectors is None and any("@VECTORS@" in json.dumps(ROWS[n][1]) for n in names):
        raise SystemExit(
            "--vectors: the flat-vectors rows need a word vectors file (benchmarks/pretrained.py "
            "writes one beside the pretrained encoder)."
        )
    budget = dict(BUDGET)
    train, held = split_records(args.corpus)
    if args.quick:
        train, held = train[: QUICK["train_records"]], held[: QUICK["eval_records"]]
        budget["epochs"] = QUICK["epochs"]
    if args.epochs:
        budget["epochs"] = args.epochs
    if args.max_records:
        train, held = train[: args.max_records], held[: max(1, args.max_records // 4)]
    work, encoder_dir = make_workdir(train, args, "nerkit-accuracy-")
    pretrained = args.pretrained is not None
    if pretrained:
        encoder_dir = args.pretrained  # its weights, for every row and the plain script
    if args.save:  # the scored part beside the trained models (for bench_export.py --data)
        args.save.mkdir(parents=True, exist_ok=True)
        (args.save / "scored.json").write_text(
            json.dumps(held, ensure_ascii=False), encoding="utf8"
        )
    os.environ.setdefault("NERKIT_CACHE", str(work / "cache"))
    needs_words = any("model.lexicon" in ROWS[n][1] for n in names)
    words = lexicon_words(work / "pkuseg_words.txt") if needs_words else None
    print(
        f"# {len(train)} training / {len(held)} scored records, {budget['epochs']} epochs, "
        f"encoder {args.layers} layers x {args.width}, {args.threads} thread(s)",
        flush=True,
    )
    out: List[Dict[str, Any]] = []
    trained: Dict[Tuple[str, int], Dict[str, Any]] = {}
    for seed, name in [(seed, name) for seed in args.seeds for name in names]:
        description, overrides = ROWS[name]
        base, decoding = DECODING_VARIANTS.get(name, (None, None))
        if name == "plain":
            result = plain_script(train, held, encoder_dir, budget, seed, pretrained, args.device)
        elif (base, seed) in trained:
            result = redecode(trained[base, seed], decoding)
        else:
            save = (
                args.save / (name if len(args.seeds) == 1 else f"{name}-{seed}")
                if args.save
                else None
            )
            result = trained[name, seed] = nerkit_row(
                overrides,
                work,
                encoder_dir,
                held,
                budget,
                words,
                seed,
                pretrained,
                args.vectors,
                save,
                args.device,
            )
        s = result["scores"]
        row = {
            "row": name,
            "description": description,
            "precision": s["precision"],
            "recall": s["recall"],
            "f1": s["f1"],
            "tp_fp_fn": [s["tp"], s["fp"], s["fn"]],
            "seconds": result["seconds"],
            "tokens_per_s": result["tokens"] / max(result["seconds"], 1e-9),
            "positions_per_s": result["positions"] / max(result["seconds"], 1e-9),
            "records": [len(train), len(held)],
            "epochs": budget["epochs"],
            "threads": args.threads,
            "shared_training": bool(result.get("shared")),
            "seed": seed,
            "encoder": str(args.pretrained) if pretrained else "random",
        }
        out.append(row)
        print(
            f"{name}: P {100 * s['precision']:.1f} R {100 * s['recall']:.1f} F1 {100 * s['f1']:.1f} "
            f"({result['seconds']:.0f} s, {row['tokens_per_s']:.0f} tokens/s, "
            f"{row['positions_per_s']:.0f} positions/s)",
            flush=True,
        )
        if args.json:
            with open(args.json, "a", encoding="utf8") as fh:
                fh.write(json.dumps(row) + "\n")
    print()
    print(markdown(out))
    if len(args.seeds) > 1:
        print()
        print(seed_table(out))
    return out


def seed_table(rows: List[Dict[str, Any]]) -> str:
    """F1 per row over the seeds: mean, standard deviation (n - 1), and the mean's gap to
    the plain script's mean in units of the larger standard deviation."""
    import statistics

    by_row: Dict[str, List[float]] = {}
    for r in rows:
        by_row.setdefault(r["row"], []).append(100 * r["f1"])
    plain = by_row.get("plain")
    lines = [
        "| row | seeds | F1 mean | F1 std | - plain (in std) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, values in by_row.items():
        mean = statistics.fmean(values)
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        gap = "-"
        if plain and name != "plain" and len(plain) > 1:
            spread = max(std, statistics.stdev(plain))
            delta = mean - statistics.fmean(plain)
            gap = f"{delta:+.1f} ({delta / spread:+.1f})" if spread > 0 else f"{delta:+.1f}"
        lines.append(f"| {name} | {len(values)} | {mean:.1f} | {std:.1f} | {gap} |")
    return "\n".join(lines)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help=f"rows {QUICK_ROWS} on {QUICK}")
    ap.add_argument(
        "--rows", default="", help=f"comma-separated rows (default: all): {', '.join(ROWS)}"
    )
    ap.add_argument("--corpus", type=Path, default=CORPUS, help="CMeEE-format JSON file to split")
    ap.add_argument("--vocab", type=Path, default=VOCAB, help="BERT vocab.txt")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--device", default="cpu", help="cpu, cuda or cuda:N: every row and the plain script"
    )
    ap.add_argument("--epochs", type=int, default=0, help="override the epochs of the budget")
    ap.add_argument(
        "--max-records", type=int, default=0, help="keep N training and N/4 scored records"
    )
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--json", type=Path, default=None, help="append one JSON line per row")
    ap.add_argument(
        "--pretrained",
        type=Path,
        default=None,
        help="a pretrained encoder directory (benchmarks/pretrained.py) for every row: the ladder",
    )
    ap.add_argument(
        "--vectors", type=Path, default=None, help="word vectors of the flat-vectors rows"
    )
    ap.add_argument(
        "--seeds",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[SEED],
        help="comma-separated seeds; each row runs once per seed (mean and std printed)",
    )
    ap.add_argument(
        "--save",
        type=Path,
        default=None,
        help="keep each nerkit row's trained model in DIR/ROW/model-last, the scored part in "
        "DIR/scored.json",
    )
    ap.add_argument(
        "--skip-plain", action="store_true", help="leave out the plain script (no ratios)"
    )
    ap.add_argument(
        "--table", type=Path, default=None, help="print the table of a --json file and exit"
    )
    return ap.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    if args.table:
        rows = [
            json.loads(line)
            for line in args.table.read_text(encoding="utf8").splitlines()
            if line.strip()
        ]
        print(markdown(rows))
        return
    run(args)


if __name__ == "__main__":
    main()
