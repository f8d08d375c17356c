"""Per-image factors of the synthetic world (pose, expression, lighting, framing) and labels (identity +
factors): the exact ground truth every image carries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch

POSE_COLUMNS = ("yaw", "pitch", "roll")
EXPRESSION_COLUMNS = ("smile", "mouth_open", "eyes_closed", "brows_raised")
LIGHTING_COLUMNS = (
    "light_azimuth",  # degrees; positive = light from image right
    "light_elevation",  # degrees; positive = light from above
    "light_strength",  # diffuse strength
    "light_ambient",  # ambient level
    "light_r",  # light colour (multiplies the shaded colour)
    "light_g",
    "light_b",
)
JITTER_COLUMNS = (
    "bg_r",  # background colour
    "bg_g",
    "bg_b",
    "shift_x",  # framing shift, fraction of the half-crop (image units)
    "shift_y",
    "scale",  # framing zoom (1 = nominal)
)
_GROUPS = {
    "pose": POSE_COLUMNS,
    "expression": EXPRESSION_COLUMNS,
    "lighting": LIGHTING_COLUMNS,
    "jitter": JITTER_COLUMNS,
}

# Ranges the factors are drawn from (uniform unless noted in `FaceWorld.random_factors`).
POSE_RANGE = {"yaw": 40.0, "pitch": 20.0, "roll": 8.0}  # +- degrees


# ----------------------------------------------------------------------------------------------------------
# Labels
# ----------------------------------------------------------------------------------------------------------


@dataclass
class Factors:
    """Per-image factors, each a float tensor with a leading dimension N (columns named in *_COLUMNS)."""

    pose: torch.Tensor  # (N, 3) yaw, pitch, roll in degrees
    expression: torch.Tensor  # (N, 4) smile, mouth_open, eyes_closed, brows_raised in [0, 1]
    lighting: torch.Tensor  # (N, 7) LIGHTING_COLUMNS
    jitter: torch.Tensor  # (N, 6) JITTER_COLUMNS

    def __post_init__(self) -> None:
        n = None
        for group, columns in _GROUPS.items():
            value = getattr(self, group)
            if not isinstance(value, torch.Tensor) or value.ndim != 2 or value.shape[1] != len(columns):
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise ValueError(
                    f"Factors.{group}: expected a tensor of shape (N, {len(columns)}) with columns "
                    f"{', '.join(columns)}; got {shape}"
                )
            if n is not None and value.shape[0] != n:
                raise ValueError(f"Factors.{group}: has {value.shape[0]} rows, the other fields have {n}")
            n = value.shape[0]

    def __len__(self) -> int:
        return self.pose.shape[0]

    @property
    def device(self) -> torch.device:
        return self.pose.device

    def index(self, idx: int | slice | Sequence[int] | torch.Tensor) -> Factors:
        """The subset ``idx`` (an int keeps the leading dimension)."""
        if isinstance(idx, int):
            idx = slice(idx, idx + 1) if idx != -1 else slice(-1, None)
        elif not isinstance(idx, slice | torch.Tensor):
            idx = torch.as_tensor(idx, dtype=torch.long)
        if isinstance(idx, torch.Tensor):
            idx = idx.to(self.device)
        return Factors(*(getattr(self, g)[idx] for g in _GROUPS))

    def to(self, device: torch.device | str | None) -> Factors:
        if device is None:
            return self
        return Factors(*(getattr(self, g).to(device) for g in _GROUPS))

    def to_frame(self) -> pd.DataFrame:
        """One row per image with named columns (yaw, pitch, ..., scale) for analysis and plots."""
        data = {}
        for group, columns in _GROUPS.items():
            values = getattr(self, group).detach().float().cpu().numpy()
            for i, column in enumerate(columns):
                data[column] = values[:, i]
        return pd.DataFrame(data)

    def with_values(self, **columns: float | torch.Tensor) -> Factors:
        """A copy with some named columns replaced (a number or an (N,) tensor), e.g. ``yaw=30``."""
        out = {g: getattr(self, g).clone() for g in _GROUPS}
        for name, value in columns.items():
            for group, names in _GROUPS.items():
                if name in names:
                    out[group][:, names.index(name)] = torch.as_tensor(value, dtype=out[group].dtype)
                    break
            else:
                known = ", ".join(c for cols in _GROUPS.values() for c in cols)
                raise ValueError(f"Factors.with_values: unknown column {name!r}; known: {known}")
        return Factors(**out)

    @staticmethod
    def cat(items: Sequence[Factors]) -> Factors:
        return Factors(*(torch.cat([getattr(f, g) for f in items]) for g in _GROUPS))

    @staticmethod
    def neutral(n: int = 1) -> Factors:
        """Frontal, neutral expression, frontal light, grey background, no framing jitter."""
        return Factors(
            pose=torch.zeros(n, 3),
            expression=torch.zeros(n, 4),
            lighting=torch.tensor([[0.0, 20.0, 0.65, 0.4, 1.0, 1.0, 1.0]]).repeat(n, 1),
            jitter=torch.tensor([[0.55, 0.6, 0.65, 0.0, 0.0, 1.0]]).repeat(n, 1),
        )


@dataclass
class Labels:
    """What is known about each rendered image: its identity id and all its factors."""

    identity: torch.Tensor  # (N,) long
    factors: Factors

    def __len__(self) -> int:
        return self.identity.shape[0]

    def index(self, idx: int | slice | Sequence[int] | torch.Tensor) -> Labels:
        if isinstance(idx, int):
            idx = slice(idx, idx + 1) if idx != -1 else slice(-1, None)
        elif not isinstance(idx, slice | torch.Tensor):
            idx = torch.as_tensor(idx, dtype=torch.long)
        ids = self.identity[idx.to(self.identity.device) if isinstance(idx, torch.Tensor) else idx]
        return Labels(ids, self.factors.index(idx))

    def to_frame(self) -> pd.DataFrame:
        frame = self.factors.to_frame()
        frame.insert(0, "identity", self.identity.detach().cpu().numpy())
        return frame
