"""Outputs must never become inputs: a run folder may not be, or lie inside, a face folder (or hold one).

A run writes checkpoints, a model, metrics and `preview.png` into its folder; inside a face folder the
preview mosaic would be read back as a training face on the next load, and the user's faces would be mixed
with generated files. Face folders are only ever read.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["OutputFolderError", "check_output_folder", "face_folder_paths"]


class OutputFolderError(ValueError):
    """An output folder overlaps a face folder source."""


def _resolved(path: str | Path) -> Path:
    return Path(path).expanduser().resolve()


def face_folder_paths(sources: Iterable[Any]) -> list[Path]:
    """The folders among face sources: FaceFolder objects (their `.path`) or source specs that are not
    ``synthetic:<id>`` (a spec is a folder path)."""
    out = []
    for src in sources:
        if src is None:
            continue
        if isinstance(src, (str, Path)):
            if str(src) == "synthetic" or str(src).startswith("synthetic:"):
                continue
            out.append(_resolved(src))
        elif getattr(src, "path", None) is not None:
            out.append(_resolved(src.path))
    return out


def check_output_folder(out: str | Path, sources: Iterable[Any], what: str = "output folder") -> None:
    """Raise OutputFolderError if `out` is a face folder of `sources`, lies inside one, or contains one.

    `what` names the option in the message (e.g. "--out", "checkpoint_dir").
    """
    target = _resolved(out)
    for folder in face_folder_paths(sources):
        if target == folder:
            relation = "is the face folder"
        elif target.is_relative_to(folder):
            relation = "is inside the face folder"
        elif folder.is_relative_to(target):
            relation = "contains the face folder"
        else:
            continue
        raise OutputFolderError(
            f"{what} {str(out)!r} {relation} {str(folder)!r}: a run writes checkpoints, a model and "
            "preview images there, and they would be read back as training faces. Choose a folder outside "
            "the face folders (face folders are only ever read).")
