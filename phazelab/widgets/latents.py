"""LatentExplorer: a map of one block's latents (PCA / t-SNE / UMAP), coloured by identity or pose, with
the face under the pointer and that block's identity / factor scores.

Everything runs in a background thread (render frames → latents → map → scores) with a progress bar, so
the notebook stays responsive; all numbers come from `phazelab.analysis`.
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import ipywidgets as W
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch

from ..analysis import (
    FACTOR_COLUMNS,
    HELD_OUT_SEED,
    Latents,
    available_blocks,
    latent_table,
    latents,
    project,
)
from ..analysis.plots import latent_scatter, thumbnail_uris
from ..analysis.project import has_umap
from ..display import table_view
from ..model import PhazeA
from ..progress import Ticker, heartbeat
from .common import Background, Panel, guarded, keep_figure, on_model, show_png

_FIRST_COLOURS = ("identity", "side", "yaw", "pitch", "smile", "mouth_open")
_METHODS = {"PCA": "pca", "t-SNE": "tsne", "UMAP": "umap"}


class _Scored(NamedTuple):
    """A block's latents and scores, and what they were computed from (block, path, weights)."""

    key: tuple[Any, ...]
    latents: Latents
    table_html: str
    table: pd.DataFrame | None


def _weights_fingerprint(model: torch.nn.Module) -> tuple[float, ...]:
    """Changes whenever a weight changes (a training step, load_state_dict, a fill_): each tensor's sum in
    float64. (torch's in-place counter `Tensor._version` would be cheaper, but fused Adam, which the
    Trainer uses, updates weights without bumping it.) A few ms for a lab model."""
    with torch.no_grad():
        return tuple(float(t.detach().sum(dtype=torch.float64)) for t in (*model.parameters(), *model.buffers()))


def _used(proj: Any) -> str:
    """What the map ran with, where it differs from what was asked (e.g. a lowered perplexity)."""
    p = proj.params
    parts = [f"{k} {p[k]:g} (asked {p[k + '_requested']:g})" for k in ("perplexity", "n_neighbors")
             if k + "_requested" in p]
    return "; " + ", ".join(parts) if parts else ""


def _colour_order(columns: Sequence[str]) -> list[str]:
    first = [c for c in _FIRST_COLOURS if c in columns]
    return first + [c for c in columns if c not in first]


class LatentExplorer(Panel):
    """Explore where identity lives in `model`, block by block.

    Frames come from `world` (`n_per_identity` held-out frames of each of `identities`, default all) or
    from `images` (N, 3, S, S) at the model's input size with optional `labels` (world Labels or a
    DataFrame, one row per image). `sides` maps identity → a side name (e.g. {3: "A", 5: "B"}) for the
    "side" colouring. With `trainer`, the model is run between training steps.
    """

    def __init__(self, model: PhazeA, world: Any = None, images: torch.Tensor | None = None,
                 labels: Any = None, *, identities: Sequence[int] | None = None, n_per_identity: int = 40,
                 seed: int = HELD_OUT_SEED, sides: Mapping[int, str] | None = None, trainer: Any = None,
                 scores: bool = True, tsne_perplexity: float = 30.0) -> None:
        if (world is None) == (images is None):
            raise ValueError("LatentExplorer: pass either world (frames are rendered) or images (+ labels)")
        self.model, self.world, self.trainer, self.sides = model, world, trainer, dict(sides or {})
        self.seed, self.n_per_identity, self.scores = seed, n_per_identity, scores
        self.perplexity = tsne_perplexity
        if world is not None:
            ids = range(world.n_identities) if identities is None else identities
            self.identities = [int(i) for i in ids]
            columns = ["identity", *world.sample_factors(1, seed).to_frame().columns]
            self.images: torch.Tensor | None = None
            self.frame: pd.DataFrame | None = None
        else:
            self.identities = []
            self.images, self.frame = self._check_frames(images, labels)
            columns = list(self.frame.columns)
        if self.sides:
            columns.insert(1, "side")
        self.coords: np.ndarray | None = None
        self.table: pd.DataFrame | None = None
        self._uris: list[str] | None = None
        self._title, self._dims, self._method = "", 2, "pca"
        # the last block's latents and scores: another method or 2-D/3-D re-projects them only (a probe of
        # a wide block takes ~40 s on a CPU); keyed by block, path and the weights
        self._scored: _Scored | None = None

        self.error = W.HTML()
        self.path = W.ToggleButtons(options=[("side A path", "a"), ("side B path", "b")], value="a",
                                    tooltips=["faces routed through side A's blocks", "... through side B's"])
        self.block = W.Dropdown(description="block", options=available_blocks(model, "a"), value="encoder",
                                layout=W.Layout(width="280px"))
        self.method = W.Dropdown(description="method",
                                 options=[m for m in _METHODS if m != "UMAP" or has_umap()],
                                 layout=W.Layout(width="180px"))
        self.colour = W.Dropdown(description="colour by", options=_colour_order(columns),
                                 layout=W.Layout(width="220px"))
        self.dims = W.ToggleButtons(options=[("2-D", 2), ("3-D", 3)], value=2)
        self.compute_button = W.Button(description="Compute", button_style="primary", icon="play")
        self.progress = W.IntProgress(value=0, min=0, max=5, layout=W.Layout(width="160px"))
        self.progress_label = W.HTML()
        self.figure = go.FigureWidget()
        self.figure.update_layout(height=480, title="press Compute")
        # an empty frame says what will be drawn in it, without made-up axis ranges (−1…6); the first
        # map's layout replaces all of this
        self.figure.add_annotation(text="the latent map appears here once you press Compute", showarrow=False,
                                   xref="paper", yref="paper", x=0.5, y=0.5, font=dict(color="#777"))
        self.figure.update_xaxes(visible=False)
        self.figure.update_yaxes(visible=False)
        keep_figure(self.figure)  # in the synced state, not only in one-off messages (see TrainPanel)
        self.thumbnail = W.Image(format="png", layout=W.Layout(width="128px", display="none"))
        self.caption = W.HTML("<small>hover or click a point to see its face</small>")
        self.table_html = W.HTML(layout=W.Layout(max_width="100%"))
        self._job = Background(self.error)

        self.path.observe(guarded(self.error, self._on_path), names="value")
        self.colour.observe(guarded(self.error, lambda _c: self._redraw()), names="value")
        self.compute_button.on_click(guarded(self.error, lambda _b: self.compute()))
        self.widget = W.VBox([
            W.HBox([self.path, self.block]),
            W.HBox([self.method, self.dims, self.colour]),
            W.HBox([self.compute_button, self.progress, self.progress_label]),
            W.HBox([self.figure, W.VBox([self.thumbnail, self.caption])]),
            self.table_html, self.error,
        ])

    # -- inputs ---------------------------------------------------------------------------------------
    def _check_frames(self, images: Any, labels: Any) -> tuple[torch.Tensor, pd.DataFrame]:
        images = torch.as_tensor(images)
        size = self.model.input_size
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, size, size):
            raise ValueError(f"LatentExplorer: images must be (N, 3, {size}, {size}) at the model's input "
                             f"size, got {list(images.shape)}")
        if labels is None:
            frame = pd.DataFrame(index=range(images.shape[0]))
        elif isinstance(labels, pd.DataFrame):
            frame = labels.reset_index(drop=True)
        elif hasattr(labels, "to_frame"):
            frame = labels.to_frame()
        else:
            raise TypeError("LatentExplorer: labels must be world Labels or a DataFrame, "
                            f"got {type(labels).__name__}")
        if len(frame) != images.shape[0]:
            raise ValueError(f"LatentExplorer: {len(frame)} label rows for {images.shape[0]} images")
        return images, frame

    def _frames(self) -> tuple[torch.Tensor, pd.DataFrame]:
        if self.images is None:
            images, labels = self.world.sample(self.identities, self.n_per_identity, self.seed,
                                               size=self.model.input_size)
            self.images, self.frame = images, labels.to_frame()
        if self.sides and "side" not in self.frame.columns and "identity" in self.frame.columns:
            self.frame.insert(1, "side", self.frame["identity"].map(self.sides).fillna("other"))
        return self.images, self.frame

    # -- actions --------------------------------------------------------------------------------------
    def compute(self) -> bool:
        """Latents → map → scores for the chosen block, in the background; False (nothing done) while a
        computation runs, so a doubled click computes once."""
        if self._job.busy:
            return False
        block, side, dims = self.block.value, self.path.value, self.dims.value
        method = _METHODS[self.method.value]
        self.compute_button.disabled = True
        started = self._job.run(lambda: self._compute(block, side, method, dims),
                                on_finally=lambda: setattr(self.compute_button, "disabled", False))
        if not started:
            self.compute_button.disabled = False
        return started

    def wait(self, timeout: float | None = None) -> None:
        """Block until the running computation ends."""
        self._job.wait(timeout)

    def _step(self, i: int, text: str) -> None:
        self.progress.value, self.progress_label.value = i, f"<small>{text}</small>"
        if i == 0:
            self.coords, self.table = None, None

    def _compute(self, block: str, side: str, method: str, dims: int) -> None:
        try:
            self._compute_map(block, side, method, dims)
        except Exception:  # no stale map under a new block's name: clear it; the error box says why
            with self.figure.batch_update():
                self.figure.data = []
                self.figure.layout.title = "no map (see the error below)"
            keep_figure(self.figure)
            self.progress_label.value = ""
            raise

    def _compute_map(self, block: str, side: str, method: str, dims: int) -> None:
        started = time.perf_counter()  # the whole job (frames, latents, map, scores), not the map alone
        self._step(0, "rendering frames…" if self.images is None else "")
        images, frame = self._frames()
        if self._uris is None:
            self._uris = thumbnail_uris(images)
        def read() -> tuple[tuple[Any, ...], Latents | None]:  # the weights and their latents: one state
            key = (block, side, _weights_fingerprint(self.model))
            if self._scored is not None and self._scored.key == key:
                return key, None
            self._step(1, f"latents of {block}…")
            return key, latents(self.model, images, [block], progress=False, side=side)

        key, lat = on_model(self.trainer, read).result()  # between training steps, where a trainer runs
        reuse = lat is None
        if reuse:
            lat = self._scored.latents
        x = lat[block]
        self._step(2, f"{self.method.label} of {x.shape[0]} × {x.shape[1]}…")
        kwargs = {"perplexity": self.perplexity} if method == "tsne" else {}
        proj = project(x, method, dims, seed=0, **kwargs)
        self._title = (f"{block} ({lat.info[block].reduction}, {x.shape[1]} dims) · {self.method.label} · "
                       f"side {side.upper()} path")
        self.coords, self._dims, self._method = proj.coords, dims, method
        self._step(3, "drawing…")
        self._redraw()
        if reuse:  # the same block's latents: its scores stand, only the map is new
            self.table_html.value, self.table = self._scored.table_html, self._scored.table
        else:
            self.table_html.value = ""
            if self.scores:
                self._step(4, "identity and factor scores…")
                ticker = Ticker(lambda text: self._step(4, html.escape(text)))
                with heartbeat(ticker):  # a probe of a wide block takes many seconds on a CPU: its clock moves
                    self._score(lat, frame, images, block, side, ticker.say)
            self._scored = _Scored(key, lat, self.table_html.value, self.table)
        reused = "; the latents and scores of this block reused" if reuse else ""
        map_s = "< 0.1 s" if proj.seconds < 0.05 else f"{proj.seconds:.1f} s"
        done = (f"done in {time.perf_counter() - started:.1f} s (of which the {self.method.label} map "
                f"{map_s}{_used(proj)}{reused})")
        if proj.note:  # a degenerate map: say so where "done" would be, not only in the kernel log
            done = f"<b style='color:#a15c00'>{html.escape(proj.note)}</b> · {done}"
        self._step(5, done)

    def export_projector(self, log_dir: str | Any, block: str | None = None) -> Any:
        """The chosen (or given) block's latents, labels and faces for TensorBoard's Projector
        (phazelab.analysis.projector.export_block); returns the folder. Runs between training steps."""
        from ..analysis.projector import export_block

        images, frame = self._frames()
        name, side = block or self.block.value, self.path.value
        return on_model(self.trainer, lambda: export_block(self.model, images, frame, name, log_dir,
                                                           side=side)).result()

    def _score(self, lat: Latents, frame: pd.DataFrame, images: torch.Tensor | None = None,
               block: str | None = None, side: str = "a", say: Any = None) -> None:
        """The block's scores with their nulls on the same frames below them (as block_table's
        baselines): the same block of an untrained model (seed 1000), pixels pooled 4×4, mean colour."""
        import torch.nn.functional as F

        if "identity" not in frame.columns or frame["identity"].nunique() < 2:
            self.table_html.value = "<small>scores need identity labels of at least 2 identities</small>"
            return
        cv = int(min(5, frame["identity"].value_counts().min()))
        if cv < 2:
            self.table_html.value = "<small>scores need at least 2 frames per identity</small>"
            return
        columns = [c for c in FACTOR_COLUMNS if c in frame.columns]
        ids, factors = frame["identity"].to_numpy(), frame if columns else None
        def told(part: str) -> Any:  # each score named as it starts, under the part it belongs to
            return None if say is None else (lambda text: say(f"identity and factor scores, {part}: {text}"))

        parts = [latent_table(lat, ids, factors, columns=columns, cv=cv,
                              progress=told("the model (1 of 3)")).assign(kind="model")]
        if images is not None and block is not None:
            untrained = PhazeA(self.model.config, seed=1000)
            u = latents(untrained, images, [block], progress=False, side=side)
            x = images.float()
            pixels = {"pixels pooled 4×4": F.adaptive_avg_pool2d(x, 4).flatten(1).numpy(),
                      "mean colour": x.mean(dim=(2, 3)).numpy()}
            parts += [latent_table(u, ids, factors, columns=columns, cv=cv,
                                   progress=told("an untrained model (2 of 3)")).assign(kind="untrained (seed 1000)"),
                      latent_table(pixels, ids, factors, columns=columns, cv=cv,
                                   progress=told("pixel baselines (3 of 3)")).assign(kind="baseline")]
        self.table = pd.concat(parts, ignore_index=True)
        self.table.insert(0, "kind", self.table.pop("kind"))
        notes = "; ".join(n for n in self.table["notes"] if n)
        shown = self.table.drop(columns=["notes"])
        main = [c for c in ("kind", "block", "probe_acc", "probe_std", "probe_chance", "knn_acc", "knn_chance",
                            "silhouette", "r2_yaw") if c in shown.columns]
        page = table_view(shown, main).data
        self.table_html.value = ("<div style='white-space:normal'><b>scores for this block</b>, its nulls on the "
                                 "same frames below it (cross-validated; *_chance = guessing; a block that does "
                                 "not beat its nulls shows nothing learned). These are this view's "
                                 f"{len(ids)} frames and one untrained seed; a table of other frames and seeds "
                                 "(such as the block table) reads other numbers: compare each score with the "
                                 "nulls beside it, not across tables.</div>" + page
                                 + (f"<p><small><b>notes:</b> {html.escape(notes)}</small></p>" if notes else ""))

    def _redraw(self) -> None:
        if self.coords is None:
            return
        _, frame = self._frames()
        fig = latent_scatter(self.coords, frame, self.colour.value, thumbnails=self._uris, dims=self._dims,
                             title=self._title, method=self._method)
        # a layout assigned to a FigureWidget reaches the browser as a relayout of the new layout's keys
        # only: the empty frame's note and hidden axes would stay drawn over the map, so clear them first
        self.figure.layout.annotations = ()  # (update_layout(annotations=[]) would change nothing)
        self.figure.update_layout(xaxis_visible=True, yaxis_visible=True)
        with self.figure.batch_update():
            self.figure.data = []
            self.figure.add_traces(list(fig.data))
            self.figure.layout = fig.layout
            self.figure.layout.height = 480
        keep_figure(self.figure)  # a view drawn later (the notebook reopened) shows the map too
        for trace in self.figure.data:
            trace.on_hover(self._on_point)
            trace.on_click(self._on_point)

    def _on_path(self, change: dict) -> None:
        current = self.block.value
        options = available_blocks(self.model, change["new"])
        self.block.options = options
        self.block.value = current if current in options else options[0]

    def _on_point(self, trace: Any, points: Any, _state: Any = None) -> None:
        if not points.point_inds:
            return
        row = int(trace.customdata[points.point_inds[0]][0])
        self.show_face(row)

    def show_face(self, row: int) -> None:
        """Show frame `row` (its face, enlarged, and its labels) beside the map."""
        images, frame = self._frames()
        show_png(self.thumbnail, images[row], scale=2)
        def fmt(c: str, v: object) -> str:  # whole numbers (identity ids) as integers, not "2.00"
            if isinstance(v, (float, np.floating)) and float(v).is_integer():
                return f"{c}={int(v)}"
            return f"{c}={v:.2f}" if isinstance(v, (float, np.floating)) else f"{c}={v}"

        info = ", ".join(fmt(c, v) for c, v in frame.iloc[row][list(_colour_order(frame.columns))[:6]].items())
        self.caption.value = f"<small>#{row}: {info}</small>"
