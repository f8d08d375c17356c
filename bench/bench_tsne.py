"""Benchmark: 2,000 × 1,024 latents to a 2-D t-SNE map with phazelab.analysis.project.

Compares openTSNE (n_jobs=2 and 1) with scikit-learn (n_jobs=2), each timed end to end (PCA to 50 dims
included), interleaved and repeated because this shared CPU swings 2-10x in speed; reports best and
median, plus two quality checks of each map (computed outside the timing) so a fast map is not a bad one:
trustworthiness (k=10, against the PCA-50 input) and 5-NN identity accuracy in 2-D.

    .venv/bin/python bench/bench_tsne.py --repeats 5 [--write]   # --write updates bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from phazelab.analysis.project import project  # noqa: E402
from phazelab.bench import device_name  # noqa: E402
from phazelab.weights import atomic_write_text  # noqa: E402

SECTION = "## t-SNE projection"
VARIANTS = {  # name -> project() keyword arguments
    "openTSNE n_jobs=2": {"backend": "openTSNE", "n_jobs": 2},
    "openTSNE n_jobs=1": {"backend": "openTSNE", "n_jobs": 1},
    "scikit-learn n_jobs=2": {"backend": "scikit-learn", "n_jobs": 2},
    "openTSNE n_jobs=1, 125+250 iters": {"backend": "openTSNE", "n_jobs": 1, "early_exaggeration_iter": 125,
                                         "n_iter": 250},
}


def synthetic_latents(n: int, dims: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Latents shaped like a block's: 8 identity clusters, 3 continuous pose-like directions, noise."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 8, n)
    centres = rng.normal(size=(8, dims)) * 0.3
    pose = rng.uniform(-1, 1, (n, 3)) @ rng.normal(size=(3, dims))
    return (centres[ids] + pose + rng.normal(size=(n, dims))).astype(np.float32), ids


def machine() -> str:
    import torch

    return device_name(torch.device("cpu"))


def replace_section(path: Path, heading: str, body: str) -> None:
    """Replace the `heading` section of a markdown file (up to the next '## '), or append it; atomic."""
    text = path.read_text() if path.exists() else "# Measured figures\n"
    block = f"{heading}\n\n{body.strip()}\n"
    start = text.find(heading + "\n")
    if start < 0:
        text = text.rstrip() + "\n\n" + block
    else:
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + block + (text[end:] if end >= 0 else "")
    atomic_write_text(path, text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--dims", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--write", action="store_true", help=f"update the '{SECTION}' section of bench/RESULTS.md")
    args = ap.parse_args(argv)
    if args.repeats < 1 or args.n < 10 or args.dims < 2:
        ap.error("--repeats must be >= 1, --n >= 10, --dims >= 2")

    x, ids = synthetic_latents(args.n, args.dims)
    times: dict[str, list[float]] = {v: [] for v in args.variants}
    last = {}
    project(x[:200], "tsne", n_jobs=1)  # warm-up: imports, thread pools
    for r in range(args.repeats):
        order = args.variants[r % len(args.variants):] + args.variants[:r % len(args.variants)]
        for name in order:
            t0 = time.perf_counter()
            p = project(x, "tsne", dims=2, seed=0, **VARIANTS[name])
            times[name].append(time.perf_counter() - t0)
            last[name] = p.coords
            print(f"round {r + 1}: {name:34s} {times[name][-1]:6.2f} s", flush=True)

    z50 = PCA(50, random_state=0).fit_transform(x)
    rows = []
    for name in args.variants:
        trust = trustworthiness(z50, last[name], n_neighbors=10)
        knn = cross_val_score(KNeighborsClassifier(5), last[name], ids, cv=5).mean()
        rows.append(f"| {name} | {min(times[name]):.2f} | {statistics.median(times[name]):.2f} | "
                    f"{trust:.3f} | {knn:.3f} |")
    table = "\n".join(["| variant | best (s) | median (s) | trustworthiness@10 | 5-NN identity acc. |",
                       "|---|---|---|---|---|", *rows])
    cmd = "python bench/bench_tsne.py " + " ".join(argv if argv is not None else sys.argv[1:])
    body = (f"{args.n:,} × {args.dims:,} synthetic latents (8 identity clusters + 3 pose-like directions "
            f"+ noise) → 2-D t-SNE via `phazelab.analysis.project(x, \"tsne\")`, PCA to 50 dims included; "
            f"openTSNE's default schedule (250 early-exaggeration + 500 iterations) unless the variant says "
            f"otherwise, scikit-learn's default (1,000 iterations). Goal: ≤ 3 s. {args.repeats} interleaved "
            f"rounds. Quality (outside the timing): trustworthiness at k = 10 against the PCA-50 input, and "
            f"5-fold 5-NN identity accuracy in the 2-D map.\n\n"
            f"Machine: {machine()}, no GPU; date {dt.date.today().isoformat()}; command: `{cmd.strip()}`\n\n"
            f"{table}\n")
    print("\n" + body)
    if args.write:
        replace_section(ROOT / "bench" / "RESULTS.md", SECTION, body)
        print(f"updated {ROOT / 'bench' / 'RESULTS.md'} ({SECTION})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
