"""`phazelab bench --concurrent K` / `--batch-sweep`: the plumbing and keys (no speed is asserted)."""

import argparse
import json

import pytest

from phazelab import PhazeAConfig
from phazelab.bench_cli import register
from phazelab.bench_concurrent import bench_concurrent, concurrent_counts

MICRO = PhazeAConfig.preset("lab-tiny").replace(dec_res_blocks=0, fs_original_min_filters=16, dec_min_filters=16)

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def test_concurrent_counts():
    assert concurrent_counts(1) == [1] and concurrent_counts(4) == [1, 2, 4] and concurrent_counts(6) == [1, 2, 4, 6]
    with pytest.raises(ValueError, match="--concurrent"):
        concurrent_counts(0)


def test_bench_concurrent_rows_are_consistent():
    out = bench_concurrent(MICRO, k=2, batch=2, steps=1, repeats=1, device="cpu", precision="fp32")
    assert [r["models"] for r in out["rows"]] == [1, 2]
    for r in out["rows"]:
        assert r["agg_steps_per_s"] == pytest.approx(r["models"] / (r["step_ms"] / 1e3))
        assert r["speedup"] == pytest.approx(r["agg_steps_per_s"] / out["trainer_steps_per_s"])
        assert r["data_ms"] > 0


def _parse(*argv: str):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["bench", *argv])


def test_cli_batch_sweep_and_model_time(capsys, tmp_path):
    cfg = tmp_path / "micro.json"
    cfg.write_text(MICRO.to_json())
    args = _parse("--config", str(cfg), "--batch-sweep", "2,3", "--steps", "1", "--repeats", "1", "--warmup", "0",
                  "--device", "cpu", "--precision", "fp32", "--matmul-size", "256", "--json")
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["batch"] for r in out["rows"]] == [2, 3]
    assert out["best_batch"] in (2, 3) and out["best_img_per_s"] == max(r["img_per_s"] for r in out["rows"])
    for r in out["rows"]:  # the step split into its data part and the rest
        assert r["model_ms"] == pytest.approx(max(0.0, r["step_ms"] - r["data_ms"]))
    with pytest.raises(SystemExit):
        _parse("--batch-sweep", "a,b")


def test_cli_concurrent_dispatches_and_prints_rows(capsys, monkeypatch):
    import phazelab.bench_concurrent as bc

    seen = {}

    def fake(cfg, **kwargs):  # the real function is tested above; this checks the command's wiring
        seen.update(kwargs)
        return {"device": "cpu", "rows": [{"models": 1, "agg_steps_per_s": 2.0}]}

    monkeypatch.setattr(bc, "bench_concurrent", fake)
    args = _parse("--preset", "lab-tiny", "--concurrent", "3", "--batch", "2", "--device", "cpu")
    assert args.func(args) == 0
    assert seen["k"] == 3 and seen["batch"] == 2
    assert "models 1, agg_steps_per_s 2" in capsys.readouterr().out
