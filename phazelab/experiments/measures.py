"""What the forum study measures on a model, on one replicate's fixed evaluation frames.

A `Replicate` is one (a1, b1, a2) triple with its placebos and held-out frames, and the judges built on
those frames once (renders cached), so every arm and every evaluation of that replicate is judged on
the same frames:

- ``success_ab``: the swap judge's A→B success, a2 frames → side B (b1 with a2's pose);
- ``success_ba``: B→A success, b1 frames → side A (a2 with b1's pose): side A has learnt a2;
- ``recon_success_a``: the judge's success on side A's reconstructions of a2, choosing among {a2, a1,
  placebos}: side A shows a2 as a2 (not a1, not a look-alike) with the frame's pose — side A has learnt a2;
- ``recon_face_a``: the share of those reconstructions named a2 *or a1* with the right pose: side A
  renders a face (not noise). Leakage is read once this passes the gate, so a side A that shows a1
  counts as trained and as leaking, rather than as "not trained enough";
- ``recon_success_b`` / ``recon_ssim_b``: the judge's success on side B's reconstructions of b1, and
  their face-masked SSIM (does loading keep B?);
- ``leak_swap_named`` / ``leak_recon_named``: the share of the B→A swaps (of side A's reconstructions
  of a2) that the judge, choosing among {a2, a1, placebos}, names as a1, minus the mean share named as
  a placebo; ``*_named_floor`` is the largest such excess of a placebo over the others (the null);
- ``leak_swap`` / ``leak_recon``: the continuous placebo-corrected pull towards a1
  (`phazelab.analysis.leakage`), with its noise floor from the placebos;
- ``named_a1_ba`` beside ``named_placebo_ba``: the share of B→A swaps the judge names as a1, and as a
  placebo (mean over placebos) — the null a model that never saw a1 would score.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.world import FaceWorld, Labels
from ..model import PhazeA
from ..model.modes import evaluating

__all__ = ["Replicate", "blend_leakage", "clean_json", "evaluate", "make_a2", "swap_grid_png"]

EVAL_SEED = 2_000_003  # world.sample seed of the study's evaluation frames (never in a training bank)


def clean_json(obj: Any) -> Any:
    """A JSON-safe copy: numpy scalars to numbers, tuples and paths to lists and text, NaN/inf to None."""
    if isinstance(obj, Mapping):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return clean_json(obj.tolist())
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def make_a2(world: FaceWorld, a1: int, towards: int, distance: float) -> int:
    """Add a2 = a1 moved `distance` (0..1] of the way towards identity `towards` to `world`; its id.

    In the hard world both ends share skin, hair and glasses, so a2 does too and differs from a1 in
    geometry only. Raises ValueError when `towards` is a1 or not in the world."""
    a1, towards = world._check_identity(a1), world._check_identity(towards)
    if towards == a1:
        raise ValueError(f"make_a2: towards must differ from a1 ({a1})")
    lat = world.latent
    return world.add_identity(lat[a1] + float(distance) * (lat[towards] - lat[a1]))


@dataclass
class Replicate:
    """One replicate's identities, frames and judges (see the module docstring). Build with `build`."""

    world: FaceWorld
    a1: int
    b1: int
    a2: int
    towards: int
    placebos: list[int]
    x_a2: torch.Tensor
    labels_a2: Labels
    x_b1: torch.Tensor
    labels_b1: Labels
    judges: dict[str, Any]

    @classmethod
    def build(cls, world: FaceWorld, a1: int, b1: int, towards: int, distance: float, n_placebos: int,
              n: int, input_size: int, output_size: int, device: torch.device | str = "cpu",
              progress: Callable[[int, int, str], None] | None = None) -> Replicate:
        """a2 (`make_a2`), `n_placebos` placebos at a1's distance from a2 (`placebo_identities`), `n`
        evaluation frames of a2 and of b1, and the five judges. `world` is copied, not changed.
        `progress(part, total, what)` is called as each of the six parts starts (part 1..6) (each renders every
        candidate identity on the frames: seconds on a CPU).

        Raises ValueError when a2 cannot get its placebos (a2 too far from a1) or an id is wrong."""
        import copy

        from ..analysis.judge import SwapJudge
        from ..analysis.leakage import leakage_judge, placebo_identities

        if towards in (a1, b1):
            raise ValueError(f"replicate: a2_towards {towards} is a1 or b1 ({a1}, {b1}); choose a never-trained id")
        say = progress or (lambda _done, _total, _what: None)
        say(1, 6, "a2, its placebos and the evaluation frames")
        world = copy.deepcopy(world)
        a2 = make_a2(world, a1, towards, distance)
        placebos = placebo_identities(world, a1, a2, n=n_placebos, seed=50_000 + towards)
        x_a2, labels_a2 = world.sample(a2, n, seed=EVAL_SEED, size=input_size)
        x_b1, labels_b1 = world.sample(b1, n, seed=EVAL_SEED, size=input_size)
        parts: dict[str, tuple[str, Callable[[], Any]]] = {
            "ab": ("the judge of A→B swaps", lambda: SwapJudge(world, labels_a2, b1, output_size, device=device,
                                                              pose_of="target")),
            "ba": ("the judge of B→A swaps", lambda: SwapJudge(world, labels_b1, a2, output_size, device=device,
                                                              pose_of="target")),
            "leak_swap": ("the a1-leakage judge of B→A swaps",
                          lambda: leakage_judge(world, labels_b1, a1, a2, placebos, output_size, device)),
            "leak_recon": ("the a1-leakage judge of side A's reconstructions",
                           lambda: leakage_judge(world, labels_a2, a1, a2, placebos, output_size, device)),
            "recon_b": ("the judge of side B's reconstructions",
                        lambda: SwapJudge(world, labels_b1, b1, output_size, device=device, pose_of="target")),
        }
        judges = {}
        for i, (key, (what, make)) in enumerate(parts.items(), start=2):
            say(i, 6, what)
            judges[key] = make()
        return cls(world, a1, b1, a2, towards, placebos, x_a2, labels_a2, x_b1, labels_b1, judges)

    @property
    def name(self) -> str:
        return f"a2→{self.towards}"

    def describe(self) -> dict[str, Any]:
        lat = self.world.latent
        return {"a1": self.a1, "b1": self.b1, "a2": self.a2, "towards": self.towards, "placebos": self.placebos,
                "distance_a1_a2": float((lat[self.a1] - lat[self.a2]).norm()),
                "distance_a2_b1": float((lat[self.b1] - lat[self.a2]).norm()), "n_frames": len(self.labels_a2)}


def _outputs(model: PhazeA, x: torch.Tensor, to: str) -> torch.Tensor:
    device = next(model.parameters()).device
    with evaluating(model), torch.no_grad():
        return torch.cat([model.swap(x[i:i + 64].to(device), to).float().clamp(0, 1).cpu()
                          for i in range(0, len(x), 64)])


def evaluate(model: PhazeA, rep: Replicate, step: int) -> dict[str, Any]:
    """The measures of the module docstring for `model` at training step `step` (floats; leakage
    entries also carry their CI, noise floor and rank p)."""
    import pytorch_msssim

    from ..analysis.judge import success_among
    from ..analysis.leakage import placebo_leakage_of_outputs

    ab, ba = _outputs(model, rep.x_a2, "b"), _outputs(model, rep.x_b1, "a")
    ra, rb = _outputs(model, rep.x_a2, "a"), _outputs(model, rep.x_b1, "b")
    j_ab, j_ba = rep.judges["ab"](ab), rep.judges["ba"](ba)
    j_ra, j_rb = rep.judges["leak_recon"](ra), rep.judges["recon_b"](rb)
    truth_b, mask_b = rep.judges["recon_b"].truth, rep.judges["recon_b"].mask  # b1's exact renders, cached
    named = j_ba["frames"]["identity"]
    row: dict[str, Any] = {
        "step": int(step), "success_ab": float(j_ab["success"]), "success_ba": float(j_ba["success"]),
        "id_top1_ab": float(j_ab["id_top1"]), "id_top1_ba": float(j_ba["id_top1"]),
        "pose_err_ab": float(j_ab["pose_err_deg"]), "pose_err_ba": float(j_ba["pose_err_deg"]),
        "recon_success_a": float(j_ra["success"]), "recon_success_b": float(j_rb["success"]),
        "recon_face_a": success_among(j_ra, (rep.a2, rep.a1)),
        "recon_ssim_b": float(pytorch_msssim.ssim(rb * mask_b, truth_b * mask_b, data_range=1.0)),
        "named_a1_ba": float((named == rep.a1).mean()),
        "named_placebo_ba": float(np.mean([(named == p).mean() for p in rep.placebos])),
    }
    for key, outputs, labels in (("leak_swap", ba, rep.labels_b1), ("leak_recon", ra, rep.labels_a2)):
        res = placebo_leakage_of_outputs(outputs, rep.world, labels, rep.a1, rep.a2, rep.placebos,
                                         n_boot=500, judge=rep.judges[key])
        # the judge's naming among {a2, a1, placebos}: a1's share beyond a placebo's, and the same for
        # each placebo in a1's place (the null: a model without a1 names it as often as a placebo)
        shares = np.asarray(res["judged_by_placebo"])
        null = [float(shares[j] - np.delete(shares, j).mean()) for j in range(len(shares))]
        row[f"{key}_named"] = res["judged_old"] - res["judged_placebo"]
        row[f"{key}_named_a1"] = res["judged_old"]
        row[f"{key}_named_null"] = null
        row[f"{key}_named_floor"] = float(np.max(np.abs(null)))
        row[key] = res["leakage"]
        row[f"{key}_ci"] = res["leakage_ci"]
        row[f"{key}_floor"] = res["noise_floor"]
        row[f"{key}_rank_p"] = res["rank_p"]
    return row


def blend_leakage(rep: Replicate, alphas: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75)) -> dict[str, Any]:
    """The leakage measures on constructed B→A swaps with a known leak: exact renders of a2 blended with
    a1 (α = a1's weight) at the replicate's b1 frames' factors. α = 0 is the null; a measure that does
    not rise with α cannot see a leak of that size. Keys: f"{α:g}" → the judge-named leakage (LEAK);
    "pull": f"{α:g}" → the continuous pull (analysis.leakage "leakage") and "pull_floor" its placebo floor."""
    from ..analysis.leakage import placebo_leakage_of_outputs

    size = rep.judges["leak_swap"].size
    a2 = rep.world.render(rep.a2, rep.labels_b1.factors, size)
    a1 = rep.world.render(rep.a1, rep.labels_b1.factors, size)
    out: dict[str, Any] = {"pull": {}, "pull_floor": {}}
    for alpha in alphas:
        res = placebo_leakage_of_outputs((1 - alpha) * a2 + alpha * a1, rep.world, rep.labels_b1, rep.a1, rep.a2,
                                         rep.placebos, n_boot=10, judge=rep.judges["leak_swap"])
        out[f"{alpha:g}"] = float(res["judged_old"] - res["judged_placebo"])
        out["pull"][f"{alpha:g}"], out["pull_floor"][f"{alpha:g}"] = float(res["leakage"]), float(res["noise_floor"])
    return out


def swap_grid_png(model: PhazeA, rep: Replicate, n: int) -> bytes:
    """Rows: a2 frames, their A→B swaps, the A→B truth, b1 frames, B→A swaps, the B→A truth."""
    import io

    import torch.nn.functional as F
    from PIL import Image

    from ..analysis.plots import tile

    rows = []
    for x, labels, to, dst in ((rep.x_a2[:n], rep.labels_a2, "b", rep.b1), (rep.x_b1[:n], rep.labels_b1, "a", rep.a2)):
        out = _outputs(model, x, to)
        size = out.shape[-1]
        truth = rep.world.render(dst, labels.factors.index(slice(0, n)), size)
        shown = F.interpolate(x, size=(size, size), mode="bilinear") if x.shape[-1] != size else x
        rows += [shown, out, truth]
    buf = io.BytesIO()
    Image.fromarray(tile(torch.cat(rows), nrow=n)).save(buf, format="PNG")
    return buf.getvalue()
