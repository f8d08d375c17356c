"""2-D / 3-D maps of latents: PCA (scikit-learn), t-SNE (openTSNE, else scikit-learn), UMAP (umap-learn).

t-SNE and UMAP first reduce to `pca_dims` dimensions with PCA: the neighbour search is then cheap and
noise directions are dropped, which is the usual practice and what makes a 2,000-point map take seconds.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA
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

    def frame(self, prefix: str | None = None) -> pd.DataFrame:
        """Coordinates as columns (e.g. pc1, pc2 / tsne1, tsne2), row i = latent i."""
        prefix = prefix or {"pca": "pc"}.get(self.method, self.method)
        return pd.DataFrame(self.coords, columns=[f"{prefix}{i + 1}" for i in range(self.dims)])


def has_opentsne() -> bool:
    return importlib.util.find_spec("openTSNE") is not None


def has_umap() -> bool:
    return importlib.util.find_spec("umap") is not None


def _as_matrix(latents: Any) -> np.ndarray:
    if isinstance(latents, dict):
        raise TypeError("project: pass one block's (N, D) array, e.g. project(lat['encoder']), not the dict")
    if isinstance(latents, torch.Tensor):
        latents = latents.detach().cpu().numpy()
    x = np.asarray(latents, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"project: latents must be a 2-D (N, D) array, got shape {list(x.shape)}")
    if x.shape[0] < 3:
        raise ValueError(f"project: need at least 3 latents to map, got {x.shape[0]}")
    if not np.isfinite(x).all():
        raise ValueError("project: latents contain NaN or inf")
    return x


def _pre_pca(x: np.ndarray, pca_dims: int | None, seed: int) -> tuple[np.ndarray, int | None, float | None]:
    if pca_dims is None or x.shape[1] <= pca_dims:
        return x, None, None
    k = min(pca_dims, x.shape[0])
    # randomized SVD: the top components of a 2,000 x 1,024 matrix in a tenth of the time of a full one
    pca = PCA(n_components=k, random_state=seed, svd_solver="randomized" if k < min(x.shape) else "auto")
    return pca.fit_transform(x).astype(np.float32), k, float(pca.explained_variance_ratio_.sum())


def _tsne(x: np.ndarray, dims: int, seed: int, perplexity: float, backend: str, n_jobs: int,
          **kwargs: Any) -> tuple[np.ndarray, str]:
    # perplexity must stay below the number of neighbours there are; shrink it for small sets
    perplexity = float(min(perplexity, max(1.0, (x.shape[0] - 1) / 3)))
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
    x = _as_matrix(latents)
    start = time.perf_counter()
    if method == "pca":
        k = min(dims, *x.shape)
        pca = PCA(n_components=k, random_state=seed)
        coords = pca.fit_transform(x).astype(np.float32)
        if k < dims:  # fewer features than asked dimensions: pad so callers always get (N, dims)
            coords = np.pad(coords, ((0, 0), (0, dims - k)))
        ratio = np.pad(pca.explained_variance_ratio_, (0, dims - k))
        return Projection(coords, "pca", "scikit-learn", dims, ratio.astype(np.float64),
                          seconds=time.perf_counter() - start, params={"seed": seed})
    if method == "tsne":
        z, k, kept = _pre_pca(x, pca_dims, seed)
        coords, used = _tsne(z, dims, seed, perplexity, backend, n_jobs, **kwargs)
        return Projection(coords, "tsne", used, dims, None, k, kept, time.perf_counter() - start,
                          {"seed": seed, "perplexity": perplexity, "n_jobs": n_jobs, **kwargs})
    if method == "umap":
        if not has_umap():
            raise ImportError("project: method='umap' needs umap-learn, which is not installed "
                              "(pip install umap-learn); use method='pca' or 'tsne'")
        import umap

        z, k, kept = _pre_pca(x, pca_dims, seed)
        coords = umap.UMAP(n_components=dims, random_state=seed, **kwargs).fit_transform(z)
        return Projection(np.asarray(coords, dtype=np.float32), "umap", "umap-learn", dims, None, k, kept,
                          time.perf_counter() - start, {"seed": seed, **kwargs})
    raise ValueError(f"project: method must be 'pca', 'tsne' or 'umap', got {method!r}")
