"""Loss terms and their weighted sum (faceswap: SSIM + MSE at 100 %)."""

import pytest
import torch

from phazelab.train.losses import LOSS_CHOICES, CompositeLoss, loss_term


def _images(seed: int, n: int = 2, size: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, size // 8, size // 8, generator=g)
    return torch.nn.functional.interpolate(base, size=(size, size), mode="bilinear", align_corners=False)


def test_identical_images_cost_nothing_and_noise_costs_more_the_stronger_it_is():
    x = _images(0)
    loss = CompositeLoss("ssim", {"mse": 1.0})
    total, terms = loss(x, x)
    assert total.item() == pytest.approx(0.0, abs=1e-5)
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(x.shape, generator=g)
    values = [loss((x + s * noise).clamp(0, 1), x)[0].item() for s in (0.02, 0.1, 0.3)]
    assert values[0] < values[1] < values[2]


def test_total_is_primary_plus_weighted_extras_and_terms_are_unweighted():
    x, y = _images(0), _images(1)
    loss = CompositeLoss("ssim", {"mse": 0.5, "mae": 2.0})
    total, terms = loss(x, y)
    assert loss.names == ["ssim", "mse", "mae"]
    ssim, mse, mae = terms.tolist()
    assert mse == pytest.approx(torch.mean((x - y) ** 2).item(), rel=1e-5)
    assert mae == pytest.approx(torch.mean((x - y).abs()).item(), rel=1e-5)
    assert total.item() == pytest.approx(ssim + 0.5 * mse + 2.0 * mae, rel=1e-5)


def test_faceswap_default_weights_ssim_plus_full_mse():
    x, y = _images(2), _images(3)
    total, (ssim, mse) = CompositeLoss("ssim", {"mse": 1.0})(x, y)
    assert total.item() == pytest.approx((ssim + mse).item(), rel=1e-6)
    assert 0 < ssim.item() < 2


def test_loss_is_float32_under_bf16_autocast_and_matches_fp32():
    x, y = _images(4), _images(5)
    loss = CompositeLoss("ssim", {"mse": 1.0})
    ref, _ = loss(x, y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, terms = loss(x, y)
    assert out.dtype == torch.float32 and terms.dtype == torch.float32
    assert out.item() == pytest.approx(ref.item(), rel=1e-6)


def test_ms_ssim_adapts_its_window_to_64px_and_rejects_tiny_images():
    x, y = _images(6), _images(7)
    value = loss_term("ms_ssim")(x, y).item()
    assert 0 < value < 1
    assert loss_term("ms_ssim")(x, x).item() == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(ValueError, match="ms_ssim needs images larger"):
        loss_term("ms_ssim")(_images(0, size=16), _images(1, size=16))


def test_gradients_flow_to_the_prediction():
    x = _images(8).requires_grad_(True)
    total, _ = CompositeLoss("ssim", {"mse": 1.0})(x, _images(9))
    total.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_bad_loss_specs_are_rejected_with_clear_messages():
    with pytest.raises(ValueError, match="unknown loss 'lpips'"):
        CompositeLoss("lpips")
    with pytest.raises(ValueError, match="both the primary loss and an extra"):
        CompositeLoss("mse", {"mse": 1.0})
    with pytest.raises(ValueError, match="weight must be a number"):
        CompositeLoss("ssim", {"mse": -1})
    assert set(LOSS_CHOICES) >= {"ssim", "ms_ssim", "mse", "mae"}


def test_works_on_the_meta_device_for_flop_counting():
    x = torch.empty(2, 3, 64, 64, device="meta")
    total, terms = CompositeLoss("ssim", {"mse": 1.0})(x, x)
    assert total.device.type == "meta" and terms.shape == (2,)
