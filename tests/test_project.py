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


# -- degenerate latents (issue 17.2) and the record of what was run (17.3) -----------------------------
def _degenerate_cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    frame = rng.normal(size=(1, 24))
    return {
        "40 copies of one frame": np.repeat(frame, 40, axis=0),
        "constant array": np.full((30, 8), 3.0),
        "all zeros": np.zeros((25, 64)),
        "copies plus float32 rounding noise": np.repeat(frame, 40, axis=0) * (1 + rng.normal(size=(40, 24)) * 1e-9),
        "two distinct frames": np.repeat(rng.normal(size=(2, 24)), 15, axis=0),
        "three distinct frames": np.repeat(rng.normal(size=(3, 24)), 10, axis=0),
        "huge values": rng.normal(size=(30, 16)) * 1e30,
        "tiny values": rng.normal(size=(30, 16)) * 1e-30,
        "four points": rng.normal(size=(4, 16)),
    }


@pytest.mark.parametrize("method", ["pca", "tsne"])
@pytest.mark.parametrize("case", list(_degenerate_cases()))
def test_degenerate_latents_give_a_finite_correct_map_or_a_clear_error(case, method):
    x = _degenerate_cases()[case]
    p = project(x, method, backend="scikit-learn" if method == "tsne" else "auto")
    assert p.coords.shape == (x.shape[0], 2) and np.isfinite(p.coords).all()
    distinct = np.unique(x.astype(np.float32), axis=0).shape[0]
    identical = case in ("40 copies of one frame", "constant array", "all zeros",
                         "copies plus float32 rounding noise")
    if identical:
        assert not p.coords.any() and "identical" in p.note
        if method == "pca":  # zero variance: nothing is explained, not 100 %
            assert p.explained_variance.tolist() == [0.0, 0.0]
    elif distinct < x.shape[0]:  # repeats share their point: no invented structure among copies
        groups = {}
        for row, point in zip(map(bytes, x.astype(np.float32)), map(tuple, p.coords), strict=True):
            groups.setdefault(row, set()).add(point)
        assert all(len(points) == 1 for points in groups.values())
        assert len({tuple(c) for c in p.coords}) == distinct
    if method == "pca" and not identical:
        assert np.isfinite(p.explained_variance).all() and p.explained_variance.sum() <= 1 + 1e-9


def test_nan_and_inf_latents_are_refused_by_row():
    x = np.random.default_rng(0).normal(size=(20, 8))
    x[3, 1], x[7, 0] = np.nan, np.inf
    for method in ("pca", "tsne"):
        with pytest.raises(ValueError, match=r"2 of 20 latents contain NaN or inf \(rows 3, 7\)"):
            project(x, method)


@pytest.mark.parametrize("backend", ["scikit-learn", "openTSNE"])
def test_constant_latents_never_crash_the_process(backend):
    """scikit-learn's t-SNE segfaults (exit 139, a dead notebook kernel) on a constant array: run it in a
    child process so a crash fails this test instead of killing the test run."""
    import subprocess
    import sys

    code = ("import numpy as np; from phazelab.analysis.project import project; "
            f"p = project(np.zeros((40, 16)), 'tsne', backend={backend!r}); "
            "assert np.isfinite(p.coords).all(); print('ok', p.note)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "identical" in done.stdout, done.stderr[-2000:]


def test_params_record_the_perplexity_actually_used():
    x = np.random.default_rng(0).normal(size=(10, 8))
    p = project(x, "tsne", backend="scikit-learn")
    assert p.params["perplexity"] == 3.0 and p.params["perplexity_requested"] == 30.0
    big = np.random.default_rng(0).normal(size=(120, 8))
    q = project(big, "tsne", backend="scikit-learn", perplexity=20)
    assert q.params["perplexity"] == 20.0 and "perplexity_requested" not in q.params
    # repeats are mapped once, and the perplexity follows the distinct count
    r = project(np.repeat(x, 4, axis=0), "tsne", backend="scikit-learn")
    assert r.params["n_distinct"] == 10 and r.params["perplexity"] == 3.0
    # PCA with fewer features than dims says how many components there really are
    s = project(np.random.default_rng(1).normal(size=(12, 1)), "pca", dims=2)
    assert s.params["components"] == 1 and s.explained_variance.tolist()[1] == 0.0
