"""Read a Keras 3 `.keras` archive as faceswap saves it: the layer graph and every weight, by layer name.

A `.keras` file is a zip holding `config.json` (the layer graph), `metadata.json` (Keras version) and
`model.weights.h5`. In the h5 file a layer's variables sit at `layers/<key>/vars/<i>`, where `<key>` is
the layer's class name in snake case, numbered `_1`, `_2`, ... among siblings of the same class in the
order the container lists them, and a nested model's layers sit under its own key (`layers/functional_3/
layers/conv2d/vars/0`). (Source: Keras 3 `saving_lib`, the format faceswap acdcfa8 writes.) Weights are
read as float32 numpy arrays in Keras' layouts (conv kernels HWIO, dense kernels (in, out)). Nothing is
unpickled: the config is JSON, the weights are plain h5 datasets.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


class FaceswapFileError(ValueError):
    """A faceswap file (model, state, preset, ini) that phazelab cannot read, with the reason."""


@dataclass
class KerasLayer:
    """One layer of a sub-model: faceswap's layer name, Keras class, its config, inputs and weights."""

    name: str
    class_name: str
    config: dict[str, Any]
    inbound: list[str]
    weights: list[np.ndarray] = field(default_factory=list)
    h5_path: str = ""


@dataclass
class KerasArchive:
    """A `.keras` model: top-level layers (faceswap's block names) to their inner layers, plus metadata."""

    path: Path
    name: str
    keras_version: str
    blocks: dict[str, list[KerasLayer]]
    top_level: list[KerasLayer]
    input_shapes: list[list[int | None]]

    def weight_count(self) -> int:
        return sum(w.size for layers in self.blocks.values() for layer in layers for w in layer.weights)


def snake_case(class_name: str) -> str:
    """Keras' key for a class name: 'Conv2DTranspose' -> 'conv2d_transpose'."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _keys(layers: list[dict[str, Any]]) -> list[str]:
    counts: dict[str, int] = {}
    keys = []
    for layer in layers:
        base = snake_case(layer["class_name"])
        n = counts.get(base, 0)
        counts[base] = n + 1
        keys.append(base if n == 0 else f"{base}_{n}")
    return keys


def _inbound(layer: dict[str, Any]) -> list[str]:
    names: list[str] = []

    def walk(a: Any) -> None:
        if isinstance(a, dict) and a.get("class_name") == "__keras_tensor__":
            names.append(a["config"]["keras_history"][0])
        elif isinstance(a, dict):
            for v in a.values():
                walk(v)
        elif isinstance(a, (list, tuple)):
            for v in a:
                walk(v)

    for node in layer.get("inbound_nodes", []):
        walk(node.get("args", []))
    return names


def _read_vars(h5: Any, path: str, where: str) -> list[np.ndarray]:
    if path not in h5:
        raise FaceswapFileError(f"{where}: layer weights missing from model.weights.h5 (no group {path!r}); "
                                "the file is partial or was not written by Keras 3")
    group = h5[path]
    if "vars" not in group:
        return []
    out = []
    for i in range(len(group["vars"])):
        if str(i) not in group["vars"]:
            raise FaceswapFileError(f"{where}: variable {i} missing at {path}/vars")
        out.append(np.asarray(group["vars"][str(i)][()], dtype=np.float32))
    return out


def read_keras(path: str | Path) -> KerasArchive:
    """Read a faceswap `.keras` file.

    Raises FaceswapFileError naming the file for: a missing file, a faceswap 2.x `.h5` model (not
    supported), a file that is not a zip, a zip without config.json / model.weights.h5, unreadable JSON
    or h5, and a layer whose weights are absent from the h5 file.
    """
    import h5py

    p = Path(path)
    if not p.is_file():
        raise FaceswapFileError(f"{p}: no such file")
    with open(p, "rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"\x89HDF\r\n\x1a\n") or p.suffix.lower() == ".h5":
        raise FaceswapFileError(
            f"{p}: this is a faceswap 2.x (TensorFlow / Keras 2) .h5 model, which phazelab does not read. "
            "Open the model once in faceswap 3 (Keras 3), which saves it as phaze_a.keras, and import that.")
    if not zipfile.is_zipfile(p):
        raise FaceswapFileError(f"{p}: not a Keras 3 .keras archive (not a zip file; truncated or corrupted?)")
    try:
        with zipfile.ZipFile(p) as zf:
            names = set(zf.namelist())
            for needed in ("config.json", "model.weights.h5"):
                if needed not in names:
                    raise FaceswapFileError(f"{p}: the .keras archive has no {needed} (found {sorted(names)})")
            config = json.loads(zf.read("config.json"))
            meta = json.loads(zf.read("metadata.json")) if "metadata.json" in names else {}
            weights = zf.read("model.weights.h5")
    except (zipfile.BadZipFile, zlib_error(), EOFError, OSError) as exc:
        raise FaceswapFileError(f"{p}: cannot read the .keras archive ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise FaceswapFileError(f"{p}: config.json in the archive is not valid JSON ({exc})") from exc
    if config.get("class_name") != "Functional" or "layers" not in config.get("config", {}):
        raise FaceswapFileError(f"{p}: config.json does not describe a Keras functional model "
                                f"(class_name={config.get('class_name')!r})")
    root = config["config"]
    try:
        h5 = h5py.File(io.BytesIO(weights), "r")
    except OSError as exc:
        raise FaceswapFileError(f"{p}: model.weights.h5 in the archive is not a readable h5 file ({exc})") from exc
    try:
        with h5:
            return _read_layers(p, root, h5, meta)
    except FaceswapFileError:
        raise
    except (OSError, KeyError, RuntimeError, ValueError, TypeError) as exc:  # damaged h5 / config contents
        raise FaceswapFileError(f"{p}: the archive's layer graph or weights are damaged ({type(exc).__name__}: "
                                f"{exc})") from exc


def _read_layers(p: Path, root: dict[str, Any], h5: Any, meta: dict[str, Any]) -> KerasArchive:
    """Every top-level layer and every block's inner layers with their weights (read_keras's work)."""
    top_keys = _keys(root["layers"])
    blocks: dict[str, list[KerasLayer]] = {}
    top: list[KerasLayer] = []
    for key, layer in zip(top_keys, root["layers"]):
        top.append(KerasLayer(layer["name"], layer["class_name"], layer.get("config", {}), _inbound(layer),
                              h5_path=f"layers/{key}"))
        if layer["class_name"] not in ("Functional", "Sequential", "Model"):
            where = f"{p.name}: layer {layer['name']!r}"
            top[-1].weights = _read_vars(h5, f"layers/{key}", where) if f"layers/{key}" in h5 else []
            if top[-1].weights:
                raise FaceswapFileError(f"{where} ({layer['class_name']}) holds weights outside a Phaze-A "
                                        "block; this is not a faceswap Phaze-A model")
            continue
        inner = layer["config"].get("layers", [])
        inner_layers = []
        for ikey, il in zip(_keys(inner), inner):
            h5_path = f"layers/{key}/layers/{ikey}"
            where = f"{p.name}: block {layer['name']!r} layer {il['name']!r} ({il['class_name']})"
            inner_layers.append(KerasLayer(il["name"], il["class_name"], il.get("config", {}), _inbound(il),
                                           _read_vars(h5, h5_path, where), h5_path))
        blocks[layer["name"]] = inner_layers
    inputs = [lay.config.get("batch_shape") or lay.config.get("batch_input_shape") or []
              for lay in top if lay.class_name == "InputLayer"]
    return KerasArchive(p, root.get("name", ""), str(meta.get("keras_version", "")), blocks, top, inputs)




def zlib_error() -> type[Exception]:
    import zlib

    return zlib.error
