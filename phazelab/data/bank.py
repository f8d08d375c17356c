"""A face bank: a fixed set of frames of one synthetic identity, rendered once, served by index.

Why: a faceswap user trains on a fixed set of extracted faces, not on an endless stream; a bank is that
set for the synthetic world. It is also what takes the data off the training step's critical path: the
frames are rendered once into a uint8 tensor on the training device and a batch is one index operation
(the renderer costs ~0.6 ms per 64-px face on a CPU core, a bank batch ~microseconds).

Every frame keeps its exact factors (`labels`), so analysis can colour and probe by them, and its exact
face mask (for faceswap's `penalized_mask_loss`). Held-out evaluation frames (`heldout`) come from a seed
stream disjoint from the bank's, always.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from phazelab.data.augment import AugmentConfig
from phazelab.data.source import check_batch_args
from phazelab.data.world import FaceWorld, Labels

__all__ = ["DEFAULT_BANK_SIZE", "SYNTHETIC_AUGMENT", "FaceBank", "stream_seed"]

DEFAULT_BANK_SIZE = 2048
RENDER_VERSION = 1  # bump when the renderer's pixels change, so disk caches are not reused

# The renderer already randomises lighting, and the world's identities differ mostly in skin and hair
# colour; faceswap's +-30 % LAB lightness jitter spans the gap between siblings and teaches the model
# to copy input colour. So synthetic sources default to faceswap's geometric augmentation only (warp,
# rotation, zoom, shift, flip at faceswap's defaults) and no colour jitter; face folders keep faceswap's
# colour defaults.
SYNTHETIC_AUGMENT = AugmentConfig(color_lightness=0.0, color_ab=0.0, color_clahe_chance=0.0)


def stream_seed(*parts: int | str) -> int:
    """A 63-bit seed for one named random stream (e.g. world seed, identity, seed, "bank"): streams with
    different parts are independent, so bank and held-out frames never share a draw."""
    words = [int(hashlib.sha256(str(p).encode()).hexdigest()[:8], 16) for p in parts]
    return int(np.random.SeedSequence(words).generate_state(2, dtype=np.uint32).astype(np.uint64)
               .dot(np.array([1, 1 << 31], dtype=np.uint64)) & np.uint64((1 << 63) - 1))


class FaceBank:
    """``n`` fixed frames of identity ``identity`` of ``world``: a FaceSource served from a uint8 tensor.

    Args:
        world: the FaceWorld the identity lives in.
        identity: identity id (0 .. world.n_identities - 1).
        n: number of frames (default 2 048).
        seed: which bank; frames' factors come from the stream (world seed, identity, seed, "bank").
        cache_dir: optional folder for a disk cache of rendered frames (safetensors, atomic writes) keyed
            by a hash of the identity's parameters, n, seed, size and the renderer version.

    The frames are rendered lazily, once per (size, device), at the size the trainer asks for. ``batch``
    returns float32 (n, 3, size, size) in [0, 1]; ``batch_with_masks`` also the exact face masks
    (n, 1, size, size). Deterministic for the generator's state.

    Raises:
        ValueError: identity out of range, n < 1, or a bad size/batch request.
    """

    def __init__(self, world: FaceWorld, identity: int, n: int = DEFAULT_BANK_SIZE, seed: int = 0,
                 cache_dir: str | Path | None = None) -> None:
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"FaceBank: n (frames) must be a positive int, got {n!r}")
        self.world = world
        self.identity = world._check_identity(identity)
        self.n, self.seed = n, int(seed)
        # the source spec that rebuilds this bank (make_source): the frame count when it is not the default
        self.name = f"synthetic:{self.identity}" + ("" if n == DEFAULT_BANK_SIZE else f":{n}")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        factors = world.random_factors(
            n, torch.Generator().manual_seed(stream_seed(world.seed, self.identity, self.seed, "bank")))
        self.labels = Labels(torch.full((n,), self.identity, dtype=torch.long), factors)
        self.default_augment = SYNTHETIC_AUGMENT
        self._frames: dict[tuple[int, str], torch.Tensor] = {}

    # -- the FaceSource protocol -----------------------------------------------------------------------
    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        return f"FaceBank({self.name!r}, n={self.n}, seed={self.seed}, world seed {self.world.seed})"

    def batch(self, n: int, generator: torch.Generator, size: int, device: torch.device | str = "cpu"
              ) -> torch.Tensor:
        """``n`` frames drawn with replacement: float32 (n, 3, size, size) in [0, 1] on ``device``."""
        return self._take(self.indices(n, generator), size, device)[:, :3].float().div_(255)

    def batch_with_masks(self, n: int, generator: torch.Generator, size: int,
                         device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Like ``batch`` (same draw for the same generator state), plus the exact face masks
        (n, 1, size, size) float32 in [0, 1]."""
        frames = self._take(self.indices(n, generator), size, device).float().div_(255)
        return frames[:, :3], frames[:, 3:]

    def batch_with_labels(self, n: int, generator: torch.Generator, size: int,
                          device: torch.device | str = "cpu") -> tuple[torch.Tensor, Labels]:
        """Like ``batch`` plus the drawn frames' labels (identity and exact factors)."""
        idx = self.indices(n, generator)
        images = self._take(idx, size, device)[:, :3].float().div_(255)
        return images, self.labels.index(idx.cpu())

    def indices(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n frame indices drawn with replacement, on the generator's device."""
        check_batch_args(n, 8)
        return torch.randint(self.n, (n,), generator=generator, device=generator.device)

    # -- frames --------------------------------------------------------------------------------------
    def frames(self, size: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """All frames as uint8 (n, 4, size, size) on ``device``: RGB and the face mask, rendered once."""
        check_batch_args(1, size)
        dev = torch.device(device)
        key = (size, str(dev))
        if key not in self._frames:
            host = self._frames.get((size, "cpu"))
            if host is None:
                host = self._load_or_render(size)
                self._frames[(size, "cpu")] = host
            self._frames[key] = host.to(dev)
        return self._frames[key]

    def images(self, size: int = 64, device: torch.device | str = "cpu") -> torch.Tensor:
        """All frames as float32 (n, 3, size, size) in [0, 1] (for analysis; training uses ``batch``)."""
        return self.frames(size, device)[:, :3].float().div_(255)

    def heldout(self, n: int, size: int = 64, seed: int = 0, identity: int | None = None
                ) -> tuple[torch.Tensor, Labels]:
        """``n`` evaluation frames never in any bank: factors from the stream (world seed, identity, seed,
        "heldout"). ``identity`` renders another identity with the same held-out factors (e.g. the
        ground-truth swap). Returns float32 (n, 3, size, size) in [0, 1] and their labels."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"FaceBank.heldout: n must be a positive int, got {n!r}")
        ident = self.identity if identity is None else self.world._check_identity(identity)
        factors = self.world.random_factors(
            n, torch.Generator().manual_seed(stream_seed(self.world.seed, self.identity, seed, "heldout")))
        return self.world.render(ident, factors, size), Labels(torch.full((n,), ident, dtype=torch.long),
                                                                 factors)

    def _take(self, idx: torch.Tensor, size: int, device: torch.device | str) -> torch.Tensor:
        frames = self.frames(size, device)
        return frames[idx.to(frames.device)]

    def cache_key(self, size: int) -> str:
        """The disk-cache key: a hash of everything the pixels depend on."""
        h = hashlib.sha256()
        h.update(self.world.latent[self.identity].double().numpy().tobytes())
        h.update(repr((RENDER_VERSION, self.world.seed, self.identity, self.n, self.seed, size)).encode())
        return h.hexdigest()[:24]

    def _load_or_render(self, size: int) -> torch.Tensor:
        path = self.cache_dir / f"bank-{self.cache_key(size)}.safetensors" if self.cache_dir else None
        if path is not None and path.is_file():
            try:
                frames = st_load(path.read_bytes())["frames"]
                if frames.shape == (self.n, 4, size, size) and frames.dtype == torch.uint8:
                    return frames
            except Exception:  # noqa: BLE001 - a damaged cache file is re-rendered, never trusted
                pass
        chunks = []
        for start in range(0, self.n, 512):
            f = self.labels.factors.index(slice(start, min(start + 512, self.n)))
            chunks.append(self.world.render(self.identity, f, size, with_mask=True).mul_(255).round_()
                          .to(torch.uint8))
        frames = torch.cat(chunks)
        if path is not None:
            from phazelab.weights import atomic_write_bytes

            buf = io.BytesIO(st_save({"frames": frames}))
            atomic_write_bytes(path, buf.getvalue())
        return frames
