"""Leakage of an old identity into a model's outputs of a new one, against placebo identities.

The question (the forum's "why doesn't a1 leak?"): when a model that once learnt a1 now reconstructs
frames of a2, do its outputs look like a1? Any reconstruction error makes an output nearer to *some*
other face, so a raw "nearer a1" share is not evidence (a model that never saw a1 reads 46–88 %;
science audit 2026-11-30). The control is a *placebo*: identities a1′ that stand to a2 as a1 does (at
a1's distance from a2 in identity space, in random directions of the coordinates a1 and a2 differ in,
never trained on: `placebo_identities`). By exchangeability, a model
without a1 in it is as near a1 as it is near a placebo; leakage is the excess.

Measured in the swap judge's terms (blur-matched distances to exact renders with each frame's
factors, `phazelab.analysis.judge`):

- ``judged_old`` / ``judged_placebo``: the share of outputs the judge names as a1 / as a placebo
  (mean over placebos), candidates {a2, a1, placebos};
- ``leakage``: how much nearer to a1 the output came than the true a2 render is, beyond the same for
  the placebos. Per frame and candidate k, ``pull_k = 1 − d(output, k) / d(truth, k)`` (blur-matched
  distances; 0 = as far from k as the truth is, 1 = the output is k; an α blend of a1 into a2 pulls a1
  by 1 − (1 − α)²), and ``leakage = pull_a1 − mean(pull_placebo)``, with a bootstrap 95 % CI over
  frames. A reconstruction error that is not a1 pulls a1 and the placebos alike;
- the metric's own noise floor, on the same outputs: the same statistic with each placebo in turn put
  in a1's place against the other placebos (``null_by_placebo``). Without a1 in the model, a1 is one
  more placebo (exchangeable with them), so its score is a draw from this null: darker, blurrier or
  otherwise wrong outputs move a1 and the placebos alike. ``noise_floor`` is the largest |null|,
  ``rank_p`` = (1 + #placebos scoring ≥ a1) / (1 + #placebos) is the exchangeability test's p-value
  (it cannot go below 1/(1 + #placebos): use many placebos), and ``beyond_noise`` says whether the
  leakage CI lies wholly above the floor. When a1 *is* in the outputs, placebos that resemble a1 are
  pulled too, so the floor is conservative (it can hide a weak leak; it does not invent one).

Placebos should stand to a2 as a1 does; `placebo_identities` makes such look-alikes for a near pair
(a sibling a2 of a1). For far-apart identities (e.g. two of the world's own picks) there is no room in
the identity cube: use the world's other never-trained identities, knowing their distances from a2
differ from a1's, which the null's spread then includes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.world import FaceWorld
from .judge import SwapJudge, _identity
from .metrics import HELD_OUT_SEED, _run

__all__ = ["leakage_judge", "min_rank_p", "placebo_identities", "placebo_leakage", "placebo_leakage_of_outputs"]


def placebo_identities(world: FaceWorld, old: int, new: int, n: int = 8, seed: int = 50_000,
                       max_tries: int = 10_000) -> list[int]:
    """Add `n` placebos for `old` to `world` and return their ids: identity vectors at exactly old's
    distance from `new`, in random directions within the coordinates where old and new differ (so in
    the hard world they too differ from `new` only in facial geometry), inside [0, 1].

    Raises:
        ValueError: when old equals new, or `max_tries` random directions leave the unit cube.
    """
    old, new = _identity(world, old, "placebo_identities old"), _identity(world, new, "placebo_identities new")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"placebo_identities: n must be a positive int, got {n!r}")
    lat = world.latent.double()
    diff = lat[old] - lat[new]
    dims = torch.nonzero(diff.abs() > 1e-9).flatten()
    if len(dims) == 0:
        raise ValueError(f"placebo_identities: identities {old} and {new} are the same face")
    radius = float(diff.norm())
    gen = torch.Generator().manual_seed(seed)
    ids: list[int] = []
    for _ in range(max_tries):
        u = torch.randn(len(dims), generator=gen, dtype=torch.float64)
        row = lat[new].clone()
        row[dims] += radius * u / u.norm()
        if float(row.min()) >= 0.0 and float(row.max()) <= 1.0:
            ids.append(world.add_identity(row.float()))
            if len(ids) == n:
                return ids
    raise ValueError(f"placebo_identities: found {len(ids)} of {n} placebos inside [0, 1] in {max_tries} tries "
                     f"(old {old} is {radius:.2f} from new {new}: too far apart for look-alikes; use a near pair, "
                     "e.g. new = world.add_sibling(old, 0.3), or the world's other identities as placebos)")


def min_rank_p(placebos: int) -> float:
    """The smallest `rank_p` `placebos` placebo identities allow: 1 / (1 + placebos), a1 above every
    placebo (5 placebos: 0.17, so such a test can never reach p < 0.05)."""
    return 1.0 / (1 + placebos)


def _bootstrap_ci(per_frame: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(per_frame), size=(n_boot, len(per_frame)))
    stats = per_frame[idx].mean(1)
    lo, hi = np.quantile(stats, [0.025, 0.975])
    return float(lo), float(hi)


def leakage_judge(world: FaceWorld, factors: Any, old: int, new: int, placebos: Sequence[int], size: int,
                  device: torch.device | str = "cpu") -> SwapJudge:
    """The judge `placebo_leakage_of_outputs` uses for these frames: candidates [new, old, *placebos],
    pose read against `new`'s renders. Build it once to judge many models on the same frames."""
    return SwapJudge(world, factors, new, size, [new, old, *placebos], device=device, pose_of="target")


def placebo_leakage_of_outputs(outputs: torch.Tensor, world: FaceWorld, factors: Any, old: int, new: int,
                               placebos: Sequence[int], *, n_boot: int = 2000, seed: int = 0,
                               judge: SwapJudge | None = None) -> dict[str, Any]:
    """Leakage of `old` into `outputs` (N, 3, S, S) floats in [0, 1], meant to show `new` with each of
    the N frames' `factors` (Labels or Factors), against `placebos` (≥ 2 ids of `world`, never trained on).

    Returns floats "leakage", "leakage_ci" (2-list, bootstrap over frames), "pull_old", "pull_placebo",
    "judged_old", "judged_placebo", "judged_new", "judged_by_placebo" (list: the share named as each
    placebo — the null of "judged_old"), "null_by_placebo" (list), "null_sd", "noise_floor",
    "rank_p", "beyond_noise" (bool: the CI lies wholly above the noise floor), "frame_sd" (the
    per-frame spread of the leakage score), "n", "placebos"; and "per_frame" (N,) leakage scores.
    Leakage is not bounded by 1 (an output equal to a1 scores 1 minus the placebos' mean pull).

    Raises:
        ValueError: ids that are not ints of the world, fewer than 2 placebos, repeated ids, n_boot < 1,
            or outputs the judge refuses (shape, dtype, range, frame count), or a `judge` (from
            `leakage_judge`) built for other candidates or frames.
    """
    old, new = _identity(world, old, "placebo_leakage old"), _identity(world, new, "placebo_leakage new")
    placebos = [_identity(world, p, "placebo_leakage placebo") for p in placebos]
    if len(placebos) < 2:
        raise ValueError(f"placebo_leakage: need ≥ 2 placebo identities (one serves as the null), got {placebos}")
    if len(set(placebos)) != len(placebos) or {old, new} & set(placebos) or old == new:
        raise ValueError(f"placebo_leakage: old {old}, new {new} and placebos {placebos} must all differ")
    if not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"placebo_leakage: n_boot must be a positive int, got {n_boot!r}")
    cands = [new, old, *placebos]
    if judge is None:
        judge = leakage_judge(world, factors, old, new, placebos, int(outputs.shape[-1]), outputs.device)
    elif judge.candidates.tolist() != cands or judge.n != len(outputs) or judge.size != outputs.shape[-1]:
        raise ValueError(f"placebo_leakage: the judge given has candidates {judge.candidates.tolist()}, "
                         f"{judge.n} frames at {judge.size} px; need {cands}, {len(outputs)} frames at "
                         f"{outputs.shape[-1]} px (build it with leakage_judge)")
    res = judge(outputs)
    d_truth = np.maximum(judge.truth_distances(), 1e-12)
    named = res["frames"]["identity"]

    def pulls(result: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        pull = 1.0 - result["frames"]["distances"] / d_truth  # (N, K) in cands order
        return pull[:, 1], pull[:, 2:]

    p_old, p_pl = pulls(res)
    per_frame = p_old - p_pl.mean(1)
    # the null on the same outputs: each placebo in a1's place, against the other placebos
    null = [float((p_pl[:, j] - np.delete(p_pl, j, axis=1).mean(1)).mean()) for j in range(p_pl.shape[1])]
    ci = _bootstrap_ci(per_frame, n_boot, seed)
    floor = float(np.max(np.abs(null)))
    leak = float(per_frame.mean())
    return {
        "leakage": leak, "leakage_ci": list(ci),
        "rank_p": float((1 + sum(v >= leak for v in null)) / (1 + len(null))),
        "pull_old": float(p_old.mean()), "pull_placebo": float(p_pl.mean()),
        "judged_old": float((named == old).mean()),
        "judged_placebo": float(np.mean([(named == p).mean() for p in placebos])),
        "judged_by_placebo": [float((named == p).mean()) for p in placebos],
        "judged_new": float((named == new).mean()),
        "null_by_placebo": null, "null_sd": float(np.std(null, ddof=1)), "noise_floor": floor,
        "beyond_noise": bool(ci[0] > floor),
        "frame_sd": float(per_frame.std(ddof=1)) if len(per_frame) > 1 else float("nan"),
        "n": int(len(per_frame)), "placebos": placebos, "per_frame": per_frame,
    }


def placebo_leakage(model: nn.Module, world: FaceWorld, old: int, new: int, placebos: Sequence[int],
                    n: int = 64, seed: int = HELD_OUT_SEED, *, side: str = "a", batch_size: int = 64,
                    n_boot: int = 2000, judge: SwapJudge | None = None,
                    frames: tuple[torch.Tensor, Any] | None = None) -> dict[str, Any]:
    """`placebo_leakage_of_outputs` for `model`'s side-`side` reconstructions of `n` held-out frames of
    `new` (factors from `seed`, images at the model's input size). `judge`: one `leakage_judge` built
    for these frames (`world.sample(new, n, seed=seed)`'s labels), to judge several models without
    rendering its frames again; `frames`: that sample's (images, labels) itself, for the same reason
    (its images must be at the model's input size).

    Raises:
        ValueError: `frames` whose images are not (n, 3, input_size, input_size).
    """
    if frames is None:
        frames = world.sample(new, n, seed=seed, size=model.input_size)
    images, labels = frames
    if tuple(images.shape) != (n, 3, model.input_size, model.input_size):
        raise ValueError(f"placebo_leakage: frames given are {tuple(images.shape)}; need "
                         f"({n}, 3, {model.input_size}, {model.input_size}) (world.sample(new, n, seed, "
                         f"size=model.input_size))")
    outputs = _run(model, lambda x: model.decode(model.encode(x), side), images, batch_size).clamp(0, 1)
    return placebo_leakage_of_outputs(outputs, world, labels, old, new, placebos, n_boot=n_boot, judge=judge)
