#!/usr/bin/env bash
# On the device machine (see bundle.sh): unpacks TensorFlow from /tmp/parts and this folder, checks the GPU,
# runs `bash scripts/bench.sh --gpu`, then the tests for TEST_SECONDS (240) on TEST_WORKERS (4) xdist workers;
# logs and the table land in $OUT.
set -u
here=$(cd "$(dirname "$0")" && pwd)
start=$(date +%s)
export PATH="$here/bin:$PATH" LD_LIBRARY_PATH="$here/bin:${LD_LIBRARY_PATH:-}"
mkdir -p /tmp/parts /tmp/site
cp "$here"/part.* /tmp/parts/
if [ ! -d /tmp/site/tensorflow ]; then
  cat /tmp/parts/part.* | zstd -d --long=27 | tar xf - -C /tmp/site || { echo "unpacking failed"; exit 1; }
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$here"/*.whl || exit 1
fi
# TensorFlow 2.20 opens cuFFT 11 and cuSOLVER 11 at start-up and never calls them here: the image's CUDA 13
# versions stand in under the old names. cuBLAS and the runtime are the CUDA 12 ones carried in the bundle.
cuda=/usr/local/cuda/targets/x86_64-linux/lib
mkdir -p /tmp/cudalinks
ln -sf "$cuda/libcufft.so.12" /tmp/cudalinks/libcufft.so.11
ln -sf "$cuda/libcusolver.so.12" /tmp/cudalinks/libcusolver.so.11
export LD_LIBRARY_PATH="/tmp/site/nvidia/cublas/lib:/tmp/site/nvidia/cuda_runtime/lib:/tmp/cudalinks:$cuda:$LD_LIBRARY_PATH"
export PYTHONPATH=/tmp/site XLA_FLAGS="--xla_gpu_cuda_data_dir=/usr/local/cuda" PATH="/usr/local/cuda/bin:$PATH"
python3 -c "import tensorflow as tf; print('TensorFlow', tf.__version__, tf.config.list_physical_devices('GPU'))" \
  2>&1 | tail -1 | tee "$OUT/gpu_check.log"
grep -q "PhysicalDevice" "$OUT/gpu_check.log" || { echo "TensorFlow sees no GPU"; exit 3; }
echo "set up in $(($(date +%s) - start)) s"
set -o pipefail
DEBD_DIR="$here/debd" BENCH_OUT="$OUT" PYTHONUNBUFFERED=1 bash scripts/bench.sh --gpu 2>&1 \
  | grep -v -E '^[IW]0000|cpu_feature_guard|oneDNN|absl::InitializeLog' | tee "$OUT/bench.log"
# Then as much of the test suite as the time left allows, on the GPU: the workers share the card's memory.
echo "tests on the GPU:"
# Every test's result goes to pytest_gpu_all.log as it finishes, so a run cut by the timeout still says what passed.
TF_FORCE_GPU_ALLOW_GROWTH=true timeout "${TEST_SECONDS:-240}" python3 -m pytest -v -n "${TEST_WORKERS:-4}" \
  -p no:cacheprovider -m "not slow" --tb=line --maxfail=30 -rf tests 2>&1 | grep -v -E '^[IW]0000' \
  > "$OUT/pytest_gpu_all.log"
echo "passed $(grep -c ' PASSED ' "$OUT/pytest_gpu_all.log"), failed $(grep -c ' FAILED ' "$OUT/pytest_gpu_all.log")"
grep -E ' FAILED |^FAILED|^E |passed|failed' "$OUT/pytest_gpu_all.log" | tail -80 | tee "$OUT/pytest_gpu.log"
echo "done in $(($(date +%s) - start)) s"
