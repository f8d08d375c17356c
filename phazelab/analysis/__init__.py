"""Where does identity live? Latents per block, projections, exact metrics against the face world, plots.

    latents(model, images) ──► project(...) ──► plots.latent_scatter
            └──────────────► metrics (probes, kNN, silhouette, R², GT swap, leakage, CKA, drift)
    swap outputs ──► judge (identity by render matching, pose error, success, effective blur)
    patched activations ──► judge: which block decides the output's identity (patching)

`plots` (plotly) is imported on first use, so metrics-only code does not pay for it.
"""

from __future__ import annotations

from ..lazy import lazy_exports
from .judge import SwapJudge, judge_swap, swap_baselines
from .latents import LatentInfo, Latents, available_blocks, latents, reduce_features
from .metrics import (
    FACTOR_COLUMNS,
    HELD_OUT_SEED,
    attribution,
    block_cka,
    block_table,
    cka_matrix,
    factor_r2,
    fit_blur,
    identity_mix,
    identity_probe,
    image_distance,
    knn_accuracy,
    latent_table,
    leakage,
    linear_cka,
    masked_ssim,
    silhouette,
    swap_scores,
    verification_auc,
    weight_drift,
)
from .patching import patch_block, patching_table
from .project import Projection, project

_PLOTS = ("latent_scatter", "metric_bars", "loss_curves", "swap_grid", "cka_heatmap", "image_grid_figure",
          "write_html")

__all__ = [
    "FACTOR_COLUMNS", "HELD_OUT_SEED", "LatentInfo", "Latents", "Projection", "SwapJudge", "attribution",
    "available_blocks", "block_cka", "block_table", "cka_matrix", "factor_r2", "fit_blur", "identity_mix",
    "identity_probe", "image_distance", "judge_swap", "knn_accuracy", "latent_table",
    "patch_block", "patching_table", "latents", "leakage",
    "linear_cka", "masked_ssim", "project", "reduce_features", "silhouette", "swap_baselines", "swap_scores",
    "verification_auc",
    "weight_drift", *_PLOTS,
]


__getattr__, __dir__ = lazy_exports(__name__, dict.fromkeys(_PLOTS, ".plots"), globals())
