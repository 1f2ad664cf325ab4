"""Labels learned from the training corpus: collection, layers, learning at initialisation."""

from __future__ import annotations

import itertools
import json
import random

import pytest
from confection import Config

from nerkit.data.labels import (
    collect_labels,
    nesting_layers,
    overlapping_label_pairs,
    unknown_labels,
)
from nerkit.errors import ConfigError, DataError
from nerkit.registrations import populate
from nerkit.registry import registry
from nerkit.types import Entity, Example

from .conftest import needs_shared

populate()

TRAIN = [
    Example(
        "右下腹疼痛三天", [Entity(0, 2, "身体 部位"), Entity(0, 4, "Symptom"), Entity(5, 6, "时间")]
    ),
    Example("血钾降低", [Entity(0, 1, "检验"), Entity(0, 3, "Symptom"), Entity(0, 3, "Symptom")]),
    Example("无", []),
]


def test_collect_and_unknown_labels():
    assert collect_labels(TRAIN) == sorted(["身体 部位", "Symptom", "时间", "检验"])
    assert unknown_labels(TRAIN, ["Symptom"]) == {"身体 部位": 1, "时间": 1, "检验": 1}


def test_nesting_layers_separate_every_overlapping_pair():
    rng = random.Random(0)
    labels = list("abcdefg")
    examples = []
    for _ in range(40):
        ents = []
        for _ in range(rng.randint(0, 5)):
            s = rng.randint(0, 20)
            ents.append(Entity(s, s + rng.randint(0, 4), rng.choice(labels)))
        examples.append(Example("x" * 30, ents))
    layers = nesting_layers(examples, labels, min_share=0.0)
    assert sorted(itertools.chain(*layers)) == labels  # a partition
    # brute force: no two labels of one layer have overlapping entities anywhere
    for ex in examples:
        for a, b in itertools.combinations(ex.entities, 2):
            if a.label != b.label and a.start <= b.end and b.start <= a.end:
                assert not any(a.label in layer and b.label in layer for layer in layers)
    pairs = overlapping_label_pairs(TRAIN)
    assert pairs["Symptom"] == {"身体 部位", "检验"}
    assert nesting_layers(TRAIN, collect_labels(TRAIN)) == [
        ["Symptom", "时间"],
        ["检验", "身体 部位"],
    ]


def test_nesting_layers_open_a_layer_only_for_overlaps_worth_it():
    """Hand-computed: B inside A 10 times, C crossing B once and A once, 200 entities."""
    examples = [Example("x" * 10, [Entity(0, 5, "A"), Entity(1, 2, "B")]) for _ in range(10)]
    examples += [Example("x" * 10, [Entity(0, 2, "B")]) for _ in range(5)]
    examples += [Example("x" * 10, [Entity(0, 2, "B"), Entity(2, 4, "C")])]
    examples += [Example("x" * 10, [Entity(0, 5, "A"), Entity(5, 7, "C")])]
    examples += [Example("x" * 10, [Entity(0, 1, "C")]) for _ in range(171)]
    assert sum(len(ex.entities) for ex in examples) == 200
    # order: B and A (11 overlapping pairs each; B has more entities), then C (2).
    # B opens layer 0; A costs 10 there, over the budget of 0.005 * 200 = 1: layer 1;
    # C costs 1 in either, the first wins, 1 <= 1.
    assert nesting_layers(examples, ["A", "B", "C"]) == [["B", "C"], ["A"]]
    assert nesting_layers(examples, ["A", "B", "C"], min_share=0.0) == [["B"], ["A"], ["C"]]
    assert nesting_layers(examples, ["A", "B", "C"], min_share=0.05) == [["A", "B", "C"]]


@pytest.mark.shared
def test_nesting_layers_on_cmeee_are_the_studys():
    """On the CMeEE training split the learned layers are the study's sym / the rest
    (with dep, which never overlaps sym, beside sym); before the budget, rare noise
    overlaps (dis inside pro: 6 pairs) gave three layers and CRF nested 14.7 F1
    against 23.2 at the accuracy benchmark's --quick size."""
    path = needs_shared("cmeee/CMeEE_dev.json")
    records = json.loads(path.read_text(encoding="utf8"))
    train = [
        Example(r["text"], [Entity(e["start_idx"], e["end_idx"], e["type"]) for e in r["entities"]])
        for i, r in enumerate(records)
        if i % 5
    ]
    layers = nesting_layers(train, collect_labels(train))
    assert layers == [["dep", "sym"], ["bod", "dis", "dru", "equ", "ite", "mic", "pro"]]


def test_schemes_learn_only_what_the_config_leaves_out():
    """Labels and layers are learned at initialisation (``initialize(get_examples)``) and
    reported as arguments of the scheme's own block; listed ones are kept as written."""
    built = registry.resolve(
        Config().from_str(
            """
            [nested]
            @label_schemes = "nerkit.NestedBIO.v1"
            [other]
            @label_schemes = "nerkit.Spans.v1"
            labels = ["x"]
            [flat]
            @label_schemes = "nerkit.BIO.v1"
            [a]
            @label_schemes = "nerkit.NestedBIO.v1"
            labels = ["Symptom", "检验", "身体 部位"]
            [b]
            @label_schemes = "nerkit.NestedBIO.v1"
            labels = ["sym", "bod"]
            """
        )
    )
    nested = built["nested"]
    assert not nested.initialized
    with pytest.raises(ConfigError, match="learns them from the training corpus"):
        _ = nested.labels
    nested.initialize(lambda: TRAIN)
    learned = collect_labels(TRAIN)
    assert nested.labels == tuple(learned) and nested.num_layers == 2
    assert nested.label_config() == {"labels": learned, "layers": nesting_layers(TRAIN, learned)}
    # the nested pairs survive the encode/decode round trip in separate layers
    for ex in TRAIN:
        assert nested.decode(nested.encode(ex.entities, len(ex.text))) == sorted(set(ex.entities))
    for name in ("other", "b"):  # listed labels (with sym: the study's split): nothing to learn
        built[name].initialize(lambda: TRAIN)
        assert built[name].label_config() == {}
    assert built["b"].layers == (("sym",), ("bod",))
    built["flat"].initialize(lambda: TRAIN)
    assert built["flat"].label_config() == {"labels": learned} and built["flat"].num_layers == 1
    # listed labels without "sym" and no layers: layers learned
    built["a"].initialize(lambda: TRAIN)
    assert built["a"].label_config() == {"layers": [["Symptom"], ["检验", "身体 部位"]]}
    empty = registry.resolve(Config().from_str('[s]\n@label_schemes = "nerkit.Spans.v1"'))["s"]
    with pytest.raises(DataError, match="has no entities"):
        empty.initialize(lambda: [Example("无", [])])


def test_the_model_records_what_its_scheme_learned_in_its_own_block():
    """A decoder with a scheme block reports under "scheme"; the nested decoders, whose
    labels are their own arguments, report in their block."""
    for block, where in (
        (
            '@decoders = "nerkit.LinearDecoder.v1"\n[d.scheme]\n@label_schemes = "nerkit.BIO.v1"',
            ["scheme"],
        ),
        ('@decoders = "nerkit.CRFNestedDecoder.v1"', []),
        ('@decoders = "nerkit.LinearNestedDecoder.v1"', []),
        (
            '@decoders = "nerkit.GlobalPointer.v1"\n[d.scheme]\n@label_schemes = "nerkit.Spans.v1"',
            ["scheme"],
        ),
    ):
        factory = registry.resolve(Config().from_str(f"[d]\n{block}"))["d"]
        with pytest.raises(ConfigError, match="learns them from the training corpus"):
            factory(8)  # no head before the labels are known
        factory.initialize(lambda: TRAIN)
        learned = factory.label_config()
        for key in where:
            learned = learned[key]
        assert learned["labels"] == collect_labels(TRAIN)
        assert factory(8).scheme.labels == tuple(collect_labels(TRAIN))


def test_learned_labels_are_recorded_load_without_the_corpus_and_survive_resume(tmp_path):
    """A config without labels: the scheme learns labels and layers from the training
    corpus at initialisation; config.cfg lists them in the scheme's block, meta.json too,
    the model loads once the corpus is gone, and a resumed run records the same."""
    import shutil

    from nerkit.config import load_config
    from nerkit.models.io import load_model
    from nerkit.training.initialize import resolve_run
    from nerkit.training.loop import train

    from .conftest import CORPUS, FAST, QUICKSTART

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("train.json", "dev.json"):
        shutil.copy(CORPUS / name, corpus / name)
    overrides = dict(FAST)
    overrides.update(
        {
            "paths.train": str(corpus / "train.json"),
            "paths.dev": str(corpus / "dev.json"),
            "corpora.max_train_records": 16,
            "corpora.max_dev_records": 4,
            "training.max_epochs": 2,
            "training.eval_frequency": 2,
            "model.decoder.scheme.labels": None,
        }
    )
    train_examples = resolve_run(load_config(QUICKSTART, overrides), ["corpora"]).train_examples
    assert len(train_examples) == 16
    labels = collect_labels(train_examples)
    layers = nesting_layers(train_examples, labels)
    with pytest.raises(KeyboardInterrupt):
        train(load_config(QUICKSTART, overrides), tmp_path / "run", stop_after_steps=2)
    resumed = train(load_config(QUICKSTART, overrides), tmp_path / "run", resume=tmp_path / "run")
    assert resumed.steps == 4
    for name in ("model-best", "model-last"):
        path = tmp_path / "run" / name
        scheme = Config().from_disk(path / "config.cfg", interpolate=False)["model"]["decoder"][
            "scheme"
        ]
        assert scheme["labels"] == labels and scheme["layers"] == layers
        meta = json.loads((path / "meta.json").read_text(encoding="utf8"))
        assert meta["labels"] == labels and meta["labels_learned"] is True
    shutil.rmtree(corpus)
    model, _ = load_model(tmp_path / "run" / "model-last")
    assert model.labels == tuple(labels)
    assert [list(x) for x in model.decoder.scheme.layers] == layers
