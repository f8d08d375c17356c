"""Frozen means frozen (issue 17.5): a frozen block with running-statistics norm layers (dec_norm="batch")
changes neither parameters nor buffers while the model trains, through every way of freezing."""

import pytest
import torch

from phazelab import PhazeA, PhazeAConfig, weights
from phazelab.data import make_source
from phazelab.train import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")

# MICRO with BatchNorm in every decoder upscale (its running mean / var are buffers)
BATCHNORM = PhazeAConfig.preset("lab-tiny").replace(dec_res_blocks=0, fs_original_min_filters=16,
                                                    dec_min_filters=16, dec_norm="batch", split_decoders=True)


def state(model: PhazeA, block: str) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.blocks[block].state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def make(**kwargs) -> Trainer:
    return Trainer(PhazeA(BATCHNORM, seed=0), make_source("synthetic:0"), make_source("synthetic:1"),
                   batch_size=2, device="cpu", **kwargs)


def test_the_config_has_running_statistics_to_protect():
    model = PhazeA(BATCHNORM, seed=0)
    buffers = [n for n, _ in model.blocks["decoder_a"].named_buffers() if "running_mean" in n]
    assert buffers


@pytest.mark.parametrize("how", ["trainer.freeze", "weights.freeze before the Trainer", "checkpoint resume"])
def test_frozen_block_keeps_parameters_and_buffers_bit_identical(how, tmp_path):
    if how == "trainer.freeze":
        trainer = make()
        trainer.freeze(["decoder_a", "g_block_both"]).result()
    elif how == "weights.freeze before the Trainer":
        model = PhazeA(BATCHNORM, seed=0)
        weights.freeze(model, ["decoder_a", "g_block_both"])
        model.train()
        trainer = Trainer(model, make_source("synthetic:0"), make_source("synthetic:1"), batch_size=2,
                          device="cpu")
    else:
        first = make(checkpoint_dir=tmp_path)
        first.freeze(["decoder_a", "g_block_both"]).result()
        first.run(1)
        trainer = Trainer.from_checkpoint(tmp_path, make_source("synthetic:0"), make_source("synthetic:1"),
                                          device="cpu")
    before = {b: state(trainer.model, b) for b in ("decoder_a", "decoder_b")}
    trainer.run(2)
    trainer.preview()  # eval and back to train must not wake the frozen norms
    trainer.run(1)
    assert same(before["decoder_a"], state(trainer.model, "decoder_a"))
    assert not same(before["decoder_b"], state(trainer.model, "decoder_b"))  # the trainable one learns


def test_unfreeze_puts_the_norms_back_into_train_mode():
    trainer = make(unfreeze_at=1)
    trainer.freeze("decoder_a").result()
    bn = [m for m in trainer.model.blocks["decoder_a"].modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bn and not any(m.training for m in bn)
    before = state(trainer.model, "decoder_a")
    trainer.run(1)
    assert same(before, state(trainer.model, "decoder_a"))
    trainer.run(1)  # unfrozen at step 1: statistics and weights move again
    assert all(m.training for m in bn)
    assert not same(before, state(trainer.model, "decoder_a"))


def test_block_panel_freeze_is_frozen_too():
    from phazelab.widgets import BlockPanel

    trainer = make()
    panel = BlockPanel(trainer.model, trainer=trainer)
    panel.rows["decoder_a"].freeze.value = True
    panel.apply()
    panel.wait(60)
    before = state(trainer.model, "decoder_a")
    trainer.run(2)
    assert same(before, state(trainer.model, "decoder_a"))
