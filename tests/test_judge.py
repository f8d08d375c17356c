"""The swap judge: ground truth passes, the nulls (mean face, copy-A, blend, flat colour, a sibling) fail,
blur is tolerated, pose errors are measured in degrees, and bad input is refused clearly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_msssim import ssim

from phazelab.analysis import SwapJudge, judge_swap, masked_ssim, swap_baselines
from phazelab.analysis.judge import SUMMARY_KEYS, judge_for, success_among
from phazelab.analysis.metrics import HELD_OUT_SEED, gaussian_blur
from phazelab.data.world import FaceWorld

N, SIZE = 32, 64  # 32 frames: the mean face legitimately passes a near-frontal frame or two
A1, B = 0, 1


@pytest.fixture(autouse=True, scope="module")
def _threads(one_thread):
    yield


@pytest.fixture(scope="module")
def world() -> FaceWorld:
    w = FaceWorld(0)
    w.add_sibling(A1, 0.5, seed=0)  # a2, as in the forum study
    return w


@pytest.fixture(scope="module")
def a2(world) -> int:
    return world.n_identities - 1


@pytest.fixture(scope="module")
def frames(world):
    return world.sample(A1, N, seed=HELD_OUT_SEED, size=SIZE)[1]  # labels of A frames


@pytest.fixture(scope="module")
def judge_b(world, frames) -> SwapJudge:
    """pose_of="target" keeps the shared judge cheap (no grids of other identities to render); success
    and identity do not depend on it (a success is judged as the target, whose grid both modes use)."""
    return SwapJudge(world, frames, B, SIZE, pose_of="target")


@pytest.fixture(scope="module")
def truth(world, frames) -> torch.Tensor:
    return world.swap_target(frames, B, size=SIZE)


@pytest.fixture(scope="module")
def baselines(world, frames, a2, judge_b):
    return swap_baselines(world, frames, a2, B, SIZE, judge=judge_b)


def test_ground_truth_passes(judge_b, truth):
    r = judge_b(truth)
    assert set(SUMMARY_KEYS) <= set(r)
    assert r["success"] >= 0.95 and r["id_top1"] == 1.0
    assert r["pose_err_deg"] < 0.5 and r["n"] == N
    assert r["chance"] == pytest.approx(1 / judge_b.k) and judge_b.k >= 30
    assert r["masked_ssim"] == pytest.approx(1.0) and r["blur_px"] == 0.0
    assert (r["frames"]["identity"] == B).all() and (r["frames"]["target_rank"] == 1).all()
    assert r["frames"]["success"].shape == (N,) and r["frames"]["success"].dtype == bool


def test_nulls_fail(baselines):
    assert baselines["truth"]["success"] >= 0.95
    assert baselines["mean_face_b"]["success"] <= 0.1
    assert baselines["mean_face_b"]["pose_err_deg"] > 10  # right colours, no pose
    assert baselines["copy_a"]["success"] <= 0.05 and baselines["copy_a"]["id_top1"] <= 0.05
    assert baselines["blend"]["success"] <= 0.3
    assert baselines["flat_colour"]["success"] <= 0.05
    for name in ("truth_blur_1px", "truth_blur_2px"):
        assert baselines[name]["success"] >= 0.9, name
    assert "frames" not in baselines["truth"]


@pytest.mark.parametrize("sigma", [1.0, 2.0])
def test_blurred_truth_is_identified(judge_b, truth, sigma):
    r = judge_b(gaussian_blur(truth, sigma))
    assert r["id_top1"] >= 0.95 and r["success"] >= 0.9
    assert r["blur_px"] == pytest.approx(sigma, abs=0.05)  # the references are this very blur
    assert (np.abs(r["frames"]["id_sigma"] - sigma) <= 0.75).all()  # matched with a similar blur


@pytest.mark.parametrize("sigma", [0.0, 1.0])
def test_sibling_is_not_the_target(world, frames, a2, sigma):
    few = frames.index(slice(0, 8))
    judge_a1 = judge_for(world, few, A1, SIZE)  # default candidates: a2 is one of the world's identities
    r = judge_a1(gaussian_blur(world.render(a2, few.factors, SIZE), sigma))
    assert r["id_top1"] == 0.0 and r["success"] == 0.0
    assert (r["frames"]["identity"] == a2).all()


def test_default_candidates_include_target_siblings(judge_b, world):
    names = judge_b.names
    assert names[: world.n_identities] == [f"world {i}" for i in range(world.n_identities)]
    for d in ("0.25", "0.5", "0.75"):
        assert any(f"sibling of {B} d={d} " in name for name in names)
    assert len(set(map(tuple, judge_b.world.latent[judge_b.candidates].tolist()))) == judge_b.k  # no duplicates


def test_world_not_mutated(frames):
    w = FaceWorld(3)
    latent = w.latent
    judge = SwapJudge(w, frames.factors.index(slice(0, 2)), 2, 32, n_random=2)
    assert w.n_identities == 8 and torch.equal(w.latent, latent)
    assert judge.world.n_identities > 8


@pytest.mark.parametrize(("d_yaw", "d_pitch"), [(10.0, 0.0), (0.0, -7.0), (-3.0, 0.0), (3.0, -4.0), (10.0, 10.0)])
def test_pose_error_in_degrees(world, frames, judge_b, d_yaw, d_pitch):
    f = frames.factors
    moved = f.with_values(yaw=f.pose[:, 0] + d_yaw, pitch=f.pose[:, 1] + d_pitch)
    r = judge_b(world.render(B, moved, SIZE))
    fr = r["frames"]
    assert r["id_top1"] == 1.0
    if max(abs(d_yaw), abs(d_pitch)) <= 6:  # within the joint patch: both read to a fraction of a degree
        np.testing.assert_allclose(fr["d_yaw"], d_yaw, atol=0.75)
        np.testing.assert_allclose(fr["d_pitch"], d_pitch, atol=0.75)
        assert r["success"] == 1.0
    else:  # beyond it: the larger error is read, or as at least 5°, and no frame is a success
        if d_yaw and not d_pitch:
            np.testing.assert_allclose(fr["d_yaw"], d_yaw, atol=0.6)
            assert r["yaw_err_deg"] == pytest.approx(abs(d_yaw), abs=0.5)
        if d_pitch and not d_yaw:
            np.testing.assert_allclose(fr["d_pitch"], d_pitch, atol=0.6)
        assert (fr["pose_err"] >= 5.0).all() and r["success"] == 0.0


def test_pose_of_judged_or_target(world, frames, a2):
    small = frames.factors.index(slice(0, 4))
    moved = small.with_values(yaw=small.pose[:, 0] + 10)
    copy_a = world.render(a2, moved, SIZE)  # no swap, and turned by 10°
    judged = SwapJudge(world, small, B, SIZE, candidates=[A1, a2])
    target = SwapJudge(world, small, B, SIZE, candidates=[A1, a2], pose_of="target")
    assert judged.k == 3 and judged.chance == pytest.approx(1 / 3)  # the target is added
    r_judged, r_target = judged(copy_a), target(copy_a)
    for r in (r_judged, r_target):
        assert r["id_top1"] == 0.0 and (r["frames"]["identity"] == a2).all() and r["success"] == 0.0
    np.testing.assert_allclose(r_judged["frames"]["d_yaw"], 10.0, atol=0.6)  # against a2's own renders
    assert np.abs(r_target["frames"]["d_yaw"] - 10.0).max() > 1.0  # against B's: another face


def test_success_among_a_set_of_identities(world, frames, a2):
    """Success for a set of accepted identities (the forum study's "side A renders a face": a2 or a1):
    exact renders of either count, a third face does not, nor does a right face at the wrong pose."""
    small = frames.factors.index(slice(0, 6))
    judge = SwapJudge(world, small, a2, SIZE, candidates=[A1, B])
    turned = small.index(slice(4, 6)).with_values(yaw=small.pose[4:6, 0] + 12)
    outputs = torch.cat([world.render(a2, small.index(slice(0, 2)), SIZE),
                         world.render(A1, small.index(slice(2, 4)), SIZE),
                         world.render(a2, turned, SIZE)])  # frames 4–5: a2, but 12° off in yaw
    r = judge(outputs)
    assert r["success"] == pytest.approx(2 / 6)  # only a2 at the right pose is the target's success
    assert success_among(r, (a2, A1)) == pytest.approx(4 / 6)
    assert success_among(r, (a2,)) == pytest.approx(r["success"])
    assert success_among(r, (B,)) == 0.0
    others = judge(world.render(B, small, SIZE))
    assert success_among(others, (a2, A1)) == 0.0 and success_among(others, (B,)) >= 5 / 6


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_other_dtypes_and_layouts(judge_b, truth, dtype):
    x = truth.to(dtype).contiguous(memory_format=torch.channels_last)
    r = judge_b(x)
    assert r["success"] >= 0.95 and r["id_top1"] == 1.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_outputs(world, frames, truth, judge_b):
    r = judge_b(truth.cuda())  # moved to the judge's device
    assert r["success"] >= 0.95
    small = frames.index(slice(0, 4))
    r = judge_swap(world, truth[:4].cuda(), small, B)  # a judge on the outputs' device
    assert r["success"] == 1.0


def test_judge_swap_reuses_its_judge(world, frames, truth):
    small, out = frames.index(slice(0, 3)), truth[:3]
    r1 = judge_swap(world, out, small, B, candidates=[A1, B, 4])
    j1 = judge_for(world, small, B, SIZE, candidates=[A1, B, 4])
    r2 = judge_swap(world, out, small.factors, B, candidates=[A1, B, 4])
    assert judge_for(world, small, B, SIZE, candidates=[A1, B, 4]) is j1
    assert r1["success"] == r2["success"] == 1.0 and r1["k"] == 3
    np.testing.assert_array_equal(r1["frames"]["d_yaw"], r2["frames"]["d_yaw"])
    assert judge_for(world, frames.index(slice(1, 4)), B, SIZE, candidates=[A1, B, 4]) is not j1


def test_bad_input_is_refused(world, frames, judge_b, truth):
    with pytest.raises(ValueError, match=r"shape \[32, 3, 64, 64\]"):
        judge_b(truth[:, :2])
    with pytest.raises(ValueError, match="shape"):
        judge_b(truth[:5])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        judge_b(truth * 2)
    with pytest.raises(ValueError, match="NaN"):
        judge_b(truth.clone().fill_(float("nan")))
    with pytest.raises(ValueError, match="divide by 255"):
        judge_b((truth * 255).to(torch.uint8))
    with pytest.raises(ValueError, match="torch tensor"):
        judge_b(truth.numpy())
    with pytest.raises(ValueError, match="32 frames"):
        judge_swap(world, truth[:4], frames, B)
    with pytest.raises(ValueError, match="H, H"):
        judge_swap(world, truth[..., :32], frames, B)
    with pytest.raises(ValueError, match="identity 99 is not in the world"):
        judge_swap(world, truth, frames, 99)
    with pytest.raises(ValueError, match="identity must be an int"):
        judge_swap(world, truth, frames, "b")
    with pytest.raises(ValueError, match="Labels or Factors"):
        judge_swap(world, truth, frames.to_frame(), B)
    with pytest.raises(ValueError, match="candidates: identity 42"):
        SwapJudge(world, frames, B, SIZE, candidates=[A1, 42])
    with pytest.raises(ValueError, match="judge is for target 1"):
        swap_baselines(world, frames, A1, 2, SIZE, judge=judge_b)


def test_masked_ssim(world, frames, truth):
    x = truth[:4]
    blurred = gaussian_blur(x, 1.0)
    ones = torch.ones_like(x[:, :1])
    torch.testing.assert_close(masked_ssim(x, blurred, ones), ssim(x, blurred, data_range=1, size_average=False))
    # changing only the background leaves the face-masked score (nearly) at 1
    mask = world.face_mask(B, frames.factors.index(slice(0, 4)), SIZE)
    other = torch.where(mask > 0, x, torch.rand(x.shape, generator=torch.Generator().manual_seed(0)))
    masked = masked_ssim(other, x, (mask > 0.99).float())
    assert masked.min() > 0.9
    assert (ssim(other, x, data_range=1, size_average=False) < masked - 0.05).all()
    with pytest.raises(ValueError, match="mask"):
        masked_ssim(x, x, ones[:, :, :10])


def test_quality_gate_names_every_reason():
    from phazelab.analysis.gates import NOT_EVIDENCE, quality_gate

    assert quality_gate(0.9, 0.5)["passed"] is True
    failed = quality_gate(0.3, float("inf"))
    assert not failed["passed"] and failed["verdict"] == NOT_EVIDENCE and len(failed["reasons"]) == 2
    assert "0.30 < 0.8" in failed["reasons"][0] and "blur" in failed["reasons"][1]
    assert quality_gate(0.85)["passed"] and not quality_gate(0.85, 1.5)["passed"]


def test_success_interval_is_wilsons():
    from phazelab.analysis.judge import success_interval

    low, high = success_interval(1.0, 6)
    assert low == pytest.approx(0.610, abs=1e-3) and high == pytest.approx(1.0)  # 6 of 6 bounds little
    low, high = success_interval(0.5, 64)
    assert low < 0.5 < high and high - low < 0.25


def test_the_mean_face_null_is_rendered_once_per_world_and_follows_a_changed_world():
    from phazelab.analysis.judge import _MEAN_FACES, _mean_face

    world = FaceWorld(seed=3, n_identities=3)
    direct = world.render(1, world.sample_factors(16, 7), 32).mean(0, keepdim=True)
    first = _mean_face(world, 1, 32, 16, 7)
    assert torch.equal(first, direct)
    first.zero_()  # a caller's edit never reaches the kept face
    assert torch.equal(_mean_face(world, 1, 32, 16, 7), direct)
    kept = len(_MEAN_FACES)
    _mean_face(world, 1, 32, 16, 7)
    assert len(_MEAN_FACES) == kept  # reused, not rendered again
    world.add_sibling(0, 0.5, seed=1)  # another world: its digest differs, so its mean face is its own
    _mean_face(world, 1, 32, 16, 7)
    assert len(_MEAN_FACES) == kept + 1
