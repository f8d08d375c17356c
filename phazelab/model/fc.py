"""Fully-connected blocks: fc_a / fc_b / fc_both / fc_shared, and fc_gblock."""

from __future__ import annotations

import torch
from torch import nn

from ..config import ConfigError, PhazeAConfig
from .bottleneck import Bottleneck
from .decoder import upscale_stages
from .layers import ParameterFreeUpsample, curve, dense, scale_dim, upscaler


def _dense_stack(in_features: int, nodes: list[int], dropout: float) -> tuple[nn.Sequential, int]:
    """Dropout → Dense for each entry of `nodes`, no activation in between (as faceswap)."""
    layers: list[nn.Module] = []
    for n in nodes:
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(dense(in_features, n))
        in_features = n
    return nn.Sequential(*layers), in_features


def _entry(cfg: PhazeAConfig, in_shape: tuple[int, ...]) -> tuple[nn.Module, int]:
    """The bottleneck starts each fc block when it is not at the end of the encoder."""
    if cfg.bottleneck_in_encoder:
        return nn.Flatten(), _numel(in_shape)
    neck = Bottleneck(cfg.bottleneck_type, cfg.bottleneck_size, cfg.bottleneck_norm, in_shape)
    return neck, neck.out_features


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


class FullyConnected(nn.Module):
    """Encoding → dense stack → reshape to (fc_dimensions²) map → upsampling [→ decoder upscales]."""

    def __init__(self, cfg: PhazeAConfig, in_shape: tuple[int, ...], dec_filters: list[int]) -> None:
        super().__init__()
        dims = cfg.fc_dimensions
        final_dims = dims * (cfg.fc_upsamples + 1)
        sd = scale_dim(cfg.output_size, final_dims)

        def scaled(filters: int) -> int:  # keep odd output sizes reshapeable downstream
            return filters if sd == final_dims else (filters // (sd * sd)) * sd * sd

        self.entry, features = _entry(cfg, in_shape)
        nodes = curve(scaled(cfg.fc_min_filters) * dims * dims, scaled(cfg.fc_max_filters) * dims * dims,
                      cfg.fc_depth, cfg.fc_filter_slope, "full")
        self.dense, features = _dense_stack(features, nodes, cfg.fc_dropout)
        if features % (dims * dims):
            raise ConfigError(f"fc: {features} features cannot be reshaped to {dims}x{dims} "
                              f"(fc_dimensions={dims}, fc_depth={cfg.fc_depth}, bottleneck_type="
                              f"{cfg.bottleneck_type!r}): change fc_dimensions, or the fc / bottleneck sizes so "
                              f"the last dense layer has a multiple of {dims * dims} features")
        self.dims, ch = dims, features // (dims * dims)
        size = dims
        if cfg.fc_upsamples and cfg.fc_upsampler == "upsample2d":
            self.upsample: nn.Module = ParameterFreeUpsample(cfg.fc_upsamples)
            size *= 2 ** cfg.fc_upsamples
        else:
            ups = []
            for _ in range(cfg.fc_upsamples):
                ups.append(upscaler(cfg.fc_upsampler, ch, scaled(cfg.fc_upsample_filters)))
                ch, size = ups[-1].out_channels, size * 2
            self.upsample = nn.Sequential(*ups)
        self.dec_stages = upscale_stages(cfg, ch, dec_filters, last_index=-1)
        for stage in self.dec_stages:
            ch, size = stage.out_channels, size * 2
        self.out_shape: tuple[int, int, int] = (ch, size, size)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.dense(self.entry(z))
        x = x.reshape(x.shape[0], self.dims, self.dims, -1).permute(0, 3, 1, 2)  # Keras NHWC reshape
        x = self.upsample(x)
        for stage in self.dec_stages:
            x = stage(x)
        return x


class FcGBlock(nn.Module):
    """fc_gblock: encoding → dense stack → the G-Block's style vector."""

    def __init__(self, cfg: PhazeAConfig, in_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.entry, features = _entry(cfg, in_shape)
        nodes = curve(cfg.fc_gblock_min_nodes, cfg.fc_gblock_max_nodes, cfg.fc_gblock_depth,
                      cfg.fc_gblock_filter_slope, "full")
        self.dense, features = _dense_stack(features, nodes, cfg.fc_gblock_dropout)
        self.out_shape: tuple[int] = (features,)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.dense(self.entry(z))
