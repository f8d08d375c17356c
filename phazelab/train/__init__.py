"""Training: the Trainer (background loop, schedules, metrics, previews), checkpoints and losses.

Names are imported on first use, so `phazelab.train.cli` (the command-line parser) and
`phazelab.train.checkpoint` load without pulling in the trainer and the data pipeline.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_HOMES = {
    "CheckpointError": "checkpoint", "find_snapshot": "checkpoint", "list_snapshots": "checkpoint",
    "LOSS_CHOICES": "losses", "CompositeLoss": "losses", "loss_term": "losses",
    "FACESWAP_EXTRA_LOSSES": "trainer", "STATES": "trainer", "NonFiniteLossError": "trainer",
    "Trainer": "trainer", "TrainerBusyError": "trainer", "TrainerFailure": "trainer",
    "preview_grid": "trainer", "resolve_device": "precision", "resolve_precision": "precision",
    "ConcurrentTrainer": "concurrent",
}
__all__ = sorted(_HOMES)


__getattr__, __dir__ = lazy_exports(__name__, {name: f".{home}" for name, home in _HOMES.items()}, globals())
