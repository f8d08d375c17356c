"""Leakage against placebo siblings: zero within its noise floor for a face that never saw the old
identity, far above it for outputs that mix the old identity in."""

import numpy as np
import pytest
import torch

from phazelab.analysis.leakage import placebo_identities, placebo_leakage, placebo_leakage_of_outputs
from phazelab.config import PhazeAConfig
from phazelab.data import FaceWorld
from phazelab.model import PhazeA

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def family():
    world = FaceWorld(seed=0, n_identities=4)
    old, new = world.add_sibling(0, 0.4, seed=1), world.add_sibling(0, 0.4, seed=2)
    placebos = placebo_identities(world, old, new, n=8)
    factors = world.sample_factors(32, seed=5)
    return world, old, new, placebos, factors


def test_outputs_of_the_new_face_alone_sit_inside_the_noise_floor(family):
    world, old, new, placebos, factors = family
    truth = world.render(new, factors, 64)
    blurry = torch.nn.functional.avg_pool2d(truth, 3, 1, 1, count_include_pad=False)  # a reconstruction error
    r = placebo_leakage_of_outputs(blurry, world, factors, old, new, placebos)
    assert r["judged_new"] == 1.0 and r["judged_old"] == 0.0
    assert abs(r["leakage"]) <= r["noise_floor"] and not r["beyond_noise"] and r["rank_p"] > 0.05
    assert abs(np.mean(r["null_by_placebo"])) < 1e-9  # the null's mean is 0 by construction
    assert r["n"] == 32 and r["per_frame"].shape == (32,)


def test_a_half_blend_of_the_old_face_is_leakage_beyond_the_noise(family):
    world, old, new, placebos, factors = family
    mixed = 0.5 * world.render(new, factors, 64) + 0.5 * world.render(old, factors, 64)
    r = placebo_leakage_of_outputs(mixed, world, factors, old, new, placebos)
    assert r["leakage"] > 0.3 and r["beyond_noise"], (r["leakage"], r["noise_floor"], r["leakage_ci"])
    assert r["leakage_ci"][0] <= r["leakage"] <= r["leakage_ci"][1]
    assert r["judged_placebo"] < r["judged_old"] + 1e-9


def test_a_darker_reconstruction_is_not_leakage(family):
    # an error that is not the old face moves the old face and the placebos alike (the review's case:
    # a 5 % darker truth read as leakage against a floor computed elsewhere)
    world, old, new, placebos, factors = family
    r = placebo_leakage_of_outputs(0.95 * world.render(new, factors, 64), world, factors, old, new, placebos)
    assert not r["beyond_noise"] and abs(r["leakage"]) <= r["noise_floor"]


def test_placebos_must_be_two_and_distinct(family):
    world, old, new, placebos, factors = family
    out = world.render(new, factors, 64)
    with pytest.raises(ValueError, match="≥ 2 placebo"):
        placebo_leakage_of_outputs(out, world, factors, old, new, placebos[:1])
    with pytest.raises(ValueError, match="must all differ"):
        placebo_leakage_of_outputs(out, world, factors, old, new, [old, *placebos[:2]])
    with pytest.raises(ValueError, match="must all differ"):
        placebo_leakage_of_outputs(out, world, factors, old, new, [placebos[0], placebos[0]])
    with pytest.raises(ValueError, match="must be an int"):
        placebo_leakage_of_outputs(out, world, factors, old, new, [3.7, 4.2])
    with pytest.raises(ValueError, match="not in the world"):
        placebo_leakage_of_outputs(out, world, factors, old, new, [99, 100])


def test_model_entry_point_judges_the_side_a_reconstructions(family):
    world, old, new, placebos, _ = family
    model = PhazeA(PhazeAConfig.preset("lab-slim").with_topology("split_decoders"), seed=0)
    r = placebo_leakage(model, world, old, new, placebos[:3], n=8)
    assert r["n"] == 8 and np.isfinite(r["leakage"]) and len(r["null_by_placebo"]) == 3
    # the same frames given (as leakage_table does, to render them once) give the same reading
    from phazelab.analysis.metrics import HELD_OUT_SEED

    frames = world.sample(new, 8, seed=HELD_OUT_SEED, size=model.input_size)
    given = placebo_leakage(model, world, old, new, placebos[:3], n=8, frames=frames)
    assert given["leakage"] == pytest.approx(r["leakage"], abs=1e-12)
    with pytest.raises(ValueError, match=r"frames given are \(4, 3"):
        placebo_leakage(model, world, old, new, placebos[:3], n=8, frames=(frames[0][:4], frames[1]))


def test_leakage_table_judges_both_models_with_one_judge_and_ticks_per_part(capsys):
    # leakage_table builds one judge per new face for the model and its untrained null; its rows must
    # equal placebo_leakage with a judge of its own per run, and its bar must tick four parts per face
    from phazelab.experiments.identity import HELD_OUT_SEED, leakage_table

    world = FaceWorld(seed=0, n_identities=6)
    config = PhazeAConfig.preset("lab-slim").with_topology("split_decoders")
    model, untrained = PhazeA(config, seed=0), PhazeA(config, seed=1000)
    table = leakage_table(model, world, 0, 1, faces=2, frames=6, untrained=untrained, progress="leakage")
    assert list(table["kind"]) == ["model", "untrained"] * 2 and list(table["a2"]) == [2, 2, 3, 3]
    for row in table.itertuples():
        m = model if row.kind == "model" else untrained
        alone = placebo_leakage(m, world, 0, row.a2, [i for i in (2, 3, 4, 5) if i != row.a2], n=6,
                                seed=HELD_OUT_SEED + 9)
        assert row.leakage == pytest.approx(alone["leakage"], abs=1e-9)
        assert row.noise_floor == pytest.approx(alone["noise_floor"], abs=1e-9)
    assert "8/8" in capsys.readouterr().err


def test_placebos_stand_at_old_distance_from_new_in_its_coordinates():
    world = FaceWorld(seed=0, n_identities=3, hard=True)
    old, new = 0, 1
    lat = world.latent
    row = lat[0].clone()
    row[:3] = lat[0][:3] + 0.1 * (0.5 - lat[0][:3])  # a near look-alike of 0 in three coordinates
    new = world.add_identity(row)
    ids = placebo_identities(world, old, new, n=4)
    lat = world.latent.double()
    for p in ids:
        assert float((lat[p] - lat[new]).norm()) == pytest.approx(float((lat[old] - lat[new]).norm()), rel=1e-5)
        same = (lat[old] - lat[new]).abs() < 1e-9
        assert torch.equal(lat[p][same], lat[new][same])  # only the coordinates old and new differ in move
    with pytest.raises(ValueError, match="inside"):
        placebo_identities(world, 0, 1, n=2, max_tries=50)  # two far-apart picks: no room in the cube
    with pytest.raises(ValueError, match="same face"):
        placebo_identities(world, 1, 1)
    with pytest.raises(ValueError, match="must have"):
        world.add_identity(torch.zeros(3))
