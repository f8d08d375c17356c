"""project(): PCA variance on data with known axes, t-SNE keeps clusters apart, reproducible, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from threadpoolctl import threadpool_limits

from phazelab.analysis.project import Projection, has_umap, project


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Small problems: one BLAS thread is as fast, and far faster on a busy shared CPU."""
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def clusters() -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated Gaussian clusters in 100-D, 40 points each."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    centres = rng.normal(size=(3, 100)) * 4
    return (centres[y] + rng.normal(size=(120, 100))).astype(np.float32), y


def test_pca_explained_variance_of_known_axes():
    rng = np.random.default_rng(1)
    # independent axes with standard deviations 3, 2, 1 (variances 9, 4, 1), rotated into 10-D
    z = rng.normal(size=(20000, 3)) * np.array([3.0, 2.0, 1.0])
    q, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    x = z @ q[:3]
    p = project(x, "pca", dims=2)
    assert isinstance(p, Projection) and p.coords.shape == (20000, 2) and p.backend == "scikit-learn"
    np.testing.assert_allclose(p.explained_variance, [9 / 14, 4 / 14], atol=0.01)
    # the first coordinate is the first hidden axis (up to sign)
    assert abs(np.corrcoef(p.coords[:, 0], z[:, 0])[0, 1]) > 0.99
    assert list(p.frame().columns) == ["pc1", "pc2"]


@pytest.mark.parametrize("backend", ["openTSNE", "scikit-learn"])
def test_tsne_keeps_clusters_apart(clusters, backend):
    x, y = clusters
    kwargs = {"max_iter": 500} if backend == "scikit-learn" else {}
    p = project(x, "tsne", seed=0, backend=backend, perplexity=15, n_jobs=1, **kwargs)
    assert p.coords.shape == (120, 2) and p.backend == backend and p.explained_variance is None
    assert p.pre_pca_dims == 50 and 0 < p.pre_pca_variance <= 1
    acc = cross_val_score(KNeighborsClassifier(5), p.coords, y, cv=4).mean()
    assert acc > 0.95


def test_tsne_is_reproducible_and_3d(clusters):
    x, _ = clusters
    a = project(x[:60], "tsne", dims=3, seed=3, n_jobs=1)
    b = project(x[:60], "tsne", dims=3, seed=3, n_jobs=1)
    assert a.coords.shape == (60, 3)
    np.testing.assert_array_equal(a.coords, b.coords)


@pytest.mark.skipif(has_umap(), reason="umap-learn is installed")
def test_umap_missing_is_a_clear_error(clusters):
    with pytest.raises(ImportError, match="umap-learn"):
        project(clusters[0], "umap")


def test_bad_input():
    x = np.random.default_rng(0).normal(size=(20, 5))
    with pytest.raises(ValueError, match="dims"):
        project(x, dims=4)
    with pytest.raises(ValueError, match="method"):
        project(x, "mds")
    with pytest.raises(TypeError, match="one block"):
        project({"encoder": x})
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        project(bad)
    with pytest.raises(ValueError, match="2-D"):
        project(x[0])
