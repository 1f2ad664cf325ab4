"""Implementations of `nerkit debug data|vectors` and `nerkit visualize`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from confection import Config

from ..config import check_config, interpolated, resolve_section, settings
from ..errors import DataError, NerkitError
from ..training.loop import read_corpus


def _corpora(cfg: Config):
    check_config(cfg)
    corpora = settings(cfg, "corpora")
    reader = resolve_section(cfg, "corpora")["reader"]
    splits = {}
    for name in ("train", "dev", "test"):
        path = getattr(corpora, name)
        if path:
            splits[name] = read_corpus(reader, path, f"paths.{name}")
    return splits


def debug_data(cfg: Config) -> None:
    from ..data.labels import unknown_labels
    from ..data.stats import (
        chars_outside_vocab,
        corpus_stats,
        format_extras,
        format_stats,
        longest_records,
    )

    splits = _corpora(cfg)
    if "train" in splits:  # labels the config leaves out come from the training corpus
        from ..training.labels import fill_labels

        cfg, learned, _ = fill_labels(cfg, splits["train"])
        if learned is not None:
            typer.echo(f"labels (learned from train, as `nerkit train` does): {learned}")
    model_cfg = interpolated(cfg)["model"]
    max_chars = int(model_cfg["encoder"].get("max_length", 512)) - 2
    scheme = _scheme(model_cfg.get("decoder", {}))
    vocab = _vocab(model_cfg["encoder"])
    train_labels = [e.label for ex in splits.get("train", []) for e in ex.entities]
    for name, examples in splits.items():
        typer.secho(f"== {name}: {getattr(examples, 'path', '')}", bold=True)
        typer.echo(format_stats(corpus_stats(examples, max_chars=max_chars, scheme=scheme)))
        oov = chars_outside_vocab(examples, vocab) if vocab is not None else None
        unseen = unknown_labels(examples, set(train_labels)) if name != "train" and train_labels else None
        total = sum(len(ex.text) for ex in examples)
        typer.echo(format_extras(longest_records(examples), oov, unseen, total))
        warnings = getattr(examples, "warnings", [])
        typer.echo(f"validation problems: {len(warnings)}")
        for w in warnings[:20]:
            typer.echo(f"  - {w}")


def _scheme(decoder_cfg):
    """The decoder's label scheme (a decoder built at width 8 holds it), or None."""
    if not decoder_cfg:
        return None
    try:
        return resolve_section(Config({"d": decoder_cfg}), "d")(8).scheme
    except NerkitError:
        return None  # e.g. labels still missing: no ceiling to show


def _vocab(encoder_cfg):
    """The encoder's character vocabulary when it is a local directory with a vocab.txt."""
    from ..data.chars import CharVocab

    path = Path(str(encoder_cfg.get("name_or_path", ""))) / "vocab.txt"
    return CharVocab.from_file(path) if path.is_file() else None


def debug_vectors(cfg: Config) -> None:
    from ..lexicon.coverage import format_coverage, lexicon_coverage

    splits = _corpora(cfg)
    model = resolve_section(cfg, "model")
    if model.lexicon is None:
        raise DataError("model.lexicon: this config has no lexicon, so there are no word vectors to check.")
    texts = [ex.text for examples in splits.values() for ex in examples]
    model.lexicon.initialize(texts)
    for name, examples in splits.items():
        typer.secho(f"== {name}", bold=True)
        typer.echo(format_coverage(lexicon_coverage(examples, model.lexicon)))


def visualize(source: Path, input: Path, output: Path, gold: Optional[Path], limit: int) -> None:
    from ..data.formats import read as read_any  # any format, detected from the file
    from ..visualize import write_html

    if (source / "config.cfg").exists():
        from ..pipeline import load

        nlp = load(source)
        examples = nlp.read(input)
        if limit:
            examples = examples[:limit]
        preds = nlp.predict_examples(examples)
    else:
        examples = read_any(input)
        pred_examples = read_any(source)
        if len(pred_examples) != len(examples):
            raise DataError(f"{source} has {len(pred_examples)} records but {input} has {len(examples)}.")
        if limit:
            examples, pred_examples = examples[:limit], pred_examples[:limit]
        for i, (a, b) in enumerate(zip(examples, pred_examples, strict=True)):
            if a.text != b.text:  # e.g. a brat folder read in another order
                raise DataError(
                    f"{source}, record {i}: its text differs from record {i} of {input}; the "
                    "predictions must be the input's records in the same order."
                )
        preds = [ex.entities for ex in pred_examples]
    gold_entities = None
    if gold is not None:
        gold_examples = read_any(gold)[: len(examples)]
        gold_entities = [ex.entities for ex in gold_examples]
    write_html(output, [ex.text for ex in examples], preds, gold=gold_entities, title=f"nerkit: {input.name}")
