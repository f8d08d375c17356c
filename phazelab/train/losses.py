"""Loss terms from libraries (pytorch-msssim, torch) and their weighted sum, as faceswap combines them.

faceswap trains each side on a primary loss (SSIM by default) plus optional extra terms with a weight
in percent (MSE at 100 % by default). Here weights are fractions: MSE at 100 % is weight 1.0.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import pytorch_msssim
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LOSS_CHOICES", "CompositeLoss", "loss_term"]


class _SSIMLoss(nn.Module):
    """1 − SSIM (Gaussian window 11, σ 1.5, K1 0.01, K2 0.03: the values faceswap's DSSIM uses)."""

    def __init__(self) -> None:
        super().__init__()
        # The window is a buffer so it moves with the module and is not rebuilt on every call.
        self.register_buffer("win", pytorch_msssim.SSIM(data_range=1.0, channel=3).win.clone(),
                             persistent=False)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        win = self.win if pred.shape[1] == 3 else self.win[:1].repeat(pred.shape[1], 1, 1, 1)
        return 1.0 - pytorch_msssim.ssim(pred, target, data_range=1.0, win=win)


class _MSSSIMLoss(nn.Module):
    """1 − MS-SSIM, with the largest odd window ≤ 11 that survives its four 2× downsamplings."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        side = min(pred.shape[-2:])
        win = 11
        while win > 3 and side <= (win - 1) * 16:
            win -= 2
        if side <= (win - 1) * 16:
            raise ValueError(f"ms_ssim needs images larger than {(win - 1) * 16} px, got {side} px")
        return 1.0 - pytorch_msssim.ms_ssim(pred, target, data_range=1.0, win_size=win)


class _Elementwise(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.fn(pred, target)


_FACTORIES = {
    "ssim": _SSIMLoss,
    "ms_ssim": _MSSSIMLoss,
    "mse": lambda: _Elementwise(F.mse_loss),
    "mae": lambda: _Elementwise(F.l1_loss),
    "smooth_l1": lambda: _Elementwise(F.smooth_l1_loss),
}
LOSS_CHOICES: tuple[str, ...] = tuple(_FACTORIES)


def loss_term(name: str) -> nn.Module:
    """One loss term by name: a module mapping (pred, target) in [0, 1] to a scalar (lower is better)."""
    if name not in _FACTORIES:
        raise ValueError(f"unknown loss {name!r}; choose from {list(LOSS_CHOICES)}")
    return _FACTORIES[name]()


class CompositeLoss(nn.Module):
    """primary + Σ weight·extra, computed in float32 outside autocast.

    `forward` returns the weighted total and the raw (unweighted) term values stacked in `names` order,
    so a trainer can log every term with one tensor and no host sync.
    """

    def __init__(self, primary: str = "ssim", extra: Mapping[str, float] | None = None) -> None:
        super().__init__()
        extra = dict(extra or {})
        if primary in extra:
            raise ValueError(f"loss {primary!r} is both the primary loss and an extra loss; list it once")
        for name, weight in extra.items():
            if not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight < 0:
                raise ValueError(f"extra loss {name!r}: weight must be a number ≥ 0, got {weight!r}")
        self.names: list[str] = [primary, *extra]
        self.weights: list[float] = [1.0, *(float(w) for w in extra.values())]
        self.terms = nn.ModuleList(loss_term(n) for n in self.names)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """pred, target (N, C, H, W) in [0, 1]; ``mask`` (N, 1, H, W) in [0, 1] applies faceswap's
        `penalized_mask_loss`: both images are multiplied by the face mask first, so errors outside the
        face cost nothing."""
        kind = pred.device.type
        off = torch.autocast(kind, enabled=False) if kind in ("cpu", "cuda") else contextlib.nullcontext()
        with off:
            pred, target = pred.float(), target.float()
            if mask is not None:
                mask = mask.float()
                pred, target = pred * mask, target * mask
            values = torch.stack([term(pred, target) for term in self.terms])
            total = sum(w * v for w, v in zip(self.weights, values.unbind(), strict=True))
        return total, values
