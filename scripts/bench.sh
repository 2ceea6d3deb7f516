#!/usr/bin/env bash
# Runs every benchmark behind benchmarks/RESULTS.md and prints their tables (about 25 minutes on 2 CPU cores).
# DEBD data: ../shared/data/debd (or DEBD_DIR); Fashion-MNIST: `apt-get install dataset-fashion-mnist`, else Keras downloads it.
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
DEBD_DIR="${DEBD_DIR:-../shared/data/debd}"
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
