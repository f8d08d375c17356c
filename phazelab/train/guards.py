"""Training guards beside the NaN guard: stop a run whose model has collapsed to a constant output.

Why: at too high a learning rate an autoencoder can fall into a constant output (every face the same
flat image; measured on lab-small at lr 5e-4 without warm-up): the loss stays finite, so the NaN guard
never fires, and the run spends its budget learning nothing. The signs are an output whose per-image
spread is ~0, or an SSIM loss that sits at ~1 (no structure reproduced), for a stretch of steps after the
model had been doing better.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CollapseError", "CollapseGuard"]


class CollapseError(RuntimeError):
    """The model's output collapsed (constant images or SSIM loss ~1 for a stretch of steps)."""


@dataclass
class CollapseGuard:
    """Watch per-step records; `check` raises CollapseError on a collapse.

    A step is *collapsed* when the mean per-image standard deviation of the output (pixel units, [0, 1])
    is below ``min_std`` on either side, or the SSIM loss term (1 - SSIM) is above ``max_ssim_loss`` on
    either side. A collapse is declared after ``patience`` collapsed steps in a row, but only once the run
    had ``healthy`` steps that were not collapsed (an untrained model starts near-constant).
    """

    patience: int = 50
    min_std: float = 0.004
    max_ssim_loss: float = 0.995
    healthy_needed: int = 10

    def __post_init__(self) -> None:
        self._run = 0
        self._healthy = 0

    @property
    def streak(self) -> int:
        """Collapsed steps in a row so far (0 = the last step was healthy)."""
        return self._run

    def check(self, record: dict) -> None:
        """Update with one step's record (keys out_std_a/b and, if SSIM is a term, ssim_a/b)."""
        stds = [record[k] for k in ("out_std_a", "out_std_b") if k in record]
        ssims = [record[k] for k in ("ssim_a", "ssim_b") if k in record]
        flat = any(s < self.min_std for s in stds)
        blind = any(s > self.max_ssim_loss for s in ssims)
        if not (flat or blind):
            self._healthy += 1
            self._run = 0
            return
        if self._healthy < self.healthy_needed:
            return
        self._run += 1
        if self._run >= self.patience:
            what = (f"output spread {min(stds):.4f} < {self.min_std} (constant images)" if flat else
                    f"SSIM loss {max(ssims):.4f} > {self.max_ssim_loss} (no structure)")
            raise CollapseError(
                f"model output collapsed at step {record['step']}: {what} for {self.patience} steps in a row, "
                f"at lr {record.get('lr', float('nan')):.3g}. The likely cause is a learning rate too high "
                f"for this model: lower lr or raise lr_warmup, then resume from the last good weights.")

    def state_dict(self) -> dict:
        return {"run": self._run, "healthy": self._healthy}

    def load_state_dict(self, state: dict) -> None:
        self._run, self._healthy = int(state.get("run", 0)), int(state.get("healthy", 0))
