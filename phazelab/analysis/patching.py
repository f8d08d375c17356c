"""Activation patching: which block *decides* the identity of the output.

Probes say what a block's activation contains; patching asks what it decides. For the A→B swap of A
frames, one block's activation is replaced by the activation the same block had for a paired B frame (or
any source frames), the rest of the path runs as usual, and the swap judge names the output's identity.
The share of frames whose judged identity changes is that block's causal effect on the output's
identity (Meng et al. 2022 and Vig et al. 2020 use the same intervention on language models). A block
whose activation carries no identity the rest of the path uses flips nothing; one the identity is routed
through flips every frame.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..model.modes import evaluating

__all__ = ["patch_block", "patching_table"]


def _run(model: nn.Module, x: torch.Tensor, to: str) -> torch.Tensor:
    device = next(model.parameters()).device
    return model.swap(x.to(device), to).float().clamp(0, 1).cpu()


def patch_block(model: nn.Module, block: str, x: torch.Tensor, source: torch.Tensor, to: str = "b"
                ) -> torch.Tensor:
    """Side `to`'s output for frames ``x`` (N, 3, H, W) with ``block``'s output replaced by the output
    that block gives for ``source`` (N frames, paired by index). Float (N, 3, S, S) in [0, 1] on the CPU.

    Raises:
        ValueError: a block the model does not have, or x and source of different lengths.
    """
    if block not in model.blocks:
        raise ValueError(f"patch_block: no block {block!r}; the model has {list(model.blocks)}")
    if len(x) != len(source):
        raise ValueError(f"patch_block: x has {len(x)} frames, source {len(source)}: they are paired by index")
    module = model.blocks[block]
    recorded: dict[str, Any] = {}

    def record(_m: nn.Module, _inp: Any, out: Any) -> None:
        recorded["out"] = out

    def replace(_m: nn.Module, _inp: Any, out: Any) -> Any:
        return recorded["out"]

    with evaluating(model):
        handle = module.register_forward_hook(record)
        try:
            _run(model, source, to)
        finally:
            handle.remove()
        if "out" not in recorded:
            raise ValueError(f"patch_block: block {block!r} is not on side {to!r}'s path")
        handle = module.register_forward_hook(replace)
        try:
            return _run(model, x, to)
        finally:
            handle.remove()


def patching_table(model: nn.Module, x: torch.Tensor, source: torch.Tensor, identify: Callable[[torch.Tensor], Any],
                   to: str = "b", blocks: Sequence[str] | None = None, source_identity: int | None = None,
                   progress: str | None = None) -> pd.DataFrame:
    """Per block on side `to`'s path: the share of frames whose judged identity flips when that block's
    activation is patched in from ``source``.

    ``identify`` maps outputs (N, 3, S, S) to N identity ids (e.g. the swap judge's per-frame
    ``result["frames"]["identity"]``). Columns: block, flip (share of frames judged differently from the
    unpatched run), and with ``source_identity`` the share judged as the source's identity before and
    after patching. N frames, so each share has a binomial spread of about sqrt(p(1-p)/N).
    ``progress``: a description to show a progress bar over the blocks under (tqdm), None for none.
    """
    from tqdm.auto import tqdm

    with evaluating(model):
        base = np.asarray(identify(_run(model, x, to)))
    path = model.side_blocks(to) if hasattr(model, "side_blocks") else list(model.blocks)
    rows = []
    chosen = list(blocks) if blocks is not None else list(path)
    for block in tqdm(chosen, desc=progress, unit="block", disable=progress is None):
        patched = np.asarray(identify(patch_block(model, block, x, source, to)))
        row = {"block": block, "flip": float((patched != base).mean()), "n": int(len(base))}
        if source_identity is not None:
            row["as_source_before"] = float((base == source_identity).mean())
            row["as_source_after"] = float((patched == source_identity).mean())
        rows.append(row)
    return pd.DataFrame(rows)
