"""The synthetic face world: cartoon identities with exact ground truth, rendered fast in 2.5-D.

Why it exists: the lab's science (probes, ground-truth swaps, identity leakage) needs faces whose
identity, pose, expression and lighting are known exactly, with no downloads. Each identity is a fixed
vector of shape/colour parameters; each image adds explicit factors. Because everything is explicit, the
ground-truth swap of an A frame to identity B is simply a render of B with A's factors.

How it renders: every part (cranium, jaw, nose, ears, hair shell, neck) is an ellipsoid ray-cast
orthographically for all pixels of the batch at once (a closed-form quadratic per pixel), composited with
a soft depth test; eyes, brows, mouth, beard and glasses are painted as signed-distance shapes in head
coordinates, so pose moves and foreshortens them and far-side parts are occluded. Edges are
anti-aliased by a one-pixel coverage ramp rather than supersampling. All of it is plain torch on any
device, deterministic for the same inputs.

Coordinates: image x to the right, y up, both in [-1, 1] over the crop; z towards the viewer. Positive
yaw turns the face towards image right, positive pitch tilts it up, positive roll turns it
counter-clockwise.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from phazelab.data.source import FaceSource, check_batch_args

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
    chosen = [0]
    dist = torch.cdist(emb, emb[:1]).squeeze(1)
    for _ in range(n - 1):
        nxt = int(dist.argmax())
        chosen.append(nxt)
        dist = torch.minimum(dist, torch.cdist(emb, emb[nxt : nxt + 1]).squeeze(1))
    return pool[chosen]


# ----------------------------------------------------------------------------------------------------------
# Rendering
#
# Two stages. `_setup` turns per-image parameters and factors into per-image coefficients (small tensors):
# for each ellipsoid, the ray cast through pixel (u, v) is closed-form: with q the closest approach of the
# ray to the ellipsoid centre in the ellipsoid's unit-sphere frame, "inside" = 1 - |q|^2 is a quadratic in
# (u, v), w = sqrt(inside), and depth, lighting and surface coordinates are linear in (u, v, w). `_draw` then
# evaluates these for every pixel of a chunk of images (a few hundred cheap element-wise ops per pixel,
# chunks sized to stay in cache) and composites the layers with a soft depth test.
# ----------------------------------------------------------------------------------------------------------

_HEAD_Y = 0.05  # head centre height in the crop (scene units)
_ZOOM = 1.22  # crop half-width in scene units is 1 / _ZOOM: the face fills the crop like an aligned face
_RECENTRE = 0.3  # how much of the mid-face shift under yaw/pitch is undone (aligned crops follow the face)
_SOFT_Z = 0.03  # soft depth test width (scene units): smooth unions where surfaces meet
_SOFT_UNION = 0.1  # wider blend where the cranium meets the jaw (hides the crease)
_WRAP = 0.35  # wrapped Lambert: light reaches a little past the terminator
_CHUNK_PIXELS = 1 << 17  # pixels per chunk in the pixel stage (keeps the working set in cache)


def _rotation(pose_deg: torch.Tensor) -> torch.Tensor:
    """(N, 3) yaw, pitch, roll in degrees -> (N, 3, 3) head-to-camera rotation Rz(roll) Rx(pitch) Ry(yaw)."""
    yaw, pitch, roll = torch.deg2rad(pose_deg).unbind(-1)
    one, zero = torch.ones_like(yaw), torch.zeros_like(yaw)
    cy, sy, cp, sp, cr, sr = yaw.cos(), yaw.sin(), pitch.cos(), pitch.sin(), roll.cos(), roll.sin()
    ry = torch.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).view(-1, 3, 3)
    rx = torch.stack([one, zero, zero, zero, cp, sp, zero, -sp, cp], -1).view(-1, 3, 3)
    rz = torch.stack([cr, -sr, zero, sr, cr, zero, zero, zero, one], -1).view(-1, 3, 3)
    return rz @ rx @ ry


def _col(x: torch.Tensor) -> torch.Tensor:
    """Per-image scalar (N,) -> (N, 1, 1), per-image colour (N, 3) -> (N, 3, 1, 1)."""
    return x.reshape(-1, 1, 1) if x.ndim == 1 else x.reshape(-1, 3, 1, 1)


def _dot(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x * y).sum(-1)


def _ellipsoid(sc: dict, name: str, centre, rot, axes, light, strength, px, coords=None, back: bool = False
               ) -> None:
    """Store the per-image ray-cast coefficients of one ellipsoid in ``sc``.

    centre (N,3) in camera space, rot (N,3,3) local->camera, axes (N,3) semi-axes, light (N,3) unit vector,
    strength (N,) diffuse strength, px (N,) pixel width in scene units; ``coords`` maps a name to (axis,
    scale, offset): the linear form of scale * s[axis] + offset for the hit point s on the unit sphere
    (e.g. head-frame coordinates). Stored depth is scaled by 1 / _SOFT_Z (+0.5) for the soft depth test,
    lighting is strength * (n.l + _WRAP) before clamping. ``back`` also stores the forms of the far
    surface seen from inside (keys with a trailing "b").
    """
    m = rot.transpose(1, 2) / axes.unsqueeze(-1)  # camera offset -> unit-sphere frame
    a, b, d = m[..., 0], m[..., 1], m[..., 2]
    o = -(m @ centre.unsqueeze(-1)).squeeze(-1)
    dd = _dot(d, d).unsqueeze(-1)

    def perp(x: torch.Tensor) -> torch.Tensor:
        return x - _dot(x, d).unsqueeze(-1) / dd * d

    qa, qb, qo = perp(a), perp(b), perp(o)
    aa, ab, bb = _dot(qa, qa), _dot(qa, qb), _dot(qb, qb)
    # inside(u, v) = 1 - |q|^2 = -(aa u + 2 qa.qo) u + (1 - (bb v + 2 qb.qo) v - qo.qo) - 2 ab u v
    sc[name + ".quad"] = torch.stack([aa, 2 * _dot(qa, qo), bb, 2 * _dot(qb, qo), 1 - _dot(qo, qo), 2 * ab], -1)
    # a one-pixel coverage ramp across the silhouette (its mean radius sets the gradient of inside)
    mean_r = (aa * bb - ab * ab).clamp(min=1e-12).pow(-0.25)
    sc[name + ".k"] = mean_r / (2 * px)
    inv = dd.rsqrt().squeeze(-1)
    dn = d * inv.unsqueeze(-1)
    ddn = dd.squeeze(-1)
    k = 1.0 / _SOFT_Z
    z = torch.stack([-k * _dot(a, d) / ddn, -k * _dot(b, d) / ddn, -k * _dot(o, d) / ddn + 0.5, k * inv], -1)
    lo = (m @ light.unsqueeze(-1)).squeeze(-1) * axes  # rot^T light: normal ~ rot s (ignores anisotropy)
    la, lb, l0, lw = _dot(qa, lo), _dot(qb, lo), _dot(qo, lo), _dot(dn, lo)
    sc[name + ".z"] = z
    sc[name + ".l"] = strength.unsqueeze(-1) * torch.stack([la, lb, l0 + _WRAP, lw], -1)
    forms = {key: torch.stack([scale * qa[:, i], scale * qb[:, i], scale * qo[:, i] + offset, scale * dn[:, i]], -1)
             for key, (i, scale, offset) in (coords or {}).items()}
    for key, form in forms.items():
        sc[f"{name}.{key}"] = form
    if back:  # the far surface: w enters with the opposite sign, the normal points inwards
        flip = torch.tensor([1.0, 1.0, 1.0, -1.0], device=z.device)
        sc[name + ".zb"] = z * flip
        sc[name + ".lb"] = strength.unsqueeze(-1) * torch.stack([-la, -lb, _WRAP - l0, lw], -1)
        for key, form in forms.items():
            sc[f"{name}.{key}b"] = form * flip


def _cast(sc: dict, name: str, u, v) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per pixel: inside (>0 on the silhouette), w = sqrt(inside), coverage."""
    c = sc[name + ".quad"].unsqueeze(-1).unsqueeze(-1)
    inside = ((c[:, 0] * u + c[:, 1]) * u).neg_() + (c[:, 4] - (c[:, 2] * v + c[:, 3]) * v)
    inside.addcmul_(u * -c[:, 5], v)
    w = inside.clamp(min=1e-8).sqrt_()  # (exact zeros take a slow path in sqrt)
    cov = inside.mul(_col(sc[name + ".k"])).add_(0.5).clamp_(0, 1)
    return inside, w, cov


def _lin(sc: dict, key: str, u, v, w) -> torch.Tensor:
    """A linear form a_u u + a_v v + a_0 + a_w w per pixel."""
    c = sc[key].unsqueeze(-1).unsqueeze(-1)
    out = (c[:, 0] * u + c[:, 2]) + v * c[:, 1]  # (n,1,S) + (n,S,1): a fast broadcast (addcmul is not)
    return out.addcmul_(w, c[:, 3])


def _wave(x: torch.Tensor) -> torch.Tensor:
    """A cheap periodic texture in [0, 1] (triangle wave, period 1); much faster than sin on CPU."""
    return x.add_(1000.0).frac_().sub_(0.5).abs_().mul_(2)


def _fill(sd: torch.Tensor, px: torch.Tensor) -> torch.Tensor:
    """Coverage of a signed-distance shape (negative inside) with a one-pixel ramp (in place on sd)."""
    return sd.mul_(-1.0 / px).add_(0.5).clamp_(0, 1)


def _setup(p: dict[str, torch.Tensor], f: Factors, size: int) -> dict[str, torch.Tensor]:
    """Per-image coefficients (all with leading dim N) for the pixel stage."""
    dev = f.device
    sc: dict[str, torch.Tensor] = {}
    pose, expr, lit, jit = f.pose.float(), f.expression.float(), f.lighting.float(), f.jitter.float()
    smile, mouth_open, eyes_closed, brows_raised = expr.clamp(0, 1).unbind(-1)
    scale = jit[:, 5].clamp(min=0.2)
    sc["shift_x"], sc["shift_y"] = jit[:, 3], jit[:, 4]
    sc["inv_scale"] = 1.0 / (scale * _ZOOM)
    px = (2.0 / size) / (scale * _ZOOM)
    sc["px"] = px
    sc["bg"] = jit[:, 0:3]

    az, el = torch.deg2rad(lit[:, 0]), torch.deg2rad(lit[:, 1])
    light = torch.stack([az.sin() * el.cos(), el.sin(), az.cos() * el.cos()], -1)
    strength = lit[:, 2] / (1 + _WRAP)
    sc["ambient"] = lit[:, 3]
    sc["tint"] = lit[:, 4:7]

    rot = _rotation(pose)
    eye3 = torch.eye(3, device=dev).expand(len(f), 3, 3)
    hw, hh = p["head_width"], p["head_height"]
    hd = hw * p["head_depth"]
    zero = torch.zeros_like(hw)
    anchor = torch.stack([zero, p["eye_y"] - 0.15, hd], -1)
    moved = (rot @ anchor.unsqueeze(-1)).squeeze(-1)
    head_c = torch.stack([zero, zero + _HEAD_Y, zero], -1)
    head_c = head_c + _RECENTRE * (anchor - moved) * torch.tensor([1.0, 1.0, 0.0], device=dev)

    def cam(local: torch.Tensor) -> torch.Tensor:
        return (rot @ local.unsqueeze(-1)).squeeze(-1) + head_c

    # neck: body frame (follows the framing, not the head rotation)
    neck_c = torch.stack([head_c[:, 0] * 0.5, zero + _HEAD_Y - 1.0, -0.25 * hd], -1)
    neck_ax = torch.stack([p["jaw_width"] * 0.72, zero + 0.7, hd * 0.45], -1)
    _ellipsoid(sc, "neck", neck_c, eye3, neck_ax, light, strength, px)

    # hair shell around the cranium; solid above a hairline that runs from the fringe (front) to the
    # hair length (back); seen from outside (front surface) or from inside (back surface)
    vol = p["hair_volume"]
    top = hh * (1 + vol) + 0.02
    bottom = torch.minimum(-hh * (1 + vol), p["hair_back"] - 0.15)
    hair_loc = torch.stack([zero, (top + bottom) / 2, -0.05 * hd], -1)
    hair_ax = torch.stack([hw * (1 + vol) + 0.02, (top - bottom) / 2, hd * (1 + vol) + 0.03], -1)
    _ellipsoid(sc, "hair", cam(hair_loc), rot, hair_ax, light, strength, px,
               {"s0": (0, 1.0, 0.0), "y": (1, hair_ax[:, 1], hair_loc[:, 1]), "s2": (2, 1.0, 0.0)}, back=True)

    # ears
    ear_s = p["ear_size"]
    ear_ax = torch.stack([0.07 * ear_s, 0.14 * ear_s, 0.10 * ear_s], -1)
    for side in (-1, 1):
        loc = torch.stack([side * hw * 0.95, p["eye_y"] - 0.08, -0.1 * hd], -1)
        _ellipsoid(sc, f"ear{side}", cam(loc), rot, ear_ax, light, strength, px)
        normal = rot @ torch.tensor([side * 0.8, 0.0, 0.6], device=dev)
        sc[f"ear{side}.flat"] = ((normal * light).sum(-1) + _WRAP).clamp(min=0) * strength + sc["ambient"]

    # face: cranium and jaw (smooth union), painted in head coordinates X, Y
    jaw_drop = 0.06 * mouth_open
    cran_ax = torch.stack([hw, hh, hd], -1)
    jaw_loc = torch.stack([zero, -0.36 - 0.3 * (p["jaw_length"] - 0.4) - jaw_drop, 0.08 * hd], -1)
    jaw_ax = torch.stack([p["jaw_width"], p["jaw_length"], hd * 0.82], -1)
    _ellipsoid(sc, "cran", cam(torch.zeros_like(jaw_loc)), rot, cran_ax, light, strength, px,
               {"X": (0, hw, 0.0), "Y": (1, hh, 0.0)})
    _ellipsoid(sc, "jaw", cam(jaw_loc), rot, jaw_ax, light, strength, px,
               {"X": (0, jaw_ax[:, 0], 0.0), "Y": (1, jaw_ax[:, 1], jaw_loc[:, 1])})

    # nose: a small ellipsoid standing out of the face
    nl, nw, npro = p["nose_length"], p["nose_width"], p["nose_protrusion"]
    ny = p["eye_y"] - 0.04 - nl
    surf = hd * (1 - (ny / hh).square()).clamp(min=0).sqrt()
    nose_loc = torch.stack([zero, ny, surf + 0.25 * npro], -1)
    _ellipsoid(sc, "nose", cam(nose_loc), rot, torch.stack([nw, nl, npro], -1), light, strength, px,
               {"s0": (0, 1.0, 0.0), "s1": (1, 1.0, 0.0), "s2": (2, 1.0, 0.0)})

    # painted features: per-image constants
    sc["eye_x"], sc["eye_y"] = p["eye_spacing"], p["eye_y"]
    sc["eye_open"] = p["eye_height"] * (1 - 0.95 * eyes_closed) * (1 - 0.3 * smile) + 0.002
    sc["eye_inv_w2"] = 1.0 / p["eye_width"].square()
    sc["eye_w"] = p["eye_width"]
    sc["eye_tilt"] = p["eye_tilt"]
    sc["iris_r"] = p["eye_height"] * p["iris_size"]
    sc["brow_y"] = p["eye_y"] + p["eye_height"] + p["brow_gap"] + 0.09 * brows_raised
    sc["brow_arch"] = 1.2 + 2.0 * brows_raised
    for k in ("brow_tilt", "brow_thickness", "brow_length", "beard", "beard_shape", "glasses", "glasses_size"):
        sc[k] = p[k]
    nose_tip = ny - nl
    my = nose_tip - p["mouth_gap"] - 0.5 * jaw_drop
    sc["mouth_y"] = my
    mw = p["mouth_width"] * (1 + 0.2 * smile)
    sc["mouth_inv_w2"] = 1.0 / mw.square()
    sc["mouth_curve"] = -0.3 + 1.9 * smile
    o = 0.012 + 0.12 * mouth_open
    lip = p["lip_thickness"]
    # lips span [mid - (o + 1.1 lip) env, mid + (0.3 o + lip) env]; the opening [mid - o env, mid + 0.3 o env]
    sc["lip_c"] = ((0.3 * o + lip) - (o + 1.1 * lip)) / 2
    sc["lip_h"] = ((0.3 * o + lip) + (o + 1.1 * lip)) / 2
    sc["in_c"], sc["in_h"] = -0.35 * o, 0.65 * o
    sc["teeth_c"], sc["teeth_h"] = 0.3 * o - 0.65 * o * 0.45, 0.65 * o * 0.45
    sc["blush"] = 0.35 * smile
    for k in ("skin_color", "hair_color", "iris_color", "lip_color", "glasses_color"):
        sc[k] = p[k]
    for k in ("hair_front", "hair_back", "hair_part", "hair_wave"):
        sc[k] = p[k]
    return sc


_WHITE = (0.96, 0.95, 0.93)
_MOUTH_INSIDE = (0.28, 0.06, 0.07)
_TEETH = (0.95, 0.94, 0.88)
_BLUSH = (0.85, 0.35, 0.35)
_LENS = (0.75, 0.85, 0.95)


def _draw(sc: dict[str, torch.Tensor], size: int, beard: bool, glasses: bool, with_mask: bool = False
          ) -> torch.Tensor:
    """The pixel stage for one chunk: (n, 3, size, size) in [0, 1]; with_mask: (n, 4, size, size), the
    4th channel the head's composited coverage (1 = head, 0 = background)."""
    dev = sc["px"].device
    n = sc["px"].shape[0]
    lin = (torch.arange(size, device=dev, dtype=torch.float32) + 0.5) * (2.0 / size) - 1.0
    inv_s = _col(sc["inv_scale"])
    u = (lin.view(1, 1, size) - _col(sc["shift_x"])) * inv_s  # (n, 1, S)
    v = (-lin.view(1, size, 1) - _col(sc["shift_y"])) * inv_s  # (n, S, 1)
    px = _col(sc["px"])
    ambient = _col(sc["ambient"])

    def const(rgb: tuple[float, float, float]) -> torch.Tensor:
        return torch.tensor(rgb, device=dev).view(1, 3, 1, 1)

    # deferred shading: an albedo canvas and a shade canvas, multiplied at the end
    alb = _col(sc["bg"]).expand(n, 3, size, size).clone()
    shd = (0.94 - 0.08 * lin).view(1, size, 1).expand(n, size, size).clone()
    zb = torch.full((n, size, size), -10.0 / _SOFT_Z, device=dev)  # depth buffer, in units of _SOFT_Z
    cover = torch.zeros(n, size, size, device=dev) if with_mask else None

    def layer(cov, z, albedo, shade) -> None:
        # soft depth test: z is (depth / _SOFT_Z + 0.5), so (z - zb) ramps 0..1 across one soft width
        wgt = (z - zb).clamp_(0, 1).mul_(cov)
        alb.lerp_(albedo, wgt.unsqueeze(1))
        shd.lerp_(shade if isinstance(shade, torch.Tensor) and shade.ndim == 3 else _col(shade), wgt)
        zb.lerp_(z, wgt)
        if cover is not None:
            cover.lerp_(torch.ones_like(cover), wgt)

    def lambert(key: str, w) -> torch.Tensor:
        return _lin(sc, key, u, v, w).clamp_(min=0).add_(ambient)

    skin = _col(sc["skin_color"])
    hair = _col(sc["hair_color"])

    # neck
    _, w, cov = _cast(sc, "neck", u, v)
    layer(cov, _lin(sc, "neck.z", u, v, w), skin * 0.8, lambert("neck.l", w))

    # hair shell, back (inside) surface
    _, hw_, hcov = _cast(sc, "hair", u, v)

    def hair_mask(side: str) -> tuple[torch.Tensor, torch.Tensor]:
        # the hairline height runs from hair_front (s2 = 1, front) to hair_back (s2 = -1, back), tilted by the
        # parting and zig-zagged by the fringe wave towards the front; hair above it
        s0 = _lin(sc, "hair.s0" + side, u, v, hw_)
        s2 = _lin(sc, "hair.s2" + side, u, v, hw_)
        front, back_ = _col(sc["hair_front"]), _col(sc["hair_back"])
        line = torch.addcmul((front + back_) * 0.5, s2, (front - back_) * 0.5)
        line.addcmul_(s0, _col(sc["hair_part"]))
        line.addcmul_(_wave(s0 * 3.0).mul_(s2.add_(1)), _col(sc["hair_wave"]) * 0.5)
        y = _lin(sc, "hair.y" + side, u, v, hw_)
        return y.sub_(line).mul_(1 / 0.03).clamp_(0, 1).mul_(hcov), s0

    mask, _ = hair_mask("b")
    layer(mask, _lin(sc, "hair.zb", u, v, hw_), hair * 0.7, lambert("hair.lb", hw_))

    # ears (flat shaded)
    for side in (-1, 1):
        _, w, cov = _cast(sc, f"ear{side}", u, v)
        layer(cov, _lin(sc, f"ear{side}.z", u, v, w), skin * 0.93, sc[f"ear{side}.flat"])

    # face: cranium U jaw
    _, w1, c1 = _cast(sc, "cran", u, v)
    _, w2, c2 = _cast(sc, "jaw", u, v)
    z1, z2 = _lin(sc, "cran.z", u, v, w1), _lin(sc, "jaw.z", u, v, w2)
    jaw_front = (z2 - z1).mul_(_SOFT_Z / _SOFT_UNION).add_(0.5).clamp_(0, 1).mul_(c2).mul_(c1)
    a = torch.sub(c1, jaw_front)  # weight of the cranium where both are hit
    face_cov = torch.addcmul(c1 + c2, c1, c2, value=-1.0)
    z = z2.lerp_(z1, a)
    lam = _lin(sc, "jaw.l", u, v, w2).lerp_(_lin(sc, "cran.l", u, v, w1), a)
    lam = lam.clamp_(min=0).add_(ambient)
    X = _lin(sc, "jaw.X", u, v, w2).lerp_(_lin(sc, "cran.X", u, v, w1), a)
    Y = _lin(sc, "jaw.Y", u, v, w2).lerp_(_lin(sc, "cran.Y", u, v, w1), a)
    albedo = _paint(sc, X, Y, px, beard, glasses, const)
    layer(face_cov, z, albedo, lam)

    # nose, with nostrils
    _, w, cov = _cast(sc, "nose", u, v)
    s0, s1 = _lin(sc, "nose.s0", u, v, w), _lin(sc, "nose.s1", u, v, w)
    nostril = s0.abs_().sub_(0.45).mul_(1 / 0.28).square_().add_(s1.add_(0.62).mul_(1 / 0.2).square_())
    nostril = nostril.neg_().add_(1).mul_(3).clamp_(0, 1)
    nose_alb = torch.lerp(skin * 0.97, skin * 0.35, nostril.unsqueeze(1))
    layer(cov, _lin(sc, "nose.z", u, v, w), nose_alb, lambert("nose.l", w))

    # hair shell, front surface, with a streak texture
    mask, s0 = hair_mask("")
    streak = _wave(s0.mul_(6.0)).mul_(0.08).add_(0.92).unsqueeze(1)
    layer(mask, _lin(sc, "hair.z", u, v, hw_), hair * streak, lambert("hair.l", hw_))

    image = alb.mul_(shd.unsqueeze(1) * _col(sc["tint"])).clamp_(0, 1)
    return image if cover is None else torch.cat([image, cover.unsqueeze(1)], 1)


def _paint(sc, X, Y, px, beard: bool, glasses: bool, const) -> torch.Tensor:
    """Albedo (n,3,S,S) of the face: skin with eyes, brows, blush, beard, mouth and glasses painted as
    signed-distance shapes in head coordinates (X, Y); left and right share one evaluation through |X|."""
    n, size = X.shape[0], X.shape[-1]
    albedo = _col(sc["skin_color"]).expand(n, 3, size, size).clone()

    def put(colour: torch.Tensor, alpha: torch.Tensor) -> None:
        albedo.lerp_(colour, alpha.unsqueeze(1))

    ax = X.abs()
    ex, ey, ew = _col(sc["eye_x"]), _col(sc["eye_y"]), _col(sc["eye_w"])
    dx = ax - ex
    dx2 = dx * dx
    dy = torch.addcmul(Y - ey, dx, -_col(sc["eye_tilt"]))
    # eye opening between +-lid; lid goes negative past the corners so nothing shows there
    lid = dx2.mul(-_col(sc["eye_inv_w2"])).add_(1).mul_(_col(sc["eye_open"]))
    white = _fill(dy.abs() - lid, px)
    put(const(_WHITE), white)
    # circles by squared distance: (d^2 - r^2) / 2r is the signed distance near the edge (no sqrt)
    dist2 = torch.addcmul(dx2, dy, dy)
    r_i = _col(sc["iris_r"])
    put(_col(sc["iris_color"]), _fill((dist2 - r_i * r_i).mul_(0.5 / r_i), px).mul_(white))
    put(_col(sc["iris_color"]) * 0.15, _fill(dist2.sub_(0.25 * r_i * r_i).mul_(1 / r_i), px).mul_(white))
    adx = dx.abs()
    corner = (adx - ew).clamp_(min=0).mul_(3)
    lash = _fill((dy - lid).abs_().sub_(0.009).add_(corner), px)
    put(hair_dark := _col(sc["hair_color"]) * 0.4 + 0.02, lash.mul_(0.9))

    # brows: an arched band above each eye
    by = torch.addcmul(Y - _col(sc["brow_y"]), dx, -_col(sc["brow_tilt"])).addcmul_(dx2, _col(sc["brow_arch"]))
    brow = torch.maximum(by.abs_().sub_(_col(sc["brow_thickness"])), adx.sub_(_col(sc["brow_length"])))
    put(hair_dark * 1.6, _fill(brow, px).mul_(0.95))

    # mouth geometry: a mid-line curving with the smile, an envelope closing at the corners
    X2 = X * X
    my = _col(sc["mouth_y"])
    mid = torch.addcmul(Y - my, X2, -_col(sc["mouth_curve"]))  # Y relative to the mouth mid-line
    env = X2.mul(-_col(sc["mouth_inv_w2"])).add_(1)

    blush = (dx - 0.03).square_().add_((Y - my - 0.17).square_()).mul_(-1 / 0.006).clamp_(min=-60).exp_()
    put(const(_BLUSH), blush.mul_(_col(sc["blush"])))

    if beard:
        ytop = torch.addcmul(my + 0.08, X2, _col(sc["beard_shape"])).clamp_(max=ey - 0.14)
        fuzz = ytop.sub_(Y).mul_(1 / 0.025).clamp_(0, 1).mul_(_col(sc["beard"]))
        texture = _wave(X * 14.0).mul_(0.1).add_(0.9).unsqueeze(1)
        put(_col(sc["hair_color"]) * 0.85 * texture, fuzz)

    lips = torch.addcmul(mid, env, -_col(sc["lip_c"])).abs_().addcmul_(env, -_col(sc["lip_h"]))
    put(_col(sc["lip_color"]), _fill(lips, px))
    inner = _fill(torch.addcmul(mid, env, -_col(sc["in_c"])).abs_().addcmul_(env, -_col(sc["in_h"])), px)
    put(const(_MOUTH_INSIDE), inner)
    teeth = torch.addcmul(mid, env, -_col(sc["teeth_c"])).abs_().addcmul_(env, -_col(sc["teeth_h"]))
    put(const(_TEETH), _fill(teeth, px).mul_(inner).mul_(0.9))

    if glasses:
        g = _col(sc["glasses"])
        gs = _col(sc["glasses_size"])
        rx = ew * 1.45 * gs
        ry = torch.maximum(_col(sc["iris_r"]) * 2.6, ew * 1.05) * gs
        gy = Y - ey - 0.01
        e = torch.addcmul(dx2 / (rx * rx), gy, gy / (ry * ry)).sub_(1).mul_(0.5)  # ~ e - 1 near the rim
        put(const(_LENS), _fill(e * torch.minimum(rx, ry), px).mul_(0.15 * g))
        rim = e.abs_().mul_(torch.minimum(rx, ry)).sub_(0.012)
        band = gy.abs_().sub_(0.011)
        bridge = torch.maximum(band, ax - (ex - rx * 0.9))
        arms = torch.maximum(band, (ex + rx * 0.95) - ax)
        frame = torch.minimum(rim, torch.minimum(bridge, arms))
        put(_col(sc["glasses_color"]), _fill(frame, px).mul_(g))
    return albedo


def render_batch(p: dict[str, torch.Tensor], f: Factors, size: int, beard: bool = True, glasses: bool = True,
                 with_mask: bool = False) -> torch.Tensor:
    """Render N faces from per-image identity parameters ``p`` and factors ``f`` (same device).

    ``beard`` / ``glasses`` False skip painting those parts (a shortcut when no identity has them).
    ``with_mask`` appends the head's coverage as a 4th channel (see `FaceWorld.face_mask`).
    """
    sc = _setup(p, f, size)
    n = len(f)
    step = max(1, _CHUNK_PIXELS // (size * size))
    out = [_draw({k: t[i : i + step] for k, t in sc.items()}, size, beard, glasses, with_mask)
           for i in range(0, n, step)]
    return out[0] if len(out) == 1 else torch.cat(out)



# ----------------------------------------------------------------------------------------------------------
# The world
# ----------------------------------------------------------------------------------------------------------


def _is_int(x: object) -> bool:
    try:
        operator.index(x)
    except TypeError:
        return False
    return not isinstance(x, bool | torch.Tensor)


_SIBLING_STREAM = 0x5B1B  # tags add_sibling's seed stream


class FaceWorld:
    """A fixed set of procedurally defined identities and a renderer with exact per-image factors.

    ``FaceWorld(seed)`` is fully determined by its seed: the same seed gives the same identities, and
    identities are picked far apart so a person tells them apart at 64 px. ``add_sibling`` adds
    near-copies for hard leakage cases.
    """

    def __init__(self, seed: int = 0, n_identities: int = 8) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"FaceWorld: seed must be an int, got {seed!r}")
        if not isinstance(n_identities, int) or isinstance(n_identities, bool) or n_identities < 1:
            raise ValueError(f"FaceWorld: n_identities must be a positive int, got {n_identities!r}")
        self.seed = seed
        gen = torch.Generator().manual_seed(seed)
        self._latent = _pick_distinct(gen, n_identities)
        self._tables: dict[str, dict[str, torch.Tensor]] = {}

    # identities --------------------------------------------------------------------------------------
    @property
    def n_identities(self) -> int:
        return self._latent.shape[0]

    @property
    def latent(self) -> torch.Tensor:
        """(n_identities, D) identity vectors in [0, 1] (columns LATENT_NAMES); a copy."""
        return self._latent.clone()

    def _check_identity(self, identity: int) -> int:
        if isinstance(identity, torch.Tensor) and identity.numel() == 1:
            identity = int(identity)
        try:
            if isinstance(identity, bool):
                raise TypeError
            identity = operator.index(identity)  # int, numpy integer, ...
        except TypeError:
            raise ValueError(f"identity must be an int, got {identity!r}") from None
        if not 0 <= identity < self.n_identities:
            raise ValueError(f"identity {identity} out of range: this world has ids 0..{self.n_identities - 1}")
        return identity

    def identity_params(self, identity: int) -> dict[str, float | tuple]:
        """The physical parameters of one identity (colours as RGB tuples)."""
        identity = self._check_identity(identity)
        params = _physical(self._latent[identity : identity + 1])
        return {
            k: tuple(round(float(x), 6) for x in v[0]) if v.ndim == 2 else float(v[0]) for k, v in params.items()
        }

    def add_sibling(self, of: int, distance: float, seed: int = 0) -> int:
        """Add an identity near ``of``: its identity vector moves ``distance`` of the way towards a random
        identity (0 = identical, 1 = as far as a random identity). Returns the new id."""
        of = self._check_identity(of)
        if not 0.0 <= float(distance) <= 1.0:
            raise ValueError(f"add_sibling: distance must be in [0, 1], got {distance!r}")
        # A seed stream of its own (SeedSequence mixes the words), so a sibling's random direction never
        # replays the draws that picked the world's identities (a plain seed sum did, for of=0, seed=0).
        words = [self.seed & 0xFFFF_FFFF, of, int(seed) & 0xFFFF_FFFF, _SIBLING_STREAM]
        gen = torch.Generator().manual_seed(int(np.random.SeedSequence(words).generate_state(1)[0]))
        other = torch.rand(1, len(LATENT_NAMES), generator=gen)
        row = self._latent[of : of + 1]
        self._latent = torch.cat([self._latent, row + float(distance) * (other - row)])
        self._tables.clear()
        return self.n_identities - 1

    def _table(self, device: torch.device) -> dict[str, torch.Tensor]:
        key = str(device)
        if key not in self._tables:
            self._tables[key] = {k: v.to(device) for k, v in _physical(self._latent).items()}
        return self._tables[key]

    # factors -----------------------------------------------------------------------------------------
    def random_factors(self, n: int, generator: torch.Generator, device: torch.device | str | None = None
                       ) -> Factors:
        """n random factor rows drawn with ``generator`` (on its device), returned on ``device``.

        Pose uniform in +-POSE_RANGE; smile and brows uniform in [0, 1], mouth_open u^1.5, eyes_closed
        u^3 (mostly open); light azimuth +-60 deg, elevation -15..50 deg, strength 0.35..0.8, ambient
        0.3..0.5, colour from warm to cool; background colour muted random, shift +-0.04, scale 0.95..1.05.
        """
        g_dev = generator.device
        r = torch.rand(n, 20, generator=generator, device=g_dev)
        pose = (r[:, 0:3] * 2 - 1) * torch.tensor([POSE_RANGE[c] for c in POSE_COLUMNS], device=g_dev)
        expr = torch.stack([r[:, 3], r[:, 4] ** 1.5, r[:, 5] ** 3, r[:, 6]], -1)
        warm = r[:, 10:11] * 2 - 1
        colour = 1.0 + warm * torch.tensor([0.08, 0.0, -0.12], device=g_dev) + (r[:, 11:14] - 0.5) * 0.06
        lighting = torch.cat([
            (r[:, 7:8] * 2 - 1) * 60.0,
            -15.0 + r[:, 8:9] * 65.0,
            0.35 + r[:, 9:10] * 0.45,
            0.3 + r[:, 14:15] * 0.2,
            colour,
        ], -1)
        bg = 0.2 + 0.6 * r[:, 15:18]
        bg = 0.5 * bg + 0.5 * bg.mean(-1, keepdim=True)
        jitter = torch.cat([bg, (r[:, 18:20] * 2 - 1) * 0.04, 0.95 + 0.1 * torch.rand(n, 1, generator=generator,
                                                                                       device=g_dev)], -1)
        return Factors(pose, expr, lighting, jitter).to(device)

    def sample_factors(self, n: int, seed: int) -> Factors:
        """n random factor rows from ``seed`` (CPU; the same on every machine)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"sample_factors: n must be a positive int, got {n!r}")
        return self.random_factors(n, torch.Generator().manual_seed(seed))

    # rendering ---------------------------------------------------------------------------------------
    def _ids(self, identity: int | Sequence[int] | torch.Tensor, n: int, device: torch.device) -> torch.Tensor:
        if _is_int(identity) or isinstance(identity, bool):
            identity = self._check_identity(identity)
            return torch.full((n,), identity, dtype=torch.long, device=device)
        ids = torch.as_tensor(identity, dtype=torch.long).to(device).reshape(-1)
        if ids.numel() == 1:
            ids = ids.expand(n)
        if ids.numel() != n:
            raise ValueError(f"render: got {ids.numel()} identities for {n} factor rows")
        if ids.device.type == "cpu" and len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= self.n_identities):
            raise ValueError(f"render: identity ids must be in 0..{self.n_identities - 1}, got {ids.tolist()}")
        return ids

    def render(self, identity: int | Sequence[int] | torch.Tensor, factors: Factors, size: int = 64,
               device: torch.device | str | None = None, with_mask: bool = False) -> torch.Tensor:
        """(N, 3, size, size) float32 RGB in [0, 1]: each identity with its row of factors; deterministic.

        ``with_mask``: (N, 4, size, size), the 4th channel the exact face mask (see `face_mask`)."""
        if not isinstance(size, int) or isinstance(size, bool) or not 16 <= size <= 1024:
            raise ValueError(f"render: size must be an int in 16..1024 pixels, got {size!r}")
        if not isinstance(factors, Factors):
            raise ValueError(f"render: factors must be a Factors, got {type(factors).__name__}")
        dev = torch.device(device) if device is not None else factors.device
        f = factors.to(dev)
        ids = self._ids(identity, len(f), dev)
        p = {k: v[ids] for k, v in self._table(dev).items()}
        beard = glasses = True
        if ids.device.type == "cpu" or _is_int(identity):  # decide without a device sync
            host = self._table(torch.device("cpu"))
            used = ids.cpu() if ids.device.type == "cpu" else torch.tensor([operator.index(identity)])
            beard, glasses = bool((host["beard"][used] > 0).any()), bool((host["glasses"][used] > 0).any())
        return render_batch(p, f, size, beard=beard, glasses=glasses, with_mask=with_mask)

    def face_mask(self, identity: int | Sequence[int] | torch.Tensor, factors: Factors, size: int = 64,
                  device: torch.device | str | None = None) -> torch.Tensor:
        """(N, 1, size, size) float32 in [0, 1]: how much of each pixel is the head (face, hair, ears,
        neck) rather than background, composited exactly as the renderer composites colour (fractional
        on the anti-aliased edge). faceswap weights its loss by an extracted face mask; this is the exact
        one. Use ``render(..., with_mask=True)`` to get image and mask in one pass."""
        return self.render(identity, factors, size, device, with_mask=True)[:, 3:]

    def sample(self, identity: int | Sequence[int], n: int, seed: int, size: int = 64,
               device: torch.device | str | None = None) -> tuple[torch.Tensor, Labels]:
        """Images and labels: ``n`` images per identity (a sequence gives len*n images, grouped by identity),
        factors drawn from ``seed``."""
        ids = [identity] if _is_int(identity) else list(identity)
        ids = [self._check_identity(i) for i in ids]
        check_batch_args(n, size)
        factors = self.sample_factors(n * len(ids), seed)
        identity_t = torch.tensor(ids, dtype=torch.long).repeat_interleave(n)
        images = self.render(identity_t, factors, size=size, device=device)
        return images, Labels(identity_t, factors)

    def swap_target(self, factors_or_labels: Factors | Labels, identity_b: int, size: int = 64,
                    device: torch.device | str | None = None) -> torch.Tensor:
        """The ground-truth swap: identity B rendered with A's pose, expression, lighting and jitter."""
        f = factors_or_labels.factors if isinstance(factors_or_labels, Labels) else factors_or_labels
        return self.render(self._check_identity(identity_b), f, size=size, device=device)

    def source(self, identity: int, n: int | None = None, seed: int = 0, cache_dir: str | None = None
               ) -> FaceSource:
        """The training source of one identity: a fixed `FaceBank` of ``n`` frames (default 2 048), as a
        faceswap user trains on a fixed set of extracted faces. ``stream(identity)`` renders fresh
        frames on every batch instead."""
        from phazelab.data.bank import DEFAULT_BANK_SIZE, FaceBank

        return FaceBank(self, identity, DEFAULT_BANK_SIZE if n is None else n, seed=seed, cache_dir=cache_dir)

    def stream(self, identity: int) -> SyntheticSource:
        """A FaceSource of one identity with fresh random factors on every ``batch`` call."""
        return SyntheticSource(self, self._check_identity(identity))


class SyntheticSource(FaceSource):
    """One identity of a FaceWorld rendered afresh for every batch (name ``synthetic:<id>:stream``)."""

    NOMINAL_LEN = 1_000_000_000

    def __init__(self, world: FaceWorld, identity: int) -> None:
        from phazelab.data.bank import SYNTHETIC_AUGMENT

        self.world = world
        self.identity = identity
        self.name = f"synthetic:{identity}:stream"
        self.default_augment = SYNTHETIC_AUGMENT

    def batch(self, n: int, generator: torch.Generator, size: int, device: torch.device | str = "cpu"
              ) -> torch.Tensor:
        check_batch_args(n, size)
        factors = self.world.random_factors(n, generator, device=device)
        return self.world.render(self.identity, factors, size=size, device=device)

    def batch_with_labels(self, n: int, generator: torch.Generator, size: int,
                          device: torch.device | str = "cpu") -> tuple[torch.Tensor, Labels]:
        """Like ``batch`` but also returns the labels (for analysis of training batches)."""
        check_batch_args(n, size)
        factors = self.world.random_factors(n, generator, device=device)
        images = self.world.render(self.identity, factors, size=size, device=device)
        ids = torch.full((n,), self.identity, dtype=torch.long, device=factors.device)
        return images, Labels(ids, factors)

    def __len__(self) -> int:
        return self.NOMINAL_LEN

    def __repr__(self) -> str:
        return f"SyntheticSource({self.name!r}, world seed {self.world.seed})"


__all__ = [
    "EXPRESSION_COLUMNS", "JITTER_COLUMNS", "LATENT_NAMES", "LIGHTING_COLUMNS", "POSE_COLUMNS",
    "FaceWorld", "Factors", "Labels", "SyntheticSource",
]
