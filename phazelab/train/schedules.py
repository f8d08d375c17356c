"""Schedules the Trainer follows step by step: the learning rate (warm-up, then constant or cosine) and
"kickstart" unfreezing (`unfreeze_at`).

Why warm-up and decay: at the learning rates that train the lab's small models in minutes (1e-3), Adam
without a warm-up can collapse a model to a constant output in its first steps (measured on lab-small at
5e-4); a linear warm-up then a cosine decay is the standard recipe (Goyal et al. 2017, "Accurate, Large
Minibatch SGD"; Loshchilov & Hutter 2017, "SGDR"). faceswap itself trains at a constant rate (5e-5).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["LR_SCHEDULES", "LRSchedule", "UnfreezeAt", "normalise_unfreeze_at"]

LR_SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class LRSchedule:
    """The learning rate for each update: linear warm-up over ``warmup`` steps from lr/warmup to ``lr``,
    then ``constant`` or ``cosine`` decay to ``lr * min_factor`` at step ``total`` (held after it).

    Args:
        lr: the peak learning rate (> 0).
        kind: "constant" or "cosine".
        warmup: warm-up steps (>= 0; 0 = none).
        total: the step where the cosine reaches its floor (required for "cosine", > warmup).
        min_factor: the cosine's floor as a fraction of ``lr`` (0..1).

    Raises:
        ValueError: naming the option that is out of range.
    """

    lr: float
    kind: str = "constant"
    warmup: int = 0
    total: int | None = None
    min_factor: float = 0.1

    def __post_init__(self) -> None:
        if not (isinstance(self.lr, (int, float)) and not isinstance(self.lr, bool) and self.lr > 0):
            raise ValueError(f"lr must be a number > 0, got {self.lr!r}")
        if self.kind not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {list(LR_SCHEDULES)}, got {self.kind!r}")
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            raise ValueError(f"lr_warmup must be an integer >= 0 (steps), got {self.warmup!r}")
        if self.kind == "cosine":
            if isinstance(self.total, bool) or not isinstance(self.total, int) or self.total <= self.warmup:
                raise ValueError(f"lr_schedule='cosine' needs lr_schedule_steps, an integer > lr_warmup "
                                 f"({self.warmup}): the step where the decay ends; got {self.total!r}")
        if not (isinstance(self.min_factor, (int, float)) and 0 <= self.min_factor <= 1):
            raise ValueError(f"lr_min_factor must be a number in [0, 1], got {self.min_factor!r}")

    def at(self, step: int) -> float:
        """The learning rate of update number ``step`` (1 = the first update)."""
        if self.warmup and step <= self.warmup:
            return self.lr * step / self.warmup
        if self.kind == "constant":
            return float(self.lr)
        assert self.total is not None
        progress = min(1.0, (step - self.warmup) / (self.total - self.warmup))
        floor = self.lr * self.min_factor
        return floor + (self.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def with_lr(self, lr: float) -> LRSchedule:
        """The same shape with another peak rate (what `Trainer.set_lr` changes)."""
        return LRSchedule(lr, self.kind, self.warmup, self.total, self.min_factor)


UnfreezeAt = int | Mapping[str, int] | tuple[str | Sequence[str] | None, int] | None


def normalise_unfreeze_at(spec: UnfreezeAt | list, blocks: Iterable[str]) -> list[tuple[int, list[str] | None]]:
    """unfreeze_at → sorted [(step, blocks or None = every frozen block)].

    Accepts K (unfreeze everything frozen at step K), {block: K, ...}, (blocks, K), or the list form
    this function returns (as stored in checkpoints).
    """
    if spec is None:
        return []
    known = set(blocks)
    if isinstance(spec, bool):
        raise ValueError(f"unfreeze_at: expected a step, {{block: step}} or (blocks, step), got {spec!r}")
    if isinstance(spec, int):
        entries: list[tuple[int, list[str] | None]] = [(spec, None)]
    elif isinstance(spec, Mapping):
        by_step: dict[int, list[str]] = {}
        for name, step in spec.items():
            by_step.setdefault(step, []).append(name)
        entries = list(by_step.items())
    elif isinstance(spec, tuple) and len(spec) == 2 and not isinstance(spec[1], (list, tuple)):
        names, step = spec
        entries = [(step, None if names is None else ([names] if isinstance(names, str) else list(names)))]
    elif isinstance(spec, list):
        entries = [(int(s), None if b is None else list(b)) for s, b in spec]
    else:
        raise ValueError(f"unfreeze_at: expected a step, {{block: step}} or (blocks, step), got {spec!r}")
    for step, names in entries:
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"unfreeze_at: steps must be integers ≥ 0, got {step!r}")
        bad = [n for n in names or [] if n not in known]
        if bad:
            raise ValueError(f"unfreeze_at: block(s) {bad} not in this model; blocks: {sorted(known)}")
    return sorted(entries, key=lambda e: e[0])


