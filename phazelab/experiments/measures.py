"""Small measurement helpers the study and its report share (so the report never imports the study)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from ..model import PhazeA
from ..model.modes import evaluating

if TYPE_CHECKING:
    from .forum import StudyIdentities
    from .study_config import StudyConfig

__all__ = ["clean_json", "steps_to_target", "trailing_mean"]


def trailing_mean(values: Sequence[float], window: int) -> np.ndarray:
    """Mean of the last `window` values at each position (fewer at the start); exact, no running sums."""
    v = np.asarray(values, dtype=np.float64)
    return np.array([v[max(0, i + 1 - window):i + 1].mean() for i in range(v.size)])


def clean_json(obj: Any) -> Any:
    """A JSON-safe copy: numpy scalars to numbers, tuples and paths to lists and text, NaN/inf to None."""
    if isinstance(obj, Mapping):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def steps_to_target(steps: Sequence[int], losses: Sequence[float], target: float, window: int) -> int | None:
    """First step whose mean loss over the last `window` steps (a full window) is ≤ target; None if never.

    A full window means no run counts as "there" on one lucky batch: the earliest possible answer is
    step `window`."""
    smooth = trailing_mean(losses, window)
    smooth[: max(0, window - 1)] = np.inf
    hit = np.nonzero(smooth <= target)[0]
    return int(steps[hit[0]]) if hit.size else None


def _recon_ssim(model: PhazeA, images: torch.Tensor, side: str) -> float:
    """Mean SSIM of side `side`'s reconstructions of held-out frames (eval mode, no gradients)."""
    from ..analysis.metrics import ssim_scores

    device = next(model.parameters()).device
    with evaluating(model):
        with torch.no_grad():
            out = model.decode(model.encode(images.to(device)), side)
    out = out.float().cpu()
    return float(ssim_scores(out, F.interpolate(images, size=out.shape[-2:], mode="area")
                             if images.shape[-1] != out.shape[-1] else images).mean())


def _swap_grid_png(model: PhazeA, w: StudyIdentities, n: int, seed: int) -> bytes:
    """Rows: a2 frames, their A→B swaps, the A→B ground truth, b1 frames, B→A swaps, B→A ground truth."""
    import io

    from PIL import Image

    from ..analysis.plots import tile

    device = next(model.parameters()).device
    rows = []
    with evaluating(model):
        for src, dst, to in ((w.a2, w.b1, "b"), (w.b1, w.a2, "a")):
            images, labels = w.world.sample(src, n, seed=seed, size=model.input_size)
            with torch.no_grad():
                out = model.swap(images.to(device), to=to)
            out = out.float().cpu().clamp(0, 1)
            size = out.shape[-1]
            truth = w.world.swap_target(labels, dst, size=size)
            shown = F.interpolate(images, size=(size, size), mode="bilinear") if images.shape[-1] != size \
                else images
            rows += [shown, out, truth]
    buf = io.BytesIO()
    Image.fromarray(tile(torch.cat(rows), nrow=n)).save(buf, format="PNG")
    return buf.getvalue()


def _eval_point(model: PhazeA, w: StudyIdentities, study: StudyConfig, held_out: dict[str, torch.Tensor], step: int
                ) -> dict[str, float]:
    from ..analysis.metrics import leakage

    leak = leakage(model, w.world, old_identity=w.a1, new_identity=w.a2, n=study.eval_n, side="a")
    return {"step": step, "leakage": leak["leakage"], "closer_to_old": leak["closer_to_old"],
            "recon_ssim_a": _recon_ssim(model, held_out["a"], "a"),
            "recon_ssim_b": _recon_ssim(model, held_out["b"], "b")}
