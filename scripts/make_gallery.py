"""Regenerate data/gallery/: a look at the synthetic face world (run `make gallery`).

Deterministic: the same code gives the same PNGs. Files are written atomically.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import torch
from PIL import Image

from phazelab.data import AugmentConfig, FaceWorld, Factors, augment, preview_pairs

# (label, factor overrides) for the columns of the identity grid
COLUMNS: list[tuple[str, dict[str, float]]] = [
    ("neutral", {}),
    ("yaw -35", {"yaw": -35.0}),
    ("yaw +35", {"yaw": 35.0}),
    ("pitch +18", {"pitch": 18.0}),
    ("pitch -18", {"pitch": -18.0}),
    ("smile", {"smile": 1.0}),
    ("mouth open", {"mouth_open": 1.0}),
    ("eyes closed", {"eyes_closed": 1.0}),
    ("brows raised", {"brows_raised": 1.0}),
    ("light left", {"light_azimuth": -60.0, "light_elevation": 5.0}),
    ("warm light", {"light_r": 1.1, "light_g": 0.95, "light_b": 0.75}),
]
SIBLING_DISTANCES = (0.0, 0.05, 0.15, 0.3, 0.6, 1.0)


def to_image(grid: torch.Tensor) -> Image.Image:
    """(3, H, W) in [0, 1] -> PIL."""
    return Image.fromarray((grid.clamp(0, 1).permute(1, 2, 0) * 255).round().byte().numpy())


def tile(images: torch.Tensor, rows: int, gap: int = 2) -> torch.Tensor:
    """(R*C, 3, S, S) -> one (3, H, W) grid with white gaps, row-major."""
    n, _, size, _ = images.shape
    cols = -(-n // rows)
    out = torch.ones(3, rows * size + (rows + 1) * gap, cols * size + (cols + 1) * gap)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        y, x = gap + r * (size + gap), gap + c * (size + gap)
        out[:, y : y + size, x : x + size] = img
    return out


def save_png(image: Image.Image, path: Path) -> None:
    """Write a 256-colour PNG (a third of the size, no visible loss for these cartoons) atomically: a temp
    file in the same folder, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".png")
    os.close(fd)
    try:
        small = image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        small.save(tmp, format="PNG", optimize=True)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build(out_dir: Path, size: int = 64) -> list[Path]:
    world = FaceWorld(seed=0, n_identities=8)
    written: list[Path] = []

    # identities x poses / expressions / lighting
    base = Factors.neutral(1)
    columns = Factors.cat([base.with_values(**kw) for _, kw in COLUMNS])
    rows = [world.render(i, columns, size=size) for i in range(world.n_identities)]
    grid = tile(torch.cat(rows), rows=world.n_identities)
    written.append(out_dir / "identities.png")
    save_png(to_image(grid), written[-1])

    # the hard set: the same identities' grid for FaceWorld(hard=True) (colour and hair shared)
    hard = FaceWorld(seed=0, n_identities=8, hard=True)
    rows = [hard.render(i, columns, size=size) for i in range(hard.n_identities)]
    written.append(out_dir / "identities_hard.png")
    save_png(to_image(tile(torch.cat(rows), rows=hard.n_identities)), written[-1])

    # random factors, as training sees them
    images, _ = world.sample(list(range(world.n_identities)), 6, seed=1, size=size)
    written.append(out_dir / "random_factors.png")
    save_png(to_image(tile(images, rows=world.n_identities)), written[-1])

    # siblings of identity 0 at growing distance, same factors (two factor rows)
    factors = Factors.cat([base, world.sample_factors(1, seed=4)])
    sib_world = FaceWorld(seed=0, n_identities=8)
    ids = [sib_world.add_sibling(0, d, seed=1) for d in SIBLING_DISTANCES]
    sibs = torch.stack([sib_world.render(i, factors, size=size) for i in ids], 1)  # (2, len, 3, S, S)
    written.append(out_dir / "siblings.png")
    save_png(to_image(tile(sibs.flatten(0, 1), rows=2)), written[-1])

    # a few faces at 128 px
    big = world.render([0, 2, 5, 7], world.sample_factors(4, seed=2), size=128)
    written.append(out_dir / "faces_128.png")
    save_png(to_image(tile(big, rows=1)), written[-1])

    # augmentation: warped 64 px inputs over 128 px targets
    faces, _ = world.sample([1, 3, 4, 6], 2, seed=3, size=128)
    inp, tgt = augment(faces, torch.Generator().manual_seed(0), 64, 128, AugmentConfig())
    written.append(out_dir / "augment.png")
    save_png(preview_pairs(inp, tgt, n=8), written[-1])
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "data" / "gallery")
    args = parser.parse_args()
    for path in build(args.out):
        print(f"{path}  {path.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
