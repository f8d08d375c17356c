"""Compare an imported model with faceswap's own numbers (a fixture's `reference.npz`).

`reference.npz` (written by faceswap on the model's weights, inference mode) holds float32 NHWC arrays:
`input_a`, `input_b` (N, H, W, 3) in [0, 1] in faceswap's colour order (BGR for fs_original),
`output_0` / `output_1` (side A's / B's face), `encoder_a` (the encoder's output for input_a) and
`<fc block>__of_encoder_a` (each fully connected block applied to encoder_a).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..model import PhazeA
from ..model.modes import evaluating
from .archive import FaceswapFileError

if TYPE_CHECKING:
    import pandas as pd

# The largest |phazelab − faceswap| of one output that still counts as the same computation: float32
# rounding through a few dozen layers in eval mode (phazelab's equality check, issue 16).
TOLERANCE = 1e-4


def _nchw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2)


def _nhwc(t: torch.Tensor) -> np.ndarray:
    return (t.permute(0, 2, 3, 1) if t.dim() == 4 else t).detach().cpu().numpy()


def compare_reference(model: PhazeA, reference: str | Path) -> dict[str, float]:
    """Max |phazelab − faceswap| (float32, eval mode) per reference array: 'output_0', 'output_1',
    'encoder_a' and each '<fc block>__of_encoder_a'. The model's `faceswap_origin["input_color_order"]`
    says whether to flip the reference's BGR channels (an "rgb" import) or not. Raises
    FaceswapFileError when the file is missing or lacks the arrays."""
    path = Path(reference)
    if not path.is_file():
        raise FaceswapFileError(f"{path}: no reference file")
    ref = np.load(path, allow_pickle=False)
    for key in ("input_a", "input_b", "output_0", "output_1"):
        if key not in ref.files:
            raise FaceswapFileError(f"{path}: no {key!r} array (found {ref.files})")
    origin = getattr(model, "faceswap_origin", {})
    flip = origin.get("input_color_order", "bgr") != origin.get("faceswap_color_order", "bgr")

    def colour(a: np.ndarray) -> np.ndarray:
        return a[..., ::-1] if flip else a

    out: dict[str, float] = {}
    with evaluating(model):
        dtype = next(model.parameters()).dtype
        xa = _nchw(colour(ref["input_a"])).to(dtype)
        xb = _nchw(colour(ref["input_b"])).to(dtype)
        ya, yb = model(xa, xb)
        out["output_0"] = float(np.abs(colour(_nhwc(ya)) - ref["output_0"]).max())
        out["output_1"] = float(np.abs(colour(_nhwc(yb)) - ref["output_1"]).max())
        if "encoder_a" in ref.files:
            z = model.encode(xa)
            out["encoder_a"] = float(np.abs(_nhwc(z) - ref["encoder_a"]).max())
            for key in ref.files:
                if key.endswith("__of_encoder_a"):
                    block = key.split("__")[0]
                    if block not in model.blocks:
                        raise FaceswapFileError(f"{path}: {key!r} names block {block!r}, which the model "
                                                f"does not have ({list(model.blocks)})")
                    out[key] = float(np.abs(_nhwc(model.blocks[block](z)) - ref[key]).max())
    return out


def reference_table(diffs: dict[str, float], tolerance: float = TOLERANCE) -> pd.DataFrame:
    """`compare_reference`'s differences as a table a learner reads: one row per array with its max
    |phazelab − faceswap|, the tolerance (float32 rounding, TOLERANCE) and whether it is within."""
    import pandas as pd

    return pd.DataFrame([{"array": k, "max |phazelab − faceswap|": f"{v:.1e}", "tolerance": f"{tolerance:.0e}",
                          "within": v <= tolerance} for k, v in diffs.items()])
