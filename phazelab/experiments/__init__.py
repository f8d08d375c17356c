"""Experiments built on the lab: the forum study (load/freeze strategies for a new Face A with the same B)."""

from .forum import (
    MODES,
    QUICK_RUNS,
    STRATEGIES,
    TOPOLOGIES,
    Study,
    StudyConfig,
    StudyError,
    plan_runs,
    run_study,
    steps_to_target,
    strategy_blocks,
    strategy_plan,
    topology_config,
)
from .report import aggregate, markdown_section, render_html, summarize, tidy, write_outputs

__all__ = [
    "MODES", "QUICK_RUNS", "STRATEGIES", "TOPOLOGIES", "Study", "StudyConfig", "StudyError", "aggregate",
    "markdown_section",
    "plan_runs", "render_html", "run_study", "steps_to_target", "strategy_blocks", "strategy_plan",
    "summarize", "tidy", "topology_config", "write_outputs",
]
