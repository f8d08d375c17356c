"""Per-block table: parameters, trainable parameters, input and output shapes (channels first)."""

from __future__ import annotations

import warnings
from typing import Any

import torch

from ..config import PhazeAConfig
from .layers import count_params
from .phaze_a import PhazeA


def _shape(t: Any) -> list:
    if isinstance(t, torch.Tensor):
        return list(t.shape[1:])
    if isinstance(t, (tuple, list)):
        shapes = [_shape(x) for x in t]
        return shapes[0] if len(shapes) == 1 else shapes
    return []


def block_summary(model: PhazeA) -> dict[str, dict[str, Any]]:
    """Run one batch-1 forward with hooks and report each block (shapes without the batch axis)."""
    shapes: dict[str, tuple[list, list]] = {}
    hooks = []
    for name, block in model.blocks.items():
        def hook(_m, inputs, output, name=name):
            shapes.setdefault(name, (_shape(inputs), _shape(output)))
        hooks.append(block.register_forward_hook(hook))
    param = next(model.parameters())
    x = torch.zeros(1, 3, model.input_size, model.input_size, device=param.device)
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x, x)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    table = {}
    for name, block in model.blocks.items():
        inp, out = shapes[name]
        table[name] = {
            "params": count_params(block),
            "trainable": sum(p.numel() for p in block.parameters() if p.requires_grad),
            "input_shape": inp,
            "output_shape": out,
        }
    return table


def meta_model(config: PhazeAConfig) -> PhazeA:
    """The model built on the meta device: shapes and counts without memory or init time (the one place
    phazelab does this; build-time warnings, e.g. conv padding notes, are silenced here)."""
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        return PhazeA(config)


def block_sides(model: PhazeA) -> dict[str, str]:
    """Each block's role: on both sides' paths ("shared"), or private to one side ("side A" / "side B")."""
    a, b = set(model.side_blocks("a")), set(model.side_blocks("b"))
    return {name: "shared" if name in a and name in b else "side A" if name in a else "side B"
            for name in model.blocks}


def summary_table(cfg: PhazeAConfig) -> dict:
    """Build the model on the meta device (no memory, no init time) and describe every block:
    {"config", "total_params", "blocks": {name: {params, trainable, input_shape, output_shape}}}."""
    blocks = block_summary(meta_model(cfg))
    return {"config": cfg.to_dict(), "total_params": sum(b["params"] for b in blocks.values()), "blocks": blocks}


def _shape_text(shape: list) -> str:
    if shape and isinstance(shape[0], list):
        return " + ".join(_shape_text(s) for s in shape)
    return "×".join(str(d) for d in shape) or "-"


def summary_frame(blocks: dict[str, dict[str, Any]]) -> Any:
    """`block_summary`'s table as a pandas DataFrame to read: one row per block (faceswap's block names),
    parameter counts with thousands separators, shapes as C×H×W (several inputs joined by "+")."""
    import pandas as pd

    return pd.DataFrame([{"block": name, "params": f"{b['params']:,}", "trainable": f"{b['trainable']:,}",
                          "input": _shape_text(b["input_shape"]), "output": _shape_text(b["output_shape"])}
                         for name, b in blocks.items()]).set_index("block")
