"""Settings and small conveniences the notebooks share, so every notebook cell stays a short call.

`PHAZELAB_QUICK=1` shrinks sizes and steps so each notebook runs top to bottom in about a minute on a
CPU (CI runs them that way); the default gives meaningful results (minutes on CPU, seconds on GPU).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch

from .config import PhazeAConfig
from .model import PhazeA


def quick() -> bool:
    """True when PHAZELAB_QUICK asks for the tiny, fast run."""
    return os.environ.get("PHAZELAB_QUICK", "").strip().lower() not in ("", "0", "false", "no")


@dataclass(frozen=True)
class LabSettings:
    """Sizes and budgets for the notebooks in the current mode."""

    mode: str
    preset: str
    device: str
    batch: int
    steps: int            # training steps for one pair (notebook 02)
    stage1_steps: int     # the a1+b1 model every transfer run starts from (03, 05)
    stage2_steps: int     # each transfer run (03)
    kickstart_steps: int  # frozen-then-unfrozen point (03)
    n_per_identity: int   # frames per identity for latents and probes (04)
    preview_every: int
    latent_pool: str = "auto"  # how big feature maps become probe inputs (phazelab.analysis.latents)


def settings() -> LabSettings:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if quick():
        return LabSettings("quick", "lab-tiny", device, batch=4, steps=20, stage1_steps=20, stage2_steps=12,
                           kickstart_steps=4, n_per_identity=12, preview_every=5, latent_pool="gap")
    if device == "cuda":
        return LabSettings("full", "lab-small", device, batch=16, steps=3000, stage1_steps=3000,
                           stage2_steps=1500, kickstart_steps=300, n_per_identity=80, preview_every=100)
    return LabSettings("full", "lab-tiny", device, batch=8, steps=600, stage1_steps=600, stage2_steps=300,
                       kickstart_steps=60, n_per_identity=60, preview_every=25)


def build(preset_or_config: str | PhazeAConfig, seed: int = 0, **changes: Any) -> PhazeA:
    """A fresh PhazeA from a preset name or config (plus option changes), seeded for repeatability."""
    cfg = PhazeAConfig.preset(preset_or_config) if isinstance(preset_or_config, str) else preset_or_config
    if changes:
        cfg = cfg.replace(**changes)
    return PhazeA(cfg, seed=seed)


def train_pair(model: PhazeA, world: Any, identity_a: int, identity_b: int, steps: int, *, batch: int = 8,
               seed: int = 0, device: str | None = None, **trainer_options: Any) -> Any:
    """Train `model` on two synthetic identities (side A, side B) and return the Trainer (with history)."""
    from .train import Trainer

    trainer = Trainer(model, world.source(identity_a), world.source(identity_b), batch_size=batch, seed=seed,
                      device=device, **trainer_options)
    trainer.run(steps)
    return trainer


def autorun(panel: Any) -> bool:
    """Headless notebook runs (PHAZELAB_AUTORUN=1) press the panel's Train button and wait for the run.

    In JupyterLab nothing happens: the learner presses the button.
    """
    if os.environ.get("PHAZELAB_AUTORUN", "").strip() in ("", "0"):
        return False
    panel.start()
    panel.wait()
    error = getattr(getattr(panel, "error", None), "value", "")
    if error:  # a headless run must fail loudly, not leave the message in a widget nobody sees
        raise RuntimeError(f"{type(panel).__name__} reported an error: {error}")
    return True


def study_config(runs: Any = None, topologies: Any = ("default",), seeds: int = 1) -> Any:
    """A forum-study config (phazelab.experiments) sized for this mode: the notebooks' transfer runs.

    Quick mode: a few steps (CI). Full mode on a CPU: the `phazelab experiment forum --quick` sizes (the
    10-minute study); on a GPU: lab-small at batch 16 with a stage 2 half as long as stage 1.
    """
    from .experiments import StudyConfig
    from .experiments.forum import QUICK_RUNS

    s, tiny = settings(), quick()
    chosen = dict(topologies=tuple(topologies), runs=tuple(tuple(r) for r in (runs or QUICK_RUNS)), seeds=seeds)
    if s.mode == "full" and s.device == "cpu":
        return StudyConfig.quick_settings(**chosen)
    return StudyConfig(
        **chosen, stage1_steps=s.stage1_steps, stage2_steps=s.stage2_steps, batch=s.batch, preset=s.preset,
        lr=2e-4, kickstart=s.kickstart_steps, smooth=max(2, min(15, s.stage2_steps // 4)),
        eval_every=max(1, s.stage2_steps // 4), eval_n=8 if tiny else 48, cka_n=8 if tiny else 32,
        bank_size=32 if tiny else 256, grid_n=4, quick=tiny)
