"""Face world rendering speed: images/s at 64 and 128 px (batch 256), plus augmentation of a training batch.

Speed on shared CPUs swings 2-10x, so every configuration is repeated, the configurations are
interleaved within each round, and best and median are reported. Prints a markdown table.

    .venv/bin/python bench/bench_render.py [--repeats 7] [--threads 2 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from phazelab.data import AugmentConfig, FaceWorld, augment


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, nargs="+", default=None,
                        help="torch CPU thread counts to compare (default: the current setting only)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    threads = args.threads or [torch.get_num_threads()]
    world = FaceWorld(seed=0, n_identities=8)
    ids = torch.arange(args.batch) % world.n_identities
    factors = [world.sample_factors(args.batch, seed=s) for s in range(args.repeats)]
    aug_faces = world.render(ids[:16], factors[0].index(slice(0, 16)), size=128, device=device)

    no_colour = AugmentConfig(color_lightness=0.0, color_ab=0.0, color_clahe_chance=0.0)
    configs = [(t, f"render {s} px, batch {args.batch}", s, None) for t in threads for s in args.sizes]
    configs += [(t, "augment 16 x 128 px -> 64 in / 128 out, defaults", None, AugmentConfig()) for t in threads]
    configs += [(t, "augment 16 x 128 px -> 64 in / 128 out, no colour", None, no_colour) for t in threads]

    def run(size: int | None, cfg: AugmentConfig | None, r: int) -> int:
        if size:
            world.render(ids, factors[r], size=size, device=device)
            return args.batch
        augment(aug_faces, torch.Generator(device=device).manual_seed(r), 64, 128, cfg)
        return len(aug_faces)

    rates: dict[tuple[int, str], list[float]] = {(t, name): [] for t, name, _, _ in configs}
    for t, _, size, cfg in configs:  # warm-up (allocator, first-call costs)
        torch.set_num_threads(t)
        run(size, cfg, 0)
    for r in range(args.repeats):
        for t, name, size, cfg in configs:
            torch.set_num_threads(t)
            _sync(device)
            start = time.perf_counter()
            count = run(size, cfg, r)
            _sync(device)
            rates[(t, name)].append(count / (time.perf_counter() - start))

    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.processor() or 'cpu'})"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"device: {where}; torch {torch.__version__}; {args.repeats} interleaved rounds; "
          f"load average at the end {load}")
    print()
    print("| what | torch threads | best img/s | median img/s |")
    print("|---|---|---|---|")
    for (t, name), values in rates.items():
        print(f"| {name} | {t if device.type == 'cpu' else '-'} | {max(values):,.0f} | "
              f"{statistics.median(values):,.0f} |")


if __name__ == "__main__":
    main()
