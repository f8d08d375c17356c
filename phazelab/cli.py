"""The `phazelab` command: summary · train · bench · experiment · lab."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from .cliargs import add_model_args, model_config
from .config import ConfigError, PhazeAConfig
from .model.summary import summary_table  # noqa: F401 - the table `phazelab summary` prints

# the one model-option parser lives in cliargs.py (kept under these names for callers of phazelab.cli)
add_config_args, config_from_args = add_model_args, model_config


def format_summary(table: dict) -> str:
    rows = [("block", "params", "trainable", "input shape", "output shape")]
    for name, b in table["blocks"].items():
        rows.append((name, f"{b['params']:,}", f"{b['trainable']:,}", str(b["input_shape"]),
                     str(b["output_shape"])))
    rows.append(("total", f"{table['total_params']:,}", "", "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = []
    for i, r in enumerate(rows):
        lines.append("  ".join(c.rjust(w) if j in (1, 2) else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0 or i == len(rows) - 2:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def options_help() -> str:
    """Every Phaze-A option with its faceswap default, allowed values and help line, grouped as faceswap does."""
    from dataclasses import MISSING, fields

    lines, group = [], None
    for f in fields(PhazeAConfig):
        m = f.metadata
        if m["group"] != group:
            group = m["group"]
            lines.append(f"\n[{group}]")
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        allowed = (f"one of {', '.join(m['choices'])}" if m["choices"] and len(m["choices"]) <= 8 else
                   "see faceswap's list" if m["choices"] else
                   f"{m['lo']:g}..{m['hi']:g}" + (f" step {m['multiple']}" if m["multiple"] else "")
                   if m["lo"] is not None else "True/False" if isinstance(default, bool) else "")
        lines.append(f"  {f.name} = {default!r}   ({allowed})\n      {m['help']}")
    return "\n".join(lines).strip()


def summary_main(args: argparse.Namespace) -> int:
    if args.help_options:
        print(options_help())
        return 0
    table = summary_table(config_from_args(args))
    print(json.dumps(table, indent=2) if args.json else format_summary(table))
    return 0


def lab_main(args: argparse.Namespace) -> int:
    from .lab import work_copies

    root = Path(__file__).resolve().parents[1]
    nb = work_copies() / "01_meet_phaze_a.ipynb"  # the learner's copies: outputs never reach notebooks/
    cmd = [sys.executable, "-m", "jupyter", "lab", "--ip=127.0.0.1", f"--port={args.port}", "--no-browser",
           f"--ServerApp.root_dir={root}"]
    if nb.exists():
        cmd.append(f"--LabApp.default_url=/lab/tree/{nb.relative_to(root)}")
    return subprocess.call(cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="phazelab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("summary", help="per-block parameter and shape table of a Phaze-A config")
    add_config_args(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--help-options", action="store_true",
                   help="list every Phaze-A option with its default, allowed values and what it does")
    p.set_defaults(func=summary_main)

    from .train.cli import register as register_train

    register_train(sub)
    from .bench_cli import register as register_bench

    register_bench(sub)
    try:
        from .experiments.cli import register as register_experiments
    except ImportError:
        pass
    else:
        register_experiments(sub)

    from .faceswap.cli import register as register_faceswap

    register_faceswap(sub)

    p = sub.add_parser("lab", help="open JupyterLab on the notebooks (127.0.0.1, with a token)")
    p.add_argument("--port", type=int, default=8888, help="JupyterLab's port on 127.0.0.1 (default: %(default)s)")
    p.set_defaults(func=lab_main)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"phazelab {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
