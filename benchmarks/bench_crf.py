"""CRF throughput on CPU: nerkit's CRF layer vs pytorch-crf, measured in the same run.

Workload: batch 32 x length 128 x 19 tags (BIO over the 9 CMeEE types), random
sequence lengths in [1, 128] with a left-aligned mask. Both layers get identical
parameters; the script first checks that they give the same NLL and the same
Viterbi paths, then times

* loss: negative log-likelihood forward + backward (gradients of emissions and
  CRF parameters), the training step of the CRF;
* decode: Viterbi best paths (nerkit: vectorised backtrace; pytorch-crf:
  per-sequence Python backtrace), under ``torch.no_grad``.

Run: ``python benchmarks/bench_crf.py [--batch 32 --length 128 --tags 19 --repeat 30]``.
nerkit's layer runs unconstrained here so that both compute the same model.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, List, Tuple

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout

from nerkit.models.decoders.crf import CRF  # noqa: E402


def _time_pair(
    first: Callable[[], object], second: Callable[[], object], repeat: int, warmup: int = 3
) -> Tuple[List[float], List[float]]:
    """Seconds per call of two functions, interleaved so that load changes hit both."""
    for _ in range(warmup):
        first()
        second()
    times: Tuple[List[float], List[float]] = ([], [])
    for _ in range(repeat):
        for fn, out in ((first, times[0]), (second, times[1])):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--tags", type=int, default=19)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from torchcrf import CRF as TorchCRF  # pytorch-crf, a dev dependency

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    batch, length, num_tags = args.batch, args.length, args.tags

    ours = CRF(num_tags)
    theirs = TorchCRF(num_tags, batch_first=True)
    with torch.no_grad():
        for p in (ours.start, ours.end, ours.transitions):
            p.normal_(0.0, 0.5)
        theirs.start_transitions.copy_(ours.start)
        theirs.end_transitions.copy_(ours.end)
        theirs.transitions.copy_(ours.transitions)

    lengths = torch.randint(1, length + 1, (batch,))
    lengths[0] = length  # the padded length is really used
    mask = torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)  # [B, L] bool
    emissions = torch.randn(batch, length, num_tags, requires_grad=True)
    tags = torch.randint(0, num_tags, (batch, length)).masked_fill(~mask, 0)
    mask_u8 = mask  # pytorch-crf takes a bool mask too

    # ---- agreement on identical parameters
    nll_ours = -ours.log_likelihood(emissions, tags, mask)
    nll_theirs = -theirs(emissions, tags, mask_u8, reduction="none")
    paths_ours, _ = ours.viterbi(emissions.detach(), mask)
    paths_theirs = theirs.decode(emissions.detach(), mask_u8)
    same_paths = all(paths_ours[b, : lengths[b]].tolist() == paths_theirs[b] for b in range(batch))
    grads_ours = torch.autograd.grad(nll_ours.sum(), [emissions, ours.transitions])
    grads_theirs = torch.autograd.grad(nll_theirs.sum(), [emissions, theirs.transitions])
    max_nll_diff = (nll_ours - nll_theirs).abs().max().item()
    max_grad_diff = max(
        (a - b).abs().max().item() for a, b in zip(grads_ours, grads_theirs, strict=True)
    )
    print(
        f"workload: batch {batch} x length {length} x {num_tags} tags, lengths "
        f"{lengths.min().item()}..{lengths.max().item()} (mean {lengths.float().mean():.1f}), "
        f"CPU, {torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    print(
        f"agreement: max |NLL diff| = {max_nll_diff:.2e} (NLL ~ {nll_ours.mean().item():.1f}), "
        f"max |grad diff| = {max_grad_diff:.2e}, identical Viterbi paths: {same_paths}"
    )
    if max_nll_diff > 1e-3 * max(1.0, nll_ours.abs().max().item()) or not same_paths:
        raise SystemExit("nerkit and pytorch-crf disagree: the benchmark is void.")

    # ---- timings
    def loss_ours() -> None:
        emissions.grad = None
        ours.zero_grad()
        (-ours.log_likelihood(emissions, tags, mask)).mean().backward()

    def loss_theirs() -> None:
        emissions.grad = None
        theirs.zero_grad()
        (-theirs(emissions, tags, mask_u8, reduction="mean")).backward()

    em = emissions.detach()

    def decode_ours() -> None:
        with torch.no_grad():
            ours.viterbi(em, mask)[0].tolist()

    def decode_theirs() -> None:
        with torch.no_grad():
            theirs.decode(em, mask_u8)

    rows = []
    for name, fn_ours, fn_theirs in (
        ("loss (NLL fwd+bwd)", loss_ours, loss_theirs),
        ("decode (Viterbi)", decode_ours, decode_theirs),
    ):
        rows.append((name, *_time_pair(fn_ours, fn_theirs, args.repeat)))

    print()
    print(
        f"| {'step':<20} | {'nerkit ms':>17} | {'pytorch-crf ms':>17} | {'speed-up':>8} | "
        f"{'nerkit seq/s':>12} |"
    )
    print(f"|{'-' * 22}|{'-' * 19}|{'-' * 19}|{'-' * 10}|{'-' * 14}|")
    for name, ours_s, theirs_s in rows:
        t_ours, t_theirs = statistics.median(ours_s), statistics.median(theirs_s)
        print(
            f"| {name:<20} | {t_ours * 1e3:>8.2f} (min {min(ours_s) * 1e3:>5.1f}) | "
            f"{t_theirs * 1e3:>8.2f} (min {min(theirs_s) * 1e3:>5.1f}) | "
            f"{t_theirs / t_ours:>7.2f}x | {batch / t_ours:>12.0f} |"
        )
    print(
        f"\nmedian (and min) of {args.repeat} interleaved runs after 3 warm-up runs; "
        "speed-up = pytorch-crf median / nerkit median."
    )


if __name__ == "__main__":
    main()
