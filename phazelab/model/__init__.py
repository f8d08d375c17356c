"""Phaze-A in PyTorch, block for block as faceswap builds it."""

from .layers import count_params, curve, scale_dim
from .modes import evaluating
from .phaze_a import PhazeA, decoder_filters
from .summary import block_sides, block_summary, meta_model, summary_frame, summary_table

__all__ = ["PhazeA", "block_sides", "block_summary", "count_params", "curve", "decoder_filters", "evaluating",
           "meta_model",
           "scale_dim", "summary_frame", "summary_table"]
