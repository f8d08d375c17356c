"""Where does identity live? Train a default-topology and a split_decoders Phaze-A on two synthetic
identities, then measure every block on fresh frames: identity probe / kNN / silhouette (with chance),
pose and expression R², and the swap against ground truth.

    .venv/bin/python scripts/identity_table.py --steps 500            # writes bench/identity_table.md
    .venv/bin/python scripts/identity_table.py --steps 20 --n 10 --out /tmp/t.md   # a quick smoke run

Both models start from the same seed and see the same batches (same trainer seed), so differences come
from the topology. The numbers are printed and written as markdown with machine, date and command; this
script types in no conclusions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from phazelab import PhazeA, Trainer, lab  # noqa: E402
from phazelab.analysis.metrics import FACTOR_COLUMNS, HELD_OUT_SEED, block_table, swap_scores  # noqa: E402
from phazelab.bench import device_name  # noqa: E402
from phazelab.data import FaceWorld  # noqa: E402
from phazelab.markdown import replace_marked  # noqa: E402
from phazelab.markdown import table as markdown  # noqa: E402
from phazelab.weights import atomic_write_text, load_model, read_meta, save  # noqa: E402

TOPOLOGIES: dict[str, dict[str, Any]] = {
    "default": {},  # split fc (fc_a / fc_b), shared G-Block, shared decoder
    "split_decoders": {"split_fc": False, "split_decoders": True},  # shared fc_both, decoder_a / decoder_b
}


def machine() -> str:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return f"{device_name(device)}, torch {torch.__version__}, {torch.get_num_threads()} torch thread(s)"


def train(name: str, args: argparse.Namespace, world: FaceWorld) -> tuple[PhazeA, Trainer, float]:
    model = lab.build(args.preset, seed=args.seed, **TOPOLOGIES[name])
    every = max(1, min(25, args.steps))

    def report(rec: dict[str, Any]) -> None:
        if rec["step"] % every == 0:
            print(f"  [{name}] step {rec['step']}: loss_a {rec['loss_a']:.4f} loss_b {rec['loss_b']:.4f} "
                  f"({rec['img_per_s']:.1f} img/s)", flush=True)

    t0 = time.perf_counter()
    trainer = lab.train_pair(model, world, args.a, args.b, args.steps, batch=args.batch_size, seed=args.seed,
                             device=args.device, lr=args.lr, metrics_every=every, on_metrics=report)
    return trainer.model, trainer, time.perf_counter() - t0


def measure(model: PhazeA, world: FaceWorld, args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame]:
    table = block_table(model, world, args.identities, n=args.n, side="a", cv=args.cv, progress=False)
    swaps = []
    for src, dst, to in ((args.a, args.b, "b"), (args.b, args.a, "a")):
        s = swap_scores(model, world, src, dst, n=args.n, to=to)
        swaps.append({"frames": f"id {src} → side {to.upper()} (GT: id {dst})", "ssim": s["ssim"],
                      "mae": s["mae"], "attribution": s["attribution"], "b_weight": s["b_weight"]})
    for ident, side in ((args.a, "a"), (args.b, "b")):
        s = swap_scores(model, world, ident, ident, n=args.n, to=side)
        swaps.append({"frames": f"id {ident} → side {side.upper()} (reconstruction)", "ssim": s["ssim"],
                      "mae": s["mae"], "attribution": float("nan"), "b_weight": float("nan")})
    return table, pd.DataFrame(swaps)


def block_columns(table: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({
        "block": table["block"],
        "dims (reduction)": [f"{d} ({r})" for d, r in zip(table["dims"], table["reduction"], strict=True)],
        "probe acc": table["probe_acc"], "kNN acc": table["knn_acc"], "silhouette": table["silhouette"],
        "silhouette (shuffled)": table["silhouette_chance"],
    })
    for col in FACTOR_COLUMNS:
        out[f"R² {col}"] = table[f"r2_{col}"]
    return out


def readme_section(summary: list[tuple[str, pd.DataFrame, pd.DataFrame]], args: argparse.Namespace,
                   cmd: str) -> str:
    """One table: per topology and block, identity probe accuracy and pose R², plus each model's swap."""
    rows = []
    for name, table, _ in summary:
        for _, r in table.iterrows():
            rows.append({"topology": name, "block": r["block"], "probe acc": r["probe_acc"], "kNN acc": r["knn_acc"],
                         "silhouette": r["silhouette"], "R² yaw": r["r2_yaw"], "R² smile": r["r2_smile"]})
    swap_rows = [{"topology": name, "frames": s["frames"], "SSIM vs ground truth": s["ssim"],
                  "attribution": s["attribution"]} for name, _, swaps in summary for _, s in swaps.iterrows()]
    out = args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out
    return (f"Command: `{cmd.strip()}` · {machine()} · {dt.date.today().isoformat()} · full tables with "
            f"every factor: [{out}]({out}). Chance: probe and kNN accuracy {1 / len(args.identities):.3f} "
            f"({len(args.identities)} identities), R² 0.\n\n{markdown(pd.DataFrame(rows))}\n\n"
            f"{markdown(pd.DataFrame(swap_rows))}\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Per-block identity table for default and split_decoders Phaze-A")
    ap.add_argument("--preset", default="lab-small", help="phazelab preset (default lab-small)")
    ap.add_argument("--steps", type=int, default=500, help="training steps per model")
    ap.add_argument("--batch-size", type=int, default=16, help="faces per side per step")
    ap.add_argument("--a", type=int, default=0, help="world identity trained on side A")
    ap.add_argument("--b", type=int, default=1, help="world identity trained on side B")
    ap.add_argument("--identities", type=int, nargs="+", default=list(range(8)),
                    help="identities probed (frames of each routed through side A's path)")
    ap.add_argument("--n", type=int, default=40, help="held-out frames per identity")
    ap.add_argument("--cv", type=int, default=5, help="cross-validation folds")
    ap.add_argument("--lr", type=float, default=5e-5, help="Adam learning rate (faceswap default 5e-5)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None, help="cpu / cuda (default: cuda when available)")
    ap.add_argument("--topologies", nargs="+", default=list(TOPOLOGIES), choices=list(TOPOLOGIES))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "identity_table.md")
    ap.add_argument("--save-dir", type=Path, default=None, help="also save each trained model here")
    ap.add_argument("--load-dir", type=Path, default=None,
                    help="measure models saved by an earlier --save-dir run instead of training")
    ap.add_argument("--readme", type=Path, default=None,
                    help="also write the summary table into this file (e.g. README.md) between "
                         "<!-- identity-table:begin/end --> markers (appended when missing)")
    args = ap.parse_args(argv)
    if args.steps < 1 or args.n < args.cv or args.cv < 2:
        ap.error("--steps must be >= 1, --cv >= 2 and --n >= --cv")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    world = FaceWorld(seed=0, n_identities=max(8, max(args.identities) + 1, args.a + 1, args.b + 1))
    cmd = "python scripts/identity_table.py " + " ".join(argv if argv is not None else sys.argv[1:])

    sections, summary = [], []
    for name in args.topologies:
        if args.load_dir is not None:
            print(f"[{name}] loading {args.load_dir / name} ...", flush=True)
            model = load_model(args.load_dir / name, device=args.device or "cpu")
            meta = read_meta(args.load_dir / name)
            trained = (f"Loaded from `{args.load_dir / name}`, saved {meta.get('date', '?')} by "
                       f"`{meta.get('command', '?')}`. " + meta.get("trained", ""))
        else:
            print(f"[{name}] training {args.steps} steps ...", flush=True)
            model, trainer, seconds = train(name, args, world)
            last = trainer.history_frame().tail(10).mean(numeric_only=True)
            trained = (f"Trained {args.steps} steps (batch {args.batch_size} per side) in {seconds:.0f} s on "
                       f"{trainer.device} ({trainer.precision}); mean of the last 10 steps: loss_a "
                       f"{last['loss_a']:.4f}, loss_b {last['loss_b']:.4f}.")
            if args.save_dir is not None:
                save(model, args.save_dir / name, meta={"steps": args.steps, "command": cmd, "trained": trained})
        t0 = time.perf_counter()
        table, swaps = measure(model, world, args)
        eval_s = time.perf_counter() - t0
        blocks = block_columns(table)
        print(f"[{name}] {trained} Measured in {eval_s:.0f} s.")
        print(blocks.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(swaps.to_string(index=False, float_format=lambda v: f"{v:.3f}"), flush=True)
        sections.append(f"## {name}: blocks {list(model.blocks)}\n\n{trained} Measured in {eval_s:.0f} s.\n\n"
                        f"{markdown(blocks)}\n\n{markdown(swaps)}\n")
        summary.append((name, table, swaps))

    header = (
        "# Where does identity live? Per-block table\n\n"
        f"Machine: {machine()}; torch {torch.__version__}; date {dt.date.today().isoformat()}.\n"
        f"Command: `{cmd.strip()}`\n\n"
        + (f"Models loaded from `{args.load_dir}`: see each section for how they were trained.\n\n"
           if args.load_dir is not None else
           f"Training: preset `{args.preset}`, world seed 0, side A = identity {args.a}, side B = identity "
           f"{args.b}, {args.steps} steps, batch {args.batch_size} per side, Adam lr {args.lr:g} (faceswap: "
           "5e-5), faceswap's loss (SSIM + MSE) and augmentation, same seed and batches for both models; "
           f"torch threads {torch.get_num_threads()}.\n\n")
        + f"Measured on held-out frames (world seed {HELD_OUT_SEED}): {args.n} frames of each of identities "
        f"{args.identities}, all routed through side A's path. Identity: {args.cv}-fold linear probe "
        f"(logistic regression) and 5-NN accuracy, chance = {1 / len(args.identities):.3f}; silhouette "
        "by identity next to the silhouette of shuffled labels. Pose/expression: cross-validated R² of a "
        "ridge regression (chance 0). Feature maps larger than 4,096 values are average-pooled to the "
        "largest grid that fits (the reduction column says which). Swap rows: SSIM / MAE against the "
        "ground-truth render, attribution = fraction of outputs closer (MSE) to the target identity's "
        "render than to the source's at the same factors, b_weight = blur-matched blend weight towards "
        "the target (0 = source identity, 1 = target).\n")
    atomic_write_text(args.out, header + "\n" + "\n".join(sections))
    print(f"wrote {args.out}")
    if args.readme is not None:
        replace_marked(args.readme, "identity-table", readme_section(summary, args, cmd))
        print(f"updated the identity-table section of {args.readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
