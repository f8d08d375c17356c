"""Same command, same seed, same model (issue 17.1): every entry point that builds and trains is seeded."""


import pytest
import torch
from safetensors.torch import load_file

from phazelab import PhazeA, PhazeAConfig, lab
from phazelab.cli import main
from phazelab.data import FaceWorld

pytestmark = pytest.mark.usefixtures("one_thread")

MICRO = PhazeAConfig.preset("lab-tiny").replace(dec_res_blocks=0, fs_original_min_filters=16, dec_min_filters=16)


def _cli(*argv: str) -> int:
    return main(list(argv))  # the real entry point, as `phazelab ...` runs it


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_phazea_seed_gives_the_same_weights_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first = PhazeA(MICRO, seed=7).state_dict()
    assert torch.equal(torch.rand(3), expected_next)  # building did not move the global stream
    torch.rand(100)  # whatever ran before must not matter
    assert _equal(first, PhazeA(MICRO, seed=7).state_dict())
    assert not _equal(first, PhazeA(MICRO, seed=8).state_dict())
    with pytest.raises(TypeError, match="seed"):
        PhazeA(MICRO, seed=1.5)


def test_cli_train_twice_with_the_default_seed_gives_identical_weights(tmp_path, capsys):
    micro = tmp_path / "micro.json"
    micro.write_text(MICRO.to_json())
    runs = []
    for name, extra in (("one", []), ("two", []), ("other", ["--seed", "1"])):
        out = tmp_path / name
        torch.rand(17)  # the process's RNG state differs between the runs
        assert _cli("train", "--a", "synthetic:0", "--b", "synthetic:1", "--config", str(micro), "--batch", "2",
                    "--steps", "2", "--out", str(out), "--quiet", "--device", "cpu", *extra) == 0
        runs.append(load_file(str(out / "model" / "model.safetensors")))
    assert _equal(runs[0], runs[1])
    assert not _equal(runs[0], runs[2])


def test_lab_build_and_train_pair_are_reproducible_from_their_seeds():
    world = FaceWorld(seed=0)
    models = []
    for _ in range(2):
        torch.rand(5)
        model = lab.build(MICRO, seed=3)
        lab.train_pair(model, world, 0, 1, steps=2, batch=2, seed=4, device="cpu")
        models.append(model.state_dict())
    assert _equal(*models)


def test_topology_picker_builds_the_same_model_for_the_same_seed():
    from phazelab.widgets import TopologyPicker

    picker = TopologyPicker(MICRO)
    assert _equal(picker.build().state_dict(), picker.build().state_dict())
    assert not _equal(picker.build(seed=0).state_dict(), picker.build(seed=1).state_dict())


def test_resume_rebuilds_the_same_bank_and_refuses_another_source(tmp_path, capsys):
    """A bank with a frame count resumes from its own spec (synthetic:0:8, not the 2048-frame default),
    so a plain --resume equals an uninterrupted run; a different --a is refused by name."""
    base = ["--a", "synthetic:0:8", "--b", "synthetic:1:8", "--preset", "lab-slim", "--batch", "2", "--quiet",
            "--checkpoint-every", "1"]
    assert _cli("train", *base, "--steps", "3", "--out", str(tmp_path / "straight")) == 0
    assert _cli("train", *base, "--steps", "2", "--out", str(tmp_path / "split")) == 0
    assert _cli("train", "--resume", "--steps", "3", "--out", str(tmp_path / "split"), "--quiet") == 0
    a = load_file(str(tmp_path / "straight" / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "split" / "model" / "model.safetensors"))
    assert _equal(a, b)
    capsys.readouterr()
    assert _cli("train", "--resume", "--a", "synthetic:2:8", "--steps", "4", "--out", str(tmp_path / "split"),
                "--quiet") == 2
    assert "--a synthetic:2:8 (saved synthetic:0:8)" in capsys.readouterr().err
