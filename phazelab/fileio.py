"""Files written so that a crash never leaves a half-written one: atomic file and folder writes, JSON in
and out. The one home for durability in phazelab (models, checkpoints, banks, results, caches).

A file is written to a temp file in the same folder, fsynced and renamed over the target; a folder is
built as a temp folder and swapped in with the old one kept as a backup until the new one is in place
(`recover_dir` puts the backup back after a crash between the two renames). Files get the mode a plain
open()/mkdir() would give (umask applied), not mkstemp's private 0600/0700.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["atomic_dir", "atomic_write_bytes", "atomic_write_json", "atomic_write_text", "fsync_dir",
           "fsync_file", "read_json", "recover_dir"]


def fsync_dir(path: Path) -> None:
    """Persist a folder's entries (renames, new files): needed after os.replace on POSIX."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _umask() -> int:
    """The process umask, read without changing it where /proc allows (os.umask can only set it)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    old = os.umask(0o022)
    os.umask(old)
    return old


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename over `path`.

    mkstemp creates the temp file private (0600); it gets the mode a plain open() would have given
    (0666 less the umask), so saved files stay readable like any other file the user writes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _backup_of(path: Path) -> Path:
    return path.parent / f".{path.name}.previous"


def recover_dir(path: str | Path) -> Path:
    """If a crash struck between the two renames of `atomic_dir`, put the previous folder back."""
    path = Path(path)
    backup = _backup_of(path)
    if not path.exists() and backup.is_dir():
        os.rename(backup, path)
    return path


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temp folder; on success it replaces `path` (the old folder is kept until then)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    recover_dir(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it 0700; give it a plain mkdir's mode
        yield tmp
        mode = 0o666 & ~_umask()  # whatever wrote them (safetensors writes 0600): a plain file's mode
        for f in tmp.iterdir():
            if f.is_file():
                os.chmod(f, mode)
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        fsync_dir(tmp)
        backup = _backup_of(path)
        if backup.exists():
            shutil.rmtree(backup)
        if path.exists():
            os.rename(path, backup)
        os.rename(tmp, path)
        fsync_dir(path.parent)
        shutil.rmtree(backup, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise




def fsync_file(path: Path) -> None:
    """Flush one file's data to disk."""
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def atomic_write_json(path: str | Path, data: Any, indent: int | None = 1) -> None:
    """``data`` as JSON (paths and tuples allowed), written atomically."""
    atomic_write_text(path, json.dumps(data, indent=indent, default=json_default))


def json_default(obj: Any) -> Any:
    """JSON for the few non-JSON types phazelab records: paths (as strings) and tuples (as lists)."""
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def read_json(path: str | Path, error: type[Exception] = ValueError) -> Any:
    """Parse a JSON file; a missing or unreadable file raises ``error`` naming the file and the reason."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise error(f"{path}: cannot read JSON ({exc})") from exc
