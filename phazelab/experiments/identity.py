"""Where identity lives, measured against nulls: `phazelab experiment identity`.

For each topology's trained A+B model (the shipped stage-1 models of data/models, or any saved model):

1. the quality gate first (the swap judge's A→B success; a model below it is "not trained enough" and
   everything after is printed as not evidence);
2. the per-block table on the hard (geometry-only) identities and on the default world, each model row
   beside its nulls on the same frames: raw pixels, pixels pooled 4×4, mean colour, untrained copies;
3. identity verification on identities never seen in training nor used to fit (pair AUC per block,
   beside the same for pooled pixels and an untrained model);
4. activation patching: per block, the share of A→B swap outputs whose judged identity flips when the
   block's activation is patched in from B frames rendered with the same factors;
5. leakage of the trained side-A face a1 into side-A reconstructions of never-trained faces, against
   placebo identities (`phazelab.analysis.leakage`), beside the same for an untrained model;
6. debiased linear CKA of each block against an untrained model, beside its nulls (two untrained
   models; the same recipe trained from another seed, when given).

Everything that needs a swap (gate, patching, leakage) runs in the world and on the A/B pair the
model was trained on (its meta.json's recipe).
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F

from ..analysis.gates import NOT_EVIDENCE, quality_gate
from ..analysis.judge import judge_for
from ..analysis.latents import latents
from ..analysis.metrics import HELD_OUT_SEED, block_table, linear_cka, verification_auc
from ..analysis.patching import patching_table
from ..data.world import FaceWorld
from ..fileio import atomic_write_text
from ..model import PhazeA
from ..weights import load_model, read_meta
from .measures import clean_json
from .swap import gate_success

__all__ = ["IdentityStudy", "leakage_reading", "leakage_table", "markdown_report", "patch_swap_table", "run_identity",
           "write_outputs"]


@dataclass(frozen=True)
class IdentityStudy:
    """Sizes of the identity experiment (``quick()``: a minute on a CPU; the numbers are then rough)."""

    topologies: tuple[str, ...] = ("default", "split_decoders")
    probe_identities: int = 8  # the world's identities the block table probes (chance 1/8)
    n_per_identity: int = 32
    verify_identities: int = 64  # new identities for verification (never trained on, half never fitted)
    verify_frames: int = 12
    patch_frames: int = 32
    cka_n: int = 512
    untrained_seeds: tuple[int, ...] = (1000, 1001)
    world_seed: int = 0
    world_hard: bool = True  # the lab's models train on the hard world's pair (experiments.swap.RECIPES)
    identity_a: int = 0
    identity_b: int = 1
    leak_identities: int = 3  # a2 faces (world identities never trained on) the leakage is read on
    leak_frames: int = 48

    @classmethod
    def quick(cls, **changes: Any) -> IdentityStudy:
        base = dict(probe_identities=4, n_per_identity=8, verify_identities=8, verify_frames=4,
                    patch_frames=8, cka_n=32, untrained_seeds=(1000,), leak_identities=1, leak_frames=8)
        return cls(**{**base, **changes})


def _models_dir() -> Path:
    from ..lab import MODELS_DIR

    return MODELS_DIR


def _verification(model: PhazeA, study: IdentityStudy, world: FaceWorld, untrained: PhazeA) -> pd.DataFrame:
    """Pair AUC per block on identities added to the world (random identities: never trained on)."""
    vw = FaceWorld(seed=study.world_seed, n_identities=world.n_identities)
    new = [vw.add_sibling(i % world.n_identities, 1.0, seed=1000 + i) for i in range(study.verify_identities)]
    images, labels = vw.sample(new, study.verify_frames, seed=HELD_OUT_SEED + 5, size=model.input_size)
    ids = labels.identity.numpy()
    heldout = new[len(new) // 2:]
    rows = []
    for kind, m in (("model", model), ("untrained", untrained)):
        for block, x in latents(m, images, progress=False, pool="gap").items():
            rows.append({"kind": kind, "block": block, **verification_auc(x, ids, heldout)})
    pooled = F.adaptive_avg_pool2d(images.float(), 4).flatten(1).numpy()
    rows.append({"kind": "baseline", "block": "pixels pooled 4×4", **verification_auc(pooled, ids, heldout)})
    return pd.DataFrame(rows)


# the columns of these tables a reader needs first (phazelab.display.table_view shows the rest on request)
PATCH_MAIN = ("block", "flip", "as_source_before", "as_source_after", "n")
LEAKAGE_MAIN = ("kind", "a1", "a2", "leakage", "leakage_ci", "noise_floor", "reading", "rank_p", "n")


def patch_swap_table(model: PhazeA, world: FaceWorld, identity_a: int = 0, identity_b: int = 1, n: int = 32,
                     progress: str | None = None) -> pd.DataFrame:
    """Patch each block of the A→B path in from B frames rendered with the same factors (held-out
    frames) and judge the outputs: per block, the share whose judged identity flips, and the share
    judged as B before and after. `progress`: a progress bar's description (None: no bar)."""
    factors = world.sample_factors(n, HELD_OUT_SEED + 6)
    x_a = world.render(identity_a, factors, model.input_size)
    x_b = world.render(identity_b, factors, model.input_size)
    judge = judge_for(world, factors, identity_b, model.output_size, pose_of="target")
    return patching_table(model, x_a, x_b, lambda out: judge(out)["frames"]["identity"], to="b",
                          source_identity=identity_b, progress=progress)


def _cka(model: PhazeA, study: IdentityStudy, world: FaceWorld, other_seed: PhazeA | None = None
         ) -> pd.DataFrame:
    """Debiased CKA per block: trained vs untrained, beside the nulls untrained vs untrained and (when a
    model of the same recipe trained from another seed is given) trained vs trained-from-another-seed."""
    images, _ = world.sample(list(range(min(8, world.n_identities))), max(1, study.cka_n // 8),
                             seed=HELD_OUT_SEED + 7, size=model.input_size)
    seeds = list(study.untrained_seeds) + [study.untrained_seeds[0] + 1] * (len(study.untrained_seeds) < 2)
    u1, u2 = (PhazeA(model.config, seed=s) for s in seeds[:2])
    lat, l1, l2 = (latents(m, images, progress=False, pool="gap") for m in (model, u1, u2))
    lo = latents(other_seed, images, progress=False, pool="gap") if other_seed is not None else None
    return pd.DataFrame([{"block": b, "cka_vs_untrained": linear_cka(lat[b], l1[b], debiased=True),
                          "null_untrained_vs_untrained": linear_cka(l1[b], l2[b], debiased=True),
                          "null_trained_other_seed": (linear_cka(lat[b], lo[b], debiased=True)
                                                      if lo is not None else float("nan")),
                          "n": int(len(images))} for b in lat])


def leakage_table(model: PhazeA, world: FaceWorld, identity_a: int, identity_b: int, *, faces: int = 3,
                  frames: int = 48, untrained: PhazeA | None = None, progress: str | None = None) -> pd.DataFrame:
    """Leakage of the side-A face `identity_a` (a1) into side-A reconstructions of `faces` identities of
    `world` the model never saw (a2), against placebos (the world's other never-trained identities),
    for `model` and an untrained copy (seed 1000 unless given: the null). Side A's path was trained to
    draw a1 only (its private blocks — fc_a in faceswap's default, decoder_a with split decoders — never
    saw another A face), so a model that cannot yet generalise should pull new faces towards a1: where it
    does, the measure sees a leak (a positive control); where it does not, the row says how far a trained
    side A generalises. Placebos are the world's other never-trained identities (phazelab.analysis.leakage
    on far-apart placebos). `progress`: a progress bar's description (None: no bar)."""
    from tqdm.auto import tqdm

    from ..analysis.leakage import leakage_judge, placebo_leakage
    from ..progress import heartbeat

    untrained = untrained if untrained is not None else PhazeA(model.config, seed=1000)
    fresh = [i for i in range(world.n_identities) if i not in (identity_a, identity_b)]
    device = next(model.parameters()).device
    seed = HELD_OUT_SEED + 9
    rows = []
    # four parts per new face, each a few seconds on a CPU: the judge's renders, its pose grid, then the
    # two models judged by that one judge (the same frames for both)
    bar = tqdm(total=4 * len(fresh[:faces]), desc=progress, unit="part", disable=progress is None)
    with heartbeat(bar):  # each part takes seconds on a CPU: the bar's time moves meanwhile
        for a2 in fresh[:faces]:
            placebos = [i for i in fresh if i != a2]
            bar.set_postfix_str(f"a2={a2}: the judge's renders", refresh=True)
            sample = world.sample(a2, frames, seed=seed, size=model.input_size)  # rendered once per face
            labels = sample[1]
            judge = leakage_judge(world, labels, identity_a, a2, placebos, model.output_size, device)
            bar.update()
            bar.set_postfix_str(f"a2={a2}: the judge's pose grid", refresh=True)
            judge.truth_distances()
            bar.update()
            for kind, m in (("model", model), ("untrained", untrained)):
                bar.set_postfix_str(f"a2={a2}: the {'trained' if kind == 'model' else kind} model", refresh=True)
                r = placebo_leakage(m, world, identity_a, a2, placebos, n=frames, seed=seed, judge=judge,
                                    frames=sample)
                rows.append({"kind": kind, "a1": identity_a, "a2": a2, **{k: r[k] for k in (
                    "leakage", "leakage_ci", "noise_floor", "rank_p", "beyond_noise", "judged_old", "judged_placebo",
                    "judged_new", "frame_sd", "n")}, "placebos": len(placebos), "reading": leakage_reading(r)})
                bar.update()
    bar.close()
    return pd.DataFrame(rows)


def leakage_reading(r: Mapping[str, Any]) -> str:
    """A leakage row in words, from its 95 % CI against its own noise floor (placebo_leakage's keys).
    The scale is a pull relative to the truth's distance, so an untrained model's outputs, far from every
    face, give large numbers of either sign and a large floor: only the CI against the floor reads.
    A CI above the floor reads "a1 leaks" only where the placebo rank test backs it (rank p <
    RANK_ALPHA) or the row has no rank test; else "a hint of a1", with why the rank test does not back it
    (5 placebos can never give p < 0.17)."""
    low, high = r["leakage_ci"]
    floor = r["noise_floor"]
    if low > floor:
        p = r.get("rank_p")
        word = "a1 leaks" if p is None or p < RANK_ALPHA else "a hint of a1"
        return word + " (CI above the floor" + _rank_context(r) + ")"
    if high < -floor:
        return "pulled away from a1 (CI below −floor)"
    return f"no leak measurable (CI not beyond the floor ±{floor:.2g})"


RANK_ALPHA = 0.05  # the placebo rank test's level for "a1 leaks" (a hint below it)


def _rank_context(r: Mapping[str, Any]) -> str:
    """How far the placebo rank test can back a leak: with k placebos its p-value is at least 1/(k + 1)
    (placebo_leakage's rank_p), so 5 placebos can never give p < 0.17."""
    p, k = r.get("rank_p"), r.get("placebos")  # a count (a table row) or the ids (placebo_leakage's)
    k = len(k) if isinstance(k, (list, tuple)) else k
    if p is None or not isinstance(k, int) or k < 1:
        return ""
    from ..analysis.leakage import min_rank_p

    if p < RANK_ALPHA:
        return f"; rank p {p:.2f} over {k} placebos"
    if p <= min_rank_p(k) + 1e-9:
        return f"; rank p {p:.2f}, the smallest {k} placebos allow: more placebos would test it further"
    return f"; rank p {p:.2f} over {k} placebos: some placebo pulls as much"


def _model_world(meta: dict[str, Any], study: IdentityStudy) -> tuple[FaceWorld, int, int]:
    """The world and A/B pair a model was trained on: its meta's swap recipe, else the study's."""
    from .swap import recorded_pair

    if "recipe" in meta:
        return recorded_pair(meta, "the model's meta.json")
    return FaceWorld(seed=study.world_seed, hard=study.world_hard), study.identity_a, study.identity_b


def run_identity(study: IdentityStudy, models: dict[str, PhazeA] | None = None, progress: bool = True,
                 other_seed: dict[str, PhazeA] | None = None) -> dict[str, Any]:
    """Measure 1–6 (module doc) per topology; returns a JSON-able dict (tables as lists of rows).

    models: topology -> model to measure instead of the shipped data/models/<topology>.
    other_seed: topology -> a model of the same recipe trained from another seed (the second CKA null).
    """
    out: dict[str, Any] = {"study": asdict(study), "date": _dt.datetime.now(_dt.timezone.utc).isoformat(
        timespec="seconds"), "topologies": {}}
    for topology in study.topologies:
        if models is not None and topology in models:
            model, meta = models[topology], {}
        else:
            path = _models_dir() / topology
            model, meta = load_model(path).float(), read_meta(path)
        world, a, b = _model_world(meta, study)
        twin = (other_seed or {}).get(topology)
        if twin is not None and twin.config != model.config:
            raise ValueError(f"other_seed[{topology!r}]: its config differs from the measured model's (the CKA null "
                             "needs the same recipe trained from another seed)")
        if progress:
            print(f"[{topology}] gate, block tables (trained world and the other), verification, patching, "
                  "leakage, CKA")
        success = gate_success(meta)
        if not meta:
            with torch.no_grad():
                factors = world.sample_factors(study.patch_frames, HELD_OUT_SEED + 8)
                outputs = model.eval().swap(world.render(a, factors, model.input_size), "b")
                success = judge_for(world, factors, b, model.output_size,
                                    pose_of="target")(outputs.float().clamp(0, 1))["success"]
        gate = quality_gate(success)
        ids = list(range(min(study.probe_identities, world.n_identities)))
        worlds = {"hard": FaceWorld(seed=study.world_seed, hard=True), "default": FaceWorld(seed=study.world_seed)}
        tables = {name: block_table(model, w, ids, n=study.n_per_identity, pool="gap", baselines=True,
                                    untrained_seeds=study.untrained_seeds, cv=min(5, study.n_per_identity))
                  for name, w in worlds.items()}
        untrained = PhazeA(model.config, seed=study.untrained_seeds[0])
        out["topologies"][topology] = {
            "gate": {**gate, "swap_success": success, "steps": meta.get("step")},
            "world": {"seed": world.seed, "hard": world.hard, "identity_a": a, "identity_b": b},
            "block_table": {k: t.to_dict("records") for k, t in tables.items()},
            "verification": _verification(model, study, world, untrained).to_dict("records"),
            "patching": patch_swap_table(model, world, a, b, study.patch_frames).to_dict("records"),
            "leakage": leakage_table(model, world, a, b, faces=study.leak_identities, frames=study.leak_frames,
                                     untrained=untrained).to_dict("records"),
            "cka": _cka(model, study, world, twin).to_dict("records"),
        }
    return out


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    from ..markdown import table

    return table(pd.DataFrame(rows)[columns])


def markdown_report(result: dict[str, Any], command: str) -> str:
    """The README section: per topology the gate first, then each table with its nulls beside it."""
    quick = result["study"].get("cka_n", 512) < 512
    lines = [f"Command: `{command}` · {result['date']} · every model row has its nulls on the same frames."
             + (" **Quick sizes: rough numbers, not for the README.**" if quick else "")]
    for topology, r in result["topologies"].items():
        g = r["gate"]
        steps = f" after {g['steps']} steps" if g.get("steps") is not None else ""
        head = (f"**{topology}** — swap success {g['swap_success']:.2f}{steps}: "
                + ("passed the gate" if g["passed"] else f"**{NOT_EVIDENCE}** ({'; '.join(g['reasons'])})"))
        lines += ["", head, ""]
        for world_name, rows in r["block_table"].items():
            lines += [f"Block table, {world_name} identities (probe accuracy ± fold sd, chance "
                      f"{rows[0]['probe_chance']:.3f}; R² yaw):", "",
                      _table(rows, ["kind", "block", "dims", "probe_acc", "probe_std", "knn_acc", "r2_yaw"]), ""]
        lines += ["Verification on identities never trained on nor fitted (pair AUC, 0.5 = chance):", "",
                  _table(r["verification"], ["kind", "block", "auc", "auc_unfitted", "heldout_identities"]), "",
                  "Activation patching of the A→B swap (share of outputs whose judged identity flips):", "",
                  _table(r["patching"], ["block", "flip", "as_source_before", "as_source_after", "n"]), "",
                  "Leakage of the trained side-A face into side-A reconstructions of faces never trained on "
                  "(pull towards a1 beyond the placebos', 95 % CI over frames; noise floor and rank_p "
                  "(≥ 1/(1 + placebos)): the placebos in a1's place on the same outputs; the untrained model "
                  "is the null):", "",
                  _table([{**row, "leakage_ci": "[{:.3f}, {:.3f}]".format(*row["leakage_ci"])}
                          for row in r["leakage"]],
                         ["kind", "a2", "leakage", "leakage_ci", "noise_floor", "rank_p", "beyond_noise",
                          "judged_old", "judged_placebo", "judged_new"]), "",
                  "Debiased CKA against an untrained model, beside the nulls: two untrained models, and "
                  "(where one is given) the same recipe trained from another seed"
                  + _other_seed_note(result.get("other_seed", {}).get(topology)) + ":", "",
                  _table(r["cka"], ["block", "cka_vs_untrained", "null_untrained_vs_untrained",
                                    "null_trained_other_seed", "n"])]
    return "\n".join(lines)


def _other_seed_note(info: dict[str, Any] | None) -> str:
    if not info:
        return " (none given: the column is empty)"
    return f" (`{info['path']}`: seed {info['seed']}, {info['step']} steps)"


def write_outputs(result: dict[str, Any], out: str | Path) -> Path:
    """OUT/identity.json (atomic)."""
    path = Path(out) / "identity.json"
    atomic_write_text(path, json.dumps(clean_json(result), indent=1))
    return path
