"""phazelab.lab: the notebooks' mode switch and helpers."""

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
