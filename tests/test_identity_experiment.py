"""`phazelab experiment identity`: gate first, nulls beside every table, patching and CKA, JSON and README."""

import json

import pytest

from phazelab.analysis.gates import NOT_EVIDENCE
from phazelab.experiments.identity import IdentityStudy, markdown_report, run_identity, write_outputs

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def test_identity_experiment_on_a_shipped_model(tmp_path):
    study = IdentityStudy.quick(topologies=("split_decoders",), n_per_identity=6, verify_identities=6,
                                patch_frames=4, cka_n=16)
    from phazelab import lab

    other = lab.build("lab-slim", seed=3, topology="split_decoders")  # stands in for a model of another seed
    result = run_identity(study, progress=False, other_seed={"split_decoders": other})
    r = result["topologies"]["split_decoders"]
    assert set(r) == {"gate", "world", "block_table", "verification", "patching", "leakage", "cka"}
    world, meta = r["world"], lab.stage1_meta("split_decoders")["recipe"]
    assert (world["hard"], world["identity_a"], world["identity_b"]) == (
        meta["world_hard"], meta["identity_a"], meta["identity_b"])  # the model's own world and pair
    assert {row["kind"] for row in r["leakage"]} == {"model", "untrained"}
    assert all(row["a2"] not in (world["identity_a"], world["identity_b"]) for row in r["leakage"])
    assert all(row["noise_floor"] >= 0 and len(row["leakage_ci"]) == 2 for row in r["leakage"])
    assert all(-1 <= row["null_trained_other_seed"] <= 1.5 for row in r["cka"])
    kinds = {row["kind"] for row in r["block_table"]["default"]}
    assert {"model", "baseline", "untrained (seed 1000)"} <= kinds and set(r["block_table"]) == {"default", "hard"}
    assert {row["block"] for row in r["patching"]} == {"encoder", "fc_both", "decoder_b"}
    assert all(0 <= row["flip"] <= 1 for row in r["patching"])
    assert all("null_untrained_vs_untrained" in row for row in r["cka"])
    text = markdown_report(result, "phazelab experiment identity --quick")
    if not r["gate"]["passed"]:
        assert NOT_EVIDENCE in text  # a model that does not swap is never read as evidence
    path = write_outputs(result, tmp_path)
    assert json.loads(path.read_text())["study"]["patch_frames"] == 4


def test_leakage_reading_reads_the_ci_against_its_own_floor():
    from phazelab.experiments.identity import leakage_reading

    assert leakage_reading({"leakage_ci": [0.2, 0.4], "noise_floor": 0.1}).startswith("a1 leaks")
    # with 5 placebos the rank p cannot go below 1/6: the reading says so beside the leak
    five = leakage_reading({"leakage_ci": [0.2, 0.4], "noise_floor": 0.1, "rank_p": 1 / 6, "placebos": 5})
    assert "rank p 0.17, the smallest 5 placebos allow" in five
    assert five.startswith("a hint of a1")  # a CI above the floor the rank test cannot back is no finding
    some = leakage_reading({"leakage_ci": [0.2, 0.4], "noise_floor": 0.1, "rank_p": 0.5, "placebos": 5})
    assert "rank p 0.50 over 5 placebos: some placebo pulls as much" in some and some.startswith("a hint")
    many = leakage_reading({"leakage_ci": [0.2, 0.4], "noise_floor": 0.1, "rank_p": 1 / 41, "placebos": 40})
    assert many == "a1 leaks (CI above the floor; rank p 0.02 over 40 placebos)"
    ids = leakage_reading({"leakage_ci": [0.2, 0.4], "noise_floor": 0.1, "rank_p": 1 / 6, "placebos": [3, 4, 5, 6, 7]})
    assert "the smallest 5 placebos allow" in ids  # placebo_leakage's own dict names the ids
    assert leakage_reading({"leakage_ci": [-0.4, -0.2], "noise_floor": 0.1}).startswith("pulled away from a1")
    # an untrained model: large numbers, a large floor, nothing measurable
    assert leakage_reading({"leakage_ci": [-3.0, 0.5], "noise_floor": 9.5}).startswith("no leak measurable")
    assert "±9.5)" in leakage_reading({"leakage_ci": [-3.0, 0.5], "noise_floor": 9.5})
