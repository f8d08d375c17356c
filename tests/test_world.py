"""The synthetic face world: determinism, exact labels, ground-truth swaps, pose/expression/lighting
effects where they belong, identity distinctness and siblings, sources."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from phazelab.data import FaceSource, FaceWorld, Factors, Labels, make_source
from phazelab.data.world import EXPRESSION_COLUMNS, JITTER_COLUMNS, LIGHTING_COLUMNS, POSE_COLUMNS


@pytest.fixture(scope="module")
def world() -> FaceWorld:
    return FaceWorld(seed=0, n_identities=8)


def _centroid(weight: torch.Tensor) -> tuple[float, float]:
    """(x, y) centroid of a (H, W) weight map, x to the right, y up, both in pixels from the centre."""
    h, w = weight.shape
    ys = torch.arange(h, dtype=torch.float32).view(-1, 1) - (h - 1) / 2
    xs = torch.arange(w, dtype=torch.float32).view(1, -1) - (w - 1) / 2
    total = weight.sum()
    return float((weight * xs).sum() / total), float(-(weight * ys).sum() / total)


# ---------------------------------------------------------------------------------------------------------
# determinism and labels
# ---------------------------------------------------------------------------------------------------------


def test_same_seed_same_world_and_images(world):
    again = FaceWorld(seed=0, n_identities=8)
    assert torch.equal(world.latent, again.latent)
    a, la = world.sample([0, 3], 6, seed=5)
    b, lb = again.sample([0, 3], 6, seed=5)
    assert torch.equal(a, b)
    assert la.to_frame().equals(lb.to_frame())
    c, _ = world.sample([0, 3], 6, seed=6)
    assert not torch.equal(a, c)
    assert not torch.equal(FaceWorld(seed=1).latent, world.latent)


def test_sample_labels_reproduce_the_images(world):
    images, labels = world.sample([1, 4, 6], 5, seed=2, size=48)
    assert images.shape == (15, 3, 48, 48) and images.dtype == torch.float32
    assert labels.identity.tolist() == [1] * 5 + [4] * 5 + [6] * 5
    frame = labels.to_frame()
    assert list(frame.columns) == ["identity", *POSE_COLUMNS, *EXPRESSION_COLUMNS, *LIGHTING_COLUMNS,
                                   *JITTER_COLUMNS]
    assert len(frame) == 15 and frame["identity"].tolist() == labels.identity.tolist()
    assert torch.equal(world.render(labels.identity, labels.factors, size=48), images)
    # a subset of the labels renders the matching subset of the images
    sub = labels.index([2, 7, 11])
    assert torch.equal(world.render(sub.identity, sub.factors, size=48), images[[2, 7, 11]])


def test_factor_ranges_and_columns(world):
    f = world.sample_factors(400, seed=0)
    frame = f.to_frame()
    assert frame[list(EXPRESSION_COLUMNS)].min().min() >= 0 and frame[list(EXPRESSION_COLUMNS)].max().max() <= 1
    assert frame["yaw"].abs().max() <= 40 and frame["yaw"].std() > 15  # spread over the whole range
    assert frame["pitch"].abs().max() <= 20 and frame["roll"].abs().max() <= 8
    assert (frame["scale"] > 0.9).all() and (frame["scale"] < 1.1).all()
    assert torch.equal(f.index(slice(10, 20)).pose, f.pose[10:20])
    with pytest.raises(ValueError, match="Factors.pose"):
        Factors(torch.zeros(3, 2), torch.zeros(3, 4), torch.zeros(3, 7), torch.zeros(3, 6))
    with pytest.raises(ValueError, match="unknown column 'jaw'"):
        f.with_values(jaw=1.0)


def test_identity_params_do_not_depend_on_factors_and_sibling_zero_is_identical(world):
    params = world.identity_params(2)
    assert isinstance(params["skin_color"], tuple) and len(params["skin_color"]) == 3
    f = world.sample_factors(4, seed=1)
    turned = f.with_values(yaw=30.0, pitch=-10.0)
    before = world.render(2, f)
    after = world.render(2, turned)
    assert (before - after).abs().mean() > 0.02  # the pose changed the picture...
    assert world.identity_params(2) == params  # ...and nothing about the identity
    w2 = FaceWorld(seed=0, n_identities=8)
    twin = w2.add_sibling(2, distance=0.0)
    assert w2.identity_params(twin) == w2.identity_params(2)
    assert torch.equal(w2.render(twin, turned), after)  # images depend on identity params + factors only


def test_swap_target_is_identity_b_with_a_factors(world):
    frames_a, labels_a = world.sample(0, 6, seed=3)
    target = world.swap_target(labels_a, identity_b=5)
    assert torch.equal(target, world.render(5, labels_a.factors))
    assert torch.equal(world.swap_target(labels_a.factors, 5), target)
    assert torch.equal(world.swap_target(labels_a, 0), frames_a)  # swapping to itself is the frame


# ---------------------------------------------------------------------------------------------------------
# factors act where they should
# ---------------------------------------------------------------------------------------------------------


def _eye_centre(world: FaceWorld, identity: int, base: Factors) -> tuple[float, float]:
    """Where the eyes are: the centroid of what changes when only the eyes close."""
    open_ = world.render(identity, base, size=96)[0]
    shut = world.render(identity, base.with_values(eyes_closed=1.0), size=96)[0]
    return _centroid((open_ - shut).abs().sum(0))


@pytest.mark.parametrize("identity", [0, 3])
def test_yaw_and_pitch_move_the_features(world, identity):
    base = Factors.neutral(1)
    x0, y0 = _eye_centre(world, identity, base)
    x_right, _ = _eye_centre(world, identity, base.with_values(yaw=30.0))
    x_left, _ = _eye_centre(world, identity, base.with_values(yaw=-30.0))
    _, y_up = _eye_centre(world, identity, base.with_values(pitch=18.0))
    _, y_down = _eye_centre(world, identity, base.with_values(pitch=-18.0))
    assert abs(x0) < 1.5  # frontal: eyes centred
    assert x_right > x0 + 1.5 and x_left < x0 - 1.5  # turning moves the eyes sideways (in pixels at 96 px)
    assert y_up > y0 + 1.0 and y_down < y0 - 1.0


def test_expressions_change_the_right_region(world):
    base = Factors.neutral(1)
    img = world.render(1, base, size=64)[0]
    mouth = (world.render(1, base.with_values(mouth_open=1.0), size=64)[0] - img).abs().sum(0)
    eyes = (world.render(1, base.with_values(eyes_closed=1.0), size=64)[0] - img).abs().sum(0)
    smile = (world.render(1, base.with_values(smile=1.0), size=64)[0] - img).abs().sum(0)
    brows = (world.render(1, base.with_values(brows_raised=1.0), size=64)[0] - img).abs().sum(0)
    for change in (mouth, eyes, smile, brows):
        assert change.sum() > 5.0  # each expression visibly changes the face
    _, y_mouth = _centroid(mouth)
    _, y_eyes = _centroid(eyes)
    _, y_brows = _centroid(brows)
    assert y_mouth < -5 and y_eyes > y_mouth + 10 and y_brows > y_eyes


def test_light_direction_brightens_the_lit_side(world):
    base = Factors.neutral(1)
    right = world.render(2, base.with_values(light_azimuth=60.0, light_elevation=0.0), size=64)[0].mean(0)
    left = world.render(2, base.with_values(light_azimuth=-60.0, light_elevation=0.0), size=64)[0].mean(0)
    centre = slice(16, 48)
    assert right[centre, 40:56].mean() > right[centre, 8:24].mean() + 0.05
    assert left[centre, 8:24].mean() > left[centre, 40:56].mean() + 0.05


# ---------------------------------------------------------------------------------------------------------
# identities: distinct, siblings close
# ---------------------------------------------------------------------------------------------------------


def test_identities_differ_more_than_poses_of_one_identity(world):
    f = world.sample_factors(8, seed=10)
    other = world.sample_factors(8, seed=11)
    repose = f.with_values(**{c: other.pose[:, i] for i, c in enumerate(POSE_COLUMNS)})
    imgs = torch.stack([world.render(i, f, size=48) for i in range(8)])
    reposed = torch.stack([world.render(i, repose, size=48) for i in range(8)])
    between_ids = torch.stack([(imgs[i] - imgs[j]).abs().mean() for i, j in itertools.combinations(range(8), 2)])
    between_poses = (imgs - reposed).abs().mean(dim=(1, 2, 3, 4))
    assert between_ids.mean() > 1.25 * between_poses.mean()


def test_identities_can_be_told_apart_by_nearest_neighbour(world):
    """All factors random: a 1-nearest-neighbour match on 16 px thumbnails finds the identity."""
    train, lt = world.sample(list(range(8)), 24, seed=1, size=32)
    test, le = world.sample(list(range(8)), 10, seed=2, size=32)

    def thumbs(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2).flatten(1)

    pred = lt.identity[torch.cdist(thumbs(test), thumbs(train)).argmin(1)]
    assert (pred == le.identity).float().mean() > 0.75  # chance is 0.125


def test_siblings_are_closer_than_random_identities():
    w = FaceWorld(seed=3, n_identities=6)
    f = w.sample_factors(6, seed=0)
    near, mid, far = [], [], []
    for of in range(6):
        base = w.render(of, f, size=48)
        for dist, out in ((0.1, near), (0.4, mid), (1.0, far)):
            out.append((w.render(w.add_sibling(of, dist, seed=of), f, size=48) - base).abs().mean())
    near, mid, far = (torch.stack(x).mean() for x in (near, mid, far))
    assert w.n_identities == 6 + 18
    assert 0 < near < mid < far
    with pytest.raises(ValueError, match="distance"):
        w.add_sibling(0, 1.5)


# ---------------------------------------------------------------------------------------------------------
# rendering quality and API
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [64, 128, 256])
def test_sizes_and_range(world, size):
    f = world.sample_factors(2, seed=4)
    img = world.render([0, 7], f, size=size)
    assert img.shape == (2, 3, size, size)
    assert torch.isfinite(img).all() and img.min() >= 0 and img.max() <= 1


def test_antialiased_small_render_matches_a_downscaled_large_one(world):
    f = world.sample_factors(4, seed=7)
    small = world.render(3, f, size=64)
    large = F.avg_pool2d(world.render(3, f, size=256), 4)
    assert (small - large).abs().mean() < 0.02
    # edges are smooth: plenty of in-between values, not just the flat colours
    assert len(torch.unique((small * 255).round())) > 200


def test_bad_arguments_raise_clear_errors(world):
    f = world.sample_factors(2, seed=0)
    with pytest.raises(ValueError, match="out of range"):
        world.render(8, f)
    with pytest.raises(ValueError, match="size"):
        world.render(0, f, size=8)
    with pytest.raises(ValueError, match="2 factor rows"):
        world.render([0, 1, 2], f)
    with pytest.raises(ValueError, match="n_identities"):
        FaceWorld(n_identities=0)


def test_synthetic_stream_is_a_deterministic_face_source(world):
    src = world.stream(3)
    assert isinstance(src, FaceSource) and src.name == "synthetic:3:stream" and len(src) > 10**6
    a = src.batch(5, torch.Generator().manual_seed(1), size=32)
    b = src.batch(5, torch.Generator().manual_seed(1), size=32)
    gen = torch.Generator().manual_seed(1)
    c, d = src.batch(5, gen, size=32), src.batch(5, gen, size=32)
    assert a.shape == (5, 3, 32, 32) and torch.equal(a, b) and torch.equal(a, c) and not torch.equal(c, d)
    made = make_source("synthetic:3:stream", world)
    assert made.name == "synthetic:3:stream" and torch.equal(made.batch(5, torch.Generator().manual_seed(1), 32), a)
    images, labels = src.batch_with_labels(3, torch.Generator().manual_seed(9), size=32)
    assert isinstance(labels, Labels) and torch.equal(world.render(3, labels.factors, size=32), images)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_render_matches_cpu(world):
    f = world.sample_factors(8, seed=0)
    cpu = world.render(list(range(8)), f, size=64)
    gpu = world.render(list(range(8)), f, size=64, device="cuda")
    assert gpu.device.type == "cuda"
    assert torch.equal(gpu, world.render(list(range(8)), f, size=64, device="cuda"))
    assert (gpu.cpu() - cpu).abs().max() < 1e-3
    src = world.stream(1)
    g = torch.Generator(device="cuda").manual_seed(0)
    assert src.batch(4, g, 64, device="cuda").device.type == "cuda"


@pytest.mark.parametrize("world_seed", [0, 1, 7])
def test_sibling_is_never_a_replay_of_its_source(world_seed):
    """A sibling at distance > 0 differs from its source for every (of, seed), including of=0, seed=0
    (whose seed stream once replayed the draw that picked identity 0)."""
    w = FaceWorld(seed=world_seed, n_identities=4)
    for of in range(4):
        for seed in range(3):
            sib = w.add_sibling(of, 0.5, seed=seed)
            assert not torch.allclose(w._latent[sib], w._latent[of], atol=1e-3), (of, seed)
    again = FaceWorld(seed=world_seed, n_identities=4)
    twin = again.add_sibling(0, 0.5)
    assert torch.equal(again._latent[twin], w._latent[4])  # still deterministic


def test_face_mask_is_exact_head_coverage():
    """The mask is 1 on the head and 0 on the background: changing only the background colour changes
    pixels only where the mask is below 1, and the image channels of with_mask equal a plain render."""
    world = FaceWorld(0)
    f = world.sample_factors(6, 3)
    image_and_mask = world.render(0, f, 48, with_mask=True)
    assert image_and_mask.shape == (6, 4, 48, 48)
    assert torch.equal(image_and_mask[:, :3], world.render(0, f, 48))
    mask = world.face_mask(0, f, 48)
    assert 0.3 < float(mask.mean()) < 0.95 and float(mask.min()) == 0.0 and float(mask.max()) == 1.0
    other = world.render(0, f.with_values(bg_r=0.9, bg_g=0.1, bg_b=0.5), 48)
    changed = (other - image_and_mask[:, :3]).abs().amax(1, keepdim=True) > 1e-6
    assert float(mask[changed].max()) < 1.0  # only the background (and the soft edge) changed
    assert float(changed[mask < 0.01].float().mean()) > 0.9


def test_hard_identities_share_colour_and_hair_and_differ_in_geometry():
    from phazelab.data.identity import GEOMETRY, LATENT_NAMES, SHARED_IN_HARD

    hard = FaceWorld(seed=0, n_identities=6, hard=True)
    lat = hard.latent
    shared = [LATENT_NAMES.index(n) for n in SHARED_IN_HARD]
    geometry = [LATENT_NAMES.index(n) for n in GEOMETRY]
    assert torch.equal(lat[:, shared], lat[:1, shared].expand(6, -1))
    assert float(torch.pdist(lat[:, geometry]).min()) > 0.3  # picked far apart in geometry
    params = [hard.identity_params(i) for i in range(6)]
    assert len({p["skin_color"] for p in params}) == 1 and len({p["hair_color"] for p in params}) == 1
    f = hard.sample_factors(4, 1)
    a, b = hard.render(0, f, 48), hard.render(1, f, 48)
    colour_gap = (a.mean(dim=(2, 3)) - b.mean(dim=(2, 3))).abs().max()
    assert colour_gap < 0.05 and (a - b).abs().amax() > 0.2  # same colours, different faces
    assert torch.equal(FaceWorld(seed=0, n_identities=6, hard=True).latent, lat)
    assert not torch.equal(FaceWorld(seed=0, n_identities=6).latent, lat)
