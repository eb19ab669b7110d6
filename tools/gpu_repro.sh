#!/usr/bin/env bash
# Both papers' pipelines on a bare GPU machine, as ONE command that ends inside a wall-clock limit.
#
# Nothing is installed: the packages run from this working tree (PYTHONPATH=packages/*/src) and the `kan`
# subcommands come from tools/kan_from_source.py, which registers the entry points that an install would.
# Needs python3 with torch, torch-geometric, scipy, safetensors, matplotlib, click, tqdm, numpy, pytest
# (all on the H200 image). pykan (for the Feynman equations) is not there: its pure-Python package can
# travel as the git-ignored folder vendor/kan (760 KB; its own imports, sympy, pandas, scikit-learn, yaml,
# are on the image); without it the Feynman stage reports itself skipped. Place it once, here:
#     mkdir -p vendor && cp -r .venv/lib/python3*/site-packages/kan vendor/
#
# Fashion-MNIST travels with the working tree as the git-ignored folder data/fashion-mnist/ holding the
# four official IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
# t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz; about 30 MB). Place them once, here:
#     mkdir -p data/fashion-mnist && cp /usr/share/datasets/fashion-mnist/*-ubyte.gz data/fashion-mnist/
# (or download them: kan_core.datasets.fetch), and name "data" (and "vendor") in the device tool's
# `carry`. The script
# points KAN_DATA_ROOT at data/, where kan_core.datasets looks for data/<name>/ first.
#
# Steps, each bounded by `timeout`: environment report; the cuda-marked tests (pytest -m cuda); a
# `--scale tiny` pre-flight of both pipelines on the device; then `--scale paper` of both with the seconds
# left split 70/30 (WS-KAN/MetaKAN) as --budget-min; a stage still running at its hard limit is killed
# and the report is written from the finished stages (--report-only). At most 8 files land in $OUT:
#     report.md (both pipelines' tables, verdicts, stage times), wskan-tables.{csv,json},
#     metakan-tables.{csv,json}, wskan-figures.png, metakan-figures.png, log.txt
#
# Environment (all optional):
#     OUT                  where the 8 files go (default ./gpu-out)
#     KAN_REPRO_DEVICE     cuda (default) | cpu   -- cpu to try the script on a machine without a GPU
#     KAN_REPRO_SCALE      paper (default) | cpu | tiny   -- the main run's scale
#     KAN_REPRO_TOTAL_S    wall-clock seconds for the whole script (default 540; the device tool's limit is 600)
#     KAN_REPRO_WORK       zoos, checkpoints and stage records (default /tmp/kan-repro; reused = resumed)
#     KAN_REPRO_SKIP_TESTS 1 to skip the pytest step
#     KAN_REPRO_PYTHON     the interpreter (default python3)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/gpu-out}
DEVICE=${KAN_REPRO_DEVICE:-cuda}
SCALE=${KAN_REPRO_SCALE:-paper}
TOTAL_S=${KAN_REPRO_TOTAL_S:-540}
WORK=${KAN_REPRO_WORK:-/tmp/kan-repro}
mkdir -p "$OUT" "$WORK"
LOG=$OUT/log.txt
: >"$LOG"

PYTHONPATH=$(printf '%s:' "$ROOT"/packages/*/src)${PYTHONPATH:-}
[ -d "$ROOT/vendor" ] && PYTHONPATH=$ROOT/vendor:$PYTHONPATH
export PYTHONPATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
export KAN_DATA_ROOT=${KAN_DATA_ROOT:-$ROOT/data}
START=$(date +%s)

say() { echo "[gpu_repro $(($(date +%s) - START))s] $*" | tee -a "$LOG" >&2; }
left() { echo $((TOTAL_S - ($(date +%s) - START))); }
PY=${KAN_REPRO_PYTHON:-python3}
KAN=("$PY" "$ROOT/tools/kan_from_source.py")  # `kan` from this working tree
# run LIMIT_S CMD...: CMD with its output in the log, killed at LIMIT_S (then 10 s later for good)
run() {
    local limit=$1
    shift
    if [ "$limit" -le 0 ]; then
        say "no time left for: $*"
        return 124
    fi
    timeout -k 10 "$limit" "$@" >>"$LOG" 2>&1
    local rc=$?
    [ $rc -eq 124 ] && say "hit its ${limit}s limit: $*"
    return $rc
}

say "device $DEVICE, main scale $SCALE, $TOTAL_S s in all, work folder $WORK, out $OUT"
run 60 "${KAN[@]}" info || say "kan info failed (rc $?)"
if [ -d "$KAN_DATA_ROOT/fashion-mnist" ]; then
    say "Fashion-MNIST found in $KAN_DATA_ROOT/fashion-mnist"
else
    say "Fashion-MNIST NOT found in $KAN_DATA_ROOT/fashion-mnist: INR zoos fall back to 8x8 digits"
fi

if [ "${KAN_REPRO_SKIP_TESTS:-0}" != 1 ]; then
    if [ "$DEVICE" = cpu ]; then
        say "pytest -m cuda skipped (KAN_REPRO_DEVICE=cpu)"
    else
        run 120 $PY -m pytest -m cuda -q -p no:cacheprovider
        say "pytest -m cuda: exit $?"
    fi
fi

for p in wskan metakan; do
    run 150 "${KAN[@]}" repro "$p" --scale tiny --device "$DEVICE" --out "$WORK/tiny-$p" --threads 0
    say "pre-flight $p --scale tiny: exit $?"
done

# the main run: what is left, minus 40 s for the reports, split 70/30
REM=$(($(left) - 40))
for p in wskan metakan; do
    if [ $p = wskan ]; then share=$((REM * 70 / 100)); else share=$(($(left) - 30)); fi
    if [ "$share" -lt 30 ]; then
        say "skipping $p --scale $SCALE: only ${share}s left"
        continue
    fi
    budget=$($PY -c "print(round(max($share - 20, 10) / 60 * 0.8, 2))")  # stages overrun a little
    say "$p --scale $SCALE: --budget-min $budget, hard limit ${share}s"
    run "$share" "${KAN[@]}" repro "$p" --scale "$SCALE" --device "$DEVICE" --out "$WORK/$SCALE-$p" \
        --budget-min "$budget" --threads 0
    say "$p --scale $SCALE: exit $?"
done

# reports of whatever finished (also after a timeout), then the 8 files
: >"$OUT/report.md"
for p in wskan metakan; do
    folder=$WORK/$SCALE-$p
    [ -d "$folder/stages" ] || { say "no finished $p stage"; continue; }
    run 60 "${KAN[@]}" repro "$p" --scale "$SCALE" --device "$DEVICE" --out "$folder" --report-only
    if [ -f "$folder/report/tables.md" ]; then
        cat "$folder/report/tables.md" >>"$OUT/report.md"
        echo >>"$OUT/report.md"
        cp "$folder/report/tables.csv" "$OUT/$p-tables.csv"
        cp "$folder/report/tables.json" "$OUT/$p-tables.json"
        cp "$folder/report/figures.png" "$OUT/$p-figures.png"
    fi
done
say "done in $(($(date +%s) - START)) s; files in $OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
