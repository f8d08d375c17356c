"""The forum's three questions, answered from the study's runs by rules fixed before the numbers.

Every comparison is paired: arm X against a reference arm on the same replicates (a2 identity × seed,
same initial weights of the blocks neither loads, same data, same budget), the mean paired difference
with its paired-t 95 % CI (`rules.paired_ci`), and the verdict that CI earns against the margin
(`rules.verdict`, margins in `StudyConfig.margins`). Before any verdict, the gates:

- the topology's stage 1 passed the swap gate (else every answer there is "not trained enough");
- comparisons of leakage need both arms' side A trained: at the end the judge names ≥ the gate of side
  A's reconstructions of a2 as a2 *or a1*, with the frame's pose (`recon_face_a`: a face, not noise).
  A side A that never renders faces shows no a1 trivially; one that renders a1 is trained, and leaking.
- "no measurable difference" needs ≥ 3 replicates, and a CI on a share is never narrower than the
  binomial one of all its judged frames pooled (identical values over a few replicates are not exact).

Time to gate (first evaluation where a side's gate measure, GATE_KEYS, reaches the gate; recomputed
from the evaluations with the study's gate) is censored at the budget for a run that never got there.
The time comparison is the paired log2 ratio of (time + one evaluation interval), censored runs
counted at the budget (a lower bound on their time); so a censored run in the faster-looking arm
cannot give "less", and the verdict is capped at "inconclusive (censored runs)" unless the censoring
cannot flatter the claim. Kaplan–Meier medians are printed beside it.

Leakage is read over the evaluations from the first where side A renders a face (before that the judge
names a candidate at random): the mean there per replicate, with the placebo null (each placebo in a1's
place, the same mean) as its floor. Q3 first checks that the measure can see a leak at all: the
positive control (all blocks, fc_a / decoder_a included) at step 0, where it is the a1+b1 model, and
known 50 % blends of a1 into a2's renders. If either fails, no "no leak" verdict is printed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .rules import NOT_TRAINED, VERDICTS, km_median, paired_ci, time_to_gate, verdict

__all__ = ["QUESTIONS", "answer_all", "arm_name", "arm_values"]

QUESTIONS = {
    "q1": "Reusing Face B with a new Face A: load the encoder and fc_b but not fc_a?",
    "q2": "Should the shared G-Block (fc_gblock, g_block_both) stay unloaded?",
    "q3": "Loading and freezing an a1+b1 encoder into an a2+b1 model: does a1 leak, and why not?",
}
CENSORED = "inconclusive (censored runs: the budget ended before the gate)"
INSENSITIVE = ("inconclusive (the positive control or the known a1 blends did not read as a leak: the leakage "
               "measure is insensitive here)")
NOT_APPLICABLE = "not applicable in this topology"
NOT_RUN = "not answered by this run"
# The arms each question compares (strategy@mode); a run without them cannot answer it.
NEEDS = {"q1": ("encoder@trainable", "encoder+fc_b@trainable", "all_but_a@trainable", "all@trainable"),
         "q2": ("encoder+fc_b@trainable", "encoder+fc_b+gblock@trainable"),
         "q3": ("encoder@frozen", "all@trainable")}
EQUIVALENT, INCONCLUSIVE = VERDICTS[2], VERDICTS[3]
# The leakage the rules read (measures.evaluate): the share of B→A swaps the judge names as a1 among
# {a2, a1, placebos}, minus the mean share it names as a placebo.
LEAK = "leak_swap_named"
FACE = "recon_face_a"  # measures.evaluate: side A renders a face (a2 or a1, right pose)
# What each side's time to gate reads: side A has learnt a2 when the judge names its reconstructions of a2
# as a2 with the right pose; side B swaps when a2 frames become b1 with a2's pose.
GATE_KEYS = {"a": "recon_success_a", "b": "success_ab"}
MIN_N_EQUIVALENT = 3  # fewer replicates than this never earn "no measurable difference"
# The blend (a1's weight) the named measure must see in every replicate. Naming is a top-1 decision: it
# sees a1 once an output is nearer a1 than a2 — blends past about half — so "no leak" from it means no
# leak of that size; the continuous pull (printed beside) responds to weaker blends.
SENSITIVITY_BLEND = "0.75"
LEAK_WHAT = ("a1 leakage in the B→A swaps (judge's a1 share minus a placebo's), mean over the evaluations from "
             "the first where side A renders a face (recon_face_a ≥ the gate)")


# --------------------------------------------------------------------------------------------------
# per-run values
def arm_name(run: Mapping[str, Any]) -> str:
    return f"{run['strategy']}@{run['mode']}"


def _replicate(run: Mapping[str, Any]) -> tuple[int, int]:
    return int(run["towards"]), int(run["seed"])


def arm_values(runs: Sequence[Mapping[str, Any]], topology: str, arm: str) -> dict[tuple[int, int], Mapping[str, Any]]:
    """The runs of one arm ("strategy@mode") in one topology, keyed by replicate (towards, seed)."""
    return {_replicate(r): r for r in runs if r["topology"] == topology and arm_name(r) == arm}


def _final(run: Mapping[str, Any], key: str) -> float:
    return float(run["evals"][-1][key])


def _at(run: Mapping[str, Any], key: str, step: int) -> float:
    for e in run["evals"]:
        if e["step"] == step:
            return _num(e.get(key))
    return math.nan


def _window(run: Mapping[str, Any], gate: float) -> list[Mapping[str, Any]]:
    """The evaluations leakage is read at: from the first where side A renders a face (FACE ≥ gate) on.
    Before that, side A's outputs are not faces and the judge names a candidate at random."""
    when, reached = time_to(run, FACE, gate)
    return [e for e in run["evals"] if reached and e["step"] >= when]


def read_leak(run: Mapping[str, Any], gate: float, key: str = LEAK) -> float:
    """Mean leakage over the read window (NaN when side A never rendered a face)."""
    vals = [_num(e.get(key)) for e in _window(run, gate)]
    return float(np.mean(vals)) if vals else math.nan


def read_floor(run: Mapping[str, Any], gate: float) -> float:
    """The placebo null of `read_leak`: the same mean for each placebo in a1's place; its largest |·|."""
    nulls = [e.get(f"{LEAK}_null") for e in _window(run, gate)]
    if not nulls or any(n is None for n in nulls):
        return math.nan
    return float(np.max(np.abs(np.mean(np.asarray(nulls, dtype=float), axis=0))))


def _side_a_trained(run: Mapping[str, Any], gate: float) -> bool:
    """Side A renders a face at the end: reconstructions of a2 named a2 or a1 with the right pose ≥ gate
    (a side A that shows a1 is trained — and leaking — not "not trained enough")."""
    return _final(run, FACE) >= gate


def time_to(run: Mapping[str, Any], key: str, gate: float) -> tuple[float, bool]:
    """(step, reached): the first evaluation whose `key` ≥ gate, else the last step (censored there).
    Recomputed from the run's evaluations with the study's gate, never read from a stored field."""
    return time_to_gate([e["step"] for e in run["evals"]], [_num(e.get(key)) for e in run["evals"]], gate)


def _num(v: Any) -> float:
    return math.nan if v is None else float(v)


# --------------------------------------------------------------------------------------------------
# comparisons
def _paired(x: Mapping[tuple, Any], ref: Mapping[tuple, Any], value: Any) -> tuple[list[tuple], np.ndarray]:
    keys = sorted(set(x) & set(ref))
    return keys, np.asarray([value(x[k]) - value(ref[k]) for k in keys], dtype=float)


def share_ci(values: Sequence[float], frames: int | None = None, level: float = 0.95) -> dict[str, Any]:
    """paired_ci of per-replicate values; for shares of `frames` judged frames each, the half-width is
    at least the binomial one of all the frames pooled (z·sqrt(p(1−p)/M), p ≥ 1/M): identical values
    over a few replicates bound a share no tighter than their frames can (0 of 96 frames is not 0)."""
    from scipy.stats import norm

    d = np.asarray(values, dtype=float)
    ci = paired_ci(d, level=level)
    if frames and math.isfinite(ci["ci"][0]):
        m = len(d) * frames
        p = min(max(abs(ci["estimate"]), 1.0 / m), 0.5)
        half = max((ci["ci"][1] - ci["ci"][0]) / 2, float(norm.ppf(0.5 + level / 2)) * math.sqrt(p * (1 - p) / m))
        ci = {**ci, "ci": [ci["estimate"] - half, ci["estimate"] + half], "frames": frames}
    return ci


def _result(name: str, rule: str, diffs: np.ndarray, margin: float, gates: dict[str, Any], units: str,
            cap: str | None = None, frames: int | None = None) -> dict[str, Any]:
    if len(diffs) == 0 or not np.isfinite(diffs).all():
        return {"part": name, "verdict": NOT_TRAINED if not gates.get("passed", True) else INCONCLUSIVE,
                "rule": rule, "estimate": None, "ci": None, "n": int(len(diffs)), "margin": margin, "units": units,
                "gates": gates, "note": "no paired replicates" if len(diffs) == 0 else "non-finite values"}
    ci = share_ci(diffs, frames)
    v = verdict(ci["ci"], margin, gates_passed=gates.get("passed", True))
    if v == EQUIVALENT and ci["n"] < MIN_N_EQUIVALENT:
        v = INCONCLUSIVE
    if cap is not None and v != NOT_TRAINED and not (cap == "allow-less" and v == VERDICTS[1]) \
            and not (cap == "allow-greater" and v == VERDICTS[0]):
        v = CENSORED
    return {"part": name, "verdict": v, "rule": rule, "estimate": ci["estimate"], "ci": ci["ci"], "n": ci["n"],
            "margin": margin, "units": units, "gates": gates, "differences": diffs.tolist()}


def _gates(stage1_ok: bool, arms: Mapping[str, Mapping[tuple, Any]], gate: float, need_side_a: bool
           ) -> dict[str, Any]:
    out: dict[str, Any] = {"stage1_passed": stage1_ok, "arms": {}}
    passed = stage1_ok
    for name, runs in arms.items():
        finals = {f"{k[0]}/{k[1]}": _final(r, FACE) for k, r in runs.items()}
        ok = bool(runs) and all(_side_a_trained(r, gate) for r in runs.values())
        out["arms"][name] = {f"final_{FACE}": finals, "side_a_trained": ok}
        if need_side_a and not ok:
            passed = False
        if not runs:
            passed = False
    out["passed"] = passed
    out["rule"] = ("stage 1 passed its gate" + (f"; side A trained in every arm and replicate: at the end the "
                                                f"judge names ≥ {gate} of side A's reconstructions of a2 as a2 "
                                                "or a1 with the frame's pose (a face, not noise)"
                                                if need_side_a else ""))
    return out


def time_comparison(arm: Mapping[tuple, Any], ref: Mapping[tuple, Any], side: str, budget: int, every: int,
                    margin: float, stage1_ok: bool, name: str, gate: float) -> dict[str, Any]:
    """Paired log2 ratio of time to gate on `side` (module docstring), with KM medians of both arms."""
    key = GATE_KEYS[side]

    def t(r: Mapping[str, Any]) -> float:
        return math.log2((time_to(r, key, gate)[0] + every) / every)

    keys, diffs = _paired(arm, ref, t)
    cens_arm = any(not time_to(arm[k], key, gate)[1] for k in keys)
    cens_ref = any(not time_to(ref[k], key, gate)[1] for k in keys)
    cap = None
    if cens_arm or cens_ref:
        # budget-capped times: a censored reference makes the arm look slower at worst → "less" stands;
        # a censored arm makes it look faster at worst → "greater" stands; equivalence needs neither
        cap = "allow-less" if not cens_arm else ("allow-greater" if not cens_ref else "none")
    swap = ("side A's reconstructions of a2 judged a2 with their pose" if side == "a"
            else "A→B swaps (a2 frames → b1 with a2's pose)")
    rule = (f"paired log2 of (time to gate + {every}) / {every} steps, arm − reference; time to gate = first "
            f"evaluation where the judge's success on {swap} ≥ the gate, censored at {budget}; margin ±{margin:.3f} "
            f"(a ratio within ×{2 ** margin:.2f})")
    res = _result(name, rule, diffs, margin, {"passed": stage1_ok, "stage1_passed": stage1_ok}, "log2 ratio", cap)
    for label, runs in (("arm", arm), ("reference", ref)):
        rows = [runs[k] for k in keys]
        times = [time_to(r, key, gate) for r in rows]
        res[f"km_{label}"] = km_median([a for a, _ in times], [b for _, b in times]) if rows else None
    return res


def value_comparison(arm: Mapping[tuple, Any], ref: Mapping[tuple, Any], value: Any, what: str, margin: float,
                     gates: dict[str, Any], name: str, units: str, frames: int | None = None) -> dict[str, Any]:
    keys, diffs = _paired(arm, ref, value)
    rule = f"paired difference of {what}, arm − reference; margin ±{margin:g}"
    return _result(name, rule, diffs, margin, gates, units, frames=frames)


def _combine(parts: Sequence[Mapping[str, Any]]) -> str:
    verdicts = [p["verdict"] for p in parts]
    if NOT_TRAINED in verdicts:
        return NOT_TRAINED
    if all(v == EQUIVALENT for v in verdicts):
        return EQUIVALENT
    moved = [f"{p['part']}: {p['verdict']}" for p in parts if p["verdict"] in VERDICTS[:2]]
    if moved:
        return "differs — " + "; ".join(moved)
    return INCONCLUSIVE


def _headline(parts: Sequence[Mapping[str, Any]], primary: int = 0) -> dict[str, Any]:
    p = parts[primary]
    return {"verdict": _combine(parts), "rule": "each part by its own rule; the answer is 'differs' if any part is "
            "greater/less, 'no measurable difference' only if every part is, else inconclusive (not trained "
            "enough wins over everything); estimate and CI are the primary part's", "estimate": p["estimate"],
            "ci": p["ci"], "n": p["n"], "primary": p["part"], "units": p["units"],
            "gates": {q["part"]: q["gates"] for q in parts}, "parts": list(parts)}


# --------------------------------------------------------------------------------------------------
# the questions
def _precheck(results: Mapping[str, Any], topology: str, q: str) -> dict[str, Any] | None:
    """"not trained enough" when the topology's stage 1 failed its gate; "not answered by this run" when
    the study did not run the arms the question compares (e.g. --quick); else None."""
    g = results["stage1"][topology]["gate"]
    if not g["passed"]:
        got = "unrecorded" if g.get("success") is None or not math.isfinite(g["success"]) else f"{g['success']:.2f}"
        return {"verdict": NOT_TRAINED, "reason": f"{topology}'s stage 1 is at swap success {got}, below the "
                f"gate {g['gate']}: no arm was built on it", "gates": {"stage1_passed": False, "passed": False}}
    ran = {f"{a}@{b}" for a, b in results["study"]["runs"]}
    missing = [a for a in NEEDS[q] if a not in ran]
    if missing:
        return {"verdict": NOT_RUN, "reason": f"it compares {', '.join(NEEDS[q])}; this run has no "
                f"{', '.join(missing)}"}
    return None


def _q1(results: Mapping[str, Any], topology: str) -> dict[str, Any]:
    s, runs = results["study"], results["runs"]
    m, gate = s["margins"], s["gate"]
    if "fc_b" not in results["plans"][topology]["blocks"]:
        return {"verdict": NOT_APPLICABLE, "reason": f"{topology} has no fc_b / fc_a (split_fc is off)"}
    early = _precheck(results, topology, "q1")
    if early:
        return early
    ok = results["stage1"][topology]["gate"]["passed"]
    enc, enc_b = arm_values(runs, topology, "encoder@trainable"), arm_values(runs, topology, "encoder+fc_b@trainable")
    allb, allx = arm_values(runs, topology, "all_but_a@trainable"), arm_values(runs, topology, "all@trainable")
    parts = [
        time_comparison(enc_b, enc, "b", s["stage2_steps"], s["eval_every"], m["log2_time"], ok,
                        "fc_b: time to gate on side B (encoder+fc_b vs encoder)", gate),
        value_comparison(allx, allb, lambda r: read_leak(r, gate), LEAK_WHAT, m["leakage"],
                         _gates(ok, {"all@trainable": allx, "all_but_a@trainable": allb}, gate, True),
                         "fc_a: a1 leakage (all vs all_but_a)", "leakage", s["eval_n"]),
        value_comparison(allx, allb, lambda r: _final(r, "success_ab"), "final A→B swap success", m["success"],
                         {"passed": ok, "stage1_passed": ok}, "fc_a: A→B swap success (all vs all_but_a)", "success",
                         s["eval_n"]),
    ]
    return _headline(parts)


def _q2(results: Mapping[str, Any], topology: str) -> dict[str, Any]:
    s, runs = results["study"], results["runs"]
    m, gate = s["margins"], s["gate"]
    blocks = results["plans"][topology]["strategies"].get("encoder+fc_b+gblock", {})
    if "g_block_both" not in results["plans"][topology]["blocks"] or blocks.get("absent"):
        return {"verdict": NOT_APPLICABLE, "reason": f"{topology} has no shared G-Block with fc_b"}
    early = _precheck(results, topology, "q2")
    if early:
        return early
    ok = results["stage1"][topology]["gate"]["passed"]
    g = arm_values(runs, topology, "encoder+fc_b+gblock@trainable")
    ref = arm_values(runs, topology, "encoder+fc_b@trainable")
    end_gates = _gates(ok, {"encoder+fc_b+gblock@trainable": g, "encoder+fc_b@trainable": ref}, gate, True)
    parts = [
        time_comparison(g, ref, "a", s["stage2_steps"], s["eval_every"], m["log2_time"], ok,
                        "G-Block: time to gate on side A", gate),
        time_comparison(g, ref, "b", s["stage2_steps"], s["eval_every"], m["log2_time"], ok,
                        "G-Block: time to gate on side B", gate),
        value_comparison(g, ref, lambda r: _final(r, "success_ab"), "final A→B swap success", m["success"],
                         {"passed": ok, "stage1_passed": ok}, "G-Block: final A→B success", "success", s["eval_n"]),
        value_comparison(g, ref, lambda r: read_leak(r, gate), LEAK_WHAT, m["leakage"], end_gates,
                         "G-Block: a1 leakage", "leakage", s["eval_n"]),
    ]
    return _headline(parts)


def _one_sample(values: Sequence[float], frames: int | None = None) -> dict[str, Any]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return share_ci(vals, frames) if vals else {"estimate": None, "ci": None, "n": 0}


def _sensitivity(results: Mapping[str, Any], topology: str, control: Mapping[tuple, Any], margin: float,
                 frames: int) -> dict[str, Any]:
    """Can the measure see a leak, in every replicate? (1) The positive control at step 0 (it is the
    a1+b1 model then) reads above the margin and above its own placebo floor; (2) where the study
    measured them, known a1 blends (α = SENSITIVITY_BLEND at the replicate's frames,
    measures.blend_leakage) read above the margin. Sensitivity is a property of the measure in each
    replicate, so it is checked per replicate (a t interval over 3 replicates would be wider than the
    leak it is meant to show)."""
    step0 = _one_sample([_at(r, LEAK, 0) for r in control.values()], frames)
    seen = [_at(r, LEAK, 0) > max(margin, _at(r, f"{LEAK}_floor", 0) if math.isfinite(_at(r, f"{LEAK}_floor", 0))
                                  else margin) for r in control.values()]
    blends = {name: rep.get("blend_leakage") for name, rep in results.get("nulls", {}).get(topology, {})
              .get("replicates", {}).items() if rep.get("blend_leakage")}
    ok0 = bool(len(seen) >= 2 and all(seen))
    ok_blend = all(b[SENSITIVITY_BLEND] > margin for b in blends.values()) if blends else None
    return {"step0": step0, "step0_seen": seen, "blends": blends, "sensitive": ok0 and ok_blend is not False,
            "rule": f"in every replicate (≥ 2): the positive control at step 0 reads > +{margin:g} and > its placebo "
                    "floor" + (f"; a {float(SENSITIVITY_BLEND):.0%} a1 blend reads > +{margin:g}" if blends else
                               " (blend check not measured in this run)")}


def _q3(results: Mapping[str, Any], topology: str) -> dict[str, Any]:
    s, runs = results["study"], results["runs"]
    m, gate, frames = s["margins"], s["gate"], s["eval_n"]
    ok = results["stage1"][topology]["gate"]["passed"]
    early = _precheck(results, topology, "q3")
    if early:
        return early
    frozen, control = arm_values(runs, topology, "encoder@frozen"), arm_values(runs, topology, "all@trainable")
    margin = m["leakage"]
    rule = (f"a1 leakage in the B→A swaps (share the judge names a1 among a2, a1 and placebos, minus a "
            f"placebo's share). Sensitivity first (positive control all@trainable at step 0, and known a1 blends): "
            f"see 'sensitivity'. Then encoder@frozen: per replicate the mean leakage over the evaluations from the "
            f"first where its side A renders a face (recon_face_a ≥ {gate}); CI over replicates (at least the "
            f"binomial width of the pooled frames). CI high < +{margin:g} with ≥ {MIN_N_EQUIVALENT} replicates → "
            f"'no measurable difference' (no leak beyond the placebos); CI low > +{margin:g} and above the "
            f"placebo floor → 'greater' (a1 leaks); else inconclusive")
    gates = _gates(ok, {"encoder@frozen": frozen}, gate, True)
    sens = _sensitivity(results, topology, control, margin, frames)
    per_rep = [read_leak(r, gate) for r in frozen.values()]
    pull = _one_sample([read_leak(r, gate, "leak_swap") for r in frozen.values()])
    pull_floor = [read_leak(r, gate, "leak_swap_floor") for r in frozen.values()]
    floors = [read_floor(r, gate) for r in frozen.values()]
    floor = float(np.nanmean(floors)) if any(math.isfinite(f) for f in floors) else math.nan
    read = _one_sample(per_rep, frames)
    by_step = [{"step": t, **_one_sample([_at(r, LEAK, t) for r in frozen.values()], frames)}
               for t in sorted({e["step"] for r in frozen.values() for e in r["evals"]})]
    control_by_step = [{"step": t, **_one_sample([_at(r, LEAK, t) for r in control.values()], frames)}
                       for t in sorted({e["step"] for r in control.values() for e in r["evals"]})]
    if not gates["passed"]:
        v = NOT_TRAINED
    elif not control or read["n"] < 2:
        v = INCONCLUSIVE
    elif not sens["sensitive"]:
        v = INSENSITIVE
    elif read["ci"][1] < margin and read["n"] >= MIN_N_EQUIVALENT:
        v = EQUIVALENT
    elif read["ci"][0] > margin and not (math.isfinite(floor) and read["ci"][0] <= floor):
        v = VERDICTS[0]
    else:
        v = INCONCLUSIVE
    probes = {name: rep.get("probe_a1_vs_a2") for name, rep in results.get("nulls", {}).get(topology, {})
              .get("replicates", {}).items() if rep.get("probe_a1_vs_a2")}
    probe = None
    if probes:
        kinds = ("stage1_encoder", "untrained_encoder", "pixels")
        acc = {k: [p[k]["accuracy"] for p in probes.values()] for k in kinds}
        # "above" a null only by more than 2 sd of the stage-1 probe's accuracy over its folds
        above = [p["stage1_encoder"]["accuracy"] - 2 * p["stage1_encoder"].get("accuracy_std", 0.0)
                 > max(p["untrained_encoder"]["accuracy"], p["pixels"]["accuracy"]) for p in probes.values()]
        probe = {"test": "a linear probe (5-fold CV) on the frozen (stage-1) encoder's codes: how well does it tell "
                         "a1's frames from a2's? (chance 0.5; nulls on the same frames: an untrained encoder, raw "
                         "pixels). Whether the codes carry a1-vs-a2 information; it does not by itself say why "
                         "a leak does or does not happen",
                 "reading": (f"the stage-1 encoder's probe is above both nulls by more than 2 sd (over its folds) "
                             f"in {sum(above)} of {len(above)} replicates"),
                 "accuracy_mean": {k: float(np.mean(v)) for k, v in acc.items()},
                 "by_replicate": probes,
                 "not_done": "patching (does the new side A ever map those codes to a1's appearance?) is not run "
                             "by this study yet"}
    return {"verdict": v, "rule": rule, "estimate": read["estimate"], "ci": read["ci"], "n": read["n"],
            "estimate_is": "encoder@frozen's mean a1 leakage once its side A renders faces (mean over replicates)",
            "per_replicate": per_rep, "placebo_floor": floor, "units": "leakage (share)",
            "pull": {**pull, "floor_mean": float(np.nanmean(pull_floor)) if any(math.isfinite(f) for f in pull_floor)
                     else None, "what": "the continuous pull towards a1 beyond the placebos' pull (analysis.leakage), "
                     "mean over the same evaluations; not used by the verdict"},
            "gates": gates, "sensitivity": sens, "positive_control": {"by_step": control_by_step},
            "by_step": by_step, "explanation": probe}


def answer_all(results: Mapping[str, Any]) -> dict[str, Any]:
    """{"q1", "q2", "q3"}: each {"question", "topology" (the one the headline reads: faceswap's default
    where the study ran it), "verdict", "rule", "estimate", "ci", "n", "gates", "by_topology": {...}}."""
    topologies = list(results["study"]["topologies"])
    out: dict[str, Any] = {}
    for q, fn in (("q1", _q1), ("q2", _q2), ("q3", _q3)):
        by = {t: fn(results, t) for t in topologies}
        # the headline: faceswap's default topology whenever the question applies there and its stage 1
        # passed (whatever the verdict); else the first topology whose stage 1 passed; else the first
        order = sorted(topologies, key=lambda t: t != "default")
        built = [t for t in order if by[t]["verdict"] != NOT_APPLICABLE and results["stage1"][t]["gate"]["passed"]]
        head = (built[0] if built else None) or next(
            (t for t in order if by[t]["verdict"] != NOT_APPLICABLE), topologies[0])
        top = by[head]
        out[q] = {"question": QUESTIONS[q], "topology": head,
                  **{k: top.get(k) for k in ("verdict", "rule", "estimate", "ci", "n", "gates", "primary", "units",
                                             "reason")},
                  "by_topology": by}
        if top["verdict"] == NOT_APPLICABLE:
            out[q]["reason"] = "the study ran no topology where this question applies: " + top.get("reason", "")
    return out
