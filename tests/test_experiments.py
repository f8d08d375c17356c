"""The forum study: arms read from the model, pairing, the answers' rules on constructed runs, a tiny study
end to end from the shipped stage 1, a stage 1 that fails its gate, resumability, the report and the CLI."""

import argparse
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from phazelab import PhazeA, PhazeAConfig
from phazelab.experiments import (
    ARMS,
    STRATEGIES,
    Study,
    StudyConfig,
    StudyError,
    answer_all,
    markdown_section,
    plan_runs,
    render_html,
    run_study,
    strategy_plan,
    tidy,
)
from phazelab.experiments.answers import CENSORED, EQUIVALENT, INCONCLUSIVE, INSENSITIVE, LEAK, NOT_APPLICABLE
from phazelab.experiments.cli import forum_main, register, study_from_args
from phazelab.experiments.rules import NOT_TRAINED, VERDICTS
from phazelab.lab import MODELS_DIR


def config(topology: str) -> PhazeAConfig:
    return PhazeAConfig.preset("lab-slim").with_topology(topology)


def study_model(topology: str) -> PhazeA:
    with torch.device("meta"):
        return PhazeA(config(topology))


def meta_model(**topology) -> PhazeA:
    with torch.device("meta"):
        return PhazeA(PhazeAConfig.preset("lab-tiny").replace(**topology))


# -- arms, checked against the model ---------------------------------------------------------------------------
def test_default_topology_strategies():
    model = study_model("default")
    side_a, side_b = set(model.side_blocks("a")), set(model.side_blocks("b"))
    loads = {s: strategy_plan(model, s)["load"] for s in STRATEGIES}
    assert loads["scratch"] == [] and loads["encoder"] == ["encoder"]
    assert set(loads["encoder+fc_b"]) == {"encoder", "fc_b"}
    assert set(loads["encoder+fc_b+gblock"]) == {"encoder", "fc_b", "fc_gblock", "g_block_both"}
    assert set(loads["all_but_a"]) == set(model.blocks) - {"fc_a"} == set(model.blocks) - (side_a - side_b)
    assert loads.pop("all") == list(model.blocks)  # the positive control loads fc_a too
    for strategy, load in loads.items():
        assert "fc_a" not in load, strategy
        assert set(load) <= side_b


def test_split_decoders_topology_strategies():
    model = study_model("split_decoders")
    fc_b = strategy_plan(model, "encoder+fc_b")
    assert fc_b["load"] == ["encoder"] and fc_b["absent"] == ["fc_b"]
    assert set(strategy_plan(model, "all_but_a")["load"]) == {"encoder", "fc_both", "decoder_b"}
    assert strategy_plan(model, "all")["load"] == ["encoder", "fc_both", "decoder_a", "decoder_b"]


@pytest.mark.parametrize("topology, private_a", [
    (dict(split_gblock=True, split_decoders=True), {"fc_a", "g_block_a", "decoder_a"}),
    (dict(shared_fc="half"), set()),  # fc_a doubles as the shared fc: it is on B's path too
    (dict(shared_fc="full"), {"fc_a"}),
])
def test_all_but_a_follows_the_model(topology, private_a):
    model = meta_model(**topology)
    assert set(strategy_plan(model, "all_but_a")["load"]) == set(model.blocks) - private_a


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


def test_full_arm_set_has_the_positive_control_and_duplicates_are_skipped():
    assert ("all", "trainable") in ARMS and ("scratch", "trainable") in ARMS
    study = StudyConfig(topologies=("default", "split_decoders"))
    plans, todo, skipped = plan_runs(study, {t: config(t) for t in study.topologies})
    ran = {(r["topology"], r["strategy"], r["mode"]) for r in todo}
    assert ("default", "encoder+fc_b", "trainable") in ran and ("split_decoders", "all", "trainable") in ran
    assert ("split_decoders", "encoder+fc_b", "trainable") not in ran  # = encoder@trainable there
    assert {s["strategy"] for s in skipped} == {"encoder+fc_b", "encoder+fc_b+gblock"}


def test_bad_settings_name_the_setting():
    for changes, match in ((dict(kickstart=400), "kickstart"), (dict(topologies=("split_everything",)), "topology"),
                           (dict(runs=(("encoder", "half-frozen"),)), "mode"), (dict(a2_towards=(2, 2)), "a2_towards"),
                           (dict(n_placebos=1), "n_placebos"), (dict(margins={"leakage": -1}), "margin leakage"),
                           (dict(margins={"leak": 0.1}), "leak"), (dict(gate=0), "gate")):
        with pytest.raises(StudyError, match=match):
            StudyConfig.quick_settings(**changes)


# -- pairing ---------------------------------------------------------------------------------------------------
def test_arms_share_the_initial_weights_of_the_blocks_they_do_not_load(tmp_path):
    study = StudyConfig.quick_settings(stage1_from=str(MODELS_DIR))
    s = Study(study, tmp_path)
    model = study_model("split_decoders")
    stage1 = s.stage1("split_decoders")
    assert stage1["gate"]["passed"] and (stage1["a1"], stage1["b1"]) == (0, 1)

    def arm(strategy, mode):
        return s.arm_model({"topology": "split_decoders", "strategy": strategy, "mode": mode,
                            **strategy_plan(model, strategy, mode, 5)}, towards=2, seed=0)

    scratch, frozen, control = arm("scratch", "trainable"), arm("encoder", "frozen"), arm("all", "trainable")
    from phazelab.weights import load_model

    before = load_model(stage1["path"])
    for name in ("fc_both", "decoder_a", "decoder_b"):  # not loaded by encoder@frozen: scratch's weights
        for p, q in zip(scratch.blocks[name].parameters(), frozen.blocks[name].parameters()):
            assert torch.equal(p, q)
    for p, q in zip(frozen.blocks["encoder"].parameters(), before.blocks["encoder"].parameters()):
        assert torch.equal(p, q) and not p.requires_grad
    for p, q in zip(control.blocks["decoder_a"].parameters(), before.blocks["decoder_a"].parameters()):
        assert torch.equal(p, q) and p.requires_grad  # the positive control carries a1's decoder
    other = s.arm_model({"topology": "split_decoders", "strategy": "scratch", "mode": "trainable",
                         **strategy_plan(model, "scratch")}, towards=3, seed=0)
    assert not torch.equal(next(other.blocks["decoder_a"].parameters()), next(scratch.blocks["decoder_a"].parameters()))


# -- the answers' rules on constructed runs --------------------------------------------------------------------
STEPS = (0, 100, 200)


def fake_run(topology, arm, towards, *, leak=(0.0, 0.0, 0.0), recon_a=(0.0, 0.9, 0.95), success_ab=(0.0, 0.5, 0.9),
             ssim_b0=0.5, face_a=None):
    strategy, mode = arm.split("@")
    face_a = recon_a if face_a is None else face_a
    evals = [{"step": t, LEAK: leak[i], f"{LEAK}_null": [0.02, -0.02, 0.0], "recon_success_a": recon_a[i],
              "recon_face_a": face_a[i], "success_ab": success_ab[i], "success_ba": 0.5,
              "recon_ssim_b": ssim_b0 if t == 0 else 0.8} for i, t in enumerate(STEPS)]
    run = {"topology": topology, "strategy": strategy, "mode": mode, "towards": towards, "seed": 0, "evals": evals,
           "load": [], "freeze": [], "unfreeze_at": None, "train_s": 1.0}
    for side, key in (("a", "recon_success_a"), ("b", "success_ab")):
        hit = [e["step"] for e in evals if e[key] >= 0.8]
        run[f"time_to_gate_{side}"], run[f"reached_{side}"] = (hit[0], True) if hit else (STEPS[-1], False)
    return run


def fake_results(runs, topologies=("split_decoders",), stage1_passed=True):
    study = StudyConfig(topologies=topologies, stage2_steps=200, eval_every=100).to_dict()
    plans = {t: {"blocks": list(study_model(t).blocks),
                 "strategies": {s: {"absent": strategy_plan(study_model(t), s)["absent"]} for s in STRATEGIES}}
             for t in topologies}
    stage1 = {t: {"gate": {"passed": stage1_passed, "success": 0.9 if stage1_passed else 0.3, "gate": 0.8}}
              for t in topologies}
    return {"study": study, "runs": runs, "plans": plans, "stage1": stage1, "nulls": {}}


def q3_runs(frozen_leak, control_leak0=0.8, towards=(2, 3, 4), recon_a=(0.0, 0.9, 0.95)):
    runs = []
    for i, k in enumerate(towards):
        runs.append(fake_run("split_decoders", "all@trainable", k, leak=(control_leak0 + 0.01 * i, 0.2, 0.05)))
        runs.append(fake_run("split_decoders", "encoder@frozen", k, leak=frozen_leak[i], recon_a=recon_a))
    return runs


def test_q3_no_leak_within_margin_when_the_control_leaks():
    runs = q3_runs([(0.0, 0.01, -0.01), (0.0, -0.02, 0.0), (0.0, 0.02, 0.01)])
    q3 = answer_all(fake_results(runs))["q3"]
    assert q3["verdict"] == EQUIVALENT and q3["topology"] == "split_decoders"
    assert q3["ci"][1] < 0.10 and q3["n"] == 3
    assert set(q3) >= {"verdict", "rule", "estimate", "ci", "n", "gates"}
    assert q3["by_topology"]["split_decoders"]["sensitivity"]["sensitive"]


def test_q3_a_clear_leak_is_greater():
    runs = q3_runs([(0.0, 0.5, 0.45), (0.0, 0.55, 0.5), (0.0, 0.6, 0.5)])
    assert answer_all(fake_results(runs))["q3"]["verdict"] == VERDICTS[0]


def test_q3_without_a_leaking_control_prints_no_no_leak_verdict():
    runs = q3_runs([(0.0, 0.01, -0.01), (0.0, -0.02, 0.0), (0.0, 0.02, 0.01)], control_leak0=0.0)
    assert answer_all(fake_results(runs))["q3"]["verdict"] == INSENSITIVE


def test_q3_needs_side_a_trained_and_a_gated_stage1():
    runs = q3_runs([(0.0, 0.0, 0.0)] * 3, recon_a=(0.0, 0.2, 0.3))
    assert answer_all(fake_results(runs))["q3"]["verdict"] == NOT_TRAINED
    good = q3_runs([(0.0, 0.0, 0.0)] * 3)
    assert answer_all(fake_results(good, stage1_passed=False))["q3"]["verdict"] == NOT_TRAINED


def test_q3_reads_leakage_only_once_side_a_renders_faces():
    # a1 named before side A renders faces (step 100 here) does not count; after it, it does
    early = q3_runs([(0.0, 0.9, 0.0)] * 3, recon_a=(0.0, 0.0, 0.95))
    assert answer_all(fake_results(early))["q3"]["verdict"] == EQUIVALENT
    late = q3_runs([(0.0, 0.0, 0.6), (0.0, 0.0, 0.65), (0.0, 0.0, 0.7)], recon_a=(0.0, 0.0, 0.95))
    assert answer_all(fake_results(late))["q3"]["verdict"] == VERDICTS[0]


def test_a_side_a_that_shows_a1_counts_as_trained_and_leaking():
    # a2 is never named (recon_success_a 0) but side A renders a face (a1) at the right pose
    runs = q3_runs([(0.0, 0.7, 0.75), (0.0, 0.8, 0.7), (0.0, 0.75, 0.8)], recon_a=(0.0, 0.0, 0.0))
    for r in runs:
        for e in r["evals"]:
            e["recon_face_a"] = 0.0 if e["step"] == 0 else 0.95
    assert answer_all(fake_results(runs))["q3"]["verdict"] == VERDICTS[0]


def test_two_identical_replicates_do_not_earn_equivalence():
    runs = q3_runs([(0.0, 0.0, 0.0)] * 2, towards=(2, 3))
    q3 = answer_all(fake_results(runs))["q3"]
    assert q3["verdict"] == INCONCLUSIVE and q3["ci"][1] > 0  # the binomial floor of 2 × 32 frames


def test_a_blind_blend_check_blocks_the_no_leak_verdict():
    results = fake_results(q3_runs([(0.0, 0.0, 0.01), (0.0, -0.01, 0.0), (0.0, 0.01, 0.0)]))
    blends = {"0": 0.0, "0.25": 0.0, "0.5": 0.0, "0.75": 0.02, "pull": {"0": 0.0, "0.25": 0.2, "0.5": 0.4}}
    results["nulls"] = {"split_decoders": {"replicates": {f"a2→{k}": {"blend_leakage": dict(blends)}
                                                          for k in (2, 3, 4)}}}
    assert answer_all(results)["q3"]["verdict"] == INSENSITIVE
    for rep in results["nulls"]["split_decoders"]["replicates"].values():
        rep["blend_leakage"]["0.75"] = 0.9
    assert answer_all(results)["q3"]["verdict"] == EQUIVALENT


def test_q3_noisy_leakage_is_inconclusive():
    runs = q3_runs([(0.0, 0.3, 0.0), (0.0, -0.2, 0.0), (0.0, 0.1, 0.0)])
    assert answer_all(fake_results(runs))["q3"]["verdict"] == INCONCLUSIVE


def test_q1_q2_do_not_apply_without_fc_b_and_read_time_to_gate_in_the_default_topology():
    assert answer_all(fake_results(q3_runs([(0, 0, 0)] * 3)))["q1"]["verdict"] == NOT_APPLICABLE
    runs = []
    for k in (2, 3, 4):
        runs.append(fake_run("default", "encoder@trainable", k, success_ab=(0.0, 0.3, 0.9)))  # gate at 200
        runs.append(fake_run("default", "encoder+fc_b@trainable", k, success_ab=(0.9, 0.9, 0.9)))  # at 0
        runs.append(fake_run("default", "encoder+fc_b+gblock@trainable", k, success_ab=(0.9, 0.9, 0.9)))
    answers = answer_all(fake_results(runs, topologies=("default",)))
    q1 = answers["q1"]["by_topology"]["default"]["parts"][0]
    assert q1["verdict"] == VERDICTS[1] and q1["estimate"] == pytest.approx(-np.log2(3))  # (0+100)/(200+100)
    assert q1["km_arm"]["median"] == 0 and q1["km_reference"]["median"] == 200
    g = answers["q2"]["by_topology"]["default"]["parts"][1]  # G-Block, side B: identical curves
    assert g["verdict"] == EQUIVALENT and g["estimate"] == 0
    assert answers["q2"]["verdict"] == EQUIVALENT  # every part: identical curves over 3 replicates


def test_a_run_without_the_compared_arms_says_so_and_a_failed_stage1_reads_not_trained():
    from phazelab.experiments.answers import NOT_RUN

    runs = [fake_run("split_decoders", "all@trainable", k) for k in (2, 3)]
    results = fake_results(runs)
    results["study"]["runs"] = [["scratch", "trainable"], ["all", "trainable"]]
    q3 = answer_all(results)["q3"]
    assert q3["verdict"] == NOT_RUN and "encoder@frozen" in q3["by_topology"]["split_decoders"]["reason"]
    both = fake_results(q3_runs([(0.0, 0.01, -0.01), (0.0, -0.02, 0.0), (0.0, 0.02, 0.01)]),
                        topologies=("split_decoders", "default"))
    both["stage1"]["default"]["gate"] = {"passed": False, "success": 0.63, "gate": 0.8}
    answers = answer_all(both)
    assert answers["q1"]["verdict"] == NOT_TRAINED and answers["q1"]["topology"] == "default"
    assert "0.63" in answers["q1"]["by_topology"]["default"]["reason"]
    assert answers["q3"]["topology"] == "split_decoders" and answers["q3"]["verdict"] == EQUIVALENT
    assert answers["q3"]["by_topology"]["default"]["verdict"] == NOT_TRAINED
    from phazelab.experiments.report import answers_markdown

    both["answers"] = answers
    text = answers_markdown(both)
    assert "0.63" in text and "no arm was built on it" in text
    both["stage1"]["default"]["gate"]["success"] = None  # a stage 1 without a recorded success
    answers_markdown({**both, "answers": answer_all(both)})


def test_censoring_caps_only_the_claims_it_could_flatter():
    def q1_part(arm_curves, ref_curves):
        runs = []
        for k, (a, r) in enumerate(zip(arm_curves, ref_curves, strict=True)):
            runs.append(fake_run("default", "encoder@trainable", k + 2, success_ab=r))
            runs.append(fake_run("default", "encoder+fc_b@trainable", k + 2, success_ab=a))
        return answer_all(fake_results(runs, topologies=("default",)))["q1"]["by_topology"]["default"]["parts"][0]

    at0, at200, never = (0.9, 0.9, 0.9), (0.0, 0.0, 0.9), (0.0, 0.0, 0.1)
    # the arm is faster in 4 replicates and censored (at the budget) in one: budget-capped times flatter it
    part = q1_part([at0, at0, at0, at0, never], [at200] * 5)
    assert part["verdict"] == CENSORED and part["km_arm"]["censored"] == 1
    # the reference is censored, the arm is not: the capped reference can only make the arm look slower
    part = q1_part([at0] * 4, [never, at200, at200, at200])
    assert part["verdict"] == VERDICTS[1]
    # the arm is slower and censored everywhere, the reference reached: "greater" stands
    part = q1_part([never] * 4, [at0, at0, at0, at0])
    assert part["verdict"] == VERDICTS[0] and part["km_arm"]["median"] is None


def test_q1_reads_fc_a_leakage_from_the_positive_control_against_all_but_a():
    runs = []
    for k in (2, 3, 4):
        runs.append(fake_run("default", "all_but_a@trainable", k, leak=(0.0, 0.0, 0.02)))
        runs.append(fake_run("default", "all@trainable", k, leak=(0.9, 0.5 + 0.02 * k, 0.4)))
        for arm in ("encoder@trainable", "encoder+fc_b@trainable"):
            runs.append(fake_run("default", arm, k))
    q1 = answer_all(fake_results(runs, topologies=("default",)))["q1"]
    leak = next(p for p in q1["by_topology"]["default"]["parts"] if p["part"].startswith("fc_a: a1 leakage"))
    assert leak["verdict"] == VERDICTS[0] and leak["estimate"] > 0.4
    assert "differs" in q1["verdict"] and "fc_a: a1 leakage" in q1["verdict"]
    assert q1["primary"].startswith("fc_b") and q1["units"] == "log2 ratio"


# -- the study end to end, tiny, from the shipped stage 1 -------------------------------------------------------
TINY = dict(topologies=("split_decoders",),
            runs=(("scratch", "trainable"), ("encoder", "frozen"), ("all", "trainable")),
            stage1_from=str(MODELS_DIR), a2_towards=(2, 3), stage2_steps=4, eval_every=2, eval_n=8, cka_n=8,
            n_placebos=3, grid_n=2)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import phazelab.experiments.forum as forum

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("forum")
    study = StudyConfig(**TINY)
    messages: list[str] = []
    every, forum.TICK_SECONDS = forum.TICK_SECONDS, 0.0  # a step counter at every metrics read
    try:
        results = run_study(study, out, device="cpu", progress=messages.append)
    finally:
        forum.TICK_SECONDS = every
    TINY_MESSAGES[:] = messages
    return study, out, results


TINY_MESSAGES: list[str] = []


def test_tiny_study_reports_progress_with_a_step_counter(tiny):
    from phazelab.experiments.forum import TICK

    ticks = [m for m in TINY_MESSAGES if m.startswith(TICK)]
    steps = [m for m in ticks if "stage 2 · " in m]
    counter = (" left", "timing the first steps")  # a run of 4 steps never has a rate (_time_left)
    assert steps and all(any(c in m for c in counter) or "judging" in m or "the run's end" in m
                         or "face banks" in m for m in steps)
    # the evaluations and a run's end measurements say so (seconds each on a CPU, after the last step)
    assert any("judging" in m for m in steps) and any("the run's end" in m for m in steps)
    assert any(any(c in m for c in counter) for m in steps)
    # building a replicate (seconds per judge) reports each of its six parts, then that it is ready
    parts = [m for m in ticks if m.startswith(f"{TICK}replicate split_decoders · a2 towards identity 2")]
    numbers = [m.split("part ")[1][:5] for m in parts[:-1]]  # a part's line is re-sent each second it runs
    assert list(dict.fromkeys(numbers)) == [f"{i} / 6" for i in range(1, 7)] == sorted(set(numbers))
    assert all(m.endswith(" s") for m in parts[:-1])  # each with its seconds
    assert "ready in" in parts[-1]
    assert any(m.startswith("done in") or "done in" in m for m in TINY_MESSAGES if not m.startswith(TICK))


def test_tiny_study_takeaway_puts_the_questions_it_cannot_ask_last(tiny):
    from phazelab.experiments.report import takeaway

    lines = takeaway(tiny[2])  # split_decoders only: it has no fc_a / fc_b, so Q1 and Q2 are not asked
    assert lines[0].startswith("Q3 (split_decoders)")
    idle = [line for line in lines if line.startswith("Q1 and Q2: not asked by these runs (split_decoders")]
    assert len(idle) == 1 and "split_fc is off" in idle[0]
    assert not any("not applicable" in line for line in lines)


def test_a_second_study_reuses_the_replicates_built_in_this_process(tiny):
    study, out, _ = tiny
    messages: list[str] = []
    again = Study(study, out, device="cpu", progress=messages.append)
    first = again.replicate("split_decoders", 2)
    assert not any("rendering" in m for m in messages)  # no judge is rendered again
    other = Study(dataclasses.replace(study, eval_n=9), out, device="cpu", progress=messages.append)
    assert other.replicate("split_decoders", 2) is not first  # other settings: built anew
    assert any("rendering" in m for m in messages)


def test_arm_trainer_trains_a_learners_arm_as_the_study_trains_its_own(tiny):
    study, out, _ = tiny
    runner = Study(study, out, device="cpu")
    st, rep = runner.stage1("split_decoders"), runner.replicate("split_decoders", 2)
    model = PhazeA(st["config"], seed=0)
    trainer = runner.arm_trainer(model, "split_decoders", preview_every=7)
    used, recipe = trainer.settings(), st["recipe"]
    assert used["batch_size"] == (study.batch or recipe.batch) and used["lr"] == (study.lr or recipe.lr)
    assert used["lr_schedule"] == "constant" and used["lr_warmup"] == min(recipe.lr_warmup, study.stage2_steps - 1)
    assert used["preview_every"] == 7  # an option of the caller's
    assert trainer.data_a.identity == rep.a2 and trainer.data_b.identity == rep.b1  # the study's banks
    assert trainer.data_a is runner.arm_trainer(model, "split_decoders").data_a  # rendered once


def test_tiny_study_writes_answers_results_and_report(tiny):
    study, out, results = tiny
    for name in ("results.json", "results.csv", "arms.csv", "answers.md", "report.html"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "results.json").read_text())
    assert set(saved["answers"]) == {"q1", "q2", "q3"} and saved["complete"]
    for q in saved["answers"].values():
        assert {"verdict", "rule", "estimate", "ci", "n", "gates", "question"} <= set(q)
    assert saved["answers"]["q3"]["verdict"] == NOT_TRAINED  # 4 steps do not teach side A a2
    assert len(saved["runs"]) == 6 and {r["towards"] for r in saved["runs"]} == {2, 3}
    assert saved["stage1"]["split_decoders"]["gate"]["passed"]
    control = next(r for r in saved["runs"] if r["strategy"] == "all")
    assert control["drift"]["decoder_a"] > 0 and control["evals"][0][LEAK] > 0  # a1's decoder, a1 named
    frozen = next(r for r in saved["runs"] if r["mode"] == "frozen")
    assert frozen["drift"]["encoder"] == 0 and frozen["drift"]["decoder_a"] > 0
    probe = saved["nulls"]["split_decoders"]["replicates"]["a2→2"]["probe_a1_vs_a2"]
    assert set(probe) == {"stage1_encoder", "untrained_encoder", "pixels"}
    page = (out / "report.html").read_text()
    assert "The three answers" in page and "<script src" not in page and "data:image/png;base64" in page
    frame = tidy(results)
    assert set(frame["measure"]) >= {"success_ab", "recon_success_a", LEAK} and len(frame) > 0
    assert "Q3" in markdown_section(results) and "Q3" in render_html(results)


def test_rerun_reuses_finished_runs_and_redoes_a_lost_one(tiny, monkeypatch, tmp_path):
    study, finished, _ = tiny
    out = tmp_path / "copy"
    shutil.copytree(finished, out)
    from phazelab.train import Trainer

    calls = []
    original = Trainer.run
    monkeypatch.setattr(Trainer, "run", lambda self, steps: calls.append(steps) or original(self, steps))
    files = sorted((out / "runs").rglob("*.json"))
    stamps = {f: f.stat().st_mtime_ns for f in files}
    again = run_study(study, out, device="cpu", write=False)
    assert calls == [] and again["ran"] == [] and len(again["reused"]) == 6
    lost = next(f for f in files if f.name.startswith("scratch"))
    lost.unlink()
    again = run_study(study, out, device="cpu", write=False)
    assert again["ran"] == ["split_decoders/a2-2/seed0/scratch@trainable"] and lost.is_file()
    assert sum(calls) == study.stage2_steps
    assert all(f.stat().st_mtime_ns == stamps[f] for f in files if f != lost)
    changed = StudyConfig(**{**TINY, "stage2_steps": 6})  # another budget: nothing is reused
    assert Study(changed, out)._key("split_decoders", {"strategy": "all", "mode": "trainable", "load": [],
                                                       "freeze": [], "unfreeze_at": None}, 2, 0) != \
        Study(study, out)._key("split_decoders", {"strategy": "all", "mode": "trainable", "load": [], "freeze": [],
                                                  "unfreeze_at": None}, 2, 0)


def test_max_seconds_stops_between_runs_and_says_incomplete(tiny, tmp_path):
    study, _, _ = tiny
    results = run_study(study, tmp_path, device="cpu", write=False, max_seconds=0)
    assert not results["complete"] and results["runs"] == [] and results["answers"] == {}


def test_a_stage1_that_failed_its_gate_is_not_built_on(tmp_path):
    from phazelab.experiments.swap import SwapRecipe
    from phazelab.weights import save

    folder = tmp_path / "models" / "split_decoders"
    save(PhazeA(config("split_decoders"), seed=0), folder,
         meta={"step": 10, "recipe": dataclasses.asdict(SwapRecipe()), "confirm": {"success": 0.3}})
    study = StudyConfig(**{**TINY, "stage1_from": str(tmp_path / "models")})
    results = run_study(study, tmp_path / "out", device="cpu")
    assert results["runs"] == [] and "failed its gate" in results["skipped"][-1]["reason"]
    assert results["answers"]["q3"]["verdict"] == NOT_TRAINED
    assert "not trained enough" in (tmp_path / "out" / "answers.md").read_text()


def test_a_missing_or_wrong_stage1_is_refused(tmp_path):
    with pytest.raises(StudyError, match="holds no model"):
        Study(StudyConfig(**{**TINY, "stage1_from": str(tmp_path)}), tmp_path).stage1("split_decoders")
    from phazelab.experiments.swap import SwapRecipe
    from phazelab.weights import save

    save(PhazeA(config("default"), seed=0), tmp_path / "split_decoders",
         meta={"step": 1, "recipe": dataclasses.asdict(SwapRecipe()), "confirm": {"success": 0.9}})
    with pytest.raises(StudyError, match="not a split_decoders model"):
        Study(StudyConfig(**{**TINY, "stage1_from": str(tmp_path)}), tmp_path).stage1("split_decoders")


# -- the command line ------------------------------------------------------------------------------------------
def parse(*argv):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["experiment", "forum", *argv])


def test_cli_builds_the_study():
    quick = study_from_args(parse("--quick"))
    assert quick == StudyConfig.quick_settings()
    full = study_from_args(parse("--topology", "default", "--strategies", "encoder:frozen", "all:trainable",
                                 "--steps", "300", "--a2-towards", "5", "6", "--placebos", "4"))
    assert full.topologies == ("default",) and full.stage2_steps == 300 and full.a2_towards == (5, 6)
    assert full.runs == (("scratch", "trainable"), ("encoder", "frozen"), ("all", "trainable")) and full.n_placebos == 4
    assert study_from_args(parse("--train-stage1")).stage1_from is None


def test_cli_bad_input_exits_2_naming_the_option(tmp_path, capsys):
    assert forum_main(parse("--quick", "--steps", "0", "--out", str(tmp_path))) == 2
    assert "stage2_steps" in capsys.readouterr().err
    assert forum_main(parse("--quick", "--stage1-from", str(tmp_path / "nowhere"), "--out", str(tmp_path))) == 2
    assert "holds no model" in capsys.readouterr().err


def _recorded() -> dict:
    return json.loads((Path(__file__).parents[1] / "data" / "forum" / "results.json").read_text())


def test_takeaway_leads_with_the_answers_and_never_calls_the_positive_control_best():
    from phazelab.experiments.report import POSITIVE_CONTROL, takeaway

    results = _recorded()
    lines = takeaway(results)
    assert lines[0].startswith("Q1") and any(line.startswith("Q3 (split_decoders): **inconclusive") for line in lines)
    assert not any(f"best {POSITIVE_CONTROL}" in line for line in lines)
    assert any(f"the positive control {POSITIVE_CONTROL}" in line for line in lines)
    # every transfer arm at 0: said so, not "best scratch 0.00"
    for r in results["runs"]:
        if r["strategy"] != "all":
            for e in r["evals"]:
                e["recon_success_a"] = e["success_ab"] = 0.0
    zero = takeaway(results)
    assert any("every arm but the positive control is at 0.00" in line and "not trained enough" in line
               for line in zero)
    assert not any("— best" in line for line in zero)
    for r in results["runs"]:  # the control at 0 too: said so, not "every arm but the control"
        for e in r["evals"]:
            e["recon_success_a"] = e["success_ab"] = 0.0
    assert any("every arm, the positive control included, is at 0.00" in line for line in takeaway(results))
    why = [line for line in takeaway(results) if "why the positive control's A→B success" in line]
    s1 = results["stage1"]["split_decoders"]["gate"]["success"]
    assert why and f"its own pair's a1 at {s1:.2f}" in why[0] and "went 0.00 (step 0) → 0.00" in why[0]
    arms = {(r["topology"], r["strategy"], r["mode"]) for r in results["runs"] if r["topology"] == "split_decoders"}
    counted = [line for line in takeaway(results) if "positive control included" in line and "split_decoders" in line]
    assert counted and all(f"({len(arms)} arms;" in line for line in counted)  # the control counted too


def test_figures_bands_stay_in_range_and_two_replicates_draw_lines():
    from phazelab.experiments.report import figures

    results = _recorded()
    for fig in figures(results, "split_decoders").values():
        bands = [t for t in fig.data if t.fill == "toself"]
        assert bands and all(-1.0 <= v <= 1.0 for t in bands for v in t.y)
        assert "95 % t band" in fig.layout.title.text
    two = {**results, "runs": [r for r in results["runs"] if r["towards"] in (2, 3)]}
    for fig in figures(two, "split_decoders").values():
        assert not [t for t in fig.data if t.fill == "toself"]  # no 12.7-sd band for n = 2
        assert len([t for t in fig.data if t.showlegend is False]) == 4  # 2 arms × 2 replicates
        assert "each replicate" in fig.layout.title.text


def test_a_failed_gate_says_what_was_required_and_what_missed_it():
    from phazelab.experiments import answer_all
    from phazelab.experiments.report import answers_markdown

    results = _recorded()
    for r in results["runs"]:
        if r["mode"] == "frozen":
            for e in r["evals"]:
                e["recon_face_a"] = 0.04
    results["answers"] = answer_all(results)
    line = next(x for x in answers_markdown(results).splitlines() if "Gate not passed" in x)
    assert "required: stage 1 passed its gate" in line
    assert "not met by: encoder@frozen's side A (ends at 0.04, 0.04, 0.04)" in line


def test_mean_pm_sd_never_reads_minus_zero():
    from phazelab.experiments.report import _pm

    assert _pm([-0.001]) == "0.00" and _pm([-0.004, 0.001]).startswith("0.00 ± ") and _pm([None]) == "–"


def test_forum_cli_ends_a_counter_line_before_the_next_message(monkeypatch, tmp_path):
    import io
    import sys

    import phazelab.experiments.forum as forum
    from phazelab.experiments.forum import TICK

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    def fake_study(study, out, device=None, progress=None, write=True, max_seconds=None):
        progress(f"{TICK}stage 2 · a long counter line: step 10 / 200 · about 90 s left")
        progress(f"{TICK}step 11")
        progress("done in 3 s")
        raise StudyError("stopped by the test")

    monkeypatch.setattr(forum, "run_study", fake_study)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert forum_main(parse("--quick", "--out", str(tmp_path))) == 2
    text = terminal.getvalue()
    # the counter is rewritten in place and cleared past its end; the next message starts on a new line
    assert "\r[" in text and "step 11\x1b[K\n[" in text and text.rstrip().endswith("done in 3 s")


def test_a_stop_request_ends_the_study_between_runs_and_says_so(tmp_path):
    messages: list[str] = []
    study = Study(StudyConfig(**TINY), tmp_path, device="cpu", progress=messages.append)
    study.stop.set()  # pressed before the first arm finished
    results = study.run()
    assert not results["complete"] and results["runs"] == [] and results["answers"] == {}
    assert any(m.startswith("stopped on request after 0 of 6 runs") for m in messages)


def test_a_stage2_runs_time_left_leaves_the_cold_first_steps_out_of_its_rate():
    from phazelab.experiments.forum import _time_left

    # no number before the first steps have run, nor until a few steps past them have a rate
    assert _time_left(3, 200, None, 17.0) == "timing the first steps…"
    assert _time_left(8, 200, (5, 16.0), 17.0) == "timing the first steps…"
    # 5 s of training at step 5 (a cold start), 0.25 s per step after it: 100 steps left → 25 s
    assert _time_left(100, 200, (5, 5.0), 5.0 + 95 * 0.25) == "about 25 s of training left"
    assert _time_left(200, 200, (5, 5.0), 52.5) == "about 0 s of training left"


def test_the_studys_end_line_says_what_it_trained_and_what_it_reused():
    from phazelab.experiments.forum import _end_line

    fresh = _end_line(True, 6, ["a"] * 4, ["b"] * 2, 354.2, Path("runs/nb03"))
    assert fresh == ("the study is complete: 6 stage-2 runs and the nulls in 354 s (4 trained now, 2 reused "
                     "from runs/nb03)")
    rerun = _end_line(True, 6, [], ["b"] * 6, 0.31, Path("runs/nb03"))
    assert rerun.startswith("the study is complete: nothing to train, all 6 stage-2 runs reused from runs/nb03")
    assert "in 0.3 s" in rerun and "in 0 s" not in rerun
    read = _end_line(True, 6, [], ["b"] * 6, 0.04, Path("runs/nb03"), nulls_reused=True)
    assert read.endswith("(the nulls reused too; the answers in 0.0 s)")
    assert _end_line(False, 2, ["a"], [], 12.0, Path("o")).startswith("the study has stopped: 2 stage-2 runs in 12 s")


def test_a_leakage_share_below_its_placebo_reads_as_below():
    from phazelab.experiments.forum import _beyond

    assert _beyond(0.12) == "+0.12 above" and _beyond(-0.15) == "0.15 below" and _beyond(0.0) == "no more than"


def test_answers_name_the_quick_sizes_as_the_clis_not_as_a_mode():
    from phazelab.experiments.report import answers_markdown

    results = _recorded()
    results["study"] = {**results["study"], "quick": True}
    head = answers_markdown(results).splitlines()[0]
    # the notebooks' full mode on a CPU runs these sizes: a bare "--quick:" read as the notebook's mode
    assert head.startswith("*What this run can answer* (the sizes of `phazelab experiment forum --quick`: ")
