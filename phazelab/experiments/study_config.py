"""The forum study's settings (`StudyConfig`), its arms and modes, and its error type.

Defaults are the full study; `StudyConfig.quick_settings()` is the ≤ 10-minute CPU run from the shipped
stage-1 models. The decision margins live here too, as defaults, so they are fixed before any number
is seen and recorded with every result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ..analysis.gates import GATE_SUCCESS
from ..config import TOPOLOGIES as _TOPOLOGIES
from ..config import require_known
from ..strategies import STRATEGIES

TOPOLOGIES: Mapping[str, Mapping[str, Any]] = dict(_TOPOLOGIES)
MODES = ("trainable", "frozen", "kickstart")
# The full study's arms: scratch (the reference), the forum's strategies, the kickstart, and the
# positive control "all" (fc_a / decoder_a included: a1 must leak there if the measure can see a leak).
ARMS = (("scratch", "trainable"), ("encoder", "trainable"), ("encoder", "frozen"), ("encoder", "kickstart"),
        ("encoder+fc_b", "trainable"), ("encoder+fc_b+gblock", "trainable"), ("all_but_a", "trainable"),
        ("all_but_a", "frozen"), ("all", "trainable"))
# --quick: the arms Q3 needs (frozen encoder against the positive control) and the reference.
QUICK_RUNS = (("scratch", "trainable"), ("encoder", "frozen"), ("all", "trainable"))
QUICK_RUNS_ALL = ARMS

# Bump when what a finished run measures changes: older run files are then re-run, not reused.
METHOD_VERSION = 4


class StudyError(ValueError):
    """Bad study settings (the message names the setting and what was expected)."""


@dataclass
class Margins:
    """Decision margins (rules.verdict), fixed before the numbers. Differences inside ±margin count as
    "no measurable difference"; see phazelab.experiments.answers for which rule uses which."""

    log2_time: float = math.log2(1.5)  # time to gate: a ratio within 1/1.5 … 1.5 is "the same speed"
    success: float = 0.10  # judge swap success (0..1)
    leakage: float = 0.10  # a1 leakage: share of swaps the judge names a1, minus a placebo's share
    ssim: float = 0.02  # side-B reconstruction SSIM


@dataclass
class StudyConfig:
    """Everything that defines the study (defaults: the full study; see the module docstring).

    Stage 1 is a1+b1 trained to the swap gate: with `stage1_from` (a folder holding one model folder per
    topology, e.g. data/models) it is read from there and its meta.json's gate is checked; with
    `stage1_from=None` it is trained with the lab's swap recipe (`experiments.swap`, stopping at the gate,
    at most `stage1_steps`). a1 and b1 are the stage-1 model's recorded pair in its recorded world.

    Replicates are (a2, seed) pairs: a2 = a1 moved `a2_distance` of the way towards the world's
    never-trained identity k, for each k in `a2_towards` (in the hard world a2 then shares a1's colours
    and differs in geometry only), times `seeds` stage-2 seeds. Every arm runs every replicate (paired).
    """

    topologies: tuple[str, ...] = ("split_decoders", "default")
    runs: tuple[tuple[str, str], ...] = ARMS
    stage1_from: str | None = "data/models"
    stage1_steps: int = 20000
    stage1_preset: str = "lab-slim"
    gate: float = GATE_SUCCESS
    a2_towards: tuple[int, ...] = (2, 3, 4)
    a2_distance: float = 0.5
    seeds: int = 1
    n_placebos: int = 6
    stage2_steps: int = 1600  # the frozen-encoder arm's side A first rendered faces at 800–1000 steps (RESULTS)
    kickstart: int | None = None  # K of the kickstart mode; None = stage2_steps // 4
    batch: int | None = None  # None = stage 1's recipe batch
    lr: float | None = None  # None = stage 1's recipe lr (constant after its warm-up in stage 2)
    eval_every: int = 200
    eval_n: int = 32
    cka_n: int = 32
    grid_n: int = 4
    margins: Margins = field(default_factory=Margins)
    quick: bool = False

    def __post_init__(self) -> None:
        self.topologies = tuple(self.topologies)
        self.runs = tuple((str(s), str(m)) for s, m in self.runs)
        self.a2_towards = tuple(int(k) for k in self.a2_towards)
        if isinstance(self.margins, Mapping):
            require_known(self.margins, Margins, StudyError, "study margin")
            self.margins = Margins(**self.margins)
        self.validate()

    @classmethod
    def quick_settings(cls, **changes: Any) -> StudyConfig:
        """`--quick` (≤ 10 min on the 2-core CPU): the shipped split_decoders stage 1, the arms of
        QUICK_RUNS, two replicates, 200 stage-2 steps, 24 evaluation frames."""
        base = dict(topologies=("split_decoders",), runs=QUICK_RUNS, a2_towards=(2, 3), stage2_steps=200,
                    eval_every=100, eval_n=24, cka_n=24, n_placebos=5, quick=True)
        return cls(**{**base, **changes})

    @property
    def replicates(self) -> list[tuple[int, int]]:
        """(towards, seed) of every replicate, in run order."""
        return [(k, s) for s in range(self.seeds) for k in self.a2_towards]

    @property
    def kickstart_steps(self) -> int:
        return self.kickstart if self.kickstart is not None else max(1, self.stage2_steps // 4)

    def validate(self) -> None:
        for name in ("seeds", "stage1_steps", "stage2_steps", "eval_every", "eval_n", "cka_n", "grid_n",
                     "n_placebos"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise StudyError(f"study setting {name} must be an integer ≥ 1, got {value!r}")
        if self.eval_n < 8 or self.cka_n < 8:
            raise StudyError(f"eval_n and cka_n must be ≥ 8 frames, got {self.eval_n} and {self.cka_n}")
        if self.n_placebos < 2:
            raise StudyError(f"n_placebos must be ≥ 2 (one serves as the null), got {self.n_placebos}")
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
        if len(set(self.runs)) != len(self.runs):
            raise StudyError(f"runs has repeats: {list(self.runs)}")
        if (not self.a2_towards or min(self.a2_towards) < 0 or max(self.a2_towards) >= 100
                or len(set(self.a2_towards)) != len(self.a2_towards)):
            raise StudyError(f"a2_towards must be distinct identity ids in 0..99, got {list(self.a2_towards)}")
        if not 0.0 < self.a2_distance <= 1.0:
            raise StudyError(f"a2_distance must be in (0, 1], got {self.a2_distance!r}")
        if not 0.0 < self.gate <= 1.0:
            raise StudyError(f"gate must be a swap success in (0, 1], got {self.gate!r}")
        k = self.kickstart_steps
        if not 0 < k < self.stage2_steps:
            raise StudyError(f"kickstart K must be in 1..{self.stage2_steps - 1} (stage-2 steps), got {k}")
        if self.batch is not None and (isinstance(self.batch, bool) or not isinstance(self.batch, int)
                                       or self.batch < 1):
            raise StudyError(f"batch must be an integer ≥ 1 or None (stage 1's), got {self.batch!r}")
        if self.lr is not None and not self.lr > 0:
            raise StudyError(f"lr must be > 0 or None (stage 1's), got {self.lr!r}")
        for name, value in asdict(self.margins).items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise StudyError(f"margin {name} must be a finite number > 0, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["topologies"], out["runs"] = list(self.topologies), [list(r) for r in self.runs]
        out["a2_towards"] = list(self.a2_towards)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StudyConfig:
        require_known(data, cls, StudyError, "study setting")
        data = dict(data)
        if "runs" in data:
            data["runs"] = tuple(tuple(r) for r in data["runs"])
        return cls(**data)
