"""TensorBoard event logs of a training run, as faceswap writes them for its users.

faceswap writes one TensorBoard log folder per training session under the model folder
(`<model>_logs/session_<n>`). phazelab does the same under the run folder: `RUN/logs/session_<n>`, with
torch.utils.tensorboard's SummaryWriter (the `tensorboard` package), read with `tensorboard --logdir
RUN/logs`. Written (x axis: the training step):

- scalars `loss/total`, `loss/side_a`, `loss/side_b`, `loss/side_a/<term>`, `loss/side_b/<term>`
  (each loss term, e.g. ssim, mse), `train/lr`, `train/images_per_s`, `train/frozen_blocks` (count);
- image `preview`: the trainer's preview grid (rows A, A→A, A→B, B, B→B, B→A), (3, H, W) in [0, 1];
- text `events`: each freeze / unfreeze / load / lr change from `Trainer.events` ("freeze encoder
  (request)"), at the step it happened.

The logger hooks into a Trainer only through its `on_metrics` and `on_preview` callback lists and reads
`Trainer.events`; it adds nothing to the training loop.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import torch


def next_session_dir(root: str | Path) -> Path:
    """`root/session_<n>` for the first n ≥ 1 not yet used (faceswap numbers its sessions the same way)."""
    root = Path(root)
    used = [int(m.group(1)) for p in root.glob("session_*") if (m := re.fullmatch(r"session_(\d+)", p.name))]
    return root / f"session_{max(used, default=0) + 1}"


class TensorBoardLogger:
    """Write a trainer's metrics, previews and freeze/unfreeze events as TensorBoard events.

    log_dir: the session folder to write (see `next_session_dir`). Call `attach(trainer)` before
    training and `close()` after it (also usable as a context manager). Thread-safe: the trainer calls
    back from its training thread.
    """

    def __init__(self, log_dir: str | Path, flush_secs: int = 30) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = Path(log_dir)
        self.writer = SummaryWriter(log_dir=str(self.log_dir), flush_secs=flush_secs)
        self._trainer: Any = None
        self._events_seen = 0
        self._lock = threading.Lock()

    def attach(self, trainer: Any) -> TensorBoardLogger:
        """Register on `trainer.on_metrics` / `trainer.on_preview`. Events of earlier steps (earlier
        sessions of a resumed run) are not written again; those at the current step (e.g. a freeze
        before training starts) are."""
        self._trainer = trainer
        self._events_seen = sum(1 for e in trainer.events if e["step"] < trainer.step)
        trainer.on_metrics.append(self.log_metrics)
        trainer.on_preview.append(self.log_preview)
        return self

    def log_metrics(self, record: dict[str, Any]) -> None:
        """One history record of the Trainer: {"step", "loss", "loss_a", "loss_b", "<term>_a", ...,
        "img_per_s", "lr", "frozen"}."""
        step = int(record["step"])
        with self._lock:
            self._log_events()
            w = self.writer
            w.add_scalar("loss/total", record["loss"], step)
            for side in "ab":
                w.add_scalar(f"loss/side_{side}", record[f"loss_{side}"], step)
            for key, value in record.items():
                m = re.fullmatch(r"(.+)_([ab])", key)
                if m and key not in ("loss_a", "loss_b") and isinstance(value, (int, float)):
                    w.add_scalar(f"loss/side_{m.group(2)}/{m.group(1)}", value, step)
            w.add_scalar("train/lr", record["lr"], step)
            w.add_scalar("train/images_per_s", record["img_per_s"], step)
            w.add_scalar("train/frozen_blocks", len(record.get("frozen", [])), step)

    def log_preview(self, step: int, grid: torch.Tensor) -> None:
        """The preview grid, (3, H, W) float in [0, 1]."""
        with self._lock:
            self._log_events()
            self.writer.add_image("preview", grid.detach().float().clamp(0, 1).cpu(), int(step),
                                  dataformats="CHW")

    def _log_events(self) -> None:
        if self._trainer is None:
            return
        events = self._trainer.events
        for event in events[self._events_seen:]:
            blocks = ", ".join(event.get("blocks") or []) or "-"
            text = f"{event['kind']} {blocks} ({event.get('detail')})"
            self.writer.add_text("events", text, int(event["step"]))
        self._events_seen = len(events)

    def close(self) -> None:
        """Write events not yet written, flush and close the files."""
        with self._lock:
            self._log_events()
            self.writer.flush()
            self.writer.close()

    def __enter__(self) -> TensorBoardLogger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_events(log_dir: str | Path) -> dict[str, Any]:
    """Read a session folder back with tensorboard's own event reader (EventAccumulator).

    Returns {"scalars": {tag: [(step, value), ...]}, "images": {tag: [(step, width, height)]},
    "text": {tag: [(step, str)]}}.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    out: dict[str, Any] = {"scalars": {}, "images": {}, "text": {}}
    for tag in tags.get("scalars", []):
        out["scalars"][tag] = [(e.step, e.value) for e in acc.Scalars(tag)]
    for tag in tags.get("images", []):
        out["images"][tag] = [(e.step, e.width, e.height) for e in acc.Images(tag)]
    for tag in tags.get("tensors", []):
        out["text"][tag.split("/")[0]] = [(e.tensor_proto.string_val[0].decode(), e.step)[::-1]
                                          for e in acc.Tensors(tag)]
    return out
