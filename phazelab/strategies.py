"""The transfer strategies from the faceswap forum: which blocks of an a1+b1 model to load into a new model.

One definition, read from the model's own blocks (`model.blocks`, `side_blocks`), shared by the forum
study, the BlockPanel widget and the CLI, so a strategy means the same blocks everywhere.
"""

from __future__ import annotations

from .model import PhazeA

STRATEGIES = ("scratch", "encoder", "encoder+fc_b", "encoder+fc_b+gblock", "all_but_a", "all")
STRATEGY_HELP = {
    "scratch": "nothing loaded",
    "encoder": "load the encoder",
    "encoder+fc_b": "load the encoder and fc_b",
    "encoder+fc_b+gblock": "load the encoder, fc_b and the shared G-Block (the G-Block blocks on both paths)",
    "all_but_a": "load every block except side A's private ones (side_blocks('a') − side_blocks('b'))",
    "all": "load every block, side A's included (fc_a / decoder_a): the positive control, where a1 must "
           "leak if the leakage measure can see a leak",
}


class StrategyError(ValueError):
    """An unknown strategy name."""


def shared_gblock(model: PhazeA) -> list[str]:
    """G-Block blocks (the style fc and the G-Block itself) that lie on both sides' paths."""
    on_b = set(model.side_blocks("b"))
    return [b for b in model.side_blocks("a") if b in on_b and (b == "fc_gblock" or b.startswith("g_block"))]


def strategy_blocks(model: PhazeA, strategy: str) -> tuple[list[str], list[str]]:
    """(blocks the strategy loads, in model order; what it asks for that this topology lacks)."""
    if strategy not in STRATEGIES:
        raise StrategyError(f"unknown strategy {strategy!r}; choose from {list(STRATEGIES)}")
    if strategy == "scratch":
        return [], []
    if strategy == "all":
        return list(model.blocks), []
    if strategy == "all_but_a":
        private_a = set(model.side_blocks("a")) - set(model.side_blocks("b"))
        return [b for b in model.blocks if b not in private_a], []
    wanted, absent = {"encoder"}, []
    if strategy in ("encoder+fc_b", "encoder+fc_b+gblock"):
        if "fc_b" in model.blocks:
            wanted.add("fc_b")
        else:
            absent.append("fc_b")
    if strategy == "encoder+fc_b+gblock":
        gblock = shared_gblock(model)
        if gblock:
            wanted.update(gblock)
        else:
            absent.append("shared G-Block")
    return [b for b in model.blocks if b in wanted], absent
