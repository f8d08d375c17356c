"""The forum study's outputs: the three answers first, then the evidence; nothing typed in.

`write_outputs` writes, atomically: results.json (everything, with "answers"), results.csv (tidy: one
row per run × evaluation step × measure), arms.csv (one row per topology × arm: what it loads, its
Kaplan–Meier times to gate and end-of-run means ± sd over replicates), answers.md and report.html
(self-contained: plotly.js embedded once, the swap grids as data URIs).
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..markdown import to_html
from ..weights import atomic_write_text
from .answers import (
    FACE,
    GATE_KEYS,
    LEAK,
    MIN_N_EQUIVALENT,
    NOT_APPLICABLE,
    NOT_RUN,
    QUESTIONS,
    arm_name,
    arm_values,
    time_to,
)
from .measures import clean_json

__all__ = ["ARM_TABLE_MAIN", "MEASURES", "answers_markdown", "arm_table", "figures", "markdown_section",
           "render_html", "takeaway", "tidy", "write_outputs"]

# Per-evaluation measures (measures.evaluate), in report order: name → what it is.
MEASURES: Mapping[str, str] = {
    "success_ab": "judge's A→B swap success: a2 frames → side B shows b1 with a2's pose (0..1)",
    "recon_success_a": "side A learns a2: share of its reconstructions of a2 the judge names a2 (among a2, a1, "
                       "placebos) with the right pose (0..1); the side-A gate",
    "recon_face_a": "side A renders a face: reconstructions of a2 named a2 or a1 with the right pose; leakage is "
                    "read once this passes the gate",
    "success_ba": "judge's B→A swap success: b1 frames → side A shows a2 with b1's pose (0..1)",
    "recon_ssim_b": "face-masked SSIM of side B's reconstructions of b1 (does loading keep B?)",
    LEAK: "a1 leakage: share of B→A swaps the judge names a1 (among a2, a1, placebos) minus a placebo's share",
    "leak_swap_named_floor": "that leakage's placebo null: the largest excess of one placebo over the others",
    "leak_recon_named": "the same leakage in side A's reconstructions of a2",
    "leak_swap": "continuous pull towards a1 in the B→A swaps beyond the placebos' pull (analysis.leakage)",
    "named_a1_ba": "share of B→A swaps the judge names a1 among all the world's identities and distractors",
}
_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1200px;padding:0 16px;color:#222}
table{border-collapse:collapse;margin:8px 0 16px;font-size:12px;display:block;overflow-x:auto;max-width:100%}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f3f3f3} td:first-child,th:first-child{text-align:left}
.answer{border-left:4px solid #4c78a8;padding:4px 12px;margin:12px 0;background:#f7f9fc}
.grids{display:flex;flex-wrap:wrap;gap:16px} .grids figure{margin:0}
.grids img{image-rendering:pixelated;width:256px;border:1px solid #ccc}
code{background:#f3f3f3;padding:1px 3px}
"""


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "∞" if isinstance(v, float) and v == math.inf else "–"
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def _ci(ci: Sequence[Any] | None, digits: int = 3) -> str:
    if not ci:
        return "no CI"
    lo, hi = (None if c is None else float(c) for c in ci)
    if lo is None or hi is None:
        return "CI (−∞, ∞): one replicate bounds nothing"
    return f"95 % CI [{lo:+.{digits}g}, {hi:+.{digits}g}]"


# --------------------------------------------------------------------------------------------------
# tables
def tidy(results: Mapping[str, Any]) -> pd.DataFrame:
    """One row per run × evaluation step × measure: topology, arm, strategy, mode, towards, seed, step,
    measure, value."""
    rows = []
    for r in results["runs"]:
        base = {"topology": r["topology"], "arm": arm_name(r), "strategy": r["strategy"], "mode": r["mode"],
                "towards": r["towards"], "seed": r["seed"]}
        for e in r["evals"]:
            for key, value in e.items():
                if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                    rows.append({**base, "step": e["step"], "measure": key, "value": float(value)})
    return pd.DataFrame(rows, columns=["topology", "arm", "strategy", "mode", "towards", "seed", "step", "measure",
                                       "value"])


def _km(runs: Sequence[Mapping[str, Any]], side: str, gate: float) -> str:
    from .rules import km_median

    if not runs:
        return "–"
    times = [time_to(r, GATE_KEYS[side], gate) for r in runs]
    km = km_median([t for t, _ in times], [ok for _, ok in times])
    got = f"{km['reached']}/{km['n']} reached"
    return f"{km['median']:.0f} ({got})" if km["median"] is not None else f"> {km['median_at_least']:.0f} ({got})"


def _pm(values: Sequence[float], digits: int = 2) -> str:
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if len(v) == 0:
        return "–"
    mean = round(float(v.mean()), digits) + 0.0  # + 0.0: never "-0.00"
    return f"{mean:.{digits}f}" + (f" ± {v.std(ddof=1):.{digits}f}" if len(v) > 1 else "")


# the arm table's columns a learner reads first (the rest behind display.table_view's details toggle):
# what each arm loads, when each side reached the gate, and where side A, the swap and the leak ended
ARM_TABLE_MAIN = ("arm", "loads", "steps to gate A (KM median)", "A side learns a2 (end)", "A→B success end",
                  "a1 leakage step 0 → end")  # (with side B's gate too it was 1194 px in 1148: walk 8)


def arm_table(results: Mapping[str, Any], topology: str) -> pd.DataFrame:
    """One row per arm of `topology`: what it loads / freezes, KM median steps to gate per side, and
    end-of-run (or step-0) means ± sd over replicates."""
    rows, gate = [], results["study"]["gate"]
    for arm in dict.fromkeys(arm_name(r) for r in results["runs"] if r["topology"] == topology):
        runs = list(arm_values(results["runs"], topology, arm).values())
        r0 = runs[0]
        frozen = "" if not r0["freeze"] else (" (frozen)" if r0["unfreeze_at"] is None
                                              else f" (frozen until step {r0['unfreeze_at']})")
        rows.append({
            "arm": arm, "loads": (", ".join(r0["load"]) or "nothing") + frozen, "n": len(runs),
            "steps to gate A (KM median)": _km(runs, "a", gate), "steps to gate B (KM median)": _km(runs, "b", gate),
            "A side learns a2 (end)": _pm([r["evals"][-1]["recon_success_a"] for r in runs]),
            "A→B success end": _pm([r["evals"][-1]["success_ab"] for r in runs]),
            "B→A success end": _pm([r["evals"][-1]["success_ba"] for r in runs]),
            "B SSIM step 0 → end": f"{_pm([r['evals'][0]['recon_ssim_b'] for r in runs])} → "
                                   f"{_pm([r['evals'][-1]['recon_ssim_b'] for r in runs])}",
            "a1 leakage step 0 → end": f"{_pm([r['evals'][0][LEAK] for r in runs])} → "
                                       f"{_pm([r['evals'][-1][LEAK] for r in runs])}",
            "training (s)": _pm([r["train_s"] for r in runs], 0),
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# the answers
def _answer_lines(q: str, a: Mapping[str, Any]) -> list[str]:
    lines = [f"**{q.upper()}. {QUESTIONS[q]}**", "",
             f"- Answer ({a.get('topology')}): **{a.get('verdict')}**"
             + (f" — estimate {_fmt(a.get('estimate'))}, {_ci(a.get('ci'))}, n = {a.get('n')} replicates"
                if a.get("estimate") is not None else "")]
    if a.get("reason"):
        lines.append(f"- {a['reason']}")
    head = a.get("by_topology", {}).get(a.get("topology"), {})
    for p in head.get("parts", []):
        lines.append(f"  - {p['part']}: {p['verdict']}"
                     + (f" — {_fmt(p['estimate'])} ({p['units']}), {_ci(p['ci'])}, n = {p['n']}"
                        if p.get("estimate") is not None else "")
                     + f". Rule: {p['rule']}.")
    sens = head.get("sensitivity") if q == "q3" else None
    if sens:
        s0 = sens["step0"]
        blends = sens.get("blends") or {}
        seen = (f"leakage {_fmt(s0.get('estimate'))} (mean of {s0.get('n')}; above the margin and its floor in "
                f"{sum(sens.get('step0_seen', []))} of {len(sens.get('step0_seen', []))} replicates)"
                if s0.get("n", 0) >= 2 else "fewer than 2 replicates: not assessed")
        lines.append(f"  - Can the measure see a leak? Positive control (all blocks, fc_a / decoder_a included) at "
                     f"step 0, where it is the a1+b1 model: {seen}"
                     + ("; known a1 blends, one value per replicate: " + "; ".join(
                         f"{float(a):.0%} → {', '.join(_fmt(b[a], 2) for b in blends.values())}"
                         for a in ("0", "0.25", "0.5", "0.75")) + " (the continuous pull reads "
                         + "; ".join(f"{float(a):.0%} → {', '.join(_fmt(b['pull'][a], 2) for b in blends.values())}"
                                     for a in ("0", "0.25", "0.5")) + ")" if blends else "")
                     + f". Rule: {sens['rule']} → {'passed' if sens['sensitive'] else 'not passed'}.")
        pull = head.get("pull") or {}
        if pull.get("estimate") is not None:
            lines.append(f"  - Beside it, {pull['what']}: {_fmt(pull['estimate'])}, {_ci(pull.get('ci'))}, its "
                         f"placebo floor {_fmt(pull.get('floor_mean'))}.")
        if head.get("placebo_floor") is not None:
            lines.append(f"  - Placebo floor of the frozen arm's reading (mean over replicates of the largest "
                         f"|placebo-in-a1's-place| value): {_fmt(head['placebo_floor'])}.")
        ex = head.get("explanation")
        if ex:
            acc = ex["accuracy_mean"]
            lines.append(f"  - Probe of the frozen codes: {ex['test']}. Mean accuracy: stage-1 encoder "
                         f"{_fmt(acc.get('stage1_encoder'))}, untrained encoder {_fmt(acc.get('untrained_encoder'))}, "
                         f"raw pixels {_fmt(acc.get('pixels'))}; {ex['reading']}. Not done: {ex['not_done']}.")
        lines.append(f"  - Rule: {head.get('rule')}.")
    for t, other in a.get("by_topology", {}).items():
        if t != a.get("topology"):
            lines.append(f"- In {t}: {other.get('verdict')}"
                         + (f" ({other['reason']})" if other.get("reason") else "")
                         + (f" — estimate {_fmt(other.get('estimate'))}, {_ci(other.get('ci'))}"
                            if other.get("estimate") is not None else ""))
    gates = head.get("gates")
    if (isinstance(gates, Mapping) and gates.get("rule") and not gates.get("passed", True)
            and not head.get("reason")):
        failed = [] if gates.get("stage1_passed", True) else ["stage 1"]
        for arm, g in (gates.get("arms") or {}).items():
            if not g.get("side_a_trained", True):
                finals = ", ".join(f"{_fmt(v, 2)}" for v in (g.get(f"final_{FACE}") or {}).values())
                failed.append(f"{arm}'s side A (ends at {finals or 'no evaluation'})")
        lines.append(f"- Gate not passed — required: {gates['rule']}; not met by: "
                     f"{'; '.join(failed) or 'an arm without runs'}.")
    return lines + [""]


def answers_markdown(results: Mapping[str, Any]) -> str:
    """The three answers with estimates, CIs, rules and gates, as markdown."""
    answers = results.get("answers") or {}
    if not answers:
        return ("The study is not complete (stopped by its time limit or a Stop): its answers need every run; "
                "run it again to resume from the next run.\n")
    out: list[str] = []
    s = results["study"]
    n = len(s["a2_towards"]) * s["seeds"]
    if s.get("quick") or n < MIN_N_EQUIVALENT:
        sizes = "the sizes of `phazelab experiment forum --quick`: " if s.get("quick") else ""
        out += [f"*What this run can answer* ({sizes}{n} replicate"
                f"{'s' * (n != 1)} × {s['stage2_steps']} steps, arms {', '.join(a + '@' + b for a, b in s['runs'])}): "
                + (f"'no measurable difference' needs ≥ {MIN_N_EQUIVALENT} replicates, so this run can show a "
                   "difference but never an equivalence; " if n < MIN_N_EQUIVALENT else "")
                + "questions whose arms it did not run read 'not answered by this run'. The full study is "
                "`phazelab experiment forum` (all arms, 3 replicates).", ""]
    for q in ("q1", "q2", "q3"):
        out += _answer_lines(q, answers[q])
    return "\n".join(out)


POSITIVE_CONTROL = "all@trainable"  # loads side A's blocks too: a1's decoder, so not a transfer strategy


def takeaway(results: Mapping[str, Any]) -> list[str]:
    """What a learner should take from these runs, generated from the numbers: the three answers' verdicts
    first, then per topology each measure's best transfer arm beside scratch (the arm that loads nothing)
    and the gate. The positive control (all@trainable, which loads a1's own side-A blocks) is reported
    apart, never as the best strategy. Ends with what a longer run would change."""
    lines, gate = [], results["study"]["gate"]
    answers = sorted(results.get("answers", {}).items())
    for q, a in answers:
        if a.get("verdict") not in (NOT_RUN, NOT_APPLICABLE):
            where = f" ({a['topology']})" if a.get("topology") else ""
            est = (f" — estimate {_fmt(a['estimate'])}, {_ci(a.get('ci'))}, n = {a.get('n')}"
                   if a.get("estimate") is not None else "")
            lines.append(f"{q.upper()}{where}: **{a['verdict']}**{est}"
                         + (f" — {a['reason']}" if a.get("reason") else ""))
    # questions these runs cannot answer (their blocks are not in the topologies run) come last, in one line
    idle = [(q, a) for q, a in answers if a.get("verdict") == NOT_APPLICABLE]
    if idle:
        ran = ", ".join(dict.fromkeys(r["topology"] for r in results["runs"])) or "no topology"
        why = dict.fromkeys(a.get("reason", "").rsplit(": ", 1)[-1] for _, a in idle)  # "<topology> has no …"
        lines.append(f"{' and '.join(q.upper() for q, _ in idle)}: not asked by these runs ({ran}), as "
                     + " and ".join(why) + "; `phazelab experiment forum` with the default topology asks "
                     + ("them." if len(idle) > 1 else "it."))
    for topology in dict.fromkeys(r["topology"] for r in results["runs"]):
        runs = [r for r in results["runs"] if r["topology"] == topology]
        arms = list(dict.fromkeys(arm_name(r) for r in runs))
        mean = {key: {a: float(np.mean([r["evals"][-1][key] for r in runs if arm_name(r) == a])) for a in arms}
                for key in ("recon_success_a", "success_ab")}
        n = len({(r["towards"], r["seed"]) for r in runs})
        steps = runs[0]["steps"]
        head = f"{topology}, after {steps} stage-2 steps ({n} replicate{'s' * (n != 1)})"
        for key, what in (("recon_success_a", "side-A success (the share of side A's reconstructions the judge "
                                              "names a2, right pose)"),
                          ("success_ab", "A→B success (the share of a2 frames swapped to b1 with a2's pose)")):
            transfer = {a: v for a, v in mean[key].items() if a != POSITIVE_CONTROL}
            control = mean[key].get(POSITIVE_CONTROL)
            ref = transfer.get("scratch@trainable")
            tail = (f"; the positive control {POSITIVE_CONTROL} (a1's own side A loaded) {control:.2f}"
                    if control is not None else "")
            if not transfer:
                lines.append(f"{head}: {what} — only the positive control ran: {control:.2f} (gate {gate}).")
            elif max(transfer.values()) == 0:
                every = ("every arm, the positive control included, is at 0.00" if control == 0 else
                         "every arm but the positive control is at 0.00")
                counted = len(transfer) + (control is not None and control == 0)  # the arms "every" names
                lines.append(f"{head}: {what} — {every} ({counted} arms; gate {gate})"
                             f"{tail if control else ''}: not trained enough to compare the arms.")
            elif max(transfer, key=transfer.get) == "scratch@trainable":
                lines.append(f"{head}: {what} — no loading strategy beat scratch (loads nothing, "
                             f"{transfer['scratch@trainable']:.2f}; gate {gate}){tail}.")
            else:
                best = max(transfer, key=transfer.get)
                lines.append(f"{head}: {what} — best {best} {transfer[best]:.2f}"
                             + (f", scratch {ref:.2f}" if ref is not None else "")
                             + f" (gate {gate}){tail}.")
        controls = [r for r in runs if arm_name(r) == POSITIVE_CONTROL]
        if controls and mean["success_ab"][POSITIVE_CONTROL] < gate:  # a control that does not swap: why
            start = float(np.mean([r["evals"][0]["success_ab"] for r in controls]))
            s1 = results["stage1"].get(topology, {}).get("gate", {}).get("success")
            own = f"stage 1 swaps its own pair's a1 at {s1:.2f}, but " if s1 is not None else ""
            lines.append(f"{topology}: why the positive control's A→B success is below the gate: {own}a2 is a "
                         f"face stage 1 never trained on; the control's A→B success on a2 frames went "
                         f"{start:.2f} (step 0) → {mean['success_ab'][POSITIVE_CONTROL]:.2f} (step {steps}).")
        censored = sum(not time_to(r, GATE_KEYS["a"], gate)[1] for r in runs)
        if censored:
            lines.append(f"{topology}: {censored} of {len(runs)} runs never reached the side-A gate within {steps} "
                         f"steps: they are censored (read as 'at least {steps}'). A longer stage 2 "
                         "(`stage2_steps` of the study config; `phazelab experiment forum --steps N`) or a GPU "
                         "would show when they get there.")
    for t, st in results["stage1"].items():
        if not st["gate"]["passed"]:
            lines.append(f"{t}: stage 1 is at {_fmt(st['gate']['success'], 2)} < {gate}: not trained enough to "
                         "build on, so no arm ran there.")
    return lines


# --------------------------------------------------------------------------------------------------
# figures
def figures(results: Mapping[str, Any], topology: str) -> dict[str, Any]:
    """Plotly figures for one topology: each MEASURES curve over stage-2 steps, one line per arm (mean
    over replicates). With ≥ 3 replicates a 95 % t band, clipped to the measure's range (a share lies in
    [0, 1], a leakage in [−1, 1]); with 2 the t band is 12.7 sd wide and says nothing, so each replicate
    is drawn as a thin line instead."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative
    from scipy.stats import t as student_t

    runs = [r for r in results["runs"] if r["topology"] == topology]
    arms = list(dict.fromkeys(arm_name(r) for r in runs))
    colour = {a: qualitative.T10[i % len(qualitative.T10)] for i, a in enumerate(arms)}
    n = len({(r["towards"], r["seed"]) for r in runs})
    figs: dict[str, Any] = {}
    for key in ("recon_success_a", "success_ab", LEAK, "recon_ssim_b"):
        low, high = (-1.0, 1.0) if key == LEAK else (0.0, 1.0)
        fig = go.Figure()
        for arm in arms:
            group = [r for r in runs if arm_name(r) == arm]
            steps = [e["step"] for e in group[0]["evals"]]
            y = np.array([[math.nan if e.get(key) is None else float(e[key]) for e in r["evals"]][:len(steps)]
                          for r in group])
            mean = np.nanmean(y, 0) if np.isfinite(y).any() else y[0]
            dash = "dot" if arm.endswith("frozen") else "dash" if arm.endswith("kickstart") else "solid"
            if len(group) >= 3:
                half = student_t.ppf(0.975, len(group) - 1) * y.std(0, ddof=1) / math.sqrt(len(group))
                upper, lower = np.clip(mean + half, low, high), np.clip(mean - half, low, high)
                fig.add_trace(go.Scatter(x=steps + steps[::-1], y=list(upper) + list(lower[::-1]),
                                         fill="toself", line=dict(width=0), fillcolor=colour[arm], opacity=0.15,
                                         hoverinfo="skip", showlegend=False, legendgroup=arm))
            elif len(group) == 2:
                for r, row in zip(group, y, strict=True):
                    fig.add_trace(go.Scatter(x=steps, y=row, mode="lines", legendgroup=arm, showlegend=False,
                                             line=dict(color=colour[arm], width=1, dash=dash), opacity=0.45,
                                             name=f"{arm} a2→{r['towards']} seed {r['seed']}"))
            fig.add_trace(go.Scatter(x=steps, y=mean, name=arm, mode="lines+markers", legendgroup=arm,
                                     line=dict(color=colour[arm], dash=dash)))
        if key in ("recon_success_a", "success_ab"):
            gate = results["study"]["gate"]
            fig.add_hline(y=gate, line_dash="dash", line_color="grey", annotation_text=f"gate {gate}")
        if key == LEAK:
            m = results["study"]["margins"]["leakage"]
            fig.add_hline(y=m, line_dash="dash", line_color="grey", annotation_text=f"margin +{m}")
        spread = ("mean of {n} replicates · 95 % t band" if n >= 3 else
                  "mean of 2 replicates · thin lines: each replicate" if n == 2 else "one replicate").format(n=n)
        fig.update_layout(title=dict(text=f"{topology}: {MEASURES[key].split(':')[0]}<br><sup>{spread}</sup>",
                                     font=dict(size=13)),
                          xaxis_title="stage-2 step", height=380, autosize=True, margin=dict(l=50, r=20, t=80, b=40),
                          legend=dict(font=dict(size=10)))
        figs[key] = fig
    return figs


def _grid_html(results: Mapping[str, Any], topology: str, out: Path | None) -> str:
    if out is None:
        return ""
    first = next(((r["towards"], r["seed"]) for r in results["runs"] if r["topology"] == topology), None)
    items = []
    for r in results["runs"]:
        if r["topology"] != topology or (r["towards"], r["seed"]) != first or not r.get("swap_grid"):
            continue
        png = out / r["swap_grid"]
        if png.is_file():
            data = base64.b64encode(png.read_bytes()).decode("ascii")
            items.append(f'<figure><img alt="swap grid" src="data:image/png;base64,{data}"><figcaption>'
                         f'{html.escape(arm_name(r))}</figcaption></figure>')
    if not items:
        return ""
    return (f"<h3>Sample swaps at the end (replicate a2→{first[0]}, seed {first[1]})</h3><p>Rows: a2 frames · "
            "A→B swap · truth (b1 with a2's factors) · b1 frames · B→A swap · truth (a2 with b1's factors).</p>"
            f"<div class=grids>{''.join(items)}</div>")


def _where(results: Mapping[str, Any]) -> str:
    machine = results.get("machine", {})
    runs = results.get("runs", [])
    compute = sum(float(r.get("train_s", 0)) + float(r.get("eval_s", 0)) for r in runs)
    finished = sorted(r["finished"] for r in runs if r.get("finished"))
    return (f"machine {machine.get('name', '?')}, device {machine.get('device', '?')}, torch "
            f"{machine.get('torch', '?')}, {machine.get('threads', '?')} thread(s); the {len(runs)} stage-2 runs took "
            f"{compute / 60:.0f} min of training and judging" + (f" (finished {finished[0]} … {finished[-1]})"
                                                                 if finished else "")
            + f"; this command: wall time {results.get('wall_s', 0):.0f} s, {len(results.get('ran', []))} trainings "
            f"run, {len(results.get('reused', []))} read back")


def _stage1_lines(results: Mapping[str, Any]) -> list[str]:
    lines = []
    for t, st in results["stage1"].items():
        g = st["gate"]
        lines.append(f"- Stage 1 {t}: `{st['path']}` (step {st.get('step')}), swap success {_fmt(g['success'], 2)} "
                     f"({g['reads']}) against the gate {g['gate']}: "
                     + ("passed" if g["passed"] else "**failed — not trained enough; its arms were not run**"))
    for sk in results.get("skipped", []):
        lines.append(f"- Skipped {sk['topology']} {sk['strategy']}@{sk['mode']}: {sk['reason']}")
    return lines


def render_html(results: Mapping[str, Any], out: str | Path | None = None) -> str:
    """The self-contained report page: answers, stage-1 gates, per-topology arm tables, curves, grids."""
    from plotly.offline import get_plotlyjs

    out = Path(out) if out is not None else None
    command = results.get("command", "phazelab experiment forum")
    parts = [f"<!doctype html><html><head><meta charset=utf-8><title>phazelab forum study</title>"
             f"<style>{_CSS}</style><script>{get_plotlyjs()}</script></head><body>",
             "<h1>Forum study: reusing Face B with a new Face A</h1>",
             f"<p>Command <code>{html.escape(command)}</code> · {html.escape(_where(results))}</p>",
             "<h2>The three answers (generated by the rules from the numbers below)</h2>",
             f"<div class=answer>{to_html(answers_markdown(results))}</div>",
             "<h2>Stage 1 and gates</h2>", to_html("\n".join(_stage1_lines(results))),
             "<h2>Settings</h2>", pd.DataFrame({"setting": list(results["study"]),
                                                "value": [json.dumps(v) for v in results["study"].values()]}
                                               ).to_html(index=False),
             "<h2>Measures</h2><ul>", *[f"<li><b>{k}</b>: {html.escape(v)}</li>" for k, v in MEASURES.items()],
             "</ul>"]
    for topology in dict.fromkeys(r["topology"] for r in results["runs"]):
        plan = results["plans"].get(topology, {})
        parts.append(f"<h2>Topology: {html.escape(topology)}</h2>")
        if plan:
            parts.append(f"<p>Side A path: {html.escape(' → '.join(plan['side_a']))}; side B path: "
                         f"{html.escape(' → '.join(plan['side_b']))}.</p>")
        parts.append(arm_table(results, topology).to_html(index=False, escape=True))
        nulls = results.get("nulls", {}).get(topology, {})
        for name, rep in nulls.get("replicates", {}).items():
            b = rep["baselines"]
            ab, ba = b["a_to_b"], b["b_to_a"]
            parts.append(f"<p><small>Replicate {html.escape(name)}: a2 at {rep['distance_a1_a2']:.2f} from a1, "
                         f"placebos {rep['placebos']}; baselines A→B success: b1's mean face "
                         f"{ab['mean_face_b']['success']:.2f}, copy of a2 {ab['copy_a']['success']:.2f}; B→A: "
                         f"a2's mean face {ba['mean_face_b']['success']:.2f}, copy of b1 "
                         f"{ba['copy_a']['success']:.2f}.</small></p>")
        for fig in figures(results, topology).values():
            parts.append(fig.to_html(full_html=False, include_plotlyjs=False, config={"responsive": True}))
        parts.append(_grid_html(results, topology, out))
    parts.append("</body></html>")
    return "\n".join(parts)


def markdown_section(results: Mapping[str, Any]) -> str:
    """The study for a README: command and machine, the answers, stage-1 gates and one arm table per
    topology. Only numbers from `results`."""
    from ..markdown import table as md_table

    s = results["study"]
    lines = [f"Command: `{results.get('command', 'phazelab experiment forum')}` · {_where(results)}.", "",
             f"Design: stage 1 from `{s['stage1_from']}` (gate: swap success ≥ {s['gate']}); {len(s['a2_towards'])} "
             f"a2 identities (a1 moved {s['a2_distance']} of the way towards hard-world identity "
             f"{', '.join(map(str, s['a2_towards']))}) × {s['seeds']} seed(s), paired across arms; "
             f"{s['stage2_steps']} stage-2 steps, judged every {s['eval_every']} on {s['eval_n']} frames; "
             f"{s['n_placebos']} placebo identities per replicate.", "",
             answers_markdown(results), *_stage1_lines(results), ""]
    for topology in dict.fromkeys(r["topology"] for r in results["runs"]):
        lines += [f"**{topology}** (mean ± sd over replicates)", "", md_table(arm_table(results, topology)), ""]
    return "\n".join(lines)


def write_outputs(results: dict[str, Any], out: str | Path) -> dict[str, Path]:
    """Write results.json, results.csv, arms.csv, answers.md and report.html into `out` (atomically)."""
    out = Path(out)
    paths = {name: out / name for name in ("results.json", "results.csv", "arms.csv", "answers.md", "report.html")}
    atomic_write_text(paths["results.json"], json.dumps(clean_json(results), allow_nan=False, indent=1))
    atomic_write_text(paths["results.csv"], tidy(results).to_csv(index=False))
    tables = [arm_table(results, t).assign(topology=t) for t in dict.fromkeys(r["topology"] for r in results["runs"])]
    atomic_write_text(paths["arms.csv"], (pd.concat(tables) if tables else pd.DataFrame()).to_csv(index=False))
    atomic_write_text(paths["answers.md"], answers_markdown(results))
    atomic_write_text(paths["report.html"], render_html(results, out))
    return paths
