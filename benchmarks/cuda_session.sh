#!/usr/bin/env bash
# Everything the CUDA issues need measured on a GPU, in one command, for a session that
# is lent one (its device time is short: this script is prepared and tested here first).
#
#   bash benchmarks/cuda_session.sh tests   [OUT]              (~5 min: the CUDA tests)
#   bash benchmarks/cuda_session.sh measure [OUT] [MNIST_DIR]  (~8 min: benchmarks, training)
#   bash benchmarks/cuda_session.sh all     [OUT] [MNIST_DIR]  (<= 9 min: both, shorter limits,
#                                                               for a session with one call's time)
#   bash benchmarks/cuda_session.sh device  [OUT] [MNIST_DIR]  (~6 min: every emulated-GPU test on the
#                                                               device, all OVERFIT runs, the MNIST CNN)
#
# Runs with tvmini from this checkout (PYTHONPATH, no install) on the machine's Python,
# which must have numpy, llvmlite, pytest, hypothesis and pycuda or cuda-bindings (the
# lent H200 machine has all but pycuda: tvmini then launches through cuda-bindings).
# Writes one log per part under OUT (default $OUT, else /tmp/tvmini-cuda) and prints a
# summary; each part has its own time limit, so one that hangs does not eat the rest.
# Through the device tool: copy ../shared/data/mnist to .gpu/mnist and an llvmlite wheel
# for Python 3.12 to .gpu/wheels (``echo /.gpu/ >> .git/info/exclude``), carry .gpu, and
# run e.g. ``bash benchmarks/cuda_session.sh measure $OUT .gpu/mnist``.
set -uo pipefail
cd "$(dirname "$0")/.."
which=${1:?say tests, measure, all or device}
out=${2:-${OUT:-/tmp/tvmini-cuda}}
mnist=${3:-}
mkdir -p "$out"
: >"$out/summary.log"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
export TVMINI_CACHE_DIR=${TVMINI_CACHE_DIR:-/tmp/tvmini-cache}
py=${PYTHON:-python3}
# tvmini needs llvmlite >= 0.48 (pyproject.toml); an older one there is replaced by a wheel
# carried in .gpu/wheels (pip download --python-version 3.12 ... llvmlite==0.50.0).
if ! $py -c 'import sys, llvmlite; sys.exit(tuple(map(int, llvmlite.__version__.split(".")[:2])) < (0, 48))'; then
    $py -m pip install -q --no-index --no-deps --target /tmp/site .gpu/wheels/llvmlite-*.whl &&
        export PYTHONPATH=/tmp/site:$PYTHONPATH
fi

part() {    # part NAME SECONDS COMMAND...: run, log to OUT/NAME.log, record the exit status
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    local rc=$?
    echo "$name: rc=$rc in $((SECONDS - start)) s" | tee -a "$out/summary.log"
    tail -n 25 "$out/$name.log"
}

part environment 60 bash -c "nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv;
    $py --version; nvcc --version | tail -1;
    $py -c 'import llvmlite; print(\"llvmlite\", llvmlite.__version__)';
    $py -c 'from tvmini.runtime.cuda_driver import driver, device_arch; print(\"binding:\", driver().name, device_arch())';
    $py -c 'from tvmini.codegen.cuda_compile import ptx_compiler; print(\"PTX compiler:\", ptx_compiler())'"
# Time limits per part: "all" fits both halves into one device call of under ten minutes.
if [ "$which" = all ]; then short=1; else short=0; fi
limit() { if [ "$short" = 1 ]; then echo "$2"; else echo "$1"; fi; }
if [ "$which" = tests ] || [ "$which" = all ]; then
    workers=$($py -c 'import xdist' 2>/dev/null && echo "-n $(( $(nproc) > 2 ? $(nproc) - 2 : 1 ))")
    part tests "$(limit 300 200)" "$py" -m pytest -q $workers -p no:cacheprovider tests/test_cuda.py \
        tests/test_cuda_runtime.py tests/test_cuda_cross_thread.py tests/test_topi_cuda.py tests/test_graph_cuda.py \
        tests/test_benchmarks.py
fi
if [ "$which" = measure ] || [ "$which" = all ]; then
    part gemm_steps "$(limit 90 60)" "$py" examples/gemm_cuda.py --size 4096
    part benchmark "$(limit 90 50)" "$py" benchmarks/cuda_kernels.py
    part train_step "$(limit 150 80)" "$py" benchmarks/train_step.py --device cuda --steps 30 --rounds 2
    part overfit "$(limit 90 60)" "$py" examples/overfit.py --experiment bn-relu-raw --steps 1000 --eval-every 250 \
        --device cuda --jit --out "$out/overfit"
    if [ -n "$mnist" ]; then
        part mnist_mlp "$(limit 90 60)" "$py" examples/mnist.py --model mlp --epochs 2 --data "$mnist" --device cuda \
            --no-progress --out "$out/mnist"
    fi
fi
if [ "$which" = device ]; then
    workers=$($py -c 'import xdist' 2>/dev/null && echo "-n $(( $(nproc) > 2 ? $(nproc) - 2 : 1 ))")
    part device_fixture 220 env TVMINI_GPU_FIXTURE=device "$py" -m pytest -q $workers -p no:cacheprovider tests
    part overfit_all 110 "$py" examples/overfit.py --experiment all --steps 2000 --eval-every 500 --device cuda \
        --jit --out "$out/overfit"
    if [ -n "$mnist" ]; then
        part mnist_cnn 70 "$py" examples/mnist.py --model cnn --epochs 2 --data "$mnist" --device cuda \
            --no-progress --out "$out/mnist"
    fi
fi
cat "$out/summary.log"
