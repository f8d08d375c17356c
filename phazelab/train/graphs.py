"""The Trainer's step as CUDA graphs (`Trainer(..., cuda_graph=True)`): captured once, replayed every step.

Why: small Phaze-A models are launch-bound on a GPU (hundreds of small kernels per step, each costing
more to launch than to run); a replayed CUDA graph launches the whole step at once.

What is captured: two graphs on static buffers — (1) forward under autocast, losses, backward; (2) the
fused Adam update (`capturable=True`). Between the two the Trainer's metrics flush can run, so a
non-finite loss still never reaches the weights. Data (render + augment) stays outside the graphs: each
step's batch is drawn as in eager mode, from the same generator, and copied into the static inputs.

When it is re-captured: the graphs bake in which parameters get gradients, the learning rate, and the
optimizer state tensors, so before every step a key of those (requires_grad flags, lr, the identities of
Adam's state tensors, precision) is compared with the captured one. A change — freeze, unfreeze,
`load_blocks` (which resets those blocks' Adam state), `set_lr`, `load_checkpoint` — drops the graphs;
the next `warmup` steps run eagerly (on a side stream, as CUDA-graph capture requires), then the step is
captured again. Loading weights in place needs no re-capture (the graphs read the same tensors).

On a CPU there are no graphs: the same two functions that would be captured run directly, so the CPU
path gives the same losses and weights as eager training (tested), and the key/re-capture bookkeeping
runs as on a GPU (`captures` counts the captures that would have happened). fp16 (grad scaler) and
`compile=True` are not supported with graphs, nor is DDP under torchrun (ValueError).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

__all__ = ["GraphStep"]


class GraphStep:
    """Runs Trainer steps through captured CUDA graphs (see the module doc). `captures`: how many times
    the step was (re)captured; `replays`: steps run from a capture."""

    def __init__(self, trainer: Any, warmup: int = 3) -> None:
        if trainer.precision == "fp16":
            raise ValueError("cuda_graph: precision 'fp16' (grad scaler) is not supported; use bf16 or fp32")
        if trainer.compile:
            raise ValueError("cuda_graph and compile are alternatives; choose one")
        from .distributed import world_size

        if world_size() > 1:
            raise ValueError("cuda_graph is not supported under torchrun (DDP's gradient hooks); drop one")
        if not isinstance(warmup, int) or warmup < 1:
            raise ValueError(f"cuda_graph warm-up must be an integer ≥ 1, got {warmup!r}")
        self.trainer, self.warmup = trainer, warmup
        self.cuda = trainer.device.type == "cuda"
        self.captures = self.replays = 0
        self._key: tuple | None = None
        self._stable = 0  # eager steps run with the current key
        self._graphs: tuple[Any, Any] | None = None
        self._static: dict[str, Any] = {}

    # -- what the graphs depend on ----------------------------------------------------------------------
    def key(self) -> tuple:
        t = self.trainer
        params = list(t._param_names)
        flags = tuple(p.requires_grad for p in params)
        state = tuple(id(v) for p in params for v in t.optimizer.state.get(p, {}).values()
                      if isinstance(v, torch.Tensor))
        return flags, t.lr, state, t.precision

    # -- the captured work -------------------------------------------------------------------------------
    def _compute(self) -> None:
        """Forward, losses, backward on the static inputs; values into the static metrics buffer."""
        t, s = self.trainer, self._static
        with t.autocast():
            out_a, out_b = t._forward(s["x_a"], s["x_b"])
        from .trainer import step_values

        face_a, face_b = out_a, out_b
        loss_a, terms_a = t.loss_fn(face_a, s["t_a"])
        loss_b, terms_b = t.loss_fn(face_b, s["t_b"])
        total = loss_a + loss_b
        total.backward()
        values = step_values(total, loss_a, loss_b, terms_a, terms_b, face_a, face_b)
        if "values" in s:
            s["values"].copy_(values)
        else:
            s["values"] = values

    def _update(self) -> None:
        t = self.trainer
        t.clipper(list(t._param_names))  # norm / value clipping: plain tensor ops, captured with the update
        t.optimizer.step()

    # -- one step ------------------------------------------------------------------------------------------
    def train_step(self, flush: bool) -> None:
        """One Trainer step (same bookkeeping as Trainer._train_step), eager or replayed."""
        t = self.trainer
        batch = (*t._batch(t.data_a), *t._batch(t.data_b))
        key = self.key()
        if key != self._key:
            self._key, self._stable, self._graphs = key, 0, None
        if self._graphs is None and self._stable >= self.warmup:
            self._capture(batch)
        if self._graphs is not None:
            self._load(batch)
            self._graphs[0].replay() if self.cuda else self._compute()
            self.replays += 1
            # a replayed backward overwrites the captured grads; on CPU the direct call accumulates
            self._finish(flush, lambda: self._graphs[1].replay() if self.cuda else self._update(),
                         zero_grad=not self.cuda)
            return
        # eager warm-up step (side stream on CUDA), exactly the eager Trainer's step
        stream = torch.cuda.Stream(t.device) if self.cuda else None
        if stream is not None:
            stream.wait_stream(torch.cuda.current_stream(t.device))
        with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
            self._static_from(batch)
            self._compute()
        if stream is not None:
            torch.cuda.current_stream(t.device).wait_stream(stream)
        self._finish(flush, self._update, zero_grad=True)
        self._stable += 1
        self._key = self.key()  # the first step creates Adam's state: the key it will keep

    def _finish(self, flush: bool, update: Any, zero_grad: bool) -> None:
        t = self.trainer
        t._pending.append((t.step + 1, self._static["values"].clone(), t.lr, t._frozen))
        if flush:
            t._flush()
        update()
        if zero_grad:
            t.optimizer.zero_grad(set_to_none=True)
        t.step += 1

    def _static_from(self, batch: tuple[torch.Tensor, ...]) -> None:
        for name, x in zip(("x_a", "t_a", "x_b", "t_b"), batch, strict=True):
            self._static[name] = x

    def _load(self, batch: tuple[torch.Tensor, ...]) -> None:
        for name, x in zip(("x_a", "t_a", "x_b", "t_b"), batch, strict=True):
            self._static[name].copy_(x)

    def _capture(self, batch: tuple[torch.Tensor, ...]) -> None:
        """Record the step's two graphs (CUDA) or just fix the static buffers (CPU)."""
        t = self.trainer
        self._static = {name: x.clone() for name, x in zip(("x_a", "t_a", "x_b", "t_b"), batch, strict=True)}
        self.captures += 1
        if not self.cuda:
            self._graphs = (None, None)
            return
        # capturable only while recording (the graph keeps what it recorded), so checkpoints keep the
        # optimizer settings an eager run has and load on a CPU too
        flags = [group.get("capturable", False) for group in t.optimizer.param_groups]
        for group in t.optimizer.param_groups:
            group["capturable"] = True
        t.optimizer.zero_grad(set_to_none=True)  # backward allocates the grads from the graph's pool
        fwd, opt = torch.cuda.CUDAGraph(), torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(fwd):
                self._compute()
            with torch.cuda.graph(opt, pool=fwd.pool()):
                self._update()
        finally:
            for group, flag in zip(t.optimizer.param_groups, flags, strict=True):
                group["capturable"] = flag
        self._graphs = (fwd, opt)
        self._key = self.key()

