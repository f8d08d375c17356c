"""`phazelab summary`: the block table and its JSON form."""

import json
import subprocess
import sys

from phazelab.cli import main


def test_summary_json_default(capsys):
    assert main(["summary", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total_params"] == 123_766_211
    assert data["blocks"]["g_block_both"]["params"] == 23_864_832
    assert data["blocks"]["decoder_both"]["output_shape"] == [3, 128, 128]
    assert data["blocks"]["encoder"]["input_shape"] == [3, 64, 64]
    assert data["blocks"]["fc_a"]["trainable"] == 16_793_600
    assert data["config"]["split_fc"] is True


def test_summary_table_with_preset_and_set(capsys):
    assert main(["summary", "--preset", "lab-tiny", "--set", "split_decoders=True"]) == 0
    out = capsys.readouterr().out
    assert "decoder_a" in out and "decoder_b" in out and "decoder_both" not in out
    assert out.splitlines()[-1].startswith("total")


def test_summary_bad_option_is_a_clear_error(capsys):
    assert main(["summary", "--set", "output_size=100"]) == 2
    assert "output_size" in capsys.readouterr().err


def test_console_script_entry_point():
    out = subprocess.run([sys.executable, "-m", "phazelab", "summary", "--preset", "original", "--json"],
                         capture_output=True, text=True, check=True).stdout
    assert set(json.loads(out)["blocks"]) == {"encoder", "fc_both", "decoder_a", "decoder_b"}


def test_bad_device_and_incompatible_bench_flags_are_clear_errors(capsys, tmp_path):
    assert main(["experiment", "swap", "--device", "gpu", "--out", str(tmp_path), "--steps", "1"]) == 2
    assert "'gpu' is not a torch device" in capsys.readouterr().err
    assert main(["bench", "--time-to-swap", "--concurrent", "2"]) == 2
    assert "--concurrent" in capsys.readouterr().err
