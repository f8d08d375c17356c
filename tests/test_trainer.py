"""Trainer behaviour on a very small Phaze-A (lab-tiny made smaller) and the real synthetic sources."""

import threading
import time

import pytest
import torch

from phazelab import PhazeA, PhazeAConfig
from phazelab.cli import main
from phazelab.data import make_source
from phazelab.train import NonFiniteLossError, Trainer, TrainerBusyError, find_snapshot, preview_grid
from phazelab.weights import load_model, save

# lab-tiny without the decoder's residual blocks and with narrower ends: same topology (split fc, shared
# G-Block and decoder, Gaussian noise), a fraction of the compute.
MICRO = PhazeAConfig.preset("lab-tiny").replace(dec_res_blocks=0, fs_original_min_filters=16, dec_min_filters=16)


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def make_trainer(seed: int = 0, **kwargs) -> Trainer:
    torch.manual_seed(seed)
    kwargs.setdefault("batch_size", 2)
    kwargs.setdefault("device", "cpu")
    return Trainer(PhazeA(MICRO), make_source("synthetic:0"), make_source("synthetic:1"), **kwargs)


def block_params(trainer: Trainer, name: str) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.model.blocks[name].state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def wait_until(predicate, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


class DivergeAfter(torch.nn.Module):
    """Wraps the trainer's loss: side B's loss turns NaN from step `good` + 1 on (a diverging run)."""

    def __init__(self, inner, good: int) -> None:
        super().__init__()
        self.inner, self.good, self.calls = inner, good, 0
        self.names, self.weights = inner.names, inner.weights

    def forward(self, pred, target):
        self.calls += 1
        total, terms = self.inner(pred, target)
        if self.calls % 2 == 0 and self.calls // 2 > self.good:
            return total * float("nan"), terms * float("nan")
        return total, terms


# -- training --------------------------------------------------------------------------------------------
def test_a_short_run_lowers_both_losses_and_records_every_step():
    records = []
    trainer = make_trainer(lr=1e-3, batch_size=2, on_metrics=records.append, metrics_every=3)
    trainer.run(8)
    frame = trainer.history_frame()
    assert list(frame["step"]) == list(range(1, 9)) and len(records) == 8
    for side in ("loss_a", "loss_b"):
        assert frame[side].iloc[-3:].mean() < frame[side].iloc[:2].mean(), side
    # the per-side loss is SSIM + 1.0·MSE, the total is A + B
    assert frame["loss_a"].to_numpy() == pytest.approx((frame["ssim_a"] + frame["mse_a"]).to_numpy(), rel=1e-5)
    assert frame["loss"].to_numpy() == pytest.approx((frame["loss_a"] + frame["loss_b"]).to_numpy(), rel=1e-5)
    assert (frame["img_per_s"] > 0).all() and (frame["lr"] == 1e-3).all()
    assert trainer.state == "finished"


def test_faceswap_defaults():
    trainer = make_trainer()
    group = trainer.optimizer.param_groups[0]
    assert isinstance(trainer.optimizer, torch.optim.Adam)
    assert (group["lr"], group["eps"], tuple(group["betas"]), group["weight_decay"]) == (5e-5, 1e-7, (0.9, 0.999), 0)
    assert trainer.loss_fn.names == ["ssim", "mse"] and trainer.loss_fn.weights == [1.0, 1.0]
    assert Trainer.__init__.__kwdefaults__["batch_size"] == 16
    assert trainer.precision == "fp32" or trainer.precision == "bf16"  # auto on CPU: bf16 only with AMX


def test_frozen_blocks_stay_bit_identical_and_get_no_optimizer_state():
    trainer = make_trainer(lr=1e-3)
    trainer.freeze(["encoder", "fc_b"]).result()
    before = {n: block_params(trainer, n) for n in ("encoder", "fc_b", "fc_a", "decoder_both")}
    trainer.run(2)
    assert same(before["encoder"], block_params(trainer, "encoder"))
    assert same(before["fc_b"], block_params(trainer, "fc_b"))
    assert not same(before["fc_a"], block_params(trainer, "fc_a"))
    assert not same(before["decoder_both"], block_params(trainer, "decoder_both"))
    frozen_params = set(trainer.model.blocks["encoder"].parameters())
    assert not frozen_params & set(trainer.optimizer.state)
    assert trainer.history[-1]["frozen"] == ["encoder", "fc_b"]
    assert [e["kind"] for e in trainer.events] == ["freeze"]


def test_unfreeze_at_kickstart_schedule():
    trainer = make_trainer(lr=1e-3, unfreeze_at=("encoder", 2))
    trainer.freeze("encoder").result()
    start = block_params(trainer, "encoder")
    trainer.run(2)
    assert same(start, block_params(trainer, "encoder"))
    trainer.run(1)
    assert not same(start, block_params(trainer, "encoder"))
    assert [r["frozen"] for r in trainer.history] == [["encoder"], ["encoder"], []]
    assert trainer.events[-1] == {"step": 2, "kind": "unfreeze", "blocks": ["encoder"], "detail": "unfreeze_at"}


def test_unfreeze_at_forms_and_bad_names():
    assert make_trainer(unfreeze_at=5).schedule == [(5, None)]
    assert make_trainer(unfreeze_at={"encoder": 3, "fc_a": 3, "fc_b": 1}).schedule == [
        (1, ["fc_b"]), (3, ["encoder", "fc_a"])]
    with pytest.raises(ValueError, match="unfreeze_at: block"):
        make_trainer(unfreeze_at={"decoder_a": 3})  # not in this topology (shared decoder)
    with pytest.raises(ValueError, match="batch_size"):
        make_trainer(batch_size=0)
    with pytest.raises(ValueError, match="checkpoint_dir"):
        make_trainer(checkpoint_every=5)


def test_load_blocks_copies_weights_and_resets_their_adam_state(tmp_path):
    torch.manual_seed(7)
    donor = PhazeA(MICRO)
    save(donor, tmp_path / "donor")
    trainer = make_trainer(lr=1e-3)
    trainer.run(1)
    report = trainer.load_blocks(tmp_path / "donor", ["encoder"]).result()
    assert report.loaded == ["encoder"]
    assert same(block_params(trainer, "encoder"), {k: v for k, v in donor.blocks["encoder"].state_dict().items()})
    assert not set(trainer.model.blocks["encoder"].parameters()) & set(trainer.optimizer.state)
    assert set(trainer.model.blocks["fc_a"].parameters()) <= set(trainer.optimizer.state)
    assert trainer.events[-1]["kind"] == "load" and trainer.events[-1]["step"] == 1
    with pytest.raises(ValueError, match="unknown block"):
        trainer.load_blocks(tmp_path / "donor", ["nose"]).result()


# -- background thread -------------------------------------------------------------------------------------
def test_background_start_pause_resume_stop_and_no_second_loop():
    trainer = make_trainer()
    trainer.start(10_000)
    try:
        with pytest.raises(TrainerBusyError):
            trainer.start(1)
        with pytest.raises(TrainerBusyError):
            trainer.run(1)
        wait_until(lambda: trainer.step >= 1)
        trainer.pause()
        assert trainer.state == "paused"
        paused_step = trainer.step
        assert trainer.history[-1]["step"] == paused_step  # metrics flushed on pause
        time.sleep(0.5)
        assert trainer.step == paused_step
        # a freeze requested while paused is applied without resuming
        assert trainer.freeze("encoder").result(timeout=30) == ["encoder"]
        frozen = block_params(trainer, "encoder")
        trainer.resume()
        wait_until(lambda: trainer.step >= paused_step + 1)
    finally:
        assert trainer.stop(timeout=120) == "finished"
    assert same(frozen, block_params(trainer, "encoder"))
    assert trainer.step < 10_000 and not trainer._thread.is_alive()
    assert sum(t.name == "phazelab-trainer" and t.is_alive() for t in threading.enumerate()) == 0
    trainer.run(1)  # a finished trainer can train again
    assert trainer.state == "finished"


def test_run_seconds_counts_while_a_run_is_active_and_holds_still_after_it():
    trainer = make_trainer()
    assert trainer.run_seconds is None  # no run yet
    trainer.start(10_000)
    try:
        wait_until(lambda: trainer.step >= 1)
        first = trainer.run_seconds
        time.sleep(0.2)
        assert trainer.run_seconds >= first + 0.15  # counting up while running (pauses would count too)
    finally:
        trainer.stop(timeout=120)
    ended = trainer.run_seconds
    time.sleep(0.2)
    assert trainer.run_seconds == ended >= first + 0.15  # the run's wall time, fixed at its end
    began = time.perf_counter()
    trainer.run(1)
    assert trainer.run_seconds <= time.perf_counter() - began  # the last run's alone, not a sum with `ended`


def test_nan_guard_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    trainer = make_trainer(checkpoint_dir=tmp_path, checkpoint_every=1)
    trainer.loss_fn = DivergeAfter(trainer.loss_fn, good=2)
    trainer.start(5)
    assert trainer.wait(timeout=300) == "error"
    assert isinstance(trainer.error.exception, NonFiniteLossError)
    message = str(trainer.error.exception)
    assert "step 3" in message and "loss_b=nan" in message and "loss_a" not in message
    assert "NonFiniteLossError" in trainer.error.traceback
    assert trainer.step == 2
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())  # stopped before the update
    assert find_snapshot(tmp_path) == trainer.last_checkpoint
    resumed = Trainer.from_checkpoint(tmp_path, make_source("synthetic:0"), make_source("synthetic:1"), device="cpu")
    assert resumed.step == 2
    with pytest.raises(NonFiniteLossError):  # run() raises what the loop raised
        trainer.run(1)


def test_nan_guard_message_numbers_one_step_the_refused_one():
    import re

    trainer = make_trainer()
    trainer.loss_fn = DivergeAfter(trainer.loss_fn, good=1)
    trainer.start(4)
    assert trainer.wait(timeout=300) == "error"
    text = str(trainer.error)  # what the CLI and the TrainPanel show
    assert re.findall(r"step (\d+)", text) == ["2"], text
    assert trainer.error.exception.step == 2 and trainer.step == 1


# -- checkpoints ----------------------------------------------------------------------------------------------
def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    straight = make_trainer(seed=3, lr=1e-3)
    straight.run(4)

    first = make_trainer(seed=3, lr=1e-3, checkpoint_dir=tmp_path)
    first.run(2)  # ends with a checkpoint
    del first
    torch.manual_seed(999)  # whatever happened in between must not matter
    torch.rand(10)
    resumed = Trainer.from_checkpoint(tmp_path, make_source("synthetic:0"), make_source("synthetic:1"), device="cpu")
    assert resumed.step == 2 and resumed.lr == 1e-3
    resumed.run(2)

    for (name, p), (_, q) in zip(straight.model.named_parameters(), resumed.model.named_parameters(), strict=True):
        assert torch.equal(p, q), name
    keys = ["step", "loss", "loss_a", "loss_b", *straight.term_names]
    assert [[r[k] for k in keys] for r in straight.history] == [[r[k] for k in keys] for r in resumed.history]
    for p, q in zip(straight.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(straight.optimizer.state[p]["exp_avg_sq"], resumed.optimizer.state[q]["exp_avg_sq"])


def test_checkpoint_restores_frozen_blocks_schedule_and_events(tmp_path):
    trainer = make_trainer(checkpoint_dir=tmp_path, unfreeze_at=("encoder", 5))
    trainer.freeze(["encoder"]).result()
    trainer.save_checkpoint().result()
    other = Trainer.from_checkpoint(tmp_path, make_source("synthetic:0"), make_source("synthetic:1"), device="cpu")
    assert other.frozen == ["encoder"] and other.schedule == [(5, ["encoder"])]
    assert other.events == trainer.events and other.settings() == trainer.settings()
    wrong = Trainer(PhazeA(PhazeAConfig.preset("lab-tiny")), make_source("synthetic:0"),
                    make_source("synthetic:1"), batch_size=2, device="cpu")
    with pytest.raises(Exception, match="different model config"):
        wrong.load_checkpoint(tmp_path).result()


# -- previews -------------------------------------------------------------------------------------------
def test_preview_grid_rows_are_inputs_reconstructions_and_swaps():
    trainer = make_trainer(batch_size=2)
    x_a, _, x_b, _ = trainer.sample_batches()
    grid = preview_grid(trainer.model, x_a, x_b)
    s, n = trainer.model.output_size, x_a.shape[0]
    assert grid.shape == (3, 6 * s, n * s) and trainer.model.training
    assert torch.equal(grid[:, :s, :s], x_a[0].float().clamp(0, 1))  # row 0: A
    assert torch.equal(grid[:, 3 * s:4 * s, s:2 * s], x_b[1].float().clamp(0, 1))  # row 3: B
    trainer.model.eval()
    with torch.no_grad():
        swap = trainer.model.swap(x_a, to="b")
    assert torch.allclose(grid[:, 2 * s:3 * s, :s], swap[0], atol=1e-6)  # row 2: A→B


def test_preview_callback_every_n_steps_does_not_change_training():
    seen = []
    with_previews = make_trainer(seed=1, preview_every=1, on_preview=lambda step, g: seen.append((step, g.shape)))
    with_previews.run(2)
    plain = make_trainer(seed=1)
    plain.run(2)
    assert [s for s, _ in seen] == [1, 2]
    assert all(torch.equal(p, q) for p, q in zip(with_previews.model.parameters(), plain.model.parameters(),
                                                  strict=True))


# -- CLI ----------------------------------------------------------------------------------------------------
def _cli(*argv: str) -> int:
    return main(list(argv))  # the real entry point, as `phazelab ...` runs it


def test_cli_train_end_to_end_resume_and_refusing_to_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    micro = tmp_path / "micro.json"
    micro.write_text(MICRO.to_json())
    common = ["--a", "synthetic:0", "--b", "synthetic:1", "--out", str(out), "--batch", "2", "--quiet",
              "--device", "cpu"]
    assert _cli("train", *common, "--config", str(micro), "--steps", "2", "--checkpoint-every", "1") == 0
    model = load_model(out / "model")
    assert model.config == MICRO
    assert len((out / "metrics.csv").read_text().strip().splitlines()) == 1 + 2

    assert _cli("train", "--out", str(out), "--steps", "3", "--resume", "--quiet", "--device", "cpu") == 0
    assert len((out / "metrics.csv").read_text().strip().splitlines()) == 1 + 3

    assert _cli("train", *common, "--config", str(micro), "--steps", "2") == 2
    assert "already holds a training run" in capsys.readouterr().err
    assert _cli("train", *common, "--preset", "lab-tiny", "--steps", "2", "--resume") == 2
    err = capsys.readouterr().err
    assert "differ from it" in err and "--preset" in err and "fs_original_min_filters" in err

    # the same command again with --resume added: accepted; only an option that differs is refused, by name
    assert _cli("train", *common, "--config", str(micro), "--steps", "4", "--resume", "--seed", "0") == 0
    assert len((out / "metrics.csv").read_text().strip().splitlines()) == 1 + 4
    assert _cli("train", *common, "--config", str(micro), "--steps", "5", "--resume", "--lr", "1e-3") == 2
    err = capsys.readouterr().err
    assert "--lr 0.001 (saved 5e-05)" in err and "--batch" not in err and "model options" not in err
    assert _cli("train", *common[:-2], "--batch", "3", "--steps", "5", "--resume", "--freeze", "encoder") == 2
    err = capsys.readouterr().err
    assert "--batch 3 (saved 2)" in err and "--freeze encoder (saved none)" in err


def test_cli_load_freeze_and_unfreeze_at(tmp_path, capsys):
    torch.manual_seed(5)
    donor = PhazeA(MICRO)
    save(donor, tmp_path / "donor")
    micro = tmp_path / "micro.json"
    micro.write_text(MICRO.to_json())
    out = tmp_path / "run"
    code = _cli("train", "--a", "synthetic:0", "--b", "synthetic:1", "--out", str(out), "--config", str(micro),
                "--batch", "2", "--steps", "2", "--quiet", "--device", "cpu", "--load-from", str(tmp_path / "donor"),
                "--load", "encoder,fc_b", "--freeze", "encoder", "--unfreeze-at", "1", "--lr", "1e-3")
    assert code == 0
    printed = capsys.readouterr().out
    assert "loaded from" in printed and "encoder, fc_b" in printed and "frozen: encoder" in printed
    frame = __import__("pandas").read_csv(out / "metrics.csv")
    assert list(frame["frozen"]) == ["['encoder']", "[]"]
    trained = load_model(out / "model").blocks["encoder"].state_dict()
    assert not same(trained, donor.blocks["encoder"].state_dict())  # frozen for step 1, trained in step 2
    assert _cli("train", "--a", "synthetic:0", "--b", "synthetic:1", "--out", str(tmp_path / "x"),
                "--steps", "1", "--unfreeze-at", "3") == 2
    assert "--unfreeze-at needs --freeze" in capsys.readouterr().err
