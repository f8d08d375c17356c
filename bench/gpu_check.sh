#!/usr/bin/env bash
# The prepared GPU check (issue 15): on a machine with a CUDA GPU, run the GPU-marked tests, the bench at
# 64 and 128 px, a batch-size sweep, the concurrent bench and time-to-swap, within a budget of 8 minutes,
# and write everything to ONE log: $OUT/gpu_check.log when $OUT is set, else bench/gpu_check.log.
#
#   bash bench/gpu_check.sh            # from the repository root
#   PYTHON=/path/to/python BUDGET_S=300 bash bench/gpu_check.sh
#
# Each section runs under `timeout` and is skipped when the budget left is smaller than its limit, so
# the script always ends in time and the log says what ran, what was skipped and why. A failing section
# does not stop the others. Nothing here needs the network: torch with CUDA and phazelab's dependencies
# (pyproject.toml) must already be importable by $PYTHON (the "dependencies" section names any missing).
set -u

PY=${PYTHON:-python3}
BUDGET_S=${BUDGET_S:-470}               # 8 minutes less a margin for start-up and copying the log back
LOG_DIR=${OUT:-bench}
mkdir -p "$LOG_DIR"
LOG="$LOG_DIR/gpu_check.log"
START=$(date +%s)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

log() { echo "$*" | tee -a "$LOG"; }
left() { echo $(( BUDGET_S - ($(date +%s) - START) )); }

# section NAME LIMIT_S COMMAND...: run COMMAND under timeout, its output into the log
section() {
  local name=$1 limit=$2; shift 2
  local remaining; remaining=$(left)
  log ""
  log "=== $name (limit ${limit}s, budget left ${remaining}s) ==="
  log "\$ $*"
  if (( remaining < limit )); then
    log "SKIPPED: not enough budget left"
    return 0
  fi
  local t0; t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" >>"$LOG" 2>&1
  local rc=$?
  log "--- $name: exit $rc after $(( $(date +%s) - t0 ))s$([ $rc -eq 124 ] && echo ' (TIMED OUT)')"
}

: >"$LOG"
log "phazelab gpu_check  $(date -u +%Y-%m-%dT%H:%M:%SZ)  commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
section "environment" 60 bash -c "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; \
  $PY -c 'import torch; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, \
\"available\", torch.cuda.is_available()); print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else \"NO CUDA\")'"

# the modules the bench and the GPU tests import (pyproject.toml's dependencies); a missing one is named
section "dependencies" 60 $PY -c '
import importlib.util, sys
mods = ["torch", "numpy", "safetensors", "tqdm", "pytorch_msssim", "PIL", "sklearn", "pandas", "pytest"]
missing = [m for m in mods if importlib.util.find_spec(m) is None]
print("missing:", missing or "none")
sys.exit(1 if missing else 0)'

if ! $PY -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>>"$LOG"; then
  if [ "${GPU_CHECK_ALLOW_CPU:-0}" != 1 ]; then   # =1: exercise the script itself on a CPU
    log "torch sees no CUDA device: nothing else to check"
    exit 1
  fi
  log "no CUDA device: running on the CPU because GPU_CHECK_ALLOW_CPU=1 (a check of this script only)"
fi

section "GPU tests (pytest -m gpu)" 90 $PY -m pytest -q -m gpu -p no:cacheprovider --continue-on-collection-errors tests
section "bench faceswap default 64 px, batch 16" 60 \
  $PY -m phazelab bench --size 64 --batch 16 --steps 5 --repeats 3 --json
section "bench faceswap default 128 px, batch 16" 60 \
  $PY -m phazelab bench --size 128 --batch 16 --steps 5 --repeats 3 --json
section "bench faceswap default 128 px, batch 16, CUDA graph" 60 \
  $PY -m phazelab bench --size 128 --batch 16 --steps 5 --repeats 3 --warmup 4 --cuda-graph --json
section "bench lab-small 64 px, batch 16, CUDA graph" 40 \
  $PY -m phazelab bench --preset lab-small --size 64 --batch 16 --steps 10 --repeats 3 --warmup 4 --cuda-graph --json
section "batch sweep, faceswap default 128 px" 90 \
  $PY -m phazelab bench --size 128 --batch-sweep 8,16,32,64 --steps 3 --repeats 2 --warmup 4 --cuda-graph --json
section "concurrent lab-small, K up to 8" 70 \
  $PY -m phazelab bench --preset lab-small --size 64 --batch 16 --steps 5 --repeats 2 --concurrent 8 --json
if $PY -m phazelab bench --help 2>/dev/null | grep -q -- "--time-to-swap"; then
  section "time to swap (faceswap default, 128 px)" 75 \
    $PY -m phazelab bench --time-to-swap --batch 16 --max-seconds 60 --eval-every 50 --json
else
  log ""
  log "=== time to swap: SKIPPED (this checkout's phazelab bench has no --time-to-swap) ==="
fi
log ""
log "done in $(( $(date +%s) - START ))s; log: $LOG"
