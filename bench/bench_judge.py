"""Swap-judge speed: the first call (renders every candidate and the pose grid for the frames) and
repeated calls on new outputs for the same frames (cached renders), as `judge_swap` is used during
training. Wall time and the calling thread's CPU time (`time.thread_time`, which leaves out time spent
waiting for a shared CPU); best and median of the repeats. Prints a markdown table.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_judge.py [--frames 64] [--size 64] [--repeats 7]
    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_judge.py --baselines   # the nulls' judge numbers instead

The frames are the forum study's A→B swap: a2 = add_sibling(0, 0.5, seed=0) of FaceWorld(0) to B = 1,
held-out seed; the "model-like" outputs are B's truth blurred 1.5 px (at 64 px) plus Gaussian noise
of sd 0.03, a new draw each call.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import time
from collections.abc import Callable

import torch

from phazelab.analysis import judge as judge_module
from phazelab.analysis.judge import judge_swap, swap_baselines
from phazelab.analysis.metrics import HELD_OUT_SEED, gaussian_blur
from phazelab.bench import device_name
from phazelab.data import FaceWorld


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], object], device: torch.device) -> tuple[float, float]:
    _sync(device)
    wall, cpu = time.perf_counter(), time.thread_time()
    fn()
    _sync(device)
    return time.perf_counter() - wall, time.thread_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--baselines", action="store_true", help="print swap_baselines' table and exit")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    world = FaceWorld(seed=0)
    a2 = world.add_sibling(0, 0.5, seed=0)
    _, labels = world.sample(a2, args.frames, seed=HELD_OUT_SEED, size=args.size)
    truth = world.swap_target(labels, 1, size=args.size, device=device)
    if args.baselines:
        rows = swap_baselines(world, labels, a2, 1, args.size)
        print(f"A→B = {a2}→1, {args.frames} frames at {args.size} px, {rows['truth']['k']} candidates "
              f"(chance {rows['truth']['chance']:.3f}); {datetime.datetime.now(datetime.UTC):%Y-%m-%d} UTC")
        print()
        keys = ("success", "id_top1", "target_rank", "pose_err_deg", "yaw_err_deg", "pitch_err_deg",
                "masked_ssim", "blur_px")
        print("| output | " + " | ".join(keys) + " |")
        print("|---|" + "---|" * len(keys))
        for name, row in rows.items():
            print(f"| {name} | " + " | ".join(f"{row[k]:.3f}" for k in keys) + " |")
        return

    def model_like(r: int) -> torch.Tensor:
        """A new 'model output' per call: the truth blurred 1.5 px plus noise (all judged as B)."""
        noise = torch.randn(truth.shape, generator=torch.Generator().manual_seed(r)).to(device)
        return (gaussian_blur(truth, 1.5 * args.size / 64) + 0.03 * noise).clamp(0, 1)

    times: dict[str, list[tuple[float, float]]] = {"first call (builds the judge)": [],
                                                    "repeat call, new outputs each time": []}
    for r in range(args.repeats):
        judge_module._JUDGES.clear()  # a cold judge each round
        times["first call (builds the judge)"].append(_timed(lambda: judge_swap(world, truth, labels, 1), device))
        for k in range(3):
            out = model_like(10 * r + k)
            times["repeat call, new outputs each time"].append(
                _timed(lambda out=out: judge_swap(world, out, labels, 1), device))
    result = judge_swap(world, model_like(0), labels, 1)

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"device: {device_name(device)}; torch {torch.__version__}; {torch.get_num_threads()} torch thread(s); "
          f"{args.frames} frames at {args.size} px, {result['k']} candidates; {args.repeats} rounds; "
          f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; load average at the end {load}")
    print(f"check: model-like outputs judged success {result['success']:.2f}, blur {result['blur_px']:.2f} px")
    print()
    print("| call | n | best wall s | median wall s | best CPU s | median CPU s |")
    print("|---|---|---|---|---|---|")
    for name, values in times.items():
        wall, cpu = [v[0] for v in values], [v[1] for v in values]
        print(f"| {name} | {len(values)} | {min(wall):.2f} | {statistics.median(wall):.2f} | "
              f"{min(cpu):.2f} | {statistics.median(cpu):.2f} |")


if __name__ == "__main__":
    main()
