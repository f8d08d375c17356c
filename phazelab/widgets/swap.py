"""SwapViewer: the model's face swap next to the exact ground truth the synthetic world can render.

For frames of identity A, "decode as B" sends them through side B's path (the swap); the ground truth is
identity B rendered with the very same pose, expression, lighting and framing. "decode as A" sends them
through side A's path (A's reconstruction) and the truth is A itself. The swap judge
(`phazelab.analysis.judge`) names the identity each output shows and its pose error; its success rate
is printed beside the judge's baselines for the same frames (B's mean face, copy of A), so a number
never stands alone.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as W
import numpy as np
import torch

from ..analysis import HELD_OUT_SEED, image_distance
from ..analysis.judge import success_interval
from ..analysis.metrics import ssim_scores
from ..analysis.plots import tile
from ..model import PhazeA
from ..model.modes import evaluating
from .common import Background, Panel, guarded, on_model, show_png

ROW_KEYS = ("input", "output", "truth", "error")



def row_labels(identity_a: int, identity_b: int, to: str) -> dict[str, str]:
    """What each row shows for the chosen decoding (the labels follow the "decode as" toggle)."""
    if to == "b":
        return {"input": f"input (identity {identity_a})", "output": "swap (A → B)",
                "truth": f"truth: identity {identity_b}", "error": "|swap − truth|"}
    return {"input": f"input (identity {identity_a})", "output": "reconstruction (A → A)",
            "truth": f"truth: identity {identity_a}", "error": "|output − truth|"}


def error_map(output: torch.Tensor, truth: torch.Tensor) -> tuple[torch.Tensor, float]:
    """|output − truth| averaged over colour, scaled so its 99th percentile is white (no saturation
    of the whole map); returns the (N, 3, H, W) map and the error the white level stands for."""
    err = (output - truth).abs().mean(1, keepdim=True)
    white = max(float(torch.quantile(err.flatten(), 0.99)), 1e-3)
    return (err / white).clamp(0, 1).expand(-1, 3, -1, -1), white


class SwapViewer(Panel):
    """Input, output, ground truth and error map for `n` held-out frames of a chosen identity pair, with
    the swap judge's verdict beside its baselines.

    `to` is the side whose path decodes the frames ("b": faces of A come out as B, the swap). With
    `trainer`, the model runs between training steps; the score line says at which step it was computed
    and a Refresh shows the latest weights. `trained_on` = (identity A, identity B) the model was trained
    on: choosing other identities then says that they are faces the model never saw.
    """

    def __init__(self, model: PhazeA, world: Any, identity_a: int = 0, identity_b: int = 1, *, n: int = 6,
                 seed: int = HELD_OUT_SEED, to: str = "b", trainer: Any = None, judge: bool = True,
                 trained_on: tuple[int, int] | None = None) -> None:
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
        self.trained_on = None if trained_on is None else (int(trained_on[0]), int(trained_on[1]))
        self.use_judge = judge
        self.ssim: np.ndarray | None = None
        self.mse: np.ndarray | None = None
        self.verdict: dict[str, Any] | None = None
        self.baselines: dict[str, dict[str, Any]] | None = None
        self.images: dict[str, torch.Tensor] = {}
        self.labels: dict[str, str] = {}

        self.error = W.HTML()
        self.identity_a = W.Dropdown(description="identity A", options=ids, value=identity_a,
                                     layout=W.Layout(width="170px"))
        self.identity_b = W.Dropdown(description="identity B", options=ids, value=identity_b,
                                     layout=W.Layout(width="170px"))
        self.to = W.ToggleButtons(options=[("decode as B", "b"), ("decode as A", "a")], value=to,
                                  tooltips=["through side B's path (the swap)", "through side A's path"])
        self.refresh_button = W.Button(description="Refresh", icon="refresh",
                                       tooltip="run the model again (e.g. after more training)")
        self.row_names = {key: W.HTML() for key in ROW_KEYS}
        self.rows = {key: W.Image(format="png", layout=W.Layout(display="none")) for key in ROW_KEYS}
        self.score = W.HTML(layout=W.Layout(max_width="100%"))
        self._job = Background(self.error)

        for widget in (self.identity_a, self.identity_b, self.to):
            widget.observe(guarded(self.error, lambda _c: self.refresh()), names="value")
        self.refresh_button.on_click(guarded(self.error, lambda _b: self.refresh()))
        # the label column fits "reconstruction (A → A)" on one line
        grid = W.GridBox([w for key in ROW_KEYS for w in (self.row_names[key], self.rows[key])],
                         layout=W.Layout(grid_template_columns="190px auto", align_items="center"))
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
        self.score.value = "<small>computing… (the judge renders its references once per pair: ~10 s)</small>"
        frames, labels = self.world.sample(identity_a, self.n, self.seed, size=self.model.input_size)
        step = getattr(self.trainer, "step", None)
        output = on_model(self.trainer, lambda: self._run(frames, to)).result()
        size = output.shape[-1]
        shown_input = self.world.render(identity_a, labels.factors, size=size)  # same frames, output size
        target = identity_b if to == "b" else identity_a
        truth = self.world.render(target, labels.factors, size=size)
        self.ssim = ssim_scores(output, truth)
        self.mse = image_distance(output, truth, "mse")
        errors, white = error_map(output, truth)
        self.labels = row_labels(identity_a, identity_b, to)
        self.labels["error"] += f" (white = {white:.2f})"
        self.images = {"input": shown_input, "output": output, "truth": truth, "error": errors}
        for key, images in self.images.items():
            self.row_names[key].value = f"<b>{html.escape(self.labels[key])}</b>"
            show_png(self.rows[key], tile(images, nrow=self.n), scale=2 if size <= 96 else 1)
        judged = ""
        if self.use_judge:
            from ..analysis.judge import judge_for, swap_baselines

            judge = judge_for(self.world, labels, target, size, pose_of="target")
            self.verdict = judge(output)
            if to == "b":
                self.baselines = swap_baselines(self.world, labels, identity_a, identity_b, size, judge=judge)
                nulls = (f"baselines: B's mean face {self.baselines['mean_face_b']['success']:.2f}, "
                         f"copy of A {self.baselines['copy_a']['success']:.2f}, "
                         f"truth {self.baselines['truth']['success']:.2f}")
            else:
                self.baselines, nulls = None, "the truth itself scores 1.00"
            v = self.verdict
            low, high = success_interval(v["success"], v["n"])
            judged = (f"<b>judge: success {v['success']:.2f}</b> (95 % CI {low:.2f}–{high:.2f} on "
                      f"{v['n']} frames; identity {target} named on {v['id_top1']:.2f} "
                      f"of frames, chance {v['chance']:.2f}; pose error {v['pose_err_deg']:.1f}°; "
                      f"{nulls}){swap_reading(v['success'], v['n'], self.baselines)} · ")
        when = f" · computed at training step {step}; press Refresh after more training" if step is not None else ""
        unseen = ""
        if self.trained_on is not None and (identity_a, identity_b) != self.trained_on:
            a, b = self.trained_on
            unseen = (f"<br><i>This model was trained on identity {a} (side A) and {b} (side B): a side learns "
                      "only its own face, so another identity is a face it never saw; read its score only "
                      "against the baselines beside it (a blurred output can be named as any face).</i>")
        self.score.value = (f"<div style='white-space:normal'>identity {identity_a} decoded as "
                            f"{html.escape(to.upper())}, truth: identity {target} · {judged}"
                            f"SSIM {self.ssim.mean():.3f} · MSE {self.mse.mean():.4f} ({self.n} held-out frames)"
                            f"{when}{unseen}</div>")

    def _run(self, frames: torch.Tensor, to: str) -> torch.Tensor:
        device = next(self.model.parameters()).device
        with evaluating(self.model):
            with torch.no_grad():
                out = self.model.swap(frames.to(device), to=to)
        return out.float().clamp(0, 1).cpu()


def swap_reading(success: float, n: int, baselines: dict[str, Any] | None) -> str:
    """What an A→B judge score reads as, beside its baselines (swap_baselines' dict; None for a
    decoding with no swap baselines: ""): " — a real swap" only at or above the 0.8 gate and above
    B's mean face; " — no better than B's mean face" when its 95 % CI (Wilson, `n` frames) does not
    lie above the mean face's score; else " — below the 0.8 gate: not yet a swap"."""
    from ..analysis.gates import quality_gate

    if baselines is None:
        return ""
    mean_face = float(baselines["mean_face_b"]["success"])
    low, _high = success_interval(success, n)
    if low <= mean_face:
        return (f" — <b>no better than B's mean face</b> (the 95 % CI does not lie above its "
                f"{mean_face:.2f}): not a learned swap")
    if quality_gate(success)["passed"]:
        return " — <b>a real swap</b> (≥ the 0.8 gate, above B's mean face)"
    return " — <b>below the 0.8 gate</b>: above B's mean face, not yet a swap"
