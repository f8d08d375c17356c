"""PhazeA: faceswap's Phaze-A built from a PhazeAConfig, its blocks in `model.blocks`.

    x_a ─┐                  ┌ fc_a ┐                         ┌ g_block_a ┐      ┌ decoder_a ─► face A
         ├─► encoder ──────►┤ fc_b ├ [+ fc_shared] ──────────►┤ g_block_b ├─────►┤ decoder_b ─► face B
    x_b ─┘   (shared)       └fc_both┘ [fc_gblock → style] ───►└g_block_both┘     └ decoder_both

Which blocks exist follows faceswap's topology options exactly; the swap encodes a face and decodes
it through the other side's path.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from ..config import ConfigError, PhazeAConfig
from .buildable import check_buildable
from .decoder import Decoder
from .encoder import Encoder
from .fc import FcGBlock, FullyConnected
from .frozen import sync_frozen_norms
from .gblock import GBlock
from .layers import curve, scale_dim

Side = Literal["a", "b"]


def decoder_filters(cfg: PhazeAConfig) -> tuple[list[int], list[int]]:
    """The decoder's filter schedule, computed once and split between the fc and the decoder."""
    fc_size = cfg.fc_dimensions * 2 ** cfg.fc_upsamples
    n = max(0, round(math.log2(cfg.output_size / scale_dim(cfg.output_size, fc_size))))
    filters = curve(cfg.dec_max_filters, cfg.dec_min_filters, n, cfg.dec_filter_slope, cfg.dec_slope_mode)
    if cfg.dec_upscales_in_fc > len(filters):
        raise ConfigError(f"dec_upscales_in_fc={cfg.dec_upscales_in_fc} but the decoder has only "
                          f"{len(filters)} upscales at output_size={cfg.output_size}: lower dec_upscales_in_fc "
                          f"to at most {len(filters)} or raise output_size")
    return filters[:cfg.dec_upscales_in_fc], filters[cfg.dec_upscales_in_fc:]


class PhazeA(nn.Module):
    """The model. `blocks` is an nn.ModuleDict keyed by faceswap's block names.

    seed: initial weights drawn from a CPU generator seeded with it, so the same config and seed give
    bit-identical weights; torch's global RNG is left as it was. None draws from the global RNG (as
    `torch.nn` modules do). Raises ConfigError, naming the options to change, for option combinations
    that cannot build a working model (phazelab.model.buildable; `check=False` skips that check).
    """

    def __init__(self, config: PhazeAConfig | None = None, seed: int | None = None, *, check: bool = True) -> None:
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, int):
                raise TypeError(f"PhazeA: seed must be an integer or None, got {seed!r}")
            with torch.random.fork_rng(devices=[]):
                torch.default_generator.manual_seed(seed)
                self.__init__(config, check=check)
            return
        super().__init__()
        cfg = self.config = config if config is not None else PhazeAConfig()
        cfg.require_buildable()
        if check:
            check_buildable(cfg)
        in_fc, in_decoder = decoder_filters(cfg)
        blocks: dict[str, nn.Module] = {}

        encoder = blocks["encoder"] = Encoder(cfg)
        for name in (("fc_a", "fc_b") if cfg.split_fc else ("fc_both",)):
            blocks[name] = FullyConnected(cfg, encoder.out_shape, in_fc)
        if cfg.shared_fc == "full":
            blocks["fc_shared"] = FullyConnected(cfg, encoder.out_shape, in_fc)
        ch, h, w = blocks["fc_a" if cfg.split_fc else "fc_both"].out_shape
        if cfg.shared_fc != "none":  # side fc and shared fc outputs are concatenated on channels
            ch *= 2
        if cfg.enable_gblock:
            style = blocks["fc_gblock"] = FcGBlock(cfg, encoder.out_shape)
            for name in (("g_block_a", "g_block_b") if cfg.split_gblock else ("g_block_both",)):
                blocks[name] = GBlock(ch, style.out_shape[0])
        for name in (("decoder_a", "decoder_b") if cfg.split_decoders else ("decoder_both",)):
            blocks[name] = Decoder(cfg, (ch, h, w), in_decoder)
        self.blocks = nn.ModuleDict(blocks)

    def train(self, mode: bool = True) -> PhazeA:
        """Set train / eval mode; running-statistics norm layers of frozen blocks stay in eval mode (as a
        frozen Keras BatchNormalization runs in inference mode), see phazelab.model.frozen."""
        super().train(mode)
        sync_frozen_norms(self)
        return self

    # -- sizes ----------------------------------------------------------------------------------------
    @property
    def input_size(self) -> int:
        return self.blocks["encoder"].input_size

    @property
    def output_size(self) -> int:
        return self.config.output_size

    # -- topology -------------------------------------------------------------------------------------
    def _side_name(self, kind: str, side: Side) -> str | None:
        if side not in ("a", "b"):
            raise ValueError(f"side must be 'a' or 'b', got {side!r}")
        for name in (f"{kind}_{side}", f"{kind}_both"):
            if name in self.blocks:
                return name
        return None

    def _shared_fc_name(self) -> str | None:
        shared = self.config.shared_fc
        if shared == "full":
            return "fc_shared"
        if shared == "half":  # faceswap reuses side A's fc (or fc_both) as the shared one
            return "fc_a" if "fc_a" in self.blocks else "fc_both"
        return None

    def side_blocks(self, side: Side) -> list[str]:
        """Block names on one side's path, in the order a face passes through them."""
        names = ["encoder", self._side_name("fc", side), self._shared_fc_name()]
        if "fc_gblock" in self.blocks:
            names += ["fc_gblock", self._side_name("g_block", side)]
        names.append(self._side_name("decoder", side))
        out: list[str] = []
        for n in names:
            if n is not None and n not in out:
                out.append(n)
        return out

    # -- forward --------------------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks["encoder"](x)

    def decode(self, z: torch.Tensor, side: Side, with_mask: bool = False
               ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Side's fc (+ shared fc) (+ G-Block with fc_gblock's style) + decoder: the face (N, 3, S, S) in
        [0, 1]; ``with_mask`` (learn_mask models only): (face, mask (N, 1, S, S))."""
        x = self.blocks[self._side_name("fc", side)](z)
        shared = self._shared_fc_name()
        if shared is not None:
            x = torch.cat([x, self.blocks[shared](z)], dim=1)
        if "fc_gblock" in self.blocks:
            x = self.blocks[self._side_name("g_block", side)](x, self.blocks["fc_gblock"](z))
        out = self.blocks[self._side_name("decoder", side)](x)
        if with_mask:
            if not self.config.learn_mask:
                raise ValueError("with_mask=True needs a model built with learn_mask=True (it has no mask output)")
            return out
        return out[0] if isinstance(out, tuple) else out

    def forward(self, x_a: torch.Tensor, x_b: torch.Tensor, with_mask: bool = False):
        """Reconstructions (A through side A, B through side B): one face tensor per side; ``with_mask``
        (learn_mask models): a (face, mask) pair per side."""
        if x_a.shape[1:] == x_b.shape[1:]:  # one encoder pass for both sides: it is shared
            z_a, z_b = self.encode(torch.cat([x_a, x_b])).split([x_a.shape[0], x_b.shape[0]])
        else:
            z_a, z_b = self.encode(x_a), self.encode(x_b)
        return self.decode(z_a, "a", with_mask), self.decode(z_b, "b", with_mask)

    def swap(self, x: torch.Tensor, to: Side = "b", with_mask: bool = False
             ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The face swap: encode with the shared encoder, decode through side `to`'s path (the face;
        with ``with_mask``, (face, mask))."""
        return self.decode(self.encode(x), to, with_mask)
