"""Gradient clipping with faceswap's option names (`gradient_clipping`, `clipping_value`, `autoclip_history`).

faceswap's choices: ``none``; ``global_norm`` (scale all gradients so their joint norm is at most the
value); ``norm`` (each weight tensor's gradient norm at most the value); ``value`` (each element clipped to
±value); ``autoclip`` (AutoClip, Seetharaman et al. 2020: clip the global norm at a percentile of the
norms seen so far; faceswap's value 1.0 = the 10th percentile, 2.5 = the 25th, over the last
`autoclip_history` steps, 0 = all). Everything stays on the device: no host sync per step.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["CLIPPING_CHOICES", "GradientClipper"]

CLIPPING_CHOICES = ("none", "global_norm", "norm", "value", "autoclip")


class GradientClipper:
    """Clip gradients in place before each optimizer step.

    Args:
        method: one of CLIPPING_CHOICES (faceswap's `gradient_clipping`).
        value: faceswap's `clipping_value` (0..10): the norm / element bound, or for autoclip the
            percentile / 10.
        history: faceswap's `autoclip_history` (steps of norms autoclip looks back on; 0 = all).

    Raises:
        ValueError: an unknown method or a value out of faceswap's range.
    """

    def __init__(self, method: str = "none", value: float = 1.0, history: int = 10000) -> None:
        if method not in CLIPPING_CHOICES:
            raise ValueError(f"gradient_clipping must be one of {list(CLIPPING_CHOICES)}, got {method!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 10:
            raise ValueError(f"clipping_value must be a number in [0, 10] (faceswap's range), got {value!r}")
        if isinstance(history, bool) or not isinstance(history, int) or history < 0:
            raise ValueError(f"autoclip_history must be an integer >= 0 (steps), got {history!r}")
        if method in ("global_norm", "norm") and value == 0:
            raise ValueError(f"clipping_value 0 with gradient_clipping={method!r} would zero every gradient")
        self.method, self.value, self.history = method, float(value), history
        self._norms: torch.Tensor | None = None  # autoclip: ring buffer of past global norms
        self._seen = 0

    def __call__(self, params: Sequence[torch.nn.Parameter]) -> None:
        grads = [p for p in params if p.grad is not None]
        if self.method == "none" or not grads:
            return
        if self.method == "global_norm":
            torch.nn.utils.clip_grad_norm_(grads, self.value)
        elif self.method == "norm":
            for p in grads:
                torch.nn.utils.clip_grad_norm_([p], self.value)
        elif self.method == "value":
            torch.nn.utils.clip_grad_value_(grads, self.value)
        else:
            self._autoclip(grads)

    def _autoclip(self, grads: list[torch.nn.Parameter]) -> None:
        norm = torch.nn.utils.get_total_norm([p.grad for p in grads])
        size = self.history or 100_000
        if self._norms is None:
            self._norms = torch.empty(size, device=norm.device, dtype=torch.float32)
        self._norms[self._seen % size] = norm.float()
        self._seen += 1
        seen = self._norms[: min(self._seen, size)]
        bound = torch.quantile(seen, min(1.0, self.value / 10.0))
        torch.nn.utils.clip_grads_with_norm_(grads, bound, norm)

    def state_dict(self) -> dict:
        """Autoclip's history (for exact resume); empty for the other methods."""
        return {"seen": self._seen, "norms": None if self._norms is None else self._norms.cpu()}

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        self._seen = int(state.get("seen", 0))
        norms = state.get("norms")
        self._norms = None if norms is None else norms.to(device)
