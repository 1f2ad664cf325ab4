"""Config loading, overrides, validation errors that name the config path."""

from __future__ import annotations

from pathlib import Path

import pytest
from confection import Config

from nerkit.config import check_config, load_config, parse_overrides, validate_config
from nerkit.errors import ConfigError
from nerkit.registry import registry

from .conftest import QUICKSTART, fast_config


def test_parse_overrides_types():
    got = parse_overrides(
        [
            "--training.max_epochs",
            "3",
            "--paths.train=x.json",
            "--a.b",
            "true",
            "--a.c",
            "null",
            "--a.d",
            "[1, 2]",
        ]
    )
    assert got == {
        "training.max_epochs": 3,
        "paths.train": "x.json",
        "a.b": True,
        "a.c": None,
        "a.d": [1, 2],
    }


@pytest.mark.parametrize(
    "bad", [["training.max_epochs", "3"], ["--training.max_epochs"], ["--max_epochs", "3"]]
)
def test_parse_overrides_errors(bad):
    with pytest.raises(ConfigError):
        parse_overrides(bad)


def test_quickstart_is_valid():
    cfg = load_config(QUICKSTART)
    assert validate_config(cfg) == []


def test_override_applies():
    cfg = load_config(
        QUICKSTART, {"training.max_epochs": 3, "paths.train": "x.json"}, interpolate=True
    )
    assert cfg["training"]["max_epochs"] == 3
    assert cfg["corpora"]["train"] == "x.json"


def test_override_unknown_section():
    with pytest.raises(
        ConfigError,
        match=r"--trainig.max_epochs: the config has no section 'trainig' \(did you mean 'training'\?\)",
    ):
        load_config(QUICKSTART, {"trainig.max_epochs": 3})


def test_misspelled_component_name():
    cfg = load_config(QUICKSTART, {"model.decoder": {"@decoders": "nerkit.LinearDecodr.v1"}})
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    msg = str(err.value)
    assert "model.decoder.@decoders" in msg
    assert "Can't find 'nerkit.LinearDecodr.v1' in the 'decoders' registry" in msg
    assert "Did you mean 'nerkit.LinearDecoder.v1'?" in msg
    assert "nerkit.LinearNestedDecoder.v1" in msg  # lists what is registered


def test_wrong_value_type():
    cfg = load_config(QUICKSTART, {"model.decoder.dropout": "high"})
    with pytest.raises(ConfigError, match=r'model\.decoder\.dropout: expected float, got "high"'):
        check_config(cfg)


def test_wrong_settings_type():
    cfg = load_config(QUICKSTART, {"training.max_epochs": "many"})
    with pytest.raises(ConfigError, match=r'training\.max_epochs: expected int, got "many"'):
        check_config(cfg)


def test_unknown_settings_key():
    cfg = load_config(QUICKSTART, {"training.max_epoch": 3})
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    msg = str(err.value)
    assert "training.max_epoch: unknown setting (did you mean 'max_epochs'?)" in msg


def test_unknown_component_argument():
    cfg = load_config(QUICKSTART, {"model.decoder.dropuot": 0.2})
    with pytest.raises(
        ConfigError,
        match=r"model\.decoder\.dropuot: 'nerkit.LinearDecoder.v1' has no argument 'dropuot' \(did you mean 'dropout'\?\)",
    ):
        check_config(cfg)


def test_missing_required_argument():
    cfg = load_config(QUICKSTART)
    data = {k: dict(v) for k, v in cfg.items()}
    data["model"]["lexicon"] = {"@lexicons": "nerkit.Lexicon.v1"}
    with pytest.raises(ConfigError, match=r"model\.lexicon\.segmenter: missing required argument"):
        check_config(Config(data))


def test_initialize_blocks_overlay_model_blocks():
    from nerkit.config import with_initialize

    cfg = load_config(QUICKSTART, {"paths.encoder": "enc/dir"}, interpolate=True)
    data = {k: dict(v) for k, v in cfg.items()}
    assert "name_or_path" not in data["model"]["encoder"]  # [model] is the architecture
    merged = with_initialize(data)
    assert "initialize" not in merged
    assert merged["model"]["encoder"]["name_or_path"] == "enc/dir"
    assert merged["model"]["encoder"]["pretrained"] is False
    assert merged["model"]["encoder"]["max_length"] == 128
    assert data["model"]["encoder"].get("name_or_path") is None  # not modified in place


def test_initialize_block_without_a_model_block_is_an_error():
    cfg = load_config(QUICKSTART, {"initialize.model.encodr": {"name_or_path": "x"}})
    problems = validate_config(cfg)
    assert any(
        p.startswith("initialize.model.encodr: there is no block [model.encodr]") for p in problems
    ), problems


def test_several_problems_reported_together():
    cfg = load_config(QUICKSTART, {"training.max_epoch": 3, "model.decoder.dropout": "high"})
    problems = validate_config(cfg)
    assert len(problems) == 2


def test_missing_data_file(tmp_path: Path):
    from nerkit.errors import AssetError
    from nerkit.training.loop import train

    cfg = fast_config(**{"paths.train": str(tmp_path / "nope.json")})
    with pytest.raises(
        AssetError, match=r"corpora\.train = .*nope\.json \(\$\{paths\.train\}\): file not found"
    ):
        train(cfg)


def test_extends_merges_and_replaces(tmp_path: Path):
    base = tmp_path / "base.cfg"
    base.write_text(
        QUICKSTART.read_text(encoding="utf8").replace(
            "projects/", str(QUICKSTART.parents[1]) + "/projects/"
        ),
        encoding="utf8",
    )
    child = tmp_path / "child.cfg"
    child.write_text(
        '[nerkit]\nextends = "base.cfg"\n\n[training]\nmax_epochs = 1\n\n'
        '[model.decoder]\n@decoders = "nerkit.CRFDecoder.v1"\n\n'
        '[model.decoder.scheme]\n@label_schemes = "nerkit.NestedBIO.v1"\n',
        encoding="utf8",
    )
    cfg = load_config(child, interpolate=True)
    assert cfg["training"]["max_epochs"] == 1
    assert cfg["training"]["batch_size"] == 16  # from the base
    assert cfg["model"]["decoder"]["@decoders"] == "nerkit.CRFDecoder.v1"
    assert "nerkit" not in cfg
    assert validate_config(cfg) == []


def test_extends_cycle(tmp_path: Path):
    (tmp_path / "a.cfg").write_text('[nerkit]\nextends = "b.cfg"\n', encoding="utf8")
    (tmp_path / "b.cfg").write_text('[nerkit]\nextends = "a.cfg"\n', encoding="utf8")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "a.cfg")


def test_unknown_registry_name_message():
    with pytest.raises(LookupError) as err:
        registry.get("decoders", "nerkit.GlobalPointr.v1")
    assert "Did you mean 'nerkit.GlobalPointer.v1'?" in str(err.value)


def test_bad_reference_is_a_config_error():
    cfg = load_config(QUICKSTART, {"corpora.train": "${paths.nothere}"})
    with pytest.raises(ConfigError, match=r"Can't resolve a \$\{\.\.\.\} reference"):
        check_config(cfg)


# -- relative paths: a config file's own folder, overrides the working directory ---------------


def test_relative_paths_in_a_file_follow_the_file(tmp_path, monkeypatch):
    from nerkit.config import interpolated

    base_dir, child_dir, elsewhere = tmp_path / "base", tmp_path / "exp" / "sub", tmp_path / "cwd"
    for d in (base_dir, child_dir, elsewhere):
        d.mkdir(parents=True)
    (base_dir / "base.cfg").write_text(
        '[paths]\nassets = "assets"\nvectors = "${paths.assets}/v.txt"\nabs = "/data/x.json"\n'
        'home = "~/x.txt"\nempty = ""\nnothing = null\n\n'
        '[corpora]\ntrain = "corpus/train.json"\ndev = ${paths.vectors}\n',
        encoding="utf8",
    )
    (child_dir / "exp.cfg").write_text(
        '[nerkit]\nextends = "../../base/base.cfg"\n\n[paths]\nown = "../data/own.json"\n\n'
        '[model]\nname = "not/a/path/setting"\n',
        encoding="utf8",
    )
    monkeypatch.chdir(elsewhere)
    cfg = interpolated(
        load_config(Path("..") / "exp" / "sub" / "exp.cfg", {"paths.cli": "cli/x.json"})
    )
    paths = cfg["paths"]
    assert paths["assets"] == str(base_dir / "assets")  # the base's folder, not the child's
    assert paths["vectors"] == str(base_dir / "assets" / "v.txt")  # ${...} follows its reference
    assert paths["own"] == str(tmp_path / "exp" / "data" / "own.json")  # the child's folder
    assert paths["abs"] == "/data/x.json" and paths["home"] == str(Path.home() / "x.txt")
    assert paths["empty"] == "" and paths["nothing"] is None
    assert paths["cli"] == "cli/x.json"  # command line: relative to the working directory
    assert cfg["corpora"]["train"] == str(base_dir / "corpus" / "train.json")
    assert cfg["corpora"]["dev"] == paths["vectors"]
    assert cfg["model"]["name"] == "not/a/path/setting"  # only path settings are touched
    # an override of the folder moves everything under it, relative to the working directory
    moved = interpolated(load_config(child_dir / "exp.cfg", {"paths.assets": "mine"}))["paths"]
    assert moved["vectors"] == "mine/v.txt"


def test_hub_ids_in_a_file_stay_hub_ids(tmp_path, monkeypatch):
    """A [paths] value of the hub's name / org/name form that is no file beside the config is
    a hub id, not a path: it must reach the encoder unchanged."""
    from nerkit.config import interpolated

    (tmp_path / "local").mkdir()
    (tmp_path / "exp.cfg").write_text(
        '[paths]\nbert = "bert-base-chinese"\nroberta = "hfl/chinese-roberta-wwm-ext"\n'
        'here = "local"\nassets = "assets/chinese-roberta-wwm-ext-large"\n',
        encoding="utf8",
    )
    monkeypatch.chdir(tmp_path.parent)
    paths = interpolated(load_config(tmp_path / "exp.cfg"))["paths"]
    assert paths["bert"] == "bert-base-chinese"
    assert paths["roberta"] == "hfl/chinese-roberta-wwm-ext"
    assert paths["here"] == str(tmp_path / "local")  # exists beside the file
    assert paths["assets"] == str(tmp_path / "assets" / "chinese-roberta-wwm-ext-large")


def test_experiment_configs_find_their_assets_from_any_folder(tmp_path, monkeypatch):
    """configs/*.cfg name projects/cmeee/assets/ whatever the working directory (docs/getting-started.md
    runs them from the repository root, projects/cmeee/Makefile from its folder)."""
    from nerkit.config import interpolated

    root = QUICKSTART.parents[1]
    for cwd in (root, root / "projects" / "cmeee", tmp_path):
        monkeypatch.chdir(cwd)
        paths = interpolated(load_config(root / "configs" / "best.cfg"))["paths"]
        assert paths["train"] == str(
            root / "projects" / "cmeee" / "assets" / "cmeee" / "CMeEE_train.json"
        )
        assert paths["roberta_large"] == str(
            root / "projects" / "cmeee" / "assets" / "chinese-roberta-wwm-ext-large"
        )


def test_a_copied_quickstart_config_runs_from_another_folder(tmp_path, monkeypatch):
    """The issue's case: configs/quickstart.cfg copied to another folder and run from a third one
    still finds projects/quickstart/ (the tiny BERT and the corpus) in the nerkit checkout."""
    import shutil

    from typer.testing import CliRunner

    from nerkit.cli.main import app

    copy = tmp_path / "copy" / "q.cfg"
    copy.parent.mkdir()
    shutil.copyfile(QUICKSTART, copy)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    tiny = QUICKSTART.parents[1] / "projects" / "quickstart"
    from nerkit.config import interpolated

    paths = interpolated(load_config(copy))["paths"]
    assert paths["encoder"] == str(tiny / "tiny-bert") and paths["train"] == str(
        tiny / "corpus" / "train.json"
    )
    args = [
        "--corpora.max_train_records", "8", "--corpora.max_dev_records", "4", "--training.max_steps", "1",
        "--training.batch_size", "8", "--system.device", "cpu",
    ]  # fmt: skip
    result = CliRunner().invoke(app, ["train", str(copy), "--output", "run", *args])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "work" / "run" / "model-best" / "model.safetensors").is_file()


def test_init_only_file_in_model_warns_with_the_initialize_block(caplog):
    from .conftest import TINY_BERT

    with caplog.at_level("WARNING", logger="nerkit"):
        check_config(fast_config())
    assert not caplog.records  # the quickstart keeps its encoder in [initialize]

    cfg = fast_config(**{"model.encoder.name_or_path": str(TINY_BERT)})  # the old layout
    with caplog.at_level("WARNING", logger="nerkit"):
        check_config(cfg)
    (record,) = caplog.records
    message = record.getMessage()
    assert message.startswith(f"model.encoder.name_or_path = {TINY_BERT}: ")
    assert "[initialize.model.encoder]" in message
    caplog.clear()
    with caplog.at_level("WARNING", logger="nerkit"):
        check_config(cfg, initialize=False)  # loading a model directory: no training advice
    assert not caplog.records
