"""Settings and small conveniences the notebooks share, so every notebook cell stays a short call.

`PHAZELAB_QUICK=1` shrinks sizes and steps so each notebook runs top to bottom in about a minute on a
CPU (CI runs them that way); the default gives meaningful results (minutes on CPU, seconds on GPU).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .config import PhazeAConfig
from .model import PhazeA
from .model.modes import evaluating

MODELS_DIR = Path(__file__).resolve().parents[1] / "data" / "models"  # the shipped stage-1 models


def quick() -> bool:
    """True when PHAZELAB_QUICK asks for the tiny, fast run."""
    return os.environ.get("PHAZELAB_QUICK", "").strip().lower() not in ("", "0", "false", "no")


@dataclass(frozen=True)
class LabSettings:
    """Sizes and budgets for the notebooks in the current mode. The transfer studies of 03 and 05 take
    theirs from `study_config` (printed by those notebooks), not from here."""

    mode: str
    preset: str
    device: str
    topology: str  # phazelab.config.TOPOLOGIES name the notebooks train and load
    batch: int
    steps: int            # training steps for one pair (notebook 02)
    n_per_identity: int   # frames per identity for latents and probes (04)
    preview_every: int
    bank_size: int = 2048  # frames per identity in the training face banks (phazelab.data.FaceBank)
    latent_pool: str = "auto"  # how big feature maps become probe inputs (phazelab.analysis.latents)

    def _repr_html_(self) -> str:
        """In a notebook: one row per setting, so nothing wraps mid-value."""
        import html
        from dataclasses import asdict

        rows = "".join(f"<tr><td style='text-align:left'>{html.escape(k)}</td>"
                       f"<td style='text-align:left'><code>{html.escape(str(v))}</code></td></tr>"
                       for k, v in asdict(self).items())
        caption = f"<caption style='text-align:left'>lab settings ({html.escape(self.mode)} mode)</caption>"
        return f"<table>{caption}{rows}</table>"


def settings() -> LabSettings:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if quick():
        return LabSettings("quick", "lab-slim", device, "split_decoders", batch=4, steps=20, n_per_identity=12,
                           preview_every=5, bank_size=64, latent_pool="gap")
    if device == "cuda":
        return LabSettings("full", "lab-small", device, "split_decoders", batch=16, steps=3000, n_per_identity=80,
                           preview_every=100)
    return LabSettings("full", "lab-slim", device, "split_decoders", batch=8, steps=1000, n_per_identity=60,
                       preview_every=25)


def build(preset_or_config: str | PhazeAConfig, seed: int = 0, topology: str | None = None,
          **changes: Any) -> PhazeA:
    """A fresh PhazeA from a preset name or config (plus a named topology and option changes), seeded
    for repeatability (same seed, same initial weights)."""
    cfg = PhazeAConfig.preset(preset_or_config) if isinstance(preset_or_config, str) else preset_or_config
    if topology is not None:
        cfg = cfg.with_topology(topology)
    if changes:
        cfg = cfg.replace(**changes)
    return PhazeA(cfg, seed=seed)


def recipe_options(steps: int) -> dict[str, Any]:
    """The swap recipe's optimiser settings (phazelab.experiments.swap.SwapRecipe) for a run of `steps`:
    lr 1e-3, 30-step linear warm-up, cosine decay to 0.1 x lr at `steps`."""
    from .experiments.swap import SwapRecipe

    r = SwapRecipe()
    return dict(lr=r.lr, lr_warmup=min(r.lr_warmup, max(0, steps - 1)), lr_schedule=r.lr_schedule,
                lr_schedule_steps=max(steps, r.lr_warmup + 1))


def train_pair(model: PhazeA, world: Any, identity_a: int, identity_b: int, steps: int, *, batch: int = 8,
               seed: int = 0, device: str | None = None, progress: bool = True, bank_size: int | None = None,
               **trainer_options: Any) -> Any:
    """Train `model` on two synthetic identities (side A, side B: face banks) with the swap recipe's
    optimiser settings (override any Trainer option) and return the Trainer (with history). Shows a
    progress bar with an ETA (tqdm; a widget in notebooks)."""
    from .train import Trainer

    options = {**recipe_options(steps), **trainer_options}
    trainer = Trainer(model, world.source(identity_a, n=bank_size), world.source(identity_b, n=bank_size),
                      batch_size=batch, seed=seed, device=device, **options)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc=f"training {identity_a}+{identity_b}", unit="step")
        trainer.on_metrics.append(lambda record: bar.update(record["step"] - bar.n))
    try:
        trainer.run(steps)
    finally:
        if bar is not None:
            bar.close()
    return trainer


def stage1_model(topology: str = "split_decoders", device: str | None = None) -> PhazeA:
    """The shipped stage-1 a1+b1 model of `topology` (data/models/<topology>, made by the command in its
    meta.json), as float32 on `device`. A CPU learner starts here, where the forum user starts.

    Raises:
        FileNotFoundError: naming the folder and the command that makes it.
    """
    from .config import topology_options
    from .weights import load_model

    topology_options(topology)  # ConfigError naming the topologies for an unknown name
    path = MODELS_DIR / topology
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"{path}: no shipped stage-1 model for topology {topology!r}; make one with "
                                f"`phazelab experiment swap --topology {topology} --out runs/stage1-{topology} "
                                f"--ship {path}` (data/models/README.md gives the exact command of each "
                                "shipped model)")
    return load_model(path, device=device or "cpu").float().eval()


FORUM_RESULTS = MODELS_DIR.parent / "forum" / "results.json"  # the lab's recorded forum study


def forum_results() -> dict[str, Any]:
    """The recorded forum study (data/forum/results.json: its "command", "machine", "finished" and
    "answers"). Raises FileNotFoundError naming the command that makes it."""
    import json

    if not FORUM_RESULTS.is_file():
        raise FileNotFoundError(f"{FORUM_RESULTS} is missing: make it with the command in data/forum/README.md "
                                "(`phazelab experiment forum ...`, then copy OUT/results.json there)")
    return json.loads(FORUM_RESULTS.read_text())


def stage1_meta(topology: str = "split_decoders") -> dict[str, Any]:
    """meta.json of a shipped stage-1 model: the command that made it, its steps and the judge's numbers
    (with baselines) at the end of its training."""
    from .weights import read_meta

    return read_meta(MODELS_DIR / topology)


def stage1_world(topology: str = "split_decoders") -> tuple[Any, int, int]:
    """(world, identity_a, identity_b): the FaceWorld and the A/B pair the shipped model of `topology`
    was trained on, from the recipe in its meta.json (phazelab.experiments.swap.SwapRecipe.world), so
    a notebook judges and probes the model in its own world.

    Raises:
        FileNotFoundError: when the model is not shipped (as `stage1_meta`).
        ValueError: when its meta.json lacks a recipe field (an older model).
    """
    from .experiments.swap import recorded_pair

    return recorded_pair(stage1_meta(topology), f"data/models/{topology}/meta.json")


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


def study_config(runs: Any = None, topologies: Any = ("split_decoders",), replicates: int | None = None) -> Any:
    """A forum-study config (phazelab.experiments) sized for this mode, stage 1 from the shipped models.

    Quick mode (CI): one replicate, 4 stage-2 steps, 8 frames — a smoke run, not evidence. Full mode on
    a CPU: the `phazelab experiment forum --quick` sizes (2 replicates, 200 steps: about 10 minutes for
    its 3 arms). On a GPU: the full study's sizes (3 replicates, 1600 steps).
    """
    from .experiments import StudyConfig
    from .experiments.study_config import QUICK_RUNS

    s, tiny = settings(), quick()
    chosen: dict[str, Any] = dict(topologies=tuple(topologies), runs=tuple(tuple(r) for r in (runs or QUICK_RUNS)),
                                  stage1_from=str(MODELS_DIR))
    if tiny:
        chosen.update(a2_towards=(2,), stage2_steps=4, eval_every=2, eval_n=8, cka_n=8, n_placebos=3, grid_n=2)
    elif s.device == "cpu":
        return StudyConfig.quick_settings(**chosen, **({"a2_towards": tuple(range(2, 2 + replicates))}
                                                      if replicates else {}))
    if replicates:
        chosen["a2_towards"] = tuple(range(2, 2 + replicates))
    return StudyConfig(**chosen)


# Seconds per training step of the lab preset at the notebook batch (bench/RESULTS.md): on the 2-core
# CPU lab-slim at batch 8 as measured in JupyterLab by the learner walk-throughs (0.41 s in the fourth,
# 0.45 s in the fifth: 1000 steps in 445.7 s; `phazelab bench` alone measured 0.30: the notebook's
# widgets and the browser take their share); on a GPU an upper bound.
SECONDS_PER_STEP = {"cpu": 0.45, "cuda": 0.03}
# The same for a transfer study's stage 2 (03, 05), its evaluations included: 331 s for 5 arms × 200 steps
# at the CPU study's batch 4 in the third walk-through (bench/RESULTS.md); on a GPU an upper bound.
STUDY_SECONDS_PER_STEP = {"cpu": 0.33, "cuda": 0.03}
from .analysis.gates import GATE_SUCCESS as SUCCESS_GATE  # noqa: E402 - the judge's success a swap must reach


def estimate_minutes(steps: int, device: str | None = None, study: bool = False) -> float:
    """A rough time in minutes for `steps` training steps on this kind of device: of one pair at the
    notebook batch (02), or with `study` of a transfer study's stage 2 with its evaluations (03, 05)."""
    kind = "cuda" if (device or settings().device).startswith("cuda") else "cpu"
    per_step = (STUDY_SECONDS_PER_STEP if study else SECONDS_PER_STEP)[kind]
    return round(steps * per_step / 60, 1)


def _verdict(success: float) -> str:
    from .analysis.gates import NOT_EVIDENCE, quality_gate

    return ("a real swap (success ≥ the 0.8 gate)" if quality_gate(success)["passed"]
            else f"{NOT_EVIDENCE} (the judge's success is below the 0.8 gate: this is not yet a swap)")


def describe_stage1(topology: str = "split_decoders") -> str:
    """What the shipped model's meta.json records, as sentences: the command, its training, and the
    judge's verdict beside the baselines on the same held-out frames."""
    from .experiments.swap import gate_success

    meta = stage1_meta(topology)
    j, base = meta.get("judge", {}), meta.get("baselines", {}).get("a_to_b", {})
    if not j:
        return f"data/models/{topology}: no judge numbers recorded in its meta.json"
    nulls = ", ".join(f"{name} {row['success']:.2f}" for name, row in base.items())
    return (f"data/models/{topology}: {meta.get('step')} steps, {meta.get('train_seconds', 0):.0f} s of training "
            f"on {meta.get('device', '?')}, made by `{meta.get('command', '?')}`.\n"
            f"Judge at the end, {j.get('chance') and round(1 / j['chance'])} candidates: A→B success "
            f"{j['success_ab']:.2f}, identity named {j['id_top1_ab']:.2f}, pose error {j['pose_err_ab']:.1f}°; "
            f"B→A success {j['success_ba']:.2f}; face reconstruction SSIM A {j['recon_ssim_a']:.3f}, "
            f"B {j['recon_ssim_b']:.3f}.\nBaselines (A→B success on the same frames): {nulls}.\n"
            + _confirm_line(meta.get("confirm"))
            + f"Verdict: {_verdict(gate_success(meta))}.")


def _confirm_line(confirm: dict[str, Any] | None) -> str:
    if not confirm:
        return ""
    base = ", ".join(f"{k} {v['success']:.2f}" for k, v in confirm.get("baselines", {}).items())
    return (f"On {confirm['n']} fresh held-out frames (another seed than the evaluations above): A→B success "
            f"{confirm['success']:.2f}, identity named {confirm['id_top1']:.2f}, pose error "
            f"{confirm['pose_err_deg']:.1f}° (baselines there: {base}).\n")


def swap_takeaway(shipped: PhazeA, mine: PhazeA | None = None, trainer: Any = None, n: int = 64) -> str:
    """Sentences on the shipped model's and the learner's own A→B swap, judged here on `n` held-out frames
    of the pair the shipped model was trained on (its meta.json), each with a 95 % Wilson interval and
    beside the judge's baselines on the same frames (B's mean face, a copy of A, the truth). It reads no
    viewer's state, so it says the same whatever the viewers above show; nothing is typed in by hand."""
    world, a, b = stage1_world(settings().topology)
    models = {"The shipped model": shipped, **({"Your model": mine} if mine is not None else {})}
    judged = swap_judge_table(models, world, a, b, n=n)
    base = {k.removeprefix("baseline: "): float(v) for k, v in judged["success"].items() if k.startswith("baseline")}
    nulls = ", ".join(f"{label} {base[k]:.2f}" for k, label in (("mean_face_b", "B's mean face"),
                                                                 ("copy_a", "a copy of A"), ("truth", "the truth"))
                      if k in base)
    lines = []
    for label in models:
        row = judged.loc[f"model: {label}"]
        after = f" after {trainer.step} steps" if label == "Your model" and trainer is not None else ""
        lines.append(f"{label}{after}: A→B success {float(row['success']):.2f} (95 % CI {row['success_ci']}) "
                     f"on {n} held-out frames of identity {a} → {b}, identity named {float(row['id_top1']):.2f}, "
                     f"pose error {float(row['pose_err_deg']):.1f}°; baselines on the same frames: {nulls}. "
                     f"Verdict: {_verdict(float(row['success']))}.")
    lines.append(_other_figures(float(judged.loc["model: The shipped model", "success"]), n))
    if trainer is not None and mine is not None:
        meta = stage1_meta(settings().topology)
        mine_ok = float(judged.loc["model: Your model", "success"]) >= SUCCESS_GATE
        if meta.get("step") and not mine_ok:
            took = (f", {meta['train_seconds'] / 60:.0f} min on {meta.get('device', '?')}"
                    if meta.get("train_seconds") else "")
            lines.append(f"A longer run would change this: the shipped model trained {meta['step']} steps{took}; "
                         f"yours {trainer.step} steps (press Train again above to continue it).")
    return "\n".join(lines)


def _other_figures(success: float, n: int, viewer_n: int = 6) -> str:
    """Why the shipped model's success differs across this notebook: each figure judges another sample of
    frames (meta.json's last evaluation, its fresh confirmation, the viewer's few frames), each with its
    95 % Wilson interval, and whether the intervals overlap."""
    from .analysis.judge import success_interval

    meta = stage1_meta(settings().topology)
    figures = [("here", success, n)]
    if meta.get("judge", {}).get("success_ab") is not None:
        figures.append(("at its last evaluation in training", float(meta["judge"]["success_ab"]),
                        int(meta.get("recipe", {}).get("eval_n", 64))))
    if meta.get("confirm"):
        figures.append(("on fresh frames after training", float(meta["confirm"]["success"]),
                        int(meta["confirm"]["n"])))
    spans = [(what, v, k, *success_interval(v, k)) for what, v, k in figures]
    agree = max(low for *_, low, _ in spans) <= min(high for *_, high in spans)
    listed = "; ".join(f"{v:.2f} {what} ({k} frames, 95 % CI {low:.2f}–{high:.2f})" for what, v, k, low, high in spans)
    low6, high6 = success_interval(1.0, viewer_n)
    return (f"The shipped model's success differs across this notebook because each figure judges other frames: "
            f"{listed}. These intervals {'overlap: the figures agree' if agree else 'do not all overlap'}. The "
            f"viewer judges only {viewer_n} frames, so even {viewer_n} of {viewer_n} leaves a CI of "
            f"{low6:.2f}–{high6:.2f}.")


def swap_judge_table(models: dict[str, PhazeA], world: Any, identity_a: int, identity_b: int, n: int = 32,
                     seed: int | None = None, progress: str | None = None) -> Any:
    """A pandas table: the swap judge's verdict on each model's A→B swap of `n` held-out frames (with the
    success's 95 % Wilson interval), then the judge's baseline rows on the same frames (truth, blurred
    truth, B's mean face, copy of A, ...). `progress`: a progress bar's description (tqdm, a part per
    model and one for the baselines, its time moving every second), None for none."""
    import pandas as pd
    from tqdm.auto import tqdm

    from .analysis import HELD_OUT_SEED
    from .progress import heartbeat

    # closed even when a judge raises; the heartbeat ticks because a judge renders references for seconds
    with tqdm(total=len(models) + 1, desc=progress, unit="part", disable=progress is None) as bar, heartbeat(bar):
        table = _judge_rows(models, world, identity_a, identity_b, n, HELD_OUT_SEED if seed is None else seed, bar)
    return pd.DataFrame(table).T


def _judge_rows(models: dict[str, PhazeA], world: Any, identity_a: int, identity_b: int, n: int, seed: int,
                bar: Any) -> dict[str, Any]:
    """swap_judge_table's rows, a part of `bar` per model and one for the baselines."""
    from .analysis.judge import judge_for, success_interval, swap_baselines

    rows, judge, labels, size = {}, None, None, None
    sampled: dict[int, Any] = {}  # the same frames for every model of one input size: rendered once
    for name, model in models.items():
        bar.set_postfix_str(f"judging {name}", refresh=True)
        if model.input_size not in sampled:
            sampled[model.input_size] = world.sample(identity_a, n, seed, size=model.input_size)
        frames, labels = sampled[model.input_size]
        with evaluating(model):
            with torch.no_grad():
                out = model.swap(frames.to(next(model.parameters()).device), to="b")
        out = out.float().clamp(0, 1).cpu()
        size = out.shape[-1]
        judge = judge_for(world, labels, identity_b, size, pose_of="target")
        v = judge(out)
        low, high = success_interval(float(v["success"]), n)
        rows[f"model: {name}"] = {"success": v["success"], "success_ci": f"{low:.2f}–{high:.2f}",
                                  **{k: v[k] for k in ("id_top1", "pose_err_deg", "masked_ssim")},
                                  "verdict": "a swap" if v["success"] >= SUCCESS_GATE else "not trained enough"}
        bar.update()
    if judge is not None:
        bar.set_postfix_str("the judge's baselines", refresh=True)
        for name, v in swap_baselines(world, labels, identity_a, identity_b, size, judge=judge).items():
            rows[f"baseline: {name}"] = {**{k: v[k] for k in ("success", "id_top1", "pose_err_deg", "masked_ssim")},
                                         "verdict": "passes" if v["success"] >= SUCCESS_GATE else "fails"}
    bar.update()
    return rows


def identity_takeaway(blocks: Mapping[str, Any], judged: Any, leaks: Mapping[str, Any]) -> list[str]:
    """Notebook 04's closing lines, generated from its tables (each number beside its null): per
    topology, the block whose identity probe scores highest against raw pixels and the untrained model's
    same block (± the probe's spread over folds); the swap judge's success against B's mean face; and how
    many a2 faces show a1 leakage beyond the placebo floor, for the model and the untrained null.

    `blocks`: topology → `analysis.block_table(..., baselines=True)`; `judged`: `swap_judge_table`'s
    frame; `leaks`: topology → `experiments.identity.leakage_table`."""
    import numpy as np

    lines = []
    for name, table in blocks.items():
        model = table[table["kind"] == "model"]
        kinds = table["kind"].astype(str)
        untrained = table[kinds.str.startswith("untrained")].groupby("block")["probe_acc"].mean()
        pixels = table.loc[table["block"] == "pixels (raw)", "probe_acc"]
        best = model.loc[model["probe_acc"].idxmax()]
        null_u = float(untrained.get(best["block"], np.nan))
        null_p = float(pixels.iloc[0]) if len(pixels) else np.nan
        beats = best["probe_acc"] - 2 * float(best["probe_std"]) > max(null_u, null_p)
        verdict = ("above both nulls by more than 2 sd." if beats else
                   "not above both nulls by 2 sd: this table does not show that training put identity there.")
        lines.append(f"{name}: identity is most linearly readable at {best['block']} (probe "
                     f"{best['probe_acc']:.2f} ± {best['probe_std']:.2f}, chance {best['probe_chance']:.2f}) "
                     f"against raw pixels {null_p:.2f} and the untrained model's {best['block']} {null_u:.2f} — "
                     + verdict)
    mean_face = (float(judged.loc["baseline: mean_face_b", "success"])
                 if "baseline: mean_face_b" in judged.index else np.nan)
    for label, row in judged.iterrows():
        if str(label).startswith("model: "):
            lines.append(f"{str(label)[7:]}: the swap judge's A→B success {float(row['success']):.2f} against "
                         f"B's mean face {mean_face:.2f} — {row['verdict']}.")
    from .analysis.leakage import min_rank_p
    from .experiments.identity import RANK_ALPHA

    for name, table in leaks.items():
        n_model = int(table.loc[table["kind"] == "model", "beyond_noise"].sum())
        n_null = int(table.loc[table["kind"] == "untrained", "beyond_noise"].sum())
        faces = int((table["kind"] == "model").sum())
        k = int(table["placebos"].max()) if "placebos" in table and len(table) else 0
        rank = (f"; with {k} placebos the rank test's p is never below {min_rank_p(k):.2f}, so a single face "
                "beyond the floor is a hint, not a finding" if k and n_model and min_rank_p(k) >= RANK_ALPHA else "")
        lines.append(f"{name}: a1 pulls side A's reconstructions of a never-trained face beyond the placebo "
                     f"floor for {n_model} of {faces} faces (the untrained model: {n_null} of {faces}){rank}.")
    s = settings()
    lines.append(f"Each ± is the probe's spread over its folds on {s.n_per_identity} frames per identity "
                 f"({s.mode} mode on {s.device}); more frames narrow it, and "
                 "`phazelab experiment identity` adds CKA and other-seed nulls.")
    return lines


WORK_DIR = Path(__file__).resolve().parents[1] / "lab-work"  # the learner's copies (git-ignored)


def work_copies(work: str | Path | None = None) -> Path:
    """Copy notebooks/*.ipynb into the learner's work folder (default lab-work/, ignored by git), where
    `make lab` opens them: outputs and widget state a learner saves stay out of the repository's
    notebooks. A copy that exists is never overwritten (the learner's edits are theirs). Returns the
    folder. Each copy records this interpreter's kernel `language_info` (what ipykernel reports), so
    JupyterLab, which writes the kernel's language_info into a notebook when it connects, finds it there
    already and does not mark the notebook unsaved on opening."""
    import nbformat

    from .fileio import atomic_write_text

    src = Path(__file__).resolve().parents[1] / "notebooks"
    dst = Path(work) if work is not None else WORK_DIR
    dst.mkdir(parents=True, exist_ok=True)
    info = _kernel_language_info()
    for path in sorted(src.glob("*.ipynb")):
        if not (dst / path.name).exists():
            nb = nbformat.read(path, as_version=4)
            nb.metadata["language_info"] = info
            atomic_write_text(dst / path.name, nbformat.writes(nb) + "\n")
    return dst


def _kernel_language_info() -> dict[str, Any]:
    """The language_info the lab's kernel (ipykernel in this interpreter) reports on connecting."""
    try:
        from ipykernel.ipkernel import IPythonKernel
    except ImportError:  # no kernel here: the notebooks' own, which JupyterLab completes
        return {"name": "python"}
    return json.loads(json.dumps(IPythonKernel.language_info))


def topology_takeaway(topologies: Sequence[str] = ("default", "split_decoders"), preset: str | None = None
                      ) -> list[str]:
    """Notebook 01's closing lines, computed from the models the configs build (meta device, no weights):
    per named topology (phazelab.config.TOPOLOGIES) of `preset` (faceswap's defaults when None), side A's
    path and the blocks private to it with their share of the parameters."""
    from .model import block_sides, meta_model, summary_table

    lines = []
    for name in topologies:
        config = (PhazeAConfig.preset(preset) if preset else PhazeAConfig()).with_topology(name)
        model, table = meta_model(config), summary_table(config)
        sides, total = block_sides(model), table["total_params"]
        private = [b for b, side in sides.items() if side == "side A"]
        share = sum(table["blocks"][b]["params"] for b in private) / total
        widths = f"preset {preset}" if preset else "faceswap's default widths"
        lines.append(f"{name} ({widths}): side A's faces go through {' → '.join(model.side_blocks('a'))}; only "
                     f"{', '.join(private) or 'no block'} is side A's own ({share:.1%} of {total:,} parameters), "
                     "so whatever the rest stores about a face, it stores for both sides.")
    lines.append("These are counts of the models the configs build: training and a GPU change the weights, not "
                 "which blocks a side's faces pass through. Notebooks 03–05 measure what the shared blocks keep.")
    return lines


@contextmanager
def ticking(text: str) -> Iterator[None]:
    """One output line "<text> · N s" whose seconds move while the block runs (a `progress.Ticker`
    redrawn by `progress.heartbeat` through an IPython display handle), then "<text> · done in N s".
    For a notebook cell's seconds of work that have no steps to count. Outside IPython the line is
    printed once at the start and once at the end."""
    import time

    from .progress import Ticker, heartbeat

    try:
        from IPython import get_ipython
        from IPython.display import Pretty, display
        shell = get_ipython()
    except ImportError:  # a plain script
        shell = None
    if shell is not None:
        handle = display(Pretty(f"{text} · 0 s"), display_id=True)
        send = lambda line: handle.update(Pretty(line))  # noqa: E731 - the handle's one use
    else:
        send = lambda line: print(line, flush=True)  # noqa: E731
        send(f"{text}…")
    began, ended = time.perf_counter(), "stopped by an error after"
    try:
        if shell is None:
            yield
        else:
            ticker = Ticker(send)
            ticker.say(text)
            with heartbeat(ticker):
                yield
        ended = "done in"
    finally:
        send(f"{text} · {ended} {time.perf_counter() - began:.1f} s")


def load_plotly_renderer() -> None:
    """Import plotly's notebook renderer now (`plotly.io._renderers`, which imports nbformat and with it
    jsonschema: 2–3 s on a 2-core CPU, measured by bench/bench_first_figure.py) under a `ticking` line,
    instead of silently inside a notebook's first figure; nothing (no line) once it is imported."""
    import sys

    if "plotly.io._renderers" in sys.modules:
        return
    with ticking("loading plotly's notebook renderer for the first figure"):
        import plotly.io._renderers  # noqa: F401 - imported for its side effect: the import's seconds


def study_progress() -> Any:
    """A progress callback for `run_study` in a notebook: each message on its own line, and a run's step
    counter (messages starting with experiments.forum.TICK) updated in place on one line below them."""
    from IPython.display import Pretty, display

    from .experiments.forum import TICK

    handle: list[Any] = []

    def say(message: str) -> None:
        if message.startswith(TICK):
            text = message[len(TICK):]
            if handle:
                handle[0].update(Pretty(text))
            else:
                handle.append(display(Pretty(text), display_id=True))
            return
        if handle:
            handle.pop().update(Pretty(""))  # the counter's line ends with its run
        print(message, flush=True)

    return say
