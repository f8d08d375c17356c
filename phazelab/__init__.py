"""phazelab: a lab for understanding faceswap's Phaze-A model and transfer learning."""

from __future__ import annotations

from .config import ConfigError, NotSupportedError, PhazeAConfig
from .lazy import lazy_exports
from .model import PhazeA, block_summary, count_params
from .weights import BlockError, LoadReport, freeze, frozen_blocks, load_blocks, load_model, save, unfreeze

__version__ = "0.1.0"

__all__ = [
    "BlockError", "ConfigError", "LoadReport", "NotSupportedError", "PhazeA", "PhazeAConfig", "Trainer",
    "block_summary", "count_params", "freeze", "frozen_blocks", "load_blocks", "load_model", "save",
    "import_faceswap", "unfreeze",
]


__getattr__, __dir__ = lazy_exports(__name__, {"Trainer": ".train", "import_faceswap": ".faceswap"}, globals())
