"""The one parser of the options that pick a model on the command line: --preset / --config / --set /
--topology, shared by `phazelab summary`, `train` and `bench` (the forum study keeps its own --topology
choices, "both" and "config", for its grid of runs)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import TOPOLOGIES, PhazeAConfig, load_config

__all__ = ["add_model_args", "model_config"]


def add_model_args(parser: argparse.ArgumentParser, topology: bool = True,
                   default_model: str = "faceswap's default Phaze-A, 124 M parameters") -> None:
    """Add --preset | --config, --set KEY=VALUE (repeatable) and (unless ``topology=False``, for a
    command with its own --topology) --topology to ``parser``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--preset", help="a faceswap Phaze-A preset or phazelab's lab-slim / lab-tiny / lab-small "
                                        f"(default: {default_model})")
    group.add_argument("--config", help="a Phaze-A config file (.json, or faceswap's train .ini)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one Phaze-A option (repeatable), e.g. --set split_decoders=True")
    if topology:
        parser.add_argument("--topology", dest="model_topology", choices=tuple(TOPOLOGIES),
                            help="a named topology (phazelab.config.TOPOLOGIES) applied after --set")


def model_config(args: argparse.Namespace, default: PhazeAConfig | None = None) -> PhazeAConfig:
    """The PhazeAConfig the options name: the preset, config file or ``default`` (faceswap's default
    Phaze-A), then --set, then --topology. A faceswap .ini import says on stderr what it ignored.

    Raises:
        ConfigError: an unknown preset, option or value (naming it).
    """
    if getattr(args, "config", None):
        cfg = load_config(args.config)
        if str(args.config).lower().endswith(".ini"):  # say what the faceswap .ini import left out
            from .faceswap.options import read_train_ini

            ignored = read_train_ini(Path(args.config).read_text()).ignored
            print(f"{args.config}: imported Phaze-A options and learn_mask; ignored {len(ignored)} option(s) "
                  f"that do not change the model: {', '.join(sorted(ignored))}", file=sys.stderr)
    elif getattr(args, "preset", None):
        cfg = PhazeAConfig.preset(args.preset)
    else:
        cfg = default if default is not None else PhazeAConfig()
    cfg = cfg.with_overrides(getattr(args, "set", []) or [])
    return cfg.with_topology(args.model_topology) if getattr(args, "model_topology", None) else cfg
