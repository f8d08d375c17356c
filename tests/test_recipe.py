"""The training recipe: LR schedule values, gradient clipping with faceswap's names, the collapse guard,
the penalized mask loss, and synthetic sources training without colour jitter."""

import math

import pytest
import torch

from phazelab import PhazeA, PhazeAConfig
from phazelab.data import AugmentConfig, FaceWorld
from phazelab.data.bank import SYNTHETIC_AUGMENT, FaceBank
from phazelab.train import Trainer
from phazelab.train.clipping import GradientClipper
from phazelab.train.guards import CollapseError, CollapseGuard
from phazelab.train.losses import CompositeLoss
from phazelab.train.schedules import LRSchedule

MICRO = PhazeAConfig.preset("lab-tiny").replace(dec_res_blocks=0, fs_original_min_filters=16, dec_min_filters=16)

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def test_lr_schedule_values():
    s = LRSchedule(1e-3, "cosine", warmup=10, total=110, min_factor=0.1)
    assert s.at(1) == pytest.approx(1e-4) and s.at(5) == pytest.approx(5e-4) and s.at(10) == pytest.approx(1e-3)
    assert s.at(60) == pytest.approx(1e-4 + 0.9e-3 * 0.5)  # half way down the cosine
    assert s.at(110) == pytest.approx(1e-4) and s.at(500) == pytest.approx(1e-4)
    assert all(s.at(k) >= s.at(k + 1) for k in range(10, 120))
    c = LRSchedule(2e-4, "constant", warmup=4)
    assert [c.at(k) for k in (1, 2, 4, 5, 1000)] == pytest.approx([5e-5, 1e-4, 2e-4, 2e-4, 2e-4])
    assert LRSchedule(3e-4).at(1) == 3e-4
    with pytest.raises(ValueError, match="lr_schedule_steps"):
        LRSchedule(1e-3, "cosine", warmup=10)
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        LRSchedule(1e-3, "linear")
    with pytest.raises(ValueError, match="lr_warmup"):
        LRSchedule(1e-3, warmup=-1)


def test_trainer_follows_the_schedule_and_records_it():
    world = FaceWorld(0)
    t = Trainer(PhazeA(MICRO), FaceBank(world, 0, 8), FaceBank(world, 1, 8), batch_size=2, lr=1e-3, lr_warmup=4,
                lr_schedule="cosine", lr_schedule_steps=8, device="cpu")
    t.run(8)
    want = [LRSchedule(1e-3, "cosine", 4, 8).at(k) for k in range(1, 9)]
    assert [r["lr"] for r in t.history] == pytest.approx(want)
    assert t.settings()["lr_schedule"] == "cosine" and t.settings()["lr_warmup"] == 4
    t.set_lr(5e-4).result()
    assert t.lr == pytest.approx(LRSchedule(5e-4, "cosine", 4, 8).at(9))


def _grads(*values):
    ps = []
    for v in values:
        p = torch.nn.Parameter(torch.zeros(len(v)))
        p.grad = torch.tensor(v, dtype=torch.float32)
        ps.append(p)
    return ps


def test_gradient_clipping_methods():
    ps = _grads([3.0, 4.0], [0.0, 12.0])  # norms 5 and 12, global 13
    GradientClipper("global_norm", 1.3)(ps)
    assert torch.cat([p.grad for p in ps]).norm() == pytest.approx(1.3, rel=1e-4)
    ps = _grads([3.0, 4.0], [0.0, 0.5])
    GradientClipper("norm", 1.0)(ps)
    assert ps[0].grad.norm() == pytest.approx(1.0, rel=1e-4) and ps[1].grad.tolist() == [0.0, 0.5]
    ps = _grads([3.0, -4.0, 0.1])
    GradientClipper("value", 1.0)(ps)
    assert ps[0].grad.tolist() == pytest.approx([1.0, -1.0, 0.1])
    clip = GradientClipper("autoclip", 5.0, history=0)  # the 50th percentile of the norms seen so far
    for norm in (1.0, 3.0):
        clip(_grads([norm]))
    big = _grads([100.0])
    clip(big)
    assert big[0].grad.item() == pytest.approx(3.0)  # median of [1, 3, 100]
    ps = _grads([7.0])
    GradientClipper("none")(ps)
    assert ps[0].grad.item() == 7.0
    with pytest.raises(ValueError, match="gradient_clipping must be one of"):
        GradientClipper("clipnorm")
    with pytest.raises(ValueError, match="clipping_value"):
        GradientClipper("global_norm", 11.0)


def test_collapse_guard_fires_only_after_health_and_a_full_stretch():
    guard = CollapseGuard(patience=5, healthy_needed=3)
    flat = {"out_std_a": 0.0001, "out_std_b": 0.2, "ssim_a": 0.5, "ssim_b": 0.5, "lr": 1e-3}
    ok = {"out_std_a": 0.2, "out_std_b": 0.2, "ssim_a": 0.5, "ssim_b": 0.5, "lr": 1e-3}
    for step in range(1, 20):  # a model that starts flat is not "collapsed": it has not learned yet
        guard.check({**flat, "step": step})
    for step in range(20, 23):
        guard.check({**ok, "step": step})
    for step in range(23, 27):
        guard.check({**flat, "step": step})
    guard.check({**ok, "step": 27})  # a healthy step resets the stretch
    for step in range(28, 32):
        guard.check({**flat, "step": step})
    with pytest.raises(CollapseError, match="step 32.*learning rate"):
        guard.check({**flat, "step": 32})
    blind = CollapseGuard(patience=2, healthy_needed=1)
    blind.check({**ok, "step": 1})
    blind.check({**ok, "ssim_b": 0.999, "step": 2})
    with pytest.raises(CollapseError, match="SSIM loss"):
        blind.check({**ok, "ssim_b": 0.999, "step": 3})


def test_trainer_stops_on_a_forced_collapse_and_restores_good_weights():
    """Train healthily, then force the decoder's output to a constant: the guard stops the run and puts
    back the weights it kept from before the collapse."""
    world = FaceWorld(0)
    t = Trainer(PhazeA(MICRO), FaceBank(world, 0, 8), FaceBank(world, 1, 8), batch_size=2, lr=1e-4, device="cpu")
    t.collapse_guard = CollapseGuard(patience=3, healthy_needed=2)
    t.run(6)  # healthy: keeps weights at steps that are multiples of the patience
    kept_step, kept = t._good_weights
    assert kept_step == 5

    def flatten() -> None:  # a constant output: zero every weight of the last conv, bias to 0.5's logit
        last = [m for m in t.model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
        with torch.no_grad():
            last.weight.zero_()
            last.bias.zero_()
        last.weight.requires_grad_(False)
        last.bias.requires_grad_(False)

    t.request(flatten).result()
    with pytest.raises(CollapseError, match="collapsed.*put back to those of step 5"):
        t.run(10)
    assert all(torch.equal(v, kept[k]) for k, v in t.model.state_dict().items())
    assert t.state == "error" and isinstance(t.error.exception, CollapseError)


def test_penalized_mask_loss_ignores_the_background():
    loss = CompositeLoss("ssim", {"mse": 1.0})
    target = torch.rand(2, 3, 32, 32)
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    pred = target.clone()
    pred[..., :4, :] = 1 - pred[..., :4, :]  # wrong only outside the mask
    assert float(loss(pred, target)[0]) > 0.05
    assert float(loss(pred, target, mask)[0]) == pytest.approx(0.0, abs=1e-6)
    world = FaceWorld(0)
    t = Trainer(PhazeA(MICRO), FaceBank(world, 0, 8), FaceBank(world, 1, 8), batch_size=2, device="cpu",
                penalized_mask_loss=True)
    t.run(2)
    assert math.isfinite(t.history[-1]["loss"]) and t.settings()["penalized_mask_loss"] is True
    with pytest.raises(ValueError, match="penalized_mask_loss needs face masks"):
        Trainer(PhazeA(MICRO), world.stream(0), world.stream(1), penalized_mask_loss=True, device="cpu")


def test_synthetic_sources_train_without_colour_jitter_folders_keep_faceswaps():
    world = FaceWorld(0)
    t = Trainer(PhazeA(MICRO), FaceBank(world, 0, 8), world.stream(1), batch_size=2, device="cpu")
    assert t.augment_config == SYNTHETIC_AUGMENT and t.augment_config.color_lightness == 0
    assert t.augment_config.random_warp and t.augment_config.rotation_range == AugmentConfig().rotation_range

    class Plain:
        name = "plain"

        def __init__(self, src):
            self.src = src

        def batch(self, *a, **k):
            return self.src.batch(*a, **k)

        def __len__(self):
            return 8

    t2 = Trainer(PhazeA(MICRO), Plain(FaceBank(world, 0, 8)), FaceBank(world, 1, 8), batch_size=2, device="cpu")
    assert t2.augment_config == AugmentConfig()  # a source without a default: faceswap's colour defaults
