"""FLAT and FLAT-light fusions: exact against straightforward references, invariances, memory.

References:
* ``study_forward`` (benchmarks/bench_flat.py): the study's FLAT, materialising the
  [B, N, N, 4H] distance encodings, run with the fast module's own parameters;
* ``relative_transformer``: with no words FLAT is a Transformer-XL-style relative
  transformer over the characters, R depending on i - j only (written here);
* ``light_reference``: FLAT-light's biases gathered into [B, h, N, N] by hand.
All in float64 so differences are rounding only.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Dict, Optional, Tuple

import pytest
import torch
from confection import Config
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from nerkit.errors import ConfigError, DataError
from nerkit.models.base import LatticeBatch
from nerkit.models.fusion import flat as flat_module
from nerkit.models.fusion.flat import FLATFusion, flat_fusion
from nerkit.models.fusion.flat_light import FLATLightFusion, flat_light_fusion
from nerkit.registry import registry

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_flat", ROOT / "benchmarks" / "bench_flat.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)
study_forward = bench.study_forward

H = 16  # model width in most tests


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: a second thread only adds synchronisation on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


METHODS = ["ff", "ff_two", "attn", "gate"]


class Lexicon:
    """Stand-in for the lexicon: ``vectors`` [V, E] (row 0 zeros) and ``dim``."""

    def __init__(self, size: int = 40, dim: int = 6, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.vectors = torch.randn(size, dim, generator=gen)
        self.vectors[0] = 0
        self.dim = dim


def inputs(
    batch: int = 2, length: int = 9, words: int = 6, width: int = H, seed: int = 1
) -> Tuple[torch.Tensor, torch.Tensor, LatticeBatch]:
    """float64 chars, a mask with a shorter second row, words of 1-6 chars (some masked)."""
    gen = torch.Generator().manual_seed(seed)
    chars = torch.randn(batch, length, width, generator=gen, dtype=torch.float64)
    mask = torch.ones(batch, length, dtype=torch.bool)
    mask[-1, length - 3 :] = False
    starts = torch.randint(0, length - 1, (batch, words), generator=gen)
    ends = (starts + torch.randint(0, 6, (batch, words), generator=gen)).clamp(max=length - 1)
    ids = torch.randint(1, 40, (batch, words), generator=gen)
    word_mask = torch.ones(batch, words, dtype=torch.bool)
    word_mask[-1, -1] = False
    starts[-1] = starts[-1].clamp(max=length - 4)  # real words stay inside the shorter row
    ends[-1] = ends[-1].clamp(max=length - 4)
    return chars, mask, LatticeBatch(ids, starts, ends, word_mask)


def flat(**kwargs) -> FLATFusion:
    torch.manual_seed(0)
    kwargs.setdefault("num_heads", 4)
    kwargs.setdefault("max_distance", 20)
    return flat_fusion(**kwargs)(H, Lexicon()).double().eval()


def output_and_grads(
    module, fn, chars, mask, lattice
) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """fn's output and the gradients of a fixed random projection of it."""
    module.zero_grad(set_to_none=True)
    x = chars.clone().requires_grad_(True)
    out = fn(x, mask, lattice)
    weight = torch.randn(out.shape, generator=torch.Generator().manual_seed(7), dtype=out.dtype)
    (out * weight * mask[..., None]).sum().backward()
    grads = {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}
    grads["<chars>"] = x.grad.clone()
    return out.detach(), grads


def assert_same(a: Tuple[torch.Tensor, Dict], b: Tuple[torch.Tensor, Dict], mask: torch.Tensor):
    torch.testing.assert_close(a[0][mask], b[0][mask], rtol=0, atol=1e-10)
    assert a[1].keys() == b[1].keys()
    for name in a[1]:
        torch.testing.assert_close(a[1][name], b[1][name], rtol=0, atol=1e-10, msg=name)


# ----------------------------------------------------------------- FLAT vs the study


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"learnable_pos": True, "shared_pos": False, "query_chunk": 1, "max_distance": 3},
        {"num_layers": 2, "shared_fusion": False, "learnable_pos": True, "scaled": False},
    ],
    ids=["default", "learnable-separate-clipped", "two-layers"],
)
def test_fast_equals_study_forward_and_gradients(method: str, options: dict) -> None:
    model = flat(fusion_method=method, **options)
    chars, mask, lattice = inputs()
    fast = output_and_grads(model, model, chars, mask, lattice)
    slow = output_and_grads(model, lambda *a: study_forward(model, *a), chars, mask, lattice)
    assert_same(fast, slow, mask)
    # every parameter that the study's module trains gets a gradient here too
    assert any(name.startswith("fusions.0.") for name in fast[1])
    if options.get("learnable_pos"):
        assert fast[1]["fusions.0.pos.0"].abs().sum() > 0


@pytest.mark.parametrize("method", METHODS)
def test_tiny_chunks_and_checkpointed_tables_stay_exact(method: str, monkeypatch) -> None:
    """Two queries per chunk; the distance table built in ~150-row checkpointed pieces."""
    monkeypatch.setattr(flat_module, "CHUNK_BUDGET", 150 * H * flat_module._ROW_WIDTH[method])
    model = flat(fusion_method=method, num_layers=2, query_chunk=2)
    chars, mask, lattice = inputs(seed=3)
    fast = output_and_grads(model, model, chars, mask, lattice)
    slow = output_and_grads(model, lambda *a: study_forward(model, *a), chars, mask, lattice)
    assert_same(fast, slow, mask)


def test_training_mode_with_dropout_equals_study() -> None:
    """Same seed, same dropout masks: the chunked attention draws them as nn.Dropout does."""
    model = flat(dropout=0.3, num_layers=2).train()
    chars, mask, lattice = inputs(seed=4)
    torch.manual_seed(11)
    fast = output_and_grads(model, model, chars, mask, lattice)
    torch.manual_seed(11)
    slow = output_and_grads(model, lambda *a: study_forward(model, *a), chars, mask, lattice)
    assert_same(fast, slow, mask)
    torch.manual_seed(12)
    other = output_and_grads(model, model, chars, mask, lattice)
    assert (other[0] - fast[0])[mask].abs().max() > 1e-3  # the masks do matter


# ----------------------------------------------------------------- invariances


def pad(chars, mask, lattice, extra_chars: int = 4, extra_words: int = 3, seed: int = 5):
    """The same batch with padding characters and padding words (garbage values)."""
    gen = torch.Generator().manual_seed(seed)
    batch, length, width = chars.shape
    noise = 100 * torch.randn(batch, extra_chars, width, generator=gen, dtype=chars.dtype)
    chars_p = torch.cat([chars, noise], dim=1)
    mask_p = torch.cat([mask, torch.zeros(batch, extra_chars, dtype=torch.bool)], dim=1)
    # padding rows inside the old range too: garbage in masked slots of the original
    chars_p[~mask_p] = 50.0
    words = (batch, extra_words)
    lattice_p = LatticeBatch(
        torch.cat([lattice.word_ids, torch.randint(0, 40, words, generator=gen)], 1),
        torch.cat([lattice.starts, torch.randint(0, length, words, generator=gen)], 1),
        torch.cat([lattice.ends, torch.randint(0, length + extra_chars, words, generator=gen)], 1),
        torch.cat([lattice.mask, torch.zeros(words, dtype=torch.bool)], 1),
    )
    return chars_p, mask_p, lattice_p


@pytest.mark.parametrize("builder", [flat_fusion, flat_light_fusion])
def test_padding_does_not_change_real_positions(builder) -> None:
    torch.manual_seed(0)
    model = builder(num_layers=2, num_heads=4)(H, Lexicon()).double().eval()
    chars, mask, lattice = inputs()
    chars_p, mask_p, lattice_p = pad(chars, mask, lattice)
    with torch.no_grad():
        base = model(chars, mask, lattice)
        padded = model(chars_p, mask_p, lattice_p)
    length = chars.shape[1]
    torch.testing.assert_close(padded[:, :length][mask], base[mask], rtol=0, atol=1e-10)


@pytest.mark.parametrize("builder", [flat_fusion, flat_light_fusion])
def test_word_order_does_not_change_char_outputs(builder) -> None:
    torch.manual_seed(0)
    model = builder(num_layers=2, num_heads=4)(H, Lexicon()).double().eval()
    chars, mask, lattice = inputs(words=8)
    gen = torch.Generator().manual_seed(3)
    perm = torch.stack([torch.randperm(8, generator=gen) for _ in range(chars.shape[0])])
    shuffled = LatticeBatch(
        *(t.gather(1, perm) for t in (lattice.word_ids, lattice.starts, lattice.ends, lattice.mask))
    )
    assert not torch.equal(shuffled.starts, lattice.starts)
    with torch.no_grad():
        torch.testing.assert_close(
            model(chars, mask, shuffled)[mask],
            model(chars, mask, lattice)[mask],
            rtol=0,
            atol=1e-10,
        )


def test_words_change_the_output() -> None:
    """The lattice matters (guards the invariance tests against a fusion ignoring words)."""
    model = flat()
    chars, mask, lattice = inputs()
    with torch.no_grad():
        assert (model(chars, mask, lattice) - model(chars, mask, None)).abs().max() > 1e-3


# ----------------------------------------------------------------- no words


def relative_transformer(
    model: FLATFusion, chars: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Relative-position transformer over characters: R_ij = ReLU(W_sum p(i - j) + b)."""
    batch, length, _ = chars.shape
    fusion = model.fusions[0]
    assert fusion.method == "ff"
    m = fusion.max_distance
    rel = torch.arange(length)[:, None] - torch.arange(length)[None, :]
    p = fusion.position_tables()[0][rel.clamp(-m, m) + m]  # [L, L, H]
    w = fusion.proj.weight
    w_sum = sum(w[:, k * H : (k + 1) * H] for k in range(4))  # four equal distances
    r = torch.relu(p @ w_sum.t() + fusion.proj.bias)  # [L, L, H], the same for every sequence
    x = model.char_proj(chars)
    for layer in model.layers:
        a = layer.attn
        h, dh = a.num_heads, a.head_dim
        q = a.w_q(x).view(batch, length, h, dh)
        k = a.w_k(x).view(batch, length, h, dh)
        v = a.w_v(x).view(batch, length, h, dh)
        rw = a.w_r(r).view(length, length, h, dh)
        scores = torch.einsum("bihd,bjhd->bhij", q + a.u, k)
        scores = scores + torch.einsum("bihd,ijhd->bhij", q + a.v, rw)
        scores = scores / math.sqrt(dh)
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
        ctx = torch.einsum("bhij,bjhd->bihd", scores.softmax(-1), v).reshape(batch, length, H)
        x = layer.norm1(x + a.out(ctx))
        x = layer.norm2(x + layer.ff2(torch.relu(layer.ff1(x))))
    return model.out_norm(chars + model.out_proj(x))


def test_no_words_equals_relative_transformer() -> None:
    model = flat(num_layers=2)
    chars, mask, lattice = inputs()
    empty = LatticeBatch(
        *(t[:, :0] for t in (lattice.word_ids, lattice.starts, lattice.ends, lattice.mask))
    )
    all_masked = LatticeBatch(
        lattice.word_ids, lattice.starts, lattice.ends, torch.zeros_like(lattice.mask)
    )
    reference = output_and_grads(
        model, lambda c, m, _: relative_transformer(model, c, m), chars, mask, None
    )
    for lat in (None, empty, all_masked):
        got = output_and_grads(model, model, chars, mask, lat)
        got[1].pop("words.weight", None)  # masked words still reach the embedding (zero grad)
        got[1].pop("word_proj.weight", None)
        got[1].pop("word_proj.bias", None)
        assert_same(got, reference, mask)


def test_flat_without_lexicon_runs_on_characters() -> None:
    torch.manual_seed(0)
    model = flat_fusion(num_heads=4)(H, None).double().eval()
    chars, mask, lattice = inputs()
    with torch.no_grad():
        assert model(chars, mask, None).shape == chars.shape
    with pytest.raises(ConfigError, match="without a lexicon"):
        model(chars, mask, lattice)


# ----------------------------------------------------------------- memory


class MaxTensorSize(TorchDispatchMode):
    """Largest number of elements of any tensor an op returns (forward and backward)."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def test_no_pair_by_hidden_tensor_is_ever_built() -> None:
    torch.manual_seed(0)
    width, batch, length, words = 64, 8, 40, 12
    model = flat_fusion(num_heads=2, max_distance=64)(width, Lexicon()).eval()
    chars, mask, lattice = inputs(batch, length, words, width)
    chars = chars.float().requires_grad_(True)
    n = length + words
    pair_hidden = batch * n * n * width
    for fn, limit in ((model, pair_hidden // 4), (lambda *a: study_forward(model, *a), None)):
        with MaxTensorSize() as probe:
            fn(chars, mask, lattice).sum().backward()
        if limit is None:  # the probe sees the study's [B, N, N, 4H]
            assert probe.largest >= 4 * pair_hidden
        else:
            assert probe.largest <= limit


# ----------------------------------------------------------------- FLAT-light


def light_reference(model: FLATLightFusion, chars, mask, lattice: Optional[LatticeBatch]):
    """FLAT-light with the four bias lookups done one by one into [B, h, N, N]."""
    batch, length, _ = chars.shape
    x = model.char_proj(chars)
    pos = torch.arange(length).expand(batch, length)
    heads, tails, keep = pos, pos, mask
    if lattice is not None:
        x = torch.cat([x, model.word_proj(model.words(lattice.word_ids))], dim=1)
        heads = torch.cat([pos, lattice.starts * lattice.mask], 1)
        tails = torch.cat([pos, lattice.ends * lattice.mask], 1)
        keep = torch.cat([mask, lattice.mask], 1)
    n = x.shape[1]
    dists = [
        heads[:, :, None] - heads[:, None, :],
        heads[:, :, None] - tails[:, None, :],
        tails[:, :, None] - heads[:, None, :],
        tails[:, :, None] - tails[:, None, :],
    ]
    for layer in model.layers:
        a = layer.attn
        h, dh, m = a.num_heads, a.head_dim, a.max_distance
        bias = 0
        for k, d in enumerate(dists):
            table = a.bias[k if a.bias.shape[0] == 4 else 0]  # [2M+1, h]
            bias = bias + table[d.clamp(-m, m) + m].permute(0, 3, 1, 2)
        q = a.w_q(x).view(batch, n, h, dh).transpose(1, 2)
        k_ = a.w_k(x).view(batch, n, h, dh).transpose(1, 2)
        v = a.w_v(x).view(batch, n, h, dh).transpose(1, 2)
        scores = q @ k_.transpose(-1, -2) * a.scale + bias
        scores = scores.masked_fill(~keep[:, None, None, :], float("-inf"))
        ctx = (scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, n, -1)
        x = layer.norm1(x + a.out(ctx))
        x = layer.norm2(x + layer.ff2(torch.relu(layer.ff1(x))))
    return model.out_norm(chars + model.out_proj(x[:, :length]))


@pytest.mark.parametrize("shared_pos", [True, False])
@pytest.mark.parametrize("max_distance", [2, 64])
def test_light_equals_reference(shared_pos: bool, max_distance: int) -> None:
    torch.manual_seed(0)
    model = (
        flat_light_fusion(
            num_layers=2, num_heads=4, shared_pos=shared_pos, max_distance=max_distance
        )(H, Lexicon())
        .double()
        .eval()
    )
    with torch.no_grad():
        for layer in model.layers:  # biases large enough to matter
            layer.attn.bias.normal_(0, 1.0)
    chars, mask, lattice = inputs()
    fast = output_and_grads(model, model, chars, mask, lattice)
    slow = output_and_grads(model, lambda *a: light_reference(model, *a), chars, mask, lattice)
    assert_same(fast, slow, mask)
    assert fast[1]["layers.0.attn.bias"].abs().sum() > 0
    no_words = output_and_grads(model, model, chars, mask, None)
    no_words_ref = output_and_grads(model, lambda *a: light_reference(model, *a), chars, mask, None)
    assert_same(no_words, no_words_ref, mask)


# ----------------------------------------------------------------- config and errors


def test_registered_builders_make_modules_of_the_input_width() -> None:
    cfg = Config().from_str(
        """
        [flat]
        @fusions = "nerkit.FLAT.v1"
        num_heads = 2
        fusion_method = "gate"
        ff_size = 8

        [light]
        @fusions = "nerkit.FLATLight.v1"
        num_heads = 2
        hidden_size = 8
        """
    )
    resolved = registry.resolve(cfg)
    chars, mask, lattice = inputs(width=12)
    for name in ("flat", "light"):
        module = resolved[name](12, Lexicon()).double().eval()
        assert module.output_dim == 12
        assert module(chars, mask, lattice).shape == chars.shape
    assert resolved["flat"](12, Lexicon()).layers[0].ff1.out_features == 8


def test_config_errors_name_the_argument() -> None:
    with pytest.raises(ConfigError, match="fusion_method 'ffn'.*ff, ff_two, attn, gate"):
        flat_fusion(fusion_method="ffn")(H, Lexicon())
    with pytest.raises(ConfigError, match="not divisible by num_heads 5"):
        flat_fusion(num_heads=5)(H, Lexicon())
    with pytest.raises(ConfigError, match="query_chunk"):
        flat_fusion(num_heads=4, query_chunk=0)(H, Lexicon())
    with pytest.raises(ConfigError, match="lexicon.vectors must be"):
        flat_light_fusion(num_heads=4)(H, object())


def test_words_outside_the_window_are_a_data_error() -> None:
    model = flat()
    chars, mask, lattice = inputs()
    lattice.ends[1, 2] = chars.shape[1]  # one past the last character
    with pytest.raises(DataError, match="word 2 of batch row 1 has start .* end 9 .* < 9"):
        model(chars, mask, lattice)


@pytest.mark.parametrize("builder", [flat_fusion, flat_light_fusion])
def test_mixed_precision_runs_and_stays_close(builder) -> None:
    torch.manual_seed(0)
    model = builder(num_heads=4)(H, Lexicon()).eval()
    chars, mask, lattice = inputs()
    chars = chars.float()
    with torch.no_grad():
        full = model(chars, mask, lattice)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half = model(chars, mask, lattice)
    half.float().pow(2).mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert (half.float() - full)[mask].abs().max() < 0.1


@pytest.mark.parametrize("builder", [flat_fusion, flat_light_fusion])
def test_empty_batches_pass_through(builder) -> None:
    model = builder(num_heads=4)(H, Lexicon())
    for shape in ((0, 5, H), (2, 0, H)):
        chars = torch.zeros(shape)
        assert model(chars, torch.ones(shape[:2], dtype=torch.bool), None).shape == shape


def test_training_mode_backward_is_finite() -> None:
    torch.manual_seed(0)
    model = flat_fusion(num_heads=4, dropout=0.3, learnable_pos=True)(H, Lexicon()).train()
    chars, mask, lattice = inputs()
    out = model(chars.float(), mask, lattice)
    out.pow(2).mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert model.fusions[0].pos[0].grad.abs().sum() > 0
