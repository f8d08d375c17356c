"""Importing faceswap's own Phaze-A models (../shared/fixtures/faceswap, saved by faceswap itself) and
faceswap's option files (GUI presets, train.ini)."""

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import phazelab
from phazelab import ConfigError, PhazeAConfig, load_model, save
from phazelab.cli import main
from phazelab.config import load_config
from phazelab.faceswap import FaceswapFileError, import_faceswap
from phazelab.faceswap.options import read_train_ini
from phazelab.faceswap.reference import TOLERANCE, compare_reference, reference_table  # 1e-4: fp32, eval
from phazelab.model import count_params

FIXTURES = Path(__file__).parents[1].parent / "shared/fixtures/faceswap"
NAMES = ("default_lab_tiny", "split_all_hybrid_bn", "sharedhalf_avgpool_alt")
needs_fixtures = pytest.mark.skipif(not (FIXTURES / NAMES[0] / "phaze_a.keras").is_file(),
                                    reason=f"faceswap fixtures not found at {FIXTURES} (../shared next to the repo)")

pytestmark = pytest.mark.usefixtures("one_thread")


@needs_fixtures
@pytest.mark.parametrize("name", NAMES)
def test_fixture_imports_and_matches_faceswap(name):
    fixture = json.loads((FIXTURES / name / "fixture.json").read_text())
    model = import_faceswap(FIXTURES / name, color_order="bgr")
    assert count_params(model) == fixture["total_params"]
    assert set(model.blocks) == set(fixture["top_level_layers"]) - {"face_in_a", "face_in_b", "inter_a", "inter_b"}
    diffs = compare_reference(model, FIXTURES / name / "reference.npz")
    assert {"output_0", "output_1", "encoder_a"} <= set(diffs)
    assert any(k.endswith("__of_encoder_a") for k in diffs)
    assert max(diffs.values()) <= TOLERANCE, diffs
    table = reference_table(diffs)  # what notebook 06 shows
    assert list(table["array"]) == list(diffs) and table["within"].all() and set(table["tolerance"]) == {"1e-04"}
    assert not reference_table({"output_0": 2e-3})["within"].any()


@needs_fixtures
def test_rgb_import_is_the_same_computation_channels_swapped():
    bgr = import_faceswap(FIXTURES / NAMES[0], color_order="bgr")
    rgb = phazelab.import_faceswap(FIXTURES / NAMES[0])  # default: RGB in, RGB out
    assert rgb.faceswap_origin["input_color_order"] == "rgb"
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(rgb.swap(x, "b"), bgr.swap(x.flip(1), "b").flip(1), atol=1e-6)
    assert max(compare_reference(rgb, FIXTURES / NAMES[0] / "reference.npz").values()) <= TOLERANCE


@needs_fixtures
def test_imported_model_saves_with_its_origin_and_works_like_any_model(tmp_path):
    model = import_faceswap(FIXTURES / NAMES[1] / "phaze_a.keras")  # the .keras file, state file beside it
    save(model, tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())["faceswap"]
    assert meta["iterations"] == 3 and meta["sessions"] == 1 and meta["faceswap_color_order"] == "bgr"
    assert "learning_rate" in meta["ignored_options"]
    again = load_model(tmp_path / "m")
    assert again.faceswap_origin["source"] == meta["source"]
    for (k, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), k
    phazelab.freeze(again, ["encoder"])
    assert phazelab.frozen_blocks(again) == ["encoder"]
    fresh = phazelab.PhazeA(model.config)
    report = phazelab.load_blocks(fresh, tmp_path / "m", ["encoder", "decoder_b"])
    assert report.loaded == ["encoder", "decoder_b"]
    assert torch.equal(fresh.blocks["decoder_b"].face.conv.weight, model.blocks["decoder_b"].face.conv.weight)


@needs_fixtures
def test_cli_import_prints_table_and_equality(tmp_path, capsys):
    assert main(["import-faceswap", str(FIXTURES / NAMES[2]), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "decoder_both" in out and "ignored" in out and "max |phazelab - faceswap|" in out
    diffs = json.loads(out.split("(fp32, eval): ")[1].splitlines()[0])
    assert max(diffs.values()) <= TOLERANCE
    assert (tmp_path / "out" / "model.safetensors").is_file()


def _copy(name, tmp_path):
    dst = tmp_path / name
    shutil.copytree(FIXTURES / name, dst)
    for f in dst.iterdir():
        f.chmod(0o644)
    dst.chmod(0o755)
    return dst


def _rewrite(archive: Path, drop: str | None = None, edit=None) -> None:
    with zipfile.ZipFile(archive) as zf:
        items = {n: zf.read(n) for n in zf.namelist() if n != drop}
    if edit is not None:
        items = edit(items)
    with zipfile.ZipFile(archive, "w") as zf:
        for n, data in items.items():
            zf.writestr(n, data)


@needs_fixtures
def test_corrupted_and_partial_archives_are_clear_errors(tmp_path):
    d = _copy(NAMES[0], tmp_path)
    keras = d / "phaze_a.keras"
    data = keras.read_bytes()
    keras.write_bytes(data[: len(data) // 2])  # truncated download
    with pytest.raises(FaceswapFileError, match="phaze_a.keras.*(not a zip|cannot read)"):
        import_faceswap(d)
    keras.write_bytes(data)
    _rewrite(keras, drop="model.weights.h5")
    with pytest.raises(FaceswapFileError, match="no model.weights.h5"):
        import_faceswap(d)

    for member, junk, match in (("model.weights.h5", b"not an h5 file", "not a readable h5"),
                                ("config.json", b"{oops", "config.json.*not valid JSON")):
        keras.write_bytes(data)
        _rewrite(keras, edit=lambda items, m=member, j=junk: {**items, m: j})
        with pytest.raises(FaceswapFileError, match=match):
            import_faceswap(d)

    keras.write_bytes(data)

    def drop_layer(items):  # an h5 file without the decoder's output conv
        import io

        import h5py
        buf = io.BytesIO(items["model.weights.h5"])
        with h5py.File(buf, "a") as h5:
            del h5["layers/functional_5/layers/conv2d_3"]
        items["model.weights.h5"] = buf.getvalue()
        return items

    _rewrite(keras, edit=drop_layer)
    with pytest.raises(FaceswapFileError, match="decoder_both.*face_out_0_conv2d.*missing"):
        import_faceswap(d)


@needs_fixtures
def test_wrong_shapes_name_the_layer_and_both_shapes(tmp_path):
    d = _copy(NAMES[0], tmp_path)
    state = json.loads((d / "phaze_a_state.json").read_text())
    state["config"]["fc_gblock_max_nodes"] = 256  # options that do not describe the file's weights
    state["config"]["fc_gblock_min_nodes"] = 256
    (d / "phaze_a_state.json").write_text(json.dumps(state))
    with pytest.raises(FaceswapFileError, match=r"fc_gblock.*'dense_3'.*\[128, 128\].*\[256, 128\]"):
        import_faceswap(d)


@needs_fixtures
def test_state_file_of_another_model_and_keras_of_another_plugin(tmp_path):
    d = _copy(NAMES[0], tmp_path)
    state = json.loads((d / "phaze_a_state.json").read_text())
    (d / "phaze_a_state.json").write_text(json.dumps({**state, "name": "original"}))
    with pytest.raises(FaceswapFileError, match="'original' model, not of Phaze-A"):
        import_faceswap(d)
    (d / "phaze_a_state.json").write_text(json.dumps(state))

    def other_plugin(items):
        cfg = json.loads(items["config.json"])
        cfg["config"]["name"] = "dfl_sae"
        items["config.json"] = json.dumps(cfg).encode()
        return items

    _rewrite(d / "phaze_a.keras", edit=other_plugin)
    with pytest.raises(FaceswapFileError, match="'dfl_sae' model, not of Phaze-A"):
        import_faceswap(d)
    (d / "phaze_a_state.json").unlink()
    with pytest.raises(FaceswapFileError, match="state file is missing"):
        import_faceswap(d)


def test_faceswap_2_h5_model_is_refused_without_a_traceback(tmp_path, capsys):
    import h5py

    with h5py.File(tmp_path / "phaze_a.h5", "w") as h5:
        h5["model_weights/x"] = np.zeros(3)
    (tmp_path / "phaze_a_state.json").write_text(json.dumps({"name": "phaze_a", "config": {}}))
    with pytest.raises(FaceswapFileError, match="faceswap 2.x.*not read"):
        import_faceswap(tmp_path)
    assert main(["import-faceswap", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "faceswap 2.x" in err and "Traceback" not in err
    (tmp_path / "empty").mkdir()
    with pytest.raises(FaceswapFileError, match="no phaze_a.keras"):
        import_faceswap(tmp_path / "empty")


@needs_fixtures
def test_learn_mask_and_reflect_padding_models_are_refused_clearly(tmp_path):
    d = _copy(NAMES[0], tmp_path)
    state = json.loads((d / "phaze_a_state.json").read_text())
    for key, match in (("learn_mask", "learn_mask=True.*not supported"), ("reflect_padding", "reflect_padding")):
        s = json.loads(json.dumps(state))
        s["config"][key] = True
        (d / "phaze_a_state.json").write_text(json.dumps(s))
        with pytest.raises(FaceswapFileError, match=match):
            import_faceswap(d)


# --------------------------------------------------------------------------------------------------
# option files
def test_gui_preset_files_load(tmp_path):
    opts = {"output_size": 64, "split_decoders": True, "freeze_layers": "encoder", "dec_norm": "instance"}
    (tmp_path / "p.json").write_text(json.dumps({**opts, "__filetype": "faceswap_preset",
                                                 "__section": "model|phaze_a"}))
    cfg = load_config(tmp_path / "p.json")
    assert cfg.output_size == 64 and cfg.split_decoders and cfg.freeze_layers == ["encoder"]
    assert cfg.dec_norm == "instance"
    (tmp_path / "q.json").write_text(json.dumps({"lowmem": False, "__filetype": "faceswap_preset",
                                                 "__section": "model|original"}))
    with pytest.raises(ConfigError, match="q.json.*'model|original'.*not for Phaze-A"):
        load_config(tmp_path / "q.json")
    (tmp_path / "r.json").write_text(json.dumps({"output_size": 64, "__filetype": "faceswap_project",
                                                 "__section": "model|phaze_a"}))
    with pytest.raises(ConfigError, match="faceswap_preset"):
        load_config(tmp_path / "r.json")


INI = """
[global]
centering = face
reflect_padding = False

[global.loss]
loss_function = ssim
learn_mask = True
mask_type = extended
mask_blur_kernel = 3

[model.phaze_a]
output_size = 64
enable_gblock = False

[model.original]
lowmem = False
"""


def test_train_ini_learn_mask_is_imported_and_the_rest_listed():
    result = read_train_ini(INI)
    assert result.config.learn_mask is True and result.config.enable_gblock is False
    assert PhazeAConfig.from_ini(INI).learn_mask is True
    assert set(result.ignored) == {"centering", "reflect_padding", "loss_function", "mask_type",
                                   "mask_blur_kernel", "model.original.lowmem"}
    assert "mask target" in result.ignored["mask_type"]
    with torch.device("meta"):
        model = phazelab.PhazeA(result.config)
    assert model.blocks["decoder_both"].mask_stages is not None  # the mask output faceswap adds
    assert PhazeAConfig.from_ini(INI.replace("learn_mask = True", "learn_mask = False")).learn_mask is False


def test_train_ini_options_that_change_the_model_are_never_dropped():
    with pytest.raises(ConfigError, match="reflect_padding = True"):
        read_train_ini(INI.replace("reflect_padding = False", "reflect_padding = True"))
    with pytest.raises(ConfigError, match="mask_type = none"):
        read_train_ini(INI.replace("mask_type = extended", "mask_type = none"))
    with pytest.raises(ConfigError, match="learn_mask.*not a boolean"):
        read_train_ini(INI.replace("learn_mask = True", "learn_mask = maybe"))


def test_summary_with_train_ini_lists_what_it_ignored(tmp_path, capsys):
    (tmp_path / "train.ini").write_text(INI)
    assert main(["summary", "--config", str(tmp_path / "train.ini")]) == 0
    captured = capsys.readouterr()
    assert "ignored 6 option(s)" in captured.err and "mask_type" in captured.err


def test_train_ini_refuses_unknown_phaze_a_options_with_a_hint():
    from phazelab.faceswap.options import read_train_ini

    with pytest.raises(ConfigError, match=r"'split_decoder' \(did you mean 'split_decoders'\?\)"):
        read_train_ini("[model.phaze_a]\nsplit_decoder = True\n")
    with pytest.raises(ConfigError, match="bogus_opt"):
        read_train_ini("[model.phaze_a]\nbogus_opt = 3\noutput_size = 64\n")


@needs_fixtures
def test_cli_compare_fails_before_writing_and_warns_on_another_models_reference(tmp_path, capsys):
    from phazelab.cli import main

    src = FIXTURES / "default_lab_tiny"
    assert main(["import-faceswap", str(src), "--out", str(tmp_path / "a"), "--compare", str(tmp_path / "no.npz")]) == 2
    assert "not a faceswap reference" in capsys.readouterr().err and not (tmp_path / "a").exists()
    other = FIXTURES / "split_all_hybrid_bn" / "reference.npz"
    assert main(["import-faceswap", str(src), "--out", str(tmp_path / "b"), "--compare", str(other)]) == 1
    assert "is it this model's reference" in capsys.readouterr().err
