"""`phazelab train`: argument parsing and console output around the Trainer."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register", "train_main"]


class CliError(Exception):
    """Bad command-line input: printed as `phazelab <cmd>: error: ...`, exit status 2."""


def _block_list(text: str) -> list[str]:
    names = [b for b in text.replace(",", " ").split() if b]
    if not names:
        raise argparse.ArgumentTypeError("expected block names, e.g. encoder,fc_b")
    return names


from ..cliargs import add_model_args as _add_model_args  # noqa: E402 - the one model-option parser


def register(subparsers: Any) -> None:
    """Add the `train` subcommand to an argparse subparsers object (`bench`: phazelab.bench_cli)."""
    t = subparsers.add_parser(
        "train", help="train Phaze-A on two face sources",
        description="Train Phaze-A on side A and side B faces with faceswap's defaults. A SOURCE is a "
                    "synthetic identity (synthetic:3) or a folder of aligned faces. Checkpoints go to "
                    "OUT/checkpoints, the final model to OUT/model, per-step metrics to OUT/metrics.csv.")
    t.add_argument("--a", metavar="SOURCE", help="side A faces (with --resume: default the saved one)")
    t.add_argument("--b", metavar="SOURCE", help="side B faces (with --resume: default the saved one)")
    t.add_argument("--steps", type=int, required=True, help="train until this many steps in total")
    t.add_argument("--out", required=True, help="run folder")
    _add_model_args(t)
    t.add_argument("--batch", type=int, help="faces per side per step (default: faceswap's 16)")
    t.add_argument("--lr", type=float, help="Adam learning rate (default: faceswap's 5e-5)")
    t.add_argument("--lr-schedule", default="constant", choices=("constant", "cosine"),
                   help="after the warm-up: constant (faceswap) or cosine decay to 0.1 x lr at --steps "
                        "(default: %(default)s)")
    t.add_argument("--lr-warmup", type=int, default=0, metavar="N",
                   help="linear learning-rate warm-up steps (default: %(default)s)")
    t.add_argument("--gradient-clipping", default="none",
                   choices=("none", "global_norm", "norm", "value", "autoclip"),
                   help="faceswap's gradient_clipping option (default: %(default)s)")
    t.add_argument("--clipping-value", type=float, default=1.0,
                   help="faceswap's clipping_value (0-10) (default: %(default)s)")
    t.add_argument("--penalized-mask-loss", action="store_true",
                   help="faceswap's penalized_mask_loss: weight the loss by the face mask (synthetic sources)")
    t.add_argument("--load-from", metavar="DIR", help="a saved phazelab model to load blocks from")
    t.add_argument("--load", type=_block_list, metavar="BLOCKS",
                   help="blocks to load with --load-from (default: the config's load_layers)")
    t.add_argument("--freeze", type=_block_list, metavar="BLOCKS", help="blocks to freeze, e.g. encoder")
    t.add_argument("--unfreeze-at", type=int, metavar="K", help="unfreeze the frozen blocks at step K")
    t.add_argument("--resume", action="store_true",
                   help="continue the run in OUT from its last checkpoint; model and training options may be "
                        "repeated only with their saved values")
    t.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    t.add_argument("--precision", choices=("auto", "bf16", "fp16", "fp32"), help="default: auto")
    t.add_argument("--compile", action="store_true", help="torch.compile the model")
    t.add_argument("--cuda-graph", action="store_true",
                   help="capture the training step as CUDA graphs (re-captured when the trainable set changes)")
    t.add_argument("--checkpoint-every", type=int, default=250, metavar="N",
                   help="write a checkpoint every N steps (default: %(default)s, faceswap's save interval); also on "
                        "stop")
    t.add_argument("--metrics-every", type=int, default=1, metavar="N",
                   help="read losses from the device every N steps (default: %(default)s)")
    t.add_argument("--preview-every", type=int, metavar="N", help="write OUT/preview.png every N steps")
    t.add_argument("--tensorboard", action="store_true",
                   help="write TensorBoard logs to OUT/logs/session_N (losses, lr, images/s, previews, events)")
    t.add_argument("--seed", type=int, help="seeds the initial weights, data and noise (default 0): same "
                                            "command, same seed, same weights on CPU")
    t.add_argument("--quiet", action="store_true", help="no progress bars (training, loading a face folder)")
    t.set_defaults(func=train_main)


# -- shared ---------------------------------------------------------------------------------------------
def _config(args: argparse.Namespace):
    from ..cliargs import model_config

    return model_config(args)


def _report_error(cmd: str, exc: BaseException) -> int:
    print(f"phazelab {cmd}: error: {exc}", file=sys.stderr)
    return 2


def _expected_errors() -> tuple[type[BaseException], ...]:
    from ..config import ConfigError
    from ..weights import BlockError, ModelFileError
    from .checkpoint import CheckpointError

    return (CliError, ConfigError, BlockError, ModelFileError, CheckpointError, ValueError, FileNotFoundError)


# -- train ----------------------------------------------------------------------------------------------
def train_main(args: argparse.Namespace) -> int:
    """Run `phazelab train`; returns the exit status (0 ok, 1 training failed, 2 bad input).

    Under `torchrun --nproc_per_node N` every rank trains on its own data stream with DDP; rank 0
    prints, writes checkpoints, the model and the metrics (phazelab.train.distributed).
    """
    from . import distributed

    try:
        args.device = distributed.init_from_env(args.device)
        trainer, bar = _build_trainer(args)
    except _expected_errors() as exc:
        return _report_error("train", exc)
    try:
        return _run_training(args, trainer, bar)
    finally:
        if distributed.world_size() > 1:
            import torch.distributed

            torch.distributed.destroy_process_group()


def _build_trainer(args: argparse.Namespace):
    from tqdm.auto import tqdm

    from .. import weights
    from ..data import make_source
    from ..data.outputs import check_output_folder
    from ..model import PhazeA
    from .checkpoint import find_snapshot, list_snapshots
    from .distributed import is_main
    from .resume import CLI_META_KEY, TRAIN_DEFAULTS, cli_record, resume_conflicts
    from .trainer import Trainer

    quiet = args.quiet or not is_main()  # --quiet, and every torchrun rank but the first: no progress bars
    out = Path(args.out)
    root = out / "checkpoints"
    for value, flag in ((args.steps, "--steps"), (1 if args.batch is None else args.batch, "--batch"),
                        (args.checkpoint_every, "--checkpoint-every"), (args.metrics_every, "--metrics-every")):
        if value < 1:
            raise CliError(f"{flag} must be ≥ 1, got {value}")
    if args.preview_every is not None and args.preview_every < 1:
        raise CliError(f"--preview-every must be ≥ 1, got {args.preview_every}")
    common: dict[str, Any] = {"checkpoint_every": args.checkpoint_every, "metrics_every": args.metrics_every,
                              "preview_every": args.preview_every or (args.checkpoint_every if args.tensorboard
                                                                      else None)}
    if args.resume:
        snap = find_snapshot(root)
        state = json.loads((snap / "trainer.json").read_text())
        clash = resume_conflicts(args, state, _config)
        if clash:
            raise CliError("--resume continues the saved run as it was; these options differ from it: "
                           + "; ".join(clash) + ". Leave them out (or repeat the saved values), or choose "
                           "another --out for a new run")
        saved = state.get("sources", {})
        spec_a, spec_b = args.a or saved.get("a"), args.b or saved.get("b")
        if not spec_a or not spec_b:
            raise CliError("--resume: the checkpoint does not name its sources; pass --a and --b")
        check_output_folder(out, (spec_a, spec_b), "--out")
        trainer = Trainer.from_checkpoint(root, make_source(spec_a, progress=not quiet),
                                          make_source(spec_b, progress=not quiet), device=args.device,
                                          **common)
        if trainer.step >= args.steps:
            print(f"{out}: already at step {trainer.step} ≥ --steps {args.steps}; nothing to train")
    else:
        if not args.a or not args.b:
            raise CliError("--a and --b are required (a SOURCE is synthetic:<id> or a face folder)")
        check_output_folder(out, (args.a, args.b), "--out")  # before anything is written or loaded
        if list_snapshots(root):
            raise CliError(f"{out} already holds a training run; pass --resume to continue it or choose "
                           "another --out")
        if args.unfreeze_at is not None and not args.freeze:
            raise CliError("--unfreeze-at needs --freeze (which blocks to unfreeze)")
        if args.load and not args.load_from:
            raise CliError("--load needs --load-from DIR (the model to load the blocks from)")
        for key, value in TRAIN_DEFAULTS.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
        cfg = _config(args)
        src_a, src_b = make_source(args.a, progress=not quiet), make_source(args.b, progress=not quiet)
        model = PhazeA(cfg, seed=args.seed)  # same command, same seed: same initial weights
        if args.load_from:
            blocks = args.load or list(cfg.load_layers)
            report = weights.load_blocks(model, args.load_from, blocks)
            if not report.loaded:
                raise CliError(f"--load-from {args.load_from}: none of {blocks} could be loaded\n{report}")
            print(f"loaded from {args.load_from}: {', '.join(report.loaded)}")
        trainer = Trainer(model, src_a, src_b, batch_size=args.batch, lr=args.lr, seed=args.seed,
                          lr_schedule=args.lr_schedule, lr_warmup=args.lr_warmup,
                          lr_schedule_steps=args.steps if args.lr_schedule == "cosine" else None,
                          gradient_clipping=args.gradient_clipping, clipping_value=args.clipping_value,
                          penalized_mask_loss=args.penalized_mask_loss, device=args.device,
                          precision=args.precision, compile=args.compile, cuda_graph=args.cuda_graph,
                          checkpoint_dir=root, unfreeze_at=args.unfreeze_at,
                          meta={CLI_META_KEY: cli_record(args)}, **common)
        if args.freeze:
            import warnings

            with warnings.catch_warnings(record=True) as caught:  # absent blocks: a note, not a raw warning
                warnings.simplefilter("always")
                frozen = trainer.freeze(args.freeze).result()
            for w in caught:
                print(f"note: {w.message}", file=sys.stderr)
            print(f"frozen: {', '.join(frozen) or '-'}")
    bar = None if quiet else tqdm(total=args.steps, initial=trainer.step, unit="step", dynamic_ncols=True)
    if bar is not None:
        def progress(record: dict[str, Any]) -> None:
            bar.update(record["step"] - bar.n)
            bar.set_postfix(loss_a=f"{record['loss_a']:.4f}", loss_b=f"{record['loss_b']:.4f}",
                            img_s=f"{record['img_per_s']:.0f}", refresh=False)

        trainer.on_metrics.append(progress)
    if args.preview_every and is_main():  # under torchrun rank 0 writes the preview
        trainer.on_preview.append(lambda step, grid: _write_png(out / "preview.png", grid))
    if args.tensorboard:
        from .tensorboard import TensorBoardLogger, next_session_dir

        trainer.tensorboard = TensorBoardLogger(next_session_dir(out / "logs")).attach(trainer)
        print(f"TensorBoard logs: {trainer.tensorboard.log_dir} (tensorboard --logdir {out / 'logs'})")
    return trainer, bar


def _write_png(path: Path, grid: Any) -> None:
    import io

    from PIL import Image

    from ..weights import atomic_write_bytes

    array = (grid.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def _run_training(args: argparse.Namespace, trainer: Any, bar: Any) -> int:
    from .. import weights
    from .distributed import is_main, world_size

    if not is_main():  # rank ≥ 1 under torchrun: train in step with rank 0, write and print nothing
        trainer.run(max(0, args.steps - trainer.step))
        return 0

    out = Path(args.out)
    remaining = max(0, args.steps - trainer.step)
    ranks = f" × {world_size()} processes" if world_size() > 1 else ""
    plural = "" if remaining == 1 else "s"
    print(f"training {remaining} step{plural} on {trainer.device} ({trainer.precision}), batch {trainer.batch_size} "
          f"per side{ranks}, sources {getattr(trainer.data_a, 'name', '?')} / {getattr(trainer.data_b, 'name', '?')}")
    trainer.start(remaining)
    interrupted = False
    try:
        while trainer.wait(0.5) in ("running", "paused", "stopping"):
            pass
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: stopping at the next step and writing a checkpoint ...", file=sys.stderr)
        trainer.stop()
    finally:
        if bar is not None:
            bar.close()
        if getattr(trainer, "tensorboard", None) is not None:
            trainer.tensorboard.close()
    if trainer.state == "error":
        print(f"phazelab train: training failed: {trainer.error}", file=sys.stderr)
        return 1
    weights.save(trainer.model, out / "model", meta={"step": trainer.step, "sources": {
        "a": getattr(trainer.data_a, "name", None), "b": getattr(trainer.data_b, "name", None)}})
    weights.atomic_write_text(out / "metrics.csv", trainer.history_frame().to_csv(index=False))
    last = trainer.history[-1] if trainer.history else None
    summary = f"; loss_a {last['loss_a']:.4f}, loss_b {last['loss_b']:.4f}" if last else ""
    print(f"step {trainer.step}{summary}. Model: {out / 'model'}; checkpoint: {trainer.last_checkpoint}")
    if interrupted:
        print(f"resume with: phazelab train --out {out} --steps {args.steps} --resume")
        return 130
    return 0
