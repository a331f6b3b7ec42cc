#!/usr/bin/env bash
# On a machine where an NVIDIA GPU answers `nvidia-smi -L`, swap the CPU onnxruntime that
# pyproject.toml pins for onnxruntime-gpu (same `onnxruntime` module). Elsewhere: nothing.
#
#   bash scripts/gpu_runtime.sh PYTHON
#
# The Makefile runs it at the end of both stamps: `pip install -e '.[dev,train]'` puts the CPU
# build back over the GPU one (pip only knows the `onnxruntime` requirement), so the second
# run swaps again. The `cuda` and `cudnn` extras bring the CUDA 13 and cuDNN 9 pip libraries
# that the GPU build needs (recast.pipeline.onnxrt preloads them). If the GPU build cannot be
# installed, the CPU one is put back and one line says so: `make demo` and `make test` still
# work, on CPU.
#
# On GPU machines `pip check` then reports "recast requires onnxruntime, which is not
# installed": onnxruntime-gpu provides the module, and a requirement cannot name either of two
# distributions. ONNX Runtime's own install notes say to keep only one of them installed.
#
# RECAST_ORT_GPU=SPEC installs another GPU build; RECAST_CPU_ONLY=1 skips the swap.
set -u
PY=${1:?usage: gpu_runtime.sh PYTHON}
GPU_SPEC=${RECAST_ORT_GPU:-"onnxruntime-gpu[cuda,cudnn]==1.31.1"}
GPU_VERSION=${GPU_SPEC##*==}

[ -n "${RECAST_CPU_ONLY:-}" ] && exit 0
command -v nvidia-smi >/dev/null 2>&1 || exit 0
nvidia-smi -L 2>/dev/null | grep -q '^GPU ' || exit 0

# the CPU pin, read from pyproject.toml (one source of truth for putting it back)
CPU_SPEC=$("$PY" - <<'EOF'
import tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print(next(d for d in deps if d.replace(" ", "").startswith("onnxruntime=")).replace(" ", ""))
EOF
) || CPU_SPEC=onnxruntime

gpu_ready() {  # the GPU distribution at the wanted version, no CPU one beside it, and its CUDA EP compiled in
  "$PY" - "$GPU_VERSION" <<'EOF' >/dev/null 2>&1
import sys
from importlib import metadata as md

def version(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None

assert version("onnxruntime-gpu") == sys.argv[1] and version("onnxruntime") is None
import onnxruntime

assert "CUDAExecutionProvider" in onnxruntime.get_available_providers()
EOF
}

gpu_ready && exit 0
pip() { "$PY" -m pip "$@"; }
# both builds unpack into site-packages/onnxruntime: remove whatever is there, then lay one
pip uninstall -q -y onnxruntime onnxruntime-gpu >/dev/null 2>&1
if log=$(pip install -q "$GPU_SPEC" 2>&1) && gpu_ready; then
  echo "gpu_runtime: NVIDIA GPU found: ONNX Runtime is $GPU_SPEC (CUDA execution provider)"
  exit 0
fi
why=$(printf '%s\n' "$log" | grep -E 'ERROR|error' | tail -n 1)
pip uninstall -q -y onnxruntime-gpu >/dev/null 2>&1
pip install -q --force-reinstall --no-deps "$CPU_SPEC" >/dev/null 2>&1 || pip install -q "$CPU_SPEC"
echo "gpu_runtime: NVIDIA GPU found but $GPU_SPEC could not be installed${why:+ ($why)}: kept the CPU build $CPU_SPEC, inference runs on CPU"
exit 0
