"""The forum study's settings (`StudyConfig`), its named topologies and modes, and its error type."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ..config import TOPOLOGIES as _TOPOLOGIES
from ..config import ConfigError, PhazeAConfig, require_known
from ..strategies import STRATEGIES

# The named topologies of phazelab.config.TOPOLOGIES; "config" keeps the given config's own topology.
TOPOLOGIES: Mapping[str, Mapping[str, Any]] = {**_TOPOLOGIES, "config": {}}
MODES = ("trainable", "frozen", "kickstart")
# --quick: the runs that answer the forum question most directly, one seed.
QUICK_RUNS = (("scratch", "trainable"), ("encoder", "trainable"), ("encoder", "frozen"),
              ("encoder", "kickstart"), ("encoder+fc_b", "trainable"), ("encoder+fc_b+gblock", "trainable"),
              ("all_but_a", "trainable"), ("all_but_a", "frozen"))


# Bump when what a finished run measures changes: older run files are then re-run, not reused.
METHOD_VERSION = 2


class StudyError(ValueError):
    """Bad study settings (the message names the setting and what was expected)."""


# --------------------------------------------------------------------------------------------------
# settings
@dataclass
class StudyConfig:
    """Everything that defines the study. Defaults are the full study; `StudyConfig.quick()` the CPU one."""

    topologies: tuple[str, ...] = ("default", "split_decoders")
    runs: tuple[tuple[str, str], ...] = tuple((s, m) for s in STRATEGIES for m in MODES
                                              if s != "scratch" or m == "trainable")
    seeds: int = 3
    stage1_steps: int = 2000
    stage2_steps: int = 1000
    batch: int = 16
    preset: str = "lab-small"
    base_config: dict[str, Any] | None = None  # a full PhazeAConfig dict (from --config); wins over preset
    overrides: dict[str, Any] = field(default_factory=dict)  # options applied on top (e.g. from --set)
    lr: float = 5e-5  # faceswap's Adam learning rate
    precision: str = "auto"
    target_fraction: float = 0.75  # target = stage-1 trailing loss after this fraction of stage-2 steps
    target_loss: float | None = None  # a fixed target for both sides instead
    smooth: int = 20  # trailing-mean window (steps) for the target test and final losses
    kickstart: int | None = None  # K for the kickstart mode; None = stage2_steps // 4
    world_seed: int = 0
    a1: int = 0
    b1: int = 1
    sibling_distance: float = 0.5  # a2 = a1 moved this far towards a random identity (0 = a1, 1 = random)
    sibling_seed: int = 0  # which random identity a2 moves towards (FaceWorld.add_sibling seed)
    bank_size: int = 1024  # faces rendered once per identity and sampled from (0 = a fresh render per batch)
    eval_every: int = 100  # leakage and held-out SSIM every this many stage-2 steps (and at 0 and the end)
    eval_n: int = 64  # held-out frames for leakage and swap SSIM
    cka_n: int = 64  # held-out frames per side for CKA
    grid_n: int = 4  # faces in each run's swap grid
    metrics_every: int | None = None  # trainer metric reads; None = 1 on CPU, 10 on GPU
    quick: bool = False

    def __post_init__(self) -> None:
        self.topologies = tuple(self.topologies)
        self.runs = tuple((str(s), str(m)) for s, m in self.runs)
        self.validate()

    @classmethod
    def quick_settings(cls, **changes: Any) -> StudyConfig:
        """`--quick`: lab-tiny, batch 4, one seed, one topology, a subset of runs (QUICK_RUNS), 200 + 100
        steps at 4× faceswap's learning rate (so that 100 steps learn something)."""
        base = dict(topologies=("default",), runs=QUICK_RUNS, seeds=1, stage1_steps=200, stage2_steps=100,
                    batch=4, preset="lab-tiny", lr=2e-4, smooth=15, eval_every=50, eval_n=24, cka_n=32,
                    bank_size=256, quick=True)
        return cls(**{**base, **changes})

    def validate(self) -> None:
        for name in ("seeds", "stage1_steps", "stage2_steps", "batch", "smooth", "eval_every", "eval_n",
                     "cka_n", "grid_n"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise StudyError(f"study setting {name} must be an integer ≥ 1, got {value!r}")
        if self.eval_n < 8 or self.cka_n < 8:
            raise StudyError(f"eval_n and cka_n must be ≥ 8 frames, got {self.eval_n} and {self.cka_n}")
        if not self.topologies:
            raise StudyError("topologies is empty; choose from " + ", ".join(TOPOLOGIES))
        bad = [t for t in self.topologies if t not in TOPOLOGIES]
        if bad:
            raise StudyError(f"unknown topology {bad}; choose from {list(TOPOLOGIES)}")
        if not self.runs:
            raise StudyError("no runs selected (strategies × modes is empty)")
        for strategy, mode in self.runs:
            if strategy not in STRATEGIES:
                raise StudyError(f"unknown strategy {strategy!r}; choose from {list(STRATEGIES)}")
            if mode not in MODES:
                raise StudyError(f"unknown mode {mode!r} for {strategy}; choose from {list(MODES)}")
            if strategy == "scratch" and mode != "trainable":
                raise StudyError("scratch loads nothing, so it has only the 'trainable' mode")
        if not 0.0 <= self.sibling_distance <= 1.0:
            raise StudyError(f"sibling_distance must be in [0, 1], got {self.sibling_distance!r}")
        if not 0.0 < self.target_fraction <= 1.0:
            raise StudyError(f"target_fraction must be in (0, 1], got {self.target_fraction!r}")
        if round(self.target_fraction * self.stage2_steps) > self.stage1_steps:
            at = round(self.target_fraction * self.stage2_steps)
            raise StudyError(f"the target is stage 1's loss at step {at} but stage 1 trains only "
                             f"{self.stage1_steps} steps; raise stage1_steps")
        if self.target_loss is not None and not self.target_loss > 0:
            raise StudyError(f"target_loss must be > 0, got {self.target_loss!r}")
        k = self.kickstart_steps
        if not 0 < k < self.stage2_steps:
            raise StudyError(f"kickstart K must be in 1..{self.stage2_steps - 1} (stage-2 steps), got {k}")
        if self.a1 == self.b1 or min(self.a1, self.b1) < 0:
            raise StudyError(f"a1 and b1 must be two different identity ids ≥ 0, got {self.a1} and {self.b1}")
        if isinstance(self.bank_size, bool) or not isinstance(self.bank_size, int) or self.bank_size < 0:
            raise StudyError(f"bank_size must be an integer ≥ 0, got {self.bank_size!r}")
        every = self.metrics_every
        if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
            raise StudyError(f"metrics_every must be an integer ≥ 1 or None, got {self.metrics_every!r}")
        if not self.lr > 0:
            raise StudyError(f"lr must be > 0, got {self.lr!r}")

    @property
    def kickstart_steps(self) -> int:
        return self.kickstart if self.kickstart is not None else max(1, self.stage2_steps // 4)

    def base(self) -> PhazeAConfig:
        """The model config before the topology is applied (config file, else preset; then overrides)."""
        try:
            cfg = (PhazeAConfig.from_dict(self.base_config) if self.base_config is not None
                   else PhazeAConfig.preset(self.preset))
            return cfg.replace(**self.overrides) if self.overrides else cfg
        except ConfigError as exc:
            raise StudyError(f"study model config: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["topologies"], out["runs"] = list(self.topologies), [list(r) for r in self.runs]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StudyConfig:
        require_known(data, cls, StudyError, "study setting")
        data = dict(data)
        if "runs" in data:
            data["runs"] = tuple(tuple(r) for r in data["runs"])
        return cls(**data)


def topology_config(study: StudyConfig, topology: str) -> PhazeAConfig:
    """The stage-1/stage-2 model config of one topology."""
    if topology not in TOPOLOGIES:
        raise StudyError(f"unknown topology {topology!r}; choose from {list(TOPOLOGIES)}")
    try:
        return study.base().replace(**TOPOLOGIES[topology])
    except ConfigError as exc:
        raise StudyError(f"topology {topology}: {exc}") from exc
