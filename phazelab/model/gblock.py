"""fc_gblock's style input feeds the G-Block: an AdaIN, StyleGAN-like block."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import GaussianNoise, conv, dense


def adain(x: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Normalise each channel of each sample over H, W, then scale by γ and shift by β.

    As faceswap's AdaInstanceNormalization: divides by (standard deviation + eps), not sqrt(var + eps);
    measured against faceswap's own outputs (tests/test_faceswap_import.py)."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    std = x.std(dim=(2, 3), keepdim=True, unbiased=False)
    return (x - mean) / (std + eps) * gamma[:, :, None, None] + beta[:, :, None, None]


class GBlock(nn.Module):
    """g_block_a / g_block_b / g_block_both: [feature map x, style vector s] → feature map like x."""

    def __init__(self, channels: int, style_features: int, style_nodes: int = 512) -> None:
        super().__init__()
        self.mapping = nn.ModuleList([dense(style_features, style_nodes, "he_normal"),
                                      dense(style_nodes, style_nodes, "he_normal"),
                                      dense(style_nodes, style_nodes, "he_normal")])
        self.entry = conv(channels, channels, 3)
        self.noise = GaussianNoise(1.0)
        self.beta = nn.ModuleList([dense(style_nodes, channels, "he_normal") for _ in range(2)])
        self.gamma = nn.ModuleList([dense(style_nodes, channels, "he_normal") for _ in range(2)])
        self.noise_convs = nn.ModuleList([conv(channels, channels, 1) for _ in range(2)])
        self.last_conv = conv(channels, channels, 3)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        s = style
        for i, layer in enumerate(self.mapping):
            s = layer(s)
            if i < 2:
                s = F.leaky_relu(s, 0.1)
        x = self.noise(self.entry(x))
        for r in range(2):
            noise = self.noise_convs[r](self.noise(x))
            if r == 1:
                x = self.last_conv(x)
            x = adain(x, self.beta[r](s), self.gamma[r](s))
            x = F.leaky_relu(x + noise, 0.2)
        return x
