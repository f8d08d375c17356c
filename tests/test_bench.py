"""Benchmark plumbing: FLOP counting, the GPU peak table, the JSON keys. No speed is asserted."""

import argparse
import json

import pytest

from phazelab import PhazeAConfig
from phazelab.bench import bench_training, count_step_flops, gpu_peak_tflops
from phazelab.bench_cli import register

MICRO = PhazeAConfig.preset("lab-tiny").replace(dec_res_blocks=0, fs_original_min_filters=16, dec_min_filters=16)
ISSUE_KEYS = {"device", "size", "batch", "img_per_s", "step_ms", "flops_per_step", "achieved_tflops",
              "peak_tflops", "mfu"}


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def test_gpu_peak_table_matches_device_names():
    assert gpu_peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert gpu_peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert gpu_peak_tflops("NVIDIA H200") == 989.0
    assert gpu_peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert gpu_peak_tflops("Some Future GPU") is None


def test_step_flops_scale_with_batch_and_drop_when_a_block_is_frozen():
    one, two = count_step_flops(MICRO, 1), count_step_flops(MICRO, 2)
    assert one > 0 and two == 2 * one
    enc = [f"blocks.encoder.{n}" for n, _ in __import__("phazelab").PhazeA(MICRO).blocks["encoder"].named_parameters()]
    assert count_step_flops(MICRO, 2, frozen_params=enc) < two  # no weight gradients for the encoder


def test_faceswap_default_forward_is_about_13_gflop_per_face_per_side():
    # phaze-a.md §13: "roughly 13 GFLOP per face per side forward at 64 px input"; a training step is
    # forward + backward (≈ 3× forward) for both sides.
    flops = count_step_flops(PhazeAConfig().replace(output_size=64), 1)
    per_face_side_forward = flops / 2 / 3
    assert 8e9 < per_face_side_forward < 18e9


def test_bench_training_reports_the_issue_keys_consistently():
    result = bench_training(MICRO, size=64, batch=2, steps=1, repeats=2, warmup=0, device="cpu", label="micro",
                            matmul_size=256)
    assert ISSUE_KEYS <= set(result)
    assert result["flops_per_step"] == count_step_flops(MICRO, 2)
    assert result["img_per_s"] == pytest.approx(2 * 2 / (result["step_ms"] / 1e3))
    assert result["achieved_tflops"] == pytest.approx(result["flops_per_step"] / (result["step_ms"] / 1e3) / 1e12)
    assert result["mfu"] == pytest.approx(result["achieved_tflops"] / result["peak_tflops"])
    assert result["step_ms"] <= result["step_ms_median"]
    assert "matmul" in result["peak_source"] and result["device"].endswith("cores)")


def test_bench_cli_json_prints_one_object_with_the_issue_keys(capsys, tmp_path):
    cfg = tmp_path / "micro.json"
    cfg.write_text(MICRO.to_json())
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "--config", str(cfg), "--batch", "2", "--steps", "1", "--repeats", "1",
                              "--warmup", "0", "--device", "cpu", "--json"])
    assert args.func(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert ISSUE_KEYS <= set(result) and result["batch"] == 2 and result["size"] == 64
    args = parser.parse_args(["bench", "--preset", "no-such-preset", "--json"])
    assert args.func(args) == 2
    assert "unknown preset" in capsys.readouterr().err
