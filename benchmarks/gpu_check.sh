#!/usr/bin/env bash
# One-command GPU check for one H100/H200 without internet, < 8 minutes.
#
#   bash benchmarks/gpu_check.sh [REPORT.md]       # on the GPU machine
#   bash benchmarks/gpu_check.sh --prepare          # beforehand, on a machine with PyPI access
#   bash benchmarks/gpu_check.sh --dry-run [R.md]   # the same steps on CPU with tiny sizes
#   bash benchmarks/gpu_check.sh --ladder [OUT]     # on the GPU machine: issue 24's pretrained
#                                                   # ladder (benchmarks/ladder.py) into OUT
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
if [[ -z "${NERKIT_WHEELS:-}" && -d "$ROOT/.gpu/wheels" ]]; then
    WHEELS="$ROOT/.gpu/wheels"  # benchmarks/gpu_carry.sh's folder, carried to the device
fi
PYTHON="${PYTHON:-python3}"
LIMIT="${GPU_CHECK_SECONDS:-450}"   # the driver's wall-clock budget; install comes on top
MODE=gpu
if [[ "${1:-}" == "--prepare" ]]; then
    MODE=prepare
    shift
elif [[ "${1:-}" == "--dry-run" ]]; then
    MODE=cpu
    shift
elif [[ "${1:-}" == "--ladder" ]]; then
    MODE=ladder
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
    # the dependencies' own torch requirement (if any) is met by the GPU machine's torch;
    # what no GPU check imports goes too (gensim and scipy: word vectors are made here with
    # `benchmarks/pretrained.py --vectors-only`; matplotlib: plots), so that the wheels, the
    # tree and the data fit the device's 64 MiB carry (all wheels: 138 MB; these: about 50)
    rm -f "$WHEELS"/torch-*.whl "$WHEELS"/nvidia_*.whl "$WHEELS"/triton-*.whl
    for pkg in scipy gensim smart_open wrapt matplotlib pillow fonttools kiwisolver contourpy \
        cycler pyparsing python_dateutil hf_xet kernels; do
        rm -f "$WHEELS/$pkg"-*.whl
    done
    echo "wheels for Python $PYVER in $WHEELS: copy benchmarks/ (with wheels/) to the GPU machine"
    exit 0
    ;;
gpu | ladder)
    "$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "no CUDA device visible to torch")'
    if ! "$PYTHON" -c 'import transformers, confection, catalogue, spacy_pkuseg, safetensors, pydantic' 2>/dev/null; then
        if [[ ! -d "$WHEELS" ]]; then
            echo "gpu_check: nerkit's dependencies are missing and $WHEELS does not exist;" \
                 "run 'bash benchmarks/gpu_check.sh --prepare' on a machine with PyPI access first." >&2
            exit 2
        fi
        # --no-deps: the wheels --prepare kept, without the ones no GPU check imports;
        # the machine's own numpy (torch's) is kept when it has one
        wheels=()
        for whl in "$WHEELS"/*.whl; do
            if [[ "$(basename "$whl")" == numpy-* ]] && "$PYTHON" -c 'import numpy' 2>/dev/null; then
                continue
            fi
            wheels+=("$whl")
        done
        "$PYTHON" -m pip install --no-index --no-deps "${wheels[@]}"
    fi
    # .gpu/ (benchmarks/gpu_carry.sh): the data and vectors travel gzipped; unpack them
    if [[ -d "$ROOT/.gpu/data" && -z "${NERKIT_SHARED_DATA:-}" ]]; then
        export NERKIT_SHARED_DATA=/tmp/nerkit-shared-data
        for gz in $(cd "$ROOT/.gpu/data" && find . -name '*.gz'); do
            mkdir -p "$NERKIT_SHARED_DATA/$(dirname "$gz")"
            gunzip -c "$ROOT/.gpu/data/$gz" > "$NERKIT_SHARED_DATA/${gz%.gz}"
        done
    fi
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
    if [[ "$MODE" == gpu ]]; then
        timeout "$LIMIT" "$PYTHON" "$HERE/gpu_check.py" all --report "$REPORT"
    else
        # every (row, seed, encoder) a process of its own on the one GPU; a rerun resumes
        OUT_DIR="${1:-ladder}"
        if [[ -f "$ROOT/.gpu/vectors.txt.gz" && ! -f "$OUT_DIR/proxy/vectors.txt" ]]; then
            mkdir -p "$OUT_DIR/proxy"
            gunzip -c "$ROOT/.gpu/vectors.txt.gz" > "$OUT_DIR/proxy/vectors.txt"
        fi
        timeout "$LIMIT" "$PYTHON" "$HERE/ladder.py" --out "$OUT_DIR" --device cuda --random \
            --jobs "${LADDER_JOBS:-12}" --pretrain-minutes "${LADDER_PRETRAIN_MINUTES:-3}" \
            --data "${NERKIT_SHARED_DATA:-$ROOT/../shared/data}"
        REPORT="$OUT_DIR/ladder.jsonl"
    fi
    ;;
cpu)
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
    timeout "$LIMIT" "$PYTHON" "$HERE/gpu_check.py" all --cpu --steps 2 --report "$REPORT"
    ;;
esac
echo "report: $REPORT"
