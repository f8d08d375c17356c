"""precision="auto": the measured CPU choice (constructed timings), its caches, and the old import paths."""

import json

import pytest
import torch

from phazelab.train import precision as prec


@pytest.fixture()
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache folder and an empty in-memory cache for one test."""
    monkeypatch.setenv("PHAZELAB_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(prec, "_memory", {})
    return tmp_path / "precision.json"


def constructed(fp32: float, bf16: float, calls: list | None = None):
    """A timer that does not run the workload and reports fixed seconds per kind."""
    def timer(kind, work):
        if calls is not None:
            calls.append(kind)
        return {"fp32": fp32, "bf16": bf16}[kind]
    return timer


def test_probe_picks_the_faster_dtype_on_constructed_timings():
    assert prec.probe_cpu_bf16(constructed(fp32=1.0, bf16=0.5))["choice"] == "bf16"
    assert prec.probe_cpu_bf16(constructed(fp32=0.5, bf16=1.0))["choice"] == "fp32"
    slightly = prec.probe_cpu_bf16(constructed(fp32=1.05, bf16=1.0))  # 5 % is not "measurably faster"
    assert slightly["choice"] == "fp32" and slightly["speedup"] == pytest.approx(1.05)


def test_probe_interleaves_and_stops_early_when_bf16_is_far_slower():
    calls: list = []
    out = prec.probe_cpu_bf16(constructed(fp32=0.1, bf16=1.0, calls=calls), repeats=3)
    assert calls == ["fp32", "bf16"] and out["repeats"] == 1
    calls.clear()
    prec.probe_cpu_bf16(constructed(fp32=1.0, bf16=0.9, calls=calls), repeats=3)
    assert calls == ["fp32", "bf16"] * 3


def test_probe_rejects_bad_input():
    with pytest.raises(ValueError, match="repeats"):
        prec.probe_cpu_bf16(constructed(1, 1), repeats=0)
    with pytest.raises(ValueError, match="non-positive"):
        prec.probe_cpu_bf16(constructed(0.0, 1.0))


def test_real_probe_runs_the_workload():
    out = prec.probe_cpu_bf16(repeats=1)
    assert out["fp32_s"] > 0 and out["bf16_s"] > 0 and out["choice"] in ("bf16", "fp32")
    assert out["key"] == prec.cpu_key() and torch.__version__ in out["key"]


def test_verdict_is_cached_in_memory_and_in_a_file(fresh_cache):
    assert prec.auto_cpu_precision(constructed(fp32=2.0, bf16=1.0)) == "bf16"
    saved = json.loads(fresh_cache.read_text())
    assert saved[prec.cpu_key()]["choice"] == "bf16" and saved[prec.cpu_key()]["speedup"] == 2.0

    def never(kind, work):
        raise AssertionError("the cache should have answered")

    assert prec.auto_cpu_precision(never) == "bf16"  # memory
    prec._memory.clear()
    assert prec.auto_cpu_precision(never) == "bf16"  # file
    assert prec.resolve_precision("auto", torch.device("cpu")) == "bf16"
    assert prec.cpu_bf16_verdict(constructed(fp32=1.0, bf16=2.0), refresh=True)["choice"] == "fp32"
    assert json.loads(fresh_cache.read_text())[prec.cpu_key()]["choice"] == "fp32"


def test_cache_is_keyed_by_cpu_and_torch(fresh_cache, monkeypatch):
    prec.auto_cpu_precision(constructed(fp32=2.0, bf16=1.0))
    monkeypatch.setattr(prec, "_cpu_model", lambda: "Another CPU")
    assert prec.auto_cpu_precision(constructed(fp32=1.0, bf16=2.0)) == "fp32"
    saved = json.loads(fresh_cache.read_text())
    assert len(saved) == 2 and saved[prec.cpu_key()]["choice"] == "fp32"
    assert all(" | torch " in k for k in saved)


def test_malformed_cache_file_is_ignored_and_rewritten(fresh_cache):
    fresh_cache.write_text("{not json")
    assert prec.auto_cpu_precision(constructed(fp32=1.0, bf16=0.5)) == "bf16"
    assert json.loads(fresh_cache.read_text())[prec.cpu_key()]["choice"] == "bf16"
    prec._memory.clear()
    fresh_cache.write_text(json.dumps({prec.cpu_key(): {"choice": "fp8"}}))  # invalid entry: measure again
    assert prec.auto_cpu_precision(constructed(fp32=1.0, bf16=2.0)) == "fp32"


def test_resolve_precision_rules(fresh_cache):
    cpu = torch.device("cpu")
    with pytest.raises(ValueError, match="precision must be one of"):
        prec.resolve_precision("fp8", cpu)
    with pytest.raises(ValueError, match="fp16"):
        prec.resolve_precision("fp16", cpu)
    assert prec.resolve_precision("bf16", cpu) == "bf16" and prec.resolve_precision("fp32", cpu) == "fp32"


def test_old_import_paths_still_work():
    from phazelab.train import resolve_device, resolve_precision
    from phazelab.train.trainer import cpu_has_amx
    from phazelab.train.trainer import resolve_device as rd

    assert resolve_device is rd is prec.resolve_device and resolve_precision is prec.resolve_precision
    assert cpu_has_amx is prec.cpu_has_amx
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_auto_on_cuda_is_bf16_without_probing(fresh_cache):
    assert prec.resolve_precision("auto", prec.resolve_device("cuda")) in ("bf16", "fp16")
    assert not fresh_cache.exists()
