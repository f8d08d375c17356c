"""Crash-safe training snapshots: a folder per snapshot, made complete before it becomes visible.

Layout of a checkpoint root::

    ROOT/latest                           name of the newest complete snapshot (written atomically)
    ROOT/snap-000007-step-000000350/      one snapshot: files written by the trainer + manifest.json
    ROOT/snap-000006-step-000000300/      the previous one, kept until a newer one is complete

A snapshot is written into a hidden temporary folder in ROOT, every file fsynced, a manifest with each
file's size and SHA-256 written last, then the folder is renamed into place; only then is `latest`
updated and older snapshots pruned. `kill -9` at any moment leaves at worst a stray temporary folder,
never a half-written snapshot under a snapshot name. Loading verifies the manifest and falls back to
the previous snapshot when the newest is damaged.

This module knows files and folders only; `phazelab.train.trainer` decides what goes in them. The
helpers at the end pack optimizer and RNG state into safetensors + JSON (no pickles).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "CheckpointError", "fsync_dir", "list_snapshots", "write_snapshot", "find_snapshot", "verify_snapshot",
    "pack_optimizer", "unpack_optimizer", "rng_state", "set_rng_state",
]

MANIFEST = "manifest.json"
LATEST = "latest"
_SNAP_RE = re.compile(r"^snap-(\d{6,})-step-(\d{9,})$")
FileWriter = Callable[[Path], None]


class CheckpointError(RuntimeError):
    """No loadable snapshot, or a snapshot that does not match what is being restored."""


# -- low-level durability: phazelab.fileio ------------------------------------------------------------
from ..fileio import atomic_write_text, fsync_dir, fsync_file  # noqa: E402

_fsync_file = fsync_file


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_latest(root: Path, name: str) -> None:
    atomic_write_text(root / LATEST, name + "\n")


def _remove_tree(path: Path) -> None:
    """Rename away first so a half-deleted folder never carries a snapshot name."""
    trash = path.parent / f".trash-{path.name}-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(path, trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)


# -- snapshots ----------------------------------------------------------------------------------------
def list_snapshots(root: str | Path) -> list[Path]:
    """Snapshot folders under `root`, newest (highest sequence number) first; none are verified."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = _SNAP_RE.match(p.name)
        if m and p.is_dir():
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found, reverse=True)]


def snapshot_step(path: Path) -> int:
    m = _SNAP_RE.match(Path(path).name)
    if not m:
        raise CheckpointError(f"{path} is not a snapshot folder (expected snap-<seq>-step-<step>)")
    return int(m.group(2))


def write_snapshot(root: str | Path, step: int, files: Mapping[str, bytes | FileWriter], *,
                   keep: int = 2, info: Mapping[str, Any] | None = None) -> Path:
    """Write a new complete snapshot under `root` and return its folder.

    `files` maps a file name to its bytes or to a function writing that file at the given path.
    The newest `keep` snapshots survive; older ones are removed only after the new one is in place.
    """
    if keep < 1:
        raise ValueError(f"keep must be ≥ 1, got {keep}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".tmp-snap-*"):  # left by a crash mid-save: never a snapshot
        shutil.rmtree(stale, ignore_errors=True)
    for stale in root.glob(".trash-*"):
        shutil.rmtree(stale, ignore_errors=True)
    existing = list_snapshots(root)
    seq = (int(_SNAP_RE.match(existing[0].name).group(1)) + 1) if existing else 1
    name = f"snap-{seq:06d}-step-{step:09d}"
    tmp = root / f".tmp-snap-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        manifest: dict[str, Any] = {"format": "phazelab-checkpoint", "version": 1, "step": step,
                                    "info": dict(info or {}), "files": {}}
        for fname, content in files.items():
            if "/" in fname or fname in (MANIFEST, ""):
                raise ValueError(f"bad snapshot file name {fname!r}")
            path = tmp / fname
            if isinstance(content, (bytes, bytearray)):
                path.write_bytes(content)
            else:
                content(path)
            _fsync_file(path)
            manifest["files"][fname] = {"size": path.stat().st_size, "sha256": _sha256(path)}
        mpath = tmp / MANIFEST
        mpath.write_text(json.dumps(manifest, indent=1))
        _fsync_file(mpath)
        fsync_dir(tmp)
        os.rename(tmp, root / name)
        fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _write_latest(root, name)
    for old in list_snapshots(root)[keep:]:
        _remove_tree(old)
    return root / name


def verify_snapshot(path: str | Path) -> dict[str, Any]:
    """Return the snapshot's manifest, or raise CheckpointError saying what is damaged."""
    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: missing or unreadable {MANIFEST} ({exc})") from exc
    for fname, meta in files.items():
        fpath = path / fname
        if not fpath.is_file():
            raise CheckpointError(f"{path}: file {fname} is missing")
        if fpath.stat().st_size != meta["size"]:
            raise CheckpointError(f"{path}: {fname} has {fpath.stat().st_size} bytes, expected {meta['size']}")
        if _sha256(fpath) != meta["sha256"]:
            raise CheckpointError(f"{path}: {fname} does not match its SHA-256 (damaged)")
    return manifest


def find_snapshot(path: str | Path) -> Path:
    """The newest intact snapshot at `path` (a checkpoint root or one snapshot folder).

    Tries the one `latest` names, then the others newest first; warns about each damaged one skipped.
    """
    path = Path(path)
    if _SNAP_RE.match(path.name) and path.is_dir():
        verify_snapshot(path)
        return path
    if not path.is_dir():
        raise CheckpointError(f"checkpoint folder not found: {path}")
    candidates = list_snapshots(path)
    try:
        named = path / (path / LATEST).read_text().strip()
        if named in candidates:
            candidates.remove(named)
            candidates.insert(0, named)
    except OSError:
        pass
    problems = []
    for snap in candidates:
        try:
            verify_snapshot(snap)
        except CheckpointError as exc:
            problems.append(str(exc))
            warnings.warn(f"skipping damaged checkpoint snapshot: {exc}", RuntimeWarning, stacklevel=2)
            continue
        return snap
    detail = ("; ".join(problems)) if problems else "no snapshot folders (snap-*) in it"
    raise CheckpointError(f"no loadable checkpoint in {path}: {detail}")


# -- optimizer state as safetensors + JSON ------------------------------------------------------------
def pack_optimizer(optimizer: torch.optim.Optimizer, names: Mapping[torch.Tensor, str]
                   ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer's state into tensors keyed `param_name/key` and a JSON-able rest."""
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for p, st in optimizer.state.items():
        pname = names[p]
        for key, value in st.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{pname}/{key}"] = value.detach().contiguous().cpu()
            else:
                plain.setdefault(pname, {})[key] = value
    groups = []
    for g in optimizer.param_groups:
        group = {k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items() if k != "params"}
        group["params"] = [names[p] for p in g["params"]]
        groups.append(group)
    return tensors, {"class": type(optimizer).__name__, "param_groups": groups, "plain_state": plain}


def unpack_optimizer(optimizer: torch.optim.Optimizer, names: Mapping[torch.Tensor, str],
                     tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> None:
    """Restore what pack_optimizer saved; parameters are matched by name, not position."""
    if meta.get("class") != type(optimizer).__name__:
        raise CheckpointError(f"optimizer mismatch: checkpoint has {meta.get('class')}, "
                              f"trainer uses {type(optimizer).__name__}")
    index = {}
    for g in optimizer.param_groups:
        for p in g["params"]:
            index[names[p]] = len(index)
    saved_groups = meta["param_groups"]
    if [list(g["params"]) for g in saved_groups] != [[names[p] for p in g["params"]]
                                                     for g in optimizer.param_groups]:
        raise CheckpointError("optimizer parameters in the checkpoint do not match the model's")
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        pname, skey = key.rsplit("/", 1)
        state.setdefault(index[pname], {})[skey] = value
    for pname, rest in meta.get("plain_state", {}).items():
        state.setdefault(index[pname], {}).update(rest)
    groups = []
    for g in saved_groups:
        group = dict(g)
        group["params"] = [index[n] for n in g["params"]]
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
        groups.append(group)
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    # Keep each state tensor in its parameter's memory layout (e.g. channels_last), as a fresh run has.
    for p, st in optimizer.state.items():
        for k, v in list(st.items()):
            if isinstance(v, torch.Tensor) and v.shape == p.shape and v.dim() == 4:
                st[k] = torch.empty_like(p, dtype=v.dtype).copy_(v)


# -- RNG state ----------------------------------------------------------------------------------------
def rng_state(device: torch.device, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """torch's global CPU RNG, the device's global RNG (CUDA) and the trainer's data generator."""
    out = {"torch_cpu": torch.get_rng_state()}
    if device.type == "cuda":
        out["torch_cuda"] = torch.cuda.get_rng_state(device)
    if generator is not None:
        out["data_generator"] = generator.get_state()
        out["data_generator_device"] = torch.tensor([0 if generator.device.type == "cpu" else 1])
    return out


def set_rng_state(state: Mapping[str, torch.Tensor], device: torch.device,
                  generator: torch.Generator | None = None) -> list[str]:
    """Restore what rng_state saved; returns the names that could not be restored (device changed)."""
    skipped = []
    torch.set_rng_state(state["torch_cpu"])
    if device.type == "cuda":
        if "torch_cuda" in state:
            torch.cuda.set_rng_state(state["torch_cuda"], device)
        else:
            skipped.append("torch_cuda")
    if generator is not None and "data_generator" in state:
        same_kind = int(state["data_generator_device"][0]) == (0 if generator.device.type == "cpu" else 1)
        if same_kind:
            generator.set_state(state["data_generator"])
        else:
            skipped.append("data_generator")
    return skipped
