"""The study's arms: which blocks each strategy × mode loads and freezes, read from the model itself,
and the list of stage-2 runs a study makes (duplicates across topologies named and skipped)."""

from __future__ import annotations

from typing import Any

from ..config import PhazeAConfig
from ..model import PhazeA
from ..model.summary import meta_model
from ..strategies import StrategyError
from ..strategies import strategy_blocks as _strategy_blocks
from .study_config import MODES, StudyConfig, StudyError


def strategy_blocks(model: PhazeA, strategy: str) -> tuple[list[str], list[str]]:
    """(blocks the strategy loads, what it asks for that this topology lacks): phazelab.strategies."""
    try:
        return _strategy_blocks(model, strategy)
    except StrategyError as exc:
        raise StudyError(str(exc)) from None


def strategy_plan(model: PhazeA, strategy: str, mode: str = "trainable", kickstart: int = 1
                  ) -> dict[str, Any]:
    """What a stage-2 run does: load=[blocks], freeze=[blocks], unfreeze_at=K or None, absent=[...].

    trainable: loaded blocks train from the start; frozen: loaded blocks stay frozen throughout;
    kickstart: loaded blocks frozen for the first `kickstart` steps, then unfrozen (Trainer unfreeze_at).
    """
    if mode not in MODES:
        raise StudyError(f"unknown mode {mode!r}; choose from {list(MODES)}")
    if strategy == "scratch" and mode != "trainable":
        raise StudyError("scratch loads nothing, so it has only the 'trainable' mode")
    load, absent = strategy_blocks(model, strategy)
    frozen = list(load) if mode in ("frozen", "kickstart") else []
    return {"load": load, "freeze": frozen, "unfreeze_at": kickstart if mode == "kickstart" else None,
            "absent": absent}


def plan_runs(study: StudyConfig, configs: dict[str, PhazeAConfig]
              ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Per topology (its stage-1 model config in `configs`), each strategy's blocks; the stage-2 runs
    to do; the runs skipped and why.

    A run whose blocks (and mode) are the same as an earlier run's in that topology — because the blocks
    it asks for are absent there — is skipped as a duplicate, naming the run it equals.
    """
    plans: dict[str, dict[str, Any]] = {}
    todo: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for topology in study.topologies:
        model = meta_model(configs[topology])
        plans[topology] = {"blocks": list(model.blocks), "side_a": model.side_blocks("a"),
                           "side_b": model.side_blocks("b"), "strategies": {}}
        seen: dict[tuple, str] = {}
        for strategy, mode in study.runs:
            plan = strategy_plan(model, strategy, mode, study.kickstart_steps)
            plans[topology]["strategies"][strategy] = {"load": plan["load"], "absent": plan["absent"]}
            key = (tuple(plan["load"]), mode)
            name = f"{strategy}@{mode}"
            if key in seen:
                skipped.append({"topology": topology, "strategy": strategy, "mode": mode,
                                "reason": f"{', '.join(plan['absent'])} absent in {topology}: same blocks as "
                                          f"{seen[key]}, so not run", "same_as": seen[key]})
                continue
            seen[key] = name
            todo.append({"topology": topology, "strategy": strategy, "mode": mode, **plan})
    return plans, todo, skipped
