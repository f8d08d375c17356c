"""`phazelab bench`: training speed, FLOPs and MFU, concurrent runs and batch sweeps, time to a real swap."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .cliargs import add_model_args as _add_model_args
from .train.cli import _config, _expected_errors, _report_error

__all__ = ["bench_main", "register"]


def _int_list(text: str) -> list[int]:
    try:
        return [int(b) for b in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 8,16,32, got {text!r}") from None


def register(subparsers: Any) -> None:
    """Add the `bench` subcommand to an argparse subparsers object."""
    from .experiments.swap import RECIPES

    b = subparsers.add_parser(
        "bench", help="measure training speed, FLOPs and MFU",
        description="Time whole training steps (interleaved with a reference matmul on CPU), count FLOPs "
                    "per step (forward + backward) and report best and median images/s and MFU.")
    _add_model_args(b)
    b.add_argument("--size", type=int, default=64, help="output size in px (sets output_size) (default: %(default)s)")
    b.add_argument("--batch", type=int, default=16, help="faces per side per step (default: %(default)s)")
    b.add_argument("--steps", type=int, default=3, help="steps per timed repeat (default: %(default)s)")
    b.add_argument("--repeats", type=int, default=3,
                   help="timed repeats, interleaved with the matmul (default: %(default)s)")
    b.add_argument("--warmup", type=int, default=1, help="untimed steps first (default: %(default)s)")
    b.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp16", "fp32"),
                   help="auto: bf16 on a CUDA GPU that has it (else fp16); on a CPU bf16 only where a timed probe "
                        "shows it faster than fp32 (train/precision.py) (default: %(default)s)")
    b.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    b.add_argument("--compile", action="store_true", help="torch.compile the model")
    b.add_argument("--cuda-graph", action="store_true", help="the training step as CUDA graphs")
    b.add_argument("--no-channels-last", action="store_true",
                   help="keep tensors in the default NCHW layout instead of channels-last")
    b.add_argument("--matmul-size", type=int, metavar="N",
                   help="reference matmul N×N (default 2048 on CPU, 8192 on GPU)")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.add_argument("--profile", action="store_true", help="also print where a step's time goes")
    b.add_argument("--time-to-swap", action="store_true",
                   help="train A+B with the lab's swap recipe until the swap judge's A→B success on held-out "
                        "frames reaches 0.8, per topology (default and split_decoders)")
    b.add_argument("--recipe", default="cpu", choices=tuple(RECIPES),
                   help="swap recipe of phazelab.experiments.swap.RECIPES, for --time-to-swap (default: %(default)s)")
    b.add_argument("--max-steps", type=int, help="step budget (default: the recipe's; --time-to-swap)")
    b.add_argument("--eval-every", type=int, help="judge interval in steps (default: the recipe's; --time-to-swap)")
    b.add_argument("--max-seconds", type=float, help="give up after this much training time (--time-to-swap)")
    b.add_argument("--concurrent", type=int, metavar="K",
                   help="aggregate steps/s of 1, 2, 4, ... K models trained at once (ConcurrentTrainer)")
    b.add_argument("--batch-sweep", type=_int_list, metavar="B,B,...", help="bench each batch size per side")
    b.set_defaults(func=bench_main)


def _swap_summary(result: dict[str, Any]) -> str:
    """Time-to-swap as lines a person reads: per topology, when (or whether) it swapped, beside baselines."""
    lines = [f"time to a real swap on {result['device']} (success = judge names B and |Δyaw|, |Δpitch| < 5°; "
             f"target {result['target']})"]
    for topology, run in result["runs"].items():
        f = run["final"]
        when = (f"reached at step {run['steps_to_success']} after {run['seconds_to_success']:.0f} s of training"
                if run["reached"] else f"not reached in {run['steps']} steps ({run['train_seconds']:.0f} s)")
        lines.append(f"  {topology}: {when}; final success A→B {f['success_ab']:.2f}, B→A {f['success_ba']:.2f}, "
                     f"id top-1 {f['id_top1_ab']:.2f} (chance {f['chance']:.2f}), pose error {f['pose_err_ab']:.1f}°, "
                     f"recon SSIM (face) A {f['recon_ssim_a']:.3f} B {f['recon_ssim_b']:.3f}")
        base = run["baselines"]["a_to_b"]
        lines.append("    baselines A→B success: " + ", ".join(f"{k} {v['success']:.2f}" for k, v in base.items()))
    return "\n".join(lines)


def bench_main(args: argparse.Namespace) -> int:
    """Run `phazelab bench`; prints a table or (--json) one JSON object."""
    from . import bench

    try:
        cfg = _config(args)
        label = args.preset or (Path(args.config).name if args.config else "faceswap-default")
        if args.time_to_swap:
            from .experiments.swap import time_to_swap

            if args.concurrent is not None or args.batch_sweep:
                raise ValueError("--time-to-swap trains one model per topology: it does not combine with "
                                 "--concurrent or --batch-sweep (run those separately)")

            topologies = (args.model_topology,) if args.model_topology else ("split_decoders", "default")
            result = time_to_swap(args.recipe, topologies,
                                  device=args.device, max_steps=args.max_steps, max_seconds=args.max_seconds,
                                  eval_every=args.eval_every, progress=not args.json)
            if not args.json:
                print(_swap_summary(result))
                return 0
        elif args.concurrent is not None or args.batch_sweep:
            from . import bench_concurrent as bc

            if args.concurrent is not None:
                result = bc.bench_concurrent(cfg, k=args.concurrent, size=args.size, batch=args.batch,
                                             steps=args.steps, repeats=args.repeats, precision=args.precision,
                                             device=args.device, label=label)
            else:
                result = bc.batch_sweep(cfg, args.batch_sweep, size=args.size, steps=args.steps,
                                        repeats=args.repeats, warmup=args.warmup, precision=args.precision,
                                        device=args.device, channels_last=not args.no_channels_last,
                                        compile=args.compile, label=label, matmul_size=args.matmul_size,
                                        cuda_graph=args.cuda_graph)
        else:
            result = bench.bench_training(cfg, size=args.size, batch=args.batch, steps=args.steps,
                                          repeats=args.repeats, warmup=args.warmup, precision=args.precision,
                                          device=args.device, channels_last=not args.no_channels_last,
                                          compile=args.compile, label=label, matmul_size=args.matmul_size,
                                          cuda_graph=args.cuda_graph)
    except _expected_errors() as exc:
        return _report_error("bench", exc)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            if key == "rows":
                for row in value:
                    print("  " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                           for k, v in row.items() if not isinstance(v, (dict, list))))
                continue
            print(f"{key:>24}: {value:.4g}" if isinstance(value, float) else f"{key:>24}: {value}")
    if args.profile and not args.time_to_swap:
        cfg_p = cfg.replace(output_size=args.size) if args.size != cfg.output_size else cfg
        print(bench.profile_step(cfg_p, batch=args.batch, precision=args.precision, device=args.device),
              file=sys.stderr if args.json else sys.stdout)
    return 0
