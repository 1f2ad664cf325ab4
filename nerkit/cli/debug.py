"""Implementations of `nerkit debug data|vectors` and `nerkit visualize`."""

from __future__ import annotations

import filecmp
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import typer
from confection import Config

from ..config import (
    _to_dict,
    check_config,
    interpolated,
    resolve_section,
    with_initialize,
)
from ..data.corpus import read_corpus
from ..data.formats.cmeee import CMeEEReader
from ..errors import ConfigError, DataError, NerkitError
from ..types import Example

MAX_PROBLEMS = 20  # problems listed per file by `debug data` (all are counted)


def _corpora(cfg: Config):
    corpora = check_config(cfg)["corpora"]
    reader = resolve_section(cfg, "corpora")["reader"]
    splits = {}
    for name in ("train", "dev", "test"):
        path = getattr(corpora, name)
        if path:
            splits[name] = read_corpus(reader, path, f"paths.{name}")
    return splits


def _collect(reader: Any, path: str, key: str) -> Tuple[List[Example], List[str]]:
    """The valid records of a file and every problem found in it."""
    problems: List[str] = []
    if not Path(path).exists():
        return [], [
            f"{key}: file not found: {path}. Fix the path in the config or pass --{key} PATH."
        ]
    if isinstance(reader, CMeEEReader):
        return reader.collect(path, problems), problems
    try:  # another reader: it stops at its first problem
        return reader(path), problems
    except DataError as err:
        return [], [str(err)]


def _same_file(a: str, b: str) -> bool:
    pa, pb = Path(a), Path(b)
    if not (pa.is_file() and pb.is_file()):
        return False
    if pa.resolve() == pb.resolve() or pa.samefile(pb):
        return True
    return pa.stat().st_size == pb.stat().st_size and filecmp.cmp(pa, pb, shallow=False)


def _encoder_vocab(model_cfg: Dict[str, Any]) -> Tuple[Optional[Any], str]:
    """The encoder built without pretrained weights (only its vocabulary is used), or None and why."""
    block = dict(model_cfg.get("encoder", {}))
    if "pretrained" in block:
        block["pretrained"] = False  # the vocabulary comes from the tokenizer files alone
    try:
        return resolve_section(Config({"encoder": block}), "encoder"), ""
    except NerkitError as err:
        return None, str(err)


def debug_data(cfg: Config) -> None:
    """Statistics, coverage and every validation problem of the config's corpora.

    Everything is printed first; then, if any file is missing or has invalid
    records, a DataError (exit status 1, as ``spacy debug data`` on errors).
    """
    from ..data.labels import unknown_labels
    from ..data.stats import (
        UNKNOWN_WARN_RATE,
        char_coverage,
        corpus_stats,
        format_coverage,
        format_extras,
        format_stats,
        longest_records,
    )
    from ..training.labels import fill_labels

    corpora = check_config(cfg)["corpora"]
    reader = resolve_section(cfg, "corpora")["reader"]
    paths = {
        name: getattr(corpora, name) for name in ("train", "dev", "test") if getattr(corpora, name)
    }
    if not paths:
        raise ConfigError(
            "corpora: no train, dev or test file is set. Set [paths] train/dev or pass --paths.train PATH."
        )
    collected = {name: _collect(reader, path, f"paths.{name}") for name, path in paths.items()}
    train = collected["train"][0] if "train" in collected else []
    if train:  # labels the config leaves out come from the training corpus, as in `nerkit train`
        cfg, learned, _ = fill_labels(cfg, train)
        if learned is not None:
            typer.echo(f"labels (learned from train, as `nerkit train` does): {learned}")
    model_cfg = with_initialize(_to_dict(interpolated(cfg)))["model"]  # as training builds it
    max_chars = int(model_cfg["encoder"].get("max_length", 512)) - 2
    scheme = _scheme(model_cfg.get("decoder", {}))
    train_labels = {e.label for ex in train for e in ex.entities}
    encoder, why = _encoder_vocab(model_cfg)
    splits: Dict[str, List[Example]] = {}
    total_problems = errors = 0
    first_error = ""
    for name, path in paths.items():
        examples, problems = collected[name]
        splits[name] = examples
        typer.secho(f"== {name}: {path}", bold=True)
        if examples:
            typer.echo(format_stats(corpus_stats(examples, max_chars=max_chars, scheme=scheme)))
            if encoder is not None:
                cov = char_coverage([ex.text for ex in examples], encoder.char_ids, encoder.unk_id)
                flag = (
                    "  ⚠ high: the model reads these as [UNK]"
                    if cov["rate"] > UNKNOWN_WARN_RATE
                    else ""
                )
                typer.echo(f"encoder vocabulary    {format_coverage(cov)}{flag}")
            unseen = unknown_labels(examples, train_labels) if name != "train" and train else None
            typer.echo(format_extras(longest_records(examples), unseen))
        errors += len(problems)
        first_error = first_error or (problems[0] if problems else "")
        warnings = getattr(
            examples, "warnings", []
        )  # tolerated (on_mismatch = "warn"): listed, not failures
        problems = problems + list(warnings)
        total_problems += len(problems)
        shown = f" (first {MAX_PROBLEMS} below)" if len(problems) > MAX_PROBLEMS else ""
        typer.echo(f"validation problems: {len(problems)}{shown}")
        for w in problems[:MAX_PROBLEMS]:
            typer.echo(f"  - {w}")
    typer.secho("== across files", bold=True)
    if encoder is None:
        typer.echo(f"encoder vocabulary    not checked: {why}")
    else:
        typer.echo(
            f"encoder vocabulary    {len(encoder.vocab)} entries ({model_cfg['encoder'].get('name_or_path', '?')})"
        )
    if "train" in splits and splits["train"]:
        seen = set("".join(ex.text for ex in splits["train"]))
        for name in ("dev", "test"):
            if splits.get(name):
                cov = char_coverage([ex.text for ex in splits[name]], lambda c: [int(c in seen)], 0)
                typer.echo(f"{name + ' chars in train':<22}{format_coverage(cov, 'seen in train')}")
    names = list(paths)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if _same_file(paths[a], paths[b]):
                typer.secho(
                    f"⚠ {a} and {b} are the same file ({paths[a]}): dev scores measured on training data "
                    "say nothing about new text. Split the data: keep a part of train apart as the dev set.",
                    fg=typer.colors.YELLOW,
                )
    typer.echo(f"validation problems in all files: {total_problems}")
    if errors:
        raise DataError(
            f"{errors} problem{'s' if errors > 1 else ''} in the data (listed above) would stop training; "
            f"fix them first. The first: {first_error}"
        )


def _scheme(decoder_cfg: Dict[str, Any]) -> Optional[Any]:
    """The decoder's label scheme (a decoder built at width 8 holds it), or None."""
    if not decoder_cfg:
        return None
    try:
        return resolve_section(Config({"d": decoder_cfg}), "d")(8).scheme
    except NerkitError:
        return None  # e.g. labels still missing (no training file): no ceiling to show


def debug_vectors(cfg: Config) -> None:
    from ..lexicon.coverage import format_coverage, lexicon_coverage

    splits = _corpora(cfg)
    model = resolve_section(cfg, "model")
    if model.lexicon is None:
        raise DataError(
            "model.lexicon: this config has no lexicon, so there are no word vectors to check."
        )
    texts = [ex.text for examples in splits.values() for ex in examples]
    model.lexicon.initialize(texts)
    for name, examples in splits.items():
        typer.secho(f"== {name}", bold=True)
        typer.echo(format_coverage(lexicon_coverage(examples, model.lexicon)))
