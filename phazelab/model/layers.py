"""Small shared pieces of Phaze-A: conv blocks, residual blocks, noise, norms, upscalers, schedules.

Conventions follow faceswap's Phaze-A: "same" padding, He-uniform conv init, Glorot-uniform
dense init, zero biases. Tensors are NCHW.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


# --------------------------------------------------------------------------------------------------
# schedules (faceswap's filter curves)
def curve(start: int, end: int, n: int, slope: float, mode: str = "full") -> list[int]:
    """faceswap's filter/node schedule: n values from start to end, each floored to a multiple of 8."""
    if n <= 0:
        return []
    s = float(np.clip(slope, -0.99, 0.99))
    if mode == "full":
        x = np.linspace(0.0, 1.0, n)
        y = (x - x * s) / (s - np.abs(x) * 2 * s + 1)
        return [int(v // 8 * 8) for v in y * (end - start) + start]
    if mode not in ("cap_max", "cap_min"):
        raise ValueError(f"unknown slope mode {mode!r}; expected full, cap_max or cap_min")
    values = [int(start)]
    while values[-1] != end and len(values) < n:
        values.append(max(int(end), int(values[-1] * (1 - abs(s)) // 8 * 8)))
    pad = n - len(values)
    return [int(start)] * pad + values if mode == "cap_max" else values + [int(end)] * pad


def scale_dim(target: int, dim: int) -> int:
    """Halve `target` while it is larger than `dim` and the half is a whole number."""
    while target > dim and target % 2 == 0:
        target //= 2
    return target


# --------------------------------------------------------------------------------------------------
# init helpers
def he_uniform_(layer: nn.Module) -> nn.Module:
    nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")  # bound sqrt(6 / fan_in), as Keras
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def variance_scaling_uniform_(layer: nn.Module, scale: float) -> nn.Module:
    fan_in = layer.weight[0].numel()
    bound = math.sqrt(3.0 * scale / fan_in)
    nn.init.uniform_(layer.weight, -bound, bound)
    nn.init.zeros_(layer.bias)
    return layer


def dense(in_features: int, out_features: int, init: str = "glorot") -> nn.Linear:
    layer = nn.Linear(in_features, out_features)
    if init == "he_normal":
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    else:
        nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Keras/TensorFlow 'same' padding of one axis: the odd pixel goes after (bottom / right)."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """A strided conv padded as Keras pads 'same' (asymmetric: e.g. 1 before, 2 after for k5 s2 on an
    even size), where torch's symmetric padding would shift the sampling grid by a pixel. Same weights
    and parameter count as nn.Conv2d. Source: TensorFlow's 'same' rule, which Keras 3 keeps on torch."""

    same_padding = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        top, bottom = _same_pads(x.shape[-2], kh, sh)
        left, right = _same_pads(x.shape[-1], kw, sw)
        return super().forward(F.pad(x, (left, right, top, bottom)))


def conv(in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: str = "same") -> nn.Conv2d:
    """A conv with Keras-style 'same' (or 'valid') padding and He-uniform init."""
    if padding == "valid":
        return he_uniform_(nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=0))
    if stride == 1:
        return he_uniform_(nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding="same"))
    return he_uniform_(SameConv2d(in_ch, out_ch, kernel, stride=stride, padding=0))


# --------------------------------------------------------------------------------------------------
class ConvBlock(nn.Sequential):
    """conv(f, k, stride) → LeakyReLU(slope)."""

    def __init__(self, in_ch: int, filters: int, kernel: int = 5, stride: int = 2, slope: float = 0.1,
                 padding: str = "same") -> None:
        super().__init__(conv(in_ch, filters, kernel, stride, padding), nn.LeakyReLU(slope))
        self.out_channels = filters


class ResidualBlock(nn.Module):
    """conv3×3 → LeakyReLU 0.2 → conv3×3 (variance-scaling 0.2 init) → + input → LeakyReLU 0.2."""

    def __init__(self, filters: int) -> None:
        super().__init__()
        self.conv1 = conv(filters, filters, 3)
        self.conv2 = variance_scaling_uniform_(nn.Conv2d(filters, filters, 3, padding="same"), 0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(F.leaky_relu(self.conv1(x), 0.2))
        return F.leaky_relu(x + y, 0.2)


class GaussianNoise(nn.Module):
    """Additive N(0, σ) noise during training only (Keras GaussianNoise)."""

    def __init__(self, stddev: float = 1.0) -> None:
        super().__init__()
        self.stddev = stddev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.stddev == 0:
            return x
        return x + torch.randn_like(x) * self.stddev


class ChannelNorm(nn.Module):
    """Normalisation by name (none | batch | group | instance | layer | rms), over NCHW feature maps.

    layer/rms normalise over the channel axis per position, as Keras' LayerNormalization(axis=-1) does
    on NHWC tensors.
    """

    def __init__(self, kind: str, channels: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "batch":
            self.norm: nn.Module = nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)
        elif kind == "group":
            self.norm = nn.GroupNorm(min(32, channels) if channels % min(32, channels) == 0 else 1, channels)
        elif kind == "instance":
            self.norm = FaceswapInstanceNorm()
        elif kind == "layer":
            self.norm = nn.LayerNorm(channels, eps=1e-3)
        elif kind == "rms":
            self.norm = nn.RMSNorm(channels, eps=1e-3)
        elif kind == "none":
            self.norm = nn.Identity()
        else:
            raise ValueError(f"unknown norm {kind!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind in ("layer", "rms") and x.dim() == 4:
            return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.norm(x)


class FaceswapInstanceNorm(nn.Module):
    """faceswap's InstanceNormalization as Phaze-A builds it (axis=None): each sample is normalised over
    all its values (C, H, W together), then scaled and shifted by one learned scalar each (2 parameters).
    Input (N, C, H, W) or (N, F), float; output the same shape. Source: faceswap acdcfa8 model files
    (`instance_normalization/vars`: two arrays of shape (1,), config axis=None, epsilon=1e-3)."""

    def __init__(self, eps: float = 1e-3) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(1))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(1, x.dim()))
        mean = x.mean(dim=dims, keepdim=True)
        std = x.std(dim=dims, keepdim=True, unbiased=False)
        return (x - mean) / (std + self.eps) * self.weight + self.bias


# --------------------------------------------------------------------------------------------------
# upscalers (faceswap's dec_upscale_method choices): each doubles H and W.
class Subpixel(nn.Module):
    """ConvBlock(4f, 3×3, LeakyReLU 0.1) → pixel shuffle ×2 → f channels."""

    def __init__(self, in_ch: int, filters: int) -> None:
        super().__init__()
        self.conv = ConvBlock(in_ch, filters * 4, kernel=3, stride=1, slope=0.1)
        self.out_channels = filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(x), 2)


def _bilinear2x(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class UpscaleFast(nn.Module):
    """subpixel(f) + [conv3×3(f) → bilinear ×2]."""

    def __init__(self, in_ch: int, filters: int) -> None:
        super().__init__()
        self.subpixel = Subpixel(in_ch, filters)
        self.conv = conv(in_ch, filters, 3)
        self.out_channels = filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.subpixel(x) + _bilinear2x(self.conv(x))


class UpscaleHybrid(nn.Module):
    """subpixel(g) concatenated with [conv3×3(g) → bilinear ×2], g = f − ⌊f/2⌋."""

    def __init__(self, in_ch: int, filters: int) -> None:
        super().__init__()
        g = filters - filters // 2
        self.subpixel = Subpixel(in_ch, g)
        self.conv = conv(in_ch, g, 3)
        self.out_channels = 2 * g

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.subpixel(x), _bilinear2x(self.conv(x))], dim=1)


class ResizeImages(nn.Module):
    """[bilinear ×2 → conv3×3(f)] + [transposed conv3×3(f), stride 2] → LeakyReLU 0.2."""

    def __init__(self, in_ch: int, filters: int) -> None:
        super().__init__()
        self.conv = conv(in_ch, filters, 3)
        self.transpose = he_uniform_(nn.ConvTranspose2d(in_ch, filters, 3, stride=2, padding=1,
                                                        output_padding=1))
        self.out_channels = filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv(_bilinear2x(x)) + self.transpose(x), 0.2)


class UpscaleDny(nn.Module):
    """bilinear ×2 → 2 × ConvBlock(f, 3×3, slope 0.2)."""

    def __init__(self, in_ch: int, filters: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(ConvBlock(in_ch, filters, 3, 1, 0.2),
                                   ConvBlock(filters, filters, 3, 1, 0.2))
        self.out_channels = filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(_bilinear2x(x))


UPSCALERS: dict[str, type[nn.Module]] = {
    "subpixel": Subpixel,
    "upscale_fast": UpscaleFast,
    "upscale_hybrid": UpscaleHybrid,
    "resize_images": ResizeImages,
    "upscale_dny": UpscaleDny,
}


def upscaler(method: str, in_ch: int, filters: int) -> nn.Module:
    if method not in UPSCALERS:
        raise ValueError(f"unknown upscaler {method!r}; expected one of {sorted(UPSCALERS)}")
    return UPSCALERS[method](in_ch, filters)


class ParameterFreeUpsample(nn.Module):
    """faceswap's `upsample2d` in the fc: nearest ×2 for one upsample, one bilinear ×2ⁿ for several."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.times = times

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.times == 1:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        else:
            x = F.interpolate(x, scale_factor=2 ** self.times, mode="bilinear", align_corners=False)
        return F.leaky_relu(x, 0.1)


class OutputConv(nn.Module):
    """conv(k) → sigmoid, computed in float32 (as faceswap keeps its output layers in fp32)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int) -> None:
        super().__init__()
        self.conv = he_uniform_(nn.Conv2d(in_ch, out_ch, kernel, padding="same"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type in ("cpu", "cuda") and torch.is_autocast_enabled(x.device.type):
            with torch.autocast(device_type=x.device.type, enabled=False):
                return torch.sigmoid(self.conv(x.float()))
        return torch.sigmoid(self.conv(x.float()))


def count_params(module: nn.Module) -> int:
    """Weights and biases plus BatchNorm moving statistics: the number Keras' count_params reports."""
    n = sum(p.numel() for p in module.parameters())
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            n += m.running_mean.numel() + m.running_var.numel()
    return n
