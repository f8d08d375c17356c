"""Phaze-A in PyTorch, block for block as faceswap builds it."""

from .layers import count_params, curve, scale_dim
from .phaze_a import PhazeA, decoder_filters
from .summary import block_summary

__all__ = ["PhazeA", "block_summary", "count_params", "curve", "decoder_filters", "scale_dim"]
