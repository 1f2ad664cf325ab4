"""NoFusion and ConcatFusion: hand-computed outputs, padding and order invariance, config."""

from __future__ import annotations

import pytest
import torch
from confection import Config

from nerkit.errors import ConfigError
from nerkit.models.base import LatticeBatch
from nerkit.models.fusion.concat import ConcatFusion, concat_fusion
from nerkit.models.fusion.identity import NoFusion
from nerkit.registry import registry


class Lexicon:
    """Stand-in for the lexicon: ``vectors`` [V, E] (row 0 zeros) and ``dim``."""

    def __init__(self, vectors: torch.Tensor) -> None:
        self.vectors = vectors
        self.dim = vectors.shape[1]


def hand_case():
    """Two sequences of 4 chars; row 0 has words A=0..1, B=1..2 and a padding word."""
    vectors = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    chars = torch.tensor([[[float(i), -float(i)] for i in range(4)]] * 2)  # c_l = [l, -l]
    mask = torch.ones(2, 4, dtype=torch.bool)
    lattice = LatticeBatch(
        word_ids=torch.tensor([[1, 2, 3], [3, 0, 0]]),
        starts=torch.tensor([[0, 1, 0], [0, 0, 0]]),
        ends=torch.tensor([[1, 2, 3], [3, 0, 0]]),
        mask=torch.tensor([[True, True, False], [False, False, False]]),
    )
    return Lexicon(vectors), chars, mask, lattice


def set_word_proj(fusion: ConcatFusion) -> None:
    with torch.no_grad():  # projected vectors: A = [1.5, 0], B = [0.5, 2]
        fusion.word_proj.weight.copy_(torch.eye(2))
        fusion.word_proj.bias.copy_(torch.tensor([0.5, 0.0]))


def test_sum_hand_checked() -> None:
    lexicon, chars, mask, lattice = hand_case()
    fusion = concat_fusion(dropout=0.0, combine="sum")(2, lexicon).eval()
    set_word_proj(fusion)
    # char 0: A; char 1: mean(A, B) = [1, 1]; char 2: B; char 3: no word -> zeros
    words = torch.tensor([[1.5, 0.0], [1.0, 1.0], [0.5, 2.0], [0.0, 0.0]])
    expected = torch.stack([chars[0] + words, chars[1]])  # row 1 has only a padding word
    torch.testing.assert_close(fusion(chars, mask, lattice), expected)
    assert fusion.output_dim == 2


def test_concat_hand_checked() -> None:
    lexicon, chars, mask, lattice = hand_case()
    fusion = concat_fusion(dropout=0.0, combine="concat")(2, lexicon).eval()
    set_word_proj(fusion)
    with torch.no_grad():  # out = [c0 + 2 w0, c1 - w1 + 1]
        fusion.out.weight.copy_(torch.tensor([[1.0, 0.0, 2.0, 0.0], [0.0, 1.0, 0.0, -1.0]]))
        fusion.out.bias.copy_(torch.tensor([0.0, 1.0]))
    expected_row0 = torch.tensor([[3.0, 1.0], [3.0, -1.0], [3.0, -3.0], [3.0, -2.0]])
    expected_row1 = torch.tensor([[0.0, 1.0], [1.0, 0.0], [2.0, -1.0], [3.0, -2.0]])
    got = fusion(chars, mask, lattice)
    torch.testing.assert_close(got, torch.stack([expected_row0, expected_row1]))


def random_case(seed: int = 0, words: int = 6):
    gen = torch.Generator().manual_seed(seed)
    vectors = torch.randn(20, 5, generator=gen)
    vectors[0] = 0
    chars = torch.randn(2, 8, 4, generator=gen)
    mask = torch.ones(2, 8, dtype=torch.bool)
    mask[1, 6:] = False
    starts = torch.randint(0, 6, (2, words), generator=gen)
    ends = (starts + torch.randint(0, 3, (2, words), generator=gen)).clamp(max=5)
    ids = torch.randint(1, 20, (2, words), generator=gen)
    return (
        Lexicon(vectors),
        chars,
        mask,
        LatticeBatch(ids, starts, ends, torch.ones(2, words, dtype=torch.bool)),
    )


@pytest.mark.parametrize("combine", ["sum", "concat"])
def test_padding_words_and_word_order_do_not_matter(combine: str) -> None:
    lexicon, chars, mask, lattice = random_case()
    torch.manual_seed(0)
    fusion = concat_fusion(dropout=0.0, combine=combine)(4, lexicon).eval()
    base = fusion(chars, mask, lattice)
    padded = LatticeBatch(
        torch.cat([lattice.word_ids, torch.tensor([[5, 0], [7, 9]])], 1),
        torch.cat([lattice.starts, torch.tensor([[0, 3], [2, 7]])], 1),
        torch.cat([lattice.ends, torch.tensor([[7, 5], [7, 7]])], 1),
        torch.cat([lattice.mask, torch.zeros(2, 2, dtype=torch.bool)], 1),
    )
    torch.testing.assert_close(fusion(chars, mask, padded), base)
    perm = torch.stack([torch.randperm(6), torch.randperm(6)])
    shuffled = LatticeBatch(
        *(t.gather(1, perm) for t in (lattice.word_ids, lattice.starts, lattice.ends, lattice.mask))
    )
    torch.testing.assert_close(fusion(chars, mask, shuffled), base)
    no_words = fusion(chars, mask, None)
    assert (no_words - base).abs().max() > 1e-3
    if combine == "sum":
        torch.testing.assert_close(no_words, chars)


def test_vectors_train_unless_frozen() -> None:
    lexicon, chars, mask, lattice = random_case()
    trained = concat_fusion(dropout=0.0)(4, lexicon)
    trained(chars, mask, lattice).pow(2).sum().backward()
    grad = trained.words.weight.grad
    assert grad[lattice.word_ids.unique()].abs().sum() > 0
    assert grad[0].abs().sum() == 0  # padding row
    torch.optim.SGD(trained.parameters(), lr=1.0).step()
    assert not torch.equal(trained.words.weight, lexicon.vectors)  # the lexicon keeps its own
    frozen = concat_fusion(freeze_vectors=True)(4, lexicon)
    assert not frozen.words.weight.requires_grad
    torch.testing.assert_close(frozen.words.weight, lexicon.vectors)


def test_no_fusion_is_identity() -> None:
    fusion = registry.resolve(Config({"f": {"@fusions": "nerkit.NoFusion.v1"}}))["f"](4, None)
    assert isinstance(fusion, NoFusion) and fusion.output_dim == 4
    _, chars, mask, lattice = random_case()
    assert fusion(chars, mask, lattice) is chars
    assert list(fusion.parameters()) == []


def test_registered_concat_and_errors() -> None:
    lexicon, chars, mask, lattice = random_case()
    cfg = {"f": {"@fusions": "nerkit.ConcatFusion.v1", "combine": "concat", "dropout": 0.0}}
    fusion = registry.resolve(Config(cfg))["f"](4, lexicon)
    assert fusion.combine == "concat" and fusion(chars, mask, lattice).shape == chars.shape
    with pytest.raises(ConfigError, match="nerkit.ConcatFusion.v1 needs word vectors"):
        concat_fusion()(4, None)
    with pytest.raises(ConfigError, match="unknown combine 'mean'"):
        concat_fusion(combine="mean")(4, lexicon)
