"""Pieces every panel shares: notebook display, PNG encoding, error boxes, background work.

Panels hold their ipywidgets tree in `.widget`; showing the panel object in a cell shows that tree.
Work that touches a model a Trainer may be training goes through `trainer.request`, so it runs between
training steps and never races the training thread.
"""

from __future__ import annotations

import html
import io
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import ipywidgets as W
import numpy as np
import torch
from PIL import Image

T = TypeVar("T")


class Panel:
    """Base for the lab's panels: `widget` is the ipywidgets container; a cell showing the panel shows it."""

    widget: W.Widget
    follow_waiting = "waiting for the panel above: this fills in when it has run"  # a follower's first text

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # -- outputs that follow the panel ----------------------------------------------------------------
    def _follow_source(self) -> Any:
        """What a follower renders (the panel's last finished result), or None before there is one."""
        return None

    def follow(self, render: Any, busy: str = "updating from the finished run…") -> W.Output:
        """An output that shows `render(result)` (a displayable: a figure, Markdown, a DataFrame, or a
        list of them) for the panel's last finished job (the study's results, the trained trainer), and
        is redrawn whenever another finishes; until then it says the panel's `follow_waiting`, and while
        `render` runs it says `busy` (say how long a slow render takes). So a cell below the panel never
        needs re-running by hand."""
        out = W.Output(layout=W.Layout(max_width="100%"))
        followers = self.__dict__.setdefault("_followers", [])
        followers.append((out, render, busy))
        if self._follow_source() is not None:
            self._render_follower(out, render, busy)
        else:
            _say(out, self.follow_waiting)
        return out

    follow_running = "the panel above is running: this fills in when it has finished"  # while a job runs

    def _notify_running(self) -> None:
        """A job started: followers say so instead of still asking for the button just pressed."""
        for out, _render, _busy in self.__dict__.get("_followers", []):
            _say(out, self.follow_running)

    def when_finished(self, callback: Callable[[Any], Any]) -> None:
        """Call `callback(result)` after each finished job of the panel (in the job's thread), e.g. a
        viewer's refresh, so it shows the trained model without a press of its Refresh button."""
        self.__dict__.setdefault("_on_finish", []).append(callback)

    def _notify_followers(self) -> None:
        for out, _render, busy in self.__dict__.get("_followers", []):
            _say(out, busy)  # at once, each: the panel shows its result while they are redrawn in turn
        for callback in self.__dict__.get("_on_finish", []):
            try:
                callback(self._follow_source())
            except Exception as exc:  # noqa: BLE001 - shown where the learner looks, not lost in a thread
                getattr(self, "error", W.HTML()).value = error_html(exc)
        for out, render, busy in self.__dict__.get("_followers", []):
            self._render_follower(out, render, busy)

    def _render_follower(self, out: W.Output, render: Any, busy: str) -> None:
        from ..progress import Ticker, heartbeat

        ticker = Ticker(lambda text: _say(out, text))  # "busy · N s", its seconds moving while it renders
        ticker.say(busy)
        try:
            with heartbeat(ticker):
                shown = render(self._follow_source())
        except Exception as exc:  # noqa: BLE001 - shown where the learner looks, not lost in a thread
            out.outputs = ()
            getattr(self, "error", W.HTML()).value = error_html(exc)
            return
        out.outputs = ()
        import plotly.graph_objects as go

        for item in shown if isinstance(shown, (list, tuple)) else [shown]:
            out.append_display_data(PlotlyOutput(item) if isinstance(item, go.Figure) else item)


def _say(out: W.Output, text: str) -> None:
    """Replace an Output's content by one line of text (setting the trait itself: clear_output() needs a
    kernel to act, and followers are redrawn from worker threads)."""
    out.outputs = ()
    out.append_stdout(text + "\n")


class PlotlyOutput:
    """A plotly figure as plotly's own mime bundle (application/vnd.plotly.v1+json, drawn by the
    jupyterlab-plotly renderer), for an Output: not a FigureWidget, whose anywidget model failed to
    restore when the notebook was closed and reopened and took every widget of the notebook with it
    ("model not found")."""

    def __init__(self, figure: Any) -> None:
        self.figure = figure

    def _repr_mimebundle_(self, **_kwargs: Any) -> dict[str, Any]:
        import json

        import plotly.io as pio

        return {"application/vnd.plotly.v1+json": {**json.loads(pio.to_json(self.figure)),
                                                   "config": {"responsive": True}},
                "text/plain": f"<plotly figure: {self.figure.layout.title.text or 'untitled'}>"}


def keep_figure(figure: Any) -> None:
    """Store a plotly FigureWidget's current traces and layout in its synced widget state. plotly sends
    in-place updates (restyle, addTraces) as one-off messages and fills the synced `_widget_data` /
    `_widget_layout` only when the figure is first displayed, so a view drawn later (the notebook closed
    and reopened while the kernel runs) showed the figure as first displayed: empty loss curves, an empty
    latent map. Call after each batch of updates (what plotly's own `_repr_mimebundle_` does at display)."""
    from copy import deepcopy

    figure._widget_layout = deepcopy(figure._layout_obj._props)
    figure._widget_data = deepcopy(figure._data)


# -- images -------------------------------------------------------------------------------------------
def to_uint8(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """A (3, H, W) float image in [0, 1] (or an (H, W, 3) uint8 array) as an (H, W, 3) uint8 array."""
    if isinstance(image, torch.Tensor):
        t = image.detach().float().cpu()
        if t.ndim != 3 or t.shape[0] not in (1, 3):
            raise ValueError(f"expected a (3, H, W) image tensor, got shape {list(t.shape)}")
        if t.shape[0] == 1:
            t = t.expand(3, -1, -1)
        return (t.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 array, got shape {list(arr.shape)} {arr.dtype}")
    return arr


def png_bytes(image: torch.Tensor | np.ndarray, scale: int = 1) -> bytes:
    """PNG file bytes of one image (for ipywidgets.Image); `scale` enlarges it with nearest pixels."""
    img = Image.fromarray(to_uint8(image))
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def show_png(widget: W.Image, image: torch.Tensor | np.ndarray, scale: int = 1) -> None:
    """Put an image into an Image widget and unhide it (an empty Image shows as a broken picture)."""
    widget.value = png_bytes(image, scale)
    widget.layout.display = None


# -- messages -----------------------------------------------------------------------------------------
def error_html(exc: BaseException | str, tb: str | None = None) -> str:
    """An error box: the message, and the traceback folded away."""
    text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    body = f"<b style='color:#b00020'>{html.escape(text)}</b>"
    if tb:
        body += (f"<details><summary>traceback</summary><pre style='font-size:11px'>{html.escape(tb)}</pre>"
                 "</details>")
    return f"<div class='phazelab-error'>{body}</div>"


def format_count(n: int) -> str:
    """12 345 678 → '12.3 M' (short enough for a diagram box)."""
    if n >= 1_000_000:
        return f"{n / 1e6:.1f} M"
    if n >= 1_000:
        return f"{n / 1e3:.1f} k"
    return str(n)


# -- running work -------------------------------------------------------------------------------------
def done_future(fn: Callable[[], T]) -> Future[T]:
    """Run fn now and hand its result (or exception) back as a completed Future."""
    fut: Future[T] = Future()
    try:
        fut.set_result(fn())
    except Exception as exc:  # noqa: BLE001 - handed to whoever waits on the future
        fut.set_exception(exc)
    return fut


def on_model(trainer: Any | None, fn: Callable[[], T]) -> Future[T]:
    """Run fn against the model: between training steps when a trainer is attached, else right now."""
    if trainer is None:
        return done_future(fn)
    return trainer.request(fn)


class Background:
    """One background job at a time for a panel, with its error shown in an HTML widget.

    Why: latents, t-SNE and probes take seconds; running them in a thread keeps the notebook's UI
    responsive (widget updates from threads are synced by ipywidgets).
    """

    def __init__(self, error_box: W.HTML) -> None:
        self.error_box = error_box
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._running = False
        self._next: tuple[Callable[[], None], Callable[[], None] | None] | None = None

    @property
    def busy(self) -> bool:
        return self._running

    def run(self, fn: Callable[[], None], on_finally: Callable[[], None] | None = None,
            queue: bool = False) -> bool:
        """Start fn in a thread. While a job runs: with `queue`, fn runs after it (replacing any job
        queued before: only the latest request matters) and True is returned; else False, nothing done."""
        with self._lock:
            if self._running:
                if queue:
                    self._next = (fn, on_finally)
                    return True
                return False
            self._running = True
            self._thread = threading.Thread(target=self._main, args=((fn, on_finally),), daemon=True,
                                            name="phazelab-widget")
            self._thread.start()
            return True

    def _main(self, job: tuple[Callable[[], None], Callable[[], None] | None] | None) -> None:
        while job is not None:
            fn, on_finally = job
            self.error_box.value = ""
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - shown in the panel instead of lost in a thread
                self.error_box.value = error_html(exc, traceback.format_exc())
            finally:
                if on_finally is not None:
                    on_finally()
            with self._lock:
                job, self._next = self._next, None
                if job is None:
                    self._running = False

    def wait(self, timeout: float | None = None) -> None:
        """Block until the current job (and any queued one) ends (for scripts and tests)."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)


def guarded(error_box: W.HTML, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a widget handler so its exception shows in `error_box`; it would otherwise vanish into the
    kernel log, and a click would seem to do nothing."""

    def handler(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            error_box.value = error_html(exc, traceback.format_exc())
            return None

    handler.__name__ = getattr(fn, "__name__", "handler")
    handler.__doc__ = fn.__doc__
    return handler
