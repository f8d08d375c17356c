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

import numpy as np
import torch

from phazelab.data.factors import (  # noqa: F401 - re-exported: the world's labels live in factors.py
    _GROUPS,
    EXPRESSION_COLUMNS,
    JITTER_COLUMNS,
    LIGHTING_COLUMNS,
    POSE_COLUMNS,
    POSE_RANGE,
    Factors,
    Labels,
)
from phazelab.data.identity import LATENT_NAMES, _physical, _pick_distinct, pick_hard  # noqa: F401
from phazelab.data.render import render_batch
from phazelab.data.source import FaceSource, check_batch_args

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
    near-copies for hard leakage cases. ``hard=True`` draws identities that share skin, hair colour,
    hairline and glasses and differ only in facial geometry (`phazelab.data.identity.SHARED_IN_HARD`):
    in the default world colour alone names an identity half the time, here it names none.
    """

    def __init__(self, seed: int = 0, n_identities: int = 8, hard: bool = False) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"FaceWorld: seed must be an int, got {seed!r}")
        if not isinstance(n_identities, int) or isinstance(n_identities, bool) or n_identities < 1:
            raise ValueError(f"FaceWorld: n_identities must be a positive int, got {n_identities!r}")
        self.seed, self.hard = seed, bool(hard)
        gen = torch.Generator().manual_seed(seed)
        self._latent = pick_hard(gen, n_identities) if hard else _pick_distinct(gen, n_identities)
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

    def add_identity(self, latent: torch.Tensor) -> int:
        """Add an identity with the identity vector `latent` ((D,) floats in [0, 1], columns
        LATENT_NAMES) and return its id. Raises ValueError for another length or values outside [0, 1]."""
        row = torch.as_tensor(latent, dtype=self._latent.dtype).reshape(-1)
        if row.numel() != len(LATENT_NAMES):
            raise ValueError(f"add_identity: latent must have {len(LATENT_NAMES)} values (LATENT_NAMES), "
                             f"got {row.numel()}")
        if not bool(torch.isfinite(row).all()) or float(row.min()) < 0.0 or float(row.max()) > 1.0:
            raise ValueError("add_identity: latent values must lie in [0, 1]")
        self._latent = torch.cat([self._latent, row[None]])
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
