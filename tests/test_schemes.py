"""Label schemes: encoding, conflict rules, lenient decoding, registry, CMeEE ceilings."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from confection import Config

from nerkit.data.schemes import BIOScheme
from nerkit.data.schemes.bio import bio_scheme
from nerkit.data.schemes.nested_bio import nested_bio_scheme
from nerkit.data.schemes.spans import span_scheme
from nerkit.errors import ConfigError, DataError
from nerkit.registry import registry
from nerkit.types import CMEEE_LABELS, Entity

# "头痛伴颈部僵硬" style: sym over bod, plus a flat dis elsewhere.
NESTED = [
    Entity(0, 3, "sym"),
    Entity(0, 1, "bod"),
    Entity(5, 6, "dis"),
    Entity(8, 11, "sym"),
    Entity(10, 11, "bod"),
]


def tags_of(scheme: BIOScheme, names_per_layer):
    return [[scheme.tag_id(k, n) for n in names] for k, names in enumerate(names_per_layer)]


# -- tag ids ------------------------------------------------------------------------------
def test_tag_ids_layout():
    s = bio_scheme(labels=["a", "b"])
    assert s.num_layers == 1
    assert s.layer_tags(0) == ["O", "B-a", "I-a", "B-b", "I-b"]
    n = nested_bio_scheme(labels=list(CMEEE_LABELS))
    assert n.layers == (("sym",), tuple(x for x in CMEEE_LABELS if x != "sym"))
    assert n.layer_tags(0) == ["O", "B-sym", "I-sym"]
    assert n.layer_tags(1)[:3] == ["O", "B-dis", "I-dis"]
    assert n.num_tags(1) == 17


# -- round trips -----------------------------------------------------------------------------
def test_nested_round_trip_keeps_everything():
    s = nested_bio_scheme(labels=list(CMEEE_LABELS))
    tags = s.encode(NESTED, 13)
    assert len(tags) == 2 and all(len(row) == 13 for row in tags)
    expect0 = ["B-sym", "I-sym", "I-sym", "I-sym", "O", "O", "O", "O"]
    expect0 += ["B-sym", "I-sym", "I-sym", "I-sym", "O"]
    assert [s.layer_tags(0)[t] for t in tags[0]] == expect0
    expect1 = ["B-bod", "I-bod", "O", "O", "O", "B-dis", "I-dis", "O", "O", "O"]
    expect1 += ["B-bod", "I-bod", "O"]
    assert [s.layer_tags(1)[t] for t in tags[1]] == expect1
    assert s.decode(tags) == sorted(NESTED)


def test_flat_bio_drops_inner_entity_longer_first():
    s = bio_scheme(labels=list(CMEEE_LABELS))
    tags = s.encode(NESTED, 13)
    assert s.decode(tags) == sorted(
        [Entity(0, 3, "sym"), Entity(5, 6, "dis"), Entity(8, 11, "sym")]
    )


def test_flat_bio_adjacent_same_type_stays_separate():
    s = bio_scheme(labels=["a"])
    ents = [Entity(0, 1, "a"), Entity(2, 3, "a"), Entity(4, 4, "a")]
    tags = s.encode(ents, 5)
    assert tags == [[1, 2, 1, 2, 1]]
    assert s.decode(tags) == ents


def test_span_scheme_keeps_all_and_dedupes():
    s = span_scheme(labels=list(CMEEE_LABELS))
    ents = NESTED + [Entity(0, 3, "sym"), Entity(0, 3, "dis"), Entity(12, 14, "bod")]
    spans = s.encode(ents, 13)
    sym, bod, dis = (CMEEE_LABELS.index(x) for x in ("sym", "bod", "dis"))
    assert spans == [
        (0, 1, bod),
        (0, 3, dis),
        (0, 3, sym),
        (5, 6, dis),
        (8, 11, sym),
        (10, 11, bod),
    ]  # (12, 14) runs past length 13: left out
    assert s.decode(spans) == sorted(set(NESTED) | {Entity(0, 3, "dis")})
    with pytest.raises(ValueError, match="label id 9"):
        s.decode([(0, 1, 9)])


# -- conflict rule -------------------------------------------------------------------------
def test_conflict_longer_first_then_priority_then_earlier_start():
    # Same span, two types: label priority decides (default: labels order).
    same = [Entity(0, 2, "b"), Entity(0, 2, "a")]
    assert bio_scheme(labels=["a", "b"]).decode(bio_scheme(labels=["a", "b"]).encode(same, 3)) == [
        Entity(0, 2, "a")
    ]
    s = bio_scheme(labels=["a", "b"], priority=["b"])
    assert s.priority == ("b", "a")
    assert s.decode(s.encode(same, 3)) == [Entity(0, 2, "b")]
    # Longer beats priority.
    s = bio_scheme(labels=["a", "b"], priority=["a", "b"])
    assert s.decode(s.encode([Entity(0, 1, "a"), Entity(1, 4, "b")], 5)) == [Entity(1, 4, "b")]
    # Equal length and label: earlier start wins; (2, 4) is then not written (position 2
    # taken), and the shorter (4, 5) still fits.
    s = bio_scheme(labels=["a"])
    tags = s.encode([Entity(2, 4, "a"), Entity(0, 2, "a"), Entity(4, 5, "a")], 6)
    assert s.decode(tags) == [Entity(0, 2, "a"), Entity(4, 5, "a")]
    assert tags == [[1, 2, 2, 0, 1, 2]]


def test_entities_past_length_are_left_out_and_bad_input_raises():
    s = nested_bio_scheme(labels=list(CMEEE_LABELS))
    assert s.decode(s.encode([Entity(2, 5, "bod"), Entity(0, 1, "sym")], 5)) == [
        Entity(0, 1, "sym")
    ]
    with pytest.raises(DataError, match="'xyz'.*`labels`"):
        s.encode([Entity(0, 1, "xyz")], 3)
    with pytest.raises(DataError, match="invalid offsets"):
        s.encode([Entity(2, 1, "sym")], 3)


# -- lenient decoding ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "names, expected",
    [
        (["O", "I-a", "I-a", "O"], [Entity(1, 2, "a")]),  # stray I starts an entity
        (["I-a", "I-a"], [Entity(0, 1, "a")]),  # I at position 0
        (["B-a", "I-b", "I-b"], [Entity(0, 0, "a"), Entity(1, 2, "b")]),  # type change
        (["B-a", "I-a", "B-a"], [Entity(0, 1, "a"), Entity(2, 2, "a")]),  # B always starts
        (
            ["I-a", "B-a", "I-b", "O", "I-b"],
            [Entity(0, 0, "a"), Entity(1, 1, "a"), Entity(2, 2, "b"), Entity(4, 4, "b")],
        ),
        (["O", "O"], []),
        (["B-b", "I-b", "I-b"], [Entity(0, 2, "b")]),  # entity ending at the last position
    ],
)
def test_lenient_decoding(names, expected):
    s = bio_scheme(labels=["a", "b"])
    assert s.decode(tags_of(s, [names])) == expected


def test_decode_batch_lengths_padding_and_tensors():
    s = nested_bio_scheme(labels=["a", "b", "sym"], layers=[["sym"], ["a", "b"]])
    seqs = [
        [Entity(0, 2, "sym"), Entity(1, 2, "b")],
        [Entity(0, 0, "a"), Entity(1, 3, "sym"), Entity(3, 4, "a")],
        [],
    ]
    lengths = [3, 5, 1]
    tags = s.encode_batch(seqs, lengths)
    assert tags.shape == (3, 2, 5) and tags.dtype == np.int64
    assert (tags[0, :, 3:] == -100).all() and (tags[2, :, 1:] == -100).all()
    assert (tags[1] >= 0).all()
    assert s.decode_batch(tags, lengths) == [sorted(x) for x in seqs]
    # negative padding ids are read as O without lengths; tensors accepted
    assert s.decode_batch(torch.as_tensor(tags)) == [sorted(x) for x in seqs]
    # garbage past the length is ignored
    noisy = tags.copy()
    noisy[0, 1, 3:] = 1
    assert s.decode_batch(noisy, torch.tensor(lengths)) == [sorted(x) for x in seqs]
    spans = s.tag_spans(tags, lengths)
    assert spans.batch.tolist() == [0, 0, 1, 1, 1]
    assert spans.layer.tolist() == [0, 1, 0, 1, 1]
    assert [s.labels[i] for i in spans.label.tolist()] == ["sym", "b", "sym", "a", "a"]
    with pytest.raises(ValueError, match="tag id 5 at batch 0, layer 1, position 0"):
        s.decode_batch(np.array([[[0], [5]]]))


def test_decode_batch_matches_brute_force_on_random_tags():
    """The vectorised decoder equals a plain left-to-right reading of the tags."""
    s = bio_scheme(labels=["a", "b", "c"])

    def brute(row):
        out, cur = [], None  # cur = [start, end, label]
        for i, t in enumerate(row):
            if t == 0:
                cur = None
                continue
            lab, begin = s.labels[(t - 1) // 2], t % 2 == 1
            if begin or cur is None or cur[2] != lab:
                cur = [i, i, lab]
                out.append(cur)
            else:
                cur[1] = i
        return sorted(Entity(*c) for c in out)

    rng = np.random.default_rng(0)
    tags = rng.integers(0, s.num_tags(0), size=(64, 1, 12))
    assert s.decode_batch(tags) == [brute(t[0].tolist()) for t in tags]


def test_transition_mask():
    s = bio_scheme(labels=["a", "b"])
    start_ok, trans = s.transition_mask(0)
    assert start_ok.tolist() == [True, True, False, True, False]
    assert trans[:, 2].tolist() == [False, True, True, False, False]  # I-a after B-a / I-a
    assert trans[:, 4].tolist() == [False, False, False, True, True]
    assert trans[:, [0, 1, 3]].all()


# -- validation and registry -----------------------------------------------------------------
def test_layers_must_partition_labels():
    with pytest.raises(ConfigError, match="`layers` leaves out labels \\['dep', 'mic'\\]"):
        nested_bio_scheme(
            labels=list(CMEEE_LABELS), layers=[["sym"], ["dis", "pro", "equ", "dru", "ite", "bod"]]
        )
    with pytest.raises(ConfigError, match="`layers` puts label 'sym' in layers 0 and 1"):
        nested_bio_scheme(labels=list(CMEEE_LABELS), layers=[["sym"], list(CMEEE_LABELS)])
    with pytest.raises(ConfigError, match="`layers` names label 'foo'"):
        nested_bio_scheme(
            labels=list(CMEEE_LABELS),
            layers=[["sym", "foo"], [x for x in CMEEE_LABELS if x != "sym"]],
        )
    no_sym = nested_bio_scheme(labels=["a", "b"])  # no sym: layers learned at initialisation,
    with pytest.raises(ConfigError, match="Give `layers` explicitly"):  # or given to use it
        _ = no_sym.labels
    with pytest.raises(ConfigError, match="`priority` names labels \\['zz'\\]"):
        bio_scheme(labels=list(CMEEE_LABELS), priority=["zz"])
    with pytest.raises(ConfigError, match="more than once"):
        span_scheme(labels=["a", "a"])


def test_registered_builders_resolve_from_config():
    cmeee = '["dis", "sym", "pro", "equ", "dru", "ite", "bod", "dep", "mic"]'
    cfg = Config().from_str(
        f"""
        [flat]
        @label_schemes = "nerkit.BIO.v1"
        labels = {cmeee}
        priority = ["bod"]

        [nested]
        @label_schemes = "nerkit.NestedBIO.v1"
        labels = {cmeee}

        [custom]
        @label_schemes = "nerkit.NestedBIO.v1"
        labels = ["x", "y", "z"]
        layers = [["x", "y"], ["z"]]

        [spans]
        @label_schemes = "nerkit.Spans.v1"
        labels = {cmeee}
        """
    )
    out = registry.resolve(cfg)
    assert isinstance(out["flat"], BIOScheme) and out["flat"].priority[0] == "bod"
    assert out["nested"].layers == nested_bio_scheme(labels=list(CMEEE_LABELS)).layers
    assert out["custom"].layer_tags(0) == ["O", "B-x", "I-x", "B-y", "I-y"]
    assert out["spans"].labels == CMEEE_LABELS
    bad = Config().from_str(
        f'[s]\n@label_schemes = "nerkit.NestedBIO.v1"\nlabels = {cmeee}\nlayers = [["sym"]]'
    )
    with pytest.raises(ConfigError, match="`layers` leaves out"):
        registry.resolve(bad)
    # no labels: they are learned at initialisation; a scheme used before says where from
    for name in ("nerkit.BIO.v1", "nerkit.NestedBIO.v1", "nerkit.Spans.v1"):
        scheme = registry.resolve(Config().from_str(f'[s]\n@label_schemes = "{name}"'))["s"]
        with pytest.raises(ConfigError, match="learns them from the training corpus"):
            _ = scheme.labels


# -- ceilings on the real dev file -----------------------------------------------------------
@pytest.fixture(scope="module")
def dev_records(shared_data):
    with (shared_data / "cmeee" / "CMeEE_dev.json").open(encoding="utf-8") as f:
        return json.load(f)


def recovered(scheme, records) -> float:
    gold = [
        {Entity(e["start_idx"], e["end_idx"], e["type"]) for e in r["entities"]} for r in records
    ]
    tags = scheme.encode_batch(gold, [len(r["text"]) for r in records])
    pred = scheme.decode_batch(tags, [len(r["text"]) for r in records])
    hit = sum(len(g & set(p)) for g, p in zip(gold, pred, strict=True))
    return hit / sum(len(g) for g in gold)


def test_dev_ceiling_nested(dev_records):
    assert recovered(nested_bio_scheme(labels=list(CMEEE_LABELS)), dev_records) >= 0.999


def test_dev_ceiling_flat(dev_records):
    assert recovered(bio_scheme(labels=list(CMEEE_LABELS)), dev_records) >= 0.939


def test_dev_spans_keep_everything(dev_records):
    s = span_scheme(labels=list(CMEEE_LABELS))
    for r in dev_records[:500]:
        gold = {Entity(e["start_idx"], e["end_idx"], e["type"]) for e in r["entities"]}
        assert set(s.decode(s.encode(gold, len(r["text"])))) == gold


def test_registered_nested_bio_defaults_match_the_class():
    """The builder's signature is the one place of the defaults: a label subset works
    through the registry exactly as through the class."""
    from nerkit.registry import registry

    build = registry.get("label_schemes", "nerkit.NestedBIO.v1")
    for labels in (["sym", "dis"], ["dis", "sym", "bod"]):
        built, direct = build(labels=labels), nested_bio_scheme(labels=labels)
        assert built.labels == direct.labels == tuple(labels)
        assert built.num_layers == direct.num_layers == 2
        assert [built.layer_tags(i) for i in range(2)] == [direct.layer_tags(i) for i in range(2)]
        assert built.layer_tags(0) == ["O", "B-sym", "I-sym"]
    default = build(
        labels=list(CMEEE_LABELS)
    )  # no labels: learned by nerkit train (test_labels.py)
    assert [default.layer_tags(i) for i in range(2)] == [
        nested_bio_scheme(labels=list(CMEEE_LABELS)).layer_tags(i) for i in range(2)
    ]
