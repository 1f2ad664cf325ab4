"""FLAT memory and time, forward + backward: nerkit's FLAT vs the study-style implementation.

The anchor is one plain ``torch.nn.TransformerEncoderLayer`` of the same width,
heads and feed-forward (post-LN, ReLU, no relative positions) on the same B and N:
what attention costs without the lattice's four distances. It runs as a case of
its own, interleaved with FLAT's (``--rounds``), and the table gives FLAT / plain
for time and peak memory.

The study's FLAT (as the original FLAT code) builds the four distance encodings of
every token pair as one [B, N, N, 4H] tensor, runs the position fusion on it and
then W_R on the [B, N, N, H] result. ``study_forward`` below is that
implementation (vectorised over the batch, which only helps it), using the
parameters of a ``nerkit.FLAT.v1`` module, so both compute the same function.
The tests (``tests/test_flat.py``) use it as the reference for outputs and
gradients.

Workload: batch 8, width 768, 8 heads, 1 layer, ``fusion_method="ff"``, N tokens =
chars + words with 30% words (2-4 characters long), all positions real. Each case
runs in its own process: the peak resident memory (``ru_maxrss``) and the time of
forward + backward (best of ``--repeat``) are what that process used; "working"
memory is the peak minus the resident memory before the first forward (imports,
model, inputs). The study-style run is skipped where its estimated working memory
(measured at a smaller N and scaled by N^2, or 21 x B N^2 H x 4 bytes before any
measurement) exceeds ``--max-gb``.

Run: ``python benchmarks/bench_flat.py`` (``--quick`` for small sizes; ``--profile``
prints torch.profiler's per-operator table of FLAT and the plain layer instead).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout

from nerkit.models.base import LatticeBatch  # noqa: E402
from nerkit.models.fusion.flat import (  # noqa: E402
    FLATFusion,
    FourPosFusion,
    RelativeLatticeAttention,
    flat_fusion,
)
from nerkit.models.fusion.flat_light import flat_light_fusion  # noqa: E402
from nerkit.models.fusion.relative_position import lattice_positions  # noqa: E402

GB = 1024**3


# --------------------------------------------------------------------------- reference


def study_position_vectors(fusion: FourPosFusion, heads: torch.Tensor, tails: torch.Tensor):
    """R [B, N, N, H] the straightforward way: four [B, N, N, H] lookups, concatenated."""
    m = fusion.max_distance
    hq, tq = heads[:, :, None], tails[:, :, None]
    hk, tk = heads[:, None, :], tails[:, None, :]
    dists = [hq - hk, hq - tk, tq - hk, tq - tk]
    pe = [t[d.clamp(-m, m) + m] for t, d in zip(fusion.position_tables(), dists, strict=True)]
    if fusion.method == "ff":
        return torch.relu(fusion.proj(torch.cat(pe, dim=-1)))  # via [B, N, N, 4H]
    if fusion.method == "ff_two":
        return torch.relu(fusion.proj(torch.cat([pe[0], pe[3]], dim=-1)))
    pe4 = torch.cat(pe, dim=-1)  # [B, N, N, 4H]
    scores = fusion.score_out(torch.relu(fusion.score_in(pe4)))
    values = fusion.w_r(torch.stack(pe, dim=-2))  # [B, N, N, 4, H]
    if fusion.method == "attn":
        weights = torch.softmax(scores, dim=-1).unsqueeze(-1)  # [B, N, N, 4, 1]
    else:
        weights = torch.softmax(scores.view(values.shape), dim=-2)
    return (weights * values).sum(dim=-2)


def study_attention(
    attn: RelativeLatticeAttention, x: torch.Tensor, mask: torch.Tensor, rel: torch.Tensor
) -> torch.Tensor:
    """FLAT's relative attention with W_R applied to the materialised R [B, N, N, H]."""
    batch, n, hidden = x.shape
    h, dh = attn.num_heads, attn.head_dim
    q = attn.w_q(x).view(batch, n, h, dh).transpose(1, 2)  # [B, h, N, dh]
    k = attn.w_k(x).view(batch, n, h, dh).transpose(1, 2)
    v = attn.w_v(x).view(batch, n, h, dh).transpose(1, 2)
    a_c = torch.matmul(q + attn.u[None, :, None, :], k.transpose(-1, -2))
    rel = attn.w_r(rel).view(batch, n, n, h, dh).permute(0, 3, 1, 4, 2)  # [B, h, N, dh, N]
    q_v = (q + attn.v[None, :, None, :]).unsqueeze(-2)  # [B, h, N, 1, dh]
    b_d = torch.matmul(q_v, rel).squeeze(-2)  # [B, h, N, N]
    scores = a_c + b_d
    if attn.scaled:
        scores = scores / math.sqrt(dh)
    scores = scores.masked_fill(~mask[:, None, None, :], -1e15)
    probs = attn.dropout(torch.softmax(scores, dim=-1))
    return attn.out(torch.matmul(probs, v).transpose(1, 2).reshape(batch, n, hidden))


def study_forward(
    model: FLATFusion, chars: torch.Tensor, mask: torch.Tensor, lattice: Optional[LatticeBatch]
) -> torch.Tensor:
    """The FLAT fusion's output computed study-style from ``model``'s parameters."""
    length = chars.shape[1]
    x = model.char_proj(chars)
    if lattice is not None and lattice.word_ids.shape[1] > 0:
        x = torch.cat([x, model.word_proj(model.words(lattice.word_ids))], dim=1)
    heads, tails, seq_mask = lattice_positions(mask, lattice)
    x = model.dropout(x)
    rels = [study_position_vectors(f, heads, tails) for f in model.fusions]  # R once per fusion
    for i, layer in enumerate(model.layers):
        rel = rels[i if len(rels) > 1 else 0]
        x = layer.norm1(x + layer.dropout(study_attention(layer.attn, x, seq_mask, rel)))
        ff = layer.ff2(layer.dropout(torch.relu(layer.ff1(x))))
        x = layer.norm2(x + layer.dropout(ff))
    return model.out_norm(chars + model.dropout(model.out_proj(x[:, :length])))


# --------------------------------------------------------------------------- workload


class Vectors:
    """Stand-in lexicon: ``vectors`` [V, E] with a zero padding row."""

    def __init__(self, size: int, dim: int, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.vectors = torch.randn(size, dim, generator=gen)
        self.vectors[0] = 0
        self.dim = dim


def random_lattice(
    batch: int, chars: int, words: int, vocab: int, gen: torch.Generator
) -> LatticeBatch:
    """``words`` random words of 2-4 characters per row, all real."""
    starts = torch.randint(0, max(1, chars - 1), (batch, words), generator=gen)
    ends = (starts + torch.randint(1, 4, (batch, words), generator=gen)).clamp(max=chars - 1)
    ids = torch.randint(1, vocab, (batch, words), generator=gen)
    return LatticeBatch(ids, starts, ends, torch.ones(batch, words, dtype=torch.bool))


def make_case(tokens: int, batch: int, hidden: int, seed: int = 0):
    """Model (eval mode: no dropout) and inputs for ``tokens`` = chars + words."""
    torch.manual_seed(seed)
    words = round(0.3 * tokens)
    chars = tokens - words
    lexicon = Vectors(1000, 200, seed)
    model = flat_fusion(num_heads=8, fusion_method="ff")(hidden, lexicon).eval()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, chars, hidden, generator=gen, requires_grad=True)
    mask = torch.ones(batch, chars, dtype=torch.bool)
    lattice = random_lattice(batch, chars, words, 1000, gen)
    weight = torch.randn(batch, chars, hidden, generator=gen)
    return model, x, mask, lattice, weight


def plain_case(tokens: int, batch: int, hidden: int, seed: int = 0):
    """The anchor: one ``TransformerEncoderLayer`` on [B, N, hidden], all positions real."""
    torch.manual_seed(seed)
    model = torch.nn.TransformerEncoderLayer(
        hidden, 8, 3 * hidden, dropout=0.0, batch_first=True
    ).eval()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, tokens, hidden, generator=gen, requires_grad=True)
    weight = torch.randn(batch, tokens, hidden, generator=gen)
    return model, x, weight


def setup_case(impl: str, tokens: int, batch: int, hidden: int):
    """(model, forward, x, mask, lattice, weight) of one implementation, warmed up."""
    if impl == "plain":
        model, x, weight = plain_case(tokens, batch, hidden)
        layer = model
        model(plain_case(16, 2, hidden)[1]).sum().backward()  # warm-up

        def forward(x, mask, lattice):  # noqa: ARG001 - the plain layer has no lattice
            return layer(x)

        mask = lattice = None
    else:
        model, x, mask, lattice, weight = make_case(tokens, batch, hidden)
        if impl == "light":
            torch.manual_seed(0)
            model = flat_light_fusion(num_heads=8)(hidden, Vectors(1000, 200)).eval()
        forward = (lambda *a: study_forward(model, *a)) if impl == "study" else model
        small = make_case(16, 2, hidden)  # warm-up: first-call set-up stays out of the timing
        forward(*small[1:4]).sum().backward()
    model.zero_grad(set_to_none=True)
    return model, forward, x, mask, lattice, weight


def profile_case(impl: str, tokens: int, batch: int, hidden: int, rows: int = 14) -> str:
    """torch.profiler's self CPU time per operator of one forward + backward."""
    from torch.profiler import ProfilerActivity, profile

    model, forward, x, mask, lattice, weight = setup_case(impl, tokens, batch, hidden)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        (forward(x, mask, lattice) * weight).sum().backward()
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)
    return f"{impl}, N = {tokens}:\n{table}"


def run_case(impl: str, tokens: int, batch: int, hidden: int, repeat: int) -> Dict[str, float]:
    """One implementation at one size, in this process: time and peak memory."""
    model, forward, x, mask, lattice, weight = setup_case(impl, tokens, batch, hidden)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    walls, cpus = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = forward(x, mask, lattice)
        (out * weight).sum().backward()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
        model.zero_grad(set_to_none=True)
        x.grad = None
        del out
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "time_s": min(walls),
        "cpu_s": min(cpus),
        "peak_gb": peak / GB,
        "working_gb": (peak - before) / GB,
    }


def check_equal(tokens: int = 24, hidden: int = 32) -> float:
    """Largest output difference of fast vs study-style at a small size (same weights)."""
    model, x, mask, lattice, _ = make_case(tokens, 2, hidden)
    model.query_chunk = 5
    with torch.no_grad():
        return float((model(x, mask, lattice) - study_forward(model, x, mask, lattice)).abs().max())


def subprocess_case(args: argparse.Namespace, impl: str, tokens: int) -> Dict[str, float]:
    cmd = [
        sys.executable,
        __file__,
        "--case",
        impl,
        "--lengths",
        str(tokens),
        "--batch",
        str(args.batch),
        "--hidden",
        str(args.hidden),
        "--repeat",
        str(args.repeat),
        "--threads",
        str(args.threads),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"case {impl} N={tokens} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=str, default="128,256,512", help="N = chars + words")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per case (best kept)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per case")
    parser.add_argument(
        "--rounds", type=int, default=1, help="interleaved plain/FLAT/light processes per N"
    )
    parser.add_argument("--max-gb", type=float, default=12.0, help="skip study-style runs above")
    parser.add_argument("--quick", action="store_true", help="batch 2, width 128, N 32,64,128")
    parser.add_argument(
        "--case", choices=["fast", "study", "light", "plain"], help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--profile", action="store_true", help="per-operator profile of FLAT and plain, each N"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.quick:
        args.batch, args.hidden, args.lengths = 2, 128, "32,64,128"
    lengths = [int(v) for v in args.lengths.split(",")]

    if args.case:  # child process: one measurement
        print(json.dumps(run_case(args.case, lengths[0], args.batch, args.hidden, args.repeat)))
        return

    if args.profile:  # one process, one forward + backward per case
        for n in lengths:
            for impl in ("fast", "plain"):
                print(profile_case(impl, n, args.batch, args.hidden), flush=True)
        return
    print(f"check: max |fast - study| at N=24, width 32 = {check_equal():.2e}")
    print(
        f"batch {args.batch}, width {args.hidden}, 8 heads, 1 layer, fusion ff, "
        f"{args.threads} threads, forward + backward, best of {args.repeat}; "
        "time = wall (CPU seconds of all threads)\n"
    )

    def cell(r: Dict[str, float]) -> str:
        return (
            f"{r['time_s']:.2f} s ({r['cpu_s']:.2f}) | "
            f"{r['peak_gb']:.2f} GB ({r['working_gb']:.2f})"
        )

    header = (
        "| N (chars+words) | FLAT time | FLAT peak (working) | study-style time | "
        "study-style peak (working) | memory ratio, peak (working) | speed-up | "
        "FLAT-light time | FLAT-light peak (working) |"
    )
    rows: List[str] = [header, "|" + "---|" * 9]
    plain_header = (
        "| N | plain layer time | plain peak (working) | FLAT / plain time (CPU) | "
        "FLAT / plain peak | FLAT-light / plain time (CPU) | FLAT-light / plain peak |"
    )
    plain_rows: List[str] = [plain_header, "|" + "---|" * 7]

    def ratio(a: Dict[str, float], b: Dict[str, float]) -> str:
        return (
            f"{a['time_s'] / b['time_s']:.2f}x ({a['cpu_s'] / b['cpu_s']:.2f}x) | "
            f"{a['peak_gb'] / b['peak_gb']:.2f}x"
        )

    per_n2: Optional[float] = None  # study-style working bytes / N^2, once measured
    for n in lengths:
        runs: Dict[str, List[Dict[str, float]]] = {"plain": [], "fast": [], "light": []}
        for _ in range(args.rounds):  # interleaved, so the machine's load hits all alike
            for impl, results in runs.items():
                results.append(subprocess_case(args, impl, n))
        plain, fast, light = (best(results) for results in runs.values())
        if per_n2 is None:
            need_gb = 21 * args.batch * n * n * args.hidden * 4 / GB
        else:
            need_gb = per_n2 * n * n
        if need_gb > args.max_gb:
            study_cells = f"skipped: would need ~{need_gb:.0f} GB | | – | –"
        else:
            study = subprocess_case(args, "study", n)
            per_n2 = study["working_gb"] / (n * n)
            study_cells = (
                f"{cell(study)} | {study['peak_gb'] / fast['peak_gb']:.1f}x "
                f"({study['working_gb'] / max(fast['working_gb'], 1e-9):.1f}x) | "
                f"{study['time_s'] / fast['time_s']:.1f}x"
            )
        rows.append(f"| {n} | {cell(fast)} | {study_cells} | {cell(light)} |")
        print(rows[-1], flush=True)
        plain_rows.append(f"| {n} | {cell(plain)} | {ratio(fast, plain)} | {ratio(light, plain)} |")
        print(plain_rows[-1], flush=True)
    print()
    print("\n".join(rows))
    print()
    print("\n".join(plain_rows))


def best(results: List[Dict[str, float]]) -> Dict[str, float]:
    """The fastest time and the smallest peak of a case's rounds (peaks vary little)."""
    return {key: min(r[key] for r in results) for key in results[0]}


if __name__ == "__main__":
    main()
