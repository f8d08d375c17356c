"""faceswap-style training augmentation, batched on the images' device.

Why: Phaze-A learns to rebuild a face from a *warped* copy of it; the random warp, transform and colour
jitter are what make the shared encoder generalise. Same facts as faceswap's training defaults
(reference/phaze-a.md section 12): LAB colour jitter, CLAHE, random transform (rotation, zoom, shift),
horizontal flip, and the random warp on the model input only. The target is the transformed, un-warped
image; the input is the target warped and resized. Differences from faceswap: the colour step runs after
the transform (it is pointwise, so only interpolation at edges differs, and it is cheapest at the output
size), and borders replicate for the warp too (faceswap fills the warp's out-of-image samples with black).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from PIL import Image

# ----------------------------------------------------------------------------------------------------------
# Config
# ----------------------------------------------------------------------------------------------------------


@dataclass
class AugmentConfig:
    """faceswap's augmentation options (names and defaults from its training config)."""

    rotation_range: float = 10.0  # +- degrees
    zoom_amount: float = 5.0  # +- percent
    shift_range: float = 5.0  # +- percent of the image size
    flip_chance: float = 50.0  # percent
    color_lightness: float = 30.0  # +- percent, LAB L
    color_ab: float = 8.0  # +- percent, LAB a and b
    color_clahe_chance: float = 50.0  # percent
    color_clahe_max_size: int = 4  # largest CLAHE grid step (grid = base + step * base // 2)
    random_warp: bool = True
    warp_sigma_fraction: float = 5 / 256  # std of the control-point jitter, fraction of the image size

    def __post_init__(self) -> None:
        limits = {
            "rotation_range": 180.0, "zoom_amount": 99.0, "shift_range": 100.0, "flip_chance": 100.0,
            "color_lightness": 100.0, "color_ab": 100.0, "color_clahe_chance": 100.0,
            "warp_sigma_fraction": 0.5,
        }
        for name, hi in limits.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= hi:
                raise ValueError(f"AugmentConfig.{name} must be a number in [0, {hi}], got {value!r}")
        if not isinstance(self.color_clahe_max_size, int) or not 0 <= self.color_clahe_max_size <= 16:
            raise ValueError(f"AugmentConfig.color_clahe_max_size must be an int in [0, 16], "
                             f"got {self.color_clahe_max_size!r}")
        if not isinstance(self.random_warp, bool):
            raise ValueError(f"AugmentConfig.random_warp must be a bool, got {self.random_warp!r}")

    @classmethod
    def off(cls, **overrides: float | bool) -> AugmentConfig:
        """Everything disabled (for evaluation), optionally with some options switched back on."""
        base = {f.name: 0 for f in fields(cls)}
        base.update(random_warp=False, color_clahe_max_size=4, warp_sigma_fraction=5 / 256)
        base.update(overrides)
        return cls(**base)


# ----------------------------------------------------------------------------------------------------------
# Colour: sRGB <-> CIELAB (D65), LAB jitter, CLAHE
# ----------------------------------------------------------------------------------------------------------

_RGB2XYZ = torch.tensor([[0.412453, 0.357580, 0.180423],
                         [0.212671, 0.715160, 0.072169],
                         [0.019334, 0.119193, 0.950227]])
_XYZ2RGB = torch.linalg.inv(_RGB2XYZ.double()).float()
_WHITE = torch.tensor([0.950456, 1.0, 1.088754])
_EPS = (6 / 29) ** 3


def _pow(x: torch.Tensor, p: float, floor: float) -> torch.Tensor:
    """x ** p for x >= floor (exp/log: about twice as fast as pow on CPU)."""
    return x.clamp(min=floor).log_().mul_(p).exp_()


def _select(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """torch.where(mask, a, b), written as a lerp (about twice as fast on CPU); overwrites b."""
    return b.lerp_(a, mask.to(a.dtype))


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """(N,3,H,W) sRGB in [0,1] -> CIELAB (L in [0,100], a and b roughly [-128,127]), D65."""
    lin = _select(rgb > 0.04045, _pow((rgb + 0.055) / 1.055, 2.4, 1e-6), rgb / 12.92)
    m = _RGB2XYZ.to(rgb) / _WHITE.to(rgb).unsqueeze(1)
    xyz = torch.einsum("ij,njhw->nihw", m, lin)
    f = _select(xyz > _EPS, _pow(xyz, 1 / 3, _EPS), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    fx, fy, fz = f.unbind(1)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], 1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """Inverse of rgb_to_lab, clamped to [0, 1]."""
    L, a, b = lab.unbind(1)
    fy = (L + 16) / 116
    f = torch.stack([fy + a / 500, fy, fy - b / 200], 1)
    xyz = _select(f > 6 / 29, f * f * f, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * _WHITE.to(lab).view(1, 3, 1, 1)
    lin = torch.einsum("ij,njhw->nihw", _XYZ2RGB.to(lab), xyz).clamp(0, 1)
    return _select(lin > 0.0031308, 1.055 * _pow(lin, 1 / 2.4, 1e-9) - 0.055, 12.92 * lin).clamp(0, 1)


def _lab_norm(lab: torch.Tensor) -> torch.Tensor:
    """LAB -> each channel in [0, 1] as in 8-bit LAB (L * 255/100, a + 128, b + 128, then / 255)."""
    scale = torch.tensor([1 / 100, 1 / 255, 1 / 255], device=lab.device).view(1, 3, 1, 1)
    offset = torch.tensor([0.0, 128 / 255, 128 / 255], device=lab.device).view(1, 3, 1, 1)
    return lab * scale + offset


def _lab_denorm(norm: torch.Tensor) -> torch.Tensor:
    scale = torch.tensor([100.0, 255.0, 255.0], device=norm.device).view(1, 3, 1, 1)
    offset = torch.tensor([0.0, 128.0, 128.0], device=norm.device).view(1, 3, 1, 1)
    return norm * scale - offset


def lab_jitter(norm_lab: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """faceswap's per-channel shift on normalised LAB: c + (1 - c) r for r >= 0, else c (1 + r); r (N,3)."""
    r = r.view(-1, 3, 1, 1)
    return torch.where(r >= 0, norm_lab + (1 - norm_lab) * r, norm_lab * (1 + r))


def clahe(lum: torch.Tensor, grid: int, clip_limit: float = 2.0) -> torch.Tensor:
    """Contrast-limited adaptive histogram equalisation of (N,H,W) values in [0,1] on a grid x grid tiling
    (OpenCV's algorithm: 256 bins, clip at clip_limit * tile_area / 256, excess spread evenly, LUTs
    interpolated bilinearly between tile centres)."""
    n, h, w = lum.shape
    th, tw = -(-h // grid), -(-w // grid)
    ph, pw = th * grid - h, tw * grid - w
    x = lum if not (ph or pw) else F.pad(lum.unsqueeze(1), (0, pw, 0, ph), mode="reflect").squeeze(1)
    bins = (x * 255).round_().clamp_(0, 255).long()
    ty = torch.arange(grid * th, device=lum.device) // th
    tx = torch.arange(grid * tw, device=lum.device) // tw
    tile = (ty.view(-1, 1) * grid + tx.view(1, -1)).unsqueeze(0)
    index = (torch.arange(n, device=lum.device).view(-1, 1, 1) * grid * grid + tile) * 256 + bins
    hist = torch.zeros(n * grid * grid * 256, device=lum.device)
    hist.index_add_(0, index.reshape(-1), torch.ones(index.numel(), device=lum.device))
    hist = hist.view(n, grid * grid, 256)
    area = th * tw
    limit = max(clip_limit * area / 256, 1.0)
    excess = (hist - limit).clamp(min=0).sum(-1, keepdim=True)
    hist = hist.clamp(max=limit) + excess / 256
    lut = hist.cumsum(-1) * (255.0 / area) / 255.0  # (n, tiles, 256) in [0, 1]

    # bilinear blend of the four nearest tile LUTs, by position relative to the tile centres
    def axis(length: int, size: int, count: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pos = torch.arange(length, device=lum.device, dtype=torch.float32) / size - 0.5
        lo = pos.floor().clamp(0, count - 1)
        frac = (pos - lo).clamp(0, 1)
        return lo.long(), (lo + 1).clamp(max=count - 1).long(), frac

    y0, y1, fy = axis(h, th, grid)
    x0, x1, fx = axis(w, tw, grid)
    b = bins[:, :h, :w]
    flat = lut.reshape(n, -1)

    def look(ty_: torch.Tensor, tx_: torch.Tensor) -> torch.Tensor:
        t = (ty_.view(-1, 1) * grid + tx_.view(1, -1)).unsqueeze(0) * 256 + b
        return flat.gather(1, t.reshape(n, -1)).view(n, h, w)

    fy, fx = fy.view(1, -1, 1), fx.view(1, 1, -1)
    top = torch.lerp(look(y0, x0), look(y0, x1), fx)
    bottom = torch.lerp(look(y1, x0), look(y1, x1), fx)
    return torch.lerp(top, bottom, fy)


def clahe_per_image(lum: torch.Tensor, grids: torch.Tensor, max_grid: int,
                    clip_limit: float = 2.0) -> torch.Tensor:
    """`clahe` with its own grid size per image, in one vectorised pass: (N,H,W) in [0,1] -> (N,H,W).

    grids: (N,) integer grid sizes, each in [1, max_grid] (max_grid, a Python int, sizes the buffers:
    the histograms are (N, max_grid**2, 256)). Image i gets exactly `clahe(lum[i:i+1], grids[i])` (the
    same reflect padding, clip limit and bilinear LUT blend), computed without a host sync and without
    computing any grid size an image did not draw. Raises ValueError for a grid outside [1, max_grid]
    when the grids are on the CPU (on a GPU they are not checked, to avoid the sync).
    """
    n, h, w = lum.shape
    dev = lum.device
    g = grids.to(device=dev, dtype=torch.long).view(n, 1)
    if g.device.type == "cpu" and n and (int(g.min()) < 1 or int(g.max()) > max_grid):
        raise ValueError(f"clahe_per_image: grid sizes must be in [1, {max_grid}], got {grids.tolist()}")
    th, tw = (h + g - 1) // g, (w + g - 1) // g  # (n, 1) tile sizes
    hp, wp = h + max_grid - 1, w + max_grid - 1  # room for every image's padded size (th * g <= h + g - 1)

    def padded(length: int, full: int, tile: torch.Tensor):
        r = torch.arange(full, device=dev)
        src = torch.where(r < length, r, 2 * (length - 1) - r).clamp(0, length - 1)  # reflect padding
        valid = r.view(1, -1) < tile * g  # (n, full): inside this image's padded size
        return src, valid, torch.where(valid, r.view(1, -1) // tile, 0)

    src_y, valid_y, tile_y = padded(h, hp, th)
    src_x, valid_x, tile_x = padded(w, wp, tw)
    x = lum[:, src_y][:, :, src_x]
    bins = (x * 255).round_().clamp_(0, 255).long()  # (n, hp, wp)
    slots = max_grid * max_grid
    tile = tile_y.unsqueeze(2) * g.view(n, 1, 1) + tile_x.unsqueeze(1)
    index = (torch.arange(n, device=dev).view(-1, 1, 1) * slots + tile) * 256 + bins
    weight = (valid_y.unsqueeze(2) & valid_x.unsqueeze(1)).float()
    hist = torch.zeros(n * slots * 256, device=dev)
    hist.index_add_(0, index.reshape(-1), weight.reshape(-1))
    hist = hist.view(n, slots, 256)
    area = (th * tw).double().view(n, 1, 1)
    limit = (clip_limit * area / 256).clamp(min=1.0).float()
    excess = (hist - limit).clamp(min=0).sum(-1, keepdim=True)
    hist = torch.minimum(hist, limit) + excess / 256
    lut = hist.cumsum(-1) * (255.0 / area).float() / 255.0  # (n, slots, 256) in [0, 1]

    def axis(length: int, size: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pos = torch.arange(length, device=dev, dtype=torch.float32).view(1, -1) / size.float() - 0.5
        lo = torch.minimum(pos.floor().clamp(min=0), (g - 1).float())
        frac = (pos - lo).clamp(0, 1)
        return lo.long(), torch.minimum(lo + 1, (g - 1).float()).long(), frac

    y0, y1, fy = axis(h, th)
    x0, x1, fx = axis(w, tw)
    b = bins[:, :h, :w]
    flat = lut.reshape(n, -1)

    def look(ty_: torch.Tensor, tx_: torch.Tensor) -> torch.Tensor:
        t = (ty_.unsqueeze(2) * g.view(n, 1, 1) + tx_.unsqueeze(1)) * 256 + b
        return flat.gather(1, t.reshape(n, -1)).view(n, h, w)

    fy, fx = fy.view(n, -1, 1), fx.view(n, 1, -1)
    top = torch.lerp(look(y0, x0), look(y0, x1), fx)
    bottom = torch.lerp(look(y1, x0), look(y1, x1), fx)
    return torch.lerp(top, bottom, fy)


def _clahe_batch(lum: torch.Tensor, apply: torch.Tensor, grids: torch.Tensor, max_grid: int,
                 sync_free: bool) -> torch.Tensor:
    """CLAHE of the images with `apply` set, each at its own grid; the others unchanged. sync_free (GPU):
    equalise every image once and select (no host sync); else (CPU) equalise only the selected ones."""
    if sync_free:
        return torch.where(apply.view(-1, 1, 1), clahe_per_image(lum, grids, max_grid), lum)
    sel = apply.nonzero().squeeze(1)
    if not len(sel):
        return lum
    return lum.index_copy(0, sel, clahe_per_image(lum[sel], grids[sel], max_grid))


def _colour(images: torch.Tensor, r: torch.Tensor, cfg: AugmentConfig) -> torch.Tensor:
    """LAB jitter then CLAHE (with faceswap's chance and grid sizes) on a batch; r (N, 12) uniforms."""
    do_clahe = cfg.color_clahe_chance > 0
    if cfg.color_lightness == 0 and cfg.color_ab == 0 and not do_clahe:
        return images
    amounts = torch.tensor([cfg.color_lightness, cfg.color_ab, cfg.color_ab], device=images.device) / 100
    lab = _lab_norm(rgb_to_lab(images))
    lab = lab_jitter(lab, (r[:, 5:8] * 2 - 1) * amounts)
    if do_clahe:
        size = images.shape[-1]
        base = max(2, size // 128)
        choices = [step * (base // 2) + base for step in range(cfg.color_clahe_max_size + 1)]
        pick = (r[:, 9] * len(choices)).long().clamp(max=len(choices) - 1)
        apply = r[:, 8] < cfg.color_clahe_chance / 100
        grids = torch.tensor(choices, device=images.device)[pick]
        out = _clahe_batch(lab[:, 0], apply, grids, max(choices), sync_free=images.device.type != "cpu")
        lab = torch.cat([out.unsqueeze(1), lab[:, 1:]], 1)
    return lab_to_rgb(_lab_denorm(lab))


def default_for(*sources: object) -> AugmentConfig:
    """The augmentation a run on these face sources uses unless told otherwise: the sources' own
    ``default_augment`` when they all agree (synthetic sources: faceswap's geometry, no colour jitter),
    else faceswap's defaults (face folders)."""
    defaults = [getattr(src, "default_augment", None) for src in sources]
    if defaults and defaults[0] is not None and all(d == defaults[0] for d in defaults):
        return defaults[0]
    return AugmentConfig()


# ----------------------------------------------------------------------------------------------------------
# Geometry: transform + flip (both outputs), random warp (input only)
# ----------------------------------------------------------------------------------------------------------


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def _affine(r: torch.Tensor, cfg: AugmentConfig) -> torch.Tensor:
    """(N, 2, 3) output->source maps in normalised coordinates: flip, then inverse rotation/zoom/shift."""
    angle = torch.deg2rad((r[:, 0] * 2 - 1) * cfg.rotation_range)
    zoom = 1 + (r[:, 1] * 2 - 1) * cfg.zoom_amount / 100
    shift = (r[:, 2:4] * 2 - 1) * (2 * cfg.shift_range / 100)  # fraction of size -> normalised units
    flip = torch.where(r[:, 4] < cfg.flip_chance / 100, -1.0, 1.0)
    c, s = angle.cos() / zoom, angle.sin() / zoom
    rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], 1)  # (N, 2, 2) = R(-a) / zoom
    lin = rot * torch.stack([flip, torch.ones_like(flip)], -1).unsqueeze(1)  # rot @ diag(flip, 1)
    offset = -(rot @ shift.unsqueeze(-1))
    return torch.cat([lin, offset], -1)


def warp_field(noise: torch.Tensor, size: int, sigma_fraction: float) -> torch.Tensor:
    """faceswap's random warp as a displacement field (N, size, size, 2) in normalised units: 5x5 control
    points jittered by N(0, sigma), maps resized bilinearly to 1.25 x size, the central 80% kept."""
    pad = int(1.25 * size)
    maps = noise * (2 * sigma_fraction)  # pixels sigma * size -> normalised units (2 per image width)
    maps = F.interpolate(maps, size=(pad, pad), mode="bilinear", align_corners=False)
    lo, hi = pad // 10, pad + (-pad // 10)
    maps = maps[:, :, lo:hi, lo:hi]
    if maps.shape[-1] != size:
        maps = F.interpolate(maps, size=(size, size), mode="bilinear", align_corners=False)
    return maps.permute(0, 2, 3, 1)


def _base_grid(n: int, size: int, device: torch.device) -> torch.Tensor:
    eye = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], device=device).expand(n, 2, 3)
    return F.affine_grid(eye, [n, 1, size, size], align_corners=False)


def augment(images: torch.Tensor, generator: torch.Generator, input_size: int, output_size: int,
            config: AugmentConfig | None = None, masks: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
    """(warped input at input_size, un-warped target at output_size) from images (N,3,H,W) in [0,1].

    Both share one colour jitter and one random transform/flip; only the input is warped. Deterministic
    for the generator's state (the same with or without masks); the generator may live on the images'
    device or the CPU. ``masks`` (N, 1, H, W): face masks, transformed like the target and returned third
    (N, 1, output_size, output_size), for faceswap's penalized mask loss.
    """
    cfg = config or AugmentConfig()
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"augment: images must be a (N, 3, H, W) tensor, got {shape}")
    for name, value in (("input_size", input_size), ("output_size", output_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 8:
            raise ValueError(f"augment: {name} must be an int >= 8, got {value!r}")
    if images.dtype == torch.uint8:
        images = images.float() / 255
    images = images.float()
    n, dev = images.shape[0], images.device
    r = torch.rand(n, 12, generator=generator, device=generator.device).to(dev)
    noise = torch.randn(n, 2, 5, 5, generator=generator, device=generator.device).to(dev)

    # transform + flip at the output size, then colour there (pointwise, so it commutes with the
    # geometry and costs the least at this size); the input is the target, resized and warped
    theta = _affine(r, cfg)
    grid_out = F.affine_grid(theta, [n, 3, output_size, output_size], align_corners=False)
    target = F.grid_sample(_resize(images, output_size), grid_out, mode="bilinear", padding_mode="border",
                           align_corners=False)
    target = _colour(target.clamp_(0, 1), r, cfg)
    if masks is not None:
        if masks.shape[0] != n or masks.shape[1] != 1 or masks.shape[-2:] != images.shape[-2:]:
            raise ValueError(f"augment: masks must be (N, 1, H, W) matching the images {tuple(images.shape)}, "
                             f"got {tuple(masks.shape)}")
        mask_out = F.grid_sample(_resize(masks.float(), output_size), grid_out, mode="bilinear",
                                 padding_mode="zeros", align_corners=False).clamp_(0, 1)
    warped = _resize(target, input_size)
    if cfg.random_warp:
        grid_in = _base_grid(n, input_size, dev) + warp_field(noise, input_size, cfg.warp_sigma_fraction)
        warped = F.grid_sample(warped, grid_in, mode="bilinear", padding_mode="border", align_corners=False)
    if masks is not None:
        return warped.clamp(0, 1), target, mask_out
    return warped.clamp(0, 1), target


def preview_pairs(inputs: torch.Tensor, targets: torch.Tensor, n: int = 8) -> Image.Image:
    """A grid for a quick look: inputs (scaled to the target size) on the top row, targets below."""
    n = min(n, len(inputs), len(targets))
    if n < 1:
        raise ValueError("preview_pairs: need at least one input/target pair")
    size = targets.shape[-1]
    top = F.interpolate(inputs[:n].float().cpu(), size=(size, size), mode="nearest")
    rows = torch.cat([top, targets[:n].float().cpu()])
    gap = 2
    grid = torch.ones(3, 2 * size + 3 * gap, n * size + (n + 1) * gap)
    for i, img in enumerate(rows):
        r, c = divmod(i, n)
        y, x = gap + r * (size + gap), gap + c * (size + gap)
        grid[:, y : y + size, x : x + size] = img.clamp(0, 1)
    return Image.fromarray((grid.permute(1, 2, 0) * 255).round().byte().numpy())
