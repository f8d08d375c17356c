"""TrainPanel: start / pause / stop a Trainer and watch it learn (loss curves, speed, preview, checkpoint).

The trainer owns the training thread; the panel only calls its methods and reads its history. A small
watcher thread redraws at most every `refresh_every` seconds while a run is active, so a fast trainer
never waits on plotting and the plot receives batched updates rather than one message per step.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import ipywidgets as W
import pandas as pd
import plotly.graph_objects as go
import torch

from ..analysis.plots import loss_curves
from ..train import Trainer, TrainerBusyError
from .common import Panel, error_html, guarded, keep_figure, show_png

_ACTIVE = ("running", "paused", "stopping")
_STATE_COLOURS = {"idle": "#555", "running": "#1b7f3b", "paused": "#a15c00", "stopping": "#a15c00",
                  "finished": "#1f4e9c", "error": "#b00020"}
PREVIEW_ROWS = "rows: A, A→A, A→B, B, B→B, B→A"


_ETA_AFTER = 5  # steps of a run before its time left is estimated (steps 1–4 include warm-up)


def _duration(seconds: float) -> str:
    """A remaining time to read at a glance: "40 s", "3 min", "1 h 05 min"."""
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class TrainPanel(Panel):
    """Buttons, live loss plot and preview for `trainer`.

    refresh_every: seconds between redraws while training. preview_every: if given, the trainer renders
    a preview grid every that many steps (sets `trainer.preview_every`). max_points: the plot shows at
    most this many steps, evenly spaced (the history itself keeps every step).
    """

    def __init__(self, trainer: Trainer, refresh_every: float = 0.5, steps: int = 500,
                 preview_every: int | None = None, max_points: int = 2000,
                 initial_preview: bool = True) -> None:
        if not all(hasattr(trainer, a) for a in ("start", "pause", "stop", "history", "state")):
            raise TypeError(f"TrainPanel: expected a phazelab Trainer, got {type(trainer).__name__}")
        if not refresh_every > 0:
            raise ValueError(f"TrainPanel: refresh_every must be > 0 seconds, got {refresh_every!r}")
        if preview_every is not None:
            if isinstance(preview_every, bool) or not isinstance(preview_every, int) or preview_every < 1:
                raise ValueError(f"TrainPanel: preview_every must be an integer ≥ 1, got {preview_every!r}")
            trainer.preview_every = preview_every
        self.trainer, self.refresh_every, self.max_points = trainer, float(refresh_every), int(max_points)

        self.start_button = W.Button(description="Train", button_style="success", icon="play")
        # Pause and Resume are two buttons, not one toggle: ipywidgets can deliver one click twice
        # (ipywidgets #3996), and a doubled toggle click resumes and pauses again; each of these is
        # idempotent (a second Pause while pausing, or Resume while running, does nothing)
        self.pause_button = W.Button(description="Pause", icon="pause")
        self.resume_button = W.Button(description="Resume", icon="play")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop")
        self.preview_button = W.Button(description="Preview", icon="image",
                                       tooltip="render the preview grid now (between steps if training)")
        self.steps = W.BoundedIntText(value=steps, min=1, max=10**9, description="steps",
                                      layout=W.Layout(width="170px"))
        self.batch = W.IntText(value=trainer.batch_size, description="batch/side", disabled=True,
                               tooltip="faces per side per step (set when the Trainer is created)",
                               layout=W.Layout(width="150px"))
        self.state_label = W.HTML()
        self.separator = W.HTML("&nbsp;·&nbsp;", layout=W.Layout(display="none"))  # shown once there is a speed
        self._run: tuple[int, int, float] | None = None  # (first step, target step, start time) of the last run
        self._stopped = False  # the last run was stopped by Stop (not finished its steps)
        self._followed: int | None = None  # the step the followers were last drawn at
        self.speed_label = W.HTML()
        self.checkpoint_label = W.HTML()
        self.error = W.HTML()
        # the grid is 6 faces tall: fix the height, the width follows the number of faces per row
        self.preview_image = W.Image(format="png", layout=W.Layout(
            height="420px", width="auto", object_fit="contain", object_position="left top", display="none"))
        self.preview_label = W.HTML(f"<small>preview ({PREVIEW_ROWS})</small>")
        self.figure = go.FigureWidget(loss_curves(pd.DataFrame({"step": [], "loss_a": [], "loss_b": []})))
        self.figure.update_layout(height=360, margin=dict(l=50, r=20, t=40, b=40))
        if not trainer.history:  # an empty frame says what will be drawn in it (the first curves replace this)
            self.figure.add_annotation(text="the loss curves appear here once training starts", showarrow=False,
                                       xref="paper", yref="paper", x=0.5, y=0.5, font=dict(color="#777"))
            self.figure.update_xaxes(showticklabels=False)  # no made-up ranges (−1…6) before any step
            self.figure.update_yaxes(showticklabels=False)
        # in the synced state too: the updates above are one-off messages, and a view drawn after they
        # passed showed bare default axes (−1…6, no title, no note) once in walk-through 10
        keep_figure(self.figure)

        self._lock = threading.RLock()  # one redraw at a time
        self._watch_lock = threading.Lock()  # taken from the trainer thread too: never held while calling it
        self._wake = threading.Event()
        self._watcher: threading.Thread | None = None
        self._plotted: tuple[int, int] = (-1, -1)
        self._preview: tuple[int, torch.Tensor] | None = None
        self._preview_shown = -1
        self._pause_pending = False
        self._preview_request: Any = None

        # one live panel per trainer: a panel made again (a re-run cell) takes over from the old one
        for hooks in (trainer.on_metrics, trainer.on_preview):
            hooks[:] = [cb for cb in hooks if not isinstance(getattr(cb, "__self__", None), TrainPanel)]
        trainer.on_metrics.append(self._on_metrics)
        trainer.on_preview.append(self._on_preview)
        self.start_button.on_click(guarded(self.error, lambda _b: self.start()))
        self.pause_button.on_click(guarded(self.error, lambda _b: self.pause()))
        self.resume_button.on_click(guarded(self.error, lambda _b: self.resume()))
        self.stop_button.on_click(guarded(self.error, lambda _b: self.stop()))
        self.preview_button.on_click(guarded(self.error, lambda _b: self.request_preview()))

        self.widget = W.VBox([
            W.HBox([self.start_button, self.pause_button, self.resume_button, self.stop_button, self.steps,
                    self.batch, self.preview_button]),
            W.HBox([self.state_label, self.separator, self.speed_label]),
            W.HBox([self.figure, W.VBox([self.preview_label, self.preview_image])]),
            self.checkpoint_label,
            self.error,
        ])
        if initial_preview:  # drawn in the background: the panel shows at once, its grid seconds later
            self.preview_label.value = f"<small>preview ({PREVIEW_ROWS}): rendering the first grid…</small>"
            threading.Thread(target=guarded(self.error, self.request_preview), daemon=True,
                             name="phazelab-first-preview").start()
        self.refresh()
        if trainer.state in _ACTIVE:  # started from code before the panel was shown
            self._watch()

    # -- actions (the buttons call these) ---------------------------------------------------------------
    def start(self) -> bool:
        """Start `steps` more steps in the background; False when a run is already active."""
        with self._lock:
            if self.trainer.state in _ACTIVE:
                return False  # a second click while the first run starts or runs
            self.start_button.disabled = True
            self.error.value = ""
            try:
                first = self.trainer.step
                self._notify_running()  # before the run: its end (another thread) redraws the followers
                self.trainer.start(int(self.steps.value))
                self._run = (first, first + int(self.steps.value), time.perf_counter())
                self._stopped = False
            except TrainerBusyError:
                return False
            except Exception:
                self._sync_controls()
                raise
            self._sync_controls()
        self._watch()
        return True

    def pause(self) -> None:
        """Pause a running trainer at the next step boundary; nothing when paused or pausing already."""
        if self.trainer.state == "running" and not self._pause_pending:
            self._pause_pending = True
            self.trainer.pause(wait=False)
        self._sync_controls()
        self._wake.set()

    def resume(self) -> None:
        """Resume a paused (or pausing) trainer; nothing when it runs already."""
        if self.trainer.state == "paused" or self._pause_pending:
            self._pause_pending = False
            self.trainer.resume(wait=False)
        self._sync_controls()
        self._wake.set()

    def toggle_pause(self) -> None:
        """Pause a running trainer, or resume a paused one (for code; the buttons call pause / resume)."""
        if self.trainer.state == "running" and not self._pause_pending:
            self.pause()
        else:
            self.resume()

    def stop(self) -> None:
        """Stop at the next step boundary (the trainer writes a checkpoint if it has a folder)."""
        self.trainer.stop(wait=False)
        self._stopped = True
        self._pause_pending = False
        self._sync_controls()
        self._wake.set()

    def request_preview(self) -> None:
        """Render the preview grid now, or between steps while training (once: a click while a preview
        is pending adds none)."""
        pending = self._preview_request
        if pending is not None and not pending.done():
            return
        fut = self._preview_request = self.trainer.request(self.trainer.preview)

        def done(f: Any) -> None:
            if f.exception() is not None:
                self.error.value = error_html(f.exception())
                return
            self._on_preview(self.trainer.step, f.result())

        fut.add_done_callback(done)

    def close(self) -> None:
        """Detach from the trainer (its callbacks) and close the widgets."""
        t = self.trainer
        for hooks, cb in ((t.on_metrics, self._on_metrics), (t.on_preview, self._on_preview)):
            if cb in hooks:
                hooks.remove(cb)
        self.widget.close()

    def wait(self, timeout: float | None = None) -> str:
        """Block until the run ends and the panel has drawn its final state; returns the trainer state."""
        self.trainer.wait(timeout)
        watcher = self._watcher
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(timeout)
        return self.trainer.state

    # -- trainer callbacks (trainer thread: keep them cheap) --------------------------------------------
    def _on_metrics(self, record: dict[str, Any]) -> None:
        if self._watcher is None or not self._watcher.is_alive():
            self._watch()  # a run started from code

    def _on_preview(self, step: int, grid: torch.Tensor) -> None:
        self._preview = (step, grid)
        self._wake.set()
        if self._watcher is None or not self._watcher.is_alive():
            self._show_preview()

    # -- drawing ----------------------------------------------------------------------------------------
    def _watch(self) -> None:
        with self._watch_lock:
            if self._watcher is not None and self._watcher.is_alive():
                return
            self._watcher = threading.Thread(target=self._watch_loop, daemon=True, name="phazelab-trainpanel")
            self._watcher.start()

    def _watch_loop(self) -> None:
        while True:
            while True:
                self._safe_refresh()
                if self.trainer.state not in _ACTIVE:
                    break
                self._wake.wait(self.refresh_every)
                self._wake.clear()
            if self.trainer.state == "finished" and self._preview_shown != self.trainer.step:
                self.request_preview()  # the model as trained, not as of the last multiple of N steps
            self._safe_refresh()
            if self.trainer.state == "finished" and self._followed != self.trainer.step:
                self._followed = self.trainer.step
                self._notify_followers()
            with self._watch_lock:  # decided under the lock _watch() takes: a run started now is not missed
                if self.trainer.state not in _ACTIVE:
                    self._watcher = None
                    return

    def _safe_refresh(self) -> None:
        try:
            self.refresh()
        except Exception as exc:  # noqa: BLE001 - keep watching; show what went wrong
            self.error.value = error_html(exc)

    def refresh(self) -> None:
        """Redraw everything from the trainer now (plot only when history or events changed)."""
        with self._lock:
            self._sync_controls()
            self._sync_labels()
            self._sync_plot()
            self._show_preview()

    def _sync_controls(self) -> None:
        state = self.trainer.state
        active = state in _ACTIVE
        if state != "running":
            self._pause_pending = False
        self.start_button.disabled = active
        self.steps.disabled = active
        self.stop_button.disabled = state not in ("running", "paused")
        self.pause_button.disabled = state != "running" or self._pause_pending
        self.resume_button.disabled = state != "paused" and not self._pause_pending

    def _sync_labels(self) -> None:
        t = self.trainer
        state = "stopped" if t.state == "finished" and self._stopped else t.state
        colour = _STATE_COLOURS.get(t.state, "#555")
        self.state_label.value = f"<b style='color:{colour}'>{state}</b> · {self._progress_text(t)}"
        last = t.history[-1] if t.history else None
        window = "" if t.state in _ACTIVE else "last steps: "  # the mean of the run is in the state label
        self.speed_label.value = ("" if last is None else
                                  f"{window}{last['img_per_s']:.1f} images/s · loss A {last['loss_a']:.4f}"
                                  f" · loss B {last['loss_b']:.4f}")
        self.separator.layout.display = None if last is not None else "none"
        ckpt = t.last_checkpoint
        where = str(ckpt) if ckpt is not None else (
            "none yet" if getattr(t, "checkpoint_dir", None) is not None else "none (no checkpoint_dir)")
        self.checkpoint_label.value = f"<small>checkpoint: <code>{where}</code></small>"
        if t.state == "error" and t.error is not None:
            self.error.value = error_html(f"training stopped: {t.error}", t.error.traceback)

    follow_waiting = "press Train above: this fills in when training has finished"
    follow_running = "training (see the panel above): this fills in when it has finished or is stopped"

    def _follow_source(self) -> Any:
        """Panel.follow renders the trainer once a run started here has finished (redrawn after each)."""
        return self.trainer if self._run is not None and self.trainer.state == "finished" else None

    def _progress_text(self, t: Any) -> str:
        """"step 460 / 1000 · about 3 min left" while a run started here is active (the rate measured
        since its start, pauses included); once it has ended, its steps, wall time and mean rate
        ("1000 steps in 7 min 26 s, 36 images/s on average": the speed label shows the last window's);
        "step N" before any run."""
        if self._run is None:
            return f"step {t.step}"
        first, target, started = self._run
        text = f"step {t.step} / {target}"
        done = t.step - first
        if t.state == "running" and 0 < done < _ETA_AFTER and t.step < target:
            text += " · estimating the time left…"  # the first steps warm up: their rate misleads
        elif t.state == "running" and done > 0 and t.step < target:
            left = (target - t.step) * (time.perf_counter() - started) / done
            text += f" · about {_duration(left)} left"
        elif t.state not in _ACTIVE and done > 0:
            took = t.run_seconds  # the trainer's own wall time of this run (a run has ended: not None)
            rate = 2 * t.batch_size * done / max(took, 1e-9)
            text += (f" · {done} step{'s' * (done != 1)} in {_duration(took)}, {rate:.1f} images/s on average "
                     "(pauses included)")
        return text

    def _sync_plot(self) -> None:
        history, events = list(self.trainer.history), list(self.trainer.events)
        key = (len(history), len(events))
        if key == self._plotted or not history:
            return
        if len(history) > self.max_points:  # evenly spaced rows, the newest always in
            stride = -(-len(history) // self.max_points)
            history = history[::-1][::stride][::-1]
        fig = loss_curves(pd.DataFrame(history), events)
        with self.figure.batch_update():
            if [t.name for t in self.figure.data] != [t.name for t in fig.data]:
                self.figure.data = []
                self.figure.add_traces(list(fig.data))
            else:
                for live, new in zip(self.figure.data, fig.data):
                    live.x, live.y = new.x, new.y
            self.figure.layout.shapes = fig.layout.shapes
            self.figure.layout.annotations = fig.layout.annotations
            self.figure.update_xaxes(showticklabels=True)
            self.figure.update_yaxes(showticklabels=True)
        keep_figure(self.figure)  # a view drawn later (the notebook reopened) shows these points too
        self._plotted = key

    def _show_preview(self) -> None:
        preview = self._preview
        if preview is None or preview[0] == self._preview_shown and self.preview_image.value:
            return
        step, grid = preview
        show_png(self.preview_image, grid)
        self.preview_label.value = f"<small>preview at step {step} ({PREVIEW_ROWS})</small>"
        self._preview_shown = step
