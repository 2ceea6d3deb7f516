#!/usr/bin/env bash
# Prepares TensorFlow for a GPU machine whose image has CUDA 13 and PyTorch but no TensorFlow, and that takes
# at most ~60 MiB of files per command: TensorFlow 2.20 (Python 3.12) with the CUDA 12 cuBLAS and runtime it
# links against, plus Keras, TFP and their small dependencies, compressed and split into .gpu/c00, .gpu/c01, ...
#
#   bash scripts/device/bundle.sh      # here, once (about 3 minutes); needs pip access to the package index
#
# Then, on the device machine, one command per chunk carrying `.gpu/cNN` (keep it warm between them):
#   mkdir -p /tmp/parts && mv .gpu/cNN/part.* /tmp/parts/
# and a last one carrying the last chunk, which unpacks everything and runs the GPU set:
#   bash .gpu/cLAST/run.sh
# The figures of benchmarks/RESULTS.md §7 were measured this way (`/.gpu/` must be in .git/info/exclude).
set -euo pipefail
cd "$(dirname "$0")/../.."
work="${BUNDLE_WORK:-/tmp/gpu_bundle}"
debd="${DEBD_DIR:-../shared/data/debd}"
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any)
download() {
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d "$1" "${@:2}"
}
rm -rf "$work" && mkdir -p "$work/stage/nvidia/cublas/lib" "$work/stage/nvidia/cuda_runtime/lib" "$work/wheels"
download "$work" tensorflow==2.20.0 nvidia-cublas-cu12==12.5.3.2 nvidia-cuda-runtime-cu12==12.5.82
download "$work/wheels" keras==3.15.1 namex optree tensorflow-probability==0.25.0 dm-tree decorator gast \
  astunparse google-pasta termcolor tf-keras==2.20.1
python3 - "$work" <<'PY'
import glob, sys, zipfile
work = sys.argv[1]
with zipfile.ZipFile(glob.glob(f"{work}/tensorflow-*.whl")[0]) as wheel:  # headers are not needed to run
    wheel.extractall(f"{work}/stage", [n for n in wheel.namelist() if not n.startswith("tensorflow/include/")])
for pattern, target in [("nvidia_cublas_cu12-*.whl", "cublas"), ("nvidia_cuda_runtime_cu12-*.whl", "cuda_runtime")]:
    with zipfile.ZipFile(glob.glob(f"{work}/{pattern}")[0]) as wheel:
        for name in wheel.namelist():
            if name.split("/")[-1] in ("libcublas.so.12", "libcublasLt.so.12", "libcudart.so.12"):
                with open(f"{work}/stage/nvidia/{target}/lib/{name.split('/')[-1]}", "wb") as out:
                    out.write(wheel.read(name))
PY
(cd "$work/stage" && tar cf - . | zstd -q -12 --long=27 -T0 -o "$work/bundle.tar.zst")
rm -rf .gpu && mkdir -p .gpu
split -b 60M -d -a 2 "$work/bundle.tar.zst" .gpu/part.
for part in .gpu/part.*; do mkdir ".gpu/c${part##*.}" && mv "$part" ".gpu/c${part##*.}/"; done
last=$(ls -d .gpu/c* | tail -1)
mkdir -p "$last/bin" "$last/debd"
cp "$work"/wheels/*.whl "$last/"
cp "$(command -v zstd)" "$last/bin/"  # the device image has no zstd
for lib in $(ldd "$(command -v zstd)" | awk '/=>/ {print $3}' | grep -v -E 'libc\.so|libm\.so|ld-linux'); do
  cp -L "$lib" "$last/bin/"
done
cp -r "$debd/accidents" "$last/debd/" 2>/dev/null || echo "no DEBD accidents at $debd: the bench uses random data"
cp scripts/device/run.sh "$last/"
du -sh .gpu/c*
