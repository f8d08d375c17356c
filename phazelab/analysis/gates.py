"""Quality gates before verdicts: a model that does not swap, or reconstructs blurrier than a 1-px blur
of the truth, is "not trained enough", and numbers measured on it are printed as not evidence.

The swap gate is the judge's A→B success (B named among the distractors with A's pose within 5°) on
held-out frames; the reconstruction gate is the judge's effective blur of the face (face-masked SSIM
read against blurred truths): at 64 px an eye is 3–5 px high, so beyond ~1 px of blur the features that
tell siblings apart are gone.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["GATE_BLUR_PX", "GATE_SUCCESS", "NOT_EVIDENCE", "quality_gate"]

GATE_SUCCESS = 0.8
GATE_BLUR_PX = 1.0
NOT_EVIDENCE = "not trained enough — these numbers are not evidence"


def quality_gate(success: float, blur_px: float | None = None, success_gate: float = GATE_SUCCESS,
                 blur_gate: float = GATE_BLUR_PX) -> dict[str, Any]:
    """{"passed": bool, "reasons": [...], "verdict": "passed" or NOT_EVIDENCE} for a model whose swap
    success is ``success`` (0..1) and whose reconstructions read as ``blur_px`` of blur (None: not
    measured; inf: worse than the largest blur reference)."""
    reasons = []
    if not (isinstance(success, (int, float)) and success >= success_gate):
        reasons.append(f"swap success {success:.2f} < {success_gate}")
    if blur_px is not None and (math.isnan(blur_px) or blur_px > blur_gate):
        reasons.append(f"reconstruction reads as {blur_px:.1f} px of blur > {blur_gate} px")
    return {"passed": not reasons, "reasons": reasons, "verdict": "passed" if not reasons else NOT_EVIDENCE}
