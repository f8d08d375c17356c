"""Identities of the synthetic world: a latent vector in [0, 1]^D per identity, mapped to physical
parameters (head shape, hair, eyes, nose, mouth, colours, glasses, beard), and the farthest-point pick of
well-separated identities."""

from __future__ import annotations

from collections.abc import Sequence

import torch

# ----------------------------------------------------------------------------------------------------------
# Identities: a latent vector in [0, 1]^D per identity, mapped to physical parameters
# ----------------------------------------------------------------------------------------------------------

# name: (low, high) for scalar parameters; colours use the palettes below.
_SCALARS: dict[str, tuple[float, float]] = {
    "head_width": (0.60, 0.74),
    "head_height": (0.80, 0.92),
    "head_depth": (0.95, 1.12),  # relative to head_width
    "jaw_width": (0.44, 0.64),
    "jaw_length": (0.40, 0.56),
    "hair_front": (0.30, 1.05),  # hairline height at the forehead (above ~0.9: bald crown)
    "hair_back": (-1.25, -0.15),  # how far down the back/side hair reaches (low = long hair)
    "hair_volume": (0.03, 0.16),
    "hair_part": (-0.3, 0.3),
    "hair_wave": (0.0, 0.07),
    "eye_spacing": (0.22, 0.31),
    "eye_y": (-0.02, 0.08),
    "eye_width": (0.085, 0.13),
    "eye_height": (0.04, 0.07),
    "eye_tilt": (-0.3, 0.3),
    "iris_size": (0.55, 0.85),
    "brow_thickness": (0.015, 0.04),
    "brow_gap": (0.05, 0.11),
    "brow_tilt": (-0.35, 0.35),
    "brow_length": (0.09, 0.15),
    "nose_length": (0.10, 0.19),
    "nose_width": (0.05, 0.095),
    "nose_protrusion": (0.07, 0.15),
    "mouth_gap": (0.07, 0.14),  # nose tip to mouth
    "mouth_width": (0.13, 0.23),
    "lip_thickness": (0.015, 0.035),
    "ear_size": (0.8, 1.25),
    "glasses_size": (0.95, 1.25),
    "beard_shape": (0.8, 2.6),
}
_PALETTES: dict[str, tuple[tuple[float, float, float], ...]] = {
    "skin_color": (
        (0.98, 0.86, 0.76), (0.93, 0.76, 0.63), (0.85, 0.64, 0.50),
        (0.72, 0.52, 0.38), (0.55, 0.38, 0.26), (0.38, 0.25, 0.17),
    ),
    "hair_color": (
        (0.07, 0.06, 0.05), (0.24, 0.14, 0.08), (0.45, 0.28, 0.14), (0.62, 0.24, 0.10),
        (0.86, 0.46, 0.16), (0.90, 0.76, 0.44), (0.94, 0.91, 0.80), (0.58, 0.58, 0.60),
    ),
    "iris_color": (
        (0.22, 0.12, 0.06), (0.42, 0.26, 0.12), (0.45, 0.42, 0.16),
        (0.20, 0.48, 0.26), (0.22, 0.45, 0.78), (0.50, 0.56, 0.62),
    ),
    "glasses_color": (
        (0.05, 0.05, 0.05), (0.38, 0.20, 0.08), (0.72, 0.10, 0.10), (0.10, 0.22, 0.62), (0.80, 0.66, 0.20),
    ),
}
# Latent dimensions that are not a scalar range or a palette: switches and mixes.
_EXTRA = ("lip_red", "skin_hue", "glasses", "beard")
LATENT_NAMES: tuple[str, ...] = tuple(_SCALARS) + tuple(_PALETTES) + _EXTRA
# How much each latent dimension changes the look (weights for picking well-separated identities).
_SALIENCE = {"skin_color": 2.5, "hair_color": 3.0, "hair_front": 2.0, "hair_back": 2.0, "head_width": 1.0,
             "jaw_width": 1.0, "iris_color": 0.5, "hair_volume": 1.0}
_SWITCH_SALIENCE = {"glasses": 2.5, "beard": 1.2}
_GLASSES_ABOVE = 0.7  # latent value above which an identity wears glasses (smooth over 0.04)
_BEARD_ABOVE = 0.8  # ... has a beard


def _switch(z: torch.Tensor, above: float) -> torch.Tensor:
    return ((z - above) / 0.04).clamp(0.0, 1.0)


def _palette(z: torch.Tensor, colours: Sequence[tuple[float, float, float]]) -> torch.Tensor:
    table = torch.tensor(colours, dtype=torch.float32, device=z.device)
    pos = z.clamp(0, 1) * (len(colours) - 1)
    lo = pos.floor().long().clamp(max=len(colours) - 2)
    frac = (pos - lo).unsqueeze(-1)
    return table[lo] * (1 - frac) + table[lo + 1] * frac


def _physical(latent: torch.Tensor) -> dict[str, torch.Tensor]:
    """Map latent rows in [0, 1]^D to named physical parameters (scalars (n,), colours (n, 3))."""
    col = {name: latent[:, i] for i, name in enumerate(LATENT_NAMES)}
    out: dict[str, torch.Tensor] = {}
    for name, (lo, hi) in _SCALARS.items():
        out[name] = lo + (hi - lo) * col[name]
    for name, colours in _PALETTES.items():
        out[name] = _palette(col[name], colours)
    hue = (col["skin_hue"] - 0.5) * 0.06  # a little redder or more olive
    out["skin_color"] = (out["skin_color"] + torch.stack([hue, -0.3 * hue, -hue], -1)).clamp(0, 1)
    red = torch.tensor([0.78, 0.30, 0.32], device=latent.device)
    mix = (0.3 + 0.45 * col["lip_red"]).unsqueeze(-1)
    out["lip_color"] = out["skin_color"] * (1 - mix) + red * mix * out["skin_color"].mean(-1, keepdim=True) * 1.3
    out["glasses"] = _switch(col["glasses"], _GLASSES_ABOVE)
    out["beard"] = _switch(col["beard"], _BEARD_ABOVE)
    return out


def _salient_embedding(latent: torch.Tensor) -> torch.Tensor:
    cols = [latent[:, LATENT_NAMES.index(n)] * w for n, w in _SALIENCE.items()]
    cols += [_switch(latent[:, LATENT_NAMES.index(n)], a) * _SWITCH_SALIENCE[n]
             for n, a in (("glasses", _GLASSES_ABOVE), ("beard", _BEARD_ABOVE))]
    rest = [latent[:, i] * 0.35 for i, n in enumerate(LATENT_NAMES) if n not in _SALIENCE
            and n not in _SWITCH_SALIENCE]
    return torch.stack(cols + rest, dim=1)


def _pick_distinct(generator: torch.Generator, n: int) -> torch.Tensor:
    """n latent rows chosen far apart (greedy farthest-point over a random pool), so identities are easy
    to tell apart; the first row is the pool's first draw."""
    pool = torch.rand(max(64, 24 * n), len(LATENT_NAMES), generator=generator)
    emb = _salient_embedding(pool)
    return pool[farthest_points(emb, n)]


# What "hard" identities share (FaceWorld(hard=True)): skin, hair colour, hairline and hair shape,
# glasses, beard, iris and lip colour; they differ only in facial geometry (head and jaw shape, eyes,
# brows, nose, mouth, ears), so a model or metric cannot tell them apart by colour.
SHARED_IN_HARD: tuple[str, ...] = (
    "skin_color", "skin_hue", "hair_color", "hair_front", "hair_back", "hair_volume", "hair_part", "hair_wave",
    "glasses", "glasses_color", "glasses_size", "beard", "beard_shape", "iris_color", "lip_red",
)
GEOMETRY: tuple[str, ...] = tuple(n for n in LATENT_NAMES if n not in SHARED_IN_HARD)


def pick_hard(generator: torch.Generator, n: int) -> torch.Tensor:
    """n latent rows that share every SHARED_IN_HARD value (the first draw's, with glasses and beard
    off) and are picked far apart in facial geometry alone (greedy farthest-point, equal weights)."""
    pool = torch.rand(max(64, 24 * n), len(LATENT_NAMES), generator=generator)
    shared = [LATENT_NAMES.index(name) for name in SHARED_IN_HARD]
    pool[:, shared] = pool[:1, shared]
    pool[:, LATENT_NAMES.index("glasses")] = 0.0
    pool[:, LATENT_NAMES.index("beard")] = 0.0
    emb = pool[:, [LATENT_NAMES.index(name) for name in GEOMETRY]]
    return pool[farthest_points(emb, n)]


def farthest_points(emb: torch.Tensor, n: int) -> list[int]:
    """Greedy farthest-point selection of n rows of `emb` (N, D), starting from row 0."""
    chosen = [0]
    dist = torch.cdist(emb, emb[:1]).squeeze(1)
    for _ in range(n - 1):
        nxt = int(dist.argmax())
        chosen.append(nxt)
        dist = torch.minimum(dist, torch.cdist(emb, emb[nxt : nxt + 1]).squeeze(1))
    return chosen
