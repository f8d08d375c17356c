"""Running a model for evaluation without changing how it is left: one context manager for it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["evaluating"]


@contextlib.contextmanager
def evaluating(model: nn.Module, no_grad: bool = True) -> Iterator[nn.Module]:
    """Eval mode (no Gaussian noise, no dropout, norm layers on running statistics) and, by default, no
    autograd inside the block; the model's train/eval mode is restored afterwards, even on an error
    (PhazeA.train keeps frozen blocks' norm layers in inference mode, as faceswap/Keras do)."""
    was = model.training
    model.eval()
    try:
        with torch.no_grad() if no_grad else contextlib.nullcontext():
            yield model
    finally:
        model.train(was)
