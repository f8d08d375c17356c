"""Trainer: faceswap's two-sided Phaze-A training, built to be driven from a notebook.

One step draws a batch per side on the device, augments it (warped input, unwarped target), runs both
sides through the model, sums loss_a + loss_b and takes one Adam step. Around that hot loop:

* a background thread (`start` / `pause` / `resume` / `stop` / `wait`, `state`), one loop at a time;
* requests applied between steps (`freeze`, `unfreeze`, `load_blocks`, `set_lr`, `save_checkpoint`,
  any `request(fn)`), each returning a Future; frozen parameters get no gradient (grad stays None), so
  Adam never touches them;
* "kickstart" schedules (`unfreeze_at`);
* metrics read from the device only every `metrics_every` steps (one sync), a history of per-step
  records, callbacks, preview grids;
* crash-safe checkpoints with exact resume, and a guard that stops on a non-finite loss.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch
import torch.nn.functional as F

from .. import weights
from ..data import AugmentConfig, augment
from ..data.augment import default_for as default_augment
from ..data.outputs import check_output_folder
from ..fileio import read_json
from ..model import PhazeA
from ..model.frozen import sync_frozen_norms
from ..model.modes import evaluating
from . import checkpoint as ckpt
from . import distributed
from .clipping import GradientClipper
from .control import STATES, LoopControl, TrainerBusyError, TrainerFailure, positive_int
from .graphs import GraphStep
from .guards import CollapseError, CollapseGuard
from .losses import CompositeLoss
from .precision import cpu_has_amx, resolve_device, resolve_precision  # noqa: F401 - re-exported
from .schedules import LRSchedule, UnfreezeAt, normalise_unfreeze_at
from .snapshots import Checkpointing

__all__ = [
    "CollapseError", "FACESWAP_EXTRA_LOSSES", "NonFiniteLossError", "STATES", "Trainer", "TrainerBusyError",
    "TrainerFailure", "preview_grid", "resolve_device", "resolve_precision",
]

FACESWAP_EXTRA_LOSSES: Mapping[str, float] = MappingProxyType({"mse": 1.0})  # faceswap: MSE at 100 %


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite; training stopped (faceswap's NaN protection).

    `step` is the step whose update was refused (the message numbers only that one)."""

    def __init__(self, message: str, step: int | None = None) -> None:
        super().__init__(message)
        self.step = step


_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def step_values(total: torch.Tensor, loss_a: torch.Tensor, loss_b: torch.Tensor, terms_a: torch.Tensor,
                terms_b: torch.Tensor, face_a: torch.Tensor, face_b: torch.Tensor) -> torch.Tensor:
    """One step's metrics as one device tensor (read in one sync): total, loss_a, loss_b, the per-side
    terms, and each side's mean per-image output spread (what the collapse guard watches)."""
    spread = torch.stack([face_a.detach().float().flatten(1).std(1).mean(),
                          face_b.detach().float().flatten(1).std(1).mean()])
    return torch.cat([torch.stack([total, loss_a, loss_b]).detach(), terms_a.detach(), terms_b.detach(), spread])


# -- previews -----------------------------------------------------------------------------------------


@torch.no_grad()
def preview_grid(model: PhazeA, x_a: torch.Tensor, x_b: torch.Tensor) -> torch.Tensor:
    """A (3, 6·S, n·S) float image in [0, 1]: rows A, A→A, A→B, B, B→B, B→A; S = output size.

    Runs in eval mode (no Gaussian noise, no dropout) and restores the model's mode afterwards.
    """
    with evaluating(model):
        size = model.output_size
        rec_a, rec_b = model(x_a, x_b)
        a_to_b, b_to_a = model.swap(x_a, to="b"), model.swap(x_b, to="a")

    def show(x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return x.clamp(0, 1)

    rows = torch.stack([show(r) for r in (x_a, rec_a, a_to_b, x_b, rec_b, b_to_a)])  # (6, n, 3, S, S)
    six, n, c, s, _ = rows.shape
    return rows.permute(2, 0, 3, 1, 4).reshape(c, six * s, n * s).cpu()


# -- the trainer ----------------------------------------------------------------------------------------
class Trainer(LoopControl, Checkpointing):
    """Train a PhazeA on two face sources (side A, side B) with faceswap's defaults.

    Defaults (faceswap): Adam lr 5e-5, ε 1e-7, β (0.9, 0.999), batch 16 per side, loss SSIM + MSE
    (weight 1.0 = faceswap's 100 %), faceswap's augmentation. Images counted in `img_per_s` are both
    sides' faces (2 × batch_size per step).

    Model noise layers draw from torch's global RNG, which the Trainer seeds with `seed` (build the model
    with `PhazeA(config, seed=...)` for seeded initial weights); checkpoints save and restore it with the
    trainer's data generator, so a resumed run on CPU is bit-identical to an uninterrupted one. On CUDA
    a resume restores the same state, but cuDNN's algorithm choice and atomic adds in some backward
    kernels make runs (resumed or not) differ in the last bits; `torch.use_deterministic_algorithms(True)`
    (with CUBLAS_WORKSPACE_CONFIG=:4096:8) removes that at a speed cost.

    Only one loop runs at a time (`TrainerBusyError` otherwise) and one trainer should own a checkpoint
    folder. Methods that change the model while it trains (`freeze`, `unfreeze`, `load_blocks`, `set_lr`,
    `save_checkpoint`, `load_checkpoint`, `request`) return a Future: applied between two steps while a
    loop runs, at once otherwise.
    """

    def __init__(
        self,
        model: PhazeA,
        data_a: Any,
        data_b: Any,
        *,
        batch_size: int = 16,
        lr: float = 5e-5,
        lr_schedule: str = "constant",
        lr_warmup: int = 0,
        lr_schedule_steps: int | None = None,
        lr_min_factor: float = 0.1,
        gradient_clipping: str = "none",
        clipping_value: float = 1.0,
        autoclip_history: int = 10000,
        penalized_mask_loss: bool = False,
        collapse_guard: bool = True,
        eps: float = 1e-7,
        betas: tuple[float, float] = (0.9, 0.999),
        loss: str = "ssim",
        extra_losses: Mapping[str, float] = FACESWAP_EXTRA_LOSSES,
        augment_config: AugmentConfig | Mapping[str, Any] | None = None,
        seed: int = 0,
        device: str | torch.device | None = None,
        precision: str = "auto",
        channels_last: bool = True,
        compile: bool = False,
        cuda_graph: bool = False,
        checkpoint_dir: str | Path | None = None,
        checkpoint_every: int | None = None,
        keep_checkpoints: int = 2,
        metrics_every: int = 1,
        preview_every: int | None = None,
        preview_count: int = 4,
        unfreeze_at: UnfreezeAt = None,
        on_metrics: Callable[[dict[str, Any]], None] | Sequence[Callable] | None = None,
        on_preview: Callable[[int, torch.Tensor], None] | Sequence[Callable] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        for src, side in ((data_a, "data_a"), (data_b, "data_b")):
            if not callable(getattr(src, "batch", None)):
                raise TypeError(f"{side}: expected a face source with .batch(n, generator, size, device), "
                                f"got {type(src).__name__}")
        positive_int(batch_size, "batch_size")
        positive_int(metrics_every, "metrics_every")
        positive_int(preview_count, "preview_count")
        positive_int(keep_checkpoints, "keep_checkpoints")
        for value, name in ((checkpoint_every, "checkpoint_every"), (preview_every, "preview_every")):
            if value is not None:
                positive_int(value, name)
        if checkpoint_every is not None and checkpoint_dir is None:
            raise ValueError("checkpoint_every needs a checkpoint_dir to write to")
        if checkpoint_dir is not None:  # outputs never go into (or around) a face folder
            check_output_folder(checkpoint_dir, (data_a, data_b), "checkpoint_dir")
        self.lr_schedule = LRSchedule(lr, lr_schedule, lr_warmup, lr_schedule_steps, lr_min_factor)
        self.clipper = GradientClipper(gradient_clipping, clipping_value, autoclip_history)
        self.collapse_guard = CollapseGuard() if collapse_guard else None
        if penalized_mask_loss and not all(callable(getattr(src, "batch_with_masks", None))
                                           for src in (data_a, data_b)):
            raise ValueError("penalized_mask_loss needs face masks, and a face source gives none (synthetic "
                             "banks do; face folders do not): set penalized_mask_loss=False")
        self.penalized_mask_loss = bool(penalized_mask_loss)

        self.device = resolve_device(device)
        self.precision_requested = precision
        self.precision = resolve_precision(precision, self.device)
        self.model = model.to(self.device)
        if channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.model.train()
        if self.model.config.learn_mask:
            warnings.warn("learn_mask: the face sources give no mask targets, so only the face output is "
                          "trained; the mask branch is left as initialised", stacklevel=2)
        self.data_a, self.data_b = data_a, data_b
        if augment_config is None:  # the sources' own default when they agree (synthetic: no colour jitter)
            augment_config = default_augment(data_a, data_b)
        elif isinstance(augment_config, Mapping):
            augment_config = AugmentConfig(**augment_config)
        self.augment_config = augment_config
        self.batch_size, self.seed = batch_size, seed
        self.channels_last, self.compile = channels_last, compile
        self.metrics_every, self.preview_every, self.preview_count = metrics_every, preview_every, preview_count
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.checkpoint_every, self.keep_checkpoints = checkpoint_every, keep_checkpoints
        self.meta: dict[str, Any] = dict(meta or {})
        self._settings = {"batch_size": batch_size, "lr": float(lr), "lr_schedule": lr_schedule,
                          "lr_warmup": lr_warmup, "lr_schedule_steps": lr_schedule_steps,
                          "lr_min_factor": float(lr_min_factor), "gradient_clipping": gradient_clipping,
                          "clipping_value": float(clipping_value), "autoclip_history": autoclip_history,
                          "penalized_mask_loss": self.penalized_mask_loss, "collapse_guard": bool(collapse_guard),
                          "eps": float(eps),
                          "betas": [float(b) for b in betas], "loss": loss,
                          "extra_losses": {k: float(v) for k, v in dict(extra_losses).items()}}

        self.loss_fn = CompositeLoss(loss, extra_losses).to(self.device)
        self._param_names: dict[torch.Tensor, str] = {p: n for n, p in self.model.named_parameters()}
        fused = self.device.type in ("cuda", "cpu")
        self.optimizer = torch.optim.Adam(list(self._param_names), lr=self.lr_schedule.at(1), betas=tuple(betas),
                                          eps=eps,
                                          fused=fused)
        self.scaler = torch.amp.GradScaler(self.device.type) if self.precision == "fp16" else None
        self._wrap_forward(seed)  # self._forward: the model, DDP-wrapped under torchrun, compiled on request
        self.cuda_graph = bool(cuda_graph)
        if cuda_graph and (lr_schedule != "constant" or lr_warmup or gradient_clipping == "autoclip"
                           or penalized_mask_loss):
            raise ValueError("cuda_graph captures a fixed step: it needs lr_schedule='constant', lr_warmup=0 "
                             "(a new learning rate every step would re-capture every step), no autoclip and no "
                             "penalized_mask_loss; train the warm-up eagerly, then continue with cuda_graph")
        self._graph = GraphStep(self) if cuda_graph else None  # the step as CUDA graphs (graphs.py)
        self._generator = torch.Generator(device=self.device)
        self._generator.manual_seed(distributed.rank_seed(seed))  # = seed outside torchrun
        torch.manual_seed(distributed.rank_seed(seed))  # the noise layers draw from the global RNG: same seed, same run
        self._render_size = max(self.model.input_size, self.model.output_size)

        self.step = 0
        self.history: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.schedule = normalise_unfreeze_at(unfreeze_at, self.model.blocks)
        self.on_metrics: list[Callable[[dict[str, Any]], None]] = _callbacks(on_metrics)
        self.on_preview: list[Callable[[int, torch.Tensor], None]] = _callbacks(on_preview)
        self.last_checkpoint: Path | None = None
        self._last_saved_step: int | None = None

        self._init_control()  # thread control (control.py)
        self._pending: list[tuple[int, torch.Tensor, float, list[str]]] = []
        self._window_t = time.perf_counter()
        self._preview_batch: tuple[torch.Tensor, torch.Tensor] | None = None
        self._frozen = weights.frozen_blocks(self.model)
        self._good_weights: tuple[int, dict[str, torch.Tensor]] | None = None

    # -- public state ---------------------------------------------------------------------------------
    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    @property
    def frozen(self) -> list[str]:
        """Blocks currently frozen (all parameters non-trainable)."""
        return list(self._frozen)

    @property
    def term_names(self) -> list[str]:
        """History keys of the per-side loss terms, e.g. ["ssim_a", "mse_a", "ssim_b", "mse_b"]."""
        return [f"{n}_{s}" for s in "ab" for n in self.loss_fn.names]

    def history_frame(self) -> Any:
        """The metrics history as a pandas DataFrame (one row per step)."""
        import pandas as pd

        return pd.DataFrame(list(self.history))

    def settings(self) -> dict[str, Any]:
        """Everything needed to rebuild this trainer (JSON-able); stored in checkpoints."""
        return {**self._settings, "augment_config": dataclasses.asdict(self.augment_config),
                "seed": self.seed, "precision": self.precision_requested, "channels_last": self.channels_last,
                "compile": self.compile, "cuda_graph": self.cuda_graph, "checkpoint_every": self.checkpoint_every,
                "keep_checkpoints": self.keep_checkpoints, "metrics_every": self.metrics_every,
                "preview_every": self.preview_every, "preview_count": self.preview_count}

    # -- requests applied between steps -----------------------------------------------------------------
    def freeze(self, blocks: Sequence[str] | str) -> Future[list[str]]:
        """Freeze blocks between steps: no gradients, so Adam leaves them bit-identical."""
        return self.request(lambda: self._do_freeze(blocks, reason="request"))

    def unfreeze(self, blocks: Sequence[str] | str | None = None) -> Future[list[str]]:
        """Unfreeze blocks (default all) between steps; they continue from their current weights."""
        return self.request(lambda: self._do_unfreeze(blocks, reason="request"))

    def load_blocks(self, source: PhazeA | str | Path, blocks: Sequence[str] | str, *, kind: str = "load",
                    detail: str | None = None) -> Future[Any]:
        """Load blocks' weights from a model or saved folder between steps (Adam state of those reset).
        `kind`/`detail`: the event recorded (e.g. "reset" for a block put back to its weights before a load)."""
        return self.request(lambda: self._do_load(source, blocks, kind, detail))

    def set_lr(self, lr: float) -> Future[float]:
        if not (isinstance(lr, (int, float)) and lr > 0):
            raise ValueError(f"lr must be a number > 0, got {lr!r}")

        def apply() -> float:
            self.lr_schedule = self.lr_schedule.with_lr(float(lr))
            self._settings["lr"] = float(lr)
            for g in self.optimizer.param_groups:
                g["lr"] = self.lr_schedule.at(self.step + 1)
            self.events.append({"step": self.step, "kind": "lr", "blocks": [], "detail": float(lr)})
            return float(lr)

        return self.request(apply)

    def save_checkpoint(self, directory: str | Path | None = None) -> Future[Path]:
        """Write a snapshot between steps (to checkpoint_dir unless another folder is given)."""
        return self.request(lambda: self._save_now(directory))

    def load_checkpoint(self, path: str | Path) -> Future[int]:
        """Restore model, optimizer, step, RNG, history, events and frozen blocks; result is the step."""
        return self.request(lambda: self._restore(path))

    def sample_batches(self, seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step's augmented batches (x_a, target_a, x_b, target_b), drawn from a separate generator
        (default seed: the trainer's seed + 2), so training's own random stream is left untouched."""
        gen = torch.Generator(device=self.device)
        gen.manual_seed(self.seed + 2 if seed is None else seed)
        x_a, t_a = self._batch(self.data_a, gen)
        x_b, t_b = self._batch(self.data_b, gen)
        return x_a, t_a, x_b, t_b

    def preview(self) -> torch.Tensor:
        """A preview grid on a fixed set of faces (rows A, A→A, A→B, B, B→B, B→A)."""
        if self._preview_batch is None:
            gen = torch.Generator(device=self.device)
            gen.manual_seed(self.seed + 1)  # its own stream: previews never shift the training RNG
            faces = []
            for src in (self.data_a, self.data_b):
                x = src.batch(self.preview_count, gen, self._render_size, self.device)
                if x.shape[-1] != self.model.input_size:
                    x = F.interpolate(x, size=(self.model.input_size,) * 2, mode="area")
                faces.append(x)
            self._preview_batch = (faces[0], faces[1])
        with self.autocast():
            return preview_grid(self.model, *self._preview_batch)

    # -- loop internals ---------------------------------------------------------------------------------
    def _loop(self, steps: int) -> None:
        self._loop_thread = threading.current_thread()
        target = self.step + steps
        self._window_t = time.perf_counter()
        while self.step < target:
            if not self._between_steps():
                break
            metrics_due = (self.step + 1) % self.metrics_every == 0 or self.step + 1 == target
            self._train_step(flush=metrics_due)
            if self.checkpoint_every and self.step % self.checkpoint_every == 0:
                self._save_now()
            if self.preview_every and self.step % self.preview_every == 0 and self.on_preview:
                self._flush()
                grid = self.preview()
                for cb in self.on_preview:
                    cb(self.step, grid)
                self._window_t = time.perf_counter()
        self._flush()
        with self._cv:
            self._drain()
        if self.checkpoint_dir is not None and self._last_saved_step != self.step:
            self._save_now()

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast context training uses (bf16 / fp16), or a no-op for fp32."""
        if self.precision in _DTYPES:
            return torch.autocast(self.device.type, dtype=_DTYPES[self.precision])
        return contextlib.nullcontext()

    def _batch(self, source: Any, generator: torch.Generator | None = None, masks: bool = False
               ) -> tuple[torch.Tensor, ...]:
        """(input, target) for one side, or (input, target, target mask) with ``masks``."""
        gen = self._generator if generator is None else generator
        if masks:
            faces, mask = source.batch_with_masks(self.batch_size, gen, self._render_size, self.device)
            inp, tgt, tgt_mask = augment(faces, gen, input_size=self.model.input_size,
                                         output_size=self.model.output_size, config=self.augment_config,
                                         masks=mask)
        else:
            faces = source.batch(self.batch_size, gen, self._render_size, self.device)
            inp, tgt = augment(faces, gen, input_size=self.model.input_size,
                               output_size=self.model.output_size, config=self.augment_config)
        if self.channels_last:
            inp = inp.contiguous(memory_format=torch.channels_last)
        return (inp, tgt, tgt_mask) if masks else (inp, tgt)

    def _train_step(self, flush: bool) -> None:
        """One update, as in faceswap: both sides forward, loss_a + loss_b, one Adam step."""
        lr = self.lr_schedule.at(self.step + 1)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        if self._graph is not None:
            return self._graph.train_step(flush)
        m = self.penalized_mask_loss
        x_a, t_a, *mask_a = self._batch(self.data_a, masks=m)
        x_b, t_b, *mask_b = self._batch(self.data_b, masks=m)
        with self.autocast():
            out_a, out_b = self._forward(x_a, x_b)
        face_a, face_b = out_a, out_b
        loss_a, terms_a = self.loss_fn(face_a, t_a, *mask_a)
        loss_b, terms_b = self.loss_fn(face_b, t_b, *mask_b)
        total = loss_a + loss_b
        if self.scaler is not None:
            self.scaler.scale(total).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            total.backward()
        self.clipper(list(self._param_names))
        values = step_values(total, loss_a, loss_b, terms_a, terms_b, face_a, face_b)
        self._pending.append((self.step + 1, values, lr, self._frozen))
        if flush:  # sync now, before the update, so a non-finite loss never reaches the weights
            self._flush()
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1

    def _flush(self) -> None:
        """Move pending metrics to the host (one sync), append records, check finiteness."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        rows = distributed.mean_over_ranks(torch.stack([v for _, v, _, _ in pending])).float().cpu().tolist()
        now = time.perf_counter()
        img_per_s = 2 * self.batch_size * len(pending) / max(now - self._window_t, 1e-9)
        self._window_t = now
        names = ["loss", "loss_a", "loss_b", *self.term_names, "out_std_a", "out_std_b"]
        for (step, _, lr, frozen), row in zip(pending, rows, strict=True):
            record = {"step": step, **dict(zip(names, row, strict=True)), "img_per_s": img_per_s, "lr": lr,
                      "frozen": list(frozen)}
            self.history.append(record)
            bad = [k for k in names if not math.isfinite(record[k])]
            if bad:
                self.optimizer.zero_grad(set_to_none=True)
                where = ("last good checkpoint: " + str(self.last_checkpoint)) if self.last_checkpoint \
                    else "no checkpoint was written yet"
                applied = self.step - step + 1  # updates applied from the bad step on (0: none)
                refused = self.step + 1  # the update that is never applied
                weights_note = ("Training stopped before applying this update, so the weights in memory are "
                                "the last good ones" if applied <= 0 else
                                f"The weights in memory took {applied} update(s) from non-finite losses "
                                f"(metrics_every={self.metrics_every}; stopped before step {refused}): reload "
                                "the checkpoint")
                raise NonFiniteLossError(
                    f"non-finite loss at step {step}: " + ", ".join(f"{k}={record[k]}" for k in bad)
                    + f". {weights_note}; {where}. Lower the learning rate or check the data, then resume "
                    "from the checkpoint.", step=refused)
            if self.collapse_guard is not None:
                self._check_collapse(record)
            for cb in self.on_metrics:
                cb(record)

    def _check_collapse(self, record: dict[str, Any]) -> None:
        """Keep an in-memory copy of the weights while the run is healthy; on a collapse put it back."""
        guard = self.collapse_guard
        assert guard is not None
        try:
            guard.check(record)
        except CollapseError as exc:
            self.optimizer.zero_grad(set_to_none=True)
            if self._good_weights is not None:
                good_step, good = self._good_weights
                self.model.load_state_dict(good)
                kept = f"The weights in memory were put back to those of step {good_step}, before the collapse"
            else:
                kept = "No healthy weights were kept"
            raise CollapseError(f"{exc} {kept}; last checkpoint: {self.last_checkpoint or 'none written yet'}."
                                ) from None
        if guard.streak == 0 and record["step"] % guard.patience == 0:
            self._good_weights = (record["step"] - 1, {k: v.detach().clone()
                                                       for k, v in self.model.state_dict().items()})

    # -- freeze / load ----------------------------------------------------------------------------------
    def _refresh_frozen(self) -> None:
        for p in self.model.parameters():
            if not p.requires_grad:
                p.grad = None  # Adam skips parameters without a gradient: no momentum update either
        sync_frozen_norms(self.model)  # frozen BatchNorm statistics stay as they are (Keras semantics)
        self._frozen = weights.frozen_blocks(self.model)
        if distributed.world_size() > 1:  # DDP fixes its gradient buckets when it wraps
            self._wrap_forward()

    def _wrap_forward(self, seed: int | None = None) -> None:
        forward = distributed.wrap(self.model, seed)
        self._forward = torch.compile(forward) if self.compile else forward

    def _do_freeze(self, blocks: Sequence[str] | str, reason: str) -> list[str]:
        done = weights.freeze(self.model, blocks)
        self._refresh_frozen()
        self.events.append({"step": self.step, "kind": "freeze", "blocks": done, "detail": reason})
        return done

    def _do_unfreeze(self, blocks: Sequence[str] | str | None, reason: str, only_frozen: bool = False) -> list[str]:
        if only_frozen:
            blocks = list(self._frozen)
        done = weights.unfreeze(self.model, blocks)
        self._refresh_frozen()
        self.events.append({"step": self.step, "kind": "unfreeze", "blocks": done, "detail": reason})
        return done

    def _do_load(self, source: PhazeA | str | Path, blocks: Sequence[str] | str, kind: str = "load",
                 detail: str | None = None) -> Any:
        report = weights.load_blocks(self.model, source, blocks)
        for name in report.loaded:  # old moments belong to the old weights
            for p in self.model.blocks[name].parameters():
                self.optimizer.state.pop(p, None)
        where = detail or ("a model in memory" if isinstance(source, PhazeA) else str(source))
        self.events.append({"step": self.step, "kind": kind, "blocks": list(report.loaded), "detail": where})
        return report


# -- small helpers --------------------------------------------------------------------------------------
def _callbacks(value: Callable | Sequence[Callable] | None) -> list[Callable]:
    if value is None:
        return []
    return [value] if callable(value) else list(value)


def _read_json(path: Path) -> dict[str, Any]:
    return read_json(path, ckpt.CheckpointError)
