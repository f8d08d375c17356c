"""Device and precision choice: which device to train on and whether bf16 autocast pays off there.

The rule for `precision="auto"`:

* CUDA: bf16 autocast when the GPU supports bf16, else fp16 with a grad scaler (as before).
* CPU: bf16 autocast only when a short timed probe shows it is *measurably* faster than fp32 on this CPU
  — the probe's fp32 time divided by its bf16 time (`speedup`) must reach `BF16_MIN_SPEEDUP` (1.15).
  One CPU flag does not decide it: machines here range from AVX2-only (bf16 emulated, ~9× slower) over
  AVX512-BF16 (~1.7× faster) to AMX (~5× faster on matmuls).

The probe (`probe_cpu_bf16`) times a small workload of the kinds a Phaze-A step is made of — a
512×512 @ 512×512 matmul and a 3×3 convolution of a (8, 32, 32, 32) map to 32 channels — in fp32 and under
bf16 autocast, interleaved, best of a few repeats, forward only: well under a second on a fast CPU and
about one second where bf16 is emulated (it stops early once bf16 is clearly slower). Its verdict is
cached in memory and in a small JSON file, `<cache dir>/phazelab/precision.json` (cache dir:
`$PHAZELAB_CACHE_DIR`, else `$XDG_CACHE_HOME`, else `~/.cache`), keyed by the CPU model name and the
torch version, written atomically; an unreadable or malformed cache file is ignored and rewritten. So on
one machine `auto` always resolves the same way (same command + same seed → same weights), and a new
torch build or another CPU measures afresh. Delete the file to re-measure.
"""

from __future__ import annotations

import json
import os
import platform
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["BF16_MIN_SPEEDUP", "Timer", "auto_cpu_precision", "cache_path", "cpu_bf16_verdict", "cpu_has_amx",
           "cpu_key", "probe_cpu_bf16", "resolve_device", "resolve_precision"]

BF16_MIN_SPEEDUP = 1.15  # bf16 must be ≥ 15 % faster than fp32 in the probe to be chosen on a CPU
PRECISIONS = ("auto", "bf16", "fp16", "fp32")

# timer(kind, work) → seconds that work() took; kind is "fp32" or "bf16" (tests inject constructed timings)
Timer = Callable[[str, Callable[[], Any]], float]

_memory: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()


def resolve_device(device: str | torch.device | None) -> torch.device:
    """None → CUDA when available, else CPU; a bare "cuda" becomes the current CUDA device.

    Raises ValueError for a name torch does not know (e.g. "gpu") and when CUDA is asked for and torch
    sees no CUDA device.
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device {device!r} is not a torch device: use cpu, cuda or cuda:N") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' requested but torch sees no CUDA device; use device='cpu'")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
    return device


def cpu_has_amx() -> bool:
    """True when /proc/cpuinfo lists AMX bf16 tiles (informational: `auto` measures instead)."""
    return "amx_bf16" in _cpu_flags()


def _cpuinfo(field: str) -> str | None:
    """The value of the first `field` line of /proc/cpuinfo (None where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _cpu_flags() -> list[str]:
    return (_cpuinfo("flags") or "").split()


def _cpu_model() -> str:
    return _cpuinfo("model name") or platform.processor() or platform.machine() or "unknown CPU"


def cpu_key() -> str:
    """The cache key: "<CPU model name> | torch <version>"."""
    return f"{_cpu_model()} | torch {torch.__version__}"


def cache_path() -> Path:
    """Where the probe's verdicts are kept: <cache dir>/phazelab/precision.json (see the module doc)."""
    root = os.environ.get("PHAZELAB_CACHE_DIR")
    if root:
        return Path(root) / "precision.json"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "phazelab" / "precision.json"


def _wall_timer(kind: str, work: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    work()
    return time.perf_counter() - t0


def probe_cpu_bf16(timer: Timer | None = None, repeats: int = 3, threshold: float = BF16_MIN_SPEEDUP,
                   ) -> dict[str, Any]:
    """Time the probe workload on the CPU in fp32 and under bf16 autocast (interleaved, best of `repeats`).

    Returns {"fp32_s", "bf16_s" (best seconds per workload), "speedup" (fp32_s / bf16_s), "choice"
    ("bf16" when speedup ≥ threshold, else "fp32"), "threshold", "repeats" (run), "key", "flags" (the
    CPU's avx512_bf16 / amx_bf16 flags, for the record)}. `timer(kind, work)` returns the seconds
    `work()` took (default: wall clock); it is called fp32 first, then bf16, once per repeat, after one
    untimed warm-up of each. Stops early when bf16 is over 3× slower after a repeat.
    """
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ValueError(f"probe_cpu_bf16: repeats must be an int ≥ 1, got {repeats!r}")
    timer = timer or _wall_timer
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(512, 512, generator=gen)
    b = torch.randn(512, 512, generator=gen)
    x = torch.randn(8, 32, 32, 32, generator=gen).contiguous(memory_format=torch.channels_last)
    w = torch.randn(32, 32, 3, 3, generator=gen) * 0.05

    def work(dtype: torch.dtype | None) -> Callable[[], Any]:
        def run() -> float:
            ctx = torch.autocast("cpu", dtype=dtype) if dtype is not None else torch.autocast("cpu", enabled=False)
            with torch.no_grad(), ctx:
                y = (a @ b).float().sum() + F.conv2d(x, w, padding=1).float().sum()
            return float(y)
        return run

    fp32, bf16 = work(None), work(torch.bfloat16)
    fp32()
    bf16()  # warm-up: oneDNN primitive creation, page faults
    t32, t16, done = float("inf"), float("inf"), 0
    for _ in range(repeats):
        t32 = min(t32, float(timer("fp32", fp32)))
        t16 = min(t16, float(timer("bf16", bf16)))
        done += 1
        if t16 > 3 * t32:
            break
    if not (t32 > 0 and t16 > 0):
        raise ValueError(f"probe_cpu_bf16: the timer returned non-positive times (fp32 {t32}, bf16 {t16})")
    speedup = t32 / t16
    flags = [f for f in _cpu_flags() if f in ("avx512_bf16", "amx_bf16", "amx_tile", "avx512f")]
    return {"fp32_s": t32, "bf16_s": t16, "speedup": speedup, "choice": "bf16" if speedup >= threshold else "fp32",
            "threshold": threshold, "repeats": done, "key": cpu_key(), "flags": flags,
            "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _valid(entry: Any) -> bool:
    return isinstance(entry, dict) and entry.get("choice") in ("bf16", "fp32") \
        and isinstance(entry.get("speedup"), (int, float))


def cpu_bf16_verdict(timer: Timer | None = None, refresh: bool = False) -> dict[str, Any]:
    """The probe's verdict for this CPU + torch (see probe_cpu_bf16), from the memory or file cache when
    there is one (refresh=True measures again); a fresh measurement is written to the cache file
    atomically. A cache file that cannot be written only costs a re-measurement in the next process."""
    from ..weights import atomic_write_text

    key = cpu_key()
    with _lock:
        if not refresh and key in _memory:
            return dict(_memory[key])
        path = cache_path()
        cached = _read_cache(path)
        entry = cached.get(key)
        if refresh or not _valid(entry):
            entry = probe_cpu_bf16(timer)
            cached = {k: v for k, v in _read_cache(path).items() if _valid(v)}
            cached[key] = entry
            try:
                atomic_write_text(path, json.dumps(cached, indent=1, sort_keys=True) + "\n")
            except OSError:
                pass
        _memory[key] = dict(entry)
        return dict(entry)


def auto_cpu_precision(timer: Timer | None = None) -> str:
    """"bf16" when bf16 autocast measured faster on this CPU (cpu_bf16_verdict), else "fp32"."""
    return str(cpu_bf16_verdict(timer)["choice"])


def resolve_precision(precision: str, device: torch.device) -> str:
    """"auto" → bf16 on CUDA with bf16 (fp16 + grad scaler on older GPUs); on a CPU the measured choice
    (auto_cpu_precision: bf16 only where the probe found it measurably faster than fp32).

    Raises ValueError for an unknown precision, and for fp16 off CUDA.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return auto_cpu_precision() if device.type == "cpu" else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision 'fp16' (with a grad scaler) is for CUDA; on CPU use 'bf16' or 'fp32'")
    return precision
