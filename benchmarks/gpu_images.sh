#!/usr/bin/env bash
# The image presets side by side on one GPU, each for the same training time: paper-stacked-mnist
# (LBT-GAN and its GAN), stacked-mnist, paper-mnist, and cifar10-lbt-gan (LBT-GAN and its GAN) on
# the Stacked-MNIST-32 stand-in (benchmarks/stacked32.py), which is scored by its modes at the end.
#
#   LBT_DATA_DIR=MNIST_DIR bash benchmarks/gpu_images.sh OUT [SECONDS]
#
# SECONDS (default 400) is each run's train.time_limit; evaluations come on top. DEVICE (default
# cuda) and EXTRA (more --set overrides for every run, e.g. smaller evaluations for a dry run on a
# CPU) are read from the environment, PYTHON (default python3) names the interpreter.
set -u
out=${1:?usage: gpu_images.sh OUT [SECONDS]}
secs=${2:-400}
py=${PYTHON:-python3}
dev=${DEVICE:-cuda}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
lbt() { "$py" -c 'import sys; from lbt.cli import main; sys.exit(main())' "$@"; }

"$py" "$here/stacked32.py" write "$out/data" >/dev/null || exit 1
s32="$out/data/cifar-10-batches-py"
"$py" -c 'import torch; print("device:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
      "| torch", torch.__version__)' | tee "$out/device.txt"

run() {  # NAME PRESET [overrides...]: one run in the background, 2 CPU threads
    local name=$1 preset=$2
    shift 2
    # shellcheck disable=SC2086
    OMP_NUM_THREADS=2 lbt train --no-progress --preset "$preset" --seed 0 --out "$out/$name" \
        --set device="$dev" --set train.time_limit="$secs" ${EXTRA:-} "$@" >"$out/$name.log" 2>&1 &
}
run paper-stacked-mnist paper-stacked-mnist
run paper-stacked-mnist-gan paper-stacked-mnist --set train.method=gan
run stacked-mnist stacked-mnist --set eval.every=2000
run paper-mnist paper-mnist --set eval.every=2000
run cifar10-lbt-gan cifar10-lbt-gan --set data.path="$s32"
run cifar10-gan cifar10-lbt-gan --set data.path="$s32" --set train.method=gan
wait

for name in cifar10-lbt-gan cifar10-gan; do
    OMP_NUM_THREADS=4 "$py" "$here/stacked32.py" score "$out/$name" ${SCORE_SAMPLES:+--samples $SCORE_SAMPLES} \
        >"$out/$name.score.log" 2>&1
done
for name in paper-stacked-mnist paper-stacked-mnist-gan stacked-mnist paper-mnist cifar10-lbt-gan cifar10-gan; do
    echo "== $name: $(tail -n 2 "$out/$name.log" | head -n 1)"
done
