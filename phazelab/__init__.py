"""phazelab: a lab for understanding faceswap's Phaze-A model and transfer learning."""

from __future__ import annotations

from typing import Any

from .config import ConfigError, NotSupportedError, PhazeAConfig
from .model import PhazeA, block_summary, count_params
from .weights import BlockError, LoadReport, freeze, frozen_blocks, load_blocks, load_model, save, unfreeze

__version__ = "0.1.0"

__all__ = [
    "BlockError", "ConfigError", "LoadReport", "NotSupportedError", "PhazeA", "PhazeAConfig", "Trainer",
    "block_summary", "count_params", "freeze", "frozen_blocks", "load_blocks", "load_model", "save",
    "import_faceswap", "unfreeze",
]


def __getattr__(name: str) -> Any:  # the trainer pulls in more; import it only when asked for
    if name == "import_faceswap":
        from .faceswap import import_faceswap

        return import_faceswap
    if name == "Trainer":
        from .train import Trainer

        return Trainer
    raise AttributeError(f"module 'phazelab' has no attribute {name!r}")
