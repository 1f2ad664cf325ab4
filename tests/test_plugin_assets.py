"""A plugin whose encoder and segmenter hold their own asset files trains through a
config, saves, and loads in a fresh process with the original files deleted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from .conftest import CORPUS, ROOT, plugin_site
from .test_plugin import run

PLUGIN = textwrap.dedent(
    '''
    """acme: a character-embedding encoder with its own vocabulary file, and a
    dictionary segmenter with its own dictionary file."""
    import json
    from pathlib import Path
    from typing import List, Optional

    import torch
    from torch import nn

    from nerkit.errors import ConfigError
    from nerkit.lexicon.base import Segmenter
    from nerkit.models.base import Encoder
    from nerkit.registry import FileArg, file_args

    VOCAB = "chars.txt"
    DICTIONARY = "dictionary.json"


    class CharEncoder(Encoder):
        def __init__(self, vocab_path: Optional[str], width: int, max_length: int) -> None:
            super().__init__()
            self.width, self.max_length, self.freeze_steps = width, max_length, 0
            self.hidden_size = width
            self.chars: Optional[List[str]] = None
            if vocab_path is not None:
                self._build(Path(vocab_path).read_text(encoding="utf8").split("\\n"))

        def _build(self, chars: List[str]) -> None:
            self.chars = chars  # ids: 0 pad, 1 unk, 2 cls, 3 sep, 4.. the characters
            self.index = {c: i + 4 for i, c in enumerate(chars)}
            self.pad_id, self.unk_id, self.cls_id, self.sep_id = 0, 1, 2, 3
            self.embed = nn.Embedding(len(chars) + 4, self.width, padding_idx=0)
            self.mix = nn.Linear(self.width, self.width)

        @property
        def initialized(self) -> bool:
            return self.chars is not None

        def initialize(self) -> None:
            if self.chars is None:
                raise ConfigError("acme.CharEncoder.v1 needs vocab_path in [initialize.model.encoder].")

        def char_ids(self, text: str) -> List[int]:
            return [self.index.get(c, 1) for c in text]

        def forward(self, input_ids, attention_mask):
            return torch.tanh(self.mix(self.embed(input_ids)))  # [B, T, H]

        def word_embeddings(self):
            return self.embed

        def layer_groups(self):
            return [list(self.embed.named_parameters(prefix="embed")), list(self.mix.named_parameters(prefix="mix"))]

        def to_disk(self, path: Path) -> None:
            path.mkdir(parents=True, exist_ok=True)
            (path / VOCAB).write_text("\\n".join(self.chars), encoding="utf8")

        def from_disk(self, path: Path) -> "CharEncoder":
            self._build((path / VOCAB).read_text(encoding="utf8").split("\\n"))
            return self


    @file_args(vocab_path=FileArg("file", "character list", source="one character per line"))
    def char_encoder(vocab_path: Optional[str] = None, width: int = 24, max_length: int = 66) -> CharEncoder:
        """Character embeddings + one layer, vocabulary from a file of characters."""
        return CharEncoder(vocab_path, width, max_length)


    class DictSegmenter(Segmenter):
        def __init__(self, dictionary: Optional[str], longest: int) -> None:
            self.longest = longest
            self.words = set(json.loads(Path(dictionary).read_text(encoding="utf8"))) if dictionary else set()

        def __call__(self, text: str):
            return [
                (text[i:j], i, j - 1)
                for i in range(len(text))
                for j in range(i + 2, min(len(text), i + self.longest) + 1)
                if text[i:j] in self.words
            ]

        def to_disk(self, path: Path) -> None:
            path.mkdir(parents=True, exist_ok=True)
            (path / DICTIONARY).write_text(json.dumps(sorted(self.words), ensure_ascii=False), encoding="utf8")

        def from_disk(self, path: Path) -> "DictSegmenter":
            self.words = set(json.loads((path / DICTIONARY).read_text(encoding="utf8")))
            return self


    @file_args(dictionary=FileArg("file", "dictionary (a JSON list of words)"))
    def dict_segmenter(dictionary: Optional[str] = None, longest: int = 6) -> DictSegmenter:
        """Every dictionary word in the text."""
        return DictSegmenter(dictionary, longest)
    '''
)

CONFIG = textwrap.dedent(
    """
    [paths]
    train = "{train}"
    dev = "{dev}"
    chars = "{chars}"
    words = "{words}"

    [system]
    seed = 7
    device = "cpu"

    [corpora]
    train = ${{paths.train}}
    dev = ${{paths.dev}}
    max_train_records = 24
    max_dev_records = 8

    [corpora.reader]
    @readers = "nerkit.CMeEEJson.v1"

    [model]
    @models = "nerkit.NERModel.v1"
    window_overlap = 8

    [model.encoder]
    @encoders = "acme.CharEncoder.v1"
    width = 24

    [model.lexicon]
    @lexicons = "nerkit.Lexicon.v1"
    dim = 8
    use_cache = false

    [model.lexicon.segmenter]
    @segmenters = "acme.DictSegmenter.v1"

    [model.fusion]
    @fusions = "nerkit.ConcatFusion.v1"

    [model.decoder]
    @decoders = "nerkit.LinearDecoder.v1"

    [model.decoder.scheme]
    @label_schemes = "nerkit.NestedBIO.v1"

    [initialize]

    [initialize.model.encoder]
    vocab_path = ${{paths.chars}}

    [initialize.model.lexicon.segmenter]
    dictionary = ${{paths.words}}

    [training]
    max_epochs = 0
    max_steps = 4
    batch_size = 8
    eval_frequency = 2

    [training.optimizer]
    @optimizers = "nerkit.AdamW.v1"
    learning_rate = 0.01

    [training.schedule]
    @schedules = "nerkit.ConstantSchedule.v1"

    [training.adversarial]
    @adversarial = "nerkit.NoAdversarial.v1"

    [training.logger]
    @loggers = "nerkit.ConsoleLogger.v1"
    progress_bar = false
    """
)

TRAIN = textwrap.dedent(
    """
    import json, sys
    import torch
    from nerkit.config import load_config
    from nerkit.training.loop import Trainer
    from nerkit.models.prediction import predict
    from nerkit.types import Example

    trainer = Trainer(load_config(sys.argv[1]), sys.argv[2])
    trainer.run()
    texts = json.loads(sys.argv[3])
    model = trainer.model
    examples = [Example(t, index=i) for i, t in enumerate(texts)]
    model.eval()
    with torch.no_grad():
        features = model(model.collate(model.featurize(examples)))  # [B, L, D]
    print(json.dumps({
        "entities": [[[e.start, e.end, e.label, round(s, 5)] for e, s in p] for p in predict(model, examples)],
        "char_ids": [model.encoder.char_ids(t) for t in texts],
        "lattices": [model.lexicon.lattice(t) for t in texts],
        "features": [round(float(x), 4) for x in features.sum(dim=(1, 2))],
    }))
    """
)

PREDICT = textwrap.dedent(
    """
    import json, sys
    import torch
    import nerkit
    from nerkit.models.prediction import predict
    from nerkit.types import Example

    nlp = nerkit.load(sys.argv[1], device="cpu")
    texts = json.loads(sys.argv[2])
    model = nlp.model
    examples = [Example(t, index=i) for i, t in enumerate(texts)]
    model.eval()
    with torch.no_grad():
        features = model(model.collate(model.featurize(examples)))  # [B, L, D]
    print(json.dumps({
        "entities": [[[e.start, e.end, e.label, round(s, 5)] for e, s in p] for p in predict(model, examples)],
        "char_ids": [model.encoder.char_ids(t) for t in texts],
        "lattices": [model.lexicon.lattice(t) for t in texts],
        "features": [round(float(x), 4) for x in features.sum(dim=(1, 2))],
    }))
    """
)


def make_plugin(root: Path) -> Path:
    entry_points = (
        "[nerkit_encoders]\nacme.CharEncoder.v1 = acme_assets:char_encoder\n\n"
        "[nerkit_segmenters]\nacme.DictSegmenter.v1 = acme_assets:dict_segmenter\n"
    )
    return plugin_site(root, "acme_assets", PLUGIN, "acme-assets", entry_points)


def test_plugin_with_assets_round_trips_without_its_files(tmp_path: Path):
    site = make_plugin(tmp_path)
    records = json.loads((CORPUS / "train.json").read_text(encoding="utf8"))
    assets = tmp_path / "assets"
    assets.mkdir()
    chars = assets / "chars.txt"
    chars.write_text("\n".join(sorted({c for r in records for c in r["text"]})), encoding="utf8")
    words = assets / "words.json"
    entity_words = sorted(
        {e["entity"] for r in records for e in r["entities"] if 2 <= len(e["entity"]) <= 6}
    )
    words.write_text(json.dumps(entity_words, ensure_ascii=False), encoding="utf8")
    config = tmp_path / "acme.cfg"
    config.write_text(
        CONFIG.format(
            train=CORPUS / "train.json", dev=CORPUS / "dev.json", chars=chars, words=words
        ),
        encoding="utf8",
    )
    dev = json.loads((CORPUS / "dev.json").read_text(encoding="utf8"))
    texts = [r["text"] for r in dev[:10]] + [
        "未登录字：龘靐齉",
        "患者" * 60,
    ]  # unknown chars; several windows

    env = dict(os.environ, PYTHONPATH=str(site), NERKIT_CACHE=str(tmp_path / "cache"))
    out = tmp_path / "run"
    trained = subprocess.run(
        [sys.executable, "-c", TRAIN, str(config), str(out), json.dumps(texts)],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    before = json.loads(trained.stdout.strip().splitlines()[-1])

    model_dir = out / "model-last"
    assert (model_dir / "encoder" / "chars.txt").read_text(encoding="utf8") == chars.read_text(
        encoding="utf8"
    )
    assert (
        json.loads(
            (model_dir / "lexicon" / "segmenter" / "dictionary.json").read_text(encoding="utf8")
        )
        == entity_words
    )
    meta = json.loads((model_dir / "meta.json").read_text(encoding="utf8"))
    assert meta["format"] == 2
    assert meta["components"]["encoders:acme.CharEncoder.v1"] == "acme-assets"
    assert meta["components"]["segmenters:acme.DictSegmenter.v1"] == "acme-assets"
    assert meta["files"] == {  # the save step reads the plugin's file declarations
        "initialize.model.encoder.vocab_path": {"source": str(chars), "copy": "encoder"},
        "initialize.model.lexicon.segmenter.dictionary": {
            "source": str(words),
            "copy": "lexicon/segmenter",
        },
    }
    chars.unlink()
    words.unlink()
    assets.rmdir()

    loaded = subprocess.run(
        [sys.executable, "-c", PREDICT, str(model_dir), json.dumps(texts)],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    after = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert after == before
    assert len(after["entities"]) == len(texts)
    assert any(after["lattices"]) and 1 in after["char_ids"][-2]  # dictionary words; unknown chars


def test_plugin_file_arguments_are_in_the_missing_files_list(tmp_path: Path):
    """The plugin declares its file arguments next to its builders (nerkit.registry.file_args);
    `nerkit debug config` lists every missing one, with the corpora, at once."""
    site = make_plugin(tmp_path)
    chars, words = tmp_path / "assets" / "chars.txt", tmp_path / "assets" / "words.json"
    config = tmp_path / "acme.cfg"
    config.write_text(
        CONFIG.format(
            train=tmp_path / "no-train.json", dev=CORPUS / "dev.json", chars=chars, words=words
        ),
        encoding="utf8",
    )
    done = run(["debug", "config", str(config)], site, cwd=ROOT)
    out = done.stdout + done.stderr
    assert done.returncode == 2, out  # 2: files missing (1: config invalid)
    assert "3 files this config reads are missing" in out
    assert (
        f"  - corpora.train = {tmp_path / 'no-train.json'} (${{paths.train}}): file not found."
        in out
    )
    assert (
        f"  - initialize.model.encoder.vocab_path = {chars} (${{paths.chars}}): file not found. "
        "Source: one character per line." in out
    )
    assert (
        f"  - initialize.model.lexicon.segmenter.dictionary = {words} (${{paths.words}}): "
        "file not found." in out
    )
    assert "Traceback" not in out
    chars.parent.mkdir()
    chars.write_text("患\n者\n", encoding="utf8")
    words.write_text("[]", encoding="utf8")
    done = run(["debug", "config", str(config), "--paths.train", str(CORPUS / "train.json")], site)
    assert done.returncode == 0, done.stdout + done.stderr
