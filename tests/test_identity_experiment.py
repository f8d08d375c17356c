"""`phazelab experiment identity`: gate first, nulls beside every table, patching and CKA, JSON and README."""

import json

import pytest

from phazelab.analysis.gates import NOT_EVIDENCE
from phazelab.experiments.identity import IdentityStudy, markdown_report, run_identity, write_outputs

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def test_identity_experiment_on_a_shipped_model(tmp_path):
    study = IdentityStudy.quick(topologies=("split_decoders",), n_per_identity=6, verify_identities=6,
                                patch_frames=4, cka_n=16)
    result = run_identity(study, progress=False)
    r = result["topologies"]["split_decoders"]
    assert set(r) == {"gate", "block_table", "verification", "patching", "cka"}
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
