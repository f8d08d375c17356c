"""Exact measurements of where identity lives: probes, kNN, silhouette, factor R², GT swaps, leakage, CKA.

Every function returns plain numbers (or a tidy pandas table) and types in no conclusion. Scores that
depend on held-out data are cross-validated; each identity score comes with its chance level.

Distances between images ("mse" or "1-ssim") are per image; SSIM is pytorch-msssim's (11-px Gaussian
window, data range 1).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from pytorch_msssim import ssim as _ssim
from pytorch_msssim.ssim import gaussian_filter as _gaussian_filter
from torch import nn

from ..model.modes import evaluating
from .latents import Pool, latents

Distance = Literal["mse", "1-ssim"]
FACTOR_COLUMNS = ("yaw", "pitch", "smile", "mouth_open")
# Default seed for analysis frames: far from the small seeds trainers use, so frames are held out.
HELD_OUT_SEED = 1_000_003


# -------------------------------------------------------------------------------------------------
# identity / factor content of a latent (pure functions on arrays)
def _xy(X: Any, y: Any, cv: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X.detach().cpu() if isinstance(X, torch.Tensor) else X, dtype=np.float64)
    y = np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y).reshape(-1)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D (N, D) array, got shape {list(X.shape)}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]} labels")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or inf")
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"need at least 2 identities (classes) in y, got {classes.tolist()}")
    if cv is not None and counts.min() < cv:
        raise ValueError(f"cv={cv} folds but the smallest class has only {counts.min()} samples; "
                         "lower cv or sample more frames per identity")
    return X, y


def chance_accuracy(y: Any) -> float:
    """Accuracy of always guessing the most common class (1/k for k balanced classes)."""
    _, counts = np.unique(np.asarray(y).reshape(-1), return_counts=True)
    return float(counts.max() / counts.sum())


def identity_probe(X: Any, y: Any, cv: int = 5, seed: int = 0, C: float = 1.0) -> dict[str, float]:
    """Cross-validated accuracy of a linear (logistic-regression, L2) probe from latents to identity.

    Features are standardised inside each fold; folds are stratified and shuffled with `seed`. The probe
    is fitted in the span of the fold's training samples (PCA keeping every component): an L2 solution
    lies in that span, so the predictions are the same as in the full space, but with 4,096-dim latents
    and a few hundred frames the optimiser converges ~10x faster.
    """
    from sklearn.decomposition import PCA  # scikit-learn is imported where used: the lab's first cell
    from sklearn.linear_model import LogisticRegression  # does not wait seconds for it
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _xy(X, y, cv)
    probe = make_pipeline(StandardScaler(), PCA(), LogisticRegression(C=C, max_iter=10000))
    scores = cross_val_score(probe, X, y, cv=StratifiedKFold(cv, shuffle=True, random_state=seed),
                             error_score="raise")  # a fold that fails is an error, never a silent NaN
    return {"accuracy": float(scores.mean()), "accuracy_std": float(scores.std()),
            "chance": chance_accuracy(y)}


def knn_accuracy(X: Any, y: Any, k: int = 5, cv: int = 5, seed: int = 0) -> dict[str, float]:
    """Cross-validated k-nearest-neighbour accuracy (Euclidean, raw latent geometry).

    k is lowered to the smallest training fold when that has fewer than k frames (scikit-learn would
    otherwise fail every fold and return NaN); the result's "k" is the k used ("k_requested" is added when
    it was lowered)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    X, y = _xy(X, y, cv)
    folds = list(StratifiedKFold(cv, shuffle=True, random_state=seed).split(X, y))
    k_used = int(min(k, min(len(train) for train, _ in folds)))
    knn = KNeighborsClassifier(n_neighbors=k_used)
    scores = cross_val_score(knn, X, y, cv=folds, error_score="raise")
    out = {"accuracy": float(scores.mean()), "accuracy_std": float(scores.std()), "chance": chance_accuracy(y),
           "k": k_used}
    if k_used != k:
        out["k_requested"] = int(k)
    return out


def silhouette(X: Any, y: Any, seed: int = 0) -> dict[str, float]:
    """Silhouette score of the identity clusters (Euclidean), with the score of shuffled labels as chance."""
    from sklearn.metrics import silhouette_score

    X, y = _xy(X, y)
    if len(np.unique(y)) >= X.shape[0]:
        raise ValueError("silhouette needs fewer identities than samples")
    shuffled = np.random.default_rng(seed).permutation(y)
    return {"silhouette": float(silhouette_score(X, y)), "chance": float(silhouette_score(X, shuffled))}


def factor_r2(X: Any, factors_frame: pd.DataFrame, columns: Sequence[str] = FACTOR_COLUMNS, cv: int = 5,
              seed: int = 0, on_column: Callable[[str], None] | None = None) -> dict[str, float]:
    """Cross-validated R² of a ridge regression from latents to each factor column (chance level 0).

    The ridge strength is chosen inside each training fold (RidgeCV), so the score is held out. A factor
    that does not vary gets NaN. `on_column(col)` is called as each column starts (a progress tick: one
    column of a wide block takes seconds on a CPU).
    """
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] != len(factors_frame):
        raise ValueError(f"X must be (N, D) with N = {len(factors_frame)} rows of factors_frame, "
                         f"got shape {list(X.shape)}")
    missing = [c for c in columns if c not in factors_frame.columns]
    if missing:
        raise ValueError(f"factor_r2: columns {missing} not in factors_frame; "
                         f"it has {list(factors_frame.columns)}")
    folds = KFold(cv, shuffle=True, random_state=seed)
    out: dict[str, float] = {}
    for col in columns:
        if on_column is not None:
            on_column(col)
        target = factors_frame[col].to_numpy(dtype=np.float64)
        if np.ptp(target) == 0:
            out[col] = float("nan")
            continue
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 5, 15)))
        out[col] = float(cross_val_score(model, X, target, cv=folds, scoring="r2", error_score="raise").mean())
    return out


def _score(notes: list[str], name: str, fn: Callable[..., dict[str, float]], *args: Any) -> dict[str, float]:
    """fn(*args), or {} with the reason appended to `notes` (shown with the table, not lost as a NaN)."""
    try:
        return fn(*args)
    except ValueError as exc:
        notes.append(f"{name}: {exc}")
        return {}


def latent_table(lat: dict[str, np.ndarray], identity: Any, factors_frame: pd.DataFrame | None = None,
                 columns: Sequence[str] = FACTOR_COLUMNS, cv: int = 5, k: int = 5, seed: int = 0,
                 progress: str | Callable[[str], None] | None = None) -> pd.DataFrame:
    """One row per block: probe / kNN accuracy, silhouette (each with chance) and factor R².

    Every score is a number or NaN with the reason in the row's "notes" (e.g. too few frames per
    identity, a factor that does not vary); "cv" and "knn_k" record the folds and the k actually used.
    `progress`: a description to show a progress bar under (tqdm; one tick per score of each block and per
    factor of its R², the running one named, so it moves every few seconds on a CPU, and its time every
    second), or a callback told each score as it starts ("score 3 / 7, fc_both: silhouette…"), None for none.
    """
    from tqdm.auto import tqdm

    from ..progress import TextBar, heartbeat

    columns = list(columns)
    parts = 3 + (len(columns) if factors_frame is not None else 0)  # probe, kNN, silhouette (, R² per factor)
    if callable(progress):
        return _latent_rows(lat, identity, factors_frame, columns, cv, k, seed, TextBar(len(lat) * parts, progress),
                            parts)
    bar = tqdm(total=len(lat) * parts, desc=progress, unit="score", disable=progress is None)
    with heartbeat(bar):  # one probe of a wide block takes 10–40 s on a CPU: the elapsed time moves
        return _latent_rows(lat, identity, factors_frame, columns, cv, k, seed, bar, parts)


def _latent_rows(lat: dict[str, np.ndarray], identity: Any, factors_frame: pd.DataFrame | None,
                 columns: list[str], cv: int, k: int, seed: int, bar: Any, parts: int) -> pd.DataFrame:
    info = getattr(lat, "info", {})
    rows = []
    started = [False]
    if "sklearn.linear_model" not in sys.modules:  # seconds on a CPU, the first time: say so
        bar.set_postfix_str("importing scikit-learn…", refresh=True)
        import sklearn.linear_model  # noqa: F401
        import sklearn.model_selection  # noqa: F401

    def starting(block: str, what: str) -> None:
        """Tick for the score just done and name the one now running (what the wait is spent on)."""
        if started[0]:
            bar.update()
        started[0] = True
        bar.set_postfix_str(f"{block}: {what}…", refresh=True)

    def scored(notes: list[str], block: str, what: str, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        starting(block, what)
        return _score(notes, name, fn, *args)

    for block, X in lat.items():
        notes: list[str] = []
        if np.ptp(np.asarray(X, dtype=np.float64), axis=0).max(initial=0.0) == 0:
            notes.append("every frame has the same latent: identity scores are at chance by construction")
        probe = scored(notes, block, "probe", "probe", identity_probe, X, identity, cv, seed)
        knn = scored(notes, block, "kNN", "knn", knn_accuracy, X, identity, k, cv, seed)
        sil = scored(notes, block, "silhouette", "silhouette", silhouette, X, identity, seed)
        nan = float("nan")
        if "k_requested" in knn:
            notes.append(f"knn: k lowered from {k} to {knn['k']} (smallest training fold)")
        row: dict[str, Any] = {
            "block": block, "dims": int(X.shape[1]),
            "reduction": info[block].reduction if block in info else "",
            "probe_acc": probe.get("accuracy", nan), "probe_std": probe.get("accuracy_std", nan),
            "probe_chance": probe.get("chance", nan),
            "knn_acc": knn.get("accuracy", nan), "knn_chance": knn.get("chance", nan),
            "silhouette": sil.get("silhouette", nan), "silhouette_chance": sil.get("chance", nan),
            "cv": int(cv), "knn_k": knn.get("k", int(k)),
        }
        if factors_frame is not None:
            r2s = _score(notes, "r2", factor_r2, X, factors_frame, columns, cv, seed,
                         lambda col, block=block: starting(block, f"R² of {col}"))
            for col in columns:
                row[f"r2_{col}"] = r2s.get(col, nan)
                if col in r2s and np.isnan(r2s[col]):
                    notes.append(f"r2_{col}: {col} does not vary in these frames")
            row["r2_chance"] = 0.0
        row["notes"] = "; ".join(notes)
        rows.append(row)
    bar.update(bar.total - bar.n)  # the last score (and any factor R² skipped by an error)
    bar.close()
    return pd.DataFrame(rows)


# the columns of a block_table a reader needs first (phazelab.display.table_view shows the rest on request)
BLOCK_TABLE_MAIN = ("block", "kind", "dims", "probe_acc", "probe_std", "probe_chance", "knn_acc", "knn_chance",
                    "r2_yaw")


def block_table(model: nn.Module, world: Any, identities: Sequence[int], n: int = 60,
                seed: int = HELD_OUT_SEED, *, side: str = "a", blocks: Sequence[str] | None = None,
                columns: Sequence[str] = FACTOR_COLUMNS, cv: int = 5, k: int = 5, pool: Pool = "auto",
                batch_size: int = 64, progress: bool | str = False, baselines: bool = False,
                untrained_seeds: Sequence[int] = (1000, 1001)) -> pd.DataFrame:
    """The per-block identity table on fresh world frames: `n` frames of each identity, all routed
    through side `side`'s path (so every block sees the same frames). Column "kind" says what a row is.

    ``baselines`` adds the null rows on the same frames, so no number stands alone: raw pixels, pixels
    average-pooled to 4×4, the mean colour, and every block of untrained models of the same config
    (one set of rows per seed in ``untrained_seeds``). A block that scores no better than these rows
    does not show that it learned identity. ``progress``: bars (True), none, or bars named by this text
    (e.g. the topology, when several tables are computed one after another).
    """
    if len(identities) < 2:
        raise ValueError(f"block_table: need at least 2 identities, got {list(identities)}")
    images, labels = world.sample(identity=list(identities), n=n, seed=seed, size=model.input_size)
    ids, frame = labels.identity.numpy(), labels.to_frame()
    def bar(what: str) -> str | None:  # a str progress names the table's model in every bar
        return None if not progress else f"{progress} · probes: {what}" if isinstance(progress, str) \
            else f"probes: {what}"

    lat = latents(model, images, blocks, batch_size, pool, progress, side=side)
    table = latent_table(lat, ids, frame, columns, cv, k, seed, progress=bar("model"))
    table.insert(1, "kind", "model")
    if baselines:
        x = images.float()
        pixel = {"pixels (raw)": x.flatten(1).numpy(),
                 "pixels pooled 4×4": F.adaptive_avg_pool2d(x, 4).flatten(1).numpy(),
                 "mean colour": x.mean(dim=(2, 3)).numpy()}
        extra = latent_table(pixel, ids, frame, columns, cv, k, seed, progress=bar("pixel baselines"))
        extra.insert(1, "kind", "baseline")
        parts = [table, extra]
        for s in untrained_seeds:
            fresh = type(model)(model.config, seed=int(s))
            u = latent_table(latents(fresh, images, blocks, batch_size, pool, progress, side=side), ids, frame,
                             columns, cv, k, seed, progress=bar(f"untrained seed {s}"))
            u.insert(1, "kind", f"untrained (seed {s})")
            parts.append(u)
        table = pd.concat(parts, ignore_index=True)
    table.insert(2, "side", side)
    return table


# -------------------------------------------------------------------------------------------------
# image distances, swap attribution and leakage (pure functions on image tensors)
def _images(x: Any, name: str) -> torch.Tensor:
    t = torch.as_tensor(x).detach().float().cpu()
    if t.ndim != 4 or t.shape[1] != 3:
        raise ValueError(f"{name} must be (N, 3, H, W) images, got shape {list(t.shape)}")
    return t


def image_distance(x: Any, y: Any, distance: Distance = "mse") -> np.ndarray:
    """Per-image distance between two (N, 3, H, W) batches in [0, 1]: "mse" or "1-ssim"."""
    x, y = _images(x, "x"), _images(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"image_distance: shapes differ: {list(x.shape)} vs {list(y.shape)}")
    if distance == "mse":
        return ((x - y) ** 2).mean(dim=(1, 2, 3)).numpy().astype(np.float64)
    if distance == "1-ssim":
        return (1.0 - _ssim(x, y, data_range=1.0, size_average=False)).numpy().astype(np.float64)
    raise ValueError(f"distance must be 'mse' or '1-ssim', got {distance!r}")


def attribution(outputs: Any, render_b: Any, render_a: Any, distance: Distance = "mse") -> float:
    """Fraction of outputs closer to B's ground-truth render than to A's at the same factors (ties: ½).

    1 = every output reads as identity B; 0 = every output reads as A.
    """
    d_b = image_distance(outputs, render_b, distance)
    d_a = image_distance(outputs, render_a, distance)
    return float(np.mean((d_b < d_a) + 0.5 * (d_b == d_a)))


def _blur_matrix(size: int, sigma: float, dtype: torch.dtype) -> torch.Tensor:
    """(size, size) matrix M with M @ v = v blurred by a Gaussian of `sigma` px, replicate borders."""
    radius = max(1, int(round(3 * sigma)))
    offsets = torch.arange(-radius, radius + 1)
    g = torch.exp(-offsets.double() ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    rows = torch.arange(size)[:, None].expand(-1, len(offsets))
    cols = (rows + offsets).clamp(0, size - 1)
    m = torch.zeros(size, size, dtype=torch.float64)
    m.index_put_((rows, cols), g.expand(size, -1), accumulate=True)
    return m.to(dtype)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W) images (replicate borders); sigma in pixels, 0 = unchanged.

    Done as two small matrix products (rows, then columns), which is much faster on a CPU than a
    depthwise convolution with a wide kernel.
    """
    if sigma <= 0:
        return x
    mh = _blur_matrix(x.shape[-2], sigma, x.dtype).to(x.device)
    mw = _blur_matrix(x.shape[-1], sigma, x.dtype).to(x.device)
    return mh @ x @ mw.T


def _mix_terms(outputs: Any, render_new: Any, render_old: Any) -> tuple[torch.Tensor, ...]:
    out = _images(outputs, "outputs")
    new, old = _images(render_new, "render_new"), _images(render_old, "render_old")
    if not out.shape == new.shape == old.shape:
        raise ValueError(f"identity_mix: shapes differ: outputs {list(out.shape)}, "
                         f"render_new {list(new.shape)}, render_old {list(old.shape)}")
    return out.double(), new.double(), old.double()


def identity_mix(outputs: Any, render_new: Any, render_old: Any, sigma: float = 0.0) -> np.ndarray:
    """Per image, where the output sits on the line from new's render (0) to old's render (1).

    t = <out − n, o − n> / ‖o − n‖² with n, o the renders blurred by `sigma` px (0 = as they are), so an
    output blur_σ(α·old + (1 − α)·new) gives exactly α, and noise orthogonal to the old−new difference
    adds nothing on average. NaN where the two renders are identical.
    """
    out, new, old = _mix_terms(outputs, render_new, render_old)
    new, old = gaussian_blur(new, sigma), gaussian_blur(old, sigma)
    diff = (old - new).flatten(1)
    num = ((out - new).flatten(1) * diff).sum(1)
    den = (diff * diff).sum(1)
    t = torch.where(den > 0, num / den.clamp_min(1e-300), torch.full_like(num, float("nan")))
    return t.numpy()


def fit_blur(outputs: Any, render_new: Any, render_old: Any, sigmas: Sequence[float] | None = None) -> float:
    """The blur (px) that best explains outputs as blurred blends of the two renders (least squares).

    Why: a reconstruction that is merely blurry loses exactly the fine detail that tells two close
    identities apart, so against sharp renders it would look part "old". Matching the renders' blur to the
    output's first removes that bias. Default grid: 0 to 4 px in 0.25 px steps at 64 px (scaled with size).
    """
    out, new, old = _mix_terms(outputs, render_new, render_old)
    if sigmas is None:
        sigmas = [0.25 * i * out.shape[-1] / 64 for i in range(17)]
    best, best_sigma = float("inf"), 0.0
    for sigma in sigmas:
        n, o = gaussian_blur(new, sigma).flatten(1), gaussian_blur(old, sigma).flatten(1)
        e, d = out.flatten(1) - n, o - n
        t = (e * d).sum(1) / (d * d).sum(1).clamp_min(1e-300)
        residual = float(((e - t[:, None] * d) ** 2).sum())
        if residual < best:
            best, best_sigma = residual, float(sigma)
    return best_sigma


def masked_ssim(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM of (N, 3, H, W) images in [0, 1], averaged over the pixels weighted by `mask`
    (N, 1, H, W) in [0, 1], e.g. `FaceWorld.face_mask`; (N,) float32 on the images' device.

    The SSIM map is pytorch-msssim's (its `gaussian_filter`, 11-px window, sigma 1.5, K = (0.01, 0.03),
    data range 1, valid region only: the mask is cropped to it); with a mask of ones the result equals
    `pytorch_msssim.ssim(x, y, data_range=1, size_average=False)`. NaN for an image whose mask is empty.
    """
    if x.shape != y.shape or x.ndim != 4 or mask.shape != (x.shape[0], 1, *x.shape[2:]):
        raise ValueError(f"masked_ssim: x and y must be (N, C, H, W) and mask (N, 1, H, W), got "
                         f"{list(x.shape)}, {list(y.shape)}, {list(mask.shape)}")
    size, sigma = 11, 1.5
    coords = torch.arange(size, dtype=torch.float32) - size // 2
    win = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    win = (win / win.sum())[None, None].repeat(x.shape[1], 1, 1, 1).to(x.device, x.dtype)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mu1, mu2 = _gaussian_filter(x, win), _gaussian_filter(y, win)
    s11 = _gaussian_filter(x * x, win) - mu1 ** 2
    s22 = _gaussian_filter(y * y, win) - mu2 ** 2
    s12 = _gaussian_filter(x * y, win) - mu1 * mu2
    ssim_map = ((2 * mu1 * mu2 + c1) / (mu1 ** 2 + mu2 ** 2 + c1)) * ((2 * s12 + c2) / (s11 + s22 + c2))
    dh, dw = (x.shape[2] - ssim_map.shape[2]) // 2, (x.shape[3] - ssim_map.shape[3]) // 2
    m = mask[:, :, dh:dh + ssim_map.shape[2], dw:dw + ssim_map.shape[3]].to(ssim_map.dtype)
    return (ssim_map * m).sum((1, 2, 3)) / (m.sum((1, 2, 3)) * x.shape[1])


def ssim_scores(outputs: Any, targets: Any) -> np.ndarray:
    """Per-image SSIM (pytorch-msssim, data range 1)."""
    return 1.0 - image_distance(outputs, targets, "1-ssim")



def _run(model: nn.Module, fn: Callable[[torch.Tensor], Any], images: torch.Tensor, batch_size: int
         ) -> torch.Tensor:
    """fn over images in batches on the model's device (eval, no_grad); the faces back on the CPU."""
    device = next(model.parameters()).device
    outs = []
    with evaluating(model):
        for start in range(0, images.shape[0], batch_size):
            outs.append(fn(images[start:start + batch_size].to(device)).float())
    return torch.cat(outs).cpu()


def swap_scores(model: nn.Module, world: Any, identity_a: int, identity_b: int, n: int = 64,
                seed: int = HELD_OUT_SEED, *, to: str = "b", distance: Distance = "mse", batch_size: int = 64
                ) -> dict[str, float]:
    """The swap measured against ground truth: frames of identity A decoded through side `to`.

    ssim / mae: against the GT swap (B rendered with A's pose, expression, lighting, framing).
    attribution: fraction of outputs closer (by `distance`) to B's render than to A's at the same factors.
    b_weight: mean `identity_mix` from A's render (0) to B's (1), renders blur-matched to the outputs
    (`fit_blur`, sigma in blur_sigma). Works for any pair: identity_a=a2, identity_b=a1, to="a" asks
    whether side A turns a2's frames into a1. With identity_a == identity_b (a reconstruction) only
    ssim / mae are scored (the others are NaN).
    """
    images, labels = world.sample(identity=identity_a, n=n, seed=seed, size=model.input_size)
    outputs = _run(model, lambda x: model.swap(x, to=to), images, batch_size)
    target_b = world.swap_target(labels, identity_b, size=outputs.shape[-1])
    scores = {"ssim": float(ssim_scores(outputs, target_b).mean()),
              "mae": float((outputs - target_b).abs().mean()), "attribution": float("nan"),
              "b_weight": float("nan"), "blur_sigma": float("nan"), "n": int(n), "distance": distance}
    if identity_a != identity_b:  # else a reconstruction: SSIM / MAE only
        render_a = world.render(identity_a, labels.factors, size=outputs.shape[-1])
        sigma = fit_blur(outputs, render_a, target_b)
        scores.update(attribution=attribution(outputs, target_b, render_a, distance), blur_sigma=sigma,
                      b_weight=float(np.nanmean(identity_mix(outputs, render_a, target_b, sigma))))
    return scores


def leakage(model: nn.Module, world: Any, old_identity: int, new_identity: int, n: int = 64,
            seed: int = HELD_OUT_SEED, *, side: str = "a", distance: Distance = "mse", batch_size: int = 64
            ) -> dict[str, float]:
    """How much of `old_identity` shows in side `side`'s reconstructions of `new_identity` frames.

    leakage: mean `identity_mix` of the outputs against both identities' GT renders at the same factors,
    the renders blurred to the outputs' sharpness first (`fit_blur`; sigma in blur_sigma): 0 = no trace
    of the old identity along the old−new axis, 1 = the old identity's face, α for an α blend. A model
    that never saw the old identity and reproduces the new one gives ≈ 0. closer_to_old: fraction of
    outputs nearer (by `distance`, unblurred renders) the old render than the new one. Reconstruction
    errors that are not a Gaussian blur can still project a little onto the old−new axis, so compare
    with an equally trained model that never saw the old identity.
    """
    images, labels = world.sample(identity=new_identity, n=n, seed=seed, size=model.input_size)
    outputs = _run(model, lambda x: model.decode(model.encode(x), side), images, batch_size)
    render_new = world.render(new_identity, labels.factors, size=outputs.shape[-1])
    render_old = world.render(old_identity, labels.factors, size=outputs.shape[-1])
    sigma = fit_blur(outputs, render_new, render_old)
    mix = identity_mix(outputs, render_new, render_old, sigma)
    d_new = image_distance(outputs, render_new, distance)
    d_old = image_distance(outputs, render_old, distance)
    return {"leakage": float(np.nanmean(mix)), "leakage_median": float(np.nanmedian(mix)),
            "closer_to_old": float(np.mean(d_old < d_new)), "d_new": float(d_new.mean()),
            "d_old": float(d_old.mean()), "blur_sigma": sigma, "n": int(n), "distance": distance}


def verification_auc(X: Any, identity: Any, heldout: Sequence[int], seed: int = 0) -> dict[str, float]:
    """Identity *verification* on identities never used to fit: does the latent generalise an identity code?

    A linear discriminant projection is fitted on the frames of every identity not in ``heldout``
    (scikit-learn's LinearDiscriminantAnalysis, after PCA to at most N/2 dims), then all pairs of frames of
    the ``heldout`` identities are scored by cosine similarity in that space; the ROC AUC of same vs
    different identity is the score (0.5 = chance, 1 = every same pair closer than every different
    pair). Also returned: the AUC of plain cosine similarity of the standardised latents (no fit), and
    the numbers of pairs.

    X (N, D), identity (N,) ints. Raises ValueError with fewer than 2 held-out or 2 fitting identities.
    """
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.metrics import roc_auc_score

    X = np.asarray(X, dtype=np.float64)
    ids = np.asarray(identity)
    held = np.isin(ids, list(heldout))
    fit_ids, held_ids = np.unique(ids[~held]), np.unique(ids[held])
    if len(held_ids) < 2 or len(fit_ids) < 2:
        raise ValueError(f"verification_auc: need ≥ 2 held-out and ≥ 2 fitting identities, got "
                         f"{len(held_ids)} and {len(fit_ids)}")
    mu, sd = X[~held].mean(0), X[~held].std(0) + 1e-12
    Z = (X - mu) / sd
    dims = int(max(1, min(Z.shape[1], (~held).sum() // 2)))
    pca = PCA(n_components=dims, random_state=seed).fit(Z[~held])
    lda = LinearDiscriminantAnalysis().fit(pca.transform(Z[~held]), ids[~held])
    a = np.triu_indices(int(held.sum()), k=1)
    same = (ids[held][:, None] == ids[held][None, :])[a]

    def auc(F: np.ndarray) -> float:
        F = F / (np.linalg.norm(F, axis=1, keepdims=True) + 1e-12)
        return float(roc_auc_score(same, (F @ F.T)[a]))

    return {"auc": auc(lda.transform(pca.transform(Z[held]))), "auc_unfitted": auc(Z[held]),
            "pairs_same": int(same.sum()), "pairs_different": int((~same).sum()),
            "fit_identities": int(len(fit_ids)), "heldout_identities": int(len(held_ids))}


# CKA and weight drift live in similarity.py (one job each); re-exported here, where they first lived
from .similarity import block_cka, cka_matrix, linear_cka, weight_drift  # noqa: E402, F401
