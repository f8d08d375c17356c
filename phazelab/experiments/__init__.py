"""Experiments built on the lab: the forum study (load/freeze strategies for a new Face A with the same B),
the swap recipe and where identity lives."""

from .answers import QUESTIONS, answer_all
from .forum import (
    ARMS,
    MODES,
    QUICK_RUNS,
    STRATEGIES,
    TOPOLOGIES,
    Study,
    StudyConfig,
    StudyError,
    plan_runs,
    run_study,
    strategy_blocks,
    strategy_plan,
)
from .report import markdown_section, render_html, tidy, write_outputs

__all__ = [
    "ARMS", "MODES", "QUESTIONS", "QUICK_RUNS", "STRATEGIES", "TOPOLOGIES", "Study", "StudyConfig", "StudyError",
    "answer_all", "markdown_section", "plan_runs", "render_html", "run_study", "strategy_blocks", "strategy_plan",
    "tidy", "write_outputs",
]
