"""What transfer kept: how similar two representations (linear CKA, plain and debiased) or two models'
weights (relative drift per block) are."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from .latents import Latents, Pool, available_blocks, latents

__all__ = ["block_cka", "cka_matrix", "linear_cka", "weight_drift"]


def linear_cka(X: Any, Y: Any, debiased: bool = False) -> float:
    """Linear CKA (Kornblith et al. 2019) between two representations of the same N inputs.

    1 for identical representations and for any orthogonal transform or isotropic scaling of one. The
    plain (biased HSIC) estimate is far from 0 for unrelated representations unless N ≫ D (e.g. 0.98 for
    independent 2048-d Gaussians at N = 32); ``debiased=True`` uses the unbiased HSIC estimator (Song et
    al. 2012, as in Nguyen, Raghu & Kornblith 2021), which is ≈ 0 for unrelated representations at any
    N ≥ 4 (it can then be slightly negative). X (N, Dx), Y (N, Dy); NaN when either has no variance.
    """
    X = np.asarray(X.detach().cpu() if isinstance(X, torch.Tensor) else X, dtype=np.float64)
    Y = np.asarray(Y.detach().cpu() if isinstance(Y, torch.Tensor) else Y, dtype=np.float64)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise ValueError(f"linear_cka: X and Y must be (N, Dx) and (N, Dy) with the same N, "
                         f"got {list(X.shape)} and {list(Y.shape)}")
    X = X - X.mean(0)
    Y = Y - Y.mean(0)
    if debiased:
        n = X.shape[0]
        if n < 4:
            raise ValueError(f"linear_cka: the debiased estimator needs N ≥ 4 inputs, got {n}")
        kx, ky = X @ X.T, Y @ Y.T
        hxy, hxx, hyy = _hsic_unbiased(kx, ky), _hsic_unbiased(kx, kx), _hsic_unbiased(ky, ky)
        if hxx <= 0 or hyy <= 0:
            return float("nan")
        return float(hxy / np.sqrt(hxx * hyy))
    if X.shape[0] < max(X.shape[1], Y.shape[1]):  # Gram form: cheaper when features outnumber samples
        kx, ky = X @ X.T, Y @ Y.T
        hsic, nx, ny = (kx * ky).sum(), np.linalg.norm(kx), np.linalg.norm(ky)
    else:
        hsic, nx, ny = np.linalg.norm(Y.T @ X) ** 2, np.linalg.norm(X.T @ X), np.linalg.norm(Y.T @ Y)
    if nx == 0 or ny == 0:
        return float("nan")
    return float(hsic / (nx * ny))


def _hsic_unbiased(k: np.ndarray, l_: np.ndarray) -> float:
    """The unbiased HSIC estimator of two N×N Gram matrices (Song et al. 2012, eq. 5)."""
    n = k.shape[0]
    k, l_ = k.copy(), l_.copy()
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l_, 0.0)
    ones_k, ones_l = k.sum(0), l_.sum(0)
    term = (k * l_).sum() + ones_k.sum() * ones_l.sum() / ((n - 1) * (n - 2)) - 2.0 * (ones_k @ ones_l) / (n - 2)
    return float(term / (n * (n - 3)))


def cka_matrix(lat1: dict[str, np.ndarray], lat2: dict[str, np.ndarray]) -> pd.DataFrame:
    """Linear CKA between every block of `lat1` (rows) and every block of `lat2` (columns)."""
    return pd.DataFrame([[linear_cka(x, y) for y in lat2.values()] for x in lat1.values()],
                        index=list(lat1), columns=list(lat2))


def block_cka(model1: nn.Module, model2: nn.Module, images: torch.Tensor, blocks: Sequence[str] | None = None,
              *, side: str = "a", pool: Pool = "auto", batch_size: int = 64) -> dict[str, float]:
    """Linear CKA between the same block of two models on the same images (e.g. before/after tuning).

    blocks: None = every key both models have on side `side`'s path (decoder stages included).
    """
    if blocks is None:
        other = set(available_blocks(model2, side))
        blocks = [b for b in available_blocks(model1, side) if b in other]
        if not blocks:
            raise ValueError(f"block_cka: the two models share no block on side {side!r}")
    l1: Latents = latents(model1, images, blocks, batch_size, pool, progress=False, side=side)
    l2: Latents = latents(model2, images, blocks, batch_size, pool, progress=False, side=side)
    return {b: linear_cka(l1[b], l2[b]) for b in blocks}


def weight_drift(model_before: nn.Module, model_after: nn.Module) -> dict[str, float]:
    """Per block present in both: ‖θ_after − θ_before‖ / ‖θ_before‖ over all the block's parameters.

    0 = unchanged (e.g. frozen all along); NaN for a block without parameters.
    """
    before, after = model_before.blocks, model_after.blocks
    out: dict[str, float] = {}
    for name in before:
        if name not in after:
            continue
        p0, p1 = dict(before[name].named_parameters()), dict(after[name].named_parameters())
        if p0.keys() != p1.keys():
            raise ValueError(f"weight_drift: block {name!r} has different parameters in the two models")
        diff = norm = 0.0
        with torch.no_grad():
            for key, a in p0.items():
                b = p1[key]
                if a.shape != b.shape:
                    raise ValueError(f"weight_drift: {name}.{key} has shape {list(a.shape)} before and "
                                     f"{list(b.shape)} after")
                diff += float(((b.detach().double().cpu() - a.detach().double().cpu()) ** 2).sum())
                norm += float((a.detach().double().cpu() ** 2).sum())
        out[name] = float(np.sqrt(diff) / np.sqrt(norm)) if norm > 0 else float("nan")
    return out
