"""Plotly figures for the analysis: latent maps with face thumbnails, metric bars, loss curves, swap grids,
CKA heatmaps. Plots take arrays/tables and return figures; `as_widget=True` gives a `go.FigureWidget` for
notebooks, and `write_html` writes a self-contained static page (atomically).

Thumbnails in `latent_scatter`: each point's `customdata` row is [row index, PNG data URI, *hover
columns]. Plotly's own hover box cannot show images, so
* in static HTML, `write_html` adds a small script: the face follows the cursor on hover, and a box or
  lasso selection lists the selected faces under the plot;
* in a notebook, a `FigureWidget`'s `trace.on_hover` / `on_click` / `on_selection` callbacks get point
  indices; `fig.data[t].customdata[i][1]` is that face (e.g. for an `ipywidgets.HTML` or `Image`).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from PIL import Image

_PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#EECA3B", "#B279A2", "#FF9DA6",
            "#9D755D", "#BAB0AC")


def _out(fig: go.Figure, as_widget: bool) -> go.Figure:
    return go.FigureWidget(fig) if as_widget else fig


# -------------------------------------------------------------------------------------------------
# images
def _as_images(x: Any, name: str = "images") -> torch.Tensor:
    """(N, 3, H, W) float in [0, 1] on the CPU from a tensor/array (a single (3, H, W) image too)."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).detach().float().cpu()
    if t.ndim == 3:
        t = t[None]
    if t.ndim != 4 or t.shape[1] not in (1, 3):
        raise ValueError(f"{name} must be (N, 3, H, W) or (3, H, W) images in [0, 1], got {list(t.shape)}")
    if t.shape[1] == 1:
        t = t.expand(-1, 3, -1, -1)
    return t.clamp(0, 1)


def _resize(t: torch.Tensor, size: int) -> torch.Tensor:
    if t.shape[-1] == size and t.shape[-2] == size:
        return t
    return F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def _to_uint8(t: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) [0, 1] -> (N, H, W, 3) uint8."""
    return (t.permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)


def thumbnail_uris(images: Any, size: int = 48) -> list[str]:
    """Each image as a small PNG data URI (for hover thumbnails)."""
    pixels = _to_uint8(_resize(_as_images(images, "thumbnails"), size))
    uris = []
    for px in pixels:
        buf = io.BytesIO()
        Image.fromarray(px).save(buf, format="PNG", optimize=False)
        uris.append("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii"))
    return uris


def tile(images: Any, nrow: int = 8, padding: int = 2, fill: float = 1.0) -> np.ndarray:
    """(N, 3, H, W) images → one (H', W', 3) uint8 grid, `nrow` images per row."""
    t = _as_images(images)
    if nrow < 1:
        raise ValueError(f"nrow must be >= 1, got {nrow}")
    n, _, h, w = t.shape
    cols = min(nrow, n)
    rows = -(-n // cols)
    grid = torch.full((3, rows * (h + padding) + padding, cols * (w + padding) + padding), fill)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = padding + r * (h + padding), padding + c * (w + padding)
        grid[:, y:y + h, x:x + w] = t[i]
    return _to_uint8(grid[None])[0]


def _image_figure(pixels: np.ndarray, title: str | None) -> go.Figure:
    fig = go.Figure(go.Image(z=pixels, hoverinfo="skip"))
    h, w = pixels.shape[:2]
    # 2 screen px per image px up to 900 px wide; no fixed width, so a narrower output scales the image
    # down (plotly keeps an Image's pixels square) instead of cutting its last columns off
    scale = min(2.0, 860 / w)
    fig.update_layout(title=title, margin=dict(l=10, r=10, t=40 if title else 10, b=10), autosize=True,
                      height=min(1000, int(h * scale) + (60 if title else 20)))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def image_grid_figure(tensor: Any, nrow: int = 8, title: str | None = None, padding: int = 2,
                      as_widget: bool = False) -> go.Figure:
    """A batch of images (N, 3, H, W) in [0, 1] as one tiled image."""
    return _out(_image_figure(tile(tensor, nrow, padding), title), as_widget)


def swap_grid(inputs: Any, outputs: Any, targets: Any, n: int = 8,
              labels: Sequence[str] = ("input", "swap", "ground truth"), title: str | None = None,
              as_widget: bool = False) -> go.Figure:
    """Rows: input faces, the model's swaps, the ground-truth swaps; columns: the first `n` samples."""
    rows = [_as_images(x, name)[:n] for x, name in ((inputs, "inputs"), (outputs, "outputs"),
                                                     (targets, "targets"))]
    if len({r.shape[0] for r in rows}) != 1:
        raise ValueError(f"swap_grid: inputs, outputs and targets have {[r.shape[0] for r in rows]} images; "
                         "they must match")
    if len(labels) != 3:
        raise ValueError(f"swap_grid: labels must name the 3 rows, got {list(labels)}")
    size = max(r.shape[-1] for r in rows)
    k, pad = rows[0].shape[0], 2
    pixels = tile(torch.cat([_resize(r, size) for r in rows]), nrow=k, padding=pad)
    fig = _image_figure(pixels, title)
    fig.update_yaxes(visible=True, showgrid=False, zeroline=False, tickmode="array",
                     tickvals=[pad + i * (size + pad) + size / 2 for i in range(3)], ticktext=list(labels))
    fig.update_layout(margin=dict(l=100))
    return _out(fig, as_widget)


# -------------------------------------------------------------------------------------------------
# latent maps
def _is_categorical(s: pd.Series) -> bool:
    return not pd.api.types.is_float_dtype(s)


def latent_scatter(coords: Any, frame: pd.DataFrame | None = None, color_by: str | None = "identity",
                   thumbnails: Any = None, dims: int = 2, *, hover: Sequence[str] | None = None,
                   title: str | None = None, thumb_size: int = 48, marker_size: int = 6,
                   as_widget: bool = False, method: str | None = None) -> go.Figure:
    """A 2-D or 3-D map of latents, coloured by a column of `frame` (identity, side, yaw, ...).

    coords: (N, ≥dims) array or a `Projection`. frame: one row per point (e.g. labels.to_frame(), plus a
    "side" column). Integer/text/bool columns colour by category (one trace each), float columns with a
    colour scale. thumbnails: (N, 3, H, W) images or a list of data URIs, shown on hover (see module doc).
    method: the projection's ("pca", "tsne", "umap"; default a Projection's own) names the axes ("PC 1").
    """
    xyz = np.asarray(getattr(coords, "coords", coords), dtype=np.float64)
    if dims not in (2, 3):
        raise ValueError(f"latent_scatter: dims must be 2 or 3, got {dims!r}")
    if xyz.ndim != 2 or xyz.shape[1] < dims:
        raise ValueError(f"latent_scatter: coords must be (N, >= {dims}), got {list(xyz.shape)}")
    n = xyz.shape[0]
    frame = pd.DataFrame(index=range(n)) if frame is None else frame.reset_index(drop=True)
    if len(frame) != n:
        raise ValueError(f"latent_scatter: frame has {len(frame)} rows for {n} points")
    if color_by is not None and color_by not in frame.columns:
        raise ValueError(f"latent_scatter: color_by={color_by!r} is not a column of frame "
                         f"{list(frame.columns)}")
    if thumbnails is None:
        uris = [""] * n
    elif isinstance(thumbnails, (list, tuple)) and all(isinstance(u, str) for u in thumbnails):
        uris = list(thumbnails)
    else:
        uris = thumbnail_uris(thumbnails, thumb_size)
    if len(uris) != n:
        raise ValueError(f"latent_scatter: {len(uris)} thumbnails for {n} points")
    hover = [c for c in (hover if hover is not None else frame.columns[:8]) if c != color_by]
    missing = [c for c in hover if c not in frame.columns]
    if missing:
        raise ValueError(f"latent_scatter: hover columns {missing} not in frame")
    custom = np.empty((n, 2 + len(hover)), dtype=object)
    custom[:, 0] = np.arange(n)
    custom[:, 1] = uris
    for j, c in enumerate(hover):
        custom[:, 2 + j] = frame[c].to_numpy()

    def fmt(j: int, c: str) -> str:
        spec = ":.3g" if pd.api.types.is_float_dtype(frame[c]) else ""
        return f"{c}=%{{customdata[{j}]{spec}}}"

    template = "<br>".join(["#%{customdata[0]}", *(fmt(2 + j, c) for j, c in enumerate(hover))])
    scatter = go.Scatter3d if dims == 3 else go.Scatter

    def trace(idx: np.ndarray, **kw: Any) -> go.BaseTraceType:
        pts = {"x": xyz[idx, 0], "y": xyz[idx, 1]}
        if dims == 3:
            pts["z"] = xyz[idx, 2]
        return scatter(**pts, mode="markers", customdata=custom[idx], **kw)

    fig = go.Figure()
    if color_by is None:
        fig.add_trace(trace(np.arange(n), marker=dict(size=marker_size), hovertemplate=template
                            + "<extra></extra>", name="latents"))
    elif _is_categorical(frame[color_by]):
        values = frame[color_by].to_numpy()
        for k, value in enumerate(pd.unique(values)):
            idx = np.flatnonzero(values == value)
            fig.add_trace(trace(idx, name=f"{color_by}={value}",
                                marker=dict(size=marker_size, color=_PALETTE[k % len(_PALETTE)]),
                                hovertemplate=f"<b>{color_by}={value}</b><br>{template}<extra></extra>"))
    else:
        fig.add_trace(trace(np.arange(n), name=color_by, hovertemplate=f"<b>{color_by}=%{{marker.color:.3g}}"
                            f"</b><br>{template}<extra></extra>",
                            marker=dict(size=marker_size, color=frame[color_by].to_numpy(dtype=float),
                                        colorscale="Viridis", showscale=True,
                                        colorbar=dict(title=dict(text=color_by)))))
    fig.update_layout(title=title, legend=dict(itemsizing="constant"),
                      dragmode="lasso" if dims == 2 else None,
                      meta={"phazelab": "latent_scatter", "thumbnails": thumbnails is not None})
    name = {"pca": "PC", "tsne": "t-SNE", "umap": "UMAP"}.get(method or getattr(coords, "method", ""), "component")
    if dims == 2:
        fig.update_layout(xaxis_title=f"{name} 1", yaxis_title=f"{name} 2")
    else:
        # the default 3-D camera and zero margins cut the axis titles off at the plot's edges: pull the
        # camera back, keep margins, and name the axes by component
        fig.update_layout(margin=dict(l=10, r=10, t=50 if title else 20, b=10),
                          scene=dict(xaxis_title=f"{name} 1", yaxis_title=f"{name} 2",
                                     zaxis_title=f"{name} 3", camera=dict(eye=dict(x=1.6, y=1.6, z=1.1)),
                                     aspectmode="cube"))
        # plotly's automatic ticks crowd the corner where the three axes meet ("−30 −20 −20"): fewer
        # and smaller ones
        fig.update_scenes(xaxis=dict(nticks=5, tickfont_size=10), yaxis=dict(nticks=5, tickfont_size=10),
                          zaxis=dict(nticks=5, tickfont_size=10))
    return _out(fig, as_widget)


# -------------------------------------------------------------------------------------------------
# tables and training curves
def _chance_column(table: pd.DataFrame, metric: str) -> str | None:
    for name in (f"{metric}_chance", f"{metric.rsplit('_', 1)[0]}_chance",
                 f"{metric.split('_', 1)[0]}_chance"):
        if name in table.columns and name != metric:
            return name
    return None


def _bar_groups(table: pd.DataFrame, metric: str, by: str) -> list[tuple[str, pd.DataFrame]]:
    """(trace name, rows with one per block) for metric_bars. A block_table with baselines holds several
    rows per block (the model, untrained seeds) and the pixel rows: one trace per `by` value and kind,
    the untrained seeds averaged ("untrained, mean of k seeds"), the baselines (the same frames for every
    model) once — never two values stacked on one bar."""
    keys = [by] if by in table.columns else []
    if "kind" not in table.columns:
        groups = list(table.groupby(keys, sort=False)) if keys else [((metric,), table)]
        return [(str(name[0]) if isinstance(name, tuple) else str(name), part) for name, part in groups]
    kind = table["kind"].astype(str)
    untrained = kind.str.startswith("untrained")
    seeds = table.loc[untrained, "kind"].nunique()
    t = table.assign(kind=np.where(untrained, f"untrained, mean of {seeds} seed{'s' * (seeds != 1)}", kind))
    out = []
    for (model_kind, part) in t[t["kind"] != "baseline"].groupby(keys + ["kind"], sort=False):
        name = " · ".join(str(v) for v in model_kind) if keys else str(model_kind[0])
        out.append((name.replace(" · model", ""), part.groupby("block", sort=False, as_index=False)[metric].mean()))
    base = t[t["kind"] == "baseline"].drop_duplicates("block")
    if len(base):
        out.append(("baselines (pixels)", base))
    return out


def metric_bars(table: pd.DataFrame, metric: str, *, chance: str | float | None = "auto", by: str = "model",
                title: str | None = None, as_widget: bool = False) -> go.Figure:
    """One bar per block for `metric` (a column of a `block_table`), chance level drawn beside it.

    With a `by` column (e.g. "model") the bars are grouped per value. chance: "auto" finds
    "<metric>_chance" (probe_acc → probe_chance, r2_yaw → r2_chance), a column name, a number, or None.
    """
    for col in ("block", metric):
        if col not in table.columns:
            raise ValueError(f"metric_bars: table has no column {col!r}; columns: {list(table.columns)}")
    chance_col = _chance_column(table, metric) if chance == "auto" else chance
    fig = go.Figure()
    for k, (label, part) in enumerate(_bar_groups(table, metric, by)):
        fig.add_trace(go.Bar(x=part["block"], y=part[metric], name=label,
                             marker_color=_PALETTE[k % len(_PALETTE)],
                             hovertemplate=f"%{{x}}: %{{y:.3f}}<extra>{label}</extra>"))
    if chance_col is not None:
        if isinstance(chance_col, str):
            if chance_col not in table.columns:
                raise ValueError(f"metric_bars: chance column {chance_col!r} not in table")
            base = table.drop_duplicates("block")
            xs, ys = base["block"], base[chance_col]
        else:
            xs = table["block"].drop_duplicates()
            ys = [float(chance_col)] * len(xs)
        fig.add_trace(go.Scatter(x=xs, y=ys, name="chance", mode="markers",
                                 marker=dict(symbol="line-ew-open", size=28, color="black",
                                             line=dict(width=2)),
                                 hovertemplate="chance %{y:.3f}<extra></extra>"))
    fig.update_layout(title=title or metric, barmode="group", yaxis_title=metric, xaxis_title="block")
    return _out(fig, as_widget)


def _event_get(event: Any, key: str, default: Any = None) -> Any:
    return event.get(key, default) if isinstance(event, dict) else getattr(event, key, default)


def _frozen_periods(history: pd.DataFrame, x: str, events: Sequence[Any]) -> list[tuple[float, float, str]]:
    """(start, end, label) of stretches with frozen blocks, from the history's "frozen" column when it
    has one (exact, per step), else from freeze/unfreeze events."""
    periods: list[tuple[float, float, str]] = []
    if "frozen" in history.columns and len(history):
        steps = history[x].to_numpy(dtype=float)
        labels = [", ".join(f) if isinstance(f, (list, tuple)) else (str(f) if f else "")
                  for f in history["frozen"]]
        start = None
        for i, lab in enumerate(labels + [""]):
            if start is not None and (i == len(labels) or lab != labels[start]):
                periods.append((steps[start] - 0.5, steps[i - 1] + 0.5, labels[start]))
                start = None
            if i < len(labels) and lab and start is None:
                start = i
        return periods
    end = float(history[x].max()) if len(history) else 0.0
    frozen: dict[str, float] = {}
    for ev in sorted(events, key=lambda e: _event_get(e, "step", 0)):
        kind, step = _event_get(ev, "kind"), float(_event_get(ev, "step", 0))
        for b in _event_get(ev, "blocks", []) or []:
            if kind == "freeze":
                frozen.setdefault(b, step)
            elif kind == "unfreeze" and b in frozen:
                periods.append((frozen.pop(b) + 0.5, step + 0.5, b))
    periods += [(s + 0.5, end + 0.5, b) for b, s in frozen.items()]
    return periods


_LABEL_BG = "rgba(255,255,255,0.75)"  # labels stay readable over the curves and grid


def _short_blocks(blocks: Sequence[str], width: int = 24) -> str:
    """Block names for a plot label: all of them when short, else "4 blocks" (the hover text has them)."""
    text = ", ".join(blocks)
    return text if len(text) <= width else f"{len(blocks)} blocks"


def loss_curves(history_frame: pd.DataFrame, events: Sequence[Any] | None = None, *,
                y: Sequence[str] | None = None, x: str = "step", log_y: bool = True, title: str | None = None,
                as_widget: bool = False) -> go.Figure:
    """Loss per step (default: loss_a and loss_b) with frozen stretches shaded and events marked.

    history_frame: `Trainer.history_frame()`; events: `Trainer.events` (dicts with step, kind, blocks).
    An event at step s was applied after step s, so its line sits at s + 0.5. Labels name up to ~24
    characters of blocks ("load: 4 blocks" beyond); hovering a label shows them all.
    """
    events = list(events or [])
    if x not in history_frame.columns:
        raise ValueError(f"loss_curves: history has no {x!r} column; columns: {list(history_frame.columns)}")
    if y is None:
        y = [c for c in ("loss_a", "loss_b") if c in history_frame.columns] or \
            [c for c in history_frame.columns if c not in (x, "img_per_s", "lr")
             and pd.api.types.is_numeric_dtype(history_frame[c])]
    missing = [c for c in y if c not in history_frame.columns]
    if missing:
        raise ValueError(f"loss_curves: columns {missing} not in history; "
                         f"columns: {list(history_frame.columns)}")
    fig = go.Figure()
    for k, col in enumerate(y):
        fig.add_trace(go.Scatter(x=history_frame[x], y=history_frame[col], name=col, mode="lines",
                                 line=dict(color=_PALETTE[k % len(_PALETTE)])))
    for x0, x1, label in _frozen_periods(history_frame, x, events):
        fig.add_vrect(x0=x0, x1=x1, fillcolor="LightSkyBlue", opacity=0.25, line_width=0, layer="below",
                      annotation_text="frozen: " + _short_blocks(label.split(", ")),
                      annotation_hovertext=f"frozen: {label}", annotation_position="top left",
                      annotation_font_size=10, annotation_bgcolor=_LABEL_BG)
    colours = {"freeze": "royalblue", "unfreeze": "seagreen", "load": "darkorange", "reset": "purple", "lr": "grey"}
    # events at the same step share one line and one label (one row per event), and labels of lines
    # closer than 4 % of the x range alternate between the bottom and the top, so none is drawn over another
    by_step: dict[float, list[Any]] = {}
    for ev in events:
        by_step.setdefault(float(_event_get(ev, "step", 0)), []).append(ev)
    span = max(1.0, float(history_frame[x].max() - history_frame[x].min()) if len(history_frame) else 1.0)
    last, flip = None, False
    for step in sorted(by_step):
        texts, full = [], []
        for ev in by_step[step]:
            blocks = list(_event_get(ev, "blocks", []) or [])
            kind = str(_event_get(ev, "kind", "event"))
            texts.append(kind + (": " + _short_blocks(blocks) if blocks else ""))
            full.append(kind + (": " + ", ".join(blocks) if blocks else ""))
        flip = (not flip) if last is not None and step - last <= max(1.0, 0.04 * span) else False
        last = step
        kind = str(_event_get(by_step[step][0], "kind", "event"))
        fig.add_vline(x=step + 0.5, line_dash="dash", line_color=colours.get(kind, "black"),
                      annotation_text="<br>".join(texts), annotation_hovertext="<br>".join(full),
                      annotation_font_size=10, annotation_bgcolor=_LABEL_BG,
                      annotation_position="top right" if flip else "bottom right")
    fig.update_layout(title=title or "training loss", xaxis_title=x, yaxis_title="loss",
                      yaxis_type="log" if log_y else "linear", hovermode="x unified")
    if log_y:  # "0.4", not a bare "4" between 0.1 and 1 that reads as a loss of 4
        fig.update_yaxes(minorloglabels="complete")
    return _out(fig, as_widget)


def cka_heatmap(matrix: Any, labels: Sequence[str] | tuple[Sequence[str], Sequence[str]] | None = None, *,
                title: str | None = None, zmin: float = 0.0, zmax: float = 1.0,
                as_widget: bool = False) -> go.Figure:
    """CKA between blocks as a heatmap with values printed (rows: first model, columns: second).

    matrix: a DataFrame (labels from index/columns) or a 2-D array with `labels` (one list for a square
    matrix, or (row_labels, col_labels)).
    """
    if isinstance(matrix, pd.DataFrame):
        rows, cols, z = [str(i) for i in matrix.index], [str(c) for c in matrix.columns], matrix.to_numpy()
    else:
        z = np.asarray(matrix, dtype=np.float64)
        if z.ndim != 2:
            raise ValueError(f"cka_heatmap: matrix must be 2-D, got shape {list(z.shape)}")
        if labels is None:
            rows, cols = [str(i) for i in range(z.shape[0])], [str(j) for j in range(z.shape[1])]
        elif len(labels) == 2 and not isinstance(labels[0], str):
            rows, cols = list(labels[0]), list(labels[1])
        else:
            rows = cols = list(labels)
    z = np.asarray(z, dtype=np.float64)
    if z.shape != (len(rows), len(cols)):
        raise ValueError(f"cka_heatmap: matrix is {list(z.shape)} but labels give {len(rows)} x {len(cols)}")
    fig = go.Figure(go.Heatmap(z=z, x=cols, y=rows, zmin=zmin, zmax=zmax, colorscale="Viridis",
                               texttemplate="%{z:.2f}", hovertemplate="%{y} vs %{x}: %{z:.3f}<extra></extra>",
                               colorbar=dict(title=dict(text="CKA"))))
    fig.update_layout(title=title or "linear CKA", yaxis_autorange="reversed")
    return _out(fig, as_widget)


# -------------------------------------------------------------------------------------------------
# static HTML
_THUMBNAIL_JS = """
(function () {
  var gd = document.getElementById('{plot_id}');
  if (!gd || !gd.on) { return; }
  var box = document.createElement('div');
  box.style.cssText = 'position:fixed;display:none;pointer-events:none;z-index:1000;'
    + 'border:1px solid #888;background:#fff;padding:2px';
  var img = document.createElement('img');
  img.style.cssText = 'width:96px;height:96px;image-rendering:pixelated;display:block';
  box.appendChild(img);
  document.body.appendChild(box);
  var strip = document.createElement('div');
  strip.className = 'phazelab-selection';
  strip.style.cssText = 'display:flex;flex-wrap:wrap;gap:2px;font:12px sans-serif';
  gd.parentNode.appendChild(strip);
  gd.on('plotly_hover', function (ev) {
    var p = ev && ev.points && ev.points[0];
    if (!p || !p.customdata || !p.customdata[1]) { return; }
    img.src = p.customdata[1];
    var e = ev.event;
    if (e && e.clientX !== undefined) {
      box.style.left = (e.clientX + 16) + 'px'; box.style.top = (e.clientY + 16) + 'px'; box.style.right = '';
    } else {
      var r = gd.getBoundingClientRect();
      box.style.left = (r.right - 110) + 'px'; box.style.top = (r.top + 10) + 'px';
    }
    box.style.display = 'block';
  });
  gd.on('plotly_unhover', function () { box.style.display = 'none'; });
  gd.on('plotly_selected', function (ev) {
    strip.innerHTML = '';
    if (!ev || !ev.points) { return; }
    strip.appendChild(document.createTextNode(ev.points.length + ' selected: '));
    ev.points.slice(0, 300).forEach(function (p) {
      if (!p.customdata || !p.customdata[1]) { return; }
      var im = document.createElement('img');
      im.src = p.customdata[1]; im.title = '#' + p.customdata[0];
      strip.appendChild(im);
    });
  });
})();
"""


def html(fig: go.Figure, include_plotlyjs: bool | str = True) -> str:
    """The figure as a full HTML page; latent maps with thumbnails get the hover/selection script."""
    meta = fig.layout.meta if isinstance(fig.layout.meta, dict) else {}
    script = _THUMBNAIL_JS if meta.get("thumbnails") else None
    return fig.to_html(full_html=True, include_plotlyjs=include_plotlyjs, post_script=script)


def write_html(fig: go.Figure, path: str | Path, include_plotlyjs: bool | str = True) -> Path:
    """Write `html(fig)` atomically. include_plotlyjs=True embeds plotly.js (works offline); "cdn" is
    smaller but needs the network."""
    from ..weights import atomic_write_text

    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"write_html: {path} should end in .html")
    atomic_write_text(path, html(fig, include_plotlyjs))
    return path
