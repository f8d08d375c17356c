"""Frozen means frozen: norm layers with running statistics in a frozen block run in inference mode.

In Keras, and so in faceswap, a BatchNormalization layer with `trainable = False` runs in inference mode
(it uses and keeps its moving mean / variance) even while the model trains. In PyTorch a BatchNorm in
train mode updates its running statistics whatever `requires_grad` says, so a "frozen" block's output
would drift although its weights do not. `sync_frozen_norms` puts such layers of frozen blocks into eval
mode (and back into the model's mode once unfrozen); PhazeA.train / eval, `weights.freeze` / `unfreeze`
and the Trainer call it, so a frozen block changes neither parameters nor buffers.
"""

from __future__ import annotations

from torch import nn

__all__ = ["has_running_stats", "sync_frozen_norms"]


def has_running_stats(module: nn.Module) -> bool:
    """True for norm layers that update buffers in train mode (BatchNorm, InstanceNorm with tracking)."""
    return bool(getattr(module, "track_running_stats", False)) and getattr(module, "running_mean", None) is not None


def sync_frozen_norms(model: nn.Module) -> int:
    """Set each running-statistics norm layer's mode: the model's mode, or eval where it is frozen.

    A norm layer is frozen when its own parameters are all non-trainable; one without parameters
    (affine=False) follows its block (`model.blocks`, when the model has them). Returns how many layers
    run in eval mode because they are frozen.
    """
    blocks = getattr(model, "blocks", None)
    groups = list(blocks.values()) if isinstance(blocks, nn.ModuleDict) else [model]
    frozen_count = 0
    for block in groups:
        block_params = list(block.parameters())
        block_frozen = bool(block_params) and not any(p.requires_grad for p in block_params)
        for module in block.modules():
            if not has_running_stats(module):
                continue
            own = list(module.parameters(recurse=False))
            frozen = (not any(p.requires_grad for p in own)) if own else block_frozen
            module.train(model.training and not frozen)
            frozen_count += int(frozen)
    return frozen_count
