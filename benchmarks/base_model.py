"""Write a model directory of base size with random weights, for throughput runs.

    python benchmarks/base_model.py runs/base-random [--layers 12 --hidden 768 --max-length 512]
    python benchmarks/bench_inference.py runs/base-random --device cuda

No pretrained weights can be downloaded on every machine, and throughput does
not depend on the weights: this builds the quickstart model (linear nested
head) with a bert-base-chinese-sized encoder (12 layers, width 768, 12 heads,
the real 21,128-character vocabulary from ../shared/data/vocab) built from its
config, and saves it as ``nerkit train`` would. Its predictions are noise, so
entity counts (and the decoding share of the time) differ from a trained model.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout

from nerkit.config import load_config, resolve_section  # noqa: E402
from nerkit.models.io import save_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VOCAB = ROOT.parent / "shared" / "data" / "vocab" / "bert-base-chinese-vocab.txt"


def write_encoder_dir(dest: Path, vocab: Path, layers: int, hidden: int, max_length: int) -> None:
    """A BERT config + tokenizer files (no weights): what ``pretrained = false`` builds from."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(vocab, dest / "vocab.txt")
    n_vocab = sum(1 for _ in vocab.open(encoding="utf8"))
    config = json.loads(
        (ROOT / "projects/quickstart/tiny-bert/config.json").read_text(encoding="utf8")
    )
    config.update(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=hidden // 64,
        intermediate_size=4 * hidden,
        vocab_size=n_vocab,
        max_position_embeddings=max(512, max_length),
    )
    (dest / "config.json").write_text(json.dumps(config, indent=2), encoding="utf8")
    shutil.copyfile(
        ROOT / "projects/quickstart/tiny-bert/tokenizer_config.json", dest / "tokenizer_config.json"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("output", type=Path, help="model directory to write")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument(
        "--max-length", type=int, default=512, help="encoder max_length (window = this - 2)"
    )
    ap.add_argument("--vocab", type=Path, default=VOCAB)
    args = ap.parse_args()
    if not args.vocab.is_file():
        sys.exit(
            f"Vocabulary not found: {args.vocab}. It is the 21,128-character bert-base-chinese "
            "vocab.txt (../shared/data/vocab/ in the project's checkout; a downloaded "
            "bert-base-chinese folder has it too): pass --vocab FILE."
        )
    if args.output.exists():
        sys.exit(f"{args.output} exists; choose a new directory.")

    with tempfile.TemporaryDirectory() as tmp:
        encoder_dir = Path(tmp) / "encoder"
        write_encoder_dir(encoder_dir, args.vocab, args.layers, args.hidden, args.max_length)
        cfg = load_config(
            ROOT / "configs" / "quickstart.cfg",
            {"paths.encoder": str(encoder_dir), "model.encoder.max_length": args.max_length},
        )
        model = resolve_section(cfg, "model")
        model.initialize(lambda: [])
        model.eval()
        save_model(model, args.output, cfg, {"note": "random weights, for throughput only"})
    n = sum(p.numel() for p in model.parameters())
    print(
        f"wrote {args.output}: {args.layers} layers, width {args.hidden}, {n / 1e6:.1f}M parameters"
    )


if __name__ == "__main__":
    main()
