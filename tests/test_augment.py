"""Augmentation: shapes and ranges, determinism, the target stays un-warped, each transform does what
faceswap's does, LAB colour and CLAHE."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from phazelab.data import AugmentConfig, FaceWorld, augment, preview_pairs
from phazelab.data.augment import clahe, clahe_per_image, lab_jitter, lab_to_rgb, rgb_to_lab, warp_field

augment_module = importlib.import_module("phazelab.data.augment")  # the name `augment` is the function


@pytest.fixture(scope="module")
def faces() -> torch.Tensor:
    images, _ = FaceWorld(seed=0).sample([0, 1, 2, 3], 2, seed=1, size=96)
    return images


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _resized(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def _dot_image(n: int, size: int, x: float, y: float) -> torch.Tensor:
    """A gaussian blob at normalised (x right, y down) on black: its centroid tracks the geometry."""
    coords = (torch.arange(size) + 0.5) / size * 2 - 1
    g = torch.exp(-((coords.view(1, -1) - x) ** 2 + (coords.view(-1, 1) - y) ** 2) / 0.004)
    return g.expand(n, 3, size, size).clone()


def _centroid(img: torch.Tensor) -> torch.Tensor:
    """(N, 2) normalised centroid (x, y) of the first channel."""
    w = img[:, 0]
    size = w.shape[-1]
    coords = (torch.arange(size) + 0.5) / size * 2 - 1
    total = w.sum(dim=(1, 2))
    return torch.stack([(w.sum(1) * coords).sum(1) / total, (w.sum(2) * coords).sum(1) / total], 1)


def test_shapes_ranges_and_determinism(faces):
    inp, tgt = augment(faces, _gen(1), input_size=64, output_size=128)
    assert inp.shape == (8, 3, 64, 64) and tgt.shape == (8, 3, 128, 128)
    assert inp.dtype == tgt.dtype == torch.float32
    assert inp.min() >= 0 and inp.max() <= 1 and tgt.min() >= 0 and tgt.max() <= 1
    again = augment(faces, _gen(1), 64, 128)
    assert torch.equal(again[0], inp) and torch.equal(again[1], tgt)
    other = augment(faces, _gen(2), 64, 128)
    assert not torch.equal(other[1], tgt)
    as_bytes = augment((faces * 255).round().to(torch.uint8), _gen(1), 64, 128)
    assert (as_bytes[1] - tgt).abs().mean() < 0.01


def test_everything_off_gives_the_resized_image(faces):
    inp, tgt = augment(faces, _gen(0), 64, 128, AugmentConfig.off())
    assert torch.allclose(tgt, _resized(faces, 128), atol=1e-5)
    assert torch.allclose(inp, _resized(tgt, 64), atol=1e-6)  # the input is the target, resized


def test_warp_changes_only_the_input(faces):
    inp, tgt = augment(faces, _gen(0), 64, 128, AugmentConfig.off(random_warp=True))
    assert torch.allclose(tgt, _resized(faces, 128), atol=1e-5)  # target un-warped
    diff = (inp - _resized(tgt, 64)).abs().mean()
    assert diff > 0.005  # the input is warped...
    flat = torch.full((4, 3, 96, 96), 0.3)
    warped_flat, _ = augment(flat, _gen(0), 64, 64, AugmentConfig.off(random_warp=True))
    assert torch.allclose(warped_flat, torch.full_like(warped_flat, 0.3), atol=1e-6)  # ...only moved, not recoloured
    # with the defaults, the target is exactly what it is without the warp (same random stream)
    full_in, full_tgt = augment(faces, _gen(5), 64, 128)
    nowarp_in, nowarp_tgt = augment(faces, _gen(5), 64, 128, AugmentConfig(random_warp=False))
    assert torch.equal(full_tgt, nowarp_tgt) and not torch.equal(full_in, nowarp_in)


def test_warp_field_has_faceswaps_scale():
    size = 64
    noise = torch.randn(200, 2, 5, 5, generator=_gen(0))
    field = warp_field(noise, size, 5 / 256)
    assert field.shape == (200, size, size, 2)
    sigma = 2 * 5 / 256  # normalised units
    std = field.std()
    assert 0.3 * sigma < std < 1.05 * sigma  # bilinear blending of the control points shrinks it a little
    assert field.mean().abs() < 0.1 * sigma
    # smooth: control points ~20 px apart, so neighbouring pixels move almost together
    assert (field[:, 1:] - field[:, :-1]).abs().mean() < 0.15 * std


def test_flip(faces):
    _, always = augment(faces, _gen(0), 64, 96, AugmentConfig.off(flip_chance=100.0))
    assert torch.allclose(always, faces.flip(-1), atol=1e-5)
    _, never = augment(faces, _gen(0), 64, 96, AugmentConfig.off(flip_chance=0.0))
    assert torch.allclose(never, faces, atol=1e-5)
    flips = [bool(torch.allclose(augment(faces[:1], _gen(s), 32, 96, AugmentConfig.off(flip_chance=50.0))[1],
                                 faces[:1].flip(-1), atol=1e-5)) for s in range(40)]
    assert 8 < sum(flips) < 32  # about half


def test_rotation_zoom_and_shift_stay_in_their_ranges():
    n, size = 64, 96
    centre = _dot_image(n, size, 0.0, 0.0)
    off_centre = _dot_image(n, size, 0.5, 0.0)
    c0 = _centroid(off_centre)
    # rotation about the centre: the centre stays, an off-centre dot moves along its circle by <= 10 deg
    _, rot = augment(off_centre, _gen(1), 32, size, AugmentConfig.off(rotation_range=10.0))
    c = _centroid(rot)
    angles = torch.rad2deg(torch.atan2(c[:, 1], c[:, 0]))
    assert angles.abs().max() <= 10.5 and angles.std() > 3
    assert torch.allclose(c.norm(dim=1), c0.norm(dim=1), atol=0.01)
    _, rot_c = augment(centre, _gen(1), 32, size, AugmentConfig.off(rotation_range=10.0))
    assert _centroid(rot_c).abs().max() < 0.01
    # zoom about the centre: radius scales by 1 +- 5 %
    _, zoom = augment(off_centre, _gen(2), 32, size, AugmentConfig.off(zoom_amount=5.0))
    ratio = _centroid(zoom).norm(dim=1) / c0.norm(dim=1)
    assert (ratio - 1).abs().max() <= 0.06 and ratio.std() > 0.01
    # shift: +-5 % of the size = +-0.1 in normalised units, on both axes
    _, shift = augment(centre, _gen(3), 32, size, AugmentConfig.off(shift_range=5.0))
    moved = _centroid(shift)
    assert moved.abs().max() <= 0.105 and moved.std(dim=0).min() > 0.03


def test_colour_jitter_is_shared_by_input_and_target(faces):
    cfg = AugmentConfig.off(color_lightness=30.0, color_ab=8.0)
    inp, tgt = augment(faces, _gen(4), 96, 96, cfg)
    assert torch.allclose(inp, tgt, atol=1e-5)
    change = (tgt - faces).abs().mean(dim=(1, 2, 3))
    assert (change > 0.005).float().mean() > 0.5  # most images got a visible shift


def test_lab_conversion_and_faceswaps_jitter_formula():
    rgb = torch.rand(3, 3, 8, 8, generator=_gen(0))
    assert torch.allclose(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-4)
    red = rgb_to_lab(torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)).flatten()
    assert torch.allclose(red, torch.tensor([53.24, 80.09, 67.20]), atol=0.05)  # standard sRGB red
    white = rgb_to_lab(torch.ones(1, 3, 1, 1)).flatten()
    assert torch.allclose(white, torch.tensor([100.0, 0.0, 0.0]), atol=0.01)
    lab = torch.full((1, 3, 1, 1), 0.4)
    out = lab_jitter(lab, torch.tensor([[0.5, -0.5, 0.0]])).flatten()
    assert torch.allclose(out, torch.tensor([0.4 + 0.6 * 0.5, 0.4 * 0.5, 0.4]))


def test_clahe_raises_local_contrast_and_keeps_order():
    ramp = torch.linspace(0.4, 0.6, 64).view(1, 1, 64).expand(2, 64, 64).contiguous()
    eq = clahe(ramp, grid=1)
    assert eq.min() >= 0 and eq.max() <= 1
    assert eq.std() > 2 * ramp.std()
    assert (eq[:, :, 1:] - eq[:, :, :-1] >= -1e-6).all()  # one tile: a monotonic mapping
    tiled = clahe(ramp, grid=4)
    assert tiled.shape == ramp.shape and tiled.std() > ramp.std()
    faces = FaceWorld(seed=0).sample(0, 4, seed=0, size=64)[0]
    always, _ = augment(faces, _gen(0), 64, 64, AugmentConfig.off(color_clahe_chance=100.0))
    assert (always - faces).abs().mean() > 0.005


def _old_clahe_step(lum, apply, grids, max_grid, sync_free):
    """The CLAHE step as it was before the per-image version: one `clahe` call per grid size (on the
    selected images on CPU; on every image, then selected, on GPU)."""
    out = lum
    for grid in range(1, max_grid + 1):
        chosen = apply & (grids == grid)
        if sync_free:
            out = torch.where(chosen.view(-1, 1, 1), clahe(lum, grid), out)
        else:
            sel = chosen.nonzero().squeeze(1)
            if len(sel):
                out = out.index_copy(0, sel, clahe(lum[sel], grid))
    return out


@pytest.mark.parametrize("shape", [(128, 128), (64, 64), (37, 50)])
def test_clahe_per_image_equals_clahe_at_each_grid(shape):
    lum = torch.rand(7, *shape, generator=_gen(3))
    grids = torch.tensor([2, 3, 4, 5, 6, 1, 6])
    each = torch.cat([clahe(lum[i : i + 1], int(g)) for i, g in enumerate(grids)])
    assert torch.equal(clahe_per_image(lum, grids, max_grid=6), each)
    with pytest.raises(ValueError, match=r"grid sizes must be in \[1, 4\]"):
        clahe_per_image(lum, grids, max_grid=4)


@pytest.mark.parametrize("sync_free", [False, True])
def test_clahe_step_equals_the_old_loop(sync_free):
    lum = torch.rand(9, 48, 48, generator=_gen(4))
    r = torch.rand(9, 2, generator=_gen(5))
    apply, grids = r[:, 0] < 0.5, 2 + (r[:, 1] * 5).long()
    new = augment_module._clahe_batch(lum, apply, grids, 6, sync_free=sync_free)
    assert torch.equal(new, _old_clahe_step(lum, apply, grids, 6, sync_free))
    assert not torch.equal(new, lum) and torch.equal(new[~apply], lum[~apply])


def test_augment_on_a_seed_equals_the_old_clahe(faces, monkeypatch):
    cfg = AugmentConfig(color_clahe_chance=70.0)
    new = augment(faces, _gen(11), 64, 96, cfg)
    monkeypatch.setattr(augment_module, "_clahe_batch", _old_clahe_step)
    old = augment(faces, _gen(11), 64, 96, cfg)
    assert torch.equal(new[0], old[0]) and torch.equal(new[1], old[1])


def test_bad_arguments(faces):
    with pytest.raises(ValueError, match="flip_chance"):
        AugmentConfig(flip_chance=150.0)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        augment(faces[0], _gen(), 64, 64)
    with pytest.raises(ValueError, match="output_size"):
        augment(faces, _gen(), 64, 4)


def test_preview_pairs_grid(faces):
    inp, tgt = augment(faces, _gen(0), 32, 64)
    img = preview_pairs(inp, tgt, n=5)
    assert img.size == (5 * 64 + 6 * 2, 2 * 64 + 3 * 2)
    top_left = torch.from_numpy(np.array(img.crop((2, 2, 66, 66)))).float()
    expect = F.interpolate(inp[:1], size=(64, 64), mode="nearest")[0].permute(1, 2, 0) * 255
    assert (top_left - expect).abs().max() <= 1


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_augment_deterministic(faces):
    x = faces.cuda()
    a = augment(x, torch.Generator(device="cuda").manual_seed(0), 64, 128)
    b = augment(x, torch.Generator(device="cuda").manual_seed(0), 64, 128)
    assert a[0].device.type == "cuda" and torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
