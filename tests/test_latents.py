"""latents(): right keys, shapes and values per topology, hooks cleaned up, clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from phazelab import PhazeA, PhazeAConfig
from phazelab.analysis.latents import available_blocks, latents, reduce_features

N = 6  # two batches of 4 and 2: checks batching keeps order


def _model(**changes) -> PhazeA:
    torch.manual_seed(0)
    return PhazeA(PhazeAConfig.preset("lab-tiny").replace(**changes))


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(N, 3, 64, 64, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def default_model() -> PhazeA:
    return _model()


def _check_row_shapes(lat, model) -> None:
    for key, arr in lat.items():
        info = lat.info[key]
        assert arr.shape == (N, info.dims) and arr.dtype == np.float32, key
        assert np.isfinite(arr).all(), key
        if info.reduction == "vector":
            assert len(info.shape) == 1 and info.dims == info.shape[0]
        elif info.reduction == "flatten":
            assert info.dims == math.prod(info.shape) <= 4096
        else:  # pooled: only maps too big to flatten, to a grid that divides the map
            c, h, w = info.shape
            assert c * h * w > 4096 and info.dims <= 4096
            g = 1 if info.reduction == "gap" else int(info.reduction.split()[1].split("x")[0])
            assert info.dims == c * g * g and h % g == 0


def test_default_topology_keys_shapes_and_values(default_model, images):
    model = default_model
    model.train()
    lat = latents(model, images, batch_size=4, progress=False)
    stages = len(model.blocks["decoder_both"].stages)
    expected = ["encoder", "fc_a", "fc_gblock", "g_block_both",
                *[f"decoder_both.stage{i}" for i in range(stages)], "decoder_both"]
    assert list(lat) == expected and lat.side == "a"
    _check_row_shapes(lat, model)
    assert lat.info["encoder"].shape == (model.config.bottleneck_size,)
    assert lat.info["decoder_both"].shape == (3, model.output_size, model.output_size)
    # values: the hooks saw the real block outputs, in eval mode, in input order
    assert model.training, "training mode must be restored"
    model.eval()
    with torch.no_grad():
        z = model.encode(images)
        face = model.decode(z, "a")
    np.testing.assert_allclose(lat["encoder"], z.numpy(), rtol=1e-5, atol=1e-5)
    g = int(math.isqrt(lat.info["decoder_both"].dims // 3))
    np.testing.assert_allclose(lat["decoder_both"], F.adaptive_avg_pool2d(face, g).reshape(N, -1).numpy(),
                               rtol=1e-5, atol=1e-5)
    assert not any(m._forward_hooks for m in model.modules()), "hooks must be removed"


def test_split_decoders_topology_side_b(images):
    model = _model(split_fc=False, split_decoders=True)
    assert set(model.blocks) >= {"fc_both", "decoder_a", "decoder_b"}
    lat = latents(model, images, batch_size=4, progress=False, side="b")
    stages = len(model.blocks["decoder_b"].stages)
    assert list(lat) == ["encoder", "fc_both", "fc_gblock", "g_block_both",
                         *[f"decoder_b.stage{i}" for i in range(stages)], "decoder_b"]
    _check_row_shapes(lat, model)
    assert available_blocks(model, "a")[-1] == "decoder_a"


def test_only_requested_blocks_run(default_model, images):
    calls = []
    handle = default_model.blocks["decoder_both"].register_forward_hook(lambda *a: calls.append(1))
    try:
        lat = latents(default_model, images, ["encoder"], progress=False)
    finally:
        handle.remove()
    assert list(lat) == ["encoder"] and calls == []


def test_side_b_routes_through_fc_b(default_model, images):
    a = latents(default_model, images[:2], ["fc_a"], pool="flatten", progress=False, side="a")["fc_a"]
    b = latents(default_model, images[:2], ["fc_b"], pool="flatten", progress=False, side="b")["fc_b"]
    assert a.shape == b.shape and not np.allclose(a, b)  # two different blocks with their own weights


def test_clear_errors(default_model, images):
    with pytest.raises(ValueError, match="not on side 'a'"):
        latents(default_model, images, ["fc_b"], side="a", progress=False)
    with pytest.raises(ValueError, match="not in this model"):
        latents(default_model, images, ["decoder_a"], progress=False)
    with pytest.raises(ValueError, match="stages"):
        latents(default_model, images, ["decoder_both.stage9"], progress=False)
    with pytest.raises(ValueError, match=r"\(N, 3, 64, 64\)"):
        latents(default_model, torch.rand(2, 3, 32, 32), ["encoder"], progress=False)
    with pytest.raises(ValueError, match="side"):
        latents(default_model, images, ["encoder"], side="c", progress=False)


def test_reduce_features_known_answers():
    # a 4x4 map whose 2x2 quadrants hold 1, 2, 3, 4
    q = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).repeat_interleave(2, 0).repeat_interleave(2, 1)
    t = q.expand(1, 3, 4, 4).contiguous()
    pooled, how = reduce_features(t, "auto", max_dims=12)  # 48 > 12 -> 2x2 grid (3 * 4 = 12)
    assert how == "avgpool 2x2"
    assert pooled.reshape(3, 2, 2)[0].tolist() == [[1.0, 2.0], [3.0, 4.0]]
    gap, how = reduce_features(t, "gap")
    assert how == "gap" and torch.allclose(gap, torch.full((1, 3), 2.5))
    flat, how = reduce_features(t, "auto", max_dims=48)
    assert how == "flatten" and torch.equal(flat, t.reshape(1, -1))
    vec, how = reduce_features(torch.ones(2, 5))
    assert how == "vector" and vec.shape == (2, 5)
    with pytest.raises(ValueError, match="pool"):
        reduce_features(t, "max")
