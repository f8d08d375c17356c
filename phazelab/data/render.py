"""The synthetic world's renderer: every part ray-cast as an ellipsoid or painted as a signed-distance
shape in head coordinates, for all pixels of a batch at once (see `phazelab.data.world` for the model of
the world it draws)."""

from __future__ import annotations

import torch

from phazelab.data.factors import Factors

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
