"""The one interface every face source offers, so the trainer and analysis never care where faces come from."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class FaceSource(Protocol):
    """A stream of face crops: the synthetic world (one identity) or a folder of aligned faces."""

    name: str  # e.g. "synthetic:3" or the folder path

    def batch(
        self, n: int, generator: torch.Generator, size: int, device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        """``n`` random faces as float32 ``(n, 3, size, size)`` RGB in [0, 1] on ``device``.

        Deterministic for the same generator state; the generator lives on ``device``.
        """
        ...

    def __len__(self) -> int:
        """Number of distinct stored images (a large nominal number for a synthetic source)."""
        ...


def check_batch_args(n: int, size: int) -> None:
    """Reject a bad batch request with a message naming the option, before any work is done."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"batch: n must be a positive int, got {n!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 8:
        raise ValueError(f"batch: size must be an int >= 8 (pixels), got {size!r}")
