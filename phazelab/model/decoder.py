"""The decoder: upscale stages from the fc/G-Block feature map to the output face (and mask)."""

from __future__ import annotations

import torch
from torch import nn

from ..config import ConfigError, PhazeAConfig
from .layers import ChannelNorm, ConvBlock, GaussianNoise, OutputConv, ResidualBlock, scale_dim, upscaler


class UpscaleStage(nn.Module):
    """One decoder upscale: upscaler → noise → norm → LeakyReLU → residual blocks (unless skipped)."""

    def __init__(self, cfg: PhazeAConfig, in_ch: int, filters: int, is_last: bool) -> None:
        super().__init__()
        self.up = upscaler(cfg.dec_upscale_method, in_ch, filters)
        ch = self.out_channels = self.up.out_channels
        self.noise = GaussianNoise(1.0) if cfg.dec_gaussian else nn.Identity()
        self.norm = ChannelNorm(cfg.dec_norm, ch)
        with_residuals = cfg.dec_res_blocks > 0 and not (is_last and cfg.dec_skip_last_residual)
        if with_residuals:
            self.act: nn.Module = nn.LeakyReLU(0.2)
            self.residuals = nn.Sequential(*[ResidualBlock(ch) for _ in range(cfg.dec_res_blocks)])
        else:
            self.act = nn.Identity() if cfg.dec_upscale_method == "upscale_dny" else nn.LeakyReLU(0.1)
            self.residuals = nn.Sequential()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residuals(self.act(self.norm(self.noise(self.up(x)))))


def upscale_stages(cfg: PhazeAConfig, in_ch: int, filters: list[int], last_index: int) -> nn.ModuleList:
    """Stages for `filters`; `last_index` is the position (in this list) of the model's final upscale."""
    stages = nn.ModuleList()
    for i, f in enumerate(filters):
        stages.append(UpscaleStage(cfg, in_ch, f, is_last=(i == last_index)))
        in_ch = stages[-1].out_channels
    return stages


class Decoder(nn.Module):
    """decoder_a / decoder_b / decoder_both: feature map (C, d, d) → face (3, out, out) [+ mask]."""

    def __init__(self, cfg: PhazeAConfig, in_shape: tuple[int, int, int], filters: list[int]) -> None:
        super().__init__()
        ch, d, _ = in_shape
        sd = scale_dim(cfg.output_size, d)
        self.reshape_to: tuple[int, int, int] | None = None
        if sd != d:
            elements = ch * d * d
            if elements % (sd * sd):
                raise ConfigError(f"decoder input {list(in_shape)} cannot be reshaped to {sd}x{sd} for "
                                  f"output_size={cfg.output_size}: choose an output_size that halves down to "
                                  f"the fc map size {d}, or change fc_dimensions / fc_upsamples / the fc filters")
            ch, d = elements // (sd * sd), sd
            self.reshape_to = (ch, sd, sd)
        if cfg.dec_upscale_method == "upscale_dny":
            self.pre: nn.Module = nn.Sequential(
                ConvBlock(ch, cfg.dec_max_filters, kernel=4, stride=1, slope=0.2),
                ConvBlock(cfg.dec_max_filters, cfg.dec_max_filters, kernel=3, stride=1, slope=0.2))
            ch = cfg.dec_max_filters
        else:
            self.pre = nn.Identity()
        self.stages = upscale_stages(cfg, ch, filters, last_index=len(filters) - 1)
        out_ch = self.stages[-1].out_channels if len(self.stages) else ch
        self.face = OutputConv(out_ch, 3, cfg.dec_output_kernel)
        self.mask_stages: nn.ModuleList | None = None
        if cfg.learn_mask:
            self.mask_stages = nn.ModuleList()
            mch = ch
            for f in filters:
                up = upscaler(cfg.dec_upscale_method, mch, f)
                self.mask_stages.append(nn.Sequential(up, nn.LeakyReLU(0.1)))
                mch = up.out_channels
            self.mask = OutputConv(mch, 1, cfg.dec_output_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if self.reshape_to is not None:  # Keras reshape semantics (NHWC order)
            ch, sd, _ = self.reshape_to
            x = x.permute(0, 2, 3, 1).reshape(x.shape[0], sd, sd, ch).permute(0, 3, 1, 2)
        x = self.pre(x)
        y = x
        for stage in self.stages:
            y = stage(y)
        face = self.face(y)
        if self.mask_stages is None:
            return face
        m = x
        for stage in self.mask_stages:
            m = stage(m)
        return face, self.mask(m)
