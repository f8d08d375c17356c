"""Outputs never become inputs (issue 17.7): a run folder that is, is inside, or contains a face folder is
refused before anything is written; nothing is ever written into a face folder."""


import numpy as np
import pytest
from PIL import Image

from phazelab import PhazeA, PhazeAConfig
from phazelab.cli import main
from phazelab.data import FaceFolder, make_source
from phazelab.data.outputs import OutputFolderError, check_output_folder
from phazelab.train import Trainer

MICRO = PhazeAConfig.preset("lab-tiny").replace(dec_res_blocks=0, fs_original_min_filters=16, dec_min_filters=16)


def _cli(*argv: str) -> int:
    return main(list(argv))  # the real entry point, as `phazelab ...` runs it


@pytest.fixture()
def faces(tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def listing(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("where", ["same", "inside", "deep inside", "parent"])
def test_cli_refuses_an_out_folder_overlapping_a_face_folder(faces, tmp_path, capsys, where):
    out = {"same": faces, "inside": faces / "run", "deep inside": faces / "a" / "b",
           "parent": tmp_path}[where]
    before = listing(faces)
    for side in ("--a", "--b"):
        other = "--b" if side == "--a" else "--a"
        code = _cli("train", side, str(faces), other, "synthetic:1", "--preset", "lab-tiny", "--steps", "1",
                    "--batch", "1", "--out", str(out), "--quiet", "--device", "cpu")
        assert code == 2
        err = capsys.readouterr().err
        assert "--out" in err and "face folder" in err and str(faces) in err
    assert listing(faces) == before  # nothing was written there


def test_resume_refuses_too(faces, tmp_path, capsys):
    # a run whose saved source is a face folder, moved so that its folder now sits inside the faces
    assert _cli("train", "--a", str(faces), "--b", "synthetic:1", "--config", _micro(tmp_path), "--steps", "1",
                "--batch", "1", "--out", str(tmp_path / "run"), "--quiet", "--device", "cpu") == 0
    (tmp_path / "run").rename(faces / "run")
    before = listing(faces)
    assert _cli("train", "--out", str(faces / "run"), "--steps", "2", "--resume", "--quiet", "--device",
                "cpu") == 2
    assert "is inside the face folder" in capsys.readouterr().err
    assert listing(faces) == before


def _micro(tmp_path) -> str:
    path = tmp_path / "micro.json"
    path.write_text(MICRO.to_json())
    return str(path)


def test_trainer_refuses_a_checkpoint_dir_inside_a_face_folder(faces):
    src = FaceFolder(faces, size=32, progress=False)
    with pytest.raises(OutputFolderError, match="checkpoint_dir"):
        Trainer(PhazeA(MICRO, seed=0), src, make_source("synthetic:1"), batch_size=1, device="cpu",
                checkpoint_dir=faces / "ckpt")
    check_output_folder(faces.parent / "elsewhere", [src, "synthetic:0"])  # a sibling folder is fine
    with pytest.raises(OutputFolderError, match="contains the face folder"):
        check_output_folder(faces.parent, [str(faces)])


def test_quiet_hides_the_face_folder_loading_bar(faces, tmp_path, capsys):
    """--quiet means no progress bars at all: not training's, not the face folder's loading bar."""
    common = ["--b", "synthetic:1", "--config", _micro(tmp_path), "--steps", "1", "--batch", "1", "--device", "cpu"]
    assert _cli("train", "--a", str(faces), *common, "--out", str(tmp_path / "loud")) == 0
    assert "loading faces" in capsys.readouterr().err
    assert _cli("train", "--a", str(faces), *common, "--out", str(tmp_path / "quiet"), "--quiet") == 0
    err = capsys.readouterr().err
    assert "loading" not in err and "step/s" not in err and "it/s" not in err
