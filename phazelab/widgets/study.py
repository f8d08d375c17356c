"""StudyPanel: choose forum-study runs, run them in the background, and show the report inline."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ipywidgets as W
import plotly.graph_objects as go

from .common import Background, Panel, guarded


class StudyPanel(Panel):
    """Strategy × mode picker, a Run button, progress lines, then the generated summary, table and plots.

    `make_study(runs, topologies)` turns the choice into a StudyConfig (e.g. `phazelab.lab.study_config`),
    so the study's sizes come from the caller, not from this widget.
    """

    def __init__(self, make_study: Any, out: str | Path, runs: Sequence[tuple[str, str]] | None = None,
                 topologies: Sequence[str] = ("default",), device: str | None = None) -> None:
        from ..experiments.forum import MODES, QUICK_RUNS, STRATEGIES

        self.make_study, self.out, self.device = make_study, Path(out), device
        self.results: dict[str, Any] | None = None
        options = [(f"{s} · {m}", (s, m)) for s in STRATEGIES for m in MODES if s != "scratch" or m == "trainable"]
        self.runs = W.SelectMultiple(options=options, value=tuple(runs or QUICK_RUNS), rows=len(options),
                                     description="runs", layout=W.Layout(width="360px"))
        self.topologies = W.SelectMultiple(options=["default", "split_decoders"], value=tuple(topologies),
                                           rows=2, description="topology", layout=W.Layout(width="300px"))
        self.run_button = W.Button(description="Run study", button_style="success", icon="play")
        self.log = W.HTML()
        self.error = W.HTML()
        # the summary wraps and its table scrolls inside the notebook's width; plots size to the output
        self.summary = W.HTML(layout=W.Layout(max_width="100%", overflow_x="auto"))
        self.plots = W.VBox(layout=W.Layout(max_width="100%"))
        self._job = Background(self.error)
        self._lines: list[str] = []
        self.run_button.on_click(guarded(self.error, lambda _b: self.start()))
        self.widget = W.VBox([W.HBox([self.runs, W.VBox([self.topologies, self.run_button])]), self.log,
                              self.error, self.summary, self.plots])

    def _progress(self, message: str) -> None:
        self._lines = (self._lines + [html.escape(message)])[-8:]
        self.log.value = "<small>" + "<br>".join(self._lines) + "</small>"

    def start(self) -> bool:
        """Run (or resume: finished runs are reused) the chosen study in the background; False (nothing
        done) while it runs, so a doubled click runs it once."""
        if self._job.busy:
            return False
        if not self.runs.value:
            raise ValueError("choose at least one run")
        study = self.make_study(list(self.runs.value), list(self.topologies.value))
        self.run_button.disabled = True
        return self._job.run(lambda: self._run(study), on_finally=self._done)

    def _run(self, study: Any) -> None:
        from ..experiments import run_study
        from ..experiments.report import aggregate, figures, summarize, table_html

        results = run_study(study, self.out, device=self.device, progress=self._progress)
        table = aggregate(results)
        items = "".join(f"<li>{html.escape(s)}</li>" for s in summarize(results, table))
        self.summary.value = (f"<div style='white-space:normal;overflow-wrap:anywhere'>"
                              f"<h4>Summary (generated from the numbers)</h4><ul>{items}</ul></div>"
                              + table_html(table)  # a number or a reason in every cell, never NaN
                              + f"<p><small>full report: {html.escape(str(self.out / 'report.html'))}</small></p>")
        self.plots.children = [go.FigureWidget(fig) for topology in study.topologies
                               for fig in figures(results, topology).values()]
        self.results = results

    def _done(self) -> None:
        self.run_button.disabled = False

    def wait(self, timeout: float | None = None) -> None:
        self._job.wait(timeout)
