"""Crash-safe snapshots: atomic visibility, pruning, damage fallback, kill -9 mid-save."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from phazelab.train import checkpoint as ckpt

ROOT = Path(__file__).resolve().parents[1]


def _files(step: int) -> dict:
    return {"a.bin": bytes([step % 256]) * 1000, "b.json": f'{{"step": {step}}}'.encode(),
            "c.bin": lambda p: p.write_bytes(b"x" * step)}


def test_snapshots_are_listed_newest_first_and_only_the_last_two_are_kept(tmp_path):
    for step in (10, 20, 30):
        path = ckpt.write_snapshot(tmp_path, step, _files(step))
    snaps = ckpt.list_snapshots(tmp_path)
    assert [ckpt.snapshot_step(s) for s in snaps] == [30, 20]
    assert (tmp_path / "latest").read_text().strip() == path.name
    assert ckpt.find_snapshot(tmp_path) == path
    assert (path / "b.json").read_text() == '{"step": 30}'
    assert ckpt.verify_snapshot(path)["step"] == 30


def test_the_same_step_saved_twice_gets_a_new_snapshot_and_the_newest_wins(tmp_path):
    first = ckpt.write_snapshot(tmp_path, 5, {"a.bin": b"old"})
    second = ckpt.write_snapshot(tmp_path, 5, {"a.bin": b"new"})
    assert first != second and first.exists()
    assert (ckpt.find_snapshot(tmp_path) / "a.bin").read_bytes() == b"new"


def test_a_damaged_newest_snapshot_falls_back_to_the_previous_one(tmp_path):
    ckpt.write_snapshot(tmp_path, 1, _files(1))
    newest = ckpt.write_snapshot(tmp_path, 2, _files(2))
    data = bytearray((newest / "a.bin").read_bytes())
    data[10] ^= 0xFF  # same size, different content: only the checksum can tell
    (newest / "a.bin").write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="SHA-256"):
        found = ckpt.find_snapshot(tmp_path)
    assert ckpt.snapshot_step(found) == 1


def test_truncated_and_missing_files_are_detected_and_no_intact_snapshot_is_an_error(tmp_path):
    a = ckpt.write_snapshot(tmp_path, 1, _files(1))
    b = ckpt.write_snapshot(tmp_path, 2, _files(2))
    (a / "manifest.json").unlink()
    (b / "a.bin").write_bytes(b"short")
    with pytest.warns(RuntimeWarning), pytest.raises(ckpt.CheckpointError, match="no loadable checkpoint"):
        ckpt.find_snapshot(tmp_path)
    with pytest.raises(ckpt.CheckpointError, match="not found"):
        ckpt.find_snapshot(tmp_path / "nowhere")


def test_leftover_temporary_folders_are_never_snapshots_and_are_cleaned_up(tmp_path):
    good = ckpt.write_snapshot(tmp_path, 1, _files(1))
    stale = tmp_path / ".tmp-snap-deadbeef"
    stale.mkdir()
    (stale / "a.bin").write_bytes(b"half")
    assert ckpt.find_snapshot(tmp_path) == good
    ckpt.write_snapshot(tmp_path, 2, _files(2))
    assert not stale.exists()


def test_optimizer_state_round_trips_by_parameter_name():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    net(torch.randn(5, 4)).sum().backward()
    opt.step()
    names = {p: n for n, p in net.named_parameters()}
    tensors, meta = ckpt.pack_optimizer(opt, names)
    assert set(tensors) >= {"0.weight/exp_avg", "1.bias/exp_avg_sq"}
    net2 = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    opt2 = torch.optim.Adam(net2.parameters(), lr=0.5)
    names2 = {p: n for n, p in net2.named_parameters()}
    ckpt.unpack_optimizer(opt2, names2, tensors, meta)
    assert opt2.param_groups[0]["lr"] == 1e-3 and opt2.param_groups[0]["eps"] == 1e-7
    for p, p2 in zip(net.parameters(), net2.parameters(), strict=True):
        assert torch.equal(opt.state[p]["exp_avg"], opt2.state[p2]["exp_avg"])
    other = torch.nn.Linear(4, 2)
    with pytest.raises(ckpt.CheckpointError, match="do not match"):
        ckpt.unpack_optimizer(torch.optim.Adam(other.parameters()), {p: n for n, p in other.named_parameters()},
                              tensors, meta)


def test_rng_state_round_trips():
    gen = torch.Generator().manual_seed(3)
    state = ckpt.rng_state(torch.device("cpu"), gen)
    expected = (torch.rand(3), torch.rand(3, generator=gen))
    torch.rand(7)
    torch.rand(5, generator=gen)
    assert ckpt.set_rng_state(state, torch.device("cpu"), gen) == []
    assert torch.equal(torch.rand(3), expected[0]) and torch.equal(torch.rand(3, generator=gen), expected[1])


# -- kill -9 ---------------------------------------------------------------------------------------------
_CHILD = textwrap.dedent("""
    import sys, time
    import torch
    from phazelab import PhazeA, PhazeAConfig
    from phazelab.data import make_source
    from phazelab.train import Trainer, checkpoint

    saves = {"n": 0}
    real_fsync = checkpoint._fsync_file

    def slow_fsync(path):
        real_fsync(path)
        print("FILE", saves["n"], path.name, flush=True)
        if saves["n"] == 3 and path.name == "optimizer.safetensors":
            time.sleep(60)  # the parent kills us here, mid-save

    checkpoint._fsync_file = slow_fsync
    torch.manual_seed(0)
    trainer = Trainer(PhazeA(PhazeAConfig.preset("lab-tiny")), make_source("synthetic:0"),
                      make_source("synthetic:1"), batch_size=2, checkpoint_dir=sys.argv[1], device="cpu")
    for _ in range(3):
        saves["n"] += 1
        trainer.run(1)  # ends with a checkpoint
        print("SAVED", trainer.step, flush=True)
""")


def _child(tmp_path: Path, script: str, *args: str) -> subprocess.Popen:
    path = tmp_path / "child.py"
    path.write_text(script)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(path), *args], stdout=subprocess.PIPE, text=True, env=env,
                            cwd=ROOT)


def test_kill_9_in_the_middle_of_a_trainer_checkpoint_leaves_the_previous_one_loadable(tmp_path):
    root = tmp_path / "ckpt"
    proc = _child(tmp_path, _CHILD, str(root))
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line.strip())
            if line.startswith("FILE 3 optimizer.safetensors"):
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait(60)
        proc.stdout.close()
    assert "SAVED 2" in seen and "SAVED 3" not in seen, seen
    assert list(root.glob(".tmp-snap-*")), "the kill should have struck inside a save"
    snap = ckpt.find_snapshot(root)
    assert ckpt.snapshot_step(snap) == 2

    from phazelab.data import make_source
    from phazelab.train import Trainer

    trainer = Trainer.from_checkpoint(root, make_source("synthetic:0"), make_source("synthetic:1"), device="cpu")
    assert trainer.step == 2 and [r["step"] for r in trainer.history] == [1, 2]


_SAVER = textwrap.dedent("""
    import sys
    from phazelab.train import checkpoint
    step = 0
    while True:
        step += 1
        payload = bytes([step % 256]) * (3 << 20)
        checkpoint.write_snapshot(sys.argv[1], step, {"big.bin": payload, "small.json": b'{"step": %d}' % step})
        print("SAVED", step, flush=True)
""")


@pytest.mark.slow
def test_kill_9_at_random_moments_never_leaves_an_unloadable_checkpoint(tmp_path):
    root = tmp_path / "ckpt"
    rng = torch.Generator().manual_seed(0)
    for i in range(3):
        proc = _child(tmp_path, _SAVER, str(root))
        try:
            assert proc.stdout.readline().startswith("SAVED")  # at least one complete snapshot
            time.sleep(0.05 + 0.4 * torch.rand(1, generator=rng).item())
        finally:
            proc.kill()
            proc.wait(60)
            proc.stdout.close()
        snap = ckpt.find_snapshot(root)
        step = ckpt.snapshot_step(snap)
        assert (snap / "small.json").read_text() == f'{{"step": {step}}}', f"round {i}"
        assert (snap / "big.bin").read_bytes()[:1] == bytes([step % 256])
