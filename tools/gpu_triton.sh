#!/usr/bin/env bash
# The Triton B-spline path on a lent GPU, as ONE command that ends inside the device tool's 600 s limit:
# first the Triton tests on CUDA tensors (compiled kernels against float64 Cox-de Boor and the dense path,
# dispatch, Adam steps, MetaKAN), then tools/bench/triton_gpu.py (time per step and peak CUDA memory of
# the Triton path against the dense path, KAN [784,32,32,10] batch 1024 and the sine-paper zoo engine of
# 1,000 models, G = 5, 30, 100, 200). A sibling of tools/gpu_repro.sh, run the same way:
#
#     device run:  bash tools/gpu_triton.sh          (writes log.txt, bench.json, bench.txt to $OUT)
#
# Nothing is installed: the packages run from this working tree (PYTHONPATH=packages/*/src) with the
# image's python3, torch and triton (3.6 there; the tests skip, and say so, if triton is missing).
# Environment (all optional):
#     OUT                   where the files go (default ./gpu-out)
#     KAN_TRITON_TOTAL_S    wall-clock seconds for the whole script (default 540)
#     KAN_TRITON_BENCH_ARGS extra arguments for the benchmark (e.g. "--grids 5,30 --reps 10")
#     KAN_REPRO_PYTHON      the interpreter (default python3)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/gpu-out}
TOTAL_S=${KAN_TRITON_TOTAL_S:-540}
PY=${KAN_REPRO_PYTHON:-python3}
mkdir -p "$OUT"
LOG=$OUT/log.txt
: >"$LOG"
PYTHONPATH=$(printf '%s:' "$ROOT"/packages/*/src)${PYTHONPATH:-}
export PYTHONPATH PYTHONUNBUFFERED=1
unset KAN_CORE_TRITON TRITON_INTERPRET  # compiled kernels on CUDA tensors
START=$(date +%s)
say() { echo "[gpu_triton $(($(date +%s) - START))s] $*" | tee -a "$LOG" >&2; }
left() { echo $((TOTAL_S - ($(date +%s) - START))); }

say "python $($PY -c 'import sys; print(sys.version.split()[0])'), out $OUT, $TOTAL_S s in all"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv >>"$LOG" 2>&1
$PY "$ROOT/tools/kan_from_source.py" info >>"$LOG" 2>&1 || say "kan info failed (rc $?)"
grep -E '^(b-splines|cuda|torch)' "$LOG" >&2

# 1. the tests, on CUDA (the same files CI runs through Triton's interpreter)
timeout -k 10 180 $PY -m pytest -q -p no:cacheprovider -x -rs \
    packages/kan-core/tests/test_triton_kernels.py packages/kan-core/tests/test_triton_dispatch.py \
    packages/kan-metakan/tests/test_triton_path.py 2>&1 | tee -a "$LOG" | tail -n 15 >&2
say "Triton tests on CUDA: exit ${PIPESTATUS[0]}"

# 2. the benchmark with what is left (it prints its table last)
limit=$(($(left) - 15))
if [ "$limit" -lt 60 ]; then
    say "no time left for the benchmark (${limit}s)"
    exit 1
fi
say "benchmark, hard limit ${limit}s"
# shellcheck disable=SC2086
timeout -k 10 "$limit" $PY tools/bench/triton_gpu.py --json "$OUT/bench.json" ${KAN_TRITON_BENCH_ARGS:-} 2>&1 \
    | tee "$OUT/bench.txt" | tee -a "$LOG" >&2
say "benchmark: exit ${PIPESTATUS[0]}; files in $OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
