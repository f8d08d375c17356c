"""The shared encoder: faceswap's fs_original (standard or alt), optionally ending in the bottleneck."""

from __future__ import annotations

import torch
from torch import nn

from ..config import ConfigError, PhazeAConfig
from .bottleneck import Bottleneck
from .layers import ConvBlock


class FsOriginalEncoder(nn.Module):
    """Strided conv stack; filters double per block from min to max filters.

    Standard: `fs_original_depth` × ConvBlock(k5, s2, LeakyReLU 0.1).
    Alt: 1×1 ConvBlock, then per depth ConvBlock(3) and either ConvBlock(3)+max-pool or, last, a
    4×4 'valid' ConvBlock (LeakyReLU 0.2, stride 1).
    """

    def __init__(self, cfg: PhazeAConfig, input_size: int) -> None:
        super().__init__()
        f, size = cfg.fs_original_min_filters, input_size
        layers: list[nn.Module] = []
        if not cfg.fs_original_use_alt:
            in_ch = 3
            for _ in range(cfg.fs_original_depth):
                layers.append(ConvBlock(in_ch, f, kernel=5, stride=2, slope=0.1))
                in_ch, size = f, (size + 1) // 2
                f = min(cfg.fs_original_max_filters, f * 2)
        else:
            layers.append(ConvBlock(3, f, kernel=1, stride=1, slope=0.2))
            in_ch = f
            for i in range(cfg.fs_original_depth):
                layers.append(ConvBlock(in_ch, f, kernel=3, stride=1, slope=0.2))
                in_ch, f = f, min(cfg.fs_original_max_filters, f * 2)
                if i == cfg.fs_original_depth - 1:
                    layers.append(ConvBlock(in_ch, f, kernel=4, stride=1, slope=0.2, padding="valid"))
                    size -= 3
                else:
                    layers += [ConvBlock(in_ch, f, kernel=3, stride=1, slope=0.2), nn.MaxPool2d(2)]
                    size //= 2
                in_ch = f
            if size < 1:
                raise ConfigError(f"fs_original_depth={cfg.fs_original_depth} is too deep for a "
                                  f"{input_size}px encoder input (enc_scaling={cfg.enc_scaling}) with "
                                  "fs_original_use_alt=True: lower fs_original_depth or raise enc_scaling")
        self.convs = nn.Sequential(*layers)
        self.out_shape: tuple[int, ...] = (in_ch, size, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(x)


class Encoder(nn.Module):
    """The `encoder` block: fs_original, plus the bottleneck when `bottleneck_in_encoder`."""

    def __init__(self, cfg: PhazeAConfig) -> None:
        super().__init__()
        cfg.require_buildable()
        self.input_size = cfg.encoder_input_size
        self.features = FsOriginalEncoder(cfg, self.input_size)
        shape = self.features.out_shape
        if cfg.bottleneck_in_encoder:
            self.bottleneck: nn.Module = Bottleneck(cfg.bottleneck_type, cfg.bottleneck_size,
                                                    cfg.bottleneck_norm, shape)
            shape = (self.bottleneck.out_features,)
        else:
            self.bottleneck = nn.Identity()
        self.out_shape: tuple[int, ...] = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bottleneck(self.features(x))
