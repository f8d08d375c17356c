"""TensorBoard Projector export of a block's latents (phazelab/analysis/projector.py): the round trip."""

import numpy as np
import pandas as pd
import pytest
import torch

from phazelab import PhazeA, PhazeAConfig
from phazelab.analysis.projector import export_block, export_projector, read_projector, sprite_tile
from phazelab.data import FaceWorld

pytestmark = pytest.mark.usefixtures("one_thread")


def test_export_round_trips_vectors_metadata_and_sprite(tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(6, 5)).astype(np.float32)
    meta = pd.DataFrame({"identity": [0, 0, 1, 1, 2, 2], "yaw": [0.1, -0.2, 0.3, 0.0, 0.5, -0.5]})
    images = torch.zeros(6, 3, 16, 16)
    for i in range(6):
        images[i, i % 3] = (i + 1) / 6  # each face a distinct flat colour
    export_projector(tmp_path, vectors, meta, images, tag="encoder", thumb=8)
    back = read_projector(tmp_path)
    assert back["tag"].startswith("encoder")
    np.testing.assert_allclose(back["vectors"], vectors, rtol=1e-5)
    assert list(back["metadata"].columns) == ["identity", "yaw"]
    assert list(back["metadata"]["identity"]) == ["0", "0", "1", "1", "2", "2"]
    assert back["thumb"] == (8, 8)
    for i in range(6):
        tile = sprite_tile(back["sprite"], i, back["thumb"]).astype(float) / 255
        assert tile[..., i % 3].mean() == pytest.approx((i + 1) / 6, abs=0.01)
    with pytest.raises(ValueError, match="metadata has 2 rows"):
        export_projector(tmp_path / "bad", vectors, meta.head(2))


def test_export_block_of_a_model_with_world_labels(tmp_path):
    torch.manual_seed(0)
    cfg = PhazeAConfig.preset("lab-tiny").replace(fs_original_min_filters=16, dec_min_filters=16)
    model = PhazeA(cfg)
    world = FaceWorld(n_identities=3)
    images, labels = world.sample([0, 1, 2], 2, seed=1, size=model.input_size)
    frame = labels.to_frame()
    export_block(model, images, frame, "fc_gblock", tmp_path / "proj")
    back = read_projector(tmp_path / "proj")
    assert back["vectors"].shape == (6, model.blocks["fc_gblock"].out_shape[0])
    assert "identity" in back["metadata"].columns and "yaw" in back["metadata"].columns
    assert back["sprite"] is not None


def test_latent_explorer_exports_its_block(tmp_path):
    from phazelab.widgets import LatentExplorer

    torch.manual_seed(0)
    model = PhazeA(PhazeAConfig.preset("lab-tiny").replace(fs_original_min_filters=16, dec_min_filters=16))
    world = FaceWorld(n_identities=2)
    explorer = LatentExplorer(model, world, n_per_identity=3, scores=False)
    explorer.block.value = "encoder"
    explorer.export_projector(tmp_path)
    back = read_projector(tmp_path)
    assert back["vectors"].shape == (6, model.blocks["encoder"].out_shape[0])
    assert sorted(set(back["metadata"]["identity"])) == ["0", "1"]
