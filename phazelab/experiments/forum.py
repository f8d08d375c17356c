"""The forum study: reuse Face B with a new Face A — which blocks to load, and frozen or not?

A faceswap user asked whether, for a new Face A with the same Face B, one should load the encoder and
fc_b but not fc_a, whether to leave the shared G-Block unloaded, and why a frozen encoder from an a1+b1
model does not leak a1 into an a2+b1 model. This module answers with measurements on the synthetic face
world, where every swap has an exact ground truth:

* stage 1 trains a1+b1 from scratch and saves it (OUT/stage1/<topology>/seed<s>);
* stage 2 trains a2+b1 (a2 = `FaceWorld.add_sibling(a1, distance)`) once per strategy × mode, with the
  same seed, initial weights of the unloaded blocks, data stream and step budget;
* each run measures steps and wall time to a target loss on both sides, B's loss at step 0 and over
  time, the ground-truth swap SSIM both ways, a1 leakage on side A over training, and CKA and weight
  drift of every block against stage 1.

Which blocks a strategy loads is read from the model (`PhazeA.blocks`, `side_blocks`), never from a list
kept per topology. Each finished run is written atomically to its own JSON file; a re-run with the same
settings skips it. `phazelab.experiments.report` turns the results into results.json / .csv / report.html.

Target loss (per side, per topology and seed): the trailing-mean training loss that the stage-1 model
(a1+b1 from scratch, same size and batch) had reached after `target_fraction` × stage-2 steps, or a
fixed `target_loss`. A run reaches it at the first step whose mean over the last `smooth` steps (a full
window) is at or below it. Scratch in stage 2 (a2 in place of a1) needs about that many steps, so
scratch's "steps to target" over a strategy's is that strategy's speed-up.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.bank import FaceBank
from ..data.world import FaceWorld
from ..model import PhazeA
from ..model.summary import meta_model
from ..strategies import STRATEGIES
from ..weights import atomic_write_bytes, atomic_write_text, freeze, load_blocks, load_model, save
from .arms import plan_runs, strategy_blocks, strategy_plan
from .measures import _eval_point, _swap_grid_png, clean_json, steps_to_target, trailing_mean
from .study_config import METHOD_VERSION, MODES, QUICK_RUNS, TOPOLOGIES, StudyConfig, StudyError, topology_config

__all__ = [
    "MODES", "QUICK_RUNS", "STRATEGIES", "TOPOLOGIES", "StudyConfig", "StudyError", "Study",
    "plan_runs", "run_study", "steps_to_target", "strategy_blocks", "strategy_plan", "topology_config",
]

# --------------------------------------------------------------------------------------------------
# data
@dataclass
class StudyIdentities:
    """The study's identities: a1, b1 and a2 (a1's sibling) in one FaceWorld."""

    world: FaceWorld
    a1: int
    b1: int
    a2: int
    _banks: dict[tuple, FaceBank] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, study: StudyConfig) -> StudyIdentities:
        world = FaceWorld(study.world_seed, n_identities=max(study.a1, study.b1) + 1)
        a2 = world.add_sibling(study.a1, study.sibling_distance, seed=study.sibling_seed)
        if study.sibling_distance > 0:
            latent = world.latent
            if torch.equal(latent[a2], latent[study.a1]):
                raise StudyError(f"a2 came out identical to a1 (world seed {study.world_seed}, sibling_seed "
                                 f"{study.sibling_seed}): choose another sibling_seed")
        return cls(world, study.a1, study.b1, a2)

    def source(self, identity: int, study: StudyConfig, size: int, seed: int) -> Any:
        """Side data: a fresh render per batch (bank_size 0) or a FaceBank (cached: rendered once)."""
        if study.bank_size == 0:
            return self.world.stream(identity)
        key = (identity, study.bank_size, seed)
        if key not in self._banks:
            self._banks[key] = FaceBank(self.world, identity, study.bank_size, seed=seed)
        return self._banks[key]


# --------------------------------------------------------------------------------------------------
# the study
def _fingerprint(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


Progress = Callable[[str], None]


class Study:
    """Runs the study into a folder; finished runs (same settings) are read back instead of re-run."""

    def __init__(self, study: StudyConfig, out: str | Path, device: str | torch.device | None = None,
                 progress: Progress | None = None) -> None:
        from ..train import resolve_device

        self.config, self.out = study, Path(out)  # the StudyConfig this study runs
        self.device = resolve_device(device)
        self.progress = progress or (lambda _msg: None)
        self.w = StudyIdentities.build(study)
        self.ran: list[str] = []
        self.reused: list[str] = []
        self._held_out: dict[str, torch.Tensor] | None = None

    # -- paths and fingerprints ------------------------------------------------------------------------
    def stage1_dir(self, topology: str, seed: int) -> Path:
        return self.out / "stage1" / topology / f"seed{seed}"

    def run_file(self, topology: str, seed: int, strategy: str, mode: str) -> Path:
        return self.out / "runs" / topology / f"seed{seed}" / f"{strategy}@{mode}.json"

    def _stage1_key(self, topology: str, seed: int) -> dict[str, Any]:
        s = self.config
        return {"config": topology_config(s, topology).to_dict(), "seed": seed, "steps": s.stage1_steps,
                "batch": s.batch, "lr": s.lr, "precision": s.precision, "world_seed": s.world_seed,
                "a1": s.a1, "b1": s.b1, "bank_size": s.bank_size}

    def _stage2_key(self, topology: str, seed: int, run: Mapping[str, Any]) -> dict[str, Any]:
        s = self.config
        return {"method": METHOD_VERSION, "stage1": self._stage1_key(topology, seed),
                "strategy": run["strategy"], "mode": run["mode"],
                "load": run["load"], "freeze": run["freeze"], "unfreeze_at": run["unfreeze_at"],
                "steps": s.stage2_steps, "sibling_distance": s.sibling_distance,
                "sibling_seed": s.sibling_seed,
                "target_fraction": s.target_fraction, "target_loss": s.target_loss, "smooth": s.smooth,
                "eval_every": s.eval_every, "eval_n": s.eval_n, "cka_n": s.cka_n, "grid_n": s.grid_n}

    # -- running ---------------------------------------------------------------------------------------
    def held_out(self) -> dict[str, torch.Tensor]:
        """Held-out frames (never trained on) for SSIM over time: a2 through side A, b1 through side B."""
        from ..analysis.metrics import HELD_OUT_SEED

        if self._held_out is None:
            size = meta_model(topology_config(self.config, self.config.topologies[0])).input_size
            self._held_out = {"a": self.w.world.sample(self.w.a2, self.config.eval_n, HELD_OUT_SEED, size)[0],
                              "b": self.w.world.sample(self.w.b1, self.config.eval_n, HELD_OUT_SEED, size)[0]}
        return self._held_out

    def _trainer(self, model: PhazeA, a: int, seed: int, train_seed: int, unfreeze_at: int | None,
                 on_metrics: Callable[[dict[str, Any]], None]) -> Any:
        """A Trainer on side A = identity `a`, side B = b1. The face sets depend on the study seed only,
        so stage 2 reuses stage 1's Face B set (as the forum user does); `train_seed` draws batches."""
        from ..train import Trainer

        s = self.config
        size = max(model.input_size, model.output_size)
        every = s.metrics_every or (1 if self.device.type == "cpu" else 10)
        data_a = self.w.source(a, s, size, seed * 7919 + a)
        data_b = self.w.source(self.w.b1, s, size, seed * 7919 + self.w.b1)
        return Trainer(model, data_a, data_b, batch_size=s.batch, lr=s.lr, seed=train_seed,
                       device=self.device, precision=s.precision, metrics_every=every,
                       unfreeze_at=unfreeze_at, on_metrics=on_metrics)

    def stage1(self, topology: str, seed: int) -> dict[str, Any]:
        """Train a1+b1 from scratch (or read back the finished stage 1) and save the model."""
        key = self._stage1_key(topology, seed)
        folder = self.stage1_dir(topology, seed)
        info_file = folder.parent / f"seed{seed}.json"
        info = _read_json(info_file)
        if info and info.get("fingerprint") == _fingerprint(key) and (folder / "model.safetensors").is_file():
            self.reused.append(f"stage1/{topology}/seed{seed}")
            return info
        self.progress(f"stage 1 · {topology} · seed {seed}: a1+b1 from scratch, "
                      f"{self.config.stage1_steps} steps")
        torch.manual_seed(seed)
        model = PhazeA(topology_config(self.config, topology))
        trainer = self._trainer(model, self.w.a1, seed, seed, None, lambda _r: None)
        t0 = time.perf_counter()
        trainer.run(self.config.stage1_steps)
        wall = time.perf_counter() - t0
        save(trainer.model, folder, meta={"step": trainer.step, "study": "forum stage 1",
                                         "identities": {"a": self.w.a1, "b": self.w.b1}})
        info = {"topology": topology, "seed": seed, "steps": trainer.step, "wall_s": wall,
                "fingerprint": _fingerprint(key), "path": str(folder.relative_to(self.out)),
                "curves": _curves(trainer.history), "finished": _now()}
        atomic_write_text(info_file, _dumps(info))
        self.ran.append(f"stage1/{topology}/seed{seed}")
        return info

    def targets(self, stage1: Mapping[str, Any]) -> dict[str, float]:
        """Target loss per side from stage 1's curve (or the fixed target_loss)."""
        s = self.config
        if s.target_loss is not None:
            return {"a": float(s.target_loss), "b": float(s.target_loss)}
        at = max(1, round(s.target_fraction * s.stage2_steps))
        curves = stage1["curves"]
        i = min(int(np.searchsorted(curves["step"], at)), len(curves["step"]) - 1)
        return {side: float(trailing_mean(curves[f"loss_{side}"], s.smooth)[i]) for side in "ab"}

    def stage2(self, run: Mapping[str, Any], seed: int, stage1: Mapping[str, Any], label: str = ""
               ) -> dict[str, Any]:
        """One a2+b1 run under one strategy × mode (or the finished run read back)."""
        s = self.config
        topology, strategy, mode = run["topology"], run["strategy"], run["mode"]
        key = self._stage2_key(topology, seed, run)
        path = self.run_file(topology, seed, strategy, mode)
        done = _read_json(path)
        name = f"{topology}/seed{seed}/{strategy}@{mode}"
        if done and done.get("fingerprint") == _fingerprint(key):
            self.reused.append(name)
            return done
        until = f" until step {run['unfreeze_at']}" if run["unfreeze_at"] is not None else ""
        self.progress(f"{label}stage 2 · {topology} · seed {seed} · {strategy} @ {mode}: "
                      f"load {run['load'] or '-'}, freeze {run['freeze'] or '-'}{until}")
        stage1_dir = self.stage1_dir(topology, seed)
        seed2 = seed + 100_003  # stage 2 draws other faces than stage 1 did; same for every strategy
        torch.manual_seed(seed2)  # the blocks that are not loaded start from the same weights in every run
        model = PhazeA(topology_config(s, topology))
        if run["load"]:
            report = load_blocks(model, stage1_dir, run["load"])
            if sorted(report.loaded) != sorted(run["load"]):
                raise StudyError(f"{name}: loaded {report.loaded} but the plan says {run['load']}")
        if run["freeze"]:
            freeze(model, run["freeze"])
        clock = {"offset": 0.0}
        times: dict[int, float] = {}

        def on_metrics(record: dict[str, Any]) -> None:
            times[record["step"]] = time.perf_counter() - clock["offset"]

        trainer = self._trainer(model, self.w.a2, seed, seed2, run["unfreeze_at"], on_metrics)
        held = self.held_out()
        evals = []
        eval_s = 0.0
        clock["offset"] = time.perf_counter()
        while True:
            t = time.perf_counter()
            evals.append(_eval_point(trainer.model, self.w, s, held, trainer.step))
            dt = time.perf_counter() - t
            eval_s += dt
            clock["offset"] += dt
            if trainer.step >= s.stage2_steps:
                break
            trainer.run(min(s.eval_every, s.stage2_steps - trainer.step))
        train_s = time.perf_counter() - clock["offset"]

        t = time.perf_counter()
        result = self._final_measures(trainer, stage1_dir, run, stage1, times, evals, path)
        eval_s += time.perf_counter() - t
        result.update({"run": name, "topology": topology, "seed": seed, "strategy": strategy, "mode": mode,
                       "load": run["load"], "freeze": run["freeze"], "unfreeze_at": run["unfreeze_at"],
                       "absent": run["absent"], "steps": trainer.step, "train_s": train_s, "eval_s": eval_s,
                       "events": trainer.events, "fingerprint": _fingerprint(key), "finished": _now(),
                       "device": str(self.device), "precision": trainer.precision})
        atomic_write_text(path, _dumps(result))
        self.ran.append(name)
        self.progress(f"{label}done: {train_s:.0f} s training + {eval_s:.0f} s measuring; steps to target A "
                      f"{result['steps_to_target_a']}, B {result['steps_to_target_b']}; swap SSIM A→B "
                      f"{result['swap_ssim_ab']:.3f}; a1 leakage {result['leakage_final']:.3f}")
        return result

    def _final_measures(self, trainer: Any, stage1_dir: Path, run: Mapping[str, Any],
                        stage1: Mapping[str, Any], times: Mapping[int, float], evals: list[dict[str, float]],
                        path: Path) -> dict[str, Any]:
        from ..analysis.metrics import HELD_OUT_SEED, block_cka, swap_scores, weight_drift

        s, w, model = self.config, self.w, trainer.model
        curves = _curves(trainer.history)
        target = self.targets(stage1)
        out: dict[str, Any] = {"target_a": target["a"], "target_b": target["b"], "curves": curves,
                               "evals": evals}
        for side in "ab":
            hit = steps_to_target(curves["step"], curves[f"loss_{side}"], target[side], s.smooth)
            out[f"steps_to_target_{side}"] = hit
            out[f"time_to_target_{side}"] = times.get(hit) if hit is not None else None
            out[f"loss_{side}_step0"] = curves[f"loss_{side}"][0]  # loss of step 1's batch, before any update
            out[f"final_loss_{side}"] = float(np.mean(curves[f"loss_{side}"][-s.smooth:]))
        out["recon_ssim_b_step0"] = evals[0]["recon_ssim_b"]
        out["recon_ssim_b_final"] = evals[-1]["recon_ssim_b"]
        out["recon_ssim_a_final"] = evals[-1]["recon_ssim_a"]
        out["leakage_step0"], out["leakage_final"] = evals[0]["leakage"], evals[-1]["leakage"]
        out["closer_to_old_final"] = evals[-1]["closer_to_old"]
        out["leakage_max"] = max(e["leakage"] for e in evals[1:]) if len(evals) > 1 else evals[0]["leakage"]
        ab = swap_scores(model, w.world, w.a2, w.b1, n=s.eval_n, to="b")
        ba = swap_scores(model, w.world, w.b1, w.a2, n=s.eval_n, to="a")
        out.update({"swap_ssim_ab": ab["ssim"], "swap_ssim_ba": ba["ssim"], "swap_attribution_ab":
                    ab["attribution"], "swap_attribution_ba": ba["attribution"]})
        before = load_model(stage1_dir, device=self.device)
        out["drift"] = weight_drift(before, model)
        cka: dict[str, dict[str, float]] = {}
        for side, ident in (("a", w.a2), ("b", w.b1)):
            images = w.world.sample(ident, s.cka_n, seed=HELD_OUT_SEED + 1, size=model.input_size)[0]
            was = model.training
            try:
                cka[side] = block_cka(before, model, images, blocks=model.side_blocks(side), side=side)
            finally:
                model.train(was)
        out["cka_a"], out["cka_b"] = cka["a"], cka["b"]
        grid = path.with_suffix(".png")
        atomic_write_bytes(grid, _swap_grid_png(model, w, s.grid_n, HELD_OUT_SEED + 2))
        out["swap_grid"] = str(grid.relative_to(self.out))
        return out

    def run(self) -> dict[str, Any]:
        """Every stage-1 and stage-2 run of the study; returns the results dict (see report.write_outputs)."""
        s = self.config
        plans, todo, skipped = plan_runs(s)
        t0 = time.perf_counter()
        started = _now()
        probe = [_matmul_gflops(self.device)]
        stage1: dict[str, Any] = {}
        runs: list[dict[str, Any]] = []
        total = len(todo) * s.seeds
        k = 0
        for seed in range(s.seeds):
            for topology in s.topologies:
                info = stage1[f"{topology}/seed{seed}"] = self.stage1(topology, seed)
                for run in (r for r in todo if r["topology"] == topology):
                    k += 1
                    runs.append(self.stage2(run, seed, info, label=f"[{k}/{total}] "))
        return {
            "study": s.to_dict(), "identities": {"a1": self.w.a1, "b1": self.w.b1, "a2": self.w.a2},
            "configs": {t: topology_config(s, t).to_dict() for t in s.topologies},
            "plans": plans, "skipped": skipped, "stage1": stage1, "runs": runs,
            "machine": {**_machine(self.device),
                        "matmul_gflops_start_end": [*probe, _matmul_gflops(self.device)]},
            "started": started, "finished": _now(),
            "wall_s": time.perf_counter() - t0, "ran": list(self.ran), "reused": list(self.reused),
        }


def run_study(study: StudyConfig, out: str | Path, device: str | torch.device | None = None,
              progress: Progress | None = None, write: bool = True) -> dict[str, Any]:
    """Run (or resume) the study in `out` and, with write=True, write results.json/.csv, report.html."""
    results = Study(study, out, device, progress).run()
    if write:
        from .report import write_outputs

        write_outputs(results, out)
    return results


def _curves(history: Sequence[Mapping[str, Any]]) -> dict[str, list]:
    return {"step": [int(r["step"]) for r in history], "loss_a": [float(r["loss_a"]) for r in history],
            "loss_b": [float(r["loss_b"]) for r in history]}


def _machine(device: torch.device) -> dict[str, Any]:
    import platform

    from ..bench import device_name

    return {"device": str(device), "name": device_name(device), "torch": torch.__version__,
            "python": platform.python_version(), "threads": torch.get_num_threads()}


def _matmul_gflops(device: torch.device) -> float:
    """fp32 matmul GFLOP/s right now: how fast this (possibly shared) machine was during the study."""
    from ..bench import matmul_tflops

    return 1000 * matmul_tflops(device, torch.float32, n=1024 if device.type == "cpu" else None, reps=3)


def _dumps(obj: Any) -> str:
    return json.dumps(clean_json(obj), allow_nan=False)
