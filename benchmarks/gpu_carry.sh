#!/usr/bin/env bash
# Fill .gpu/ (git-ignored) with what a GPU machine without internet needs for
# benchmarks/gpu_check.sh, within the device tool's 64 MiB carry:
#
#   python benchmarks/pretrained.py --out runs/proxy --vectors-only   # gensim, on this machine
#   bash benchmarks/gpu_carry.sh runs/proxy/vectors.txt
#   # then, with the device tool, carrying ".gpu":
#   #   bash benchmarks/gpu_check.sh $OUT/gpu.md                  (the GPU checks)
#   #   bash benchmarks/gpu_check.sh --ladder $OUT/ladder         (issue 24's ladder)
#
# .gpu/wheels: nerkit's dependencies for the GPU machine's Python (gpu_check.sh --prepare,
# about 47 MB without the packages no GPU check imports); .gpu/data: the CMeEE files,
# the vocabulary and the unlabeled text, gzipped (gpu_check.sh unpacks them there);
# .gpu/vectors.txt.gz: the ladder's word vectors, when given.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
DATA="${NERKIT_SHARED_DATA:-$ROOT/../shared/data}"
CARRY="$ROOT/.gpu"
VECTORS="${1:-}"

mkdir -p "$CARRY"
NERKIT_WHEELS="$CARRY/wheels" bash "$HERE/gpu_check.sh" --prepare
for f in cmeee/CMeEE_dev.json cmeee/CMeEE_test.json vocab/bert-base-chinese-vocab.txt \
    unlabeled/medical-dialogue.txt; do
    if [[ ! -f "$DATA/$f" ]]; then
        echo "gpu_carry: $DATA/$f not found (set NERKIT_SHARED_DATA to the shared data folder)" >&2
        exit 2
    fi
    mkdir -p "$CARRY/data/$(dirname "$f")"
    gzip -9 -c "$DATA/$f" > "$CARRY/data/$f.gz"
done
if [[ -n "$VECTORS" ]]; then
    gzip -9 -c "$VECTORS" > "$CARRY/vectors.txt.gz"
fi
du -sh "$CARRY"
