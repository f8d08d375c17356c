"""Per-block latents: run the model once with forward hooks and keep every block's output as (N, D).

The lab asks *where* identity lives, so every block on one side's path is measured on the same frames.
Feature maps are kept whole when small and average-pooled when big, and `Latents.info` says which, so a
low score can be told apart from a pooling artefact.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

Pool = Literal["auto", "flatten", "gap"]
_STAGE_KEY = re.compile(r"^(?P<block>decoder_(?:a|b|both))\.stage(?P<index>\d+)$")


@dataclass(frozen=True)
class LatentInfo:
    """How one block's output became a row vector."""

    shape: tuple[int, ...]  # the block's output shape for one face (C,) or (C, H, W)
    reduction: str          # "vector" | "flatten" | "avgpool GxG" | "gap"
    dims: int               # D of the returned (N, D) array


class Latents(dict):
    """dict block key -> float32 (N, D) array, plus `info` (key -> LatentInfo) and the `side` used."""

    def __init__(self, data: dict[str, np.ndarray], info: dict[str, LatentInfo], side: str) -> None:
        super().__init__(data)
        self.info = info
        self.side = side

    def info_frame(self) -> Any:
        """The reductions as a small pandas table (block, shape, reduction, dims)."""
        import pandas as pd

        return pd.DataFrame([{"block": k, "shape": str(list(v.shape)), "reduction": v.reduction,
                              "dims": v.dims} for k, v in self.info.items()])


def available_blocks(model: nn.Module, side: str = "a", stages: bool = True) -> list[str]:
    """Keys `latents` accepts for `side`: the side's blocks in path order, decoder stages before the decoder.

    A decoder stage is named "<decoder>.stage<i>" with i indexing `model.blocks[<decoder>].stages`.
    """
    keys: list[str] = []
    for name in model.side_blocks(side):
        if stages and name.startswith("decoder_"):
            keys += [f"{name}.stage{i}" for i in range(len(model.blocks[name].stages))]
        keys.append(name)
    return keys


def reduce_features(t: torch.Tensor, pool: Pool = "auto", max_dims: int = 4096) -> tuple[torch.Tensor, str]:
    """(N, ...) block output → (N, D) and a word for what was done.

    "auto": vectors as they are; feature maps flattened when C·H·W ≤ max_dims, else average-pooled to the
    largest G×G grid (G dividing H and W) with C·G² ≤ max_dims; G = 1 is global average pooling. A grid
    keeps the coarse layout (pose) that a global average erases. "gap": always global average pooling.
    "flatten": never pool.
    """
    if pool not in ("auto", "flatten", "gap"):
        raise ValueError(f"latents: pool must be 'auto', 'flatten' or 'gap', got {pool!r}")
    if max_dims < 1:
        raise ValueError(f"latents: max_dims must be >= 1, got {max_dims!r}")
    if t.ndim == 2:
        return t, "vector"
    if t.ndim != 4:
        raise ValueError(f"latents: expected a (N, C) or (N, C, H, W) block output, got {list(t.shape)}")
    n, c, h, w = t.shape
    if pool == "flatten" or (pool == "auto" and c * h * w <= max_dims):
        return t.reshape(n, -1), "flatten"
    grid = 1
    if pool == "auto":  # uniform bins: a divisor of the map size
        side = math.gcd(h, w)
        grid = max(g for g in range(1, side + 1) if side % g == 0 and c * g * g <= max_dims) \
            if c <= max_dims else 1
    pooled = F.adaptive_avg_pool2d(t, grid).reshape(n, -1)
    return pooled, "gap" if grid == 1 else f"avgpool {grid}x{grid}"


def _check_images(images: torch.Tensor | np.ndarray, size: int) -> torch.Tensor:
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"latents: images must be a torch.Tensor or numpy array, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3 or tuple(images.shape[2:]) != (size, size):
        raise ValueError(f"latents: images must be (N, 3, {size}, {size}) (the model's input size), "
                         f"got {list(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"latents: images must be float in [0, 1], got dtype {images.dtype}")
    if images.shape[0] == 0:
        raise ValueError("latents: images is empty (N = 0)")
    return images


def _resolve(model: nn.Module, blocks: Sequence[str] | None, side: str) -> dict[str, nn.Module]:
    """Block key -> module to hook, with a clear error for keys off the side's path."""
    if side not in ("a", "b"):
        raise ValueError(f"latents: side must be 'a' or 'b', got {side!r}")
    if isinstance(blocks, str):
        blocks = [blocks]
    keys = available_blocks(model, side) if blocks is None else list(dict.fromkeys(blocks))
    if not keys:
        raise ValueError("latents: blocks is empty; pass None for every block on the side's path")
    path = model.side_blocks(side)
    modules: dict[str, nn.Module] = {}
    for key in keys:
        m = _STAGE_KEY.match(key)
        name = m["block"] if m else key
        if name not in model.blocks:
            raise ValueError(f"latents: block {key!r} is not in this model; it has {list(model.blocks)} "
                             f"(decoder stages as '<decoder>.stage<i>')")
        if name not in path:
            raise ValueError(f"latents: block {name!r} is not on side {side!r}'s path {path}; "
                             f"pass side={'b' if side == 'a' else 'a'!r} or another block")
        if m:
            stages = model.blocks[name].stages
            if int(m["index"]) >= len(stages):
                raise ValueError(f"latents: {key!r}: {name} has {len(stages)} stages (0..{len(stages) - 1})")
            modules[key] = stages[int(m["index"])]
        else:
            modules[key] = model.blocks[name]
    return modules


class _Captured(Exception):
    """Raised by the last hook a batch needs, so later blocks are not computed."""


def latents(model: nn.Module, images: torch.Tensor | np.ndarray, blocks: Sequence[str] | None = None,
            batch_size: int = 64, pool: Pool = "auto", progress: bool | str = True, *, side: str = "a",
            max_dims: int = 4096) -> Latents:
    """Each block's output for `images` routed through side `side`'s path, as float32 (N, D) arrays.

    blocks: keys from `available_blocks(model, side)` (None = all of them), e.g. "encoder", "fc_a",
    "fc_gblock", "g_block_both", "decoder_both.stage1", "decoder_both" (the face; with learn_mask the
    face part). A block used twice on a path (shared_fc="half") gives its first call. Runs in eval mode
    under no_grad on the model's device, in batches; the model's training mode is restored afterwards.
    Do not call it while a trainer thread is stepping the same model (eval mode would leak into
    training): run it between steps, e.g. `trainer.request(lambda: latents(model, x)).result()`.
    `progress`: a bar (True), none (False), or a bar whose description starts with this text.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"latents: batch_size must be a positive int, got {batch_size!r}")
    modules = _resolve(model, blocks, side)
    images = _check_images(images, model.input_size)
    device = next(model.parameters()).device
    keys = list(modules)
    outputs: dict[str, list[torch.Tensor]] = {k: [] for k in keys}
    info: dict[str, LatentInfo] = {}
    batch_out: dict[str, torch.Tensor] = {}
    owner = threading.get_ident()

    def make_hook(key: str):
        def hook(_module: nn.Module, _inputs: Any, out: Any) -> None:
            if key in batch_out or threading.get_ident() != owner:  # only this call's forward passes
                return
            t = out[0] if isinstance(out, (tuple, list)) else out
            flat, how = reduce_features(t.detach().float(), pool, max_dims)
            batch_out[key] = flat
            info.setdefault(key, LatentInfo(tuple(t.shape[1:]), how, flat.shape[1]))
            if len(batch_out) == len(keys):
                raise _Captured

        return hook

    handles = [modules[k].register_forward_hook(make_hook(k)) for k in keys]
    was_training = model.training
    model.eval()
    n = images.shape[0]
    try:
        with torch.no_grad(), tqdm(total=n, desc=f"{progress} · latents" if isinstance(progress, str) else "latents",
                                   unit="img",
                                   disable=not progress or n <= batch_size) as bar:
            for start in range(0, n, batch_size):
                x = images[start:start + batch_size].to(device, torch.float32, non_blocking=True)
                batch_out.clear()
                try:
                    model.decode(model.encode(x), side)
                except _Captured:
                    pass
                missing = [k for k in keys if k not in batch_out]
                if missing:
                    raise RuntimeError(f"latents: blocks {missing} did not run on side {side!r}'s path")
                for k in keys:
                    outputs[k].append(batch_out[k])
                bar.update(x.shape[0])
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    data = {k: torch.cat(v).cpu().numpy() for k, v in outputs.items()}
    return Latents(data, {k: info[k] for k in keys}, side)
