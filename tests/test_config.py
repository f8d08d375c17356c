"""PhazeAConfig: faceswap's options, validation, round trips, presets and .ini import."""

import json

import pytest

from phazelab.config import (
    ConfigError,
    NotSupportedError,
    PhazeAConfig,
    faceswap_preset_names,
    load_config,
    preset_table,
)

REFERENCE_PRESETS = json.loads(
    (__import__("pathlib").Path(__file__).parents[1] / "phazelab/presets/faceswap.json").read_text())


def test_defaults_are_faceswaps():
    cfg = PhazeAConfig()
    assert (cfg.output_size, cfg.shared_fc, cfg.enable_gblock, cfg.split_fc, cfg.split_gblock,
            cfg.split_decoders) == (128, "none", True, True, False, False)
    assert cfg.enc_architecture == "fs_original" and cfg.enc_scaling == 7
    assert cfg.encoder_input_size == 64
    assert cfg.freeze_layers == ["keras_encoder"] and cfg.load_layers == ["encoder"]
    assert cfg.dec_filter_slope == -0.45 and cfg.fc_filter_slope == -0.5


@pytest.mark.parametrize("scaling, size", [(7, 64), (13, 128), (25, 256), (1, 32)])
def test_encoder_input_size(scaling, size):
    assert PhazeAConfig(enc_scaling=scaling).encoder_input_size == size


@pytest.mark.parametrize("option, value, words", [
    ("output_size", 100, "multiple of 16"),
    ("output_size", 32, "out of range"),
    ("shared_fc", "quarter", "choose from"),
    ("split_fc", "yes", "True or False"),
    ("fc_depth", 2.5, "integer"),
    ("dec_filter_slope", 3.0, "out of range"),
    ("load_layers", ["encoder", "nose"], "not allowed"),
    ("dec_upscale_method", "pixelshuffle", "choose from"),
])
def test_invalid_values_name_option_value_and_allowed(option, value, words):
    with pytest.raises(ConfigError) as err:
        PhazeAConfig(**{option: value})
    msg = str(err.value)
    assert option in msg and words in msg and repr(value)[:8] in msg


def test_unknown_option_is_named():
    with pytest.raises(ConfigError, match="bogus"):
        PhazeAConfig.from_dict({"bogus": 1})


def test_dict_and_json_round_trip():
    cfg = PhazeAConfig(output_size=64, split_decoders=True, shared_fc="half", load_layers=["encoder", "fc_b"])
    assert PhazeAConfig.from_dict(cfg.to_dict()) == cfg
    assert PhazeAConfig.from_json(cfg.to_json()) == cfg
    assert json.loads(cfg.to_json())["load_layers"] == ["encoder", "fc_b"]


def test_float_options_accept_ints_and_normalise():
    assert PhazeAConfig(fc_dropout=0).fc_dropout == 0.0


@pytest.mark.parametrize("name", sorted(REFERENCE_PRESETS))
def test_faceswap_presets_match_reference_values(name):
    cfg = PhazeAConfig.preset(name)
    for key, value in REFERENCE_PRESETS[name].items():
        got = getattr(cfg, key)
        if key in ("freeze_layers", "load_layers"):
            assert got == value.split()
        else:
            assert got == value, key


def test_lab_presets_keep_default_topology_and_are_smaller():
    table = preset_table()
    default = PhazeAConfig()
    for name in ("lab-tiny", "lab-small"):
        assert name in table and name not in faceswap_preset_names()
        cfg = PhazeAConfig.preset(name)
        for key in ("split_fc", "shared_fc", "enable_gblock", "split_gblock", "split_decoders"):
            assert getattr(cfg, key) == getattr(default, key)
        assert cfg.fs_original_max_filters < default.fs_original_max_filters


def test_unknown_preset_lists_choices():
    with pytest.raises(ConfigError, match="lightweight"):
        PhazeAConfig.preset("heavyweight")


def test_keras_encoders_are_valid_but_not_buildable():
    cfg = PhazeAConfig.preset("stojo")
    with pytest.raises(NotSupportedError, match="efficientnet_b4.*downloaded"):
        cfg.require_buildable()


INI = """
[global]
learning_rate = 5e-05

[model.phaze_a]
# a comment
output_size = 64
shared_fc = full
enable_gblock = False
split_decoders = True
dec_filter_slope = -0.33
freeze_layers = encoder fc_a
fc_depth = 2   ; inline comment
"""


def test_ini_import():
    cfg = PhazeAConfig.from_ini(INI)
    assert cfg.output_size == 64 and cfg.shared_fc == "full" and cfg.enable_gblock is False
    assert cfg.split_decoders is True and cfg.dec_filter_slope == -0.33 and cfg.fc_depth == 2
    assert cfg.freeze_layers == ["encoder", "fc_a"]
    assert cfg.split_fc is True  # untouched options keep faceswap's defaults


def test_ini_errors_name_the_problem():
    with pytest.raises(ConfigError, match="phaze_a"):
        PhazeAConfig.from_ini("[model.original]\nlowmem = False\n")
    with pytest.raises(ConfigError, match="output_size.*not an integer"):
        PhazeAConfig.from_ini("[model.phaze_a]\noutput_size = big\n")


def test_overrides_and_load_config(tmp_path):
    cfg = PhazeAConfig().with_overrides(["output_size=64", "split_decoders=true", "load_layers=encoder,fc_b"])
    assert cfg.output_size == 64 and cfg.split_decoders and cfg.load_layers == ["encoder", "fc_b"]
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        PhazeAConfig().with_overrides(["output_size"])
    (tmp_path / "c.json").write_text(cfg.to_json())
    assert load_config(tmp_path / "c.json") == cfg
    (tmp_path / "c.ini").write_text(INI)
    assert load_config(tmp_path / "c.ini").shared_fc == "full"
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(ConfigError, match="bad.json"):
        load_config(tmp_path / "bad.json")
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.json")


def test_every_option_has_a_help_line_shown_by_summary_and_the_picker(capsys):
    from dataclasses import fields

    from phazelab.cli import main
    from phazelab.widgets.topology import TOPOLOGY_OPTIONS, option_help

    helps = {f.name: f.metadata["help"] for f in fields(PhazeAConfig)}
    assert all(len(h) > 20 for h in helps.values()), [k for k, h in helps.items() if len(h) <= 20]
    assert main(["summary", "--help-options"]) == 0
    out = capsys.readouterr().out
    assert all(name in out and helps[name] in out for name in helps)
    assert all(option_help(name) == helps[name] for name in TOPOLOGY_OPTIONS)


def test_named_topologies_mean_one_model_everywhere():
    from phazelab.config import TOPOLOGIES, topology_options

    split = PhazeAConfig.preset("lab-slim").with_topology("split_decoders")
    assert split.split_decoders and not split.split_fc and not split.enable_gblock
    assert PhazeAConfig(split_decoders=True).with_topology("default") == PhazeAConfig()
    assert set(TOPOLOGIES) == {"default", "split_decoders"}
    with pytest.raises(ConfigError, match="unknown topology"):
        topology_options("split")
