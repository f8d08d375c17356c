"""Saving, loading, per-block loading and freezing, by faceswap's block names.

A saved model is a folder: `config.json` (PhazeAConfig), `model.safetensors` (weights, never a pickle)
and `meta.json` (step, date, version). Folders and files are written atomically: a crash mid-save
leaves the previous good model in place (or recoverable from its backup), never a half-written one.
"""

from __future__ import annotations

import datetime as _dt
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .config import LAYER_CHOICES, ConfigError, PhazeAConfig
from .model import PhazeA
from .model.frozen import sync_frozen_norms

BLOCK_NAMES = tuple(n for n in LAYER_CHOICES if n != "keras_encoder")
CONFIG_FILE, WEIGHTS_FILE, META_FILE = "config.json", "model.safetensors", "meta.json"


class BlockError(ValueError):
    """A block name or block weights that cannot be used."""


class ModelFileError(ValueError):
    """A saved model folder that is missing or unreadable."""


# --------------------------------------------------------------------------------------------------
# atomic writes: phazelab.fileio (re-exported here, where they first lived)
from .fileio import atomic_dir, atomic_write_bytes, atomic_write_text, recover_dir  # noqa: E402, F401


# --------------------------------------------------------------------------------------------------
# save / load
def save(model: PhazeA, path: str | Path, meta: dict[str, Any] | None = None,
         dtype: torch.dtype | None = None) -> Path:
    """Save `model` to the folder `path` (config.json, model.safetensors, meta.json), atomically.

    ``dtype`` (e.g. torch.float16) stores floating-point tensors in that type, half the size; loading
    casts them back to the model's float32 (an fp16 round trip changes weights by <= 2^-11 relative)."""
    from . import __version__

    path = Path(path)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    info = {"phazelab_version": __version__, "date": _dt.datetime.now(_dt.timezone.utc).isoformat(),
            "blocks": list(model.blocks), "frozen": frozen_blocks(model), "step": 0,
            **({"faceswap": model.faceswap_origin} if getattr(model, "faceswap_origin", None) else {}),
            **(meta or {})}
    with atomic_dir(path) as tmp:
        (tmp / CONFIG_FILE).write_text(model.config.to_json())
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": "pt", "producer": "phazelab"})
        (tmp / META_FILE).write_text(json.dumps(info, indent=2, default=str))
    return path


def _model_dir(path: str | Path) -> Path:
    path = recover_dir(Path(path))
    if not path.is_dir():
        raise ModelFileError(f"{path}: no saved model here (expected a folder with {CONFIG_FILE} "
                             f"and {WEIGHTS_FILE})")
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (path / name).is_file():
            raise ModelFileError(f"{path}: missing {name} (a phazelab model folder holds {CONFIG_FILE} "
                                 f"and {WEIGHTS_FILE})")
    return path


def load_config_of(path: str | Path) -> PhazeAConfig:
    path = _model_dir(path)
    try:
        return PhazeAConfig.from_json((path / CONFIG_FILE).read_text())
    except (json.JSONDecodeError, ConfigError, TypeError) as exc:
        raise ModelFileError(f"{path / CONFIG_FILE}: not a valid Phaze-A config ({exc})") from exc


def read_meta(path: str | Path) -> dict[str, Any]:
    meta = _model_dir(path) / META_FILE
    return json.loads(meta.read_text()) if meta.is_file() else {}


def _read_tensors(path: Path, prefixes: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
    file = path / WEIGHTS_FILE
    try:
        with safe_open(str(file), framework="pt") as fh:
            return {k: fh.get_tensor(k) for k in fh.keys() if prefixes is None or k.startswith(prefixes)}
    except Exception as exc:  # safetensors raises its own error types
        raise ModelFileError(f"{file}: cannot read weights ({exc})") from exc


def load_model(path: str | Path, device: str | torch.device = "cpu") -> PhazeA:
    """Rebuild a saved model from its config and load its weights (safetensors only), in eval mode (no
    Gaussian noise, no dropout): ready to run. A Trainer puts it back in train mode itself."""
    path = _model_dir(path)
    model = PhazeA(load_config_of(path))
    state = _read_tensors(path)
    missing, unexpected = set(model.state_dict()) - set(state), set(state) - set(model.state_dict())
    if missing or unexpected:
        raise ModelFileError(f"{path / WEIGHTS_FILE} does not match its {CONFIG_FILE}: missing "
                             f"{sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")
    model.load_state_dict(state)
    origin = read_meta(path).get("faceswap")
    if origin:  # a model imported from faceswap keeps its origin (phazelab/faceswap/importer.py)
        model.faceswap_origin = origin
    return model.to(device).eval()


# --------------------------------------------------------------------------------------------------
# per-block load
@dataclass
class LoadReport:
    """What load_blocks did, block by block."""

    loaded: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    mismatched: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"loaded: {', '.join(self.loaded) or '-'}"]
        lines += [f"skipped {k}: {v}" for k, v in self.skipped.items()]
        lines += [f"mismatched {k}: {v}" for k, v in self.mismatched.items()]
        return "\n".join(lines)


def _check_names(blocks: list[str] | tuple[str, ...] | str,
                 allowed: tuple[str, ...] = BLOCK_NAMES) -> list[str]:
    if isinstance(blocks, str):
        blocks = [b for b in blocks.replace(",", " ").split() if b]
    unknown = [b for b in blocks if b not in allowed]
    if unknown:
        raise BlockError(f"unknown block name(s) {unknown}; valid names: {list(allowed)}")
    return list(blocks)


def _block_state(source: PhazeA | Path, name: str) -> dict[str, torch.Tensor]:
    prefix = f"blocks.{name}."
    if isinstance(source, PhazeA):
        items = source.state_dict().items()
    else:
        items = _read_tensors(source, (prefix,)).items()
    return {k[len(prefix):]: v for k, v in items if k.startswith(prefix)}


def load_blocks(model: PhazeA, source: PhazeA | str | Path, blocks: list[str] | str,
                on_mismatch: str = "raise") -> LoadReport:
    """Copy the named blocks' weights from `source` (a model or a saved folder) into `model`.

    Blocks missing from either model are skipped and reported (as faceswap does). A block whose
    tensors do not fit raises BlockError naming block, tensor and both shapes — or, with
    on_mismatch="skip", is reported under `mismatched`. Nothing is copied unless every requested,
    present block fits, so a failed load leaves the model untouched.
    """
    names = _check_names(blocks)
    if on_mismatch not in ("raise", "skip"):
        raise ValueError(f"on_mismatch must be 'raise' or 'skip', got {on_mismatch!r}")
    if not isinstance(source, PhazeA):
        source = _model_dir(source)
        source_blocks = _blocks_in_file(source)
    else:
        source_blocks = set(source.blocks)
    report, staged = LoadReport(), {}
    for name in names:
        if name not in model.blocks:
            report.skipped[name] = "not in the target model's topology"
            continue
        if name not in source_blocks:
            report.skipped[name] = "not in the source model's topology"
            continue
        src = _block_state(source, name)
        dst = model.blocks[name].state_dict()
        problem = _mismatch(name, src, dst)
        if problem:
            if on_mismatch == "raise":
                raise BlockError(problem)
            report.mismatched[name] = problem
            continue
        staged[name] = src
    for name, state in staged.items():
        model.blocks[name].load_state_dict(state)
        report.loaded.append(name)
    for name, reason in report.skipped.items():
        warnings.warn(f"load_blocks: skipped {name}: {reason}", stacklevel=2)
    return report


def _blocks_in_file(path: Path) -> set[str]:
    with safe_open(str(path / WEIGHTS_FILE), framework="pt") as fh:
        return {k.split(".")[1] for k in fh.keys() if k.startswith("blocks.")}


def _mismatch(name: str, src: dict[str, torch.Tensor], dst: dict[str, torch.Tensor]) -> str:
    missing, extra = sorted(set(dst) - set(src)), sorted(set(src) - set(dst))
    if missing or extra:
        return (f"block {name}: the two models' {name} differ in structure "
                f"(only in target: {missing[:3]}, only in source: {extra[:3]})")
    for key, t in dst.items():
        if tuple(src[key].shape) != tuple(t.shape):
            return (f"block {name}: tensor {key} has shape {list(src[key].shape)} in the source but "
                    f"{list(t.shape)} in the target")
    return ""


# --------------------------------------------------------------------------------------------------
# freeze
def freeze(model: PhazeA, blocks: list[str] | str) -> list[str]:
    """Make the named blocks non-trainable (no gradient, so no optimizer update). Returns what froze.

    As in faceswap, `keras_encoder` names the pretrained Keras application inside the encoder; with
    fs_original there is none, so it freezes nothing (faceswap's default freeze_layers). Names absent
    from this topology are warned about and skipped.
    """
    names = _check_names(blocks, LAYER_CHOICES)
    done = []
    for name in names:
        if name == "keras_encoder":
            warnings.warn("freeze: keras_encoder resolves to nothing for the fs_original encoder; "
                          "freeze 'encoder' to freeze it", stacklevel=2)
            continue
        if name not in model.blocks:
            warnings.warn(f"freeze: block {name} is not in this model's topology; skipped", stacklevel=2)
            continue
        for p in model.blocks[name].parameters():
            p.requires_grad_(False)
            p.grad = None
        done.append(name)
    sync_frozen_norms(model)  # a frozen BatchNorm runs in inference mode, as in Keras
    return done


def unfreeze(model: PhazeA, blocks: list[str] | str | None = None) -> list[str]:
    """Make the named blocks (default: all) trainable again; they continue from their current weights."""
    names = list(model.blocks) if blocks is None else _check_names(blocks)
    done = []
    for name in names:
        if name in model.blocks:
            for p in model.blocks[name].parameters():
                p.requires_grad_(True)
            done.append(name)
    sync_frozen_norms(model)
    return done


def frozen_blocks(model: PhazeA) -> list[str]:
    """Blocks whose parameters are all non-trainable."""
    return [name for name, block in model.blocks.items()
            if any(True for _ in block.parameters()) and not any(p.requires_grad for p in block.parameters())]
