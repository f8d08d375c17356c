"""Real faces: a folder of aligned face crops (e.g. faceswap's extract output) as a FaceSource.

Why a cache: decoding PNG/JPEG every step would dominate CPU training, so every image is decoded once,
made square and resized, and kept as one uint8 tensor; batches are then pure tensor indexing on the
training device. The source folder is only ever read.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm.auto import tqdm

from phazelab.data.source import FaceSource, check_batch_args
from phazelab.data.world import FaceWorld

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    """Any PIL mode -> (H, W, 3) uint8 RGB: grayscale is replicated, alpha is composited over black,
    16-bit and 32-bit integer images are scaled down (not clipped)."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(img).astype(np.float64)
        peak = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        gray = np.clip(np.round(arr / peak * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        scale = 255.0 if arr.max() <= 1.0 else 1.0
        gray = np.clip(np.round(arr * scale), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        img.mode == "P" and "transparency" in img.info
    )
    if has_alpha:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32)
        rgb = rgba[..., :3] * (rgba[..., 3:4] / 255.0)
        return np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def _square_resize(arr: np.ndarray, size: int) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, size, size) uint8: centre-crop to a square, resize with antialiasing."""
    h, w = arr.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    x = torch.from_numpy(arr[top : top + side, left : left + side].copy()).permute(2, 0, 1)  # writable
    if side != size:
        x = F.interpolate(x[None].float(), size=(size, size), mode="bilinear", antialias=True,
                          align_corners=False)[0]
        x = x.round_().clamp_(0, 255).to(torch.uint8)
    return x.contiguous()


def _load_one(path: Path, size: int) -> torch.Tensor:
    with Image.open(path) as img:
        img.load()  # decode fully now, so a truncated file fails here
        arr = _to_rgb_array(img)
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError("empty image")
    return _square_resize(arr, size)


class FaceFolder(FaceSource):
    """All aligned face images of one folder (.png/.jpg/.jpeg/.webp, not recursive) as a FaceSource.

    Files that cannot be decoded are skipped and listed once in a warning (and in ``skipped``); an empty
    or missing folder, or one with no usable image, raises a ValueError/FileNotFoundError naming it.
    Non-square images are centre-cropped to a square. Nothing in the folder is ever written.
    """

    def __init__(self, path: str | Path, size: int = 256, progress: bool = True) -> None:
        if not isinstance(size, int) or isinstance(size, bool) or not 8 <= size <= 2048:
            raise ValueError(f"FaceFolder: size must be an int in 8..2048 pixels, got {size!r}")
        self.path = Path(path).expanduser()
        self.name = str(path)
        self.size = size
        if not self.path.exists():
            raise FileNotFoundError(f"FaceFolder: folder {str(self.path)!r} does not exist")
        if not self.path.is_dir():
            raise NotADirectoryError(f"FaceFolder: {str(self.path)!r} is not a folder (expected a folder of "
                                     f"aligned face images)")
        files = sorted(p for p in self.path.iterdir()
                       if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
        if not files:
            raise ValueError(f"FaceFolder: folder {str(self.path)!r} contains no image files "
                             f"({', '.join(IMAGE_SUFFIXES)})")
        images: list[torch.Tensor] = []
        self.files: list[Path] = []
        self.skipped: list[str] = []
        reasons: list[str] = []
        for file in tqdm(files, desc=f"loading {self.path.name or self.path}", unit="img", disable=not progress):
            try:
                images.append(_load_one(file, size))
                self.files.append(file)
            except (OSError, ValueError, SyntaxError, UnidentifiedImageError, Image.DecompressionBombError) as err:
                self.skipped.append(file.name)
                reasons.append(f"{file.name} ({type(err).__name__}: {err})")
        if not images:
            raise ValueError(f"FaceFolder: no usable image in {str(self.path)!r}; all {len(files)} files failed "
                             f"to load: {'; '.join(reasons)}")
        if self.skipped:
            warnings.warn(f"FaceFolder {str(self.path)!r}: skipped {len(self.skipped)} unreadable file(s): "
                          f"{'; '.join(reasons)}", stacklevel=2)
        self.cache = torch.stack(images)  # (N, 3, size, size) uint8, CPU
        self._on_device: dict[str, torch.Tensor] = {"cpu": self.cache}

    def __len__(self) -> int:
        return self.cache.shape[0]

    def __repr__(self) -> str:
        return f"FaceFolder({self.name!r}, {len(self)} images at {self.size} px, {len(self.skipped)} skipped)"

    def _cache_on(self, device: torch.device) -> torch.Tensor:
        key = str(device)
        if key not in self._on_device:
            self._on_device[key] = self.cache.to(device)
        return self._on_device[key]

    def images(self, indices: torch.Tensor | list[int] | None = None, size: int | None = None,
               device: torch.device | str = "cpu") -> torch.Tensor:
        """Stored images (all, or ``indices``) as float32 (n, 3, size, size) in [0, 1] on ``device``."""
        device = torch.device(device)
        cache = self._cache_on(device)
        if indices is not None:
            cache = cache[torch.as_tensor(indices, dtype=torch.long, device=device)]
        x = cache.float().div_(255.0)
        size = size or self.size
        if size != self.size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            x = x.clamp_(0, 1)
        return x

    def batch(self, n: int, generator: torch.Generator, size: int, device: torch.device | str = "cpu"
              ) -> torch.Tensor:
        """n random stored faces (drawn with replacement) as float32 (n, 3, size, size) in [0, 1]."""
        check_batch_args(n, size)
        device = torch.device(device)
        idx = torch.randint(len(self), (n,), generator=generator, device=generator.device).to(device)
        return self.images(idx, size=size, device=device)


def make_source(spec: str, world: FaceWorld | None = None, size: int = 256, progress: bool = True
                ) -> FaceSource:
    """``"synthetic:3"`` -> a `FaceBank` of identity 3 of ``world`` (default ``FaceWorld(seed=0)``) with the
    default 2 048 frames; ``"synthetic:3:512"`` a bank of 512 frames; ``"synthetic:3:stream"`` fresh
    renders every batch. Anything else is a folder path loaded as a FaceFolder at ``size`` pixels."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"make_source: expected 'synthetic:<id>' or a folder path, got {spec!r}")
    if spec == "synthetic" or spec.startswith("synthetic:"):
        _, _, rest = spec.partition(":")
        ident, _, kind = rest.partition(":")
        if not ident.strip().lstrip("-").isdigit() or not (kind == "" or kind == "stream" or kind.isdigit()):
            raise ValueError(f"make_source: {spec!r} is not of the form 'synthetic:<identity id>' "
                             f"(e.g. 'synthetic:3'), optionally ':<bank frames>' or ':stream' "
                             f"(e.g. 'synthetic:3:512', 'synthetic:3:stream')")
        world = world if world is not None else FaceWorld(seed=0)
        if kind == "stream":
            return world.stream(int(ident))
        return world.source(int(ident), n=int(kind) if kind else None)
    return FaceFolder(spec, size=size, progress=progress)
