"""The heartbeat redraws a bar while one long step runs, and stops with the block."""

import threading
import time

import pytest

from phazelab.progress import heartbeat


class CountingBar:
    def __init__(self, disable: bool = False) -> None:
        self.disable, self.refreshes = disable, 0
        self.lock = threading.Lock()

    def refresh(self) -> None:
        with self.lock:
            self.refreshes += 1


def test_the_bar_is_redrawn_while_the_block_runs_and_not_after():
    bar = CountingBar()
    with heartbeat(bar, every=0.05) as inside:
        assert inside is bar
        deadline = time.monotonic() + 10
        while bar.refreshes < 3 and time.monotonic() < deadline:  # one long step, in the worker's eyes
            time.sleep(0.01)
    assert bar.refreshes >= 3
    after = bar.refreshes
    time.sleep(0.2)
    assert bar.refreshes == after  # the beat ended with the block
    assert not any(t.name == "phazelab-heartbeat" for t in threading.enumerate())


def test_a_disabled_bar_gets_no_thread_and_a_bad_interval_is_refused():
    bar = CountingBar(disable=True)
    with heartbeat(bar, every=0.01):
        time.sleep(0.05)
    assert bar.refreshes == 0
    with pytest.raises(ValueError, match="positive number of seconds"):
        with heartbeat(CountingBar(), every=0):
            pass


def test_an_error_in_the_block_still_stops_the_beat():
    bar = CountingBar()
    with pytest.raises(RuntimeError):
        with heartbeat(bar, every=0.01):
            raise RuntimeError("the step failed")
    assert not any(t.name == "phazelab-heartbeat" for t in threading.enumerate())
