"""TopologyPicker: flip Phaze-A's topology options and see which blocks exist and how big they are.

The model is built on PyTorch's meta device (shapes only, no memory, no weights), so even faceswap's
124 M-parameter default redraws in a fraction of a second. The diagram is read from the built model
(`model.blocks`, `model.side_blocks`), never from a hand-kept list of blocks.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import ipywidgets as W
import pandas as pd
import torch

from ..config import LAB_PRESETS, ConfigError, PhazeAConfig, faceswap_preset_names, preset_table
from ..model import PhazeA, block_summary, meta_model, summary_frame
from .common import Panel, format_count, guarded

TOPOLOGY_OPTIONS = ("split_fc", "shared_fc", "enable_gblock", "split_gblock", "split_decoders")
CUSTOM = "(custom)"
_SIDE_COLOURS = {"a": "#F58518", "b": "#4C78A8", "shared": "#BAB0AC"}


def option_help(name: str) -> str:
    """The help line of a PhazeAConfig option (faceswap's meaning, in our words)."""
    from dataclasses import fields

    return next(f.metadata["help"] for f in fields(PhazeAConfig) if f.name == name)


def buildable_presets() -> list[str]:
    """phazelab's lab presets, then faceswap's presets that need no downloaded encoder weights."""
    table = preset_table()
    names = list(LAB_PRESETS)
    for name in faceswap_preset_names():
        try:
            PhazeAConfig.from_dict(table[name]).require_buildable()
        except ConfigError:
            continue
        names.append(name)
    return names


@lru_cache(maxsize=64)
def _summary(config_json: str) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    model = meta_model(PhazeAConfig.from_json(config_json))
    with warnings.catch_warnings():  # conv padding notes from a shapes-only forward
        warnings.simplefilter("ignore")
        summary = block_summary(model)
    return summary, {side: model.side_blocks(side) for side in ("a", "b")}


def topology(config: PhazeAConfig) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """(block_summary of the model `config` builds, each side's block path), computed on the meta device."""
    return _summary(config.to_json())


# -- the diagram --------------------------------------------------------------------------------------
def _column(name: str) -> int:
    if name == "input":
        return 0
    if name == "encoder":
        return 1
    if name.startswith("fc_"):
        return 2
    if name.startswith("g_block"):
        return 3
    if name.startswith("decoder"):
        return 4
    return 5


def _order(name: str) -> tuple[int, str]:
    """Side A at the top, shared in the middle, side B at the bottom, the style fc below them all."""
    if name == "fc_gblock":
        return 4, name
    if name.endswith(("_a", " A")):
        return 0, name
    if name.endswith(("_b", " B")):
        return 2, name
    return 1, name


def diagram_edges(paths: dict[str, list[str]]) -> set[tuple[str, str]]:
    """Data-flow edges between blocks, from each side's path: the encoder feeds every fc; the side (and
    shared) fc feed the G-Block, styled by fc_gblock, or else the decoder."""
    edges = set()
    for side, path in paths.items():
        fcs = [n for n in path if n.startswith("fc_") and n != "fc_gblock"]
        gblock = next((n for n in path if n.startswith("g_block")), None)
        decoder = next(n for n in path if n.startswith("decoder"))
        edges.add(("input", "encoder"))
        for fc in fcs:
            edges |= {("encoder", fc), (fc, gblock or decoder)}
        if gblock is not None:
            edges |= {("encoder", "fc_gblock"), ("fc_gblock", gblock), (gblock, decoder)}
        edges.add((decoder, f"face {side.upper()}"))
    return edges


def _shape_text(shape: Any) -> str:
    if shape and isinstance(shape[0], list):  # (face, mask)
        shape = shape[0]
    return "×".join(str(s) for s in shape)


def diagram_svg(summary: dict[str, dict[str, Any]], paths: dict[str, list[str]], highlight: str | None = None
                ) -> str:
    """An SVG block diagram: one box per block with its parameter count and output shape, coloured by
    side (A only, B only, shared). ``highlight`` "a" or "b" draws that side's path (its blocks and
    edges, from the input to its face) bold and fades everything else: side A's faces never pass
    through a block that is not on this path."""
    nodes = ["input", *summary, "face A", "face B"]
    used = sorted({_column(n) for n in nodes})  # no empty column where a topology has no G-Block
    columns: dict[int, list[str]] = {}
    for n in nodes:
        columns.setdefault(used.index(_column(n)), []).append(n)
    box_w, box_h, col_w, row_h, pad = 136, 56, 160, 70, 12
    height = pad * 2 + row_h * max(len(c) for c in columns.values())
    width = pad * 2 + col_w * (max(columns) + 1)
    pos: dict[str, tuple[float, float]] = {}
    for col, names in columns.items():
        names.sort(key=_order)
        top = (height - row_h * len(names)) / 2
        for i, n in enumerate(names):
            pos[n] = (pad + col * col_w, top + i * row_h + (row_h - box_h) / 2)
    on_a, on_b = set(paths["a"]), set(paths["b"])
    # scales down to the output's width (viewBox), never above its natural size: nothing is cut off
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
             f'style="max-width:{width}px;height:auto" font-family="sans-serif" class="phazelab-diagram">',
             '<defs><marker id="arr" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#666"/></marker></defs>']
    lit = None
    if highlight is not None:
        lit_edges = diagram_edges({highlight: paths[highlight]})
        lit = {n for edge in lit_edges for n in edge}
    for src, dst in sorted(diagram_edges(paths)):
        (x0, y0), (x1, y1) = pos[src], pos[dst]
        on = lit is None or (src, dst) in lit_edges
        colour = "#666" if lit is None else "#111" if on else "#ccc"
        extra = ' class="path"' if lit is not None and on else ""
        parts.append(f'<line x1="{x0 + box_w}" y1="{y0 + box_h / 2}" x2="{x1}" y2="{y1 + box_h / 2}" '
                     f'stroke="{colour}" stroke-width="{3 if lit is not None and on else 1.3}" '
                     f'marker-end="url(#arr)"{extra}/>')
    for n, (x, y) in pos.items():
        if n in summary:
            side = "shared" if (n in on_a) == (n in on_b) else ("a" if n in on_a else "b")
            info = summary[n]
            lines = [f'<tspan x="{x + box_w / 2}" dy="0" font-weight="bold">{html.escape(n)}</tspan>',
                     f'<tspan x="{x + box_w / 2}" dy="16">{format_count(info["params"])} params</tspan>',
                     f'<tspan x="{x + box_w / 2}" dy="14" font-size="11.5" fill="#333">→ '
                     f'{_shape_text(info["output_shape"])}</tspan>']
            fill, dy = _SIDE_COLOURS[side], 17
        else:
            lines = [f'<tspan x="{x + box_w / 2}" dy="0">{html.escape(n)}</tspan>']
            fill, dy = "#ffffff", 33
        faded = lit is not None and n not in lit
        parts.append(f'<g class="block" data-block="{html.escape(n)}" opacity="{0.3 if faded else 1}">'
                     f'<rect x="{x}" y="{y}" width="{box_w}" '
                     f'height="{box_h}" rx="6" fill="{fill}" fill-opacity="0.35" stroke="#444" '
                     f'stroke-width="{2.5 if lit is not None and not faded else 1}"/>'
                     f'<text x="{x + box_w / 2}" y="{y + dy}" font-size="13.5" text-anchor="middle">'
                     f'{"".join(lines)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


class TopologyPicker(Panel):
    """Toggles for faceswap's topology options and a preset list; redraws the block diagram on change.

    `picker.config` is the chosen PhazeAConfig; `picker.on_change(fn)` calls fn(config) after each change.
    """

    def __init__(self, config: PhazeAConfig | None = None,
                 on_change: Callable[[PhazeAConfig], None] | None = None) -> None:
        self.config = config if config is not None else PhazeAConfig()
        self.config.require_buildable()
        self._callbacks: list[Callable[[PhazeAConfig], None]] = []
        self._updating = False
        self.presets = buildable_presets()
        self._preset_configs = {name: PhazeAConfig.preset(name) for name in self.presets}

        self.error = W.HTML()
        self.preset = W.Dropdown(description="preset", options=[CUSTOM, *self.presets],
                                 layout=W.Layout(width="260px"))
        self.toggles: dict[str, W.ValueWidget] = {}
        for name in TOPOLOGY_OPTIONS:
            if name == "shared_fc":
                widget = W.Dropdown(description=name, options=["none", "full", "half"],
                                    layout=W.Layout(width="200px"))
            else:
                widget = W.Checkbox(description=name, indent=False, layout=W.Layout(width="140px"))
            widget.tooltip = option_help(name)  # the option's help line (PhazeAConfig field metadata)
            self.toggles[name] = widget
        self.total = W.HTML()
        self.path = W.ToggleButtons(options=[("all blocks", "all"), ("side A path", "a"), ("side B path", "b")],
                                    value="all", tooltips=["every block", "the blocks side A's faces go through",
                                                          "the blocks side B's faces go through"])
        self.diagram = W.HTML(layout=W.Layout(width="auto"))  # stretched: 100% plus its margins overflowed
        self.legend = W.HTML(" ".join(
            f"<span style='background:{c};opacity:.6;padding:0 6px;border:1px solid #444'>&nbsp;</span> "
            f"{label}"
            for label, c in (("side A only", _SIDE_COLOURS["a"]), ("side B only", _SIDE_COLOURS["b"]),
                             ("shared", _SIDE_COLOURS["shared"]))))
        self.summary: dict[str, dict[str, Any]] = {}
        self.paths: dict[str, list[str]] = {}

        self.preset.observe(guarded(self.error, self._on_preset), names="value")
        for name, widget in self.toggles.items():
            widget.observe(guarded(self.error, lambda change, name=name: self._on_toggle(name, change)),
                           names="value")
        self.path.observe(guarded(self.error, lambda _c: self._draw()), names="value")
        if on_change is not None:
            self.on_change(on_change)
        self.widget = W.VBox([W.HBox([self.preset, self.toggles["shared_fc"]]),
                              W.HBox([self.toggles[n] for n in TOPOLOGY_OPTIONS if n != "shared_fc"]),
                              self.total, self.path, self.diagram, self.legend, self.error])
        self._show(self.config)

    # -- public ---------------------------------------------------------------------------------------
    def on_change(self, fn: Callable[[PhazeAConfig], None]) -> None:
        """Call fn(config) after every change of topology or preset."""
        self._callbacks.append(fn)

    @property
    def blocks(self) -> list[str]:
        """The block names the chosen config builds."""
        return list(self.summary)

    def frame(self) -> pd.DataFrame:
        """The per-block table of the chosen config (model.summary_frame: counts with separators, shapes
        C×H×W). A snapshot: call it again after changing the picker."""
        return summary_frame(self.summary)

    def build(self, device: str | torch.device = "cpu", seed: int = 0) -> PhazeA:
        """A real (initialised) model of the chosen config; the same seed gives the same weights."""
        return PhazeA(self.config, seed=seed).to(device)

    def set_config(self, config: PhazeAConfig) -> None:
        """Show `config` (widgets follow) and notify the on_change callbacks."""
        self._apply(config)

    # -- handlers -------------------------------------------------------------------------------------
    def _on_preset(self, change: dict) -> None:
        if self._updating or change["new"] == CUSTOM:
            return
        self._apply(self._preset_configs[change["new"]])

    def _on_toggle(self, name: str, change: dict) -> None:
        if self._updating:
            return
        try:
            config = self.config.replace(**{name: change["new"]})
            self._apply(config)
        except Exception:
            self._show(self.config)  # put the toggle back: the shown state is always a built model
            raise

    def _apply(self, config: PhazeAConfig) -> None:
        self._show(config)
        self.error.value = ""
        for fn in self._callbacks:
            fn(config)

    def _show(self, config: PhazeAConfig) -> None:
        summary, paths = topology(config)  # raises before anything changes if it cannot be built
        self.config, self.summary, self.paths = config, summary, paths
        self._updating = True
        try:
            for name, widget in self.toggles.items():
                widget.value = getattr(config, name)
            self.toggles["split_gblock"].disabled = not config.enable_gblock
            match = [n for n, c in self._preset_configs.items() if c == config]
            self.preset.value = match[0] if match else CUSTOM
        finally:
            self._updating = False
        total = sum(v["params"] for v in summary.values())
        self.total.value = (f"<b>{len(summary)} blocks, {total:,} parameters</b> · input "
                            f"{config.encoder_input_size} px, output {config.output_size} px"
                            + ("" if match else self._custom_note(config)))
        self._draw()

    def _custom_note(self, config: PhazeAConfig) -> str:
        """For a config that is no preset: the preset it is nearest to (fewest options changed), what
        differs and that preset's own count, so two parameter counts never stand unexplained."""
        from dataclasses import fields

        def changed(base: PhazeAConfig) -> list[str]:
            return [f.name for f in fields(PhazeAConfig) if getattr(base, f.name) != getattr(config, f.name)]

        name, diff = min(((n, changed(c)) for n, c in self._preset_configs.items()), key=lambda t: len(t[1]))
        if len(diff) > 4:
            return f" · {CUSTOM}: {len(diff)} options differ from every preset"
        base = self._preset_configs[name]
        total = sum(v["params"] for v in topology(base)[0].values())
        text = ", ".join(f"{n}={getattr(config, n)}" for n in diff)
        return f"<br>{CUSTOM} = {html.escape(name)} with {html.escape(text)} ({html.escape(name)} itself: {total:,})"

    def _draw(self) -> None:
        self.diagram.value = diagram_svg(self.summary, self.paths,
                                         None if self.path.value == "all" else self.path.value)


__all__ = ["TOPOLOGY_OPTIONS", "TopologyPicker", "buildable_presets", "diagram_edges", "diagram_svg",
           "topology"]
