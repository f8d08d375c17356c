"""Training throughput, FLOPs and MFU (time to a real swap: `phazelab.experiments.swap`).

Shared machines swing 2-10x in speed from minute to minute, so every figure is repeated, the model
and the reference matmul are timed interleaved (each model repeat is followed by a matmul repeat), and
both the best and the median are reported. MFU on CPU is measured against a large matmul in the
training dtype timed in the same run; on GPU against the device's bf16 dense peak from a table.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from .config import PhazeAConfig
from .model import PhazeA, count_params
from .train.losses import CompositeLoss
from .train.trainer import FACESWAP_EXTRA_LOSSES, Trainer, resolve_device, resolve_precision

__all__ = ["GPU_BF16_PEAK_TFLOPS", "bench_training", "count_step_flops", "device_name", "gpu_peak_tflops",
           "matmul_tflops"]

# Dense bf16 tensor-core peaks (TFLOP/s, no sparsity) from the vendors' data sheets. First match wins,
# so the more specific names come first.
GPU_BF16_PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756.0),
    ("GH200", 989.0),
    ("H200", 989.0),
    ("H100", 989.0),  # SXM
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
    ("A10", 125.0),
)


def bench_setup(config: PhazeAConfig | None, size: int | None, device: str | torch.device | None, precision: str,
                **counts: int) -> tuple[PhazeAConfig, torch.device, str]:
    """Check the bench's counts (each ≥ 1, named in the error), apply `size` to the config's output_size
    and resolve device and precision: what every bench entry point starts with."""
    for name, value in counts.items():
        if value < 1:
            raise ValueError(f"{name} must be ≥ 1, got {value}")
    cfg = config if config is not None else PhazeAConfig()
    if size is not None and size != cfg.output_size:
        cfg = cfg.replace(output_size=size)
    dev = resolve_device(device)
    return cfg, dev, resolve_precision(precision, dev)


def device_name(device: torch.device) -> str:
    """"NVIDIA H100 80GB HBM3" or "AMD EPYC (2 cores)": what the figures were measured on."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    from .train.precision import _cpu_model

    return f"{_cpu_model()} ({os.cpu_count()} cores)"


def gpu_peak_tflops(name: str) -> float | None:
    """The bf16 dense peak for a GPU name, or None when it is not in GPU_BF16_PEAK_TFLOPS."""
    for key, peak in GPU_BF16_PEAK_TFLOPS:
        if key.lower() in name.lower():
            return peak
    return None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_tflops(device: torch.device, dtype: torch.dtype, n: int | None = None, reps: int = 3) -> float:
    """Best achieved TFLOP/s of an n×n @ n×n matmul in `dtype` (the practical peak of this device)."""
    n = n or (8192 if device.type == "cuda" else 2048)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    inner = 10 if device.type == "cuda" else 1
    (a @ b).sum().item()  # warm-up (kernel selection, page faults)
    best = float("inf")
    for _ in range(reps):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(inner):
            c = a @ b
        _sync(device)
        best = min(best, (time.perf_counter() - t0) / inner)
        del c
    return 2 * n ** 3 / best / 1e12


def count_step_flops(config: PhazeAConfig, batch: int, *, loss: str = "ssim",
                     extra_losses: dict[str, float] | None = None, frozen_params: Sequence[str] = ()) -> int:
    """FLOPs of one training step's forward + backward (both sides, losses included; not Adam).

    Counted by torch.utils.flop_counter on the meta device, so no arithmetic is done; frozen
    parameters get no weight gradients, as in training.
    """
    extra = dict(FACESWAP_EXTRA_LOSSES if extra_losses is None else extra_losses)
    try:
        return _count(config, batch, loss, extra, frozen_params, torch.device("meta"))
    except (NotImplementedError, RuntimeError):  # an op without a meta kernel: count batch 1 for real
        return batch * _count(config, 1, loss, extra, frozen_params, torch.device("cpu"))


def _count(config: PhazeAConfig, batch: int, loss: str, extra: dict[str, float], frozen: Sequence[str],
           device: torch.device) -> int:
    with torch.device(device):
        model = PhazeA(config)
        loss_fn = CompositeLoss(loss, extra)
    for name, p in model.named_parameters():
        p.requires_grad_(name not in frozen)
    size_in, size_out = model.input_size, model.output_size
    x = torch.rand(batch, 3, size_in, size_in, device=device)
    t = torch.rand(batch, 3, size_out, size_out, device=device)
    with FlopCounterMode(display=False) as counter:
        out_a, out_b = model(x, x)
        total = loss_fn(out_a, t)[0] + loss_fn(out_b, t)[0]
        total.backward()
    return int(counter.get_total_flops())


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def bench_training(config: PhazeAConfig | None = None, *, size: int | None = 64, batch: int = 16,
                   steps: int = 3, repeats: int = 3, warmup: int = 1, precision: str = "auto",
                   device: str | torch.device | None = None, channels_last: bool = True,
                   compile: bool = False, sources: tuple[str, str] = ("synthetic:0", "synthetic:1"),
                   cuda_graph: bool = False,
                   label: str | None = None, matmul_size: int | None = None) -> dict[str, Any]:
    """Time whole training steps (data on the device, augmentation, forward, loss, backward, Adam).

    `size` overrides the config's output_size (None keeps it). Returns the keys of `phazelab bench
    --json` (device, size, batch, img_per_s, step_ms, flops_per_step, achieved_tflops, peak_tflops,
    mfu: best figures) plus medians and context. img_per_s counts both sides' faces. `matmul_size` sets
    the reference matmul (default 2048 on CPU, 8192 on GPU).
    """
    from .data import make_source

    cfg, dev, prec = bench_setup(config, size, device, precision, batch=batch, steps=steps, repeats=repeats)
    model = PhazeA(cfg, seed=0)
    trainer = Trainer(model, make_source(sources[0]), make_source(sources[1]), batch_size=batch, device=dev,
                      precision=prec, channels_last=channels_last, compile=compile,
                      metrics_every=10 ** 9, cuda_graph=cuda_graph)
    flops = count_step_flops(cfg, batch)
    mm_dtype = torch.bfloat16 if prec in ("bf16", "fp16") else torch.float32
    table_peak = gpu_peak_tflops(device_name(dev)) if dev.type == "cuda" else None

    if cuda_graph:
        warmup = max(warmup, trainer._graph.warmup + 1)  # eager warm-up steps + the capture, untimed
    if warmup:
        trainer.run(warmup)
    step_s, peaks = [], []
    for _ in range(repeats):
        _sync(dev)
        t0 = time.perf_counter()
        trainer.run(steps)  # ends with one metrics read: a sync
        step_s.append((time.perf_counter() - t0) / steps)
        if table_peak is None:
            peaks.append(matmul_tflops(dev, mm_dtype, matmul_size))
    data_s = []
    for _ in range(max(2, repeats)):
        _sync(dev)
        t0 = time.perf_counter()
        trainer.sample_batches()
        _sync(dev)
        data_s.append(time.perf_counter() - t0)

    achieved = [flops / s / 1e12 for s in step_s]
    if table_peak is not None:
        peaks = [table_peak] * repeats
        peak_source = f"bf16 dense peak of {device_name(dev)} (data sheet)"
    elif dev.type == "cuda":
        peak_source = f"measured {mm_dtype} matmul (GPU not in the peak table)"
    else:
        n = matmul_size or 2048
        peak_source = f"measured {str(mm_dtype).removeprefix('torch.')} {n}x{n} matmul, interleaved"
    best_s = min(step_s)
    return {
        "device": device_name(dev), "size": cfg.output_size, "batch": batch,
        "img_per_s": 2 * batch / best_s, "step_ms": best_s * 1e3, "flops_per_step": flops,
        "achieved_tflops": max(achieved), "peak_tflops": max(peaks), "mfu": max(achieved) / max(peaks),
        "img_per_s_median": 2 * batch / _median(step_s), "step_ms_median": _median(step_s) * 1e3,
        "achieved_tflops_median": _median(achieved), "peak_tflops_median": _median(peaks),
        "mfu_median": _median([a / p for a, p in zip(achieved, peaks, strict=True)]),
        "data_ms": min(data_s) * 1e3, "data_ms_median": _median(data_s) * 1e3,
        "model_ms": max(0.0, best_s * 1e3 - min(data_s) * 1e3),  # the step without its data part
        "precision": prec, "preset": label, "params": count_params(model), "input_size": model.input_size,
        "steps": steps, "repeats": repeats, "peak_source": peak_source, "channels_last": channels_last,
        "compile": compile, "cuda_graph": cuda_graph, "torch": torch.__version__,
    }


def profile_step(config: PhazeAConfig, *, batch: int, precision: str = "auto", device: str | None = None,
                 steps: int = 2, rows: int = 15) -> str:
    """A torch.profiler table of where a training step's time goes (top ops by self time)."""
    from torch.profiler import ProfilerActivity, profile

    from .data import make_source

    dev = resolve_device(device)
    trainer = Trainer(PhazeA(config, seed=0), make_source("synthetic:0"), make_source("synthetic:1"), batch_size=batch,
                      device=dev, precision=precision, metrics_every=10 ** 9)
    trainer.run(1)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    with profile(activities=activities) as prof:
        trainer.run(steps)
    key = "self_cuda_time_total" if dev.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows)
