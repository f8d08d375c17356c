"""Notebook widgets of the lab (ipywidgets 8 + plotly FigureWidget), each built from the real model.

    TopologyPicker  topology options → block diagram with parameter counts
    BlockPanel      per-block load / freeze, the forum's transfer strategies
    TrainPanel      start / pause / stop a Trainer, live loss curves, speed, preview, checkpoint
    LatentExplorer  a block's latents mapped (PCA / t-SNE / UMAP) with faces and identity scores
    SwapViewer      the swap beside the ground-truth swap, error map and SSIM
    StudyPanel      the forum study: pick runs, run them, read the generated report

Each panel keeps its ipywidgets tree in `.widget`; a cell that shows the panel shows it. Widgets only
call the trainer, `phazelab.weights` and `phazelab.analysis`: no science is computed here.
"""

from __future__ import annotations

from ..lazy import lazy_exports
from ..strategies import STRATEGIES, strategy_blocks
from .blocks import BlockPanel
from .topology import TOPOLOGY_OPTIONS, TopologyPicker, buildable_presets

_LAZY = {"TrainPanel": ".train", "LatentExplorer": ".latents", "SwapViewer": ".swap", "StudyPanel": ".study"}

__all__ = ["STRATEGIES", "TOPOLOGY_OPTIONS", "BlockPanel", "LatentExplorer", "StudyPanel", "SwapViewer",
           "TopologyPicker", "TrainPanel", "buildable_presets", "strategy_blocks"]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())  # these pull in the trainer / analysis
