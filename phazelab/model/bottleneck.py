"""The bottleneck: optional norm, then dense / pooling / flatten down to a vector."""

from __future__ import annotations

import torch
from torch import nn

from .layers import ChannelNorm, dense


class Bottleneck(nn.Module):
    """Feature map (C, H, W) → vector. `bottleneck_type` picks dense, average/max pooling or flatten."""

    def __init__(self, kind: str, size: int, norm: str, in_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.kind = kind
        channels = in_shape[0]
        flat = 1
        for d in in_shape:
            flat *= d
        self.norm = ChannelNorm(norm, channels) if len(in_shape) == 3 else _VectorNorm(norm, channels)
        if kind == "dense":
            self.dense: nn.Module = dense(flat, size)
            self.out_features = size
        elif kind in ("average_pooling", "max_pooling"):
            self.dense = nn.Identity()
            self.out_features = channels if len(in_shape) == 3 else flat
        elif kind == "flatten":
            self.dense = nn.Identity()
            self.out_features = flat
        else:
            raise ValueError(f"unknown bottleneck_type {kind!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        if x.dim() == 4 and self.kind == "average_pooling":
            x = x.mean(dim=(2, 3))
        elif x.dim() == 4 and self.kind == "max_pooling":
            x = x.amax(dim=(2, 3))
        else:
            # flatten in Keras' NHWC order so a flattened vector means the same thing as in faceswap
            x = x.permute(0, 2, 3, 1).flatten(1) if x.dim() == 4 else x.flatten(1)
        return self.dense(x)


class _VectorNorm(ChannelNorm):
    """Norm applied to an already flat input (only reached by unusual configs)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind in ("instance", "batch", "group"):
            return self.norm(x[:, :, None, None])[:, :, 0, 0]
        return self.norm(x)
