"""Every config under configs/ loads, validates, and trains for two steps.

The file list is a glob, so a new config is covered without touching this
file. The training runs swap every downloaded asset for a local stand-in: the
tiny BERT of the quickstart (random weights) for any encoder, the quickstart
corpus for CMeEE, its 16-d vectors for sgns.merge.word and Medical.txt, and a
pkuseg model trained here on a few sentences for pkuseg's medicine model.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from pathlib import Path
from typing import Any, Dict

import pytest

from nerkit.config import check_config, load_config, settings
from nerkit.models.prediction import predict
from nerkit.registry import registry
from nerkit.training.loop import Trainer

from .conftest import CORPUS, ROOT, TINY_BERT

CONFIGS = ROOT / "configs"
# pretrain*.cfg are pretraining configs (`nerkit pretrain`), covered by tests/test_pretrain.py
CONFIG_FILES = sorted(p for p in CONFIGS.glob("*.cfg") if not p.stem.startswith("pretrain"))
IDS = [p.stem for p in CONFIG_FILES]

# The study's experiments: reported test F1 and what each one composes.
# (encoder [paths] key, fusion, segmenter, vectors [paths] key, adversarial, layer-wise decay)
STUDY: Dict[str, tuple] = {
    "bert-linear-nested": (62.684, "bert", None, None, None, "nerkit.NoAdversarial.v1", None),
    "bert-flat-sgns": (
        63.392,
        "bert",
        "nerkit.FLAT.v1",
        "nerkit.LexiconMatcher.v1",
        "sgns",
        "nerkit.NoAdversarial.v1",
        None,
    ),
    "roberta-flat-pkuseg": (
        64.155,
        "roberta",
        "nerkit.FLAT.v1",
        "nerkit.PkusegSegmenter.v1",
        "sgns",
        "nerkit.NoAdversarial.v1",
        None,
    ),
    "roberta-flat-pkuseg-fgm": (
        64.349,
        "roberta",
        "nerkit.FLAT.v1",
        "nerkit.PkusegSegmenter.v1",
        "sgns",
        "nerkit.FGM.v1",
        None,
    ),
    "roberta-flat-pkuseg-pgd": (
        64.482,
        "roberta",
        "nerkit.FLAT.v1",
        "nerkit.PkusegSegmenter.v1",
        "sgns",
        "nerkit.PGD.v1",
        None,
    ),
    "roberta-flat-pkuseg-pgd-medvec": (
        64.728,
        "roberta",
        "nerkit.FLAT.v1",
        "nerkit.PkusegSegmenter.v1",
        "medvec",
        "nerkit.PGD.v1",
        None,
    ),
    "bert-linear-nested-lld0.8": (62.905, "bert", None, None, None, "nerkit.NoAdversarial.v1", 0.8),
    "bert-linear-nested-lld0.9": (63.010, "bert", None, None, None, "nerkit.NoAdversarial.v1", 0.9),
    "bert-linear-nested-lld0.95": (
        62.905,
        "bert",
        None,
        None,
        None,
        "nerkit.NoAdversarial.v1",
        0.95,
    ),
    "best": (
        66.032,
        "roberta_large",
        "nerkit.FLAT.v1",
        "nerkit.PkusegSegmenter.v1",
        "medvec",
        "nerkit.PGD.v1",
        None,
    ),
}
BEYOND = ["roberta-globalpointer", "roberta-large-flat-globalpointer", "bert-crf-nested", "sota"]
# Offline configs over the bundled sample files, not experiments (no study F1, not based on base.cfg).
QUICKSTARTS = ("quickstart", "quickstart-flat", "quickstart-pretrained")


def _study_line(path: Path):
    m = re.search(
        r"^#\s*Study test F1:\s*(\S+)",
        path.read_text(encoding="utf8"),
        re.MULTILINE | re.IGNORECASE,
    )
    return m.group(1) if m else None


def test_every_experiment_has_a_config():
    names = set(IDS)
    missing = [n for n in [*STUDY, *BEYOND, "base", *QUICKSTARTS] if n not in names]
    assert not missing, f"configs/ lacks {missing}"


@pytest.mark.parametrize("path", CONFIG_FILES, ids=IDS)
def test_config_loads_and_validates(path: Path):
    cfg = load_config(path)
    check_config(cfg)  # raises ConfigError listing every problem
    for section in ("system", "corpora", "training"):
        settings(cfg, section)
    if path.stem in ("base", *QUICKSTARTS):
        return
    # every experiment extends base.cfg (directly or through another experiment)
    chain, current = [], path
    while True:
        m = re.search(
            r'^\[nerkit\]\s*\nextends\s*=\s*"([^"]+)"', current.read_text(encoding="utf8"), re.M
        )
        if m is None:
            break
        current = (current.parent / m.group(1)).resolve()
        chain.append(current.name)
    assert chain and chain[-1] == "base.cfg", f"{path.name} extends {chain}, not base.cfg"


@pytest.mark.parametrize("name", list(STUDY))
def test_study_config_composition(name: str):
    """The header states the study's F1, and the config composes what the study did."""
    f1, encoder, fusion, segmenter, vectors, adversarial, lld = STUDY[name]
    path = CONFIGS / f"{name}.cfg"
    assert _study_line(path) == f"{f1:.3f}"
    cfg = load_config(path, interpolate=True)
    paths, model, training = cfg["paths"], cfg["model"], cfg["training"]
    init = cfg["initialize"]["model"]  # the init-only resources, outside the architecture
    assert "name_or_path" not in model["encoder"] and "vectors" not in model.get("lexicon", {})
    assert init["encoder"]["name_or_path"] == paths[encoder]
    assert model["encoder"]["max_length"] == (512 if name == "best" else 128)
    assert training["max_epochs"] == (20 if name == "best" else 5)
    assert model["decoder"]["@decoders"] == "nerkit.LinearNestedDecoder.v1"
    assert model.get("fusion", {}).get("@fusions") == fusion
    if segmenter is None:
        assert "lexicon" not in model
    else:
        assert model["lexicon"]["segmenter"]["@segmenters"] == segmenter
        assert init["lexicon"]["vectors"]["path"] == paths[vectors]
        if segmenter == "nerkit.PkusegSegmenter.v1":
            assert init["lexicon"]["segmenter"]["model"] == paths["pkuseg"]
            assert "model" not in model["lexicon"]["segmenter"]
    assert training["adversarial"]["@adversarial"] == adversarial
    assert training["optimizer"].get("layerwise_decay") == lld
    assert training["optimizer"]["learning_rate"] == 3e-5


def test_sota_config_is_the_published_recipe():
    """A large encoder, Efficient GlobalPointer, FGM, EMA, windows of 512; the header cites the aims."""
    path = CONFIGS / "sota.cfg"
    cfg = load_config(path, interpolate=True)
    model, training = cfg["model"], cfg["training"]
    assert cfg["initialize"]["model"]["encoder"]["name_or_path"] == cfg["paths"]["roberta_large"]
    assert model["encoder"]["max_length"] == 512
    assert model["decoder"]["@decoders"] == "nerkit.EfficientGlobalPointer.v1"
    assert model["decoder"]["scheme"]["@label_schemes"] == "nerkit.Spans.v1"
    assert "lexicon" not in model and "fusion" not in model
    assert training["adversarial"]["@adversarial"] == "nerkit.FGM.v1"
    assert training["averaging"]["@averaging"] == "nerkit.EMA.v1"
    header = path.read_text(encoding="utf8")
    for figure in ("67.96", "67.94", "68+", "66.03"):
        assert figure in header


@pytest.mark.parametrize(
    "path",
    [p for p in CONFIG_FILES if p.stem not in ("base", *QUICKSTARTS)],
    ids=[p.stem for p in CONFIG_FILES if p.stem not in ("base", *QUICKSTARTS)],
)
def test_header_states_study_f1_and_settings(path: Path):
    value = _study_line(path)
    assert value is not None, (
        f"{path.name}: add a '# Study test F1: <number>' (or 'none (...)') header line"
    )
    if path.stem in STUDY:
        assert float(value) == STUDY[path.stem][0]
    else:
        assert value.lower().startswith("none")
    header = "".join(
        line for line in path.read_text(encoding="utf8").splitlines(True) if line.startswith("#")
    )
    assert "Settings" in header, f"{path.name}: the header should list the settings"


# ---------------------------------------------------------------------------
# Two training steps per config, on local stand-ins
# ---------------------------------------------------------------------------


def _segmented_sentences() -> list:
    """Quickstart training texts cut at entity boundaries: entities are words, the rest 2-char words."""
    records = json.loads((CORPUS / "train.json").read_text(encoding="utf8"))[:40]
    lines = []
    for rec in records:
        text, cuts = rec["text"], {0, len(rec["text"])}
        for e in rec["entities"]:
            cuts |= {e["start_idx"], e["end_idx"] + 1}
        bounds = sorted(cuts)
        words = []
        for a, b in zip(bounds, bounds[1:], strict=False):
            piece = text[a:b]
            in_entity = any(e["start_idx"] == a and e["end_idx"] + 1 == b for e in rec["entities"])
            words += [piece] if in_entity else [piece[i : i + 2] for i in range(0, len(piece), 2)]
        lines.append(" ".join(words))
    return lines


@pytest.fixture(scope="session")
def tiny_pkuseg(tmp_path_factory) -> Path:
    """A pkuseg model trained on 40 quickstart sentences (a stand-in for 'medicine')."""
    import spacy_pkuseg

    root = tmp_path_factory.mktemp("pkuseg")
    data = root / "train.txt"
    data.write_text("\n".join(_segmented_sentences()) + "\n", encoding="utf8")
    spacy_pkuseg.train(str(data), str(data), str(root / "model"), train_iter=1)
    assert (root / "model" / "weights.npz").exists()
    return root / "model"


def _fast_overrides(pkuseg_model: Path) -> Dict[str, Any]:
    return {
        "paths.train": str(CORPUS / "train.json"),
        "paths.dev": str(CORPUS / "dev.json"),
        "paths.sgns": str(CORPUS / "vectors.txt"),
        "paths.medvec": str(CORPUS / "vectors.txt"),
        "paths.pkuseg": str(pkuseg_model),
        "initialize.model.encoder.name_or_path": str(TINY_BERT),
        "initialize.model.encoder.pretrained": False,
        "corpora.max_train_records": 12,
        "corpora.max_dev_records": 6,
        "training.max_steps": 2,
        "training.batch_size": 6,
        "training.eval_batch_size": 6,
        "training.logger": {"@loggers": "nerkit.ConsoleLogger.v1", "progress_bar": False},
        "system.device": "cpu",
    }


# Sizes of fresh (non-pretrained) layers cut down for CPU speed, where the
# config has the section and its function takes the argument.
SHRINK = {
    "model.fusion": {"hidden_size": 32, "num_heads": 2, "ff_size": 64},
    "model.decoder": {"head_size": 16, "inner_dim": 16},
}


def _shrink_overrides(path: Path) -> Dict[str, Any]:
    data = load_config(path)
    out: Dict[str, Any] = {}
    for dotted, values in SHRINK.items():
        node = data
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        ref = next(((k[1:], v) for k, v in node.items() if k.startswith("@")), None)
        if ref is None:
            continue
        params = inspect.signature(registry.get(*ref)).parameters
        out.update({f"{dotted}.{k}": v for k, v in values.items() if k in params})
    return out


@pytest.mark.parametrize("path", CONFIG_FILES, ids=IDS)
def test_config_trains_two_steps(path: Path, tiny_pkuseg: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("NERKIT_CACHE", str(tmp_path / "cache"))
    cfg = load_config(path, {**_fast_overrides(tiny_pkuseg), **_shrink_overrides(path)})
    out = tmp_path / "run"
    trainer = Trainer(cfg, out)
    result = trainer.run()
    assert result.steps == 2
    assert result.history and all(math.isfinite(row["loss"]) for row in result.history)
    meta = json.loads((out / "model-best" / "meta.json").read_text())
    assert set(meta["scores"]) == {"precision", "recall", "f1"}

    data = load_config(path, interpolate=True)
    model = trainer.model
    # the built model is what the config composes
    assert (model.fusion is not None) == ("fusion" in data["model"])
    assert (model.lexicon is not None) == ("lexicon" in data["model"])
    if "lexicon" in data["model"]:
        assert (
            model.lexicon.initialized and model.lexicon.vectors.shape[1] == 16
        )  # the quickstart vectors
    adversarial = data["training"]["adversarial"]["@adversarial"].split(".")[1]
    assert type(trainer.adversarial).__name__ == adversarial
    averaging = data["training"].get("averaging", {"@averaging": "nerkit.NoAveraging.v1"})
    assert type(trainer.averaging).__name__ == averaging["@averaging"].split(".")[1]
    lld = data["training"]["optimizer"].get("layerwise_decay")
    lrs = {g["name"]: g.get("initial_lr", g["lr"]) for g in trainer.optimizer.param_groups}
    base_lr = data["training"]["optimizer"]["learning_rate"]
    if lld is None:
        assert lrs["encoder.decay"] == pytest.approx(base_lr)
    else:
        # tiny BERT: embeddings (k = 0) and 2 layers; depth k learns at lr * r ** (2 - k)
        assert lrs["encoder.embeddings.decay"] == pytest.approx(base_lr * lld**2)
        assert lrs["encoder.layer1.decay"] == pytest.approx(base_lr * lld)
        assert lrs["encoder.layer2.decay"] == pytest.approx(base_lr)
    head_lr = data["training"]["optimizer"].get("head_learning_rate") or base_lr
    assert lrs["head.decay"] == pytest.approx(head_lr)


def test_model_dir_carries_the_pkuseg_model(tiny_pkuseg: Path, tmp_path: Path, monkeypatch):
    """Predicting needs neither the original pkuseg model nor its user dictionary, and
    the copy in the model directory loads without a single pickle."""
    import shutil

    import nerkit
    from nerkit.types import Example

    monkeypatch.setenv("NERKIT_CACHE", str(tmp_path / "cache"))
    pkuseg_copy = tmp_path / "pkuseg"
    shutil.copytree(tiny_pkuseg, pkuseg_copy)
    user_dict = tmp_path / "words.txt"
    user_dict.write_text("右下腹疼痛\n胸闷气短\n", encoding="utf8")
    path = CONFIGS / "roberta-flat-pkuseg.cfg"
    overrides = {
        **_fast_overrides(pkuseg_copy),
        **_shrink_overrides(path),
        "initialize.model.lexicon.segmenter.user_dict": str(user_dict),
    }
    trainer = Trainer(load_config(path, overrides), tmp_path / "run")
    trainer.run()
    texts = [r["text"] for r in json.loads((CORPUS / "dev.json").read_text(encoding="utf8"))[:12]]
    texts.append("患者右下腹疼痛三天，胸闷气短。")
    examples = [Example(t, index=i) for i, t in enumerate(texts)]
    before = predict(trainer.model, examples)
    words_before = [trainer.model.lexicon.segmenter(t) for t in texts]
    assert any(w == "右下腹疼痛" for w, _, _ in words_before[-1])  # the user dictionary is used
    shutil.rmtree(pkuseg_copy)
    user_dict.unlink()

    model_dir = tmp_path / "run" / "model-best"
    assert not list(model_dir.rglob("*.pkl"))
    nlp = nerkit.load(model_dir, device="cpu")
    seg = nlp.model.lexicon.segmenter
    assert seg.model_dir.resolve() == (model_dir / "lexicon" / "segmenter").resolve()
    assert [seg(t) for t in texts] == words_before
    after = predict(nlp.model, examples)
    assert [[e for e, _ in p] for p in after] == [[e for e, _ in p] for p in before]
