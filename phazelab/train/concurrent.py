"""Train K independent Phaze-A models of one architecture at once: one vmapped step for all of them.

Why: the forum study trains many small, independent models (arms × replicates); one small model leaves a
GPU mostly idle (launch-bound), K of them stacked along a new leading axis fill it with the same number
of kernel launches. The parameters of the K models are stacked along a new axis 0, the
forward + losses + backward of every model run as one `torch.vmap` of `torch.func.grad` over
`torch.func.functional_call`, and one masked Adam updates each model's slice.

Each model k behaves as if trained alone by `Trainer(model_k, a_k, b_k, seed=seeds[k], precision=...,
channels_last=True)` right after `torch.manual_seed(noise_seeds[k])`:

* data: model k's batches come from its own sources and a generator seeded with seeds[k], drawn and
  augmented exactly as Trainer does (side A, then side B);
* noise: the model's Gaussian-noise layers draw from the global RNG in Trainer; here from model k's own
  generator seeded with noise_seeds[k] (default: seeds[k]), drawn in the same order, shapes and memory
  layout, and fed into the vmapped step;
* freezing is per model (`freeze(k, blocks)`, `unfreeze(k, blocks)`, or the models' own
  requires_grad flags at construction): a frozen slice gets no update and its Adam state (moments and
  step count) is left alone, as Adam skips a parameter without a gradient;
* Adam: faceswap's defaults (lr 5e-5, ε 1e-7, β 0.9 / 0.999), torch's Adam formula per element.

So the weights equal sequential training to float tolerance (the test checks it); the arithmetic is the
same but batched kernels sum in another order. Not supported (ValueError): BatchNorm (its running
statistics are updated in place), dropout > 0, fp16 (needs a grad scaler per model), models of different
configs. Models are read at construction; `run` writes the trained weights back into them.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from ..data import AugmentConfig, augment
from ..data.augment import default_for as default_augment
from ..model import PhazeA
from ..model.layers import GaussianNoise
from .losses import CompositeLoss
from .precision import resolve_device, resolve_precision
from .trainer import FACESWAP_EXTRA_LOSSES, NonFiniteLossError

__all__ = ["ConcurrentTrainer"]

class _Feed(threading.local):
    """Noise for the forward in progress in this thread (a stack: calls may nest)."""

    def __init__(self) -> None:
        self.stack: list[list[torch.Tensor]] = []


_FEED = _Feed()


class _FedNoise(nn.Module):
    """GaussianNoise whose N(0, 1) draws are handed in (one tensor per call, in call order)."""

    def __init__(self, stddev: float) -> None:
        super().__init__()
        self.stddev = stddev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.stddev == 0:
            return x
        return x + _FEED.stack[-1].pop(0) * self.stddev


class _RecordNoise(nn.Module):
    """Records shape, strides and dtype of each noise draw (what torch.randn_like(x) would allocate)."""

    def __init__(self, stddev: float, log: list[tuple[torch.Size, tuple[int, ...], torch.dtype]]) -> None:
        super().__init__()
        self.stddev, self.log = stddev, log

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.stddev != 0:
            self.log.append((x.shape, x.stride(), x.dtype))
        return x


def _replace_noise(model: nn.Module, make: Any) -> None:
    for name, child in list(model.named_children()):
        if isinstance(child, (GaussianNoise, _RecordNoise, _FedNoise)):
            setattr(model, name, make(child.stddev))
        else:
            _replace_noise(child, make)



class ConcurrentTrainer:
    """K PhazeA models of one config trained together (see the module doc for the equivalence).

    models: K ≥ 1 PhazeA of the same config; sources: K (data_a, data_b) pairs of face sources; seeds:
    K data seeds (Trainer's `seed`); noise_seeds: K seeds of the models' noise generators (default: the
    seeds). `history[k]` holds model k's per-step records (step, loss, loss_a, loss_b, the loss terms).
    """

    def __init__(
        self,
        models: Sequence[PhazeA],
        sources: Sequence[tuple[Any, Any]],
        seeds: Sequence[int],
        *,
        noise_seeds: Sequence[int] | None = None,
        batch_size: int = 16,
        lr: float = 5e-5,
        eps: float = 1e-7,
        betas: tuple[float, float] = (0.9, 0.999),
        loss: str = "ssim",
        extra_losses: Mapping[str, float] = FACESWAP_EXTRA_LOSSES,
        augment_config: AugmentConfig | Mapping[str, Any] | None = None,
        device: str | torch.device | None = None,
        precision: str = "auto",
        channels_last: bool = True,
    ) -> None:
        k = len(models)
        if k < 1:
            raise ValueError("ConcurrentTrainer: need at least one model")
        noise_seeds = list(seeds) if noise_seeds is None else list(noise_seeds)
        for what, seq in (("sources", sources), ("seeds", seeds), ("noise_seeds", noise_seeds)):
            if len(seq) != k:
                raise ValueError(f"ConcurrentTrainer: {what} has {len(seq)} entries for {k} models")
        config = models[0].config
        for i, m in enumerate(models):
            if not isinstance(m, PhazeA):
                raise TypeError(f"ConcurrentTrainer: models[{i}] is a {type(m).__name__}, expected PhazeA")
            if m.config != config:
                raise ValueError(f"ConcurrentTrainer: models[{i}] has another config than models[0]; "
                                 "all models must share one architecture")
            for name, mod in m.named_modules():
                if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                    raise ValueError(f"ConcurrentTrainer: models[{i}].{name} is a BatchNorm (norm='batch'); "
                                     "its in-place running statistics cannot be vmapped")
                if isinstance(mod, nn.Dropout) and mod.p > 0:
                    raise ValueError(f"ConcurrentTrainer: models[{i}].{name} is a dropout (p={mod.p}); "
                                     "per-model dropout masks are not supported, set the *_dropout options to 0")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer ≥ 1, got {batch_size!r}")
        if not (isinstance(lr, (int, float)) and lr > 0):
            raise ValueError(f"lr must be a number > 0, got {lr!r}")
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        if self.precision == "fp16":
            raise ValueError("ConcurrentTrainer: precision 'fp16' needs a grad scaler per model; use bf16 or fp32")
        if isinstance(augment_config, Mapping):
            augment_config = AugmentConfig(**augment_config)
        self.models = list(models)
        self.sources = [tuple(s) for s in sources]
        # the Trainer's rule: the sources' own default when they agree (synthetic: no colour jitter)
        self.augment_config = augment_config or default_augment(*(src for pair in self.sources for src in pair))
        self.k, self.batch_size, self.channels_last = k, batch_size, channels_last
        self.lr, self.eps, self.betas = float(lr), float(eps), (float(betas[0]), float(betas[1]))
        self.loss_fn = CompositeLoss(loss, extra_losses).to(self.device)
        self.step = 0
        self.history: list[list[dict[str, Any]]] = [[] for _ in range(k)]

        for m in self.models:
            m.to(self.device).train()
        names = [n for n, _ in self.models[0].named_parameters()]
        self._masks = {n: torch.tensor([dict(m.named_parameters())[n].requires_grad for m in self.models],
                                       device=self.device) for n in names}
        self._host_masks = {n: [bool(v) for v in m.tolist()] for n, m in self._masks.items()}
        # stacked by hand: torch.func.stack_module_state insists on one requires_grad per name
        self.params = {n: torch.stack([dict(m.named_parameters())[n].detach() for m in self.models])
                       for n in names}
        self.buffers = {n: torch.stack([dict(m.named_buffers())[n].detach() for m in self.models])
                        for n, _ in self.models[0].named_buffers()}
        self._adam = {n: {"m": torch.zeros_like(p), "v": torch.zeros_like(p),
                          "step": torch.zeros(k, device=self.device)} for n, p in self.params.items()}

        # the module structure functional_call runs; its own weights are never used
        self._template = copy.deepcopy(self.models[0])
        self._noise_log: list[tuple[torch.Size, tuple[int, ...], torch.dtype]] = []
        _replace_noise(self._template, lambda s: _RecordNoise(s, self._noise_log))
        self._record_noise_shapes()
        _replace_noise(self._template, _FedNoise)
        self._template.train()
        self._data_gens = [torch.Generator(device=self.device).manual_seed(int(s)) for s in seeds]
        self._noise_gens = [torch.Generator(device=self.device).manual_seed(int(s)) for s in noise_seeds]
        self._render_size = max(self.models[0].input_size, self.models[0].output_size)
        self.term_names = [f"{n}_{s}" for s in "ab" for n in self.loss_fn.names]

    # -- freezing -------------------------------------------------------------------------------------
    def _block_params(self, blocks: Sequence[str] | str | None) -> list[str]:
        model = self.models[0]
        names = list(model.blocks) if blocks is None else ([blocks] if isinstance(blocks, str) else list(blocks))
        bad = [b for b in names if b not in model.blocks]
        if bad:
            raise ValueError(f"ConcurrentTrainer: block(s) {bad} not in this model; blocks: {list(model.blocks)}")
        return [f"blocks.{b}.{n}" for b in names for n, _ in model.blocks[b].named_parameters()]

    def freeze(self, index: int, blocks: Sequence[str] | str) -> None:
        """Freeze blocks of model `index` (its slices get no update; Adam state kept for later)."""
        self._set_trainable(index, blocks, False)

    def unfreeze(self, index: int, blocks: Sequence[str] | str | None = None) -> None:
        """Unfreeze blocks (default all) of model `index`; they continue from their current weights."""
        self._set_trainable(index, blocks, True)

    def _set_trainable(self, index: int, blocks: Sequence[str] | str | None, value: bool) -> None:
        if not 0 <= index < self.k:
            raise IndexError(f"ConcurrentTrainer: model index {index} out of range 0..{self.k - 1}")
        for name in self._block_params(blocks):
            self._masks[name][index] = value
            self._host_masks[name][index] = value
        for name, p in self.models[index].named_parameters():
            p.requires_grad_(self._host_masks[name][index])

    def frozen(self, index: int) -> list[str]:
        """Blocks of model `index` whose parameters are all frozen."""
        out = []
        for block in self.models[0].blocks:
            names = self._block_params(block)
            if names and not any(self._host_masks[n][index] for n in names):
                out.append(block)
        return out

    # -- the step ---------------------------------------------------------------------------------------
    def _record_noise_shapes(self) -> None:
        """One no-grad forward of the template at the training batch, layout and precision: the noise
        layers' inputs there fix the shape, strides and dtype of every draw (no RNG is used)."""
        size = self.models[0].input_size
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        x = torch.zeros(self.batch_size, 3, size, size, device=self.device).contiguous(memory_format=fmt)
        self._template.train()
        with torch.no_grad(), self._autocast():
            self._template(x, x)

    def _autocast(self) -> Any:
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return torch.autocast(self.device.type, enabled=False)

    def _draw(self) -> tuple[list[torch.Tensor], ...]:
        """Per-model batches (as Trainer._batch, A then B) and noise, stacked along a new axis 0."""
        xa, ta, xb, tb, noise = [], [], [], [], []
        cfg, m = self.augment_config, self.models[0]
        for i, (src_a, src_b) in enumerate(self.sources):
            gen = self._data_gens[i]
            for src, xs, ts in ((src_a, xa, ta), (src_b, xb, tb)):
                faces = src.batch(self.batch_size, gen, self._render_size, self.device)
                inp, tgt = augment(faces, gen, input_size=m.input_size, output_size=m.output_size, config=cfg)
                xs.append(inp)
                ts.append(tgt)
            noise.append([torch.empty_strided(shape, stride, dtype=dtype, device=self.device)
                          .normal_(generator=self._noise_gens[i]) for shape, stride, dtype in self._noise_log])
        stacked_noise = [torch.stack([n[j] for n in noise]) for j in range(len(self._noise_log))]
        return torch.stack(xa), torch.stack(ta), torch.stack(xb), torch.stack(tb), stacked_noise

    def _loss(self, train: dict[str, torch.Tensor], fixed: dict[str, torch.Tensor],
              noise: list[torch.Tensor], x_a: torch.Tensor, t_a: torch.Tensor, x_b: torch.Tensor,
              t_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _FEED.stack.append(list(noise))
        try:
            with self._autocast():
                out_a, out_b = functional_call(self._template, ({**train, **fixed}), (x_a, x_b))
        finally:
            _FEED.stack.pop()
        loss_a, terms_a = self.loss_fn(out_a, t_a)
        loss_b, terms_b = self.loss_fn(out_b, t_b)
        total = loss_a + loss_b
        return total, torch.cat([torch.stack([total, loss_a, loss_b]).detach(), terms_a.detach(), terms_b.detach()])

    def _train_step(self) -> torch.Tensor:
        x_a, t_a, x_b, t_b, noise = self._draw()
        live = [n for n in self._masks if any(self._host_masks[n])]  # no device sync
        train = {n: self.params[n] for n in live}
        fixed = {**{n: p for n, p in self.params.items() if n not in train}, **self.buffers}
        step = vmap(grad(self._loss, has_aux=True), in_dims=(0, 0, 0, 0, 0, 0, 0), randomness="error")
        grads, values = step(train, fixed, noise, x_a, t_a, x_b, t_b)
        self._adam_update(grads)
        self.step += 1
        return values

    @torch.no_grad()
    def _adam_update(self, grads: dict[str, torch.Tensor]) -> None:
        """torch's Adam (as its fused kernel computes it), per model slice, only where the mask is set."""
        b1, b2 = self.betas
        for name, g in grads.items():
            p, st, mask = self.params[name], self._adam[name], self._masks[name]
            shape = (self.k,) + (1,) * (p.ndim - 1)
            st["step"] += mask.float()
            bc1 = (1 - b1 ** st["step"]).view(shape)
            bc2_sqrt = (1 - b2 ** st["step"]).sqrt().view(shape)
            m = st["m"].lerp(g, 1 - b1)
            v = st["v"] * b2 + (1 - b2) * g * g
            denom = v.sqrt() / bc2_sqrt.clamp(min=1e-30) + self.eps
            new = p - (self.lr / bc1.clamp(min=1e-30)) * m / denom
            keep = mask.view(shape)
            p.copy_(torch.where(keep, new, p))
            st["m"].copy_(torch.where(keep, m, st["m"]))
            st["v"].copy_(torch.where(keep, v, st["v"]))

    def run(self, steps: int) -> None:
        """Train every model `steps` more steps; losses are read once at the end (one sync), checked for
        finiteness (NonFiniteLossError names the model), and the weights written back into the models."""
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
            raise ValueError(f"steps must be an integer ≥ 0, got {steps!r}")
        start = self.step
        rows = [self._train_step() for _ in range(steps)]
        if rows:
            table = torch.stack(rows).float().cpu()  # (steps, K, values)
            names = ["loss", "loss_a", "loss_b", *self.term_names]
            for s in range(steps):
                for i in range(self.k):
                    record = {"step": start + s + 1, **dict(zip(names, table[s, i].tolist(), strict=True))}
                    self.history[i].append(record)
            bad = (~torch.isfinite(table)).any(-1).any(0).nonzero().flatten().tolist()
            if bad:
                raise NonFiniteLossError(f"ConcurrentTrainer: non-finite loss in model(s) {bad} within steps "
                                         f"{start + 1}..{self.step}; the weights were not written back")
        self.write_back()

    @torch.no_grad()
    def write_back(self) -> None:
        """Copy the stacked weights into the K model objects (model k gets slice k)."""
        for i, m in enumerate(self.models):
            for name, p in m.named_parameters():
                p.copy_(self.params[name][i])
            for name, b in m.named_buffers():
                if name in self.buffers:
                    b.copy_(self.buffers[name][i])
