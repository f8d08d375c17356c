"""FaceFolder: odd and broken files made here, clear errors, the source folder never written."""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from phazelab.data import FaceFolder, FaceSource, make_source


def _snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    """Every entry's mtime (ns) and every file's content hash: what 'never written' means."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns,
                                         hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir")
            for p in sorted(folder.rglob("*"))} | {".": (folder.stat().st_mtime_ns, "dir")}


@pytest.fixture
def odd_folder(tmp_path: Path) -> Path:
    """One file per odd case, with known colours so conversions can be checked."""
    d = tmp_path / "faces"
    d.mkdir()
    Image.new("RGB", (40, 40), (200, 100, 50)).save(d / "a_rgb.png")
    Image.new("L", (40, 40), 128).save(d / "b_gray.jpg", quality=100)
    rgba = Image.new("RGBA", (40, 40), (255, 0, 0, 255))
    rgba.paste((0, 0, 255, 0), (0, 0, 20, 40))  # left half fully transparent
    rgba.save(d / "c_rgba.png")
    Image.fromarray(np.full((40, 40), 65535 // 2, dtype=np.uint16)).save(d / "d_gray16.png")  # 16-bit
    Image.new("RGB", (60, 40), (10, 200, 10)).save(d / "e_wide.webp", lossless=True)
    Image.new("P", (40, 40), 3).save(d / "f_palette.png")
    good = (d / "a_rgb.png").read_bytes()
    (d / "g_truncated.png").write_bytes(good[: len(good) // 2])
    (d / "h_not_really.jpg").write_text("this is not an image")
    (d / "notes.txt").write_text("ignored: not an image suffix")
    (d / ".hidden.png").write_bytes(good)
    (d / "sub").mkdir()
    Image.new("RGB", (40, 40)).save(d / "sub" / "nested.png")  # not loaded: not recursive
    return d


def test_odd_files_load_or_are_skipped_with_one_warning(odd_folder):
    before = _snapshot(odd_folder)
    with pytest.warns(UserWarning) as caught:
        folder = FaceFolder(odd_folder, size=32, progress=False)
    messages = [str(w.message) for w in caught if "skipped" in str(w.message)]
    assert len(messages) == 1
    assert "g_truncated.png" in messages[0] and "h_not_really.jpg" in messages[0]
    assert sorted(folder.skipped) == ["g_truncated.png", "h_not_really.jpg"]
    assert [p.name for p in folder.files] == ["a_rgb.png", "b_gray.jpg", "c_rgba.png", "d_gray16.png",
                                              "e_wide.webp", "f_palette.png"]
    assert len(folder) == 6 and isinstance(folder, FaceSource)
    assert folder.cache.dtype == torch.uint8 and folder.cache.shape == (6, 3, 32, 32)
    px = folder.cache[:, :, 16, :].float()  # middle row of each image, (6, 3, 32)
    assert px[0, :, 5].tolist() == [200.0, 100.0, 50.0]  # rgb unchanged
    assert (px[1] - 128).abs().max() <= 2  # grayscale replicated to 3 channels
    assert px[2, :, 2].tolist() == [0.0, 0.0, 0.0] and px[2, :, 29].tolist() == [255.0, 0.0, 0.0]  # alpha
    assert (px[3] - 127).abs().max() <= 1  # 16-bit scaled, not clipped to white
    assert px[4, :, 16].tolist() == [10.0, 200.0, 10.0]  # non-square: centre crop
    assert _snapshot(odd_folder) == before  # nothing written, nothing touched


def test_batches_are_deterministic_floats_in_range(odd_folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folder = FaceFolder(odd_folder, size=32, progress=False)
    a = folder.batch(10, torch.Generator().manual_seed(3), size=16)
    b = folder.batch(10, torch.Generator().manual_seed(3), size=16)
    assert a.shape == (10, 3, 16, 16) and a.dtype == torch.float32
    assert torch.equal(a, b) and a.min() >= 0 and a.max() <= 1
    full = folder.batch(10, torch.Generator().manual_seed(3), size=32)
    assert set(torch.unique((full * 255).round()).tolist()) <= set(range(256))
    # a batch at the stored size is exactly the stored images
    idx = torch.randint(len(folder), (10,), generator=torch.Generator().manual_seed(3))
    assert torch.equal(full, folder.cache[idx].float() / 255)
    assert torch.equal(folder.images([0], size=32), folder.cache[:1].float() / 255)


def test_clear_errors_for_missing_empty_and_unusable_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        FaceFolder(tmp_path / "nope", progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="contains no image files"):
        FaceFolder(empty, progress=False)
    a_file = tmp_path / "face.png"
    Image.new("RGB", (8, 8)).save(a_file)
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        FaceFolder(a_file, progress=False)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (broken / "y.jpg").write_text("nope")
    with pytest.raises(ValueError, match="no usable image") as err:
        FaceFolder(broken, progress=False)
    assert "x.png" in str(err.value) and "y.jpg" in str(err.value)
    with pytest.raises(ValueError, match="size"):
        FaceFolder(broken, size=0, progress=False)


def test_make_source_reads_a_folder_and_rejects_bad_specs(tmp_path):
    d = tmp_path / "synthetic_lookalike"  # a folder whose name starts like the synthetic spec
    d.mkdir()
    for i in range(3):
        Image.new("RGB", (20, 20), (i * 80, 0, 0)).save(d / f"{i}.png")
    os.chmod(d, 0o555)  # read-only: loading must not need to write
    try:
        src = make_source(str(d), size=20, progress=False)
    finally:
        os.chmod(d, 0o755)
    assert isinstance(src, FaceFolder) and src.name == str(d) and len(src) == 3
    with pytest.raises(ValueError, match="synthetic:<identity id>"):
        make_source("synthetic:x")
