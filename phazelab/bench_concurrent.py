"""`phazelab bench --concurrent K` and `--batch-sweep`: aggregate throughput of K models trained at once,
and images/s over batch sizes.

Same conventions as phazelab.bench: whole training steps (data on the device, augmentation, forward,
losses, backward, Adam), best and median of repeats, data time measured on its own.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

import torch

from .bench import _sync, bench_setup, bench_training, device_name
from .config import PhazeAConfig
from .model import PhazeA
from .train.concurrent import ConcurrentTrainer
from .train.trainer import Trainer

__all__ = ["bench_concurrent", "batch_sweep", "concurrent_counts"]


def concurrent_counts(k: int) -> list[int]:
    """1, 2, 4, … up to k, and k itself: the model counts `bench_concurrent` measures."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"--concurrent must be an integer ≥ 1, got {k!r}")
    counts, n = [], 1
    while n < k:
        counts.append(n)
        n *= 2
    return [*counts, k]


def bench_concurrent(config: PhazeAConfig | None = None, *, k: int = 4, size: int | None = 64, batch: int = 16,
                     steps: int = 3, repeats: int = 3, precision: str = "auto",
                     device: str | torch.device | None = None, label: str | None = None) -> dict[str, Any]:
    """Aggregate training steps/s of K models trained at once (ConcurrentTrainer) for each count in
    concurrent_counts(k), plus one model in the plain Trainer for comparison.

    Returns {"device", "preset", "size", "batch", "precision", "trainer_steps_per_s", "rows": [{"models",
    "agg_steps_per_s" (best: models × steps / seconds), "agg_steps_per_s_median", "step_ms" (one step of
    all models, best), "data_ms" (drawing + augmenting all models' batches, best), "speedup" (agg / the
    plain trainer's steps/s)}], "torch"}.
    """
    from .data import make_source

    cfg, dev, prec = bench_setup(config, size, device, precision, batch=batch, steps=steps, repeats=repeats)

    def timed(run: Any) -> list[float]:
        out = []
        for _ in range(repeats):
            _sync(dev)
            t0 = time.perf_counter()
            run()
            _sync(dev)
            out.append(time.perf_counter() - t0)
        return out

    torch.manual_seed(0)
    trainer = Trainer(PhazeA(cfg), make_source("synthetic:0"), make_source("synthetic:1"), batch_size=batch,
                      device=dev, precision=prec, metrics_every=10 ** 9)
    trainer.run(1)
    plain = timed(lambda: trainer.run(steps))
    trainer_sps = steps / min(plain)

    rows = []
    for n in concurrent_counts(k):
        models = []
        for i in range(n):
            torch.manual_seed(i)
            models.append(PhazeA(cfg))
        srcs = [(make_source(f"synthetic:{2 * i}"), make_source(f"synthetic:{2 * i + 1}")) for i in range(n)]
        cc = ConcurrentTrainer(models, srcs, list(range(n)), batch_size=batch, device=dev, precision=prec)
        cc.run(1)  # warm-up
        times = timed(lambda cc=cc: cc.run(steps))
        data = timed(cc._draw)
        best = min(times)
        rows.append({"models": n, "agg_steps_per_s": n * steps / best,
                     "agg_steps_per_s_median": n * steps / statistics.median(times),
                     "step_ms": best / steps * 1e3, "data_ms": min(data) * 1e3,
                     "speedup": n * steps / best / trainer_sps})
    return {"device": device_name(dev), "preset": label, "size": cfg.output_size, "batch": batch,
            "precision": prec, "steps": steps, "repeats": repeats, "trainer_steps_per_s": trainer_sps,
            "rows": rows, "torch": torch.__version__}


def batch_sweep(config: PhazeAConfig | None, batches: Sequence[int], **options: Any) -> dict[str, Any]:
    """bench_training at each batch size (per side): {"rows": [its result per batch], "best_batch" (highest
    img/s)}. Options are bench_training's."""
    if not batches or any((not isinstance(b, int)) or b < 1 for b in batches):
        raise ValueError(f"--batch-sweep needs batch sizes ≥ 1, got {list(batches)!r}")
    rows = [bench_training(config, batch=b, **options) for b in batches]
    best = max(rows, key=lambda r: r["img_per_s"])
    return {"rows": rows, "best_batch": best["batch"], "best_img_per_s": best["img_per_s"],
            "best_mfu": best["mfu"]}
