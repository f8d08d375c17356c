"""The forum study: reuse Face B with a new Face A — which blocks to load, and frozen or not?

A faceswap user asked whether, for a new Face A with the same Face B, one should load the encoder and
fc_b but not fc_a, whether to leave the shared G-Block unloaded, and why a frozen encoder from an a1+b1
model does not leak a1 into an a2+b1 model. The study answers on the synthetic face world, where every
swap has an exact ground truth, with the swap judge and placebo-controlled leakage:

* **stage 1** is an a1+b1 model that passed the swap gate (judge A→B success ≥ `gate` on fresh frames):
  the shipped `data/models/<topology>` (or one trained here with the lab's swap recipe, stopping at the
  gate). A stage 1 that failed its gate is not built on: its topology's runs are skipped and every
  answer that needs it reads "not trained enough";
* **stage 2** trains a2+b1 from stage 1 once per arm (strategy × mode, `phazelab.strategies`) and
  replicate (a2 = a1 moved towards a never-trained identity, × seed), paired: the blocks an arm does not
  load start from the same weights in every arm, the data order and the budget are the same;
* every `eval_every` steps each run is judged on the replicate's fixed frames (`measures.evaluate`):
  swap success both ways, side B's reconstruction, a1 leakage against placebos; at the end, weight
  drift and CKA of every block against stage 1 (null: an untrained model against stage 1);
* `answers.answer_all` turns the runs into the three answers with the rules of `rules.py`.

Runs are written atomically, one JSON file each, with a fingerprint of their settings; the same command
again reuses finished runs, so a study killed or stopped by `max_seconds` resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ..config import PhazeAConfig
from ..data.bank import FaceBank
from ..model import PhazeA
from ..progress import Ticker, heartbeat
from ..strategies import STRATEGIES
from ..weights import atomic_write_bytes, atomic_write_text, freeze, load_blocks, load_config_of, read_meta
from .arms import plan_runs, strategy_blocks, strategy_plan
from .measures import Replicate, blend_leakage, clean_json, evaluate, swap_grid_png
from .study_config import ARMS, METHOD_VERSION, MODES, QUICK_RUNS, TOPOLOGIES, StudyConfig, StudyError

__all__ = ["ARMS", "MODES", "QUICK_RUNS", "STRATEGIES", "TOPOLOGIES", "Study", "StudyConfig", "StudyError",
           "plan_runs", "run_study", "strategy_blocks", "strategy_plan"]

Progress = Callable[[str], None]
# A progress message that starts with TICK is transient (a run's step counter): a display shows it in place
# of the previous transient line, a log may skip it.
TICK = "\r"
TICK_SECONDS = 1.0
# the last replicates built in this process (each holds its judges' renders: ~100 MB at 24 frames)
_REPLICATES: OrderedDict[tuple, Replicate] = OrderedDict()
_MAX_REPLICATES = 3



def _fingerprint(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(clean_json(data), sort_keys=True).encode()).hexdigest()[:16]


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _dumps(obj: Any) -> str:
    return json.dumps(clean_json(obj), allow_nan=False)


class Study:
    """Runs the study into a folder; finished runs (same settings) are read back instead of re-run."""

    def __init__(self, study: StudyConfig, out: str | Path, device: str | torch.device | None = None,
                 progress: Progress | None = None) -> None:
        from ..train import resolve_device

        self.config, self.out = study, Path(out)
        self.device = resolve_device(device)
        self.progress = progress or (lambda _msg: None)
        self.ran: list[str] = []
        self.reused: list[str] = []
        self.nulls_computed: list[str] = []  # topologies whose nulls this process computed (not read)
        self.stop = threading.Event()  # set (e.g. by a Stop button): run() ends after the run in progress
        self._stage1: dict[str, dict[str, Any]] = {}
        self._replicates: dict[tuple[str, int], Replicate] = {}
        self._banks: dict[tuple, FaceBank] = {}
        self._models: dict[str, PhazeA] = {}

    # -- stage 1 ---------------------------------------------------------------------------------------
    def stage1(self, topology: str) -> dict[str, Any]:
        """Stage 1 of `topology`: {"path", "config", "recipe", "world", "a1", "b1", "gate"} where gate =
        {"success", "gate", "passed", "reads"}. Reads `stage1_from/<topology>` or trains it (swap recipe).

        Raises StudyError when the folder holds no model, a model of another topology, or no recipe."""
        if topology in self._stage1:
            return self._stage1[topology]
        from .swap import SwapRecipe, gate_success, recorded_pair, run_swap

        s = self.config
        if s.stage1_from is not None:
            folder = Path(s.stage1_from) / topology
            shipped = Path(__file__).resolve().parents[2] / s.stage1_from / topology  # from another cwd
            if not folder.exists() and not folder.is_absolute() and shipped.exists():
                folder = shipped
            if not (folder / "model.safetensors").is_file() or not (folder / "meta.json").is_file():
                raise StudyError(f"stage1_from: {folder} holds no model (model.safetensors + meta.json); "
                                 f"make it with `phazelab experiment swap --topology {topology} --ship {folder}` "
                                 "or pass stage1_from=None to train stage 1 here")
        else:
            folder = self.out / "stage1" / topology
            recipe = SwapRecipe(preset=s.stage1_preset, topology=topology, steps=s.stage1_steps, target=s.gate)
            made = folder / "model" / "meta.json"
            if made.is_file() and read_meta(folder / "model").get("recipe") != dataclasses.asdict(recipe):
                raise StudyError(f"{folder}: holds a stage 1 of another recipe (stage1_steps, stage1_preset or gate "
                                 "changed); choose another output folder or delete it")
            if not (folder / "model" / "model.safetensors").is_file():
                self.progress(f"stage 1 · {topology}: a1+b1 with the swap recipe until the judge's success "
                              f"reaches {s.gate} (at most {s.stage1_steps} steps)")
                run_swap(recipe, folder, device=str(self.device), progress=False,
                         command=f"phazelab experiment forum (stage 1 of {topology})")
                self.ran.append(f"stage1/{topology}")
            else:
                self.reused.append(f"stage1/{topology}")
            folder = folder / "model"
        meta = read_meta(folder)
        try:
            recipe = SwapRecipe.from_dict(meta.get("recipe", {}), str(folder / "meta.json"))
            world, a1, b1 = recorded_pair(meta, str(folder / "meta.json"))
        except ValueError as exc:
            raise StudyError(str(exc)) from exc
        config = load_config_of(folder)
        have, want = config.to_dict(), PhazeAConfig.preset(recipe.preset).with_topology(topology).to_dict()
        diff = sorted(k for k, v in want.items() if have.get(k) != v)
        if diff:
            what = f"is not a {topology} model" if set(diff) & set(TOPOLOGIES[topology]) else \
                f"has a config that is not its recorded recipe's (preset {recipe.preset}, {topology})"
            raise StudyError(f"stage1_from: {folder} {what}: it differs in {diff}")
        digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()[:16]
        success = gate_success(meta)
        info = {"path": str(folder), "config": config, "recipe": recipe, "world": world, "a1": a1, "b1": b1,
                "step": meta.get("step"), "command": meta.get("command"), "sha256": digest,
                "gate": {"success": success, "gate": s.gate, "passed": bool(success >= s.gate),
                         "reads": "confirm_swap on fresh frames" if "confirm" in meta else "last evaluation"}}
        self._stage1[topology] = info
        return info

    # -- replicates ------------------------------------------------------------------------------------
    def replicate(self, topology: str, towards: int) -> Replicate:
        """The replicate a2 → `towards` of `topology`'s stage 1: its identities, frames and judges (built
        once per process for the same stage 1 and settings: a notebook's next Study reuses it)."""
        key = (topology, towards)
        if key not in self._replicates:
            st, s = self.stage1(topology), self.config
            cfg = st["config"]
            from ..model.summary import meta_model

            m = meta_model(cfg)
            if towards >= st["world"].n_identities:
                raise StudyError(f"a2_towards {towards}: the stage-1 world has ids 0..{st['world'].n_identities - 1}")
            shared = (st["sha256"], _fingerprint({"world": st["world"].latent.numpy().tobytes().hex()}),
                      st["a1"], st["b1"], towards, s.a2_distance, s.n_placebos, s.eval_n, m.input_size,
                      m.output_size)
            if shared in _REPLICATES:
                _REPLICATES.move_to_end(shared)
                self._replicates[key] = _REPLICATES[shared]
                return self._replicates[key]
            name, started = f"replicate {topology} · a2 towards identity {towards}", time.perf_counter()
            self.progress(f"{name}: rendering its frames and judges ({s.eval_n} frames of a2 and of b1)")

            ticker = Ticker(self.progress, TICK)  # each part's line, its seconds moving (parts take 1–30 s)
            try:
                with heartbeat(ticker):
                    self._replicates[key] = Replicate.build(
                        st["world"], st["a1"], st["b1"], towards, s.a2_distance, s.n_placebos, s.eval_n,
                        m.input_size, m.output_size,
                        progress=lambda done, total, what: ticker.say(f"{name}: part {done} / {total}, {what}"))
            except ValueError as exc:
                raise StudyError(f"replicate a2 towards {towards}: {exc}") from exc
            self.progress(f"{TICK}{name}: frames and judges ready in {time.perf_counter() - started:.0f} s")
            _REPLICATES[shared] = self._replicates[key]
            while len(_REPLICATES) > _MAX_REPLICATES:
                _REPLICATES.popitem(last=False)
        return self._replicates[key]

    def arm_trainer(self, model: PhazeA, topology: str, towards: int | None = None, seed: int = 0,
                    **options: Any) -> Any:
        """A stage-2 Trainer for `model` as the study trains its arms: a2's and b1's face banks of the
        replicate (a2 towards `towards`, default the first), the study's batch and lr (or stage 1's
        recipe), its warm-up, constant schedule, precision and seed. `options` go to Trainer (e.g.
        preview_every for a TrainPanel, unfreeze_at); so a learner's own arm (notebook 03) trains as the
        study's arms do. Returns a phazelab.train.Trainer."""
        from ..train import Trainer

        s = self.config
        st = self.stage1(topology)
        rep = self.replicate(topology, s.a2_towards[0] if towards is None else towards)
        recipe = st["recipe"]
        size = max(model.input_size, model.output_size)
        bank_a = self._bank(rep, rep.a2, seed, size, recipe.bank_size)
        bank_b = self._bank(rep, rep.b1, recipe.seed, size, recipe.bank_size)  # stage 1's Face B set
        settings = dict(batch_size=s.batch or recipe.batch, lr=s.lr or recipe.lr,
                        lr_warmup=min(recipe.lr_warmup, s.stage2_steps - 1), lr_schedule="constant",
                        seed=20_000 + seed, device=self.device, precision=recipe.precision)
        return Trainer(model, bank_a, bank_b, **{**settings, **options})

    def _bank(self, rep: Replicate, identity: int, seed: int, size: int, bank_size: int) -> FaceBank:
        key = (id(rep), identity, seed, size, bank_size)
        if key not in self._banks:
            self._banks[key] = FaceBank(rep.world, identity, bank_size, seed=seed)
        return self._banks[key]

    # -- stage 2 ---------------------------------------------------------------------------------------
    def run_file(self, topology: str, towards: int, seed: int, strategy: str, mode: str) -> Path:
        return self.out / "runs" / topology / f"a2-{towards}_seed{seed}" / f"{strategy}@{mode}.json"

    def _key(self, topology: str, run: Mapping[str, Any], towards: int, seed: int) -> dict[str, Any]:
        s, st = self.config, self.stage1(topology)
        # stage 1 by its weights' digest (not its path: the notebooks and the CLI share finished runs)
        return {"method": METHOD_VERSION, "gate": s.gate,
                "stage1": {"sha256": st["sha256"], "recipe": dataclasses.asdict(st["recipe"])},
                "strategy": run["strategy"], "mode": run["mode"], "load": run["load"], "freeze": run["freeze"],
                "unfreeze_at": run["unfreeze_at"], "towards": towards, "seed": seed,
                "a2_distance": s.a2_distance, "n_placebos": s.n_placebos, "steps": s.stage2_steps,
                "batch": s.batch, "lr": s.lr, "eval_every": s.eval_every, "eval_n": s.eval_n, "cka_n": s.cka_n}

    def stage2(self, run: Mapping[str, Any], towards: int, seed: int, label: str = "") -> dict[str, Any]:
        """One a2+b1 run of one arm on one replicate (or the finished run read back)."""
        s = self.config
        topology, strategy, mode = run["topology"], run["strategy"], run["mode"]
        key = self._key(topology, run, towards, seed)
        path = self.run_file(topology, towards, seed, strategy, mode)
        name = f"{topology}/a2-{towards}/seed{seed}/{strategy}@{mode}"
        done = _read_json(path)
        if done and done.get("fingerprint") == _fingerprint(key):
            self.reused.append(name)
            return done
        st, rep = self.stage1(topology), self.replicate(topology, towards)
        recipe = st["recipe"]
        until = f" until step {run['unfreeze_at']}" if run["unfreeze_at"] is not None else ""
        self.progress(f"{label}stage 2 · {name}: load {', '.join(run['load']) or '-'}; freeze "
                      f"{', '.join(run['freeze']) or '-'}{until}; {s.stage2_steps} steps")
        self.progress(f"{TICK}{label}stage 2 · {name}: the arm's model and its face banks "
                      f"({recipe.bank_size} frames of a2 and of b1, rendered once per replicate)…")
        model = self.arm_model(run, towards, seed)
        steps = s.stage2_steps
        # the step counter ticks at metrics reads: every step on a CPU (a read costs nothing there, and
        # 10 steps can take longer than TICK_SECONDS), every 10 on a GPU (a read is a sync)
        every = min(1 if self.device.type == "cpu" else 10, s.eval_every)
        trainer = self.arm_trainer(model, topology, towards, seed, metrics_every=every,
                                   unfreeze_at=run["unfreeze_at"])
        evals, train_s, eval_s = [], 0.0, 0.0
        last_tick, chunk_began = [0.0], [0.0]
        warm: list[tuple[int, float]] = []  # (step, training s) once the first steps have run: the rate's start

        def tick(_record: Mapping[str, Any]) -> None:
            now = time.perf_counter()
            if now - last_tick[0] >= TICK_SECONDS:
                last_tick[0] = now
                trained_s = train_s + now - chunk_began[0]
                if not warm and trainer.step >= _WARM_STEPS:
                    warm.append((trainer.step, trained_s))
                left = _time_left(trainer.step, steps, warm[0] if warm else None, trained_s)
                self.progress(f"{TICK}{label}stage 2 · {name}: step {trainer.step} / {steps} · {left} "
                              f"(judged every {s.eval_every} steps)")

        trainer.on_metrics.append(tick)
        ticker = Ticker(self.progress, TICK)  # the evaluations and the run's end: seconds each, clock moving
        while True:
            t = time.perf_counter()
            with heartbeat(ticker):
                ticker.say(f"{label}stage 2 · {name}: step {trainer.step} / {steps} · judging {s.eval_n} frames "
                           "of each side…")
                evals.append(evaluate(trainer.model, rep, trainer.step))
            last_tick[0] = time.perf_counter()
            eval_s += time.perf_counter() - t
            if trainer.step >= steps:
                break
            t = chunk_began[0] = time.perf_counter()
            trainer.run(min(s.eval_every, steps - trainer.step))
            train_s += time.perf_counter() - t
        t = time.perf_counter()
        with heartbeat(ticker):
            ticker.say(f"{label}stage 2 · {name}: step {trainer.step} / {steps} · the run's end: weight drift, "
                       "CKA against stage 1, the swap grid…")
            final = self._final(trainer.model, st, rep, path)
        result = {"run": name, "topology": topology, "strategy": strategy, "mode": mode, "towards": towards,
                  "seed": seed, "load": run["load"], "freeze": run["freeze"], "unfreeze_at": run["unfreeze_at"],
                  "steps": trainer.step, "evals": evals, **final}
        eval_s += time.perf_counter() - t
        result.update({"train_s": train_s, "eval_s": eval_s, "events": trainer.events, "device": str(self.device),
                       "precision": trainer.precision, "fingerprint": _fingerprint(key), "finished": _now()})
        atomic_write_text(path, _dumps(result))
        self.ran.append(name)
        last = evals[-1]
        self.progress(f"{label}done in {train_s:.0f} s + {eval_s:.0f} s measuring: side A shows a2 "
                      f"{last['recon_success_a']:.2f}, A→B success {last['success_ab']:.2f}; a1 named in the B→A "
                      f"swaps {_beyond(last['leak_swap_named'])} a placebo face's share (placebo floor "
                      f"{last['leak_swap_named_floor']:.2f}: what a never-trained face reaches)")
        return result

    def arm_model(self, run: Mapping[str, Any], towards: int, seed: int) -> PhazeA:
        """A fresh model of the run's topology with the arm's blocks loaded from stage 1 and frozen as
        planned. The blocks it does not load start from the same weights in every arm of a replicate
        (the seed depends on the replicate only): the pairing of the study."""
        st = self.stage1(run["topology"])
        model = PhazeA(st["config"], seed=10_000 + 100 * seed + towards)
        if run["load"]:
            report = load_blocks(model, st["path"], run["load"])
            if sorted(report.loaded) != sorted(run["load"]):
                raise StudyError(f"{run['topology']} {run['strategy']}@{run['mode']}: loaded {report.loaded} "
                                 f"but the plan says {run['load']}")
        if run["freeze"]:
            freeze(model, run["freeze"])
        return model

    def stage1_model(self, st: Mapping[str, Any]) -> PhazeA:
        """The stage-1 model of `st` (Study.stage1's info) on the study's device, loaded once."""
        from ..weights import load_model

        if st["path"] not in self._models:
            self._models[st["path"]] = load_model(st["path"], device=self.device)
        return self._models[st["path"]]

    def _final(self, model: PhazeA, st: Mapping[str, Any], rep: Replicate, path: Path) -> dict[str, Any]:
        from ..analysis.similarity import block_cka, weight_drift

        before = self.stage1_model(st)
        out: dict[str, Any] = {"drift": weight_drift(before, model)}
        n = self.config.cka_n
        for side, x in (("a", rep.x_a2[:n]), ("b", rep.x_b1[:n])):
            was = model.training
            try:
                out[f"cka_{side}"] = block_cka(before, model, x, blocks=model.side_blocks(side), side=side)
            finally:
                model.train(was)
        grid = path.with_suffix(".png")
        atomic_write_bytes(grid, swap_grid_png(model, rep, self.config.grid_n))
        out["swap_grid"] = str(grid.relative_to(self.out))
        return out

    # -- nulls and the explanation test ---------------------------------------------------------------
    def nulls(self, topology: str) -> dict[str, Any]:
        """Per topology: CKA of an untrained model against stage 1 (the floor for "the block changed"),
        and per replicate the judge's baselines (B's / a2's mean face, a copy of the source), the leakage
        measure on known a1 blends, and Q3's probe: how well a linear probe on the stage-1 encoder's codes
        tells a1 from a2, beside the same probe on raw pixels and on an untrained encoder."""
        from ..analysis.judge import swap_baselines
        from ..analysis.latents import latents
        from ..analysis.metrics import identity_probe
        from ..analysis.similarity import block_cka

        st, s = self.stage1(topology), self.config
        key = {"method": METHOD_VERSION, "stage1": {"sha256": st["sha256"]},
               "a2_towards": list(s.a2_towards), "a2_distance": s.a2_distance, "n_placebos": s.n_placebos,
               "eval_n": s.eval_n, "cka_n": s.cka_n}
        path = self.out / "nulls" / f"{topology}.json"
        done = _read_json(path)
        if done and done.get("fingerprint") == _fingerprint(key):
            return done
        self.nulls_computed.append(topology)
        self.progress(f"nulls · {topology}: CKA of an untrained model, the judge's baselines, a1-vs-a2 probes, "
                      "the leakage measure on known a1 blends")
        before = self.stage1_model(st)
        untrained = PhazeA(st["config"], seed=10_000).to(self.device)
        out: dict[str, Any] = {"cka_untrained": {}, "replicates": {}, "fingerprint": _fingerprint(key)}
        ticker = Ticker(self.progress, TICK)  # a line per part, its seconds moving: seconds each on a CPU

        def part(what: str) -> None:
            ticker.say(f"nulls · {topology}: {what}…")

        # the replicates first, outside this ticker: each building one has its own ticking line
        reps = [self.replicate(topology, towards) for towards in s.a2_towards]
        with heartbeat(ticker):
            rep0 = reps[0]
            part("CKA of an untrained model")
            for side, x in (("a", rep0.x_a2[:s.cka_n]), ("b", rep0.x_b1[:s.cka_n])):
                out["cka_untrained"][side] = block_cka(before, untrained, x, blocks=before.side_blocks(side), side=side)
            for rep in reps:
                size = before.output_size
                part(f"{rep.name}: the judge's baselines")
                base_ab = swap_baselines(rep.world, rep.labels_a2, rep.a2, rep.b1, size, judge=rep.judges["ab"])
                base_ba = swap_baselines(rep.world, rep.labels_b1, rep.b1, rep.a2, size, judge=rep.judges["ba"])
                part(f"{rep.name}: a1-vs-a2 probes")
                x_a1, _ = rep.world.sample(rep.a1, s.eval_n, seed=5_000_011, size=before.input_size)
                x = torch.cat([x_a1, rep.x_a2])
                y = [0] * len(x_a1) + [1] * len(rep.x_a2)
                cv = min(5, len(x_a1))
                probe = {
                    "stage1_encoder": identity_probe(latents(before, x, ["encoder"], progress=False)["encoder"],
                                                     y, cv=cv),
                    "untrained_encoder": identity_probe(latents(untrained, x, ["encoder"], progress=False)["encoder"],
                                                        y, cv=cv),
                    "pixels": identity_probe(x.flatten(1).numpy(), y, cv=cv),
                }
                part(f"{rep.name}: the leakage measure on known a1 blends")
                out["replicates"][rep.name] = {
                    **rep.describe(),
                    "baselines": {"a_to_b": _baseline_numbers(base_ab), "b_to_a": _baseline_numbers(base_ba)},
                    "probe_a1_vs_a2": probe,
                    "blend_leakage": blend_leakage(rep),
                }
        atomic_write_text(path, _dumps(out))
        return out

    # -- the whole study -------------------------------------------------------------------------------
    def run(self, max_seconds: float | None = None) -> dict[str, Any]:
        """Every stage-1 and stage-2 run (or until `max_seconds` of wall time, or `self.stop` is set: then
        "complete" is False and the same call later resumes); returns the results dict (report.write_outputs)."""
        from .answers import answer_all

        s = self.config
        t0, started = time.perf_counter(), _now()
        stage1 = {t: self.stage1(t) for t in s.topologies}
        plans, todo, skipped = plan_runs(s, {t: stage1[t]["config"] for t in s.topologies})
        gated = [r for r in todo if stage1[r["topology"]]["gate"]["passed"]]
        for t in s.topologies:
            if not stage1[t]["gate"]["passed"]:
                g = stage1[t]["gate"]
                skipped.append({"topology": t, "strategy": "*", "mode": "*",
                                "reason": f"stage 1 failed its gate (success {g['success']:.2f} < {g['gate']}): "
                                          "not trained enough to build on"})
        order = [(run, towards, seed) for topology in s.topologies for towards, seed in s.replicates
                 for run in gated if run["topology"] == topology]
        runs: list[dict[str, Any]] = []
        complete = True
        for k, (run, towards, seed) in enumerate(order, 1):
            if max_seconds is not None and time.perf_counter() - t0 > max_seconds or self.stop.is_set():
                complete = False
                why = "stopped on request" if self.stop.is_set() else f"stopped at its time limit ({max_seconds:g} s)"
                self.progress(f"{why} after {k - 1} of {len(order)} runs: finished runs are saved, and running "
                              "the study again resumes from the next one")
                break
            runs.append(self.stage2(run, towards, seed, label=f"[{k}/{len(order)}] "))
        nulls = {t: self.nulls(t) for t in s.topologies if stage1[t]["gate"]["passed"]} if complete else {}
        results = {
            "study": s.to_dict(), "complete": complete,
            "stage1": {t: {k: v for k, v in st.items() if k in ("path", "gate", "a1", "b1", "step", "command")}
                       | {"recipe": dataclasses.asdict(st["recipe"]), "config": st["config"].to_dict()}
                       for t, st in stage1.items()},
            "plans": plans, "skipped": skipped, "runs": runs, "nulls": nulls,
            "machine": _machine(self.device), "started": started, "finished": _now(),
            "wall_s": time.perf_counter() - t0, "ran": list(self.ran), "reused": list(self.reused),
        }
        results["answers"] = answer_all(results) if complete else {}
        # a last line of its own: a step counter or ticking part line above it is over
        self.progress(_end_line(complete, len(runs), self.ran, self.reused, results["wall_s"], self.out,
                                nulls_reused=not self.nulls_computed))
        return clean_json(results)


def _time_left(done: int, steps: int, warm: tuple[int, float] | None, train_s: float) -> str:
    """A stage-2 run's "about N s of training left": the steps left at the rate of the steps since `warm`
    (the step and training seconds after the first _WARM_STEPS steps). The first steps are a cold start
    (walk-through 10: their rate promised "about 3425 s left" for a 58 s arm), so there is no number until
    _RATE_STEPS steps past them have run. The evaluations (every eval_every steps) show their own line."""
    if warm is None or done - warm[0] < _RATE_STEPS:
        return "timing the first steps…"
    rate = (train_s - warm[1]) / (done - warm[0])
    return f"about {max(0.0, (steps - done) * rate):.0f} s of training left"


_WARM_STEPS, _RATE_STEPS = 5, 5


def _end_line(complete: bool, runs: int, ran: Sequence[str], reused: Sequence[str], seconds: float,
              out: Path, nulls_reused: bool = False) -> str:
    """Study.run's last line: what it trained now, what it reused, and its wall time (a rerun that trains
    nothing says so, rather than a study "in 0 s", and whether its nulls were read or computed)."""
    if complete and not ran:
        nulls = "the nulls reused too; the answers" if nulls_reused else "the nulls and the answers"
        return (f"the study is complete: nothing to train, all {runs} stage-2 runs reused from {out} "
                f"({nulls} in {seconds:.1f} s)")
    return (f"the study {'is complete' if complete else 'has stopped'}: {runs} stage-2 runs "
            f"{'and the nulls ' if complete else ''}in {seconds:.0f} s ({len(ran)} trained now, "
            f"{len(reused)} reused from {out})")


def _beyond(share: float) -> str:
    """A leakage share against its placebo, in words: "+0.12 above", "0.15 below" (a negative share: a1 is
    named less often than a never-trained face, i.e. no sign of a1)."""
    return f"{share:+.2f} above" if share > 0 else f"{-share:.2f} below" if share < 0 else "no more than"


def run_study(study: StudyConfig, out: str | Path, device: str | torch.device | None = None,
              progress: Progress | None = None, write: bool = True, max_seconds: float | None = None,
              stop: threading.Event | None = None) -> dict[str, Any]:
    """Run (or resume) the study in `out`; with write=True write results.json/.csv, report.html. Setting
    `stop` (from another thread) ends it after the run in progress, as `max_seconds` does."""
    runner = Study(study, out, device, progress)
    if stop is not None:
        runner.stop = stop
    results = runner.run(max_seconds=max_seconds)
    if write:
        from .report import write_outputs

        write_outputs(results, out)
    return results


def _baseline_numbers(baselines: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    return {name: {m: float(row[m]) for m in ("success", "id_top1")} for name, row in baselines.items()}


def _machine(device: torch.device) -> dict[str, Any]:
    import platform

    from ..bench import device_name

    return {"device": str(device), "name": device_name(device), "torch": torch.__version__,
            "python": platform.python_version(), "threads": torch.get_num_threads()}
