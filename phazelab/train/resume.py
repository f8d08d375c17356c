"""`phazelab train --resume` with options: accept those equal to the saved run's, name those that differ.

People re-run the command that started a run with `--resume` added. Options that match what the run
was started with are fine; an option that would change the run (another model, batch, learning rate,
seed, precision, loaded or frozen blocks, unfreeze step) is refused by name, since a resume continues
the saved run as it was (its model, optimizer and schedule come from the checkpoint).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["CLI_META_KEY", "TRAIN_DEFAULTS", "cli_record", "resume_conflicts"]

# `phazelab train`'s defaults for a new run (faceswap: batch 16, Adam lr 5e-5); None on the parser, so a
# resume can tell an option the user gave from one left out.
TRAIN_DEFAULTS: dict[str, Any] = {"batch": 16, "lr": 5e-5, "seed": 0, "precision": "auto"}
CLI_META_KEY = "cli"  # trainer meta entry: how the run was started (load / freeze options)


def cli_record(args: argparse.Namespace) -> dict[str, Any]:
    """The start options a checkpoint's settings do not hold, for the trainer's meta (JSON-able)."""
    return {"load_from": args.load_from, "load": args.load, "freeze": args.freeze,
            "unfreeze_at": args.unfreeze_at}


def resume_conflicts(args: argparse.Namespace, state: dict[str, Any],
                     config_of: Callable[[argparse.Namespace], Any]) -> list[str]:
    """Each given option that differs from the saved run, as text naming the flag and both values.

    `state` is the checkpoint's trainer.json; `config_of(args)` builds the PhazeAConfig the options ask
    for (only called when --preset, --config or --set was given). Options not given are not compared.
    """
    out: list[str] = []
    if args.preset or args.config or args.set:
        asked, saved = config_of(args).to_dict(), state.get("config", {})
        diff = sorted(k for k in set(asked) | set(saved) if asked.get(k) != saved.get(k))
        if diff:
            flags = " ".join(f for f, v in (("--preset", args.preset), ("--config", args.config),
                                           ("--set", args.set)) if v)
            shown = ", ".join(f"{k}={asked.get(k)!r} (saved {saved.get(k)!r})" for k in diff[:6])
            more = f" and {len(diff) - 6} more" if len(diff) > 6 else ""
            out.append(f"{flags}: model options {shown}{more}")
    settings = state.get("settings", {})
    for flag, attr, key in (("--batch", "batch", "batch_size"), ("--lr", "lr", "lr"),
                            ("--seed", "seed", "seed"), ("--precision", "precision", "precision")):
        value = getattr(args, attr)
        if value is not None and key in settings and value != settings[key]:
            out.append(f"{flag} {value} (saved {settings[key]})")
    sources = state.get("sources", {})
    for flag, side in (("--a", "a"), ("--b", "b")):  # another face source is another run
        value = getattr(args, side, None)
        if value is not None and sources.get(side) is not None and value != sources[side]:
            out.append(f"{flag} {value} (saved {sources[side]})")
    for flag, attr in (("--lr-schedule", "lr_schedule"), ("--lr-warmup", "lr_warmup"),
                       ("--gradient-clipping", "gradient_clipping"), ("--clipping-value", "clipping_value")):
        value = getattr(args, attr, None)
        parser_default = {"lr_schedule": "constant", "lr_warmup": 0, "gradient_clipping": "none",
                          "clipping_value": 1.0}[attr]
        if value is not None and value != parser_default and attr in settings and value != settings[attr]:
            out.append(f"{flag} {value} (saved {settings[attr]})")
    if args.compile and not settings.get("compile", False):
        out.append("--compile (the saved run was not compiled)")
    record = (state.get("meta") or {}).get(CLI_META_KEY)
    for flag, attr in (("--load-from", "load_from"), ("--load", "load"), ("--freeze", "freeze"),
                       ("--unfreeze-at", "unfreeze_at")):
        value = getattr(args, attr)
        if value is None:
            continue
        if record is None:
            out.append(f"{flag} {_text(value)} (this run's checkpoint does not record it)")
        elif _norm(value) != _norm(record.get(attr)):
            out.append(f"{flag} {_text(value)} (saved {_text(record.get(attr))})")
    return out


def _norm(value: Any) -> Any:
    return tuple(value) if isinstance(value, (list, tuple)) else value


def _text(value: Any) -> str:
    if value is None:
        return "none"
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
