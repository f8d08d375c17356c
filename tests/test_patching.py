"""Activation patching on a toy model whose identity route is known: patching the block identity runs
through flips every output; patching a block the output ignores flips none."""

import numpy as np
import pytest
import torch
from torch import nn

from phazelab.analysis.patching import patch_block, patching_table


class Toy(nn.Module):
    """Frames carry their identity in channel 0's mean. `encoder` copies it on, `ignored` computes a side
    branch whose output is discarded, `decoder_b` paints the identity into the output."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleDict({"encoder": nn.Identity(), "ignored": nn.Identity(), "decoder_b": nn.Identity()})
        self.p = nn.Parameter(torch.zeros(1))

    def side_blocks(self, side):
        return ["encoder", "ignored", "decoder_b"]

    def swap(self, x, to="b"):
        z = self.blocks["encoder"](x)
        _ = self.blocks["ignored"](z * 0 + 0.5)  # computed, never used
        return self.blocks["decoder_b"](z)


def identify(out: torch.Tensor) -> np.ndarray:
    return (out[:, 0].mean(dim=(1, 2)) > 0.5).long().numpy()  # id 1 if channel 0 is bright


def test_patching_flips_through_the_route_and_not_through_an_ignored_block():
    model = Toy()
    a = torch.full((6, 3, 8, 8), 0.2)  # identity 0
    b = torch.full((6, 3, 8, 8), 0.8)  # identity 1
    table = patching_table(model, a, b, identify, source_identity=1).set_index("block")
    assert table.loc["encoder", "flip"] == 1.0 and table.loc["decoder_b", "flip"] == 1.0
    assert table.loc["ignored", "flip"] == 0.0
    assert table.loc["encoder", "as_source_before"] == 0.0 and table.loc["encoder", "as_source_after"] == 1.0
    assert torch.equal(patch_block(model, "ignored", a, b), a)


def test_patching_a_real_phaze_a_block_changes_only_what_follows_it():
    from phazelab import PhazeA, PhazeAConfig

    model = PhazeA(PhazeAConfig.preset("lab-slim").with_topology("split_decoders"), seed=0)
    x, src = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    # patching the decoder's output in from the source frames gives the source frames' swap exactly
    assert torch.allclose(patch_block(model, "decoder_b", x, src), patch_block(model, "encoder", src, src))
    with pytest.raises(ValueError, match="no block"):
        patch_block(model, "g_block_both", x, src)
    with pytest.raises(ValueError, match="not on side"):
        patch_block(model, "decoder_a", x, src, to="b")
    with pytest.raises(ValueError, match="paired by index"):
        patch_block(model, "encoder", x, src[:1])
