"""The heartbeat redraws a bar while one long step runs, and stops with the block."""

import threading
import time

import pytest

from phazelab.progress import Ticker, heartbeat


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


def test_a_ticker_resends_its_line_with_the_seconds_moving():
    lines = []
    ticker = Ticker(lines.append, prefix="> ")
    ticker.refresh()
    assert lines == []  # nothing said yet: nothing to repeat
    ticker.say("part 1 / 2, the judge")
    with heartbeat(ticker, every=0.05):
        deadline = time.monotonic() + 10
        while len(lines) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert len(lines) >= 3 and all(t.startswith("> part 1 / 2, the judge · ") and t.endswith(" s") for t in lines)
    ticker.say("part 2 / 2, the grid")
    assert lines[-1] == "> part 2 / 2, the grid · 0 s"  # a new part's clock starts at 0


def test_text_bar_names_each_part_as_it_starts():
    from phazelab.progress import TextBar

    lines: list[str] = []
    bar = TextBar(3, lines.append)
    bar.set_postfix_str("probe")
    bar.update()
    bar.set_postfix_str("kNN")
    bar.update(2)
    bar.set_postfix_str("past the end")
    bar.refresh()
    bar.close()
    assert lines == ["score 1 / 3, probe", "score 2 / 3, kNN", "score 3 / 3, past the end"]
