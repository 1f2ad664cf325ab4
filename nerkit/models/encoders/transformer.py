"""Any BERT-family transformer as a character encoder (``nerkit.TransformerEncoder.v1``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

from ...data.chars import CharVocab
from ...errors import ConfigError, ModelLoadError
from ...registry import FileArg, file_args
from ...util import looks_local
from ..base import Encoder

# in the encoder's folder: {"init": "checkpoint" | "random", "source": name_or_path}
ORIGIN_FILE = "origin.json"


@file_args(
    name_or_path=FileArg(
        "dir",
        "transformer model (config.json, tokenizer files, weights)",
        needs=("config.json",),
        source="a Hugging Face model: `hf download ORG/NAME --local-dir {path}`",
    )
)
def transformer_encoder(
    name_or_path: Optional[str] = None,
    pretrained: bool = True,
    max_length: int = 512,
    mix_last_layers: int = 1,
    gradient_checkpointing: bool = False,
    freeze_steps: int = 0,
    config_overrides: Optional[Dict[str, Any]] = None,
) -> TransformerEncoder:
    """A transformers model by hub name or local directory.

    name_or_path: e.g. "bert-base-chinese", "hfl/chinese-roberta-wwm-ext", or a
        directory with config.json, the tokenizer files and (if pretrained) weights.
        Init-only: set it in [initialize.model.encoder]; a model directory keeps the
        tokenizer and config in encoder/ (``to_disk``) and loads without it.
    pretrained: False builds the model from its config with random weights
        (offline tests, quickstart); the tokenizer is still read from name_or_path.
        Init-only, like name_or_path.
    max_length: positions per window incl. [CLS] and [SEP]; capped by the model.
    mix_last_layers: 1 uses the last hidden layer; N > 1 a learned softmax-weighted
        mix of the last N layers.
    gradient_checkpointing: trade compute for memory in the transformer layers.
    freeze_steps: keep the encoder frozen for the first N optimizer steps.
    config_overrides: values set on the model config (e.g. hidden_dropout_prob).
    """
    return TransformerEncoder(
        name_or_path,
        pretrained=pretrained,
        max_length=max_length,
        mix_last_layers=mix_last_layers,
        gradient_checkpointing=gradient_checkpointing,
        freeze_steps=freeze_steps,
        config_overrides=dict(config_overrides or {}),
    )


def _load_error(name: str, what: str, err: Optional[Exception] = None) -> ModelLoadError:
    """The error for an encoder that can't be loaded; ``err`` None: a local path that does not exist."""
    if err is None:
        reason = f"the directory {Path(name).expanduser()} does not exist"
        where = (
            "It is a local path (nerkit never sends such names to the Hugging Face hub). Put the model "
            f"there (a hub model downloads with `hf download ORG/NAME --local-dir {name}`; a project "
            "may say where to get its models, see `nerkit debug config`), or point the config at "
            "another directory: --initialize.model.encoder.name_or_path DIR"
        )
    else:
        first = str(err).splitlines()[0] if str(err) else ""
        reason = f"{type(err).__name__}: {first}"
        if looks_local(name):
            where = (
                f"The directory exists but lacks or has broken files (it needs config.json, the tokenizer "
                f"files and, if pretrained, the weights). Download it again, e.g. `hf download ORG/NAME "
                f"--local-dir {name}`."
            )
        else:
            where = (
                "nerkit read it as a Hugging Face hub id. Without internet, download the model "
                f"elsewhere (`hf download {name} --local-dir assets/{name.split('/')[-1]}`) and point "
                f"the config at it: --initialize.model.encoder.name_or_path assets/{name.split('/')[-1]}"
            )
    error = ModelLoadError(f"Can't load the {what} of encoder '{name}' ({reason}). {where}")
    error.reason = reason  # type: ignore[attr-defined]  # the short cause, for callers that give their own advice
    return error


class TransformerEncoder(Encoder):
    """Built from ``name_or_path`` when given; otherwise empty until ``from_disk``."""

    def __init__(
        self,
        name_or_path: Optional[str],
        *,
        pretrained: bool,
        max_length: int,
        mix_last_layers: int,
        gradient_checkpointing: bool,
        freeze_steps: int,
        config_overrides: Optional[Dict[str, Any]],
    ) -> None:
        super().__init__()
        self.name_or_path = name_or_path
        self.requested_max_length = max_length
        self.mix_last_layers = mix_last_layers
        self.gradient_checkpointing = gradient_checkpointing
        self.freeze_steps = freeze_steps
        self.config_overrides = dict(config_overrides or {})
        self.transformer: Optional[nn.Module] = None
        self._origin: Dict[str, Any] = {"init": "unknown"}
        if name_or_path is not None:
            self._build(name_or_path, pretrained)
            self._origin = {
                "init": "checkpoint" if pretrained else "random",
                "source": name_or_path,
            }

    @property
    def initialized(self) -> bool:
        return self.transformer is not None

    def initialize(self) -> None:
        if not self.initialized:
            raise ConfigError(
                "model.encoder: no transformer to start from. Set name_or_path in "
                "[initialize.model.encoder] (a hub name or a local directory, usually via "
                "[paths], e.g. --paths.encoder models/bert), or load a trained model directory."
            )

    def _build(self, name_or_path: str, pretrained: bool) -> None:
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        max_length, mix_last_layers = self.requested_max_length, self.mix_last_layers
        config_overrides = self.config_overrides
        if looks_local(name_or_path) and not Path(name_or_path).expanduser().exists():
            raise _load_error(name_or_path, "config")
        try:
            hf_config = AutoConfig.from_pretrained(name_or_path)
        except Exception as err:  # OSError, ValueError, HTTP errors
            raise _load_error(name_or_path, "config", err) from None
        for key, value in (config_overrides or {}).items():
            if not hasattr(hf_config, key):
                raise ModelLoadError(
                    f"model.encoder.config_overrides.{key}: the {hf_config.model_type} config "
                    f"has no setting '{key}'."
                )
            setattr(hf_config, key, value)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        except Exception as err:
            raise _load_error(name_or_path, "tokenizer", err) from None
        if pretrained:
            try:
                self.transformer = AutoModel.from_pretrained(name_or_path, config=hf_config)
            except Exception as err:
                raise _load_error(name_or_path, "weights", err) from None
        else:
            self.transformer = AutoModel.from_config(hf_config)
        if self.gradient_checkpointing:
            self.transformer.gradient_checkpointing_enable()
        self.hidden_size = int(hf_config.hidden_size)
        limit = int(getattr(hf_config, "max_position_embeddings", max_length))
        self.max_length = min(max_length, limit)
        if self.max_length < 3:
            raise ModelLoadError(f"model.encoder.max_length must be at least 3, got {max_length}.")
        self.num_layers = int(hf_config.num_hidden_layers)
        if not 1 <= mix_last_layers <= self.num_layers:
            raise ModelLoadError(
                f"model.encoder.mix_last_layers: expected 1..{self.num_layers}, got {mix_last_layers}."
            )
        if mix_last_layers > 1:
            self.layer_weights = nn.Parameter(torch.zeros(mix_last_layers))
        vocab = self.tokenizer.get_vocab()
        if len(vocab) < 10:
            raise ModelLoadError(
                f"The tokenizer of '{name_or_path}' has only {len(vocab)} entries; "
                "its vocab.txt was not read."
            )
        self.vocab = CharVocab(vocab, unk_token=self.tokenizer.unk_token or "[UNK]")
        self.cls_id = int(self.tokenizer.cls_token_id)
        self.sep_id = int(self.tokenizer.sep_token_id)
        self.pad_id = int(self.tokenizer.pad_token_id or 0)
        self.unk_id = int(self.vocab.unk_id)

    # -- Encoder interface ---------------------------------------------------

    def char_ids(self, text: str) -> List[int]:
        return self.vocab.ids(text)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        # input_ids, attention_mask: [B, T] -> [B, T, H]
        out = self.transformer(
            input_ids=input_ids,
            attention_mask=attention_mask,
            output_hidden_states=self.mix_last_layers > 1,
            return_dict=True,
        )
        if self.mix_last_layers == 1:
            return out.last_hidden_state
        layers = torch.stack(out.hidden_states[-self.mix_last_layers :], dim=0)  # [N, B, T, H]
        weights = torch.softmax(self.layer_weights, dim=0).to(layers.dtype)
        return torch.einsum("n,nbth->bth", weights, layers)

    def word_embeddings(self) -> nn.Embedding:
        return self.transformer.get_input_embeddings()

    def layer_groups(self) -> List[List[Tuple[str, nn.Parameter]]]:
        n = self.num_layers
        groups: List[List[Tuple[str, nn.Parameter]]] = [[] for _ in range(n + 1)]
        for name, param in self.named_parameters():
            groups[self._depth(name, n)].append((name, param))
        return groups

    @staticmethod
    def _depth(name: str, n: int) -> int:
        parts = name.split(".")
        if "embeddings" in parts:
            return 0
        for i, part in enumerate(parts[:-1]):
            if part in ("layer", "layers", "h", "block") and parts[i + 1].isdigit():
                return int(parts[i + 1]) + 1
        return n  # pooler, layer mix and anything above the last layer

    def weights_origin(self) -> Dict[str, Any]:
        return dict(self._origin)

    def to_disk(self, path: Path) -> None:
        """Write the tokenizer and model config (not weights: model.safetensors has them),
        and what the weights started from (``ORIGIN_FILE``)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(str(path))
        self.transformer.config.save_pretrained(str(path))
        (path / ORIGIN_FILE).write_text(
            json.dumps(self._origin, ensure_ascii=False), encoding="utf8"
        )

    def from_disk(self, path: Path) -> TransformerEncoder:
        """Build the transformer (random weights) and tokenizer from what ``to_disk`` wrote."""
        path = Path(path)
        if not (path / "config.json").is_file():
            what = (
                f"{path}/ is missing" if not path.is_dir() else f"{path / 'config.json'} is missing"
            )
            raise ModelLoadError(
                f"{what}: it holds the tokenizer and the transformer's config that `nerkit train` "
                "saved with the model, and loading needs nothing else."
            )
        self._build(str(path), pretrained=False)
        if (path / ORIGIN_FILE).is_file():  # (absent in directories saved before it was written)
            self._origin = json.loads((path / ORIGIN_FILE).read_text(encoding="utf8"))
        return self
