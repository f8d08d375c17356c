"""The forum study's outputs: tidy tables, a summary generated from the numbers, and a self-contained report.

Every sentence of the summary is produced from the results by a rule stated in the sentence itself
(fastest run, largest value, compared with scratch and with a noise level); nothing is typed in as a
conclusion. `write_outputs` writes results.json (everything), results.csv (one row per run × metric),
aggregate.csv (mean ± sd over seeds), summary.md and report.html, each atomically.
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

from ..weights import atomic_write_text
from .measures import clean_json, trailing_mean

__all__ = ["METRICS", "aggregate", "block_table", "markdown_section", "render_html", "summarize", "table_html", "tidy",
           "write_outputs"]

# Per-run scalar metrics (name: what it is), in report order.
METRICS: Mapping[str, str] = {
    "steps_to_target_a": "steps until side A's trailing loss ≤ target (empty: never)",
    "steps_to_target_b": "steps until side B's trailing loss ≤ target",
    "time_to_target_a": "training seconds until side A's target",
    "time_to_target_b": "training seconds until side B's target",
    "loss_b_step0": "side B loss on the first batch, before any update",
    "recon_ssim_b_step0": "held-out b1 reconstruction SSIM through side B at step 0",
    "recon_ssim_b_final": "held-out b1 reconstruction SSIM at the end",
    "recon_ssim_a_final": "held-out a2 reconstruction SSIM through side A at the end",
    "final_loss_a": "side A trailing training loss at the end",
    "final_loss_b": "side B trailing training loss at the end",
    "swap_ssim_ab": "GT swap SSIM, a2 → side B vs b1 rendered with a2's factors",
    "swap_ssim_ba": "GT swap SSIM, b1 → side A vs a2 rendered with b1's factors",
    "leakage_final": "a1 leakage on side A at the end: where side A's outputs for a2 frames sit on the line "
                     "from a2's render (0) to a1's (1), renders blur-matched (analysis.leakage); values "
                     "outside [0, 1] mean the outputs are far from both renders along that line",
    "leakage_max": "largest a1 leakage on side A over training (after step 0)",
    "closer_to_old_final": "fraction of side A's outputs for a2 frames nearer (MSE) to a1's render than a2's",
    "train_s": "training wall time (seconds, evaluations excluded)",
}
_KEYS = ["topology", "strategy", "mode"]


def _label(strategy: str, mode: str) -> str:
    return f"{strategy} @ {mode}"


def _num(value: Any) -> float:
    return float("nan") if value is None else float(value)


# --------------------------------------------------------------------------------------------------
# tables
def tidy(results: Mapping[str, Any]) -> pd.DataFrame:
    """One row per run × metric: topology, seed, strategy, mode, metric, value.

    Per-block values are metrics named drift:<block>, cka_a:<block> and cka_b:<block>."""
    rows = []
    for r in results["runs"]:
        base = {"topology": r["topology"], "seed": r["seed"], "strategy": r["strategy"], "mode": r["mode"]}
        for metric in METRICS:
            rows.append({**base, "metric": metric, "value": _num(r.get(metric))})
        for kind in ("drift", "cka_a", "cka_b"):
            for block, value in (r.get(kind) or {}).items():
                rows.append({**base, "metric": f"{kind}:{block}", "value": _num(value)})
    return pd.DataFrame(rows, columns=["topology", "seed", "strategy", "mode", "metric", "value"])


def aggregate(results: Mapping[str, Any]) -> pd.DataFrame:
    """Mean, sd and count over seeds per topology × strategy × mode, plus the speed-up over scratch.

    `<metric>_n` counts the seeds with a value: for steps_to_target it is how many seeds reached the
    target (the mean is over those). speedup_a/b = scratch's mean steps / this run's mean steps.
    """
    runs = pd.DataFrame([{**{k: r[k] for k in [*_KEYS, "seed"]}, **{m: _num(r.get(m)) for m in METRICS}}
                         for r in results["runs"]], columns=[*_KEYS, "seed", *METRICS])
    if runs.empty:
        return pd.DataFrame(columns=[*_KEYS, "seeds"])
    g = runs.groupby(_KEYS, sort=False)
    table = pd.DataFrame({"seeds": g["seed"].nunique()})
    for metric in METRICS:
        table[metric] = g[metric].mean()
        table[f"{metric}_sd"] = g[metric].std(ddof=1)
        table[f"{metric}_n"] = g[metric].count().astype(int)
    table = table.reset_index()
    for side in "ab":
        col = f"steps_to_target_{side}"
        scratch = table[table["strategy"] == "scratch"].set_index("topology")[col] if col in table else None
        if scratch is not None:
            table[f"speedup_{side}"] = [
                scratch.get(t, np.nan) / v if v and not math.isnan(v) else np.nan
                for t, v in zip(table["topology"], table[col])]
    return table  # groupby(sort=False): topologies and runs in the order the study ran them


def block_table(results: Mapping[str, Any]) -> pd.DataFrame:
    """Weight drift and CKA against stage 1 per topology × strategy × mode × block (mean, sd over seeds)."""
    frame = tidy(results)
    frame = frame[frame["metric"].str.contains(":")]
    if frame.empty:
        return pd.DataFrame(columns=[*_KEYS, "block"])
    parts = frame["metric"].str.split(":", n=1, expand=True)
    frame = frame.assign(kind=parts[0], block=parts[1])
    g = frame.groupby([*_KEYS, "block", "kind"], sort=False)["value"]
    stats = pd.DataFrame({"mean": g.mean(), "sd": g.std(ddof=1)}).reset_index()
    wide = stats.pivot_table(index=[*_KEYS, "block"], columns="kind", values=["mean", "sd"], sort=False,
                             dropna=False)
    wide.columns = [k if s == "mean" else f"{k}_sd" for s, k in wide.columns]
    return wide.reset_index()


# --------------------------------------------------------------------------------------------------
# the generated summary
def _fmt(v: float, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if abs(v) >= 10 ** digits or (float(v).is_integer() and abs(v) >= 10):
        return f"{v:.0f}"
    return f"{v:#.{digits}g}" if abs(v) >= 1 else f"{v:.{digits}f}"


def _pm(row: Mapping[str, Any], metric: str, digits: int = 3) -> str:
    sd = row.get(f"{metric}_sd", float("nan"))
    text = _fmt(row[metric], digits)
    return text if sd is None or math.isnan(sd) else f"{text} ± {_fmt(sd, digits)}"


def _leakage_noise(results: Mapping[str, Any], topology: str) -> tuple[float, str]:
    """Scratch's spread: sd of its final leakage over seeds (≥ 2 seeds), else sd over its evaluations in
    the second half of training (1 seed). Scratch never saw a1, so its spread is the noise level."""
    runs = [r for r in results["runs"] if r["topology"] == topology and r["strategy"] == "scratch"]
    finals = [r["leakage_final"] for r in runs if r.get("leakage_final") is not None]
    if len(finals) >= 2:
        return float(np.std(finals, ddof=1)), f"sd of scratch's final leakage over {len(finals)} seeds"
    if runs:
        evals = runs[0].get("evals") or []
        late = [e["leakage"] for e in evals if e["step"] * 2 >= runs[0]["steps"] and e["leakage"] is not None]
        if len(late) >= 2:
            return (float(np.std(late, ddof=1)),
                    f"sd of scratch's leakage over its {len(late)} evaluations in the second half (1 seed)")
    return float("nan"), "no scratch spread available"


def _fastest(table: pd.DataFrame, side: str, steps: int) -> str:
    col = f"steps_to_target_{side}"
    scratch = table[table["strategy"] == "scratch"]
    scratch_v = float(scratch[col].iloc[0]) if len(scratch) else float("nan")
    reached = table[table[col].notna()]
    seeds = int(table["seeds"].max()) if len(table) else 0
    if reached.empty:
        return f"no run reached the target on {side.upper()} within {steps} steps."
    best = reached.loc[reached[col].idxmin()]
    scratch_text = (f"{_fmt(scratch_v)} for scratch" if not math.isnan(scratch_v)
                    else f"scratch did not reach it in {steps} steps")
    name = _label(best["strategy"], best["mode"])
    text = f"fastest to target on {side.upper()}: {name} ({_pm(best, col)} steps vs {scratch_text}"
    if not math.isnan(scratch_v) and best[col] > 0:
        text += f", {scratch_v / best[col]:.3g}× faster"
    text += ")"
    if seeds > 1 and best[f"{col}_n"] < best["seeds"]:
        text += f"; it reached the target in {int(best[f'{col}_n'])} of {int(best['seeds'])} seeds"
    never = table[table[col].isna()]
    if len(never):
        text += "; never reached: " + ", ".join(map(_label, never["strategy"], never["mode"]))
    return text + "."


def _extreme(table: pd.DataFrame, metric: str, largest: bool, what: str) -> str:
    rows = table[table[metric].notna()]
    if rows.empty:
        return f"{what}: no values."
    best = rows.loc[rows[metric].idxmax() if largest else rows[metric].idxmin()]
    scratch = rows[rows["strategy"] == "scratch"]
    text = f"{what}: {_label(best['strategy'], best['mode'])} {_pm(best, metric)}"
    if len(scratch) and best["strategy"] != "scratch":
        text += f" (scratch {_pm(scratch.iloc[0], metric)})"
    return text + "."


def summarize(results: Mapping[str, Any], table: pd.DataFrame | None = None) -> list[str]:
    """Sentences stating what the numbers show, per topology (see the module docstring)."""
    table = aggregate(results) if table is None else table
    study = results["study"]
    out: list[str] = []
    n_runs = len({(r["strategy"], r["mode"]) for r in results["runs"]})
    if study.get("quick"):
        caveat = (" — one seed gives no spread over seeds, so differences may be noise."
                  if study["seeds"] < 2 else ".")
        out.append(f"Quick mode: {study['seeds']} seed(s), {n_runs} strategy × mode runs per topology "
                   f"(not all), preset {study['preset']}, batch {study['batch']}, {study['stage1_steps']} "
                   f"stage-1 and {study['stage2_steps']} stage-2 steps{caveat}")
    blocks = block_table(results)
    for topology in dict.fromkeys(r["topology"] for r in results["runs"]):
        t = table[table["topology"] == topology]
        steps = study["stage2_steps"]
        prefix = f"[{topology}] "
        out.append(prefix + _fastest(t, "a", steps))
        out.append(prefix + _fastest(t, "b", steps))
        out.append(prefix + _extreme(t, "loss_b_step0", False, "lowest side-B loss at step 0"))
        out.append(prefix + _extreme(t, "recon_ssim_b_step0", True, "highest held-out B SSIM at step 0"))
        out.append(prefix + _extreme(t, "swap_ssim_ab", True, "best final GT swap SSIM A→B"))
        out.append(prefix + _extreme(t, "swap_ssim_ba", True, "best final GT swap SSIM B→A"))
        out.append(prefix + _leakage_sentence(results, t, topology))
        out.append(prefix + _extreme(t, "closer_to_old_final", True,
                                     "largest share of side-A outputs for a2 nearer a1's render than a2's"))
        out.append(prefix + _drift_sentence(results, blocks, topology))
    for skip in results.get("skipped", []):
        name = _label(skip["strategy"], skip["mode"])
        out.append(f"[{skip['topology']}] {name} not run: {skip['reason']}.")
    if "wall_s" in results:
        ran, reused = len(results.get("ran", [])), len(results.get("reused", []))
        out.append(f"This invocation took {results['wall_s']:.0f} s wall time ({ran} trainings run, {reused} "
                   "read back from earlier invocations).")
    return out


def _leakage_sentence(results: Mapping[str, Any], t: pd.DataFrame, topology: str) -> str:
    rows = t[t["leakage_final"].notna()]
    if rows.empty:
        return "a1 leakage: no values."
    noise, how = _leakage_noise(results, topology)
    best = rows.loc[rows["leakage_final"].idxmax()]
    scratch = rows[rows["strategy"] == "scratch"]
    name = _label(best["strategy"], best["mode"])
    text = f"largest final a1 leakage on side A: {name} {_pm(best, 'leakage_final')}"
    if len(scratch):
        base = float(scratch["leakage_final"].iloc[0])
        text += f" (scratch {_fmt(base)}; noise level {_fmt(noise)} = {how})"
        if not math.isnan(noise):
            over = rows[(rows["strategy"] != "scratch") & (rows["leakage_final"] > base + 2 * noise)]
            if len(over):
                text += "; above scratch + 2 × noise: " + ", ".join(
                    f"{_label(s, m)} ({_fmt(v)})" for s, m, v in zip(over["strategy"], over["mode"],
                                                                       over["leakage_final"]))
            else:
                text += "; no run is above scratch + 2 × noise"
    return text + "."


def _drift_sentence(results: Mapping[str, Any], blocks: pd.DataFrame, topology: str) -> str:
    loaded = {(r["strategy"], r["mode"]): (set(r["load"]), set(r["freeze"]), r["unfreeze_at"])
              for r in results["runs"] if r["topology"] == topology}
    b = blocks[blocks["topology"] == topology] if "drift" in blocks else blocks.iloc[0:0]
    trained, frozen = [], []
    for _, row in b.iterrows():
        load, freeze, unfreeze = loaded.get((row["strategy"], row["mode"]), (set(), set(), None))
        if row["block"] not in load or math.isnan(row["drift"]):
            continue
        (frozen if row["block"] in freeze and unfreeze is None else trained).append(row)
    parts = []
    if trained:
        top = max(trained, key=lambda r: r["drift"])
        side = "a" if not math.isnan(top.get("cka_a", float("nan"))) else "b"
        parts.append(f"largest relative weight drift of a loaded, trained block: {top['block']} in "
                     f"{_label(top['strategy'], top['mode'])} ({_fmt(top['drift'])}, CKA vs stage 1 on side "
                     f"{side.upper()}'s path {_fmt(top.get(f'cka_{side}', float('nan')))})")
    if frozen:
        parts.append(f"largest drift of a block frozen throughout: {_fmt(max(r['drift'] for r in frozen))}")
    return ("; ".join(parts) if parts else "no loaded blocks to compare with stage 1") + "."


# --------------------------------------------------------------------------------------------------
# HTML
_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1200px;padding:0 16px;color:#222}
table{border-collapse:collapse;margin:8px 0 16px;font-size:12px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f3f3f3} td:first-child,th:first-child{text-align:left}
.grids{display:flex;flex-wrap:wrap;gap:16px} .grids figure{margin:0}
.grids img{image-rendering:pixelated;width:256px;border:1px solid #ccc}
code{background:#f3f3f3;padding:1px 3px}
"""


def figures(results: Mapping[str, Any], topology: str) -> dict[str, Any]:
    """The study's plotly figures for one topology, keyed by name: "loss_a", "loss_b" (stage-2 training
    loss), "leakage", "recon_ssim_b", "steps_to_target", and "drift" / "cka_a" heatmaps when measured."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    runs = [r for r in results["runs"] if r["topology"] == topology]
    smooth = int(results["study"].get("smooth", 1))
    labels = list(dict.fromkeys(_label(r["strategy"], r["mode"]) for r in runs))
    palette = qualitative.T10 + qualitative.Pastel
    colour = {lab: palette[i % len(palette)] for i, lab in enumerate(labels)}
    figs: dict[str, Any] = {}
    for side in "ab":
        fig = go.Figure()
        for lab in labels:
            group = [r for r in runs if _label(r["strategy"], r["mode"]) == lab]
            n = min(len(r["curves"]["step"]) for r in group)
            y = np.mean([trailing_mean(r["curves"][f"loss_{side}"][:n], smooth) for r in group], axis=0)
            fig.add_trace(go.Scatter(x=group[0]["curves"]["step"][:n], y=y, name=lab, mode="lines",
                                     line=dict(color=colour[lab], dash="dot" if "frozen" in lab else
                                               "dash" if "kickstart" in lab else "solid")))
        target = np.mean([r[f"target_{side}"] for r in runs])
        # on a log axis plotly places shapes in log10 units: the target line goes at log10(target)
        fig.add_hline(y=float(np.log10(target)), line_dash="dash", line_color="grey",
                      annotation_text=f"target {target:.4g}", annotation_position="top right")
        fig.update_layout(title=f"{topology}: side {side.upper()} training loss (trailing mean over {smooth} "
                                f"steps, mean over seeds)", xaxis_title="stage-2 step", yaxis_title="loss",
                          yaxis_type="log", height=420, autosize=True)
        figs[f"loss_{side}"] = fig
    for key, title in (("leakage", "a1 leakage on side A (0 = none; scratch never saw a1)"),
                       ("recon_ssim_b", "held-out b1 reconstruction SSIM through side B")):
        fig = go.Figure()
        for lab in labels:
            group = [r for r in runs if _label(r["strategy"], r["mode"]) == lab]
            steps = [e["step"] for e in group[0]["evals"]]
            y = np.nanmean([[_num(e[key]) for e in r["evals"]][:len(steps)] for r in group], axis=0)
            fig.add_trace(go.Scatter(x=steps, y=y, name=lab, mode="lines+markers",
                                     line=dict(color=colour[lab])))
        fig.update_layout(title=f"{topology}: {title}, mean over seeds", xaxis_title="stage-2 step",
                          height=380, autosize=True)
        figs[key] = fig
    table = aggregate({**results, "runs": runs})
    fig = go.Figure()
    for side in "ab":
        col = f"steps_to_target_{side}"
        fig.add_trace(go.Bar(x=list(map(_label, table["strategy"], table["mode"])), y=table[col],
                             name=f"side {side.upper()}",
                             error_y=dict(type="data", array=table[f"{col}_sd"])))
    fig.update_layout(title=f"{topology}: steps to target (mean ± sd over seeds; missing bar = never)",
                      barmode="group", yaxis_title="steps", height=380, autosize=True)
    figs["steps_to_target"] = fig
    blocks = block_table({**results, "runs": runs})
    for kind, title, zmax in (("drift", "relative weight drift vs stage 1", None),
                              ("cka_a", "linear CKA vs stage 1 (side A path, a2 frames)", 1.0)):
        if kind not in blocks:
            continue
        m = blocks.assign(run=[_label(s, mo) for s, mo in zip(blocks["strategy"], blocks["mode"])]) \
            .pivot_table(index="run", columns="block", values=kind, sort=False)
        fig = go.Figure(go.Heatmap(z=m.to_numpy(), x=list(m.columns), y=list(m.index), zmin=0, zmax=zmax,
                                   colorscale="Viridis", texttemplate="%{z:.2f}"))
        fig.update_layout(title=f"{topology}: {title}", yaxis_autorange="reversed", height=120 + 28 * len(m),
                          autosize=True)
        figs[kind] = fig
    return figs


def table_html(table: pd.DataFrame) -> str:
    """The aggregate table as HTML: every cell a number or a reason ("never": no seed reached the target;
    "n/a (...)": why a value cannot be computed)."""
    show = table.copy()
    for metric in METRICS:
        if metric in show:
            if metric.startswith(("steps_to_target_", "time_to_target_")):
                show[metric] = [_reached_metric(row, metric) for _, row in show.iterrows()]
            else:
                show[metric] = [_pm(row, metric) for _, row in show.iterrows()]
    cols = ["strategy", "mode", "seeds", *[m for m in METRICS if m in show],
            *[c for c in ("speedup_a", "speedup_b") if c in show]]
    show = show[cols]
    for c in ("speedup_a", "speedup_b"):
        if c in show:
            show[c] = [_fmt(v) if not (isinstance(v, float) and math.isnan(v))
                       else "n/a (this run or scratch never reached the target)" for v in show[c]]
    return show.to_html(index=False, escape=True, na_rep="n/a (not measured)")


def _reached_metric(row: Mapping[str, Any], metric: str) -> str:
    n, seeds = int(row.get(f"{metric}_n", 0)), int(row["seeds"])
    if n == 0:
        return "never"
    return _pm(row, metric) + ("" if n == seeds else f" ({n}/{seeds} seeds)")


def _grid_html(results: Mapping[str, Any], topology: str, out: Path | None) -> str:
    if out is None:
        return ""
    items = []
    seed0 = min((r["seed"] for r in results["runs"] if r["topology"] == topology), default=0)
    for r in results["runs"]:
        if r["topology"] != topology or r["seed"] != seed0 or not r.get("swap_grid"):
            continue
        png = out / r["swap_grid"]
        if not png.is_file():
            continue
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        items.append(f'<figure><img alt="swap grid" src="data:image/png;base64,{data}"><figcaption>'
                     f'{html.escape(_label(r["strategy"], r["mode"]))}</figcaption></figure>')
    if not items:
        return ""
    return (f"<h3>Sample swaps (seed {seed0})</h3><p>Rows: a2 frames · A→B swap · ground truth (b1 with a2's "
            "factors) · b1 frames · B→A swap · ground truth (a2 with b1's factors).</p>"
            f"<div class=grids>{''.join(items)}</div>")


def render_html(results: Mapping[str, Any], out: str | Path | None = None, table: pd.DataFrame | None = None,
                summary: Sequence[str] | None = None) -> str:
    """The self-contained report page (plotly.js embedded once; swap grids from `out` as data URIs)."""
    from plotly.offline import get_plotlyjs

    out = Path(out) if out is not None else None
    table = aggregate(results) if table is None else table
    summary = summarize(results, table) if summary is None else summary
    study, machine = results["study"], results.get("machine", {})
    where = [results.get("finished", ""), machine.get("name", ""), f"device {machine.get('device', '')}",
             f"torch {machine.get('torch', '')}"]
    if results.get("wall_s") is not None:
        where.append(f"wall time {results['wall_s']:.0f} s")
    command = f" · command <code>{html.escape(results['command'])}</code>" if results.get("command") else ""
    settings = pd.DataFrame({"setting": list(study), "value": [json.dumps(v) for v in study.values()]})
    identities = html.escape(json.dumps(results.get("identities", {})))
    parts = [f"<!doctype html><html><head><meta charset=utf-8><title>phazelab forum study</title>"
             f"<style>{_CSS}</style><script>{get_plotlyjs()}</script></head><body>",
             "<h1>Forum study: reusing Face B with a new Face A</h1>",
             f"<p>{html.escape(' · '.join(str(w) for w in where))}{command}</p>",
             "<h2>Summary (generated from the numbers)</h2><ul>",
             *[f"<li>{html.escape(s)}</li>" for s in summary], "</ul>",
             "<h2>Settings</h2>", settings.to_html(index=False),
             f"<p>Identities: {identities}. Target loss: stage 1's trailing loss after target_fraction × "
             "stage-2 steps (or target_loss). Metrics:</p><ul>",
             *[f"<li><b>{m}</b>: {html.escape(d)}</li>" for m, d in METRICS.items()], "</ul>"]
    for topology in dict.fromkeys(r["topology"] for r in results["runs"]):
        plan = results.get("plans", {}).get(topology, {})
        parts.append(f"<h2>Topology: {html.escape(topology)}</h2>")
        if plan:
            parts.append(f"<p>Blocks: {html.escape(', '.join(plan['blocks']))}. Side A path: "
                         f"{html.escape(' → '.join(plan['side_a']))}; side B path: "
                         f"{html.escape(' → '.join(plan['side_b']))}.</p>")
            rows = [{"strategy": k, "loads": ", ".join(v["load"]) or "-",
                     "absent here": ", ".join(v["absent"]) or "-"} for k, v in plan["strategies"].items()]
            parts.append(pd.DataFrame(rows).to_html(index=False))
        parts.append(table_html(table[table["topology"] == topology]))
        for fig in figures(results, topology).values():
            parts.append(fig.to_html(full_html=False, include_plotlyjs=False))
        parts.append(_grid_html(results, topology, out))
    parts.append("</body></html>")
    return "\n".join(parts)


def _reached(row: Mapping[str, Any], side: str) -> str:
    metric = f"steps_to_target_{side}"
    n, seeds = int(row.get(f"{metric}_n", 0)), int(row["seeds"])
    if n == 0:
        return "never"
    return _pm(row, metric) + ("" if n == seeds else f" ({n}/{seeds} seeds)")


def markdown_section(results: Mapping[str, Any], table: pd.DataFrame | None = None,
                     summary: Sequence[str] | None = None) -> str:
    """The study as markdown for a README: where and how it ran, one table per topology (mean ± sd over
    seeds), and the generated summary. Only numbers from `results`."""
    from ..markdown import table as md_table

    table = aggregate(results) if table is None else table
    summary = summarize(results, table) if summary is None else summary
    study, machine = results["study"], results.get("machine", {})
    lines = [f"Command: `{results.get('command', 'phazelab experiment forum')}` · machine: "
             f"{machine.get('name', '?')}, device {machine.get('device', '?')}, torch {machine.get('torch', '?')}, "
             f"{machine.get('threads', '?')} torch thread(s) · finished {results.get('finished', '?')} · wall time "
             f"{results.get('wall_s', float('nan')):.0f} s ({len(results.get('ran', []))} trainings run, "
             f"{len(results.get('reused', []))} read back).",
             "",
             f"Settings: preset {study['preset']}, batch {study['batch']} per side, {study['seeds']} seed(s), "
             f"{study['stage1_steps']} stage-1 + {study['stage2_steps']} stage-2 steps, Adam lr {study['lr']:g}, "
             f"a2 = a1's sibling at distance "
             f"{study['sibling_distance']}. Values are mean ± sd over seeds.", ""]
    for topology in dict.fromkeys(r["topology"] for r in results["runs"]):
        rows = []
        for _, row in table[table["topology"] == topology].iterrows():
            run = next(r for r in results["runs"] if (r["topology"], r["strategy"], r["mode"])
                       == (topology, row["strategy"], row["mode"]))
            frozen = " (frozen)" if row["mode"] == "frozen" else (
                f" (frozen until step {run['unfreeze_at']})" if row["mode"] == "kickstart" else "")
            rows.append({
                "strategy @ mode": _label(row["strategy"], row["mode"]),
                "loaded": (", ".join(run["load"]) or "–") + (frozen if run["load"] else ""),
                "steps to target A / B": f"{_reached(row, 'a')} / {_reached(row, 'b')}",
                "B loss step 0": _pm(row, "loss_b_step0"),
                "held-out B SSIM step 0 → end":
                    f"{_pm(row, 'recon_ssim_b_step0')} → {_pm(row, 'recon_ssim_b_final')}",
                "GT swap SSIM A→B / B→A": f"{_pm(row, 'swap_ssim_ab')} / {_pm(row, 'swap_ssim_ba')}",
                "a1 leakage end (share nearer a1)":
                    f"{_pm(row, 'leakage_final')} ({_pm(row, 'closer_to_old_final', 2)})",
                "training s": _pm(row, "train_s"),
            })
        runs = [r for r in results["runs"] if r["topology"] == topology]
        targets = {side: _fmt(float(np.mean([r[f"target_{side}"] for r in runs]))) for side in "ab"}
        lines += [f"**Topology: {topology}** (target loss A {targets['a']}, B {targets['b']})", "",
                  md_table(pd.DataFrame(rows)), ""]
    lines += ["Generated summary (`summary.md`, each sentence computed from the table by the rule it states):", ""]
    lines += [f"- {s}" for s in summary]
    return "\n".join(lines)


def write_outputs(results: dict[str, Any], out: str | Path) -> dict[str, Path]:
    """Add the aggregate table and summary to `results`; write results.json, results.csv, aggregate.csv,
    summary.md and report.html into `out` (atomically). Returns the paths."""
    out = Path(out)
    table = aggregate(results)
    summary = summarize(results, table)
    results["aggregate"] = table.to_dict(orient="records")
    results["blocks"] = block_table(results).to_dict(orient="records")
    results["summary"] = summary
    paths = {name: out / name for name in ("results.json", "results.csv", "aggregate.csv", "summary.md",
                                           "report.html")}
    atomic_write_text(paths["results.json"], json.dumps(clean_json(results), allow_nan=False, indent=1))
    atomic_write_text(paths["results.csv"], tidy(results).to_csv(index=False))
    atomic_write_text(paths["aggregate.csv"], table.to_csv(index=False))
    atomic_write_text(paths["summary.md"], "\n".join(f"- {s}" for s in summary) + "\n")
    atomic_write_text(paths["report.html"], render_html(results, out, table, summary))
    return paths
