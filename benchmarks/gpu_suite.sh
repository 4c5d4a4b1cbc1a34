#!/usr/bin/env bash
# Everything the speed and grid work needs from a GPU, in about 10 minutes of device time:
#   1. the GPU-only tests (compiled = eager on the GPU, no host synchronisation in an inner step);
#   2. milliseconds per iteration of the paper presets, eager against compiled (train.compile);
#   3. the paper's own schedules, side by side on the GPU: paper-ring to its end, paper-grid and
#      paper-stacked-mnist for SECONDS of training each, and the grid's learned-teacher presets
#      (grid-vae, grid-mixture) for as long; then each run's last line.
#
#   LBT_DATA_DIR=MNIST_DIR bash benchmarks/gpu_suite.sh OUT [SECONDS]
#
# SECONDS (default 240) bounds each long run's training. MODE (default cudagraphs) is the compiled
# mode timed and trained with; DEVICE (default cuda), ITERS (timed iterations, default 30), TIMED
# (the presets timed, default "paper-ring paper-stacked-mnist paper-grid"), STEPS (default "1 2 3"), EXTRA
# (more --set overrides for every run) and PYTHON come from the environment, so the script can be
# dry-run on a CPU: DEVICE=cpu MODE=inductor ITERS=2 EXTRA="--set train.iterations=20" ... OUT 20
set -u
out=${1:?usage: gpu_suite.sh OUT [SECONDS]}
secs=${2:-240}
py=${PYTHON:-python3}
dev=${DEVICE:-cuda}
mode=${MODE:-cudagraphs}
iters=${ITERS:-30}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
lbt() { "$py" -c 'import sys; from lbt.cli import main; sys.exit(main())' "$@"; }
"$py" -c 'import torch; print("device:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
      "| torch", torch.__version__)' | tee "$out/device.txt"

steps=${STEPS:-1 2 3}
if [[ " $steps " == *" 1 "* ]]; then
echo "== 1. tests"
timeout 240 "$py" -m pytest -x -rs tests/test_compiled.py >"$out/tests.log" 2>&1
grep -E "passed|failed|error" "$out/tests.log" | tail -n 1
fi

if [[ " $steps " == *" 2 "* ]]; then
echo "== 2. ms / iteration, eager and train.compile=$mode"
for preset in ${TIMED:-paper-ring paper-stacked-mnist paper-grid}; do
    for m in none "$mode"; do
        timeout 150 "$py" "$here/step_time.py" --case "$preset" --device "$dev" --iterations "$iters" \
            --threads 2 --set train.compile="$m" --set gan.lbt_gan_warmup=0 2>>"$out/timing.err" \
            | tee -a "$out/timing.md" | grep -E '^\| paper'
    done
done
fi

[[ " $steps " == *" 3 "* ]] || exit 0
echo "== 3. the paper's schedules, side by side, $secs s of training each"
run() {  # NAME PRESET [overrides...]
    local name=$1 preset=$2
    shift 2
    # shellcheck disable=SC2086
    OMP_NUM_THREADS=2 lbt train --no-progress --preset "$preset" --seed 0 --out "$out/$name" \
        --set device="$dev" --set train.compile="$mode" --set train.time_limit="$secs" ${EXTRA:-} "$@" \
        >"$out/$name.log" 2>&1 &
}
run paper-ring paper-ring --set eval.every=2000
run paper-grid paper-grid --set eval.every=1000
run paper-stacked-mnist paper-stacked-mnist
run grid-vae grid-vae
run grid-mixture grid-mixture
wait
for name in paper-ring paper-grid paper-stacked-mnist grid-vae grid-mixture; do
    echo "-- $name: $(grep -E '^(modes|iteration|[0-9]+ iterations)' "$out/$name.log" | tail -n 1)"
done
