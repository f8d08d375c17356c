"""Training: the Trainer (background loop, schedules, metrics, previews), checkpoints and losses.

Names are imported on first use, so `phazelab.train.cli` (the command-line parser) and
`phazelab.train.checkpoint` load without pulling in the trainer and the data pipeline.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_HOMES = {
    "CheckpointError": "checkpoint", "find_snapshot": "checkpoint", "list_snapshots": "checkpoint",
    "LOSS_CHOICES": "losses", "CompositeLoss": "losses", "loss_term": "losses",
    "FACESWAP_EXTRA_LOSSES": "trainer", "STATES": "trainer", "NonFiniteLossError": "trainer",
    "Trainer": "trainer", "TrainerBusyError": "trainer", "TrainerFailure": "trainer",
    "preview_grid": "trainer", "resolve_device": "precision", "resolve_precision": "precision",
    "ConcurrentTrainer": "concurrent",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(import_module(f".{_HOMES[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'phazelab.train' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
