"""Valid options never crash (issue 17.6): every value inside an option's documented range either builds a
working model or raises ConfigError naming the options to change. Swept on the meta device (no memory)."""

import random
import warnings
from dataclasses import fields

import numpy as np
import pytest
import torch

from phazelab import PhazeA, PhazeAConfig
from phazelab.cli import main
from phazelab.config import ConfigError, option_info
from phazelab.model import meta_model

OPTION_NAMES = {o["name"] for o in option_info()}
BASES = {"faceswap default": PhazeAConfig(), "lab-tiny": PhazeAConfig.preset("lab-tiny")}


def builds_or_explains(cfg: PhazeAConfig, forward: bool = True) -> bool:
    """True if cfg builds (and, with `forward`, a shapes-only forward gives faces of output_size); False if
    it raised a ConfigError that names options; anything else fails the test."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = meta_model(cfg)
    except ConfigError as exc:
        named = {n for n in OPTION_NAMES if n in str(exc)}
        assert named, f"ConfigError names no option: {exc}"
        return False
    assert all(p.numel() > 0 for p in model.parameters())
    if not forward:
        return True
    x = torch.zeros(1, 3, model.input_size, model.input_size, device="meta")
    with torch.no_grad():
        out_a, out_b = model.eval()(x, x)
    for out in (out_a, out_b):
        face = out[0] if isinstance(out, tuple) else out
        assert list(face.shape) == [1, 3, cfg.output_size, cfg.output_size], cfg
    return True


def range_values(f, limit: int = 8) -> list:
    m = f.metadata
    if m["multi"]:
        return []
    if m["choices"]:
        return list(m["choices"])
    if f.type in ("bool", bool):
        return [True, False]
    if m["lo"] is None:
        return []
    if f.type in ("int", int):
        step = m["multiple"] or 1
        vals = list(range(int(m["lo"]) + (-int(m["lo"])) % step, int(m["hi"]) + 1, step))
        idx = np.unique(np.linspace(0, len(vals) - 1, min(limit, len(vals))).round().astype(int))
        return [vals[i] for i in idx]
    return [float(v) for v in np.linspace(m["lo"], m["hi"], 4)]


SKIP = ("enc_architecture", "mobilenet_", "output_size")  # other encoders need downloads; size swept below


# the default suite sweeps lab-tiny (a forward for every 4th size); `make test-all` sweeps everything
SWEEPS = [pytest.param("lab-tiny", 4, id="lab-tiny"),
          pytest.param("faceswap default", 1, id="faceswap-default", marks=pytest.mark.slow)]


@pytest.mark.parametrize(("base", "every"), SWEEPS)
def test_every_output_size_faceswap_allows_builds_or_names_the_options(base, every):
    built, refused = [], []
    for i, size in enumerate(range(64, 2049, 16)):
        cfg = BASES[base].replace(output_size=size)
        (built if builds_or_explains(cfg, forward=i % every == 0) else refused).append(size)
    assert {64, 128, 256, 512} <= set(built)  # the usual sizes keep working
    if base == "lab-tiny":
        assert 208 in refused  # 13² = 169 > fc_min_filters=128: faceswap's scaling leaves 0 filters
        with pytest.raises(ConfigError, match="fc_min_filters.*169"):
            PhazeA(BASES[base].replace(output_size=208))


@pytest.mark.parametrize(("base", "limit"), [
    pytest.param("lab-tiny", 3, id="lab-tiny"),
    pytest.param("lab-tiny", 8, id="lab-tiny-8", marks=pytest.mark.slow),
    pytest.param("faceswap default", 8, id="faceswap-default-8", marks=pytest.mark.slow)])
def test_each_option_over_its_range_builds_or_names_the_options(base, limit):
    for f in fields(PhazeAConfig):
        if f.name.startswith(SKIP):
            continue
        for value in range_values(f, limit):  # (check_buildable itself runs a shapes-only forward)
            builds_or_explains(BASES[base].replace(**{f.name: value}), forward=limit > 3)


@pytest.mark.parametrize("n", [pytest.param(12, id="12"), pytest.param(80, id="80", marks=pytest.mark.slow)])
def test_random_combinations_build_or_name_the_options(n):
    rng = random.Random(17)
    candidates = [f for f in fields(PhazeAConfig) if not f.name.startswith(SKIP[:2])]
    outcomes = []
    for _ in range(n):
        changes = {}
        for f in rng.sample(candidates, 5):
            values = list(range(64, 2049, 16)) if f.name == "output_size" else range_values(f)
            if values:
                changes[f.name] = rng.choice(values)
        base = BASES[rng.choice(list(BASES))]
        try:
            cfg = base.replace(**changes)
        except ConfigError:
            continue
        outcomes.append(builds_or_explains(cfg))
    assert True in outcomes and False in outcomes


def test_summary_and_train_report_the_options_instead_of_a_traceback(capsys, tmp_path):
    assert main(["summary", "--preset", "lab-tiny", "--set", "output_size=208"]) == 2
    err = capsys.readouterr().err
    assert "fc_min_filters" in err and "Traceback" not in err
    assert main(["train", "--a", "synthetic:0", "--b", "synthetic:1", "--preset", "lab-tiny", "--set",
                 "output_size=336", "--steps", "1", "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "output_size=336" in err and "fc_min_filters" in err
    assert not (tmp_path / "run").exists()
