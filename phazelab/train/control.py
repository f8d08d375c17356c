"""Driving a training loop from a notebook: one loop at a time, in the caller's thread or a background
one, paused, resumed and stopped at step boundaries, with requests (freeze, load, set_lr, any function)
applied between two steps. `Trainer` composes this with the training step itself (trainer.py).

The loop's owner provides `_loop(steps)`, `_flush()`, `schedule` (kickstart unfreezing applied here,
between steps), `_do_unfreeze`, `step` and `_pending`.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["STATES", "LoopControl", "TrainerBusyError", "TrainerFailure", "positive_int"]

T = TypeVar("T")
STATES = ("idle", "running", "paused", "stopping", "finished", "error")
_ACTIVE = ("running", "paused", "stopping")


class TrainerBusyError(RuntimeError):
    """A training loop is already running on this trainer."""


@dataclass
class TrainerFailure:
    """Why the last loop ended in state "error": the exception, its traceback text and the step."""

    exception: BaseException
    traceback: str
    step: int

    def __str__(self) -> str:
        if getattr(self.exception, "step", None) is not None:  # the message numbers its own step
            return f"{type(self.exception).__name__}: {self.exception}"
        return f"{type(self.exception).__name__} at step {self.step}: {self.exception}"


def positive_int(value: Any, name: str, allow_zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        raise ValueError(f"{name} must be an integer ≥ {0 if allow_zero else 1}, got {value!r}")


class LoopControl:
    """Thread control for a step loop (see the module doc). Subclasses call `_init_control()` first."""

    def _init_control(self) -> None:
        self._cv = threading.Condition(threading.RLock())
        self._state = "idle"
        self._loop_active = False
        self._pause_requested = False
        self._stop_requested = False
        self._thread: threading.Thread | None = None
        self._loop_thread: threading.Thread | None = None
        self._requests: deque[tuple[Callable[[], Any], Future]] = deque()
        self.error: TrainerFailure | None = None
        self._run_began: float | None = None  # time.perf_counter() of the last run's start and end
        self._run_ended: float | None = None

    @property
    def run_seconds(self) -> float | None:
        """Wall seconds of the last run (run() or start()), pauses included, counting up while it is active;
        None before any run. Lets a panel report "N steps in T" without watching for the end itself."""
        if self._run_began is None:
            return None
        return (self._run_ended or time.perf_counter()) - self._run_began

    @property
    def state(self) -> str:
        """One of STATES: idle, running, paused, stopping, finished, error."""
        return self._state

    def run(self, steps: int) -> None:
        """Train `steps` more steps in the calling thread (blocking); raises what the loop raised."""
        positive_int(steps, "steps", allow_zero=True)
        self._claim()
        try:
            self._loop(steps)
        except BaseException as exc:
            self._fail(exc)
            raise
        else:
            self._finish()

    def start(self, steps: int) -> None:
        """Train `steps` more steps in a background thread; raise TrainerBusyError if already running."""
        positive_int(steps, "steps", allow_zero=True)
        self._claim()
        self._thread = threading.Thread(target=self._thread_main, args=(steps,), daemon=True,
                                        name="phazelab-trainer")
        self._thread.start()

    def pause(self, wait: bool = True, timeout: float | None = None) -> None:
        """Pause at the next step boundary (metrics flushed); requests are still applied while paused."""
        with self._cv:
            if self._state not in ("running", "paused"):
                return
            self._pause_requested = True
            self._cv.notify_all()
            if wait and not self._in_loop_thread():
                self._cv.wait_for(lambda: self._state != "running", timeout)

    def resume(self, wait: bool = True, timeout: float | None = None) -> None:
        """Continue after pause()."""
        with self._cv:
            self._pause_requested = False
            self._cv.notify_all()
            if wait and self._state == "paused" and not self._in_loop_thread():
                self._cv.wait_for(lambda: self._state != "paused", timeout)

    def stop(self, wait: bool = True, timeout: float | None = None) -> str:
        """Stop at the next step boundary (a checkpoint is written if checkpoint_dir is set)."""
        with self._cv:
            if self._state in ("running", "paused"):
                self._stop_requested = True
                self._state = "stopping"
                self._cv.notify_all()
        if wait and not self._in_loop_thread():
            self.wait(timeout)
        return self._state

    def wait(self, timeout: float | None = None) -> str:
        """Block until the background loop ends (or timeout); return the state."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        return self._state

    # -- requests applied between steps -----------------------------------------------------------------
    def request(self, fn: Callable[[], T]) -> Future[T]:
        """Run `fn()` between steps (now, when no loop is running). The Future holds its result/error."""
        fut: Future[T] = Future()
        with self._cv:
            if self._loop_active:
                self._requests.append((fn, fut))
                self._cv.notify_all()
                return fut
            self._apply(fn, fut)
        return fut

    # -- loop internals ---------------------------------------------------------------------------------
    def _in_loop_thread(self) -> bool:
        return self._loop_thread is threading.current_thread()

    def _claim(self) -> None:
        with self._cv:
            if self._state in _ACTIVE or self._loop_active:
                raise TrainerBusyError(f"the trainer is already {self._state}; stop() or wait() first")
            self._state, self._loop_active = "running", True
            self._stop_requested = self._pause_requested = False
            self.error = None
            self._run_began, self._run_ended = time.perf_counter(), None

    def _thread_main(self, steps: int) -> None:
        try:
            self._loop(steps)
        except BaseException as exc:  # noqa: BLE001 - recorded in self.error, the thread must not die loudly
            self._fail(exc)
        else:
            self._finish()

    def _finish(self) -> None:
        self._loop_thread = None
        with self._cv:
            self._run_ended = time.perf_counter()
            self._state, self._loop_active = "finished", False
            self._drain()  # requests that arrived at the very end still run
            self._cv.notify_all()

    def _fail(self, exc: BaseException) -> None:
        self._loop_thread = None
        self._pending.clear()
        with self._cv:
            self._run_ended = time.perf_counter()
            self.error = TrainerFailure(exc, traceback.format_exc(), self.step)
            self._state, self._loop_active = "error", False
            self._drain()
            self._cv.notify_all()

    def _between_steps(self) -> bool:
        """Apply requests and schedules, honour pause/stop. False = stop the loop."""
        if not (self._requests or self._pause_requested or self._stop_requested or self.schedule):
            return True  # the common case: no lock, no sync
        with self._cv:
            paused_at = None
            while True:
                self._drain()
                while self.schedule and self.schedule[0][0] <= self.step:
                    _, names = self.schedule.pop(0)
                    self._do_unfreeze(names, reason="unfreeze_at", only_frozen=names is None)
                if self._stop_requested:
                    return False
                if not self._pause_requested:
                    if paused_at is not None:
                        self._window_t = time.perf_counter()
                    self._state = "running"
                    self._cv.notify_all()
                    return True
                if self._state != "paused":
                    self._flush()
                    paused_at = time.perf_counter()
                    self._state = "paused"
                    self._cv.notify_all()
                self._cv.wait(0.1)

    def _drain(self) -> None:
        while self._requests:
            fn, fut = self._requests.popleft()
            self._apply(fn, fut)

    @staticmethod
    def _apply(fn: Callable[[], Any], fut: Future) -> None:
        if not fut.set_running_or_notify_cancel():
            return
        try:
            fut.set_result(fn())
        except BaseException as exc:  # noqa: BLE001 - handed to whoever asked
            fut.set_exception(exc)
