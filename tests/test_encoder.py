"""The transformers encoder: loading errors, layer mix, layer groups, freezing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nerkit.errors import ModelLoadError
from nerkit.models.encoders.transformer import transformer_encoder as TransformerEncoder

from .conftest import TINY_BERT


def test_missing_local_directory_says_how_to_fix(tmp_path: Path):
    missing = tmp_path / "models" / "bert"
    with pytest.raises(ModelLoadError) as err:
        TransformerEncoder(str(missing))
    msg = str(err.value)
    assert str(missing) in msg
    assert "does not exist" in msg
    assert "--initialize.model.encoder.name_or_path" in msg


def test_hub_name_offline_says_how_to_fix(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # the hub reads the variable once, at import: set what it read, or it retries the network
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError) as err:
        TransformerEncoder("nerkit-test/no-such-model")
    msg = str(err.value)
    assert "nerkit-test/no-such-model" in msg
    assert "local-dir" in msg and "--initialize.model.encoder.name_or_path" in msg


def test_built_from_config_one_id_per_char():
    enc = TransformerEncoder(str(TINY_BERT), pretrained=False, max_length=64)
    text = "患者 CT示HbA1c 7.5%，右下腹疼痛"
    ids = enc.char_ids(text)
    assert len(ids) == len(text)
    assert enc.max_length == 64
    assert enc.word_embeddings() is enc.transformer.get_input_embeddings()
    x = torch.tensor([[enc.cls_id, *ids, enc.sep_id]])
    out = enc(x, torch.ones_like(x))
    assert out.shape == (1, len(text) + 2, enc.hidden_size)


def test_layer_groups_cover_every_parameter_once():
    enc = TransformerEncoder(str(TINY_BERT), pretrained=False, mix_last_layers=2)
    groups = enc.layer_groups()
    assert len(groups) == enc.num_layers + 1
    names = [n for g in groups for n, _ in g]
    assert sorted(names) == sorted(n for n, _ in enc.named_parameters())
    assert all("embeddings" in n for n, _ in groups[0])
    assert all(".layer.0." in n for n, _ in groups[1])
    assert any(n == "layer_weights" for n, _ in groups[-1])


def test_mix_last_layers_is_softmax_weighted():
    enc = TransformerEncoder(str(TINY_BERT), pretrained=False, mix_last_layers=2)
    enc.eval()
    with torch.no_grad():
        enc.layer_weights.copy_(torch.tensor([0.0, 1.0]))
    x = torch.tensor([[enc.cls_id, 10, 11, enc.sep_id]])
    mask = torch.ones_like(x)
    hs = enc.transformer(input_ids=x, attention_mask=mask, output_hidden_states=True).hidden_states
    w = torch.softmax(torch.tensor([0.0, 1.0]), 0)
    expected = w[0] * hs[-2] + w[1] * hs[-1]
    assert torch.allclose(enc(x, mask), expected, atol=1e-6)


def test_bad_settings():
    with pytest.raises(ModelLoadError, match="mix_last_layers"):
        TransformerEncoder(str(TINY_BERT), pretrained=False, mix_last_layers=9)
    with pytest.raises(ModelLoadError, match="config_overrides.no_such_key"):
        TransformerEncoder(str(TINY_BERT), pretrained=False, config_overrides={"no_such_key": 1})
    enc = TransformerEncoder(
        str(TINY_BERT), pretrained=False, config_overrides={"hidden_dropout_prob": 0.0}
    )
    assert enc.transformer.config.hidden_dropout_prob == 0.0
