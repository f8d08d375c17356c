"""PhazeA: block sets per topology, per-block parameter counts and shapes against faceswap's numbers."""

import math

import pytest
import torch

from phazelab import PhazeA, PhazeAConfig, block_summary
from phazelab.config import NotSupportedError, faceswap_preset_names


def summary(**options):
    with torch.device("meta"):
        model = PhazeA(PhazeAConfig(**options))
    return block_summary(model)


# reference §13: counted from the structure and checked against a build of faceswap's own model
REFERENCE_128 = {"encoder": 33_992_960, "fc_a": 16_793_600, "fc_b": 16_793_600, "fc_gblock": 1_050_112,
                 "g_block_both": 23_864_832, "decoder_both": 31_271_107}


def conv(k, cin, cout):
    return k * k * cin * cout + cout


def dense(i, o):
    return i * o + o


def gblock(c, style=512):
    return (dense(style, 512) + 2 * dense(512, 512) + conv(3, c, c)
            + 2 * (2 * dense(512, c) + conv(1, c, c)) + conv(3, c, c))


def upscale(method, cin, f):
    """(params, out channels) of one upscaler, from the spec's description (§8)."""
    if method == "subpixel":
        return conv(3, cin, 4 * f), f
    if method == "upscale_fast":
        return conv(3, cin, 4 * f) + conv(3, cin, f), f
    if method == "upscale_hybrid":
        g = f - f // 2
        return conv(3, cin, 4 * g) + conv(3, cin, g), 2 * g
    if method == "resize_images":
        return 2 * conv(3, cin, f), f
    if method == "upscale_dny":
        return conv(3, cin, f) + conv(3, f, f), f
    raise AssertionError(method)


def decoder(cin, filters, method="subpixel", res_blocks=1, skip_last=True, out_kernel=5, dny_max=None):
    total = 0
    if method == "upscale_dny":
        total += conv(4, cin, dny_max) + conv(3, dny_max, dny_max)
        cin = dny_max
    for i, f in enumerate(filters):
        p, cin = upscale(method, cin, f)
        total += p
        if res_blocks and not (skip_last and i == len(filters) - 1):
            total += res_blocks * 2 * conv(3, cin, cin)
    return total + conv(out_kernel, cin, 3)


def test_default_128_matches_reference_table():
    s = summary()
    assert {k: v["params"] for k, v in s.items()} == REFERENCE_128
    assert sum(v["params"] for v in s.values()) == 123_766_211
    assert s["encoder"]["output_shape"] == [1024]
    assert s["fc_a"]["output_shape"] == [1024, 8, 8]
    assert s["fc_gblock"]["output_shape"] == [512]
    assert s["g_block_both"]["output_shape"] == [1024, 8, 8]
    assert s["decoder_both"]["output_shape"] == [3, 128, 128]
    assert s["encoder"]["input_shape"] == [3, 64, 64]


def test_summary_frame_is_the_table_to_read():
    from phazelab.model import summary_frame

    frame = summary_frame(summary())
    assert list(frame.index) == list(REFERENCE_128) and list(frame.columns) == ["params", "trainable", "input",
                                                                                 "output"]
    assert frame.loc["g_block_both", "params"] == "23,864,832" == frame.loc["g_block_both", "trainable"]
    assert frame.loc["g_block_both", "input"] == "1024×8×8 + 512"
    assert frame.loc["encoder", "input"] == "3×64×64" and frame.loc["decoder_both", "output"] == "3×128×128"


def test_default_64_matches_reference_table():
    s = summary(output_size=64)
    assert s["decoder_both"]["params"] == 28_027_027
    assert sum(v["params"] for v in s.values()) == 120_522_131
    assert s["decoder_both"]["output_shape"] == [3, 64, 64]
    assert decoder(1024, [512, 184, 64]) == 28_027_027  # the spec's formula agrees with the reference


@pytest.mark.parametrize("options, blocks", [
    ({}, ["encoder", "fc_a", "fc_b", "fc_gblock", "g_block_both", "decoder_both"]),
    ({"split_decoders": True}, ["encoder", "fc_a", "fc_b", "fc_gblock", "g_block_both", "decoder_a", "decoder_b"]),
    ({"split_gblock": True}, ["encoder", "fc_a", "fc_b", "fc_gblock", "g_block_a", "g_block_b", "decoder_both"]),
    ({"shared_fc": "full"}, ["encoder", "fc_a", "fc_b", "fc_shared", "fc_gblock", "g_block_both", "decoder_both"]),
    ({"shared_fc": "half"}, ["encoder", "fc_a", "fc_b", "fc_gblock", "g_block_both", "decoder_both"]),
    ({"enable_gblock": False}, ["encoder", "fc_a", "fc_b", "decoder_both"]),
    ({"split_fc": False}, ["encoder", "fc_both", "fc_gblock", "g_block_both", "decoder_both"]),
    ({"split_fc": False, "split_decoders": True, "enable_gblock": False},
     ["encoder", "fc_both", "decoder_a", "decoder_b"]),
])
def test_block_sets_follow_topology(options, blocks):
    with torch.device("meta"):
        model = PhazeA(PhazeAConfig(**options))
    assert list(model.blocks) == blocks


def test_split_blocks_are_copies_of_the_shared_ones():
    s = summary(split_decoders=True, split_gblock=True)
    assert s["decoder_a"]["params"] == s["decoder_b"]["params"] == REFERENCE_128["decoder_both"]
    assert s["g_block_a"]["params"] == s["g_block_b"]["params"] == REFERENCE_128["g_block_both"]


@pytest.mark.parametrize("shared", ["full", "half"])
def test_shared_fc_doubles_channels_into_gblock_and_decoder(shared):
    s = summary(shared_fc=shared)
    assert s["g_block_both"]["input_shape"][0] == [2048, 8, 8]
    assert s["g_block_both"]["params"] == gblock(2048)
    assert s["decoder_both"]["params"] == decoder(2048, [512, 256, 128, 64])
    if shared == "full":
        assert s["fc_shared"]["params"] == REFERENCE_128["fc_a"]
    else:
        assert "fc_shared" not in s


def test_half_shared_fc_routes_side_b_through_fc_a():
    with torch.device("meta"):
        model = PhazeA(PhazeAConfig(shared_fc="half"))
    assert model.side_blocks("b")[:3] == ["encoder", "fc_b", "fc_a"]


def test_without_gblock_fc_feeds_decoder():
    s = summary(enable_gblock=False)
    assert s["decoder_both"]["input_shape"] == [1024, 8, 8]
    assert s["decoder_both"]["params"] == REFERENCE_128["decoder_both"]


@pytest.mark.parametrize("method", ["subpixel", "upscale_fast", "upscale_hybrid", "resize_images", "upscale_dny"])
def test_decoder_upscalers(method):
    s = summary(output_size=64, dec_upscale_method=method)
    assert s["decoder_both"]["params"] == decoder(1024, [512, 184, 64], method, dny_max=512)
    assert s["decoder_both"]["output_shape"] == [3, 64, 64]


@pytest.mark.parametrize("method", ["subpixel", "upscale_fast", "upscale_hybrid", "resize_images"])
def test_fc_upsamplers(method):
    s = summary(output_size=64, fc_upsampler=method)
    up, ch = upscale(method, 1024, 512)
    assert s["fc_a"]["params"] == dense(1024, 16384) + up
    assert s["fc_a"]["output_shape"] == [ch, 8, 8]


def test_fc_upsample2d_has_no_weights_for_several_upsamples():
    s = summary(output_size=64, fc_upsamples=2)
    assert s["fc_a"]["params"] == dense(1024, 16384)
    assert s["fc_a"]["output_shape"] == [1024, 16, 16]


def test_bottleneck_outside_encoder_starts_each_fc():
    s = summary(bottleneck_in_encoder=False)
    assert s["encoder"]["output_shape"] == [1024, 4, 4]
    assert s["encoder"]["params"] == REFERENCE_128["encoder"] - dense(16384, 1024)
    assert s["fc_a"]["params"] == REFERENCE_128["fc_a"] + dense(16384, 1024)


@pytest.mark.parametrize("name", [n for n in faceswap_preset_names()])
def test_every_buildable_preset_builds_with_the_right_output(name):
    cfg = PhazeAConfig.preset(name)
    if cfg.enc_architecture != "fs_original":
        with pytest.raises(NotSupportedError):
            PhazeA(cfg)
        return
    with torch.device("meta"):
        model = PhazeA(cfg)
    s = block_summary(model)
    assert s["encoder"]["input_shape"] == [3, cfg.encoder_input_size, cfg.encoder_input_size]
    for name_ in model.blocks:
        if name_.startswith("decoder"):
            assert s[name_]["output_shape"] == [3, cfg.output_size, cfg.output_size]


def test_original_preset_is_the_classic_faceswap_original():
    s = summary(**PhazeAConfig.preset("original").to_dict())
    assert s["encoder"]["params"] == REFERENCE_128["encoder"]
    assert s["fc_both"]["params"] == dense(1024, 16384) + conv(3, 1024, 2048)
    assert s["decoder_a"]["params"] == decoder(512, [256, 128, 64], res_blocks=0, skip_last=False)


def test_dec_upscales_in_fc_moves_stages_into_the_fc():
    s = summary(output_size=64, dec_upscales_in_fc=1)
    assert s["fc_a"]["output_shape"] == [512, 16, 16]
    assert s["decoder_both"]["input_shape"] == [512, 16, 16]
    assert s["decoder_both"]["output_shape"] == [3, 64, 64]


# ---- behaviour on a small real model ----------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return PhazeA(PhazeAConfig.preset("lab-tiny")).eval()


def test_forward_and_swap(tiny):
    x_a, x_b = torch.rand(2, 3, 64, 64), torch.rand(3, 3, 64, 64)
    out_a, out_b = tiny(x_a, x_b)
    assert out_a.shape == (2, 3, 64, 64) and out_b.shape == (3, 3, 64, 64)
    assert 0 <= out_a.min() and out_a.max() <= 1
    with torch.no_grad():
        assert torch.allclose(tiny.swap(x_a, to="b"), tiny.decode(tiny.encode(x_a), "b"))
        assert torch.allclose(tiny.swap(x_a, to="a"), out_a, atol=1e-4)
        assert not torch.allclose(tiny.swap(x_a, to="b"), out_a)  # fc_a and fc_b differ


def test_side_paths(tiny):
    assert tiny.side_blocks("a") == ["encoder", "fc_a", "fc_gblock", "g_block_both", "decoder_both"]
    assert tiny.side_blocks("b") == ["encoder", "fc_b", "fc_gblock", "g_block_both", "decoder_both"]
    with pytest.raises(ValueError, match="side"):
        tiny.side_blocks("c")


def test_learn_mask_adds_a_mask_output_and_faces_stay_one_type():
    model = PhazeA(PhazeAConfig.preset("lab-tiny").replace(learn_mask=True)).eval()
    x = torch.rand(1, 3, 64, 64)
    (face_a, mask_a), (face_b, mask_b) = model(x, x, with_mask=True)
    assert face_a.shape == (1, 3, 64, 64) and mask_a.shape == (1, 1, 64, 64)
    out_a, out_b = model(x, x)  # without with_mask: the faces, a tensor per side, as for every model
    assert torch.equal(out_a, face_a) and torch.allclose(model.swap(x, "b"), face_b, atol=1e-5)
    with pytest.raises(ValueError, match="learn_mask"):
        PhazeA(PhazeAConfig.preset("lab-tiny")).swap(x, "b", with_mask=True)


def test_gaussian_noise_only_while_training(tiny):
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(tiny.swap(x), tiny.swap(x))
        tiny.train()
        try:
            assert not torch.equal(tiny.swap(x), tiny.swap(x))
        finally:
            tiny.eval()


def test_bf16_autocast_keeps_output_in_float32(tiny):
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = tiny.swap(torch.rand(1, 3, 64, 64))
    assert out.dtype == torch.float32


def test_decoder_stages_exposed_for_hooks(tiny):
    n = round(math.log2(64 / 8))
    assert len(tiny.blocks["decoder_both"].stages) == n
