"""Data-parallel training under `torchrun --nproc_per_node N`: the few hooks the Trainer calls.

Outside a process group (the usual single-process run) every function here is a no-op, so Trainer
behaves exactly as before. Inside one (`init_from_env`, called by `phazelab train` when torchrun set
WORLD_SIZE > 1; NCCL on CUDA, gloo on CPU):

* the model is wrapped in torch's DistributedDataParallel (which broadcasts rank 0's weights at wrap
  time and averages gradients over the ranks during backward); the wrapper is rebuilt whenever the set
  of trainable parameters changes (freeze / unfreeze / load), as DDP fixes its gradient buckets at wrap;
* per-rank data streams: rank r's data generator is seeded with `seed + RANK_STRIDE * r`, and its
  global RNG (the model's noise layers) with the same number at wrap time; each rank draws `batch_size`
  faces per side, so a step sees N × batch_size faces per side — one process with the combined batch
  (equal batch sizes: the mean over ranks of per-rank mean losses is the combined batch's mean loss);
* metrics are averaged over the ranks when read (the one sync already there), so every rank records the
  same history and a non-finite loss stops every rank at the same step;
* checkpoints: rank 0 writes them; every rank's RNG states travel to rank 0 and are stored next to rank
  0's (`rng.rank<r>.safetensors`), so `--resume` under the same N is exact (on CPU, bit-exact).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from . import checkpoint as ckpt

__all__ = ["RANK_STRIDE", "init_from_env", "is_main", "mean_over_ranks", "rank", "rank_rng_files",
           "rank_seed", "restore_rank_rng", "world_size", "wrap"]

RANK_STRIDE = 1_000_003  # seed offset between ranks' data streams


def world_size() -> int:
    """Processes in the default group (1 when not distributed)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank (0 when not distributed)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """True on rank 0 (and in a single-process run): the process that logs and writes checkpoints."""
    return rank() == 0


def rank_seed(seed: int) -> int:
    """This rank's seed for its data stream and noise: seed + RANK_STRIDE × rank."""
    return int(seed) + RANK_STRIDE * rank()


def init_from_env(device: str | None = None) -> str | None:
    """Join torchrun's process group when WORLD_SIZE > 1 (NCCL with CUDA, else gloo); returns the device
    this rank should use ("cuda:LOCAL_RANK", or the given device), or `device` unchanged when not under
    torchrun. Raises ValueError when the torchrun variables are inconsistent."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1 or (dist.is_available() and dist.is_initialized()):
        return device
    if not dist.is_available():
        raise ValueError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and (device is None or str(device).startswith("cuda"))
    if use_cuda:
        if local >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} CUDA device(s)")
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if use_cuda else "gloo")
    return f"cuda:{local}" if use_cuda else (device or "cpu")


def wrap(model: torch.nn.Module, seed: int | None = None) -> torch.nn.Module:
    """The module the training step calls: DDP(model) in a process group, else the model itself.

    With `seed` (the first wrap, from Trainer.__init__), this rank's global RNG is seeded with
    rank_seed(seed) so the ranks' noise layers draw different noise. A model with no trainable
    parameter is returned bare (DDP refuses it; there is nothing to average).
    """
    if world_size() == 1:
        return model
    if seed is not None:
        torch.manual_seed(rank_seed(seed))
    if not any(p.requires_grad for p in model.parameters()):
        return model
    from torch.nn.parallel import DistributedDataParallel

    device = next(model.parameters()).device
    ids = [device.index] if device.type == "cuda" else None
    # learn_mask: the mask branch gets no loss (no mask targets), so DDP must expect unused parameters
    unused = bool(getattr(getattr(model, "config", None), "learn_mask", False))
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=unused)


def mean_over_ranks(values: torch.Tensor) -> torch.Tensor:
    """The mean of `values` over the ranks (all_reduce); `values` itself when not distributed."""
    if world_size() == 1:
        return values
    out = values.detach().float().clone()
    dist.all_reduce(out)
    return out / world_size()


def _pack(tensors: dict[str, torch.Tensor]) -> bytes:
    return st_save({k: v.cpu().contiguous() for k, v in tensors.items()})


def rank_rng_files(device: torch.device, generator: torch.Generator) -> dict[str, bytes]:
    """Every rank's RNG state (ckpt.rng_state) gathered on rank 0 as {"rng.rank<r>.safetensors": bytes}
    for r ≥ 1; {} on the other ranks and when not distributed. A collective: every rank must call it."""
    if world_size() == 1:
        return {}
    mine = _pack(ckpt.rng_state(device, generator))
    gathered: list[Any] = [None] * world_size() if is_main() else []
    dist.gather_object(mine, gathered if is_main() else None, dst=0)
    if not is_main():
        return {}
    return {f"rng.rank{r}.safetensors": data for r, data in enumerate(gathered) if r > 0}


def restore_rank_rng(snap: Path, device: torch.device, generator: torch.Generator) -> list[str] | None:
    """On rank r ≥ 1, restore its RNG state from `snap/rng.rank<r>.safetensors` (returns what could not
    be restored, as ckpt.set_rng_state does); None on rank 0 and when not distributed (use rng.safetensors).
    Raises CheckpointError when the snapshot has no state for this rank (saved with fewer processes)."""
    if world_size() == 1 or is_main():
        return None
    path = Path(snap) / f"rng.rank{rank()}.safetensors"
    if not path.is_file():
        raise ckpt.CheckpointError(f"{snap}: no RNG state for rank {rank()} ({path.name}); resume with the "
                                   "number of processes the run was saved with")
    state = st_load(io.BytesIO(path.read_bytes()).getvalue())
    return ckpt.set_rng_state(state, device, generator)
