"""Metrics on constructed data with known answers, and GT-swap / leakage scores with stand-in models."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from threadpoolctl import threadpool_limits
from torch import nn

from phazelab import PhazeA, PhazeAConfig
from phazelab.analysis.metrics import (
    attribution,
    block_cka,
    block_table,
    factor_r2,
    fit_blur,
    gaussian_blur,
    identity_mix,
    identity_probe,
    knn_accuracy,
    latent_table,
    leakage,
    linear_cka,
    silhouette,
    swap_scores,
    weight_drift,
)
from phazelab.data.world import FaceWorld

K, PER = 8, 40  # identities, samples per identity


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """These matrices are small: one BLAS thread is as fast, and far faster on a busy shared CPU."""
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def ids() -> np.ndarray:
    return np.repeat(np.arange(K), PER)


@pytest.fixture(scope="module")
def linear_latents(ids) -> np.ndarray:
    """Identity written linearly into 64 of 128 dims, plus noise of the same size per dim."""
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(K, 64)) * 1.5
    return np.concatenate([codes[ids], np.zeros((len(ids), 64))], 1) + rng.normal(size=(len(ids), 128))


@pytest.fixture(scope="module")
def random_latents(ids) -> np.ndarray:
    return np.random.default_rng(1).normal(size=(len(ids), 128))


# -------------------------------------------------------------------------------------------------
# identity content
def test_probe_knn_silhouette_linear_identity_vs_random(ids, linear_latents, random_latents):
    chance = 1 / K
    probe = identity_probe(linear_latents, ids)
    assert probe["chance"] == pytest.approx(chance) and probe["accuracy"] > 0.95
    assert knn_accuracy(linear_latents, ids)["accuracy"] > 0.95
    sil = silhouette(linear_latents, ids)
    assert sil["silhouette"] > 0.1 > abs(sil["chance"])

    # random latents: within a few standard errors of chance (σ ≈ 0.02 at N = 320)
    assert abs(identity_probe(random_latents, ids)["accuracy"] - chance) < 0.08
    assert abs(knn_accuracy(random_latents, ids)["accuracy"] - chance) < 0.08
    sil = silhouette(random_latents, ids)
    assert abs(sil["silhouette"] - sil["chance"]) < 0.03


def test_chance_is_the_majority_class():
    y = np.array([0] * 30 + [1] * 10)
    X = np.random.default_rng(0).normal(size=(40, 4))
    assert identity_probe(X, y, cv=5)["chance"] == pytest.approx(0.75)


def test_probe_rejects_too_few_samples_per_class():
    with pytest.raises(ValueError, match="cv=5"):
        identity_probe(np.zeros((6, 2)), [0, 0, 0, 1, 1, 1], cv=5)


def test_factor_r2_linear_vs_random():
    rng = np.random.default_rng(2)
    n = 200
    frame = pd.DataFrame({"yaw": rng.uniform(-40, 40, n), "pitch": rng.uniform(-20, 20, n),
                          "smile": rng.uniform(0, 1, n), "mouth_open": rng.uniform(0, 1, n),
                          "roll": np.zeros(n)})
    mixed = frame[["yaw", "pitch", "smile", "mouth_open"]].to_numpy() @ rng.normal(size=(4, 32))
    X = np.concatenate([mixed, rng.normal(size=(n, 32))], 1)
    r2 = factor_r2(X, frame)
    assert set(r2) == {"yaw", "pitch", "smile", "mouth_open"} and min(r2.values()) > 0.95
    r2_random = factor_r2(rng.normal(size=(n, 64)), frame)
    assert max(r2_random.values()) < 0.05
    assert np.isnan(factor_r2(X, frame, columns=("roll",))["roll"])  # a factor that never varies
    with pytest.raises(ValueError, match="not in factors_frame"):
        factor_r2(X, frame, columns=("lighting",))


def test_latent_table_one_row_per_block(ids, linear_latents, random_latents):
    frame = pd.DataFrame({"yaw": np.random.default_rng(3).uniform(-1, 1, len(ids))})
    table = latent_table({"linear": linear_latents, "random": random_latents}, ids, frame, columns=("yaw",),
                         cv=3)
    assert list(table["block"]) == ["linear", "random"]
    assert {"probe_acc", "probe_chance", "knn_acc", "knn_chance", "silhouette", "silhouette_chance",
            "r2_yaw", "r2_chance"} <= set(table.columns)
    assert (table["probe_chance"] == 1 / K).all()
    assert table.loc[0, "probe_acc"] > table.loc[1, "probe_acc"] + 0.5


# -------------------------------------------------------------------------------------------------
# CKA and drift
def test_linear_cka_known_values():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(2000, 32)) @ rng.normal(size=(32, 32))
    q, _ = np.linalg.qr(rng.normal(size=(32, 32)))
    assert linear_cka(X, X) == pytest.approx(1.0, abs=1e-10)
    assert linear_cka(X, 3.0 * X @ q) == pytest.approx(1.0, abs=1e-10)  # orthogonal transform + scale
    assert linear_cka(X, X + 5.0) == pytest.approx(1.0, abs=1e-10)  # centring
    assert linear_cka(X, rng.normal(size=(2000, 32))) < 0.1
    # Gram-matrix branch (fewer samples than features) obeys the same invariances
    Z = rng.normal(size=(30, 100))
    q2, _ = np.linalg.qr(rng.normal(size=(100, 100)))
    assert linear_cka(Z, Z @ q2) == pytest.approx(1.0, abs=1e-10)
    assert linear_cka(Z[:, :20], Z[:, 20:40]) == pytest.approx(linear_cka(Z[:, :20].T.T, Z[:, 20:40]))
    with pytest.raises(ValueError, match="same N"):
        linear_cka(X, X[:10])


def test_cka_branches_agree():
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(40, 30)), rng.normal(size=(40, 30))
    X_wide = np.concatenate([X, np.zeros((40, 30))], 1)  # same representation, forces the Gram branch
    assert linear_cka(X_wide, Y) == pytest.approx(linear_cka(X, Y), rel=1e-9)


class _Blocks(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleDict({"encoder": nn.Linear(4, 4), "fc_a": nn.Linear(4, 2)})


def test_weight_drift_relative_norm():
    before = _Blocks()
    after = copy.deepcopy(before)
    with torch.no_grad():
        for p in after.blocks["fc_a"].parameters():
            p.mul_(1.1)  # every parameter moves by 10 % of itself
    drift = weight_drift(before, after)
    assert drift["encoder"] == 0.0
    assert drift["fc_a"] == pytest.approx(0.1, rel=1e-6)
    bigger = _Blocks()
    bigger.blocks["fc_a"] = nn.Linear(4, 3)
    with pytest.raises(ValueError, match="fc_a"):
        weight_drift(before, bigger)


def test_block_cka_same_model_is_one_and_other_init_is_less():
    cfg = PhazeAConfig.preset("lab-tiny")
    torch.manual_seed(0)
    m1 = PhazeA(cfg)
    torch.manual_seed(1)
    m2 = PhazeA(cfg)
    x = torch.rand(12, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    same = block_cka(m1, m1, x, ["encoder", "fc_gblock"])
    assert same == pytest.approx({"encoder": 1.0, "fc_gblock": 1.0}, abs=1e-6)
    other = block_cka(m1, m2, x, ["encoder"])
    assert 0.0 <= other["encoder"] < 0.999


# -------------------------------------------------------------------------------------------------
# image-level scores against the face world's ground truth
@pytest.fixture(scope="module")
def world() -> FaceWorld:
    w = FaceWorld(seed=0, n_identities=4)
    sibling = w.add_sibling(of=0, distance=0.2, seed=1)  # a near-copy of 0, the hard case for leakage
    assert sibling == 4
    return w


def test_attribution_on_ground_truth_renders(world):
    images, labels = world.sample(identity=1, n=6, seed=7, size=64)
    render_b = world.swap_target(labels, 2, size=64)
    for distance in ("mse", "1-ssim"):
        assert attribution(render_b, render_b, images, distance) == 1.0   # B's own render reads as B
        assert attribution(images, render_b, images, distance) == 0.0    # A's render reads as A
    # also for two close identities (0 and its sibling 4)
    sib, labels0 = world.swap_target(labels, 4, size=64), labels
    a0 = world.render(0, labels0.factors, size=64)
    assert attribution(sib, sib, a0) == 1.0 and attribution(a0, sib, a0) == 0.0


def test_gaussian_blur_known_answers():
    delta = torch.zeros(1, 1, 41, 41)
    delta[0, 0, 20, 20] = 1.0
    k = gaussian_blur(delta.double(), 2.0)[0, 0]
    assert k.sum().item() == pytest.approx(1.0)
    offsets = torch.arange(41, dtype=torch.float64) - 20
    assert (k.sum(0) * offsets ** 2).sum().item() == pytest.approx(4.0, rel=0.02)  # variance = sigma²
    flat = torch.full((2, 3, 16, 16), 0.3)
    assert torch.allclose(gaussian_blur(flat, 3.0), flat)  # constants survive, borders included


def test_identity_mix_recovers_blend_weight_even_when_blurred(world):
    _, labels = world.sample(identity=0, n=8, seed=8, size=64)
    new, old = world.render(0, labels.factors, 64), world.render(4, labels.factors, 64)
    for alpha in (0.0, 0.3, 1.0):
        blend = (1 - alpha) * new + alpha * old
        np.testing.assert_allclose(identity_mix(blend, new, old), alpha, atol=1e-6)
        blurred = gaussian_blur(blend, 1.5)
        sigma = fit_blur(blurred, new, old)
        assert sigma == pytest.approx(1.5, abs=0.3)
        assert np.mean(identity_mix(blurred, new, old, sigma)) == pytest.approx(alpha, abs=0.06)


class _StandIn(nn.Module):
    """A 'model' whose side-A reconstruction and swap are given functions of the input frames."""

    input_size = output_size = 64

    def __init__(self, recon, swap=None) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))  # so the model has a device
        self._recon, self._swap = recon, swap

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def decode(self, z: torch.Tensor, side: str) -> torch.Tensor:
        assert side == "a"
        return self._recon(z)

    def swap(self, x: torch.Tensor, to: str = "b") -> torch.Tensor:
        return self._swap(x)


def _lookup(world: FaceWorld, identity_in: int, identity_out: int, n: int, seed: int):
    """Input frame (found by exact match among the world's frames for `seed`) -> a render of
    `identity_out` at that frame's factors: a stand-in that 'knows' the pose perfectly."""
    inputs, labels = world.sample(identity=identity_in, n=n, seed=seed, size=64)
    outputs = world.render(identity_out, labels.factors, 64)

    def fn(x: torch.Tensor) -> torch.Tensor:
        idx = torch.cdist(x.flatten(1), inputs.flatten(1)).argmin(1)
        return outputs[idx]

    return fn


@pytest.mark.parametrize("old", [1, 4])  # a distinct identity, and a near sibling of the new one
def test_leakage_of_a_model_that_never_saw_old_is_zero(world, old):
    new, n, seed = 0, 8, 11
    # The ideal a2 model: reproduces a2's frames exactly (an identity autoencoder on a2); it has no
    # parameters that could hold a1.
    ideal = leakage(_StandIn(lambda x: x), world, old_identity=old, new_identity=new, n=n, seed=seed)
    assert ideal["leakage"] == pytest.approx(0.0, abs=1e-6) and ideal["closer_to_old"] == 0.0
    # A realistic imperfect a2 model: blurry reconstructions of a2, still no a1 in it.
    blurry = leakage(_StandIn(lambda x: gaussian_blur(x, 1.2)), world, old, new, n=n, seed=seed)
    assert abs(blurry["leakage"]) < 0.1
    # Controls that must score high: outputs that are a1, or 30 % a1.
    to_old = _lookup(world, new, old, n, seed)
    full = leakage(_StandIn(to_old), world, old, new, n=n, seed=seed)
    assert full["leakage"] == pytest.approx(1.0, abs=1e-6) and full["closer_to_old"] == 1.0
    part = leakage(_StandIn(lambda x: gaussian_blur(0.7 * x + 0.3 * to_old(x), 1.2)), world, old, new,
                   n=n, seed=seed)
    assert part["leakage"] == pytest.approx(0.3, abs=0.08)


def test_swap_scores_with_perfect_and_no_swap(world):
    a, b, n, seed = 1, 2, 6, 13
    perfect = swap_scores(_StandIn(None, _lookup(world, a, b, n, seed)), world, a, b, n=n, seed=seed)
    assert perfect["ssim"] == pytest.approx(1.0, abs=1e-4) and perfect["mae"] == pytest.approx(0.0, abs=1e-6)
    assert perfect["attribution"] == 1.0 and perfect["b_weight"] == pytest.approx(1.0, abs=1e-6)
    unchanged = swap_scores(_StandIn(None, lambda x: x), world, a, b, n=n, seed=seed)
    assert unchanged["attribution"] == 0.0 and unchanged["b_weight"] == pytest.approx(0.0, abs=1e-6)
    assert unchanged["ssim"] < perfect["ssim"] and unchanged["mae"] > 0.01


def test_block_table_on_world_frames(world):
    torch.manual_seed(0)
    model = PhazeA(PhazeAConfig.preset("lab-tiny"))
    table = block_table(model, world, [0, 1], n=6, blocks=["encoder", "fc_gblock"], cv=2, k=3)
    assert list(table["block"]) == ["encoder", "fc_gblock"] and (table["side"] == "a").all()
    assert (table["probe_chance"] == 0.5).all() and table["probe_acc"].between(0, 1).all()
    assert {"r2_yaw", "r2_pitch", "r2_smile", "r2_mouth_open", "dims", "reduction"} <= set(table.columns)
    assert (table["kind"] == "model").all() and "probe_std" in table.columns


def test_block_table_prints_its_nulls_on_the_same_frames(world, capsys):
    """Pixels, pooled pixels, mean colour and untrained copies of every block sit beside the model's rows."""
    model = PhazeA(PhazeAConfig.preset("lab-tiny"), seed=0)
    table = block_table(model, world, [0, 1, 2], n=6, blocks=["encoder"], cv=2, k=3, baselines=True,
                        untrained_seeds=(7,), progress="lab-tiny")
    bars = capsys.readouterr().err  # every bar names the table's model (04 computes two in a row)
    for what in ("probes: model", "probes: pixel baselines", "probes: untrained seed 7"):  # (6 frames: no latents bar)
        assert f"lab-tiny · {what}" in bars, what
    kinds = dict(zip(table["block"] + " / " + table["kind"], table["dims"], strict=True))
    assert kinds["encoder / model"] == kinds["encoder / untrained (seed 7)"]
    assert kinds["pixels pooled 4×4 / baseline"] == 48 and kinds["mean colour / baseline"] == 3
    assert kinds["pixels (raw) / baseline"] == 3 * model.input_size ** 2
    # the untrained encoder of the same config differs from the model's (another seed), so its row can differ
    assert table["probe_acc"].between(0, 1).all() and len(table) == 5


# -- scores that cannot be computed say why (issue 17.4) ---------------------------------------------
@pytest.mark.parametrize(("per_identity", "cv"), [(2, 2), (3, 3), (4, 2), (5, 5), (6, 5)])
def test_knn_on_few_frames_per_identity_is_a_number_with_the_k_used(per_identity, cv):
    rng = np.random.default_rng(per_identity)
    y = np.repeat(np.arange(3), per_identity)
    X = rng.normal(size=(3, 8))[y] * 3 + rng.normal(size=(len(y), 8))
    out = knn_accuracy(X, y, k=5, cv=cv)
    assert np.isfinite(out["accuracy"]) and 0 <= out["accuracy"] <= 1
    n_train = len(y) - -(-len(y) // cv)  # the smallest training fold
    assert out["k"] == min(5, n_train)
    assert ("k_requested" in out) == (n_train < 5)


def test_latent_table_gives_a_number_or_a_visible_reason():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 2)  # 2 frames per identity, 2 folds: 3 training frames per fold
    frame = pd.DataFrame({"yaw": rng.normal(size=6), "smile": np.zeros(6)})
    X = rng.normal(size=(3, 6))[y] + rng.normal(size=(6, 6)) * 0.1
    table = latent_table({"enc": X, "constant": np.ones_like(X)}, y, frame, columns=("yaw", "smile"), cv=2)
    for _, row in table.iterrows():
        for col in ("probe_acc", "knn_acc", "silhouette", "r2_yaw", "r2_smile"):
            if not np.isfinite(row[col]):
                assert col.split("_")[0] in row["notes"] or col in row["notes"], (col, row["notes"])
    enc = table.iloc[0]
    assert np.isfinite(enc["knn_acc"]) and enc["knn_k"] == 3 and "k lowered from 5 to 3" in enc["notes"]
    assert "r2_smile: smile does not vary" in enc["notes"] and enc["cv"] == 2
    assert "same latent" in table.iloc[1]["notes"] and "same latent" not in enc["notes"]


def test_debiased_cka_is_zero_for_unrelated_and_one_for_rotations():
    """The plain estimate reads ~0.9 for unrelated wide representations at small N; the debiased one ~0."""
    from phazelab.analysis.metrics import linear_cka

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 512)), rng.normal(size=(64, 512))
    assert linear_cka(x, y) > 0.5  # the biased estimator's null is far from 0 here
    assert abs(linear_cka(x, y, debiased=True)) < 0.05
    q, _ = np.linalg.qr(rng.normal(size=(512, 512)))
    assert linear_cka(x, x @ q * 3.0, debiased=True) == pytest.approx(1.0, abs=1e-9)
    z = rng.normal(size=(256, 8))
    padded = np.hstack([z, rng.normal(size=(256, 8)) * 1e-6])
    assert linear_cka(z, padded, debiased=True) == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(ValueError, match="N ≥ 4"):
        linear_cka(x[:3], y[:3], debiased=True)


def test_verification_auc_separates_a_generalising_code_from_noise():
    """A latent that is a linear function of an identity vector (plus noise) verifies identities it was
    never fitted on; pure noise sits at chance."""
    from phazelab.analysis.metrics import verification_auc

    rng = np.random.default_rng(0)
    n_ids, per = 24, 8
    ids = np.repeat(np.arange(n_ids), per)
    code = rng.normal(size=(n_ids, 6))[ids]
    W = rng.normal(size=(6, 40))
    good = code @ W + 0.3 * rng.normal(size=(len(ids), 40))
    noise = rng.normal(size=(len(ids), 40))
    held = list(range(16, 24))
    r = verification_auc(good, ids, held)
    assert r["auc"] > 0.9 and r["heldout_identities"] == 8 and r["pairs_same"] == 8 * per * (per - 1) // 2
    assert abs(verification_auc(noise, ids, held)["auc"] - 0.5) < 0.1
    with pytest.raises(ValueError, match="held-out"):
        verification_auc(good, ids, [0])


def test_latent_table_progress_ticks_per_factor_and_names_the_running_score(ids, linear_latents, capsys):
    frame = pd.DataFrame({"yaw": np.linspace(-1, 1, len(ids)), "smile": np.cos(np.arange(len(ids)))})
    latent_table({"enc": linear_latents}, ids, frame, columns=("yaw", "smile"), cv=2, progress="probes")
    err = capsys.readouterr().err
    assert "5/5" in err  # probe, kNN, silhouette and one tick per factor's R²
    assert "enc: R² of smile…" in err  # the bar names the score it is computing, not the last one done
