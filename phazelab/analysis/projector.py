"""A block's latents for the TensorBoard Projector: vectors, metadata (identity, pose, ...) and a sprite.

`export_projector` writes, with torch.utils.tensorboard's `add_embedding`, under `log_dir`:
`projector_config.pbtxt` and `<step>/<tag>/{tensors.tsv, metadata.tsv, sprite.png}` — open it with
`tensorboard --logdir LOG_DIR` → Projector tab. Each point carries its metadata row (e.g. identity, side,
yaw, pitch) to colour or search by, and its face thumbnail from the sprite. `read_projector` reads such a
folder back (the round trip the tests check).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

SPRITE_MAX = 8192  # TensorBoard's Projector refuses sprites larger than 8192 × 8192 px


def _metadata_rows(frame: pd.DataFrame) -> tuple[list[list[str]], list[str]]:
    columns = [str(c) for c in frame.columns]
    rows = [[(f"{v:.4g}" if isinstance(v, float) else str(v)).replace("\t", " ") for v in row]
            for row in frame.itertuples(index=False)]
    return rows, columns


def export_projector(log_dir: str | Path, vectors: np.ndarray | torch.Tensor, metadata: pd.DataFrame,
                     images: torch.Tensor | None = None, tag: str = "latents", thumb: int = 64) -> Path:
    """Write one embedding for the Projector; returns `log_dir`.

    vectors: (N, D) float. metadata: N rows, one column per label (at least one column). images:
    optional (N, 3, H, W) float in [0, 1] (RGB), resized to `thumb` px (smaller when N is large, so the
    sprite stays within 8192 px). Raises ValueError on mismatched lengths or shapes.
    """
    from torch.utils.tensorboard import SummaryWriter

    mat = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
    if mat.ndim != 2:
        raise ValueError(f"export_projector: vectors must be (N, D), got {list(mat.shape)}")
    n = mat.shape[0]
    if len(metadata) != n or metadata.shape[1] < 1:
        raise ValueError(f"export_projector: metadata has {len(metadata)} rows × {metadata.shape[1]} columns "
                         f"for {n} vectors (need {n} rows, ≥ 1 column)")
    label_img = None
    if images is not None:
        images = torch.as_tensor(images).float()
        if images.ndim != 4 or images.shape[0] != n or images.shape[1] != 3:
            raise ValueError(f"export_projector: images must be ({n}, 3, H, W), got {list(images.shape)}")
        side = min(thumb, SPRITE_MAX // math.ceil(math.sqrt(n)))
        label_img = F.interpolate(images.clamp(0, 1), size=(side, side), mode="bilinear", align_corners=False,
                                  antialias=True).clamp(0, 1)
    rows, columns = _metadata_rows(metadata)
    if len(columns) == 1:  # a single column is written without a header row
        rows = [r[0] for r in rows]
    writer = SummaryWriter(log_dir=str(log_dir))
    try:
        writer.add_embedding(mat, metadata=rows, label_img=label_img, tag=tag,
                             metadata_header=columns if len(columns) > 1 else None)
    finally:
        writer.close()
    return Path(log_dir)


def export_block(model: Any, images: torch.Tensor, metadata: pd.DataFrame, block: str, log_dir: str | Path,
                 side: str = "a", thumb: int = 64) -> Path:
    """`latents(model, images, [block], side=side)` exported for the Projector (tag = block name).
    images: (N, 3, S, S) at the model's input size, in [0, 1]; metadata: N label rows."""
    from .latents import latents

    lat = latents(model, images, [block], progress=False, side=side)
    return export_projector(log_dir, lat[block], metadata, images, tag=block.replace(".", "_"), thumb=thumb)


def read_projector(log_dir: str | Path, tag: str | None = None) -> dict[str, Any]:
    """Read an export back: {"tag", "vectors" (N, D) float32, "metadata" DataFrame, "sprite" (H, W, 3)
    uint8 or None, "thumb" (h, w) or None}. `tag` picks one embedding when there are several."""
    from google.protobuf import text_format
    from PIL import Image
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    root = Path(log_dir)
    config = text_format.Parse((root / "projector_config.pbtxt").read_text(), ProjectorConfig())
    embeddings = [e for e in config.embeddings if tag is None or e.tensor_name.startswith(tag)]
    if not embeddings:
        raise ValueError(f"{root}: no embedding {tag!r} in projector_config.pbtxt")
    emb = embeddings[-1]
    vectors = np.loadtxt(root / emb.tensor_path, delimiter="\t", dtype=np.float32, ndmin=2)
    meta = pd.read_csv(root / emb.metadata_path, sep="\t", dtype=str, keep_default_na=False)
    sprite = thumb = None
    if emb.sprite.image_path:
        sprite = np.asarray(Image.open(root / emb.sprite.image_path).convert("RGB"))
        thumb = tuple(emb.sprite.single_image_dim)
    return {"tag": emb.tensor_name, "vectors": vectors, "metadata": meta, "sprite": sprite, "thumb": thumb}


def sprite_tile(sprite: np.ndarray, index: int, thumb: Sequence[int]) -> np.ndarray:
    """The `index`-th thumbnail of a Projector sprite (row-major grid), (h, w, 3) uint8."""
    w, h = int(thumb[0]), int(thumb[1])
    per_row = sprite.shape[1] // w
    r, c = divmod(index, per_row)
    return sprite[r * h:(r + 1) * h, c * w:(c + 1) * w]
