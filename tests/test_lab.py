"""phazelab.lab: the notebooks' mode switch and helpers."""

import re
import time

import ipywidgets as W
import pytest

from phazelab import lab


def test_quick_mode_follows_the_environment(monkeypatch):
    monkeypatch.delenv("PHAZELAB_QUICK", raising=False)
    full = lab.settings()
    monkeypatch.setenv("PHAZELAB_QUICK", "1")
    quick = lab.settings()
    assert quick.mode == "quick" and full.mode == "full"
    assert quick.steps < full.steps and quick.batch <= full.batch
    monkeypatch.setenv("PHAZELAB_QUICK", "0")
    assert not lab.quick()


def test_build_is_repeatable_and_applies_changes():
    a, b = lab.build("lab-tiny", seed=3), lab.build("lab-tiny", seed=3)
    assert all((p == q).all() for p, q in zip(a.parameters(), b.parameters()))
    assert "decoder_a" in lab.build("lab-tiny", split_decoders=True).blocks


class _Panel:
    def __init__(self, message=""):
        self.error, self.started, self.message = W.HTML(), False, message

    def start(self):
        self.started = True

    def wait(self):
        self.error.value = self.message


def test_autorun_only_when_asked_and_fails_loudly(monkeypatch):
    monkeypatch.delenv("PHAZELAB_AUTORUN", raising=False)
    panel = _Panel()
    assert lab.autorun(panel) is False and not panel.started
    monkeypatch.setenv("PHAZELAB_AUTORUN", "1")
    assert lab.autorun(panel) is True and panel.started
    with pytest.raises(RuntimeError, match="boom"):
        lab.autorun(_Panel("boom"))


def test_study_config_is_sized_by_mode(monkeypatch):
    monkeypatch.setenv("PHAZELAB_QUICK", "1")
    study = lab.study_config(runs=[("scratch", "trainable"), ("encoder", "kickstart")])
    assert study.stage2_steps == 4 and study.a2_towards == (2,) and study.stage1_from == str(lab.MODELS_DIR)
    assert study.runs == (("scratch", "trainable"), ("encoder", "kickstart"))
    study.validate()


def test_full_cpu_study_config_is_the_cli_quick_study(monkeypatch):
    """Notebooks 03/05 on a CPU run the study `phazelab experiment forum --quick` runs (the 10-minute one)."""
    from phazelab.experiments import StudyConfig

    monkeypatch.delenv("PHAZELAB_QUICK", raising=False)
    monkeypatch.setattr(lab.torch.cuda, "is_available", lambda: False)
    study = lab.study_config(runs=[("scratch", "trainable")], topologies=["split_decoders"])
    expected = StudyConfig.quick_settings(runs=(("scratch", "trainable"),), topologies=("split_decoders",),
                                          stage1_from=str(lab.MODELS_DIR))
    assert study == expected
    assert lab.study_config(replicates=1).a2_towards == (2,)
    monkeypatch.setattr(lab.torch.cuda, "is_available", lambda: True)
    gpu = lab.study_config()
    assert gpu.stage2_steps > study.stage2_steps and len(gpu.a2_towards) == 3 and not gpu.quick


def test_forum_results_names_the_command_when_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(lab, "FORUM_RESULTS", tmp_path / "results.json")
    with pytest.raises(FileNotFoundError, match="phazelab experiment forum"):
        lab.forum_results()


def test_work_copies_keep_outputs_out_of_the_repository(tmp_path):
    from phazelab import lab

    work = lab.work_copies(tmp_path / "w")
    names = sorted(p.name for p in work.glob("*.ipynb"))
    assert names == sorted(p.name for p in (lab.MODELS_DIR.parents[1] / "notebooks").glob("*.ipynb"))
    import json

    from ipykernel.ipkernel import IPythonKernel

    copy, tracked = (json.loads(p.read_text()) for p in (work / names[0], lab.MODELS_DIR.parents[1] / "notebooks"
                                                          / names[0]))
    # what the kernel reports on connecting is already there (JupyterLab would write it: "unsaved" on open)
    assert copy["metadata"]["language_info"] == IPythonKernel.language_info
    assert copy["cells"] == tracked["cells"] and copy["metadata"]["kernelspec"] == tracked["metadata"]["kernelspec"]
    mine = work / names[0]
    mine.write_text("{}")  # the learner's own edits
    lab.work_copies(work)
    assert mine.read_text() == "{}"  # never overwritten


def test_stage1_world_is_the_shipped_models_own_world_and_pair(tmp_path, monkeypatch):
    import json

    from phazelab import lab

    for hard in (True, False):
        folder = tmp_path / "split_decoders"
        folder.mkdir(exist_ok=True)
        from dataclasses import asdict

        from phazelab.experiments.swap import SwapRecipe

        recipe = {**asdict(SwapRecipe(world_seed=3, world_hard=hard, identity_a=2, identity_b=5)), "not_a_field": 1}
        (folder / "meta.json").write_text(json.dumps({"recipe": recipe}))
        (folder / "config.json").write_text("{}")
        (folder / "model.safetensors").write_bytes(b"")
        monkeypatch.setattr(lab, "MODELS_DIR", tmp_path)
        world, a, b = lab.stage1_world("split_decoders")
        assert (world.seed, world.hard, a, b) == (3, hard, 2, 5)
    del recipe["world_hard"]  # a meta from before the field existed is refused, not given today's default
    (folder / "meta.json").write_text(json.dumps({"recipe": recipe}))
    with pytest.raises(ValueError, match="lacks \\['world_hard'\\]"):
        lab.stage1_world("split_decoders")


def test_settings_show_only_what_the_notebooks_use():
    """The transfer studies (03, 05) take their sizes from study_config, so the settings the notebooks
    print carry none (a learner saw stage2_steps=300 beside a study that ran 200); one row per setting."""
    from dataclasses import fields

    s = lab.settings()
    names = {f.name for f in fields(s)}
    assert not names & {"stage1_steps", "stage2_steps", "kickstart_steps"}
    page = s._repr_html_()
    assert page.count("<tr>") == len(names) and all(f">{n}<" in page for n in names)


def test_topology_takeaway_is_computed_from_the_models():
    lines = lab.topology_takeaway()
    assert lines[0].startswith("default (faceswap's default widths): side A's faces go through encoder → fc_a → "
                               "fc_gblock → g_block_both → decoder_both; only fc_a is side A's own (13.6% of "
                               "123,766,211 parameters)")
    assert "only decoder_a is side A's own" in lines[1] and "fc_b " not in lines[1] and "fc_a" not in lines[1]


def test_identity_takeaway_reads_each_number_beside_its_null():
    import pandas as pd

    def blocks(acc: float, std: float) -> pd.DataFrame:
        rows = [{"block": "encoder", "kind": "model", "probe_acc": acc, "probe_std": std, "probe_chance": 0.125},
                {"block": "fc_a", "kind": "model", "probe_acc": 0.3, "probe_std": 0.01, "probe_chance": 0.125},
                {"block": "pixels (raw)", "kind": "baseline", "probe_acc": 0.58, "probe_std": 0.02,
                 "probe_chance": 0.125}]
        rows += [{"block": "encoder", "kind": f"untrained (seed {s})", "probe_acc": a, "probe_std": 0.04,
                  "probe_chance": 0.125} for s, a in ((1000, 0.2), (1001, 0.3))]
        return pd.DataFrame(rows)

    judged = pd.DataFrame({"success": [0.91, 0.01], "verdict": ["a swap", "fails"]},
                          index=["model: split_decoders", "baseline: mean_face_b"])
    leaks = {"split_decoders": pd.DataFrame({"kind": ["model", "untrained", "model", "untrained"],
                                             "beyond_noise": [True, False, False, False],
                                             "placebos": [5, 5, 5, 5]})}
    lines = lab.identity_takeaway({"strong": blocks(0.9, 0.03), "weak": blocks(0.6, 0.03)}, judged, leaks)
    assert "strong: identity is most linearly readable at encoder (probe 0.90 ± 0.03" in lines[0]
    assert "raw pixels 0.58 and the untrained model's encoder 0.25" in lines[0] and "above both nulls" in lines[0]
    assert "not above both nulls by 2 sd" in lines[1]  # 0.60 − 2 × 0.03 < 0.58
    assert "A→B success 0.91 against B's mean face 0.01 — a swap" in lines[2]
    assert "for 1 of 2 faces (the untrained model: 0 of 2)" in lines[3]
    assert "with 5 placebos the rank test's p is never below 0.17" in lines[3]  # the test's own limit
    # with enough placebos to reach p < 0.05 there is no such limit to state (the reading's own rule)
    many = {"split_decoders": leaks["split_decoders"].assign(placebos=40)}
    assert "never below" not in lab.identity_takeaway({"weak": blocks(0.6, 0.03)}, judged, many)[-2]


def test_swap_takeaway_judges_the_models_itself_with_intervals_and_baselines():
    shipped = lab.stage1_model("split_decoders")
    text = lab.swap_takeaway(shipped, n=16)
    assert text.startswith("The shipped model: A→B success") and "95 % CI" in text and "on 16 held-out" in text
    assert "B's mean face" in text and "a copy of A" in text and "the truth 1.00" in text
    assert lab.swap_takeaway(shipped, n=16) == text  # the same frames every time: no viewer state in it
    # the other figures of the same model in notebook 02 (meta.json's, the viewer's) are explained
    meta = lab.stage1_meta("split_decoders")
    assert f"{meta['confirm']['success']:.2f} on fresh frames after training (256 frames" in text
    assert "at its last evaluation in training (64 frames" in text and "only 6 frames" in text


def test_swap_judge_table_judges_each_model_on_the_same_frames_with_a_bar(capsys):
    shipped = lab.stage1_model("split_decoders")
    world, a, b = lab.stage1_world("split_decoders")
    table = lab.swap_judge_table({"one": shipped, "same": shipped}, world, a, b, n=8, progress="swap judge")
    assert list(table.index[:2]) == ["model: one", "model: same"]
    assert any(i.startswith("baseline: mean_face_b") for i in table.index)
    assert table.loc["model: one"].to_dict() == table.loc["model: same"].to_dict()  # one set of frames
    err = capsys.readouterr().err
    assert "swap judge" in err and "3/3" in err  # a part per model and one for the baselines


def test_swap_judge_table_closes_its_bar_and_heartbeat_when_a_judge_raises(monkeypatch):
    import threading

    import tqdm.auto

    closed = []

    class Recorded(tqdm.auto.tqdm):
        def close(self):
            closed.append(self.desc)
            super().close()

    monkeypatch.setattr(tqdm.auto, "tqdm", Recorded)
    shipped = lab.stage1_model("split_decoders")
    world, a, b = lab.stage1_world("split_decoders")

    def broken(*args, **kwargs):
        raise RuntimeError("a broken swap")

    monkeypatch.setattr(shipped, "swap", broken)
    try:
        lab.swap_judge_table({"broken": shipped}, world, a, b, n=4, progress="swap judge")
    except RuntimeError as raised:  # asked while the traceback still holds the bar (else __del__ closes it)
        assert "a broken swap" in str(raised)
        assert closed == ["swap judge"]  # closed as the error left, not left open until garbage collection
    else:
        pytest.fail("swap_judge_table swallowed the judge's error")
    assert not any(t.name == "phazelab-heartbeat" and t.is_alive() for t in threading.enumerate())


def test_other_figures_say_when_intervals_do_not_overlap():
    assert "do not all overlap" in lab._other_figures(0.0, 64)  # far below meta.json's 0.94 and 0.91
    assert "overlap: the figures agree" in lab._other_figures(0.92, 64)


def test_the_notebooks_first_import_leaves_scikit_learn_for_later():
    # the first cell of every notebook imports phazelab.lab: scikit-learn (seconds on a CPU) is imported
    # only by the analyses that use it, so that cell's wait is torch's alone
    import subprocess
    import sys

    code = ("import sys; from phazelab import lab; lab.settings(); "
            "print(sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


def test_estimates_scale_with_steps_and_use_the_measured_speed_of_each_kind_of_run():
    assert lab.estimate_minutes(600, "cpu") == round(600 * lab.SECONDS_PER_STEP["cpu"] / 60, 1)
    assert lab.estimate_minutes(1200, "cpu") == 2 * lab.estimate_minutes(600, "cpu")
    assert lab.estimate_minutes(600, "cpu", study=True) == round(600 * lab.STUDY_SECONDS_PER_STEP["cpu"] / 60, 1)
    assert lab.estimate_minutes(600, "cuda:0") < lab.estimate_minutes(600, "cpu")


def test_ticking_moves_its_seconds_in_a_notebook_and_says_when_it_is_done(monkeypatch):
    import IPython
    import IPython.display

    lines = []

    class Handle:
        def update(self, obj):
            lines.append(obj.data)

    def display(obj, display_id=False):
        lines.append(obj.data)
        return Handle()

    monkeypatch.setattr(IPython, "get_ipython", lambda: object())  # as if in a kernel
    monkeypatch.setattr(IPython.display, "display", display)
    with lab.ticking("rendering"):
        time.sleep(1.6)
    assert lines[0] == "rendering · 0 s" and "rendering · 1 s" in lines  # the clock moved while it ran
    assert re.fullmatch(r"rendering · done in 1\.\d s", lines[-1])
    with pytest.raises(KeyError):
        with lab.ticking("failing"):
            raise KeyError("x")
    assert lines[-1].startswith("failing · stopped by an error after")


def test_ticking_outside_a_notebook_prints_a_start_and_an_end(capsys, monkeypatch):
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: None)  # as in a script, whatever ran before
    with lab.ticking("rendering"):
        pass
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "rendering…" and re.fullmatch(r"rendering · done in 0\.\d s", out[1])


def test_load_plotly_renderer_imports_plotlys_notebook_renderer_once_with_a_line(capsys, monkeypatch):
    import sys

    monkeypatch.delitem(sys.modules, "plotly.io._renderers", raising=False)
    lab.load_plotly_renderer()
    assert "plotly.io._renderers" in sys.modules and "nbformat" in sys.modules
    assert "loading plotly's notebook renderer" in capsys.readouterr().out
    lab.load_plotly_renderer()  # imported already: no "done in 0.0 s" line
    assert capsys.readouterr().out == ""
