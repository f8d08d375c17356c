"""`import_faceswap`: a faceswap-trained Phaze-A model folder → a normal phazelab PhazeA.

The options come from faceswap's state file (`phaze_a_state.json`, key "config": faceswap's global and
Phaze-A options the model was built with); the weights from `phaze_a.keras`. Every weight is mapped
(phazelab/faceswap/mapping.py) before any is loaded. faceswap's fs_original encoder is trained on BGR
faces (faceswap reads frames with OpenCV) and its decoders output BGR; by default the importer reorders
the first encoder conv's input channels and the face outputs' channels so the imported model takes and
gives RGB like every phazelab model — the same computation, channels permuted. `color_order="bgr"`
keeps faceswap's order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..config import ConfigError, PhazeAConfig
from ..model import PhazeA
from .archive import FaceswapFileError, KerasArchive, read_keras
from .mapping import map_weights

MODEL_FILE, STATE_FILE = "phaze_a.keras", "phaze_a_state.json"
PHAZE_A_BLOCKS = {"encoder", "fc_a", "fc_b", "fc_both", "fc_shared", "fc_gblock", "g_block_a", "g_block_b",
                  "g_block_both", "decoder_a", "decoder_b", "decoder_both"}
FACESWAP_COLOR_ORDER = "bgr"  # fs_original's input order in faceswap (fixture README, faceswap's cv2 loader)


def example_model(name: str = "default_lab_tiny") -> Path:
    """A Phaze-A model folder saved by faceswap itself, from the project's test fixtures
    (`../shared/fixtures/faceswap/<name>` next to the repository), for trying the import without a
    model of one's own. Raises FaceswapFileError if the fixtures are not there."""
    root = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "faceswap"
    folder = root / name
    if not (folder / MODEL_FILE).is_file():
        found = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
        raise FaceswapFileError(f"no example faceswap model {name!r} at {folder} (the fixtures live in "
                                f"../shared/fixtures/faceswap next to the repository; found {found})")
    return folder


def _paths(path: str | Path) -> tuple[Path, Path]:
    p = Path(path)
    if p.is_dir():
        model, state = p / MODEL_FILE, p / STATE_FILE
        if not model.is_file():
            h5 = p / "phaze_a.h5"
            if h5.is_file():
                return h5, state
            found = sorted(x.name for x in p.iterdir())[:10]
            raise FaceswapFileError(f"{p}: no {MODEL_FILE} here (a faceswap Phaze-A model folder holds "
                                    f"{MODEL_FILE} and {STATE_FILE}; found {found})")
        return model, state
    if not p.exists():
        raise FaceswapFileError(f"{p}: no such file or folder")
    stem = p.stem
    return p, p.with_name(f"{stem}_state.json")


def read_state(path: str | Path) -> dict[str, Any]:
    """faceswap's `<name>_state.json` as a dict; FaceswapFileError if missing, not JSON or not Phaze-A's."""
    p = Path(path)
    if not p.is_file():
        raise FaceswapFileError(f"{p}: faceswap's state file is missing; phazelab reads the options the model "
                                f"was built with from it (faceswap writes it beside {MODEL_FILE})")
    try:
        state = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FaceswapFileError(f"{p}: not a faceswap state file (not valid JSON: {exc})") from exc
    if not isinstance(state, dict) or "config" not in state:
        raise FaceswapFileError(f"{p}: not a faceswap state file (no 'config' with the model's options)")
    name = state.get("name")
    if name != "phaze_a":
        raise FaceswapFileError(f"{p}: the state file of faceswap's {name!r} model, not of Phaze-A "
                                "('name' must be 'phaze_a'); phazelab imports Phaze-A models only")
    return state


def options_from_state(state: dict[str, Any]) -> tuple[PhazeAConfig, list[str]]:
    """The PhazeAConfig in a state file's "config" and the sorted names of the options it ignored
    (faceswap's training options, which do not change the model). Raises ConfigError for bad values."""
    names = set(PhazeAConfig.__dataclass_fields__)
    raw = state["config"]
    values = {k: v for k, v in raw.items() if k in names}
    ignored = sorted(k for k in raw if k not in names)
    return PhazeAConfig.from_dict(values), ignored


def defaulted_options(state: dict[str, Any]) -> list[str]:
    """Phaze-A options absent from the state file (an older faceswap): built with faceswap's defaults."""
    return sorted(set(PhazeAConfig.__dataclass_fields__) - set(state["config"]))


def _check_archive(archive: KerasArchive, cfg: PhazeAConfig) -> None:
    if archive.name != "phaze_a":
        raise FaceswapFileError(f"{archive.path}: a .keras of faceswap's {archive.name!r} model, not of Phaze-A "
                                "(faceswap names a Phaze-A model 'phaze_a'); phazelab imports Phaze-A only")
    blocks = set(archive.blocks)
    if not blocks or not blocks <= PHAZE_A_BLOCKS or "encoder" not in blocks:
        raise FaceswapFileError(
            f"{archive.path}: not a faceswap Phaze-A model: its blocks are {sorted(blocks)} (model "
            f"{archive.name!r}); Phaze-A's are named {sorted(PHAZE_A_BLOCKS)}")
    for shape in archive.input_shapes:
        if len(shape) == 4 and shape[1] != cfg.encoder_input_size:
            raise FaceswapFileError(f"{archive.path}: input is {shape[1]}px, but the state file's options "
                                    f"(enc_scaling={cfg.enc_scaling}) give {cfg.encoder_input_size}px")


def _to_rgb(model: PhazeA) -> None:
    """Permute channels so a BGR-trained model takes and gives RGB (exactly the same computation)."""
    with torch.no_grad():
        first = model.blocks["encoder"].features.convs[0][0]
        first.weight.copy_(first.weight.flip(1))
        for name, block in model.blocks.items():
            if name.startswith("decoder"):
                block.face.conv.weight.copy_(block.face.conv.weight.flip(0))
                block.face.conv.bias.copy_(block.face.conv.bias.flip(0))


def import_faceswap(path: str | Path, color_order: str = "rgb") -> PhazeA:
    """Read a faceswap Phaze-A model into phazelab.

    path: a faceswap model folder (phaze_a.keras + phaze_a_state.json) or the .keras file (its state
    file beside it). color_order: "rgb" (default: the model takes RGB faces in [0, 1], NCHW, like every
    phazelab model) or "bgr" (faceswap's own channel order, unchanged). Returns a PhazeA in eval mode;
    its `faceswap_origin` dict (source, iterations, sessions, colour orders, ignored options) is written
    to meta.json by `phazelab.save`.

    Raises FaceswapFileError for a missing, corrupted, partial, faceswap 2.x (.h5) or non-Phaze-A file
    and for any weight that does not map (naming the block, the layer and both shapes); ConfigError for
    option values faceswap would not accept; NotSupportedError for encoders phazelab cannot build.
    """
    if color_order not in ("rgb", "bgr"):
        raise ConfigError(f"color_order must be 'rgb' or 'bgr', got {color_order!r}")
    model_file, state_file = _paths(path)
    if model_file.suffix.lower() == ".h5":
        read_keras(model_file)  # raises the clear faceswap 2.x message
    state = read_state(state_file)
    cfg, ignored = options_from_state(state)
    if state["config"].get("reflect_padding") is True:
        raise FaceswapFileError(
            f"{state_file}: the model was built with reflect_padding=True (faceswap pads its convs by "
            "reflection); phazelab's convs zero-pad, so the import would compute something else: refused")
    if cfg.learn_mask:
        raise FaceswapFileError(
            f"{state_file}: the model was trained with learn_mask=True (faceswap adds a mask output to "
            "each decoder); importing learned-mask decoders is not supported yet, and phazelab will not "
            "drop them silently")
    archive = read_keras(model_file)
    _check_archive(archive, cfg)
    model = PhazeA(cfg)
    states = map_weights(model, archive)
    full = {f"blocks.{b}.{k}": v for b, sd in states.items() for k, v in sd.items()}
    expected = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    if set(full) != expected:
        missing = sorted(expected - set(full))
        raise FaceswapFileError(f"{model_file}: weights for {missing[:5]} were not found in the file")
    model.load_state_dict(full, strict=False)
    if color_order == "rgb":
        _to_rgb(model)
    sessions = state.get("sessions", {})
    model.faceswap_origin = {
        "source": str(model_file.resolve()),
        "state_file": str(state_file.resolve()),
        "keras_version": archive.keras_version,
        "iterations": int(state.get("iterations", 0)),
        "sessions": len(sessions),
        "session_iterations": {k: v.get("iterations") for k, v in sessions.items() if isinstance(v, dict)},
        "faceswap_color_order": FACESWAP_COLOR_ORDER,
        "input_color_order": color_order,
        "ignored_options": ignored,
        "defaulted_options": defaulted_options(state),
        "weights": archive.weight_count(),
    }
    return model.eval()
