"""The shipped stage-1 models (data/models) load and reproduce the judge's numbers their meta.json records."""

import pytest

from phazelab import lab
from phazelab.analysis.judge import judge_for
from phazelab.data.bank import FaceBank
from phazelab.experiments.swap import SwapRecipe
from phazelab.model import evaluating

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py
TOPOLOGIES = sorted(p.name for p in lab.MODELS_DIR.iterdir() if (p / "meta.json").is_file())


def test_both_lab_topologies_are_shipped_small_and_documented():
    assert TOPOLOGIES == ["default", "split_decoders"]
    for name in TOPOLOGIES:
        size = (lab.MODELS_DIR / name / "model.safetensors").stat().st_size
        assert size < 10 * 2**20, (name, size)  # a few MB (fp16)
        meta = lab.stage1_meta(name)
        assert meta["command"].startswith("phazelab experiment swap") and f"--topology {name}" in meta["command"]
        assert meta["recipe"]["topology"] == name and {"judge", "baselines", "step"} <= set(meta)
        assert "not trained enough" in lab.describe_stage1(name) or meta["judge"]["success_ab"] >= 0.8


@pytest.mark.parametrize("name", TOPOLOGIES)
def test_shipped_model_reproduces_its_recorded_judge_numbers(name):
    meta = lab.stage1_meta(name)
    recipe = SwapRecipe.from_dict(meta["recipe"])
    model = lab.stage1_model(name)
    assert model.config == recipe.config()
    world = recipe.world()
    bank_a = FaceBank(world, recipe.identity_a, recipe.bank_size, seed=recipe.seed)
    x_a, labels_a = bank_a.heldout(recipe.eval_n, model.input_size)
    with evaluating(model):
        out = model.swap(x_a, "b").float().clamp(0, 1)
    verdict = judge_for(world, labels_a, recipe.identity_b, model.output_size, pose_of="target")(out)
    recorded = meta["judge"]
    # stored in fp16: the same frames judged the same way, to the rounding of the weights
    assert verdict["success"] == pytest.approx(recorded["success_ab"], abs=2 / recipe.eval_n)
    assert verdict["id_top1"] == pytest.approx(recorded["id_top1_ab"], abs=2 / recipe.eval_n)
    assert verdict["pose_err_deg"] == pytest.approx(recorded["pose_err_ab"], abs=1.0)


def test_missing_shipped_model_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setattr(lab, "MODELS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="phazelab experiment swap --topology default"):
        lab.stage1_model("default")
