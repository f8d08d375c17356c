"""2-D / 3-D maps of latents: PCA (scikit-learn), t-SNE (openTSNE, else scikit-learn), UMAP (umap-learn).

t-SNE and UMAP first reduce to `pca_dims` dimensions with PCA: the neighbour search is then cheap and
noise directions are dropped, which is the usual practice and what makes a 2,000-point map take seconds.

Degenerate latents are handled before any library sees them (scikit-learn's t-SNE crashes the process on
a constant array; openTSNE returns NaN; float32 PCA reports 100 % of zero variance): the latents are
centred and scaled in float64 first (t-SNE's affinities and PCA's variance ratios do not depend on the
scale), identical latents (within float32 resolution) are mapped once and share their coordinates, and a
set with a single distinct latent maps to the origin with a note saying so. NaN / inf raise a ValueError.
`Projection.params` records what was run (e.g. the perplexity actually used).
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

Method = Literal["pca", "tsne", "umap"]


@dataclass
class Projection:
    """Coordinates of a map plus what produced it."""

    coords: np.ndarray                      # (N, dims) float32
    method: str                             # "pca" | "tsne" | "umap"
    backend: str                            # "scikit-learn" | "openTSNE" | "umap-learn"
    dims: int
    explained_variance: np.ndarray | None   # PCA: fraction of variance per component (None otherwise)
    pre_pca_dims: int | None = None         # t-SNE / UMAP: PCA dimensions fed to the method
    pre_pca_variance: float | None = None   # ...and the fraction of variance those keep
    seconds: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    note: str = ""                          # why the map is degenerate ("" for a normal map)

    def frame(self, prefix: str | None = None) -> pd.DataFrame:
        """Coordinates as columns (e.g. pc1, pc2 / tsne1, tsne2), row i = latent i."""
        prefix = prefix or {"pca": "pc"}.get(self.method, self.method)
        return pd.DataFrame(self.coords, columns=[f"{prefix}{i + 1}" for i in range(self.dims)])


def has_opentsne() -> bool:
    return importlib.util.find_spec("openTSNE") is not None


def has_umap() -> bool:
    return importlib.util.find_spec("umap") is not None


def _as_matrix(latents: Any) -> np.ndarray:
    """(N, D) float64 (so large or tiny latents neither overflow nor underflow before scaling)."""
    if isinstance(latents, dict):
        raise TypeError("project: pass one block's (N, D) array, e.g. project(lat['encoder']), not the dict")
    if isinstance(latents, torch.Tensor):
        latents = latents.detach().cpu().double().numpy()
    x = np.asarray(latents, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"project: latents must be a 2-D (N, D) array, got shape {list(x.shape)}")
    if x.shape[0] < 3:
        raise ValueError(f"project: need at least 3 latents to map, got {x.shape[0]}")
    if x.shape[1] < 1:
        raise ValueError(f"project: latents have 0 features (shape {list(x.shape)})")
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        shown = ", ".join(map(str, rows[:8])) + (", ..." if len(rows) > 8 else "")
        raise ValueError(f"project: {len(rows)} of {x.shape[0]} latents contain NaN or inf (rows {shown}); "
                         "a map of them would be meaningless: drop those rows or check the model (a "
                         "diverged model gives non-finite latents)")
    return x


@dataclass
class _Prepared:
    """Latents centred and scaled to a unit max deviation, with their distinct rows."""

    z: np.ndarray          # (N, D) float32, centred, max |z| = 1 (zeros when degenerate)
    unique: np.ndarray     # (U, D) float32 distinct rows of z
    inverse: np.ndarray    # (N,) index into unique for every row
    spread: float          # max |x - mean| in the latents' own units (0 when all identical)


def _prepare(x: np.ndarray) -> _Prepared:
    centred = x - x.mean(axis=0, keepdims=True)
    spread = float(np.abs(centred).max())
    magnitude = float(np.abs(x).max())
    # differences below ~10 float32 ulps of the values are rounding, not structure
    if spread == 0.0 or spread <= 1e-6 * magnitude:
        z = np.zeros(x.shape, dtype=np.float32)
        spread = 0.0
    else:
        z = (centred / spread).astype(np.float32)
    unique, inverse = np.unique(z, axis=0, return_inverse=True)
    return _Prepared(z, unique, inverse.reshape(-1), spread)


def _pre_pca(x: np.ndarray, pca_dims: int | None, seed: int) -> tuple[np.ndarray, int | None, float | None]:
    from sklearn.decomposition import PCA  # imported where used (a second of the lab's first cell)

    if pca_dims is None or x.shape[1] <= pca_dims:
        return x, None, None
    k = min(pca_dims, x.shape[0])
    # randomized SVD: the top components of a 2,000 x 1,024 matrix in a tenth of the time of a full one
    pca = PCA(n_components=k, random_state=seed, svd_solver="randomized" if k < min(x.shape) else "auto")
    return pca.fit_transform(x).astype(np.float32), k, float(pca.explained_variance_ratio_.sum())


def tsne_perplexity(perplexity: float, n: int) -> float:
    """The perplexity t-SNE runs with on `n` points: the requested one, lowered to (n − 1) / 3 (at least
    1) on small sets, since it must stay below the number of neighbours there are."""
    return float(min(perplexity, max(1.0, (n - 1) / 3)))


def _tsne(x: np.ndarray, dims: int, seed: int, perplexity: float, backend: str, n_jobs: int,
          **kwargs: Any) -> tuple[np.ndarray, str]:
    """t-SNE of distinct, finite, scaled points (the caller guarantees all three); perplexity as used."""
    if backend == "auto":
        backend = "openTSNE" if has_opentsne() else "scikit-learn"
    if backend == "openTSNE":
        if not has_opentsne():
            raise ImportError("project: backend='openTSNE' but openTSNE is not installed "
                              "(pip install openTSNE)")
        import openTSNE

        emb = openTSNE.TSNE(n_components=dims, perplexity=perplexity, random_state=seed, n_jobs=n_jobs,
                            verbose=False, **kwargs).fit(x)
        return np.asarray(emb, dtype=np.float32), "openTSNE"
    if backend == "scikit-learn":
        from sklearn.manifold import TSNE

        emb = TSNE(n_components=dims, perplexity=perplexity, init="pca", random_state=seed, n_jobs=n_jobs,
                   **kwargs).fit_transform(x)
        return emb.astype(np.float32), "scikit-learn"
    raise ValueError(f"project: backend must be 'auto', 'openTSNE' or 'scikit-learn', got {backend!r}")


def project(latents: np.ndarray | torch.Tensor, method: Method = "pca", dims: int = 2, seed: int = 0, *,
            pca_dims: int | None = 50, perplexity: float = 30.0, backend: str = "auto", n_jobs: int = 1,
            **kwargs: Any) -> Projection:
    """Map (N, D) latents to (N, dims) coordinates.

    method "pca": scikit-learn PCA, with explained variance per component. "tsne": openTSNE when
    installed (faster), else scikit-learn (`backend` forces one), after PCA to `pca_dims`. "umap":
    umap-learn if installed (else ImportError), after PCA to `pca_dims`. Extra keyword arguments go to
    the t-SNE / UMAP constructor. Same inputs and seed give the same map.

    n_jobs: threads for everything inside (BLAS for PCA, the t-SNE workers); -1 or None = all. The
    default 1 is measured, not assumed: on the 2-core shared lab CPU, two BLAS / t-SNE threads ran 2-20x
    slower than one whenever anything else was running (bench/RESULTS.md, "t-SNE projection").
    """
    with threadpool_limits(limits=None if n_jobs in (None, -1) else int(n_jobs)):
        return _project(latents, method, dims, seed, pca_dims, perplexity, backend,
                        -1 if n_jobs is None else n_jobs, **kwargs)


def _project(latents: Any, method: str, dims: int, seed: int, pca_dims: int | None, perplexity: float,
             backend: str, n_jobs: int, **kwargs: Any) -> Projection:
    if dims not in (2, 3):
        raise ValueError(f"project: dims must be 2 or 3, got {dims!r}")
    if pca_dims is not None and pca_dims < dims:
        raise ValueError(f"project: pca_dims must be >= dims ({dims}) or None, got {pca_dims!r}")
    if method not in ("pca", "tsne", "umap"):
        raise ValueError(f"project: method must be 'pca', 'tsne' or 'umap', got {method!r}")
    if method == "umap" and not has_umap():
        raise ImportError("project: method='umap' needs umap-learn, which is not installed "
                          "(pip install umap-learn); use method='pca' or 'tsne'")
    x = _as_matrix(latents)
    start = time.perf_counter()
    prep = _prepare(x)
    n, n_distinct = x.shape[0], prep.unique.shape[0]
    if n_distinct == 1:  # every latent is the same: the one correct map puts them all at one point
        return Projection(np.zeros((n, dims), np.float32), method, "none", dims,
                          np.zeros(dims) if method == "pca" else None, seconds=time.perf_counter() - start,
                          params={"seed": seed, "n_distinct": 1},
                          note=f"all {n} latents are identical (zero variance): every point is at the origin "
                               "and no direction explains anything")
    if method == "pca":
        return _pca(prep, dims, seed, start)
    params: dict[str, Any] = {"seed": seed}
    note = ""
    if n_distinct < n:
        params["n_distinct"] = n_distinct
        note = (f"{n - n_distinct} of {n} latents repeat another one exactly; repeats share their point "
                f"(the map is of the {n_distinct} distinct latents)")
    if n_distinct == 2:  # nothing to embed but the one distance: the two points on the first axis
        coords = np.zeros((2, dims), np.float32)
        coords[:, 0] = (-1.0, 1.0)
        note = (f"only 2 distinct latents among {n}: the map is two points (at ±1 on the first axis); "
                + note).rstrip("; ")
        return Projection(coords[prep.inverse], method, "none", dims, None, seconds=time.perf_counter() - start,
                          params=params, note=note)
    z, k, kept = _pre_pca(prep.unique, pca_dims, seed)
    if method == "tsne":
        used = tsne_perplexity(perplexity, n_distinct)
        coords, backend_used = _tsne(z, dims, seed, used, backend, n_jobs, **kwargs)
        params.update(perplexity=used, n_jobs=n_jobs, **kwargs)
        if used != float(perplexity):
            params["perplexity_requested"] = float(perplexity)
    else:
        import umap

        neighbours = int(kwargs.pop("n_neighbors", 15))
        used_neighbours = max(2, min(neighbours, n_distinct - 1))
        coords = umap.UMAP(n_components=dims, random_state=seed, n_neighbors=used_neighbours,
                           **kwargs).fit_transform(z)
        backend_used = "umap-learn"
        params.update(n_neighbors=used_neighbours, **kwargs)
        if used_neighbours != neighbours:
            params["n_neighbors_requested"] = neighbours
    coords = np.asarray(coords, dtype=np.float32)[prep.inverse]
    if not np.isfinite(coords).all():
        raise ValueError(f"project: {backend_used} returned non-finite coordinates for these {n} latents "
                         f"({n_distinct} distinct); try method='pca'")
    return Projection(coords, method, backend_used, dims, None, k, kept, time.perf_counter() - start, params,
                      note=note)


def _pca(prep: _Prepared, dims: int, seed: int, start: float) -> Projection:
    """PCA in float64 on the scaled latents, coordinates back in the latents' own units."""
    from sklearn.decomposition import PCA

    z = prep.z.astype(np.float64)
    k = min(dims, *z.shape)
    pca = PCA(n_components=k, random_state=seed).fit(z)
    coords = pca.transform(prep.unique.astype(np.float64))[prep.inverse] * prep.spread  # repeats: one point
    params: dict[str, Any] = {"seed": seed}
    if k < dims:  # fewer features (or points) than asked dimensions: pad so callers always get (N, dims)
        coords = np.pad(coords, ((0, 0), (0, dims - k)))
        params["components"] = k
    ratio = np.pad(pca.explained_variance_ratio_, (0, dims - k))
    coords32 = coords.astype(np.float32)
    if not np.isfinite(coords32).all():
        raise ValueError("project: the PCA coordinates exceed float32's range (latents around "
                         f"{prep.spread:.3g}); scale the latents down first")
    return Projection(coords32, "pca", "scikit-learn", dims, ratio.astype(np.float64),
                      seconds=time.perf_counter() - start, params=params)
