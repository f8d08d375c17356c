"""save / load_model / load_blocks / freeze: round trips, reports, errors and crash safety."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from phazelab import (
    BlockError,
    PhazeA,
    PhazeAConfig,
    freeze,
    frozen_blocks,
    load_blocks,
    load_model,
    save,
    unfreeze,
)
from phazelab.weights import ModelFileError, atomic_dir, atomic_write_text

TINY = PhazeAConfig.preset("lab-tiny")


def make(seed=0, **changes):
    torch.manual_seed(seed)
    return PhazeA(TINY.replace(**changes) if changes else TINY).eval()


def test_save_load_round_trip_is_bit_exact(tmp_path):
    model = make()
    path = save(model, tmp_path / "m", meta={"step": 7})
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "meta.json", "model.safetensors"]
    loaded = load_model(path).eval()
    assert loaded.config == model.config
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(model(x, x), loaded(x, x)):
            assert torch.equal(a, b)
    from phazelab.weights import read_meta
    assert read_meta(path)["step"] == 7


def test_load_model_errors_name_the_file(tmp_path):
    with pytest.raises(ModelFileError, match="no saved model"):
        load_model(tmp_path / "nothing")
    path = save(make(), tmp_path / "m")
    (path / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelFileError, match="model.safetensors"):
        load_model(path)
    (path / "config.json").write_text("{")
    with pytest.raises(ModelFileError, match="config.json"):
        load_model(path)


def test_load_model_never_unpickles(tmp_path):
    path = save(make(), tmp_path / "m")
    evil = tmp_path / "evil.pt"
    torch.save({"x": 1}, evil)
    os.replace(evil, path / "model.safetensors")
    with pytest.raises(ModelFileError):
        load_model(path)


def test_load_blocks_copies_only_named_blocks(tmp_path):
    source, target = make(seed=1), make(seed=2)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    report = load_blocks(target, source, ["encoder", "fc_b"])
    assert report.loaded == ["encoder", "fc_b"] and not report.skipped and not report.mismatched
    for key, value in target.state_dict().items():
        block = key.split(".")[1]
        expected = source.state_dict()[key] if block in ("encoder", "fc_b") else before[key]
        assert torch.equal(value, expected), key


def test_load_blocks_from_a_saved_folder(tmp_path):
    source, target = make(seed=1), make(seed=2)
    save(source, tmp_path / "src")
    report = load_blocks(target, tmp_path / "src", "encoder,fc_gblock")
    assert report.loaded == ["encoder", "fc_gblock"]
    assert torch.equal(target.blocks["fc_gblock"].dense[0].weight, source.blocks["fc_gblock"].dense[0].weight)


def test_load_blocks_reports_blocks_missing_on_either_side():
    source = make(seed=1, split_decoders=True)  # has decoder_a/decoder_b, no decoder_both
    target = make(seed=2)
    with pytest.warns(UserWarning, match="skipped"):
        report = load_blocks(target, source, ["decoder_a", "decoder_both", "fc_a"])
    assert report.loaded == ["fc_a"]
    assert set(report.skipped) == {"decoder_a", "decoder_both"}
    assert "target" in report.skipped["decoder_a"] and "source" in report.skipped["decoder_both"]


def test_mismatched_block_raises_and_leaves_target_untouched():
    source = make(seed=1, bottleneck_size=256)  # encoder dense and every fc input differ
    target = make(seed=2)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(BlockError) as err:
        load_blocks(target, source, ["fc_gblock", "encoder"])
    msg = str(err.value)
    assert "fc_gblock" in msg and "[256]" in msg.replace(", ", ",") or "256" in msg
    for key, value in target.state_dict().items():
        assert torch.equal(value, before[key]), key  # fc_gblock was not copied either
    report = load_blocks(target, source, ["fc_gblock", "g_block_both"], on_mismatch="skip")
    assert report.loaded == ["g_block_both"] and "fc_gblock" in report.mismatched


def test_unknown_block_names_list_valid_ones():
    with pytest.raises(BlockError, match="fc_c.*valid names.*decoder_both"):
        load_blocks(make(), make(), ["fc_c"])
    with pytest.raises(BlockError, match="nose"):
        freeze(make(), ["nose"])


def test_freeze_keeps_weights_bit_identical_through_optimizer_steps():
    model = make().train()
    freeze(model, ["encoder", "fc_b"])
    assert frozen_blocks(model) == ["encoder", "fc_b"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    x = torch.rand(2, 3, 64, 64)
    for _ in range(3):
        a, b = model(x, x)
        ((a - x) ** 2).mean().add(((b - x) ** 2).mean()).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    for key, value in model.state_dict().items():
        block = key.split(".")[1]
        if block in ("encoder", "fc_b"):
            assert torch.equal(value, before[key]), key
    changed = {k.split(".")[1] for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert {"fc_a", "g_block_both", "decoder_both", "fc_gblock"} <= changed


def test_unfreeze_and_faceswap_default_freeze():
    model = make()
    with pytest.warns(UserWarning, match="keras_encoder"):
        assert freeze(model, model.config.freeze_layers) == []  # faceswap's default freezes nothing here
    assert frozen_blocks(model) == []
    with pytest.warns(UserWarning, match="not in this model"):
        freeze(model, ["encoder", "decoder_a"])
    assert frozen_blocks(model) == ["encoder"]
    unfreeze(model)
    assert frozen_blocks(model) == []


def test_atomic_dir_keeps_old_folder_when_writing_fails(tmp_path):
    target = tmp_path / "m"
    save(make(seed=1), target)
    good = (target / "model.safetensors").read_bytes()
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "model.safetensors").write_bytes(b"half")
            raise RuntimeError("crash mid-save")
    assert (target / "model.safetensors").read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_crash_between_renames_is_recovered(tmp_path, monkeypatch):
    target = tmp_path / "m"
    save(make(seed=1), target)
    real_rename = os.rename
    calls = []

    def crash_on_second(src, dst):
        calls.append(src)
        if len(calls) == 2:
            raise KeyboardInterrupt("power cut")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        save(make(seed=2), target)
    monkeypatch.setattr(os, "rename", real_rename)
    assert not target.exists()  # the crash struck between moving the old folder aside and the new one in
    loaded = load_model(target)  # ...and loading puts the previous good model back
    key = "blocks.fc_a.dense.0.bias"
    assert torch.equal(loaded.state_dict()[key], make(seed=1).state_dict()[key])


def test_kill_9_during_repeated_saves_never_leaves_an_unloadable_model(tmp_path):
    target = tmp_path / "m"
    script = textwrap.dedent(f"""
        import torch, itertools
        from phazelab import PhazeA, PhazeAConfig, save
        model = PhazeA(PhazeAConfig.preset("lab-tiny"))
        print("ready", flush=True)
        for i in itertools.count():
            with torch.no_grad():
                model.blocks["fc_a"].dense[0].bias.fill_(float(i))
            save(model, {str(target)!r}, meta={{"step": i}})
    """)
    for delay in (1.0, 2.5):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        model = load_model(target)
        bias = model.blocks["fc_a"].dense[0].bias
        assert torch.all(bias == bias[0])  # one complete snapshot, not a mix


def test_atomic_write_text(tmp_path):
    atomic_write_text(tmp_path / "a.json", "{}")
    assert (tmp_path / "a.json").read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_atomic_writes_get_the_umask_mode_not_mkstemp_private(tmp_path, umask):
    """Temp files are created 0600 and temp dirs 0700; what lands must have a plain open()/mkdir() mode."""
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "a.json", "{}")
        with atomic_dir(tmp_path / "model") as d:
            (d / "x").write_text("1")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o777 & ~umask
