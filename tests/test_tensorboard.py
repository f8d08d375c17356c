"""TensorBoard event logs of training (phazelab/train/tensorboard.py), read back with tensorboard's reader."""

import argparse

import pytest
import torch

from phazelab import PhazeA, PhazeAConfig
from phazelab.data import make_source
from phazelab.train import Trainer
from phazelab.train.cli import register
from phazelab.train.tensorboard import TensorBoardLogger, next_session_dir, read_events

MICRO = PhazeAConfig.preset("lab-tiny").replace(dec_res_blocks=0, fs_original_min_filters=16, dec_min_filters=16)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_events_written_and_readable(tmp_path):
    torch.manual_seed(0)
    trainer = Trainer(PhazeA(MICRO), make_source("synthetic:0"), make_source("synthetic:1"), batch_size=2,
                      device="cpu", preview_every=2, unfreeze_at=2)
    trainer.freeze(["encoder"])
    log_dir = next_session_dir(tmp_path / "logs")
    assert log_dir.name == "session_1"
    with TensorBoardLogger(log_dir).attach(trainer):
        trainer.run(3)
    assert next_session_dir(tmp_path / "logs").name == "session_2"
    ev = read_events(log_dir)
    sc = ev["scalars"]
    for tag in ("loss/total", "loss/side_a", "loss/side_b", "train/lr", "train/images_per_s",
                "loss/side_a/ssim", "loss/side_b/mse", "train/frozen_blocks"):
        assert [s for s, _ in sc[tag]] == [1, 2, 3], tag
    history = trainer.history
    assert [v for _, v in sc["loss/side_a"]] == pytest.approx([h["loss_a"] for h in history], rel=1e-6)
    assert [v for _, v in sc["loss/side_b/mse"]] == pytest.approx([h["mse_b"] for h in history], rel=1e-6)
    assert [v for _, v in sc["train/frozen_blocks"]] == [1, 1, 0]  # unfrozen at step 2
    assert sc["train/lr"][0][1] == pytest.approx(5e-5)
    (step, width, height), = ev["images"]["preview"]
    assert step == 2 and (height, width) == (6 * 64, 4 * 64)
    texts = [t for _, t in ev["text"]["events"]]
    assert any(t.startswith("freeze encoder") for t in texts)
    assert any(t.startswith("unfreeze encoder (unfreeze_at)") for t in texts)


def test_cli_train_tensorboard_flag(tmp_path, capsys):
    micro = tmp_path / "micro.json"
    micro.write_text(MICRO.to_json())
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["train", "--a", "synthetic:0", "--b", "synthetic:1", "--out", str(tmp_path / "run"),
                              "--config", str(micro), "--batch", "2", "--steps", "2", "--quiet", "--device", "cpu",
                              "--tensorboard", "--checkpoint-every", "2"])
    assert args.func(args) == 0
    assert "TensorBoard logs" in capsys.readouterr().out
    ev = read_events(tmp_path / "run" / "logs" / "session_1")
    assert [s for s, _ in ev["scalars"]["loss/total"]] == [1, 2]
    assert [s for s, _, _ in ev["images"]["preview"]] == [2]
