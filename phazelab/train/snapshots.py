"""The Trainer's checkpoints: a snapshot of everything a run is (model, optimizer, RNG streams, step,
history, events, frozen blocks, schedules) written atomically, and an exact restore from one. The file
layout and rotation live in checkpoint.py; this is what goes into a snapshot.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from safetensors.torch import load_model as st_load_model
from safetensors.torch import save as st_save
from safetensors.torch import save_model as st_save_model

from ..config import PhazeAConfig
from ..fileio import json_default as _json_default
from ..fileio import read_json
from ..model import PhazeA
from . import checkpoint as ckpt
from . import distributed
from .schedules import normalise_unfreeze_at

__all__ = ["Checkpointing"]


def _read_json(path: Path) -> dict[str, Any]:
    return read_json(path, ckpt.CheckpointError)


class Checkpointing:
    """`from_checkpoint`, `_save_now` and `_restore` for the Trainer (which provides the state they save)."""

    @classmethod
    def from_checkpoint(cls, path: str | Path, data_a: Any, data_b: Any, *,
                        device: str | torch.device | None = None, **overrides: Any) -> Any:
        """Rebuild model + trainer from a checkpoint root (or snapshot) and restore its state exactly."""
        snap = ckpt.find_snapshot(path)
        state = _read_json(snap / "trainer.json")
        model = PhazeA(PhazeAConfig.from_dict(state["config"]))
        kwargs = {**state["settings"], "checkpoint_dir": snap.parent, "meta": state.get("meta"),
                  **overrides}
        trainer = cls(model, data_a, data_b, device=device, **kwargs)
        trainer._restore(snap)
        return trainer

    # -- checkpoints ------------------------------------------------------------------------------------
    def _save_now(self, directory: str | Path | None = None) -> Path:
        root = Path(directory) if directory is not None else self.checkpoint_dir
        if root is None:
            raise ValueError("no checkpoint folder: pass one or create the Trainer with checkpoint_dir")
        self._flush()  # never checkpoint weights whose losses were not checked
        opt_tensors, opt_meta = ckpt.pack_optimizer(self.optimizer, self._param_names)
        opt_meta["scaler"] = self.scaler.state_dict() if self.scaler is not None else None
        state = {
            "format": 1, "step": self.step, "config": self.model.config.to_dict(), "settings": self.settings(),
            "precision": self.precision, "device": str(self.device), "torch": torch.__version__,
            "schedule": [[s, b] for s, b in self.schedule], "frozen_blocks": self.frozen,
            "frozen_params": [n for p, n in self._param_names.items() if not p.requires_grad],
            "sources": {"a": getattr(self.data_a, "name", None), "b": getattr(self.data_b, "name", None)},
            "meta": self.meta, "events": self.events, "history": self.history,
        }
        files = {
            "model.safetensors": lambda p: st_save_model(self.model, str(p)),
            "optimizer.safetensors": st_save(opt_tensors),
            "optimizer.json": json.dumps(opt_meta).encode(),
            "rng.safetensors": st_save(ckpt.rng_state(self.device, self._generator)),
            "trainer.json": json.dumps(state, default=_json_default).encode(),
        }
        files.update(distributed.rank_rng_files(self.device, self._generator))  # other ranks' RNG (torchrun)
        if not distributed.is_main():  # rank 0 writes the checkpoint
            self._last_saved_step = self.step
            return root
        path = ckpt.write_snapshot(root, self.step, files, keep=self.keep_checkpoints,
                                   info={"step": self.step})
        self._window_t = time.perf_counter()
        self.last_checkpoint, self._last_saved_step = path, self.step
        return path

    def _restore(self, path: str | Path) -> int:
        snap = ckpt.find_snapshot(path)
        state = _read_json(snap / "trainer.json")
        if state["config"] != self.model.config.to_dict():
            diff = sorted(k for k, v in state["config"].items() if self.model.config.to_dict().get(k) != v)
            raise ckpt.CheckpointError(f"{snap}: checkpoint was trained with a different model config "
                                       f"(differs in {diff})")
        st_load_model(self.model, str(snap / "model.safetensors"), device=str(self.device))
        frozen = set(state["frozen_params"])
        for p, name in self._param_names.items():
            p.requires_grad_(name not in frozen)
        self._refresh_frozen()
        opt_meta = _read_json(snap / "optimizer.json")
        ckpt.unpack_optimizer(self.optimizer, self._param_names,
                              load_file(str(snap / "optimizer.safetensors"), device=str(self.device)), opt_meta)
        if self.scaler is not None and opt_meta.get("scaler"):
            self.scaler.load_state_dict(opt_meta["scaler"])
        skipped = ckpt.set_rng_state(load_file(str(snap / "rng.safetensors")), self.device, self._generator)
        skipped = distributed.restore_rank_rng(snap, self.device, self._generator) or skipped  # rank ≥ 1
        if skipped:
            warnings.warn(f"{snap}: RNG state {skipped} saved on another device kind; those streams "
                          "restart from the seed, so this resume is not bit-exact", stacklevel=2)
            if "data_generator" in skipped:
                self._generator.manual_seed(self.seed + state["step"])
        self.step = state["step"]
        self.history = list(state["history"])
        self.events = list(state["events"])
        self.schedule = normalise_unfreeze_at(state["schedule"], self.model.blocks)
        self.meta = {**state.get("meta", {}), **self.meta}
        self._pending.clear()
        self.last_checkpoint, self._last_saved_step = snap, self.step
        return self.step
