#!/usr/bin/env bash
# Install torch into the given venv python before the project, so pip never resolves a multi-GB CUDA
# build on a machine without an NVIDIA GPU. With a GPU, install the normal (CUDA) build.
set -euo pipefail
py=${1:?usage: install_torch.sh VENV_PYTHON}
if "$py" -c "import torch" 2>/dev/null; then exit 0; fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "NVIDIA GPU found: installing the CUDA build of torch"
  "$py" -m pip install "torch>=2.4,<2.15"
  exit 0
fi
echo "No NVIDIA GPU: installing the CPU build of torch"
"$py" -m pip install "torch==2.13.0+cpu" 2>/dev/null \
  || "$py" -m pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu 2>/dev/null \
  || "$py" -m pip install "torch>=2.4,<2.15"
