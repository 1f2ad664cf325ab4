#!/usr/bin/env bash
# One-command GPU check for one H100/H200 without internet, < 8 minutes.
#
#   bash benchmarks/gpu_check.sh [REPORT.md]       # on the GPU machine
#   bash benchmarks/gpu_check.sh --prepare          # beforehand, on a machine with PyPI access
#   bash benchmarks/gpu_check.sh --dry-run [R.md]   # the same steps on CPU with tiny sizes
#
# The GPU machine has PyTorch but none of nerkit's other dependencies: they are
# installed from the wheel files in benchmarks/wheels/ (or $NERKIT_WHEELS), which
# --prepare downloads for the GPU machine's Python ($GPU_PYTHON_VERSION, default: this
# Python) and platform (manylinux x86_64). nerkit itself runs from this checkout
# (PYTHONPATH), so nothing is built. CMeEE texts and the real vocabulary are read
# from ../shared/data (or $NERKIT_SHARED_DATA) when present, else synthesised.
#
# The report (default gpu_report.md) is written after every check, so a timeout still
# leaves the figures measured so far. See benchmarks/gpu_check.py for what each check
# measures; docs/benchmarks/gpu.md for the figures.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
WHEELS="${NERKIT_WHEELS:-$HERE/wheels}"
PYTHON="${PYTHON:-python3}"
LIMIT="${GPU_CHECK_SECONDS:-450}"   # the driver's wall-clock budget; install comes on top
MODE=gpu
if [[ "${1:-}" == "--prepare" ]]; then
    MODE=prepare
    shift
elif [[ "${1:-}" == "--dry-run" ]]; then
    MODE=cpu
    shift
fi
REPORT="${1:-gpu_report.md}"
REQS="$(mktemp)"
trap 'rm -f "$REQS"' EXIT
"$PYTHON" "$HERE/gpu_check.py" requirements > "$REQS"

case "$MODE" in
prepare)
    PYVER="${GPU_PYTHON_VERSION:-$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')}"
    mkdir -p "$WHEELS"
    "$PYTHON" -m pip download --dest "$WHEELS" --only-binary=:all: \
        --python-version "$PYVER" --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux_2_28_x86_64 --platform any -r "$REQS"
    # the dependencies' own torch requirement (if any) is met by the GPU machine's torch
    rm -f "$WHEELS"/torch-*.whl "$WHEELS"/nvidia_*.whl "$WHEELS"/triton-*.whl
    echo "wheels for Python $PYVER in $WHEELS: copy benchmarks/ (with wheels/) to the GPU machine"
    exit 0
    ;;
gpu)
    "$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "no CUDA device visible to torch")'
    if ! "$PYTHON" -c 'import transformers, confection, catalogue, spacy_pkuseg, safetensors, pydantic' 2>/dev/null; then
        if [[ ! -d "$WHEELS" ]]; then
            echo "gpu_check: nerkit's dependencies are missing and $WHEELS does not exist;" \
                 "run 'bash benchmarks/gpu_check.sh --prepare' on a machine with PyPI access first." >&2
            exit 2
        fi
        "$PYTHON" -m pip install --no-index --find-links "$WHEELS" -r "$REQS"
    fi
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
    timeout "$LIMIT" "$PYTHON" "$HERE/gpu_check.py" all --report "$REPORT"
    ;;
cpu)
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
    timeout "$LIMIT" "$PYTHON" "$HERE/gpu_check.py" all --cpu --steps 2 --report "$REPORT"
    ;;
esac
echo "report: $REPORT"
