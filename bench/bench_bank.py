"""How long a face bank takes to build (render N frames once, uint8 with masks) and to serve a batch.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_bank.py [--n 2048] [--sizes 64 128] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from phazelab.bench import device_name  # noqa: E402
from phazelab.data import FaceWorld  # noqa: E402
from phazelab.data.bank import FaceBank  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    world = FaceWorld(0)
    print(f"{device_name(torch.device('cpu'))}, torch {torch.__version__}, {args.threads} thread(s)")
    for size in args.sizes:
        bank = FaceBank(world, 0, args.n)
        t = time.perf_counter()
        bank.frames(size)
        build = time.perf_counter() - t
        gen = torch.Generator().manual_seed(0)
        t = time.perf_counter()
        for _ in range(100):
            bank.batch(args.batch, gen, size)
        batch_ms = (time.perf_counter() - t) / 100 * 1e3
        print(f"size {size}: build {args.n} frames {build:.2f} s ({args.n / build:.0f} img/s); "
              f"batch of {args.batch}: {batch_ms:.2f} ms")


if __name__ == "__main__":
    main()
