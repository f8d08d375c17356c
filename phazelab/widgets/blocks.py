"""BlockPanel: load and freeze a Phaze-A model block by block, with the forum's transfer strategies.

One row per block that exists in this topology (read from `model.blocks`): name, parameter count, a
"load" checkbox with a source picker, a "freeze" toggle and a status after Apply (a block loaded by an
earlier Apply keeps those weights when unchecked, and its status says so). Loading and freezing
go through the trainer when one is attached (applied between steps; Adam's moments of reloaded blocks
are reset), else through `phazelab.weights`.
"""

from __future__ import annotations

import concurrent.futures
import copy
import html
import warnings
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as W

from .. import weights
from ..model import PhazeA, count_params
from ..strategies import STRATEGIES, STRATEGY_HELP, strategy_blocks
from ..weights import BlockError, LoadReport
from .common import Panel, done_future, error_html, guarded

INITIAL = "its weights before any load"  # the source Apply resets an unchecked, loaded block from

_DONE = {"freeze": "frozen", "unfreeze": "unfrozen"}

Source = PhazeA | str | Path
_COLOURS = {"loaded": "#1b7f3b", "skipped": "#a15c00", "error": "#b00020", "pending": "#555", "": "#555"}


@dataclass
class BlockRow:
    """The widgets of one block's row, and the plain-text outcome of the last Apply."""

    name: str
    params: int
    label: W.Label
    count: W.Label
    load: W.Checkbox
    source: W.Dropdown
    freeze: W.ToggleButton
    status: W.HTML
    load_status: str = ""
    load_kind: str = ""
    freeze_status: str = ""
    origin: str = ""  # the source whose weights the block holds since its last successful load ("" = its own)

    def show(self) -> None:
        parts = []
        if self.load_status:
            colour = _COLOURS[self.load_kind]
            parts.append(f"<span style='color:{colour}'>{html.escape(self.load_status)}</span>")
        if self.freeze_status:
            parts.append(html.escape(self.freeze_status))
        self.status.value = " · ".join(parts)

    @property
    def text(self) -> str:
        return " · ".join(p for p in (self.load_status, self.freeze_status) if p)


def _quiet(fn: Any, *args: Any) -> Any:
    """Call fn without its warnings: the row's status already says what was skipped and why."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args)


class BlockPanel(Panel):
    """Per-block load / freeze controls for `model`; `sources` maps a name to a model or a saved folder."""

    def __init__(self, model: PhazeA, sources: Mapping[str, Source] | None = None,
                 trainer: Any = None) -> None:
        if not isinstance(model, PhazeA):
            raise TypeError(f"BlockPanel: model must be a PhazeA, got {type(model).__name__}")
        if trainer is not None and getattr(trainer, "model", None) is not model:
            raise ValueError("BlockPanel: the trainer trains another model; pass trainer.model as model")
        if sources is not None and not isinstance(sources, Mapping):
            raise TypeError("BlockPanel: sources must be a dict of name → model or saved model folder, "
                            f"got {type(sources).__name__}")
        self.model, self.trainer = model, trainer
        # the weights before any load (on the CPU): Apply puts them back into a block that held loaded weights
        # and is no longer checked, so choosing another strategy gives that strategy, not a mix with the last
        on_meta = any(p.is_meta for p in model.parameters())  # a shapes-only model has no weights to keep
        self._initial = None if on_meta else copy.deepcopy(model).cpu()
        self.sources: dict[str, Source] = {}
        self.reports: list[tuple[str, LoadReport]] = []
        self._futures: list[Future] = []

        self.error = W.HTML()
        self.message = W.HTML()
        self.default_source = W.Dropdown(description="source", options=[],
                                         layout=W.Layout(width="auto", min_width="260px"))
        self.folder = W.Text(placeholder="saved model folder, e.g. runs/a1_b1/model",
                             layout=W.Layout(width="320px"))
        self.add_folder = W.Button(description="add folder", icon="folder-open")
        self.apply_button = W.Button(description="Apply", button_style="primary", icon="check",
                                     tooltip="load the checked blocks, then freeze / unfreeze as toggled")
        self.strategy_buttons = {s: W.Button(description=s, tooltip=f"{s}: {STRATEGY_HELP[s]}",
                                             layout=W.Layout(width="auto"))  # the full name, never cut
                                 for s in STRATEGIES}

        frozen = set(weights.frozen_blocks(model))
        self.rows: dict[str, BlockRow] = {}
        for name, block in model.blocks.items():  # the topology's blocks, never a hand-kept list
            n = count_params(block)
            self.rows[name] = BlockRow(
                name=name, params=n, label=W.Label(name), count=W.Label(f"{n:,}"),
                load=W.Checkbox(value=False, indent=False, layout=W.Layout(width="auto")),
                source=W.Dropdown(options=[], layout=W.Layout(width="auto", min_width="200px")),  # names uncut
                freeze=W.ToggleButton(value=name in frozen, description="freeze", icon="snowflake-o",
                                      layout=W.Layout(width="90px")),
                status=W.HTML())

        for name, src in (sources or {}).items():
            self.add_source(name, src)

        self.default_source.observe(guarded(self.error, self._on_default_source), names="value")
        self.add_folder.on_click(guarded(self.error, lambda _b: self.add_source(self.folder.value.strip(),
                                                                                self.folder.value.strip())))
        self.apply_button.on_click(guarded(self.error, lambda _b: self.apply()))
        for s, button in self.strategy_buttons.items():
            button.on_click(guarded(self.error, lambda _b, s=s: self.set_strategy(s)))

        header = [W.HTML(f"<b>{h}</b>") for h in ("block", "parameters", "load", "from", "freeze", "status")]
        cells = header + [w for r in self.rows.values()
                          for w in (r.label, r.count, r.load, r.source, r.freeze, r.status)]
        grid = W.GridBox(cells, layout=W.Layout(grid_template_columns="130px 100px 50px 210px 100px 1fr",
                                                grid_gap="2px 8px", align_items="center"))
        total = count_params(model)
        self.widget = W.VBox([
            W.HTML(f"<b>Blocks of this model</b> ({len(self.rows)} blocks, {total:,} parameters)"),
            W.HBox([W.Label("strategy:"), *self.strategy_buttons.values()]),
            W.HBox([self.default_source, self.folder, self.add_folder]),
            grid,
            W.HBox([self.apply_button]),
            self.message, self.error,
        ])

    # -- sources --------------------------------------------------------------------------------------
    def add_source(self, name: str, source: Source) -> None:
        """Offer another source (a model, or a saved model folder: checked now, read at Apply)."""
        if not name:
            raise ValueError("BlockPanel: type a saved model folder first")
        if not isinstance(source, PhazeA):
            path = Path(source)
            weights.load_config_of(path)  # a clear ModelFileError now rather than at Apply
            source = path
        first = not self.sources
        self.sources[name] = source
        options = list(self.sources)
        self.default_source.options = options
        for row in self.rows.values():
            current = row.source.value
            row.source.options = options
            row.source.value = current if current in self.sources else options[0]
        if first:
            self.default_source.value = name

    def _on_default_source(self, change: dict) -> None:
        if change["new"] is not None:
            for row in self.rows.values():
                row.source.value = change["new"]

    # -- strategies -----------------------------------------------------------------------------------
    def set_strategy(self, strategy: str) -> list[str]:
        """Check exactly the blocks `strategy` loads; returns them. Freeze toggles are left as they are."""
        chosen, absent = strategy_blocks(self.model, strategy)
        for name, row in self.rows.items():
            row.load.value = name in chosen
        for name, button in self.strategy_buttons.items():  # the chosen strategy stands out
            button.button_style = "info" if name == strategy else ""
        note = f" ({', '.join(absent)} not in this topology)" if absent else ""
        loads = ", ".join(chosen) or "nothing"
        self.message.value = html.escape(f"strategy '{strategy}': load {loads}{note}")
        return chosen

    # -- apply ----------------------------------------------------------------------------------------
    def apply(self) -> list[Future]:
        """Load the checked blocks (grouped by source), then freeze / unfreeze to match the toggles.

        Returns the futures of the submitted actions (done at once without a running trainer); the rows'
        statuses update as each one completes. While actions of the last Apply are still pending (a
        trainer applies them between steps), Apply does nothing and returns []: a doubled click loads and
        freezes once.
        """
        if self.pending:
            return []
        self.error.value = ""
        by_source: dict[str, list[str]] = {}
        for name, row in self.rows.items():
            row.load_status = row.load_kind = row.freeze_status = ""
            if not row.load.value and row.origin:  # unchecked after a load: back to the weights it started with
                if self._initial is not None:
                    by_source.setdefault(INITIAL, []).append(name)
                else:
                    row.load_status = f"still holds the weights loaded from {row.origin} (no weights to reset to)"
                    row.load_kind = "loaded"
            if row.load.value:
                if row.source.value is None:
                    row.load_status, row.load_kind = "error: no source to load from (add one above)", "error"
                else:
                    by_source.setdefault(row.source.value, []).append(name)
            row.show()
        futures = [self._load(src, blocks) for src, blocks in by_source.items()]
        futures += self._freeze()
        self._sync_apply()
        return futures

    @property
    def pending(self) -> bool:
        """True while an action submitted by Apply has not finished (retries included)."""
        return any(not f.done() for f in self._futures)

    def _sync_apply(self, _fut: Any = None) -> None:
        self.apply_button.disabled = self.pending

    def wait(self, timeout: float | None = None) -> None:
        """Block until every action submitted by Apply is done (retries included)."""
        while True:
            pending = [f for f in self._futures if not f.done()]
            if not pending:
                return
            done, _ = concurrent.futures.wait(pending, timeout)
            if timeout is not None and len(done) < len(pending):
                raise TimeoutError("BlockPanel.wait: actions still pending (is the trainer paused?)")

    def status(self) -> dict[str, str]:
        """Each block's status text after the last Apply ('' when nothing happened to it)."""
        return {name: row.text for name, row in self.rows.items()}

    def refresh(self) -> None:
        """Set the freeze toggles from the model's actual state (e.g. after a scheduled unfreeze)."""
        frozen = set(weights.frozen_blocks(self.model))
        for name, row in self.rows.items():
            row.freeze.value = name in frozen

    def _submit(self, fn_trainer: Any, fn_direct: Any) -> Future:
        fut = fn_trainer() if self.trainer is not None else done_future(fn_direct)
        self._futures = [f for f in self._futures if not f.done()] + [fut]
        fut.add_done_callback(self._sync_apply)
        return fut

    def _load(self, src_name: str, blocks: list[str], retry: bool = True) -> Future:
        source = self._initial if src_name == INITIAL else self.sources[src_name]
        for b in blocks:
            what = f"resetting to {INITIAL}…" if src_name == INITIAL else f"loading from {src_name}…"
            self.rows[b].load_status, self.rows[b].load_kind = what, "pending"
            self.rows[b].show()
        event = {"kind": "reset", "detail": INITIAL} if src_name == INITIAL else {}  # the loss plot's label
        fut = self._submit(lambda: self.trainer.load_blocks(source, blocks, **event),
                           lambda: _quiet(weights.load_blocks, self.model, source, blocks))
        fut.add_done_callback(lambda f: self._loaded(f, src_name, blocks, retry))
        return fut

    def _loaded(self, fut: Future, src_name: str, blocks: list[str], retry: bool) -> None:
        exc = fut.exception()
        if exc is None:
            report: LoadReport = fut.result()
            self.reports.append((src_name, report))
            if src_name == INITIAL:  # unchecked: the block starts from scratch again
                outcome = {b: (f"reset to {INITIAL} (held the weights from {self.rows[b].origin})", "")
                           for b in report.loaded if b in self.rows}
            else:
                outcome = {b: (f"loaded from {src_name}", "loaded") for b in report.loaded}
            for b in report.loaded:
                if b in self.rows:
                    self.rows[b].origin = "" if src_name == INITIAL else src_name
            outcome.update({b: (f"skipped: {why}", "skipped") for b, why in report.skipped.items()})
            outcome.update({b: (f"error: {why}", "error") for b, why in report.mismatched.items()})
        elif isinstance(exc, BlockError) and retry and len(blocks) > 1:
            # load_blocks is all-or-nothing: find the misfit block(s) one by one, load the rest
            for b in blocks:
                self._load(src_name, [b], retry=False)
            return
        else:
            outcome = {b: (f"error: {exc}", "error") for b in blocks}
        for b, (text, kind) in outcome.items():
            if b in self.rows:
                self.rows[b].load_status, self.rows[b].load_kind = text, kind
                self.rows[b].show()

    def _freeze(self) -> list[Future]:
        wanted = {name for name, row in self.rows.items() if row.freeze.value}
        current = set(weights.frozen_blocks(self.model))
        for name in wanted & current:
            self.rows[name].freeze_status = "frozen"
            self.rows[name].show()
        futures = []
        for names, verb in ((sorted(wanted - current), "freeze"), (sorted(current - wanted), "unfreeze")):
            if not names:
                continue
            trainer_fn = getattr(self.trainer, verb, None)
            direct_fn = getattr(weights, verb)
            fut = self._submit(lambda names=names, fn=trainer_fn: fn(names),
                               lambda names=names, fn=direct_fn: fn(self.model, names))
            fut.add_done_callback(lambda f, names=names, verb=verb: self._frozen(f, names, verb))
            futures.append(fut)
        return futures

    def _frozen(self, fut: Future, names: list[str], verb: str) -> None:
        exc = fut.exception()
        for b in names:
            self.rows[b].freeze_status = f"{verb} failed: {exc}" if exc else _DONE[verb]
            self.rows[b].show()
        if exc is not None:
            self.error.value = error_html(exc)
