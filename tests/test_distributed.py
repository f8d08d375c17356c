"""Trainer under a 2-process gloo group (what torchrun starts): one process with the combined batch, rank-0
checkpoints with every rank's RNG, exact resume."""

import json
import os
import shutil
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from phazelab import PhazeA, PhazeAConfig
from phazelab.data import make_source
from phazelab.train import Trainer, find_snapshot
from phazelab.train import distributed as pdist
from phazelab.train.checkpoint import list_snapshots

MICRO = PhazeAConfig.preset("lab-tiny").replace(dec_res_blocks=0, fs_original_min_filters=16, dec_min_filters=16)
SEED, LR, BATCH = 5, 1e-3, 2

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sources():
    return make_source("synthetic:0"), make_source("synthetic:1")


def _worker(rank: int, world: int, port: int, root: str, out: str, resume: bool) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        if resume:
            trainer = Trainer.from_checkpoint(root, *_sources(), device="cpu")
            trainer.run(2)
            results = {"w4_resumed": trainer}
        else:
            torch.manual_seed(0)
            trainer = Trainer(PhazeA(MICRO), *_sources(), batch_size=BATCH, seed=SEED, device="cpu",
                              precision="fp32", lr=LR, checkpoint_dir=root)
            trainer.run(2)  # ends with a checkpoint at step 2
            save = {"w2": {k: v.clone() for k, v in trainer.model.state_dict().items()}}
            trainer.run(2)
            results = {"w4": trainer, **save}
        if rank == 0:
            for name, value in results.items():
                sd = value.model.state_dict() if isinstance(value, Trainer) else value
                save_file({k: v.contiguous() for k, v in sd.items()}, f"{out}/{name}.safetensors")
                if isinstance(value, Trainer):
                    with open(f"{out}/{name}.json", "w") as f:
                        json.dump(value.history, f)
    finally:
        dist.destroy_process_group()


def _spawn(root, out, resume: bool) -> None:
    mp.spawn(_worker, args=(2, _free_port(), str(root), str(out), resume), nprocs=2, join=True)


def _combined_batch_reference(steps: int) -> dict[str, torch.Tensor]:
    """One process: each step's gradient is that of the mean loss over both ranks' batches (drawn from
    the ranks' own data and noise streams), then one Adam step — the combined batch of 2 × BATCH."""
    torch.manual_seed(0)
    ref = Trainer(PhazeA(MICRO), *_sources(), batch_size=BATCH, seed=SEED, device="cpu", precision="fp32", lr=LR)
    gens, noise = [], []
    for r in range(2):
        gens.append(torch.Generator().manual_seed(SEED + pdist.RANK_STRIDE * r))
        torch.manual_seed(SEED + pdist.RANK_STRIDE * r)
        noise.append(torch.get_rng_state())
    for _ in range(steps):
        for r in range(2):
            torch.set_rng_state(noise[r])
            x_a, t_a = ref._batch(ref.data_a, gens[r])
            x_b, t_b = ref._batch(ref.data_b, gens[r])
            out_a, out_b = ref.model(x_a, x_b)
            loss = ref.loss_fn(out_a, t_a)[0] + ref.loss_fn(out_b, t_b)[0]
            (loss / 2).backward()
            noise[r] = torch.get_rng_state()
        ref.optimizer.step()
        ref.optimizer.zero_grad(set_to_none=True)
    return ref.model.state_dict()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("ddp")
    root, out = base / "run", base / "out"
    out.mkdir()
    _spawn(root, out, resume=False)
    step2 = [s for s in list_snapshots(root) if json.loads((s / "trainer.json").read_text())["step"] == 2]
    resumed = base / "resumed"
    resumed.mkdir()
    shutil.copytree(step2[0], resumed / step2[0].name)
    _spawn(resumed, out, resume=True)
    return root, out


def test_two_processes_equal_one_process_with_the_combined_batch(runs):
    _, out = runs
    w2 = load_file(str(out / "w2.safetensors"))
    ref = _combined_batch_reference(2)
    for k, v in ref.items():
        assert torch.allclose(w2[k], v, rtol=1e-4, atol=2e-5), k


def test_rank0_checkpoints_hold_every_ranks_rng_and_resume_is_exact(runs):
    root, out = runs
    snap = find_snapshot(root)
    assert (snap / "rng.safetensors").is_file() and (snap / "rng.rank1.safetensors").is_file()
    r0, r1 = load_file(str(snap / "rng.safetensors")), load_file(str(snap / "rng.rank1.safetensors"))
    assert not torch.equal(r0["data_generator"], r1["data_generator"])  # per-rank data streams
    straight, resumed = load_file(str(out / "w4.safetensors")), load_file(str(out / "w4_resumed.safetensors"))
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    h_straight = json.loads((out / "w4.json").read_text())
    h_resumed = json.loads((out / "w4_resumed.json").read_text())
    assert [h["loss"] for h in h_straight] == [h["loss"] for h in h_resumed] and len(h_straight) == 4


def test_single_process_is_untouched():
    assert pdist.world_size() == 1 and pdist.rank() == 0 and pdist.is_main()
    assert pdist.rank_seed(7) == 7 and pdist.init_from_env("cpu") == "cpu"
    model = torch.nn.Linear(2, 2)
    assert pdist.wrap(model, seed=3) is model
    x = torch.ones(3)
    assert pdist.mean_over_ranks(x) is x and pdist.rank_rng_files(torch.device("cpu"), torch.Generator()) == {}


@pytest.mark.slow
def test_phazelab_train_under_torchrun_writes_once_and_resumes(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    out = tmp_path / "run"
    base = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
            str(_free_port()), "-m", "phazelab", "train", "--out", str(out), "--device", "cpu", "--quiet"]
    first = base + ["--a", "synthetic:0", "--b", "synthetic:1", "--steps", "2", "--config", str(tmp_path / "c.json"),
                    "--batch", "2", "--checkpoint-every", "1"]
    (tmp_path / "c.json").write_text(MICRO.to_json())
    done = subprocess.run(first, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("training 2 steps") == 1 and "× 2 processes" in done.stdout  # rank 0 prints
    snap = find_snapshot(out / "checkpoints")
    assert (snap / "rng.rank1.safetensors").is_file() and (out / "model").is_dir()
    base[6] = str(_free_port())
    again = subprocess.run(base + ["--steps", "3", "--resume"], env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((find_snapshot(out / "checkpoints") / "trainer.json").read_text())["step"] == 3
