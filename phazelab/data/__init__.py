"""Faces for the lab: the synthetic face world (exact ground truth), real face folders, augmentation."""

from phazelab.data.augment import AugmentConfig, augment, preview_pairs
from phazelab.data.folders import FaceFolder, make_source
from phazelab.data.source import FaceSource
from phazelab.data.world import (
    EXPRESSION_COLUMNS,
    JITTER_COLUMNS,
    LIGHTING_COLUMNS,
    POSE_COLUMNS,
    FaceWorld,
    Factors,
    Labels,
    SyntheticSource,
)

__all__ = [
    "EXPRESSION_COLUMNS",
    "JITTER_COLUMNS",
    "LIGHTING_COLUMNS",
    "POSE_COLUMNS",
    "AugmentConfig",
    "FaceFolder",
    "FaceSource",
    "FaceWorld",
    "Factors",
    "Labels",
    "SyntheticSource",
    "augment",
    "make_source",
    "preview_pairs",
]
