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


def test_every_option_with_a_default_says_it_in_its_help():
    """`--help` is where a user reads what runs when they pass nothing: every option (in every subcommand)
    that has a default names it (argparse's %(default)s or the help's own "default: …")."""
    import argparse

    from phazelab.cli import build_parser

    missing = []

    def walk(parser: argparse.ArgumentParser, name: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, subparser in action.choices.items():
                    walk(subparser, f"{name} {sub}")
            elif (action.option_strings and action.default not in (None, False, [], argparse.SUPPRESS)
                  and "default" not in (action.help or "")):
                missing.append(f"{name} {action.option_strings[-1]} (default {action.default!r})")

    walk(build_parser(), "phazelab")
    assert not missing, "options whose help does not state their default: " + ", ".join(missing)
