"""The forum study: strategy set-up read from the model, a tiny study end to end, resumability, the report."""

import argparse
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from phazelab import PhazeA, PhazeAConfig
from phazelab.experiments import (
    STRATEGIES,
    StudyConfig,
    StudyError,
    aggregate,
    markdown_section,
    plan_runs,
    render_html,
    run_study,
    steps_to_target,
    strategy_plan,
    summarize,
    tidy,
    topology_config,
)
from phazelab.experiments.cli import forum_main, register, study_from_args

# lab-tiny's topology with narrower ends and no decoder residual blocks: a fraction of its compute.
MICRO = dict(dec_res_blocks=0, fs_original_min_filters=16, dec_min_filters=16)


def meta_model(**topology) -> PhazeA:
    with torch.device("meta"):
        return PhazeA(PhazeAConfig.preset("lab-tiny").replace(**topology))


def study_model(topology: str) -> PhazeA:
    with torch.device("meta"):
        return PhazeA(topology_config(StudyConfig.quick_settings(), topology))


# -- strategy set-up, checked against the model --------------------------------------------------------------
def test_default_topology_strategies():
    model = study_model("default")
    side_a, side_b = set(model.side_blocks("a")), set(model.side_blocks("b"))
    assert {"fc_a", "fc_b", "g_block_both"} <= set(model.blocks)
    loads = {s: strategy_plan(model, s)["load"] for s in STRATEGIES}
    assert loads["scratch"] == []
    assert loads["encoder"] == ["encoder"]
    assert set(loads["encoder+fc_b"]) == {"encoder", "fc_b"}
    assert set(loads["encoder+fc_b+gblock"]) == {"encoder", "fc_b", "fc_gblock", "g_block_both"}
    assert set(loads["all_but_a"]) == set(model.blocks) - {"fc_a"} == set(model.blocks) - (side_a - side_b)
    assert loads.pop("all") == list(model.blocks)  # the positive control loads fc_a too
    for strategy, load in loads.items():
        assert "fc_a" not in load, strategy  # side A's private block is never reused for a new Face A
        assert set(load) <= side_b  # everything loaded lies on B's path
        assert strategy_plan(model, strategy)["absent"] == []


def test_split_decoders_topology_strategies():
    model = study_model("split_decoders")
    assert not any(b.startswith("g_block") or b == "fc_gblock" for b in model.blocks)
    assert {"decoder_a", "decoder_b", "fc_both"} <= set(model.blocks)
    fc_b = strategy_plan(model, "encoder+fc_b")
    assert fc_b["load"] == ["encoder"] and fc_b["absent"] == ["fc_b"]
    gblock = strategy_plan(model, "encoder+fc_b+gblock")
    assert gblock["load"] == ["encoder"] and gblock["absent"] == ["fc_b", "shared G-Block"]
    rest = strategy_plan(model, "all_but_a")["load"]
    assert "decoder_a" not in rest and {"encoder", "fc_both", "decoder_b"} == set(rest)


@pytest.mark.parametrize("topology, private_a", [
    (dict(split_gblock=True, split_decoders=True), {"fc_a", "g_block_a", "decoder_a"}),
    (dict(shared_fc="half"), set()),  # fc_a doubles as the shared fc: it is on B's path too
    (dict(shared_fc="full"), {"fc_a"}),
])
def test_all_but_a_follows_the_model(topology, private_a):
    model = meta_model(**topology)
    load = strategy_plan(model, "all_but_a")["load"]
    assert set(load) == set(model.blocks) - private_a
    shared_g = set(strategy_plan(model, "encoder+fc_b+gblock")["load"]) - {"encoder", "fc_b"}
    assert shared_g == {b for b in model.side_blocks("a") if b in model.side_blocks("b")
                        and (b == "fc_gblock" or b.startswith("g_block"))}


def test_modes_decide_freeze_and_unfreeze():
    model = study_model("default")
    trainable = strategy_plan(model, "encoder+fc_b", "trainable", kickstart=7)
    frozen = strategy_plan(model, "encoder+fc_b", "frozen", kickstart=7)
    kick = strategy_plan(model, "encoder+fc_b", "kickstart", kickstart=7)
    assert trainable["freeze"] == [] and trainable["unfreeze_at"] is None
    assert frozen["freeze"] == frozen["load"] and frozen["unfreeze_at"] is None
    assert kick["freeze"] == kick["load"] and kick["unfreeze_at"] == 7
    with pytest.raises(StudyError, match="scratch"):
        strategy_plan(model, "scratch", "frozen")
    with pytest.raises(StudyError, match="unknown strategy"):
        strategy_plan(model, "decoder_only")


def test_duplicate_runs_are_skipped_where_blocks_are_absent():
    study = StudyConfig.quick_settings(topologies=("default", "split_decoders"),
                                       runs=(("scratch", "trainable"), ("encoder", "trainable"),
                                             ("encoder+fc_b", "trainable")))
    plans, todo, skipped = plan_runs(study)
    ran = {(r["topology"], r["strategy"]) for r in todo}
    assert ("default", "encoder+fc_b") in ran and ("split_decoders", "encoder+fc_b") not in ran
    assert skipped == [{"topology": "split_decoders", "strategy": "encoder+fc_b", "mode": "trainable",
                        "reason": skipped[0]["reason"], "same_as": "encoder@trainable"}]
    assert "fc_b" in skipped[0]["reason"]
    assert plans["split_decoders"]["strategies"]["encoder+fc_b"]["absent"] == ["fc_b"]


def test_bad_settings_name_the_setting():
    with pytest.raises(StudyError, match="kickstart"):
        StudyConfig.quick_settings(kickstart=150)
    with pytest.raises(StudyError, match="stage1_steps"):
        StudyConfig.quick_settings(stage1_steps=10)
    with pytest.raises(StudyError, match="topology"):
        StudyConfig.quick_settings(topologies=("split_everything",))
    with pytest.raises(StudyError, match="mode"):
        StudyConfig.quick_settings(runs=(("encoder", "half-frozen"),))


def test_steps_to_target_uses_the_trailing_mean():
    steps = list(range(1, 9))
    losses = [1.0, 0.1, 1.0, 0.5, 0.4, 0.3, 0.2, 0.2]
    assert steps_to_target(steps, losses, 0.1, window=1) == 2  # a single low step counts without smoothing
    assert steps_to_target(steps, losses, 0.35, window=2) == 6  # (0.4 + 0.3) / 2
    assert steps_to_target(steps, losses, 0.05, window=2) is None
    low_start = [0.1, 0.1, 0.9, 0.9, 0.1, 0.1, 0.1]
    assert steps_to_target(range(1, 8), low_start, 0.2, window=3) == 7  # needs a full window


# -- the tiny study end to end -------------------------------------------------------------------------------
TINY = dict(topologies=("default",), runs=(("scratch", "trainable"), ("encoder+fc_b", "frozen"),
                                           ("all_but_a", "kickstart")),
            stage1_steps=3, stage2_steps=2, kickstart=1, batch=2, smooth=2, eval_every=2, eval_n=8, cka_n=8,
            grid_n=2, bank_size=8, overrides=MICRO)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("forum")
    study = StudyConfig.quick_settings(**TINY)
    results = run_study(study, out, device="cpu")
    return study, out, results


def test_tiny_study_writes_results_csv_and_report(tiny):
    study, out, results = tiny
    data = json.loads((out / "results.json").read_text())
    assert {"study", "identities", "plans", "stage1", "runs", "aggregate", "summary", "machine"} <= set(data)
    assert [(r["strategy"], r["mode"]) for r in data["runs"]] == [tuple(r) for r in study.runs]
    model = study_model("default")
    for run in data["runs"]:
        for key in ("steps_to_target_a", "steps_to_target_b", "time_to_target_a", "loss_b_step0",
                    "swap_ssim_ab", "swap_ssim_ba", "leakage_final", "target_a", "curves", "evals"):
            assert key in run, key
        assert run["steps"] == 2 and len(run["curves"]["loss_b"]) == 2
        assert [e["step"] for e in run["evals"]] == [0, 2]
        assert set(run["drift"]) == set(model.blocks)
        assert set(run["cka_a"]) == set(model.side_blocks("a"))
        assert (out / run["swap_grid"]).is_file()
    csv = pd.read_csv(out / "results.csv")
    assert list(csv.columns) == ["topology", "seed", "strategy", "mode", "metric", "value"]
    assert {"steps_to_target_a", "swap_ssim_ab", "drift:encoder", "cka_a:fc_a"} <= set(csv["metric"])
    page = (out / "report.html").read_text()
    assert "Plotly.newPlot" in page and page.count('<img alt="swap grid" src="data:image/png;base64,') == 3
    assert "encoder+fc_b @ frozen" in page and "fastest to target on A" in page


def test_tiny_study_freezes_loads_and_kickstarts_as_planned(tiny):
    _, _, results = tiny
    runs = {r["strategy"]: r for r in results["runs"]}
    frozen = runs["encoder+fc_b"]
    assert frozen["drift"]["encoder"] == 0.0 and frozen["drift"]["fc_b"] == 0.0  # loaded, never trained
    assert frozen["cka_a"]["encoder"] == pytest.approx(1.0)
    assert frozen["drift"]["fc_a"] > 0  # not loaded: a fresh block that trained
    kick = runs["all_but_a"]
    unfreeze = [e for e in kick["events"] if e["kind"] == "unfreeze"]
    assert [e["step"] for e in unfreeze] == [1] and set(unfreeze[0]["blocks"]) == set(kick["load"])
    assert all(kick["drift"][b] > 0 for b in kick["load"])  # trained after step 1
    # B starts from stage 1's blocks: its step-0 loss is below scratch's
    assert kick["loss_b_step0"] < runs["scratch"]["loss_b_step0"]


def test_rerun_skips_finished_runs(tiny, one_thread, monkeypatch, tmp_path):
    study, finished, _ = tiny
    out = tmp_path / "copy"
    shutil.copytree(finished, out)  # the other tests keep the untouched folder
    from phazelab.train import Trainer

    calls = []
    original = Trainer.run
    monkeypatch.setattr(Trainer, "run", lambda self, steps: calls.append(steps) or original(self, steps))
    files = sorted((out / "runs").rglob("*.json"))
    stamps = {f: f.stat().st_mtime_ns for f in files}
    again = run_study(study, out, device="cpu", write=False)
    assert calls == [] and again["ran"] == []
    assert {f: f.stat().st_mtime_ns for f in files} == stamps
    # a lost run file: exactly that run trains again, stage 1 is read back
    lost = next(f for f in files if f.name.startswith("scratch"))
    lost.unlink()
    again = run_study(study, out, device="cpu", write=False)
    assert again["ran"] == ["default/seed0/scratch@trainable"] and lost.is_file()
    assert sum(calls) == study.stage2_steps
    assert all(f.stat().st_mtime_ns == stamps[f] for f in files if f != lost)


# -- the report from a results dict --------------------------------------------------------------------------
def fake_run(strategy, mode, seed, steps_a, leak, swap, topology="default"):
    curve = {"step": [1, 2, 3, 4], "loss_a": [0.5, 0.4, 0.3, 0.2], "loss_b": [0.3, 0.2, 0.2, 0.2]}
    return {"topology": topology, "seed": seed, "strategy": strategy, "mode": mode,
            "load": [] if strategy == "scratch" else ["encoder"],
            "freeze": ["encoder"] if mode == "frozen" else [], "unfreeze_at": None, "absent": [],
            "steps": 4, "steps_to_target_a": steps_a, "steps_to_target_b": 2, "time_to_target_a": None,
            "time_to_target_b": 1.0, "loss_b_step0": 0.3, "recon_ssim_b_step0": 0.5,
            "recon_ssim_b_final": 0.6,
            "recon_ssim_a_final": 0.6, "final_loss_a": 0.2, "final_loss_b": 0.2, "swap_ssim_ab": swap,
            "swap_ssim_ba": swap, "leakage_final": leak, "leakage_max": leak, "train_s": 10.0,
            "target_a": 0.25, "target_b": 0.25, "curves": curve,
            "evals": [{"step": 0, "leakage": leak, "recon_ssim_b": 0.5}, {"step": 4, "leakage": leak,
                                                                          "recon_ssim_b": 0.6}],
            "drift": {"encoder": 0.0 if mode == "frozen" else 0.1, "fc_a": 0.5},
            "cka_a": {"encoder": 1.0, "fc_a": 0.2}, "cka_b": {"encoder": 1.0}}


def fake_results():
    runs = []
    for seed, (s_scratch, s_enc, leak_scratch) in enumerate([(100, 40, 0.10), (120, 60, 0.14)]):
        runs += [fake_run("scratch", "trainable", seed, s_scratch, leak_scratch, 0.50),
                 fake_run("encoder", "trainable", seed, s_enc, 0.12, 0.55),
                 fake_run("encoder", "frozen", seed, None, 0.40, 0.45)]
    return {"study": StudyConfig.quick_settings(seeds=2).to_dict(), "runs": runs, "skipped": [],
            "identities": {"a1": 0, "b1": 1, "a2": 2}}


def test_aggregate_and_tidy_from_a_results_dict():
    results = fake_results()
    table = aggregate(results).set_index("strategy")
    enc = table[table["mode"] == "trainable"].loc["encoder"]
    assert enc["steps_to_target_a"] == 50
    assert enc["steps_to_target_a_sd"] == pytest.approx(np.std([40, 60], ddof=1))
    assert enc["speedup_a"] == pytest.approx(110 / 50)
    frozen = table[table["mode"] == "frozen"].loc["encoder"]
    assert frozen["steps_to_target_a_n"] == 0 and np.isnan(frozen["steps_to_target_a"])
    rows = tidy(results)
    assert len(rows[rows["metric"] == "swap_ssim_ab"]) == 6 and "drift:fc_a" in set(rows["metric"])


def test_summary_states_what_the_numbers_show():
    text = "\n".join(summarize(fake_results()))
    fastest = "fastest to target on A: encoder @ trainable (50 ± 14.1 steps vs 110 for scratch, 2.2× faster)"
    assert fastest in text
    assert "never reached: encoder @ frozen" in text
    noise = np.std([0.10, 0.14], ddof=1)
    assert f"noise level {noise:.3f} = sd of scratch's final leakage over 2 seeds" in text
    assert "above scratch + 2 × noise: encoder @ frozen (0.400)" in text  # 0.12 is within the noise
    assert "best final GT swap SSIM A→B: encoder @ trainable 0.550" in text
    assert "largest drift of a block frozen throughout: 0.000" in text


def test_report_html_is_self_contained():
    results = fake_results()
    page = render_html(results)
    assert page.startswith("<!doctype html>") and "<script src=" not in page  # plotly.js is inline
    assert page.count('class="plotly-graph-div"') >= 5
    assert "encoder @ frozen" in page and "fastest to target on A" in page


def test_markdown_section_tables_the_numbers():
    results = {**fake_results(), "command": "phazelab experiment forum --quick", "wall_s": 12.0,
               "machine": {"name": "test box", "device": "cpu", "torch": "x", "threads": 1}, "ran": [], "reused": []}
    text = markdown_section(results)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if " @ " in line and "|" in line}
    assert set(rows) - {"strategy @ mode"} == {"scratch @ trainable", "encoder @ trainable", "encoder @ frozen"}
    assert "| 50 ± 14.1 / 2.00 ± 0.000 |" in rows["encoder @ trainable"]  # mean ± sd over the two seeds
    assert "| never / 2.00 ± 0.000 |" in rows["encoder @ frozen"] and "encoder (frozen)" in rows["encoder @ frozen"]
    assert "`phazelab experiment forum --quick`" in text and "test box" in text
    assert "- " + summarize(results)[1] in text  # the generated summary, verbatim


# -- command line --------------------------------------------------------------------------------------------
def parse(argv):
    parser = argparse.ArgumentParser(prog="phazelab")
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_cli_builds_the_study():
    args = parse(["experiment", "forum", "--quick", "--strategies", "encoder:frozen", "all_but_a",
                  "--steps", "40", "--sibling-distance", "0.3"])
    study = study_from_args(args)
    assert study.topologies == ("default",) and study.preset == "lab-tiny" and study.seeds == 1
    assert study.runs == (("scratch", "trainable"), ("encoder", "frozen"), ("all_but_a", "trainable"),
                          ("all_but_a", "frozen"), ("all_but_a", "kickstart"))
    assert (study.stage2_steps, study.stage1_steps, study.sibling_distance) == (40, 80, 0.3)
    full = study_from_args(parse(["experiment", "forum", "--set", "split_gblock=True"]))
    assert full.topologies == ("default", "split_decoders") and full.seeds == 3
    assert full.base().split_gblock is True


def test_cli_bad_input_exits_2_naming_the_option(tmp_path, capsys):
    args = parse(["experiment", "forum", "--quick", "--strategies", "decoder_only", "--out", str(tmp_path)])
    assert forum_main(args) == 2
    assert "--strategies: unknown strategy 'decoder_only'" in capsys.readouterr().err
    args = parse(["experiment", "forum", "--config", str(tmp_path / "missing.json"), "--out", str(tmp_path)])
    assert forum_main(args) == 2
    assert "missing.json" in capsys.readouterr().err


def test_table_html_gives_every_cell_a_number_or_a_reason():
    """Issue 17.4: the study table (report and StudyPanel) never shows a bare NaN."""
    from phazelab.experiments.report import table_html

    results = fake_results()
    results["runs"] = [r for r in results["runs"] if r["seed"] == 0]  # one seed: every sd is NaN
    page = table_html(aggregate(results))
    assert "nan" not in page.lower().replace("n/a", "")
    assert "never" in page  # encoder @ frozen never reached the target on A
    assert "n/a (this run or scratch never reached the target)" in page
