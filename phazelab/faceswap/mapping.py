"""Map a faceswap Phaze-A `.keras` model's weights onto phazelab's blocks, converting layouts.

Each phazelab block (`model.blocks[name]`) is matched with faceswap's sub-model of the same name. Inside
a block, the layers that hold weights are paired in the order Keras lists them with phazelab's modules
in their forward order, by kind (Conv2D ↔ nn.Conv2d, Dense ↔ nn.Linear, ...), and every pair is checked
(kind, kernel, stride, padding, shapes) before anything is copied. Conversions (Keras → torch):

- Conv2D kernel (kh, kw, in, out) → (out, in, kh, kw); Conv2DTranspose (kh, kw, out, in) → (in, out, kh, kw);
- Dense kernel (in, out) → (out, in);
- the conv before a pixel shuffle: faceswap's PixelShuffler reads channel (i·2 + j)·C + c for output
  channel c at sub-position (i, j), torch's pixel_shuffle reads c·4 + i·2 + j, so its output channels
  are reordered;
- BatchNormalization [gamma, beta, moving_mean, moving_variance] → weight, bias, running_mean, running_var.

Any layer, weight or block left over on either side raises FaceswapFileError naming it: a model is
loaded whole or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..model import PhazeA
from ..model.gblock import GBlock
from ..model.layers import FaceswapInstanceNorm, Subpixel
from .archive import FaceswapFileError, KerasArchive, KerasLayer

# Keras class -> the torch module kind it loads into
KIND = {
    "Conv2D": nn.Conv2d, "Conv2DTranspose": nn.ConvTranspose2d, "Dense": nn.Linear,
    "BatchNormalization": nn.BatchNorm2d, "InstanceNormalization": FaceswapInstanceNorm,
    "LayerNormalization": nn.LayerNorm, "GroupNormalization": nn.GroupNorm, "RMSNormalization": nn.RMSNorm,
}


@dataclass
class Slot:
    """A phazelab module that takes one faceswap layer's weights."""

    path: str
    module: nn.Module
    subpixel: bool = False


def _leaf_slots(module: nn.Module, prefix: str, subpixel: bool = False) -> Iterator[Slot]:
    if isinstance(module, GBlock):
        yield from _gblock_slots(module, prefix)
        return
    if isinstance(module, tuple(KIND.values())):
        yield Slot(prefix, module, subpixel)
        return
    if isinstance(module, Subpixel):
        yield Slot(f"{prefix}.conv.0" if prefix else "conv.0", module.conv[0], subpixel=True)
        return
    for name, child in module.named_children():
        yield from _leaf_slots(child, f"{prefix}.{name}" if prefix else name, subpixel)


def _gblock_slots(g: GBlock, prefix: str) -> Iterator[Slot]:
    """The G-Block's layers in the order faceswap's graph lists them (mapping and AdaIN branches interleave)."""
    order = [("mapping.0", g.mapping[0]), ("mapping.1", g.mapping[1]), ("entry", g.entry),
             ("mapping.2", g.mapping[2]), ("beta.0", g.beta[0]), ("gamma.0", g.gamma[0]),
             ("noise_convs.0", g.noise_convs[0]), ("beta.1", g.beta[1]), ("gamma.1", g.gamma[1]),
             ("last_conv", g.last_conv), ("noise_convs.1", g.noise_convs[1])]
    for name, m in order:
        yield Slot(f"{prefix}.{name}" if prefix else name, m)


def _describe(layer: KerasLayer) -> str:
    return f"faceswap layer {layer.name!r} ({layer.class_name})"


def _pixel_shuffle_order(w: np.ndarray) -> np.ndarray:
    """Reorder output channels (axis 0) from faceswap's PixelShuffler order to torch's pixel_shuffle."""
    c4 = w.shape[0]
    return w.reshape(4, c4 // 4, *w.shape[1:]).swapaxes(0, 1).reshape(w.shape)


def _check_conv(block: str, layer: KerasLayer, slot: Slot) -> None:
    cfg, m = layer.config, slot.module
    want = {"kernel_size": list(m.kernel_size), "strides": list(m.stride)}
    for key, value in want.items():
        if key in cfg and list(cfg[key]) != value:
            raise FaceswapFileError(f"block {block!r}: {_describe(layer)} has {key}={cfg[key]}, phazelab's "
                                    f"{slot.path} has {value}")
    valid = (m.padding in (0, (0, 0)) and not getattr(m, "same_padding", False)
             and m.kernel_size != (1, 1) and not isinstance(m, nn.ConvTranspose2d))
    if cfg.get("padding") in ("same", "valid") and valid != (cfg["padding"] == "valid"):
        raise FaceswapFileError(f"block {block!r}: {_describe(layer)} has padding={cfg['padding']!r}, phazelab's "
                                f"{slot.path} pads {'valid' if valid else 'same'}")


def _convert(block: str, layer: KerasLayer, slot: Slot) -> dict[str, np.ndarray]:
    """Keras variables → {torch parameter/buffer name: array in torch layout}."""
    w, cls = layer.weights, layer.class_name
    if cls in ("Conv2D", "Conv2DTranspose"):
        _check_conv(block, layer, slot)
        out = {"weight": np.transpose(w[0], (3, 2, 0, 1))}
        if len(w) > 1:
            out["bias"] = w[1]
        if slot.subpixel:
            out = {k: _pixel_shuffle_order(v) for k, v in out.items()}
    elif cls == "Dense":
        out = {"weight": w[0].T}
        if len(w) > 1:
            out["bias"] = w[1]
    elif cls == "BatchNormalization":
        out = dict(zip(("weight", "bias", "running_mean", "running_var"), w))
    else:  # instance / layer / group / rms norms: [gamma, beta] (or [scale])
        out = dict(zip(("weight", "bias"), w))
    return out


def _state_of(module: nn.Module) -> dict[str, torch.Tensor]:
    state = dict(module.named_parameters(recurse=False))
    state.update({k: v for k, v in module.named_buffers(recurse=False) if k != "num_batches_tracked"})
    return state


def block_state(model: PhazeA, block: str, layers: list[KerasLayer]) -> dict[str, torch.Tensor]:
    """The state dict (names relative to `model.blocks[block]`) built from faceswap's layers.

    Raises FaceswapFileError naming the block, the faceswap layer and both shapes on any mismatch, and
    for layers or modules left without a partner.
    """
    slots = list(_leaf_slots(model.blocks[block], ""))
    weighted = [layer for layer in layers if layer.weights]
    unknown = [layer for layer in weighted if layer.class_name not in KIND]
    if unknown:
        raise FaceswapFileError(f"block {block!r}: {_describe(unknown[0])} holds weights but is not a layer "
                                "Phaze-A builds; this model was not made by faceswap's Phaze-A")
    state: dict[str, torch.Tensor] = {}
    for i in range(max(len(slots), len(weighted))):
        if i >= len(weighted):
            rest = ", ".join(s.path for s in slots[i:])
            raise FaceswapFileError(f"block {block!r}: faceswap's model has {len(weighted)} weighted layers, "
                                    f"phazelab's has {len(slots)}; nothing in the file for {rest}")
        if i >= len(slots):
            rest = ", ".join(repr(layer.name) for layer in weighted[i:])
            raise FaceswapFileError(f"block {block!r}: faceswap layer(s) {rest} have no counterpart in "
                                    f"phazelab's block ({len(slots)} weighted layers); the options do not "
                                    "describe this model")
        layer, slot = weighted[i], slots[i]
        if not isinstance(slot.module, KIND[layer.class_name]) or (
                layer.class_name == "Conv2D" and isinstance(slot.module, nn.ConvTranspose2d)):
            raise FaceswapFileError(f"block {block!r}: {_describe(layer)} falls on phazelab's {slot.path} "
                                    f"({type(slot.module).__name__}); the layer graphs differ")
        target = _state_of(slot.module)
        arrays = _convert(block, layer, slot)
        if set(arrays) != set(target):
            raise FaceswapFileError(f"block {block!r}: {_describe(layer)} has {len(layer.weights)} weights "
                                    f"({[list(a.shape) for a in layer.weights]}), phazelab's {slot.path} has "
                                    f"{sorted(target)}")
        for key, arr in arrays.items():
            if tuple(arr.shape) != tuple(target[key].shape):
                raise FaceswapFileError(
                    f"block {block!r}: {_describe(layer)} {key} has shape {list(arr.shape)} in torch layout "
                    f"(Keras {list(layer.weights[list(arrays).index(key)].shape)}), phazelab's "
                    f"{slot.path}.{key} has shape {list(target[key].shape)}")
            name = f"{slot.path}.{key}" if slot.path else key
            state[name] = torch.from_numpy(np.ascontiguousarray(arr))
    return state


def map_weights(model: PhazeA, archive: KerasArchive) -> dict[str, dict[str, torch.Tensor]]:
    """Every block's state dict from the archive; blocks must be the same on both sides."""
    ours, theirs = list(model.blocks), list(archive.blocks)
    missing = [b for b in ours if b not in archive.blocks]
    extra = [b for b in theirs if b not in model.blocks]
    if missing or extra:
        raise FaceswapFileError(f"{archive.path.name}: blocks differ: the file has {theirs}, the options build "
                                f"{ours} (missing in the file: {missing}; not built by the options: {extra})")
    return {b: block_state(model, b, archive.blocks[b]) for b in ours}
