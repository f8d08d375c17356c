"""SwapViewer: the model's face swap next to the exact ground truth the synthetic world can render.

For frames of identity A, the swap decodes them through side B's path; the ground truth is identity B
rendered with the very same pose, expression, lighting and framing. The error map and SSIM say how far
the swap is from it (SSIM from `phazelab.analysis`).
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as W
import numpy as np
import torch

from ..analysis import HELD_OUT_SEED, image_distance
from ..analysis.metrics import ssim_scores
from ..analysis.plots import tile
from ..model import PhazeA
from .common import Background, Panel, guarded, on_model, show_png

ERROR_GAIN = 4.0  # the error map shows |swap − truth| × 4 (fixed, so maps compare across identities)
ROWS = ("input (A)", "swap (A → B)", "ground truth", f"|error| × {ERROR_GAIN:g}")


def _face(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out


class SwapViewer(Panel):
    """Input, swap, ground-truth swap and error map for `n` held-out frames of a chosen identity pair.

    `to` is the side whose path decodes the swap ("b": faces of A come out as B). With `trainer`, the
    model runs between training steps; press Refresh to see the latest weights.
    """

    def __init__(self, model: PhazeA, world: Any, identity_a: int = 0, identity_b: int = 1, *, n: int = 6,
                 seed: int = HELD_OUT_SEED, to: str = "b", trainer: Any = None) -> None:
        if to not in ("a", "b"):
            raise ValueError(f"SwapViewer: to must be 'a' or 'b', got {to!r}")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"SwapViewer: n must be a positive integer, got {n!r}")
        ids = list(range(world.n_identities))
        for name, value in (("identity_a", identity_a), ("identity_b", identity_b)):
            if value not in ids:
                raise ValueError(f"SwapViewer: {name}={value!r} is not an identity of this world "
                                 f"(0..{ids[-1]})")
        self.model, self.world, self.trainer, self.n, self.seed = model, world, trainer, n, seed
        self.ssim: np.ndarray | None = None
        self.mse: np.ndarray | None = None
        self.images: dict[str, torch.Tensor] = {}

        self.error = W.HTML()
        self.identity_a = W.Dropdown(description="identity A", options=ids, value=identity_a,
                                     layout=W.Layout(width="170px"))
        self.identity_b = W.Dropdown(description="identity B", options=ids, value=identity_b,
                                     layout=W.Layout(width="170px"))
        self.to = W.ToggleButtons(options=[("decode as B", "b"), ("decode as A", "a")], value=to,
                                  tooltips=["through side B's path (the swap)", "through side A's path"])
        self.refresh_button = W.Button(description="Refresh", icon="refresh",
                                       tooltip="run the model again (e.g. after more training)")
        self.rows = {name: W.Image(format="png", layout=W.Layout(display="none")) for name in ROWS}
        self.score = W.HTML()
        self._job = Background(self.error)

        for widget in (self.identity_a, self.identity_b, self.to):
            widget.observe(guarded(self.error, lambda _c: self.refresh()), names="value")
        self.refresh_button.on_click(guarded(self.error, lambda _b: self.refresh()))
        grid = W.GridBox([w for name, image in self.rows.items() for w in (W.HTML(f"<b>{name}</b>"), image)],
                         layout=W.Layout(grid_template_columns="130px auto", align_items="center"))
        self.widget = W.VBox([W.HBox([self.identity_a, self.identity_b, self.to, self.refresh_button]),
                              self.score, grid, self.error])
        self.refresh()

    def refresh(self) -> bool:
        """Recompute for the chosen identities in the background (after the running one, if any)."""
        a, b, to = self.identity_a.value, self.identity_b.value, self.to.value
        return self._job.run(lambda: self._compute(a, b, to), queue=True)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the running computation ends."""
        self._job.wait(timeout)

    def _compute(self, identity_a: int, identity_b: int, to: str) -> None:
        self.score.value = "<small>computing…</small>"
        frames, labels = self.world.sample(identity_a, self.n, self.seed, size=self.model.input_size)
        swap = on_model(self.trainer, lambda: self._run(frames, to)).result()
        size = swap.shape[-1]
        shown_input = self.world.render(identity_a, labels.factors, size=size)  # same frames, output size
        truth = self.world.swap_target(labels, identity_b, size=size)
        self.ssim = ssim_scores(swap, truth)
        self.mse = image_distance(swap, truth, "mse")
        error_map = ((swap - truth).abs().mean(1, keepdim=True) * ERROR_GAIN).clamp(0, 1)
        error_map = error_map.expand(-1, 3, -1, -1)
        self.images = dict(zip(ROWS, (shown_input, swap, truth, error_map), strict=True))
        for name, images in self.images.items():
            show_png(self.rows[name], tile(images, nrow=self.n), scale=2 if size <= 96 else 1)
        per_face = " ".join(f"{s:.2f}" for s in self.ssim)
        self.score.value = (f"identity {identity_a} → decoded as {html.escape(to.upper())}, truth: identity "
                            f"{identity_b} · <b>SSIM {self.ssim.mean():.3f}</b> (per face: {per_face}) · "
                            f"MSE {self.mse.mean():.4f}")

    def _run(self, frames: torch.Tensor, to: str) -> torch.Tensor:
        device = next(self.model.parameters()).device
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                out = _face(self.model.swap(frames.to(device), to=to))
        finally:
            self.model.train(was_training)
        return out.float().clamp(0, 1).cpu()
