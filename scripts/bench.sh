#!/usr/bin/env bash
# Runs every benchmark behind benchmarks/RESULTS.md and prints their tables (about 25 minutes on 2 CPU cores).
# DEBD data: ../shared/data/debd (or DEBD_DIR); Fashion-MNIST: `apt-get install dataset-fashion-mnist`, else Keras downloads it.
#
#   bash scripts/bench.sh                   # the CPU set (installs the package with pip first)
#   bash scripts/bench.sh --gpu             # the GPU set in one run (a few minutes); table in $BENCH_OUT (or $OUT, or .)
#   bash scripts/bench.sh --gpu --dry-run   # the GPU set at tiny sizes, on CPU: checks the script (under a minute idle)
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
DEBD_DIR="${DEBD_DIR:-../shared/data/debd}"

gpu="" dry_run=""
for arg in "$@"; do
  case "$arg" in
    --gpu) gpu=1 ;;
    --dry-run) dry_run=1 ;;
    *) echo "bench.sh: unknown argument $arg (use --gpu, --gpu --dry-run, or nothing)" >&2; exit 2 ;;
  esac
done
if [[ -n "$dry_run" && -z "$gpu" ]]; then
  echo "bench.sh: --dry-run goes with --gpu" >&2
  exit 2
fi

if [[ -n "$gpu" ]]; then
  # This checkout, without installing it: a GPU machine brings its own TensorFlow.
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
  out_dir="${BENCH_OUT:-${OUT:-.}}"
  mkdir -p "$out_dir"
  python3 -c "import tensorflow as tf; print('GPUs:', tf.config.list_physical_devices('GPU') or 'none')"
  if [[ -n "$dry_run" ]]; then
    exec python3 benchmarks/bench_gpu.py --dry-run --output "$out_dir/bench_gpu_dry_run.md"
  fi
  exec timeout 480 python3 benchmarks/bench_gpu.py --data "$DEBD_DIR" --output "$out_dir/bench_gpu.md"
fi

python3 -m pip install -q -e ".[examples]"

run() {
  echo
  echo "\$ python3 $*"
  python3 "$@"
}

run benchmarks/bench_sum_layers.py
for jit in "" "--jit"; do
  run benchmarks/bench_debd_rat_spn.py --data "$DEBD_DIR" --epochs 3 --steps-per-execution 16 $jit
  run benchmarks/bench_debd_rat_spn.py --data "$DEBD_DIR" --epochs 3 --steps-per-execution 16 --optimizer adam --learning-rate 0.05 $jit
done
run benchmarks/bench_debd_rat_spn.py --data "$DEBD_DIR" --epochs 3 --steps-per-execution 8 --jit \
  --depth 5 --repetitions 32 --input-distributions 32 --sums 32
run benchmarks/bench_debd_rat_spn.py --data "$DEBD_DIR" --epochs 0 --depth 5 --repetitions 32 --input-distributions 32 --sums 32
for jit in "" "--jit"; do
  run benchmarks/bench_dgc_fashion_mnist.py --optimizer adam --epochs 1 $jit
  run benchmarks/bench_dgc_fashion_mnist.py --optimizer em --epochs 1 $jit
done
run benchmarks/bench_dgc_fashion_mnist.py --optimizer adam --epochs 5 --jit
for jit in "" "--jit"; do
  run benchmarks/bench_memory.py --model rat --batch-sizes 50 100 200 400 $jit
  run benchmarks/bench_memory.py --model dgc --batch-sizes 16 32 64 128 $jit
done
run benchmarks/bench_vs_original.py --data "$DEBD_DIR" --config both --epochs 3
run benchmarks/bench_seed_vs_original.py --rounds 3 --with-spn
