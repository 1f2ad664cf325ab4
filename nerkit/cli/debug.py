"""Implementations of `nerkit debug data|vectors` and `nerkit visualize`."""

from __future__ import annotations

import filecmp
from pathlib import Path
from typing import Dict, List, Tuple

import typer
from confection import Config

from ..data.corpus import collect_corpus
from ..errors import ConfigError, DataError, NerkitError
from ..training.initialize import SPLITS, ResolvedRun, resolve_run
from ..types import Example

MAX_PROBLEMS = 20  # problems listed per file by `debug data` (all are counted)


def _with_model(cfg: Config) -> Tuple[ResolvedRun, str]:
    """The run with its model built (for the encoder's vocabulary and cap and the label
    scheme), or, when the model can't be built here (e.g. its encoder files are missing),
    the run without it and why."""
    try:
        return resolve_run(cfg, ("corpora", "model"), check_files=False), ""
    except NerkitError as err:
        run = resolve_run(cfg, ("corpora",), check_files=False)  # corpus problems still listed
        return run, str(err)


def _same_file(a: str, b: str) -> bool:
    pa, pb = Path(a), Path(b)
    if not (pa.is_file() and pb.is_file()):
        return False
    if pa.resolve() == pb.resolve() or pa.samefile(pb):
        return True
    return pa.stat().st_size == pb.stat().st_size and filecmp.cmp(pa, pb, shallow=False)


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

    run, why = _with_model(cfg)
    paths = {name: getattr(run.corpora, name) for name in SPLITS if getattr(run.corpora, name)}
    if not paths:
        raise ConfigError(
            "corpora: no train, dev or test file is set. Set [paths] train/dev or pass --paths.train PATH."
        )
    collected = {
        name: collect_corpus(run.reader, path, f"paths.{name}") for name, path in paths.items()
    }
    train = collected["train"][0] if "train" in collected else []
    model = run.model
    if model is not None and train:
        # labels the config leaves out come from the training corpus, as in `nerkit train`
        try:
            model.learn_labels(lambda: train)
        except NerkitError:
            pass  # e.g. no entities in train: no ceiling to show
    scheme = model.scheme if model is not None else None
    scheme = scheme if scheme is not None and scheme.initialized else None
    if scheme is not None and "labels" in scheme.label_config():
        typer.echo(f"labels (learned from train, as `nerkit train` does): {list(scheme.labels)}")
    max_chars = model.max_chars if model is not None else None  # the encoder's cap
    train_labels = {e.label for ex in train for e in ex.entities}
    encoder = model.encoder if model is not None else None
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
            f"encoder vocabulary    {len(encoder.vocab)} entries ({encoder.name_or_path or '?'})"
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


def debug_vectors(cfg: Config) -> None:
    from ..lexicon.coverage import format_coverage, lexicon_coverage

    run = resolve_run(cfg, ("corpora", "model"))
    splits = {name: run.examples(name) for name in SPLITS if getattr(run.corpora, name)}
    model = run.model
    if model.lexicon is None:
        raise DataError(
            "model.lexicon: this config has no lexicon, so there are no word vectors to check."
        )
    texts = [ex.text for examples in splits.values() for ex in examples]
    model.lexicon.initialize(texts)
    for name, examples in splits.items():
        typer.secho(f"== {name}", bold=True)
        typer.echo(format_coverage(lexicon_coverage(examples, model.lexicon)))
