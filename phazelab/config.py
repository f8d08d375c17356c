"""PhazeAConfig: every Phaze-A option under faceswap's name, default and allowed values.

This dataclass is the single source of options. The model is a pure function of it; everything else
reads the model to know which blocks exist.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

# Block names as faceswap's load_layers / freeze_layers options know them.
LAYER_CHOICES = (
    "encoder", "keras_encoder", "fc_a", "fc_b", "fc_both", "fc_shared", "fc_gblock",
    "g_block_a", "g_block_b", "g_block_both", "decoder_a", "decoder_b", "decoder_both",
)

# faceswap's encoder choices. Only fs_original is built here: the others are Keras applications or CLIP
# models that need downloaded pretrained weights.
ENCODER_CHOICES = (
    "fs_original", "alexnet", "clipv_vit-b-16", "clipv_vit-b-32", "clipv_vit-l-14",
    "clipv_vit-l-14-336px", "clipv_farl-b-16-16", "clipv_farl-b-16-64", "convnext_tiny",
    "convnext_small", "convnext_base", "convnext_large", "convnext_extra_large", "densenet121",
    "densenet169", "densenet201", "efficientnet_b0", "efficientnet_b1", "efficientnet_b2",
    "efficientnet_b3", "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
    "efficientnet_v2_b0", "efficientnet_v2_b1", "efficientnet_v2_b2", "efficientnet_v2_b3",
    "efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l", "inception_resnet_v2",
    "inception_v3", "mobilenet", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
    "nasnet_large", "nasnet_mobile", "resnet50", "resnet50_v2", "resnet101", "resnet101_v2",
    "resnet152", "resnet152_v2", "squeezenet", "vgg16", "vgg19", "xception",
)
UPSCALERS = ("resize_images", "subpixel", "upscale_fast", "upscale_hybrid")


def require_known(data: Any, cls: type, error: type[Exception], what: str) -> None:
    """Raise ``error`` naming the keys of ``data`` that are not fields of the dataclass ``cls``."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise error(f"unknown {what}(s) {unknown}; valid: {sorted(names)}")


class ConfigError(ValueError):
    """An option has a value faceswap would not accept."""


class NotSupportedError(ConfigError):
    """A valid faceswap option that phazelab cannot build (e.g. needs downloaded encoder weights)."""


def _opt(default: Any, *, choices: tuple | None = None, lo: float | None = None, hi: float | None = None,
         multiple: int | None = None, multi: bool = False, group: str = "", help: str = "") -> Any:
    meta = {"choices": choices, "lo": lo, "hi": hi, "multiple": multiple, "multi": multi,
            "group": group, "help": help}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class PhazeAConfig:
    """All Phaze-A options (faceswap names and defaults). Invalid values raise ConfigError."""

    # general
    output_size: int = _opt(128, lo=64, hi=2048, multiple=16, group="general",
        help="Side of the square face the decoder outputs, in pixels (faceswap: 64-2048 in steps of 16).")
    shared_fc: str = _opt("none", choices=("none", "full", "half"), group="general",
        help="A fully connected block both sides share: none; full adds fc_shared, concatenated to each side's "
             "fc output; half adds no block: fc_a (fc_both without split_fc) is reused, so side B also "
             "runs through it.")
    enable_gblock: bool = _opt(True, group="general",
        help="Add the G-Block (style-modulated by fc_gblock) between the fully connected blocks and the decoder.")
    split_fc: bool = _opt(True, group="general",
        help="One fully connected block per side (fc_a, fc_b) instead of one shared fc_both.")
    split_gblock: bool = _opt(False, group="general",
        help="One G-Block per side (g_block_a, g_block_b) instead of one shared g_block_both.")
    split_decoders: bool = _opt(False, group="general",
        help="One decoder per side (decoder_a, decoder_b) instead of one shared decoder_both.")
    learn_mask: bool = _opt(False, group="general",
        help="Add a mask output that learns the face mask beside the face (faceswap's global training option).")
    # encoder
    enc_architecture: str = _opt("fs_original", choices=ENCODER_CHOICES, group="encoder",
        help="The encoder network; only fs_original is built here (the others need downloaded weights).")
    enc_scaling: int = _opt(7, lo=0, hi=200, group="encoder",
        help="Encoder input size as a percentage of the encoder's native input (fs_original: 1024 px; 7 % -> 64 px).")
    enc_load_weights: bool = _opt(True, group="encoder",
        help="Load pretrained ImageNet weights into a Keras-application encoder (no effect on fs_original).")
    fs_original_depth: int = _opt(4, lo=2, hi=10, group="encoder",
        help="Number of stride-2 convolution stages in the fs_original encoder.")
    fs_original_min_filters: int = _opt(128, lo=16, hi=2048, group="encoder",
        help="Filters of the first fs_original encoder stage; later stages grow towards the maximum.")
    fs_original_max_filters: int = _opt(1024, lo=256, hi=8192, group="encoder",
        help="Filters of the last fs_original encoder stage.")
    fs_original_use_alt: bool = _opt(False, group="encoder",
        help="fs_original's alternative layout: 3x3 convolutions with max pooling instead of 5x5 stride-2 convs.")
    mobilenet_width: float = _opt(1.0, lo=0.1, hi=2.0, group="encoder",
        help="Width multiplier of a MobileNet encoder (alpha).")
    mobilenet_depth: int = _opt(1, lo=1, hi=3, group="encoder",
        help="Depth multiplier of a MobileNet v1 encoder's depthwise convolutions.")
    mobilenet_dropout: float = _opt(0.001, lo=0.001, hi=2.0, group="encoder",
        help="Dropout rate of a MobileNet v1 encoder.")
    mobilenet_minimalistic: bool = _opt(False, group="encoder",
        help="Use the minimalistic MobileNet v3 variant (no squeeze-excite, no hard-swish).")
    # bottleneck
    bottleneck_type: str = _opt("dense", choices=("average_pooling", "dense", "max_pooling", "flatten"),
                                group="bottleneck",
        help="How the encoder's feature map becomes the latent vector: dense layer, average/max pooling, or flatten.")
    bottleneck_norm: str = _opt("none", choices=("none", "instance", "layer", "rms"), group="bottleneck",
        help="Normalisation applied to the bottleneck (none, instance, layer, rms).")
    bottleneck_size: int = _opt(1024, lo=128, hi=4096, group="bottleneck",
        help="Length of the latent vector a dense bottleneck produces.")
    bottleneck_in_encoder: bool = _opt(True, group="bottleneck",
        help="Put the bottleneck at the end of the shared encoder, not at the start of each fully connected block.")
    # fully connected
    fc_depth: int = _opt(1, lo=0, hi=16, group="fc",
        help="Number of dense layers in each fully connected block.")
    fc_min_filters: int = _opt(1024, lo=16, hi=5120, group="fc",
        help="Nodes of the smallest dense layer of a fully connected block.")
    fc_max_filters: int = _opt(1024, lo=128, hi=5120, group="fc",
        help="Nodes of the largest dense layer of a fully connected block.")
    fc_dimensions: int = _opt(4, lo=1, hi=16, group="fc",
        help="Height and width of the feature map a fully connected block reshapes its output to.")
    fc_filter_slope: float = _opt(-0.5, lo=-1.0, hi=1.0, group="fc",
        help="How node counts move from fc_max_filters towards fc_min_filters across the dense layers.")
    fc_dropout: float = _opt(0.0, lo=0.0, hi=0.99, group="fc",
        help="Dropout rate between the dense layers of the fully connected blocks.")
    fc_upsampler: str = _opt("upsample2d", choices=UPSCALERS + ("upsample2d",), group="fc",
        help="The upsampling layer that ends a fully connected block.")
    fc_upsamples: int = _opt(1, lo=0, hi=4, group="fc",
        help="Number of upsampling layers at the end of a fully connected block (0 = none).")
    fc_upsample_filters: int = _opt(512, lo=128, hi=5120, group="fc",
        help="Filters of the fully connected block's upsampling layers (for the upscalers that have filters).")
    # g-block fc
    fc_gblock_depth: int = _opt(3, lo=1, hi=16, group="fc_gblock",
        help="Number of dense layers in fc_gblock, which turns the latent vector into the G-Block's style vector.")
    fc_gblock_min_nodes: int = _opt(512, lo=128, hi=5120, group="fc_gblock",
        help="Nodes of the smallest dense layer in fc_gblock.")
    fc_gblock_max_nodes: int = _opt(512, lo=128, hi=5120, group="fc_gblock",
        help="Nodes of the largest dense layer in fc_gblock.")
    fc_gblock_filter_slope: float = _opt(-0.5, lo=-1.0, hi=1.0, group="fc_gblock",
        help="How node counts move between the fc_gblock minimum and maximum across its layers.")
    fc_gblock_dropout: float = _opt(0.0, lo=0.0, hi=0.99, group="fc_gblock",
        help="Dropout rate between fc_gblock's dense layers.")
    # decoder
    dec_upscale_method: str = _opt("subpixel", choices=UPSCALERS + ("upscale_dny",), group="decoder",
        help="The layer each decoder upscale uses (subpixel, resize_images, upscale_fast, upscale_hybrid, ...).")
    dec_upscales_in_fc: int = _opt(0, lo=0, hi=6, group="decoder",
        help="How many of the decoder's upscales move into the end of the fully connected blocks.")
    dec_norm: str = _opt("none", choices=("none", "batch", "group", "instance", "layer", "rms"),
                         group="decoder",
        help="Normalisation after each decoder upscale (none, batch, group, instance, layer, rms).")
    dec_min_filters: int = _opt(64, lo=16, hi=512, group="decoder",
        help="Filters of the decoder's last upscale (the smallest).")
    dec_max_filters: int = _opt(512, lo=256, hi=5120, group="decoder",
        help="Filters of the decoder's first upscale (the largest).")
    dec_slope_mode: str = _opt("full", choices=("full", "cap_max", "cap_min"), group="decoder",
        help="How dec_filter_slope is applied: full range, or capped at the maximum or minimum.")
    dec_filter_slope: float = _opt(-0.45, lo=-1.0, hi=1.0, group="decoder",
        help="How filters fall from dec_max_filters to dec_min_filters across the upscales (-1: fastest).")
    dec_res_blocks: int = _opt(1, lo=0, hi=8, group="decoder",
        help="Residual blocks after each decoder upscale.")
    dec_output_kernel: int = _opt(5, lo=1, hi=9, group="decoder",
        help="Kernel size of the decoder's final convolution that outputs the face.")
    dec_gaussian: bool = _opt(True, group="decoder",
        help="Add Gaussian noise to the decoder's activations while training (a regulariser; off at inference).")
    dec_skip_last_residual: bool = _opt(True, group="decoder",
        help="Leave out the residual blocks after the decoder's last upscale.")
    # weights
    freeze_layers: list = _opt(["keras_encoder"], choices=LAYER_CHOICES, multi=True, group="weights",
        help="Blocks faceswap freezes when it loads weights into a new model (its --freeze-weights option).")
    load_layers: list = _opt(["encoder"], choices=tuple(c for c in LAYER_CHOICES if c != "keras_encoder"),
                             multi=True, group="weights",
        help="Blocks faceswap loads from another model's file into a new model (its --load-weights option).")

    def __post_init__(self) -> None:
        for f in fields(self):
            setattr(self, f.name, _check(f, getattr(self, f.name)))

    # -- derived sizes --------------------------------------------------------------------------------
    @property
    def encoder_input_size(self) -> int:
        """fs_original input size: max(32, floor(1024 * enc_scaling / 100 / 16) * 16)."""
        return max(32, int(1024 * self.enc_scaling / 100 / 16) * 16)

    def require_buildable(self) -> None:
        """Raise NotSupportedError for options phazelab cannot build without downloads."""
        if self.enc_architecture != "fs_original":
            raise NotSupportedError(
                f"enc_architecture={self.enc_architecture!r} is not supported: it needs downloaded "
                "pretrained weights (Keras application / CLIP). Use 'fs_original'.")

    # -- (de)serialisation ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhazeAConfig:
        require_known(data, cls, ConfigError, "Phaze-A option")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PhazeAConfig:
        return cls.from_dict(json.loads(text))

    def replace(self, **changes: Any) -> PhazeAConfig:
        return PhazeAConfig.from_dict({**self.to_dict(), **changes})

    def with_topology(self, name: str) -> PhazeAConfig:
        """This config with the topology options of TOPOLOGIES[name] ("default", "split_decoders")."""
        return self.replace(**topology_options(name))

    def with_overrides(self, pairs: list[str]) -> PhazeAConfig:
        """Apply `KEY=VALUE` strings (as on the command line), values parsed like faceswap's .ini."""
        changes = {}
        for pair in pairs:
            if "=" not in pair:
                raise ConfigError(f"--set expects KEY=VALUE, got {pair!r}")
            key, value = (s.strip() for s in pair.split("=", 1))
            changes[key] = _parse_text(_field(key), value)
        return self.replace(**changes)

    # -- presets --------------------------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str) -> PhazeAConfig:
        """faceswap's Phaze-A presets by name, or phazelab's own CPU presets (``lab-*``)."""
        table = preset_table()
        if name not in table:
            raise ConfigError(f"unknown preset {name!r}; choose from {sorted(table)}")
        return cls.from_dict(table[name])

    @classmethod
    def from_ini(cls, text: str, section: str | None = None) -> PhazeAConfig:
        """Import a faceswap train.ini: `[model.phaze_a]` and the global options that change the model
        (learn_mask; reflect_padding=True is refused). phazelab.faceswap.options.read_train_ini also
        lists what was ignored."""
        from .faceswap.options import read_train_ini

        return read_train_ini(text, section).config


# ---------------------------------------------------------------------------------------------------
# phazelab's own small presets: faceswap's default topology (split fc, shared G-Block, shared decoder)
# at widths a 2-core CPU trains in minutes. Every value is inside faceswap's own ranges. lab-tiny also
# drops the decoder's residual blocks: at faceswap's smallest dec_max_filters (256) the residual block
# after the first upscale is over half of the model's FLOPs.
LAB_PRESETS: dict[str, dict[str, Any]] = {
    "lab-tiny": dict(output_size=64, fs_original_min_filters=32, fs_original_max_filters=256,
                     bottleneck_size=128, fc_min_filters=128, fc_max_filters=128, fc_upsample_filters=128,
                     fc_gblock_min_nodes=128, fc_gblock_max_nodes=128, dec_max_filters=256,
                     dec_min_filters=32, dec_res_blocks=0),
    # lab-slim: lab-tiny at faceswap's smallest encoder/decoder widths, with the decoder's filter count
    # falling as fast as faceswap allows (slope -0.99), a 3x3 output conv and no Gaussian noise: 3.5x
    # fewer FLOPs per step than lab-tiny, the CPU preset of the swap recipe (bench/RESULTS.md).
    "lab-slim": dict(output_size=64, fs_original_min_filters=16, fs_original_max_filters=256,
                     bottleneck_size=128, fc_min_filters=128, fc_max_filters=128, fc_upsample_filters=128,
                     fc_gblock_min_nodes=128, fc_gblock_max_nodes=128, dec_max_filters=256,
                     dec_min_filters=16, dec_res_blocks=0, dec_filter_slope=-0.99, dec_output_kernel=3,
                     dec_gaussian=False),
    "lab-small": dict(output_size=64, fs_original_min_filters=64, fs_original_max_filters=512,
                      bottleneck_size=256, fc_min_filters=256, fc_max_filters=256, fc_upsample_filters=256,
                      fc_gblock_min_nodes=256, fc_gblock_max_nodes=256, dec_max_filters=512,
                      dec_min_filters=64),
}


# ---------------------------------------------------------------------------------------------------
# The named topologies: one name, one model, everywhere (notebooks, study, identity command, README).
# "default" is faceswap's default Phaze-A: per-side fc_a / fc_b, a shared G-Block (fed by fc_gblock)
# and a shared decoder. "split_decoders" is the classic shared-encoder / two-decoder autoencoder of
# faceswap's original, dfaker and dfl-h128 models: one fc_both, no G-Block, decoder_a / decoder_b.
TOPOLOGIES: dict[str, dict[str, Any]] = {
    "default": {"split_fc": True, "shared_fc": "none", "enable_gblock": True, "split_gblock": False,
                "split_decoders": False},
    "split_decoders": {"split_fc": False, "shared_fc": "none", "enable_gblock": False, "split_gblock": False,
                       "split_decoders": True},
}


def topology_options(name: str) -> dict[str, Any]:
    """The Phaze-A options that make topology ``name`` (a key of TOPOLOGIES); ConfigError otherwise."""
    if name not in TOPOLOGIES:
        raise ConfigError(f"unknown topology {name!r}; choose from {list(TOPOLOGIES)}")
    return dict(TOPOLOGIES[name])


def preset_table() -> dict[str, dict[str, Any]]:
    """Every preset name to its full option dict (faceswap's file, then phazelab's lab presets)."""
    raw = _faceswap_presets()
    table = {name: {k: _parse_text(_field(k), v) if isinstance(v, str) and _field(k).metadata["multi"]
                    else v for k, v in opts.items()} for name, opts in raw.items()}
    for name, opts in LAB_PRESETS.items():
        table[name] = {**PhazeAConfig().to_dict(), **opts}
    return table


def _faceswap_presets() -> dict[str, dict[str, Any]]:
    return json.loads((Path(__file__).parent / "presets" / "faceswap.json").read_text())


def faceswap_preset_names() -> list[str]:
    return sorted(_faceswap_presets())


def load_config(path: str | Path) -> PhazeAConfig:
    """Read a config from a JSON file or a faceswap .ini file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    text = p.read_text()
    if p.suffix.lower() == ".ini":
        return PhazeAConfig.from_ini(text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p}: not valid JSON ({exc})") from exc
    from .faceswap.options import is_preset, read_preset

    if is_preset(data):  # a faceswap GUI preset file (its __filetype / __section keys)
        return read_preset(data, str(p))
    return PhazeAConfig.from_dict(data)


# ---------------------------------------------------------------------------------------------------
def _field(name: str) -> dataclasses.Field:
    for f in fields(PhazeAConfig):
        if f.name == name:
            return f
    raise ConfigError(f"unknown Phaze-A option {name!r}; valid options: "
                      f"{sorted(f.name for f in fields(PhazeAConfig))}")


def _parse_text(f: dataclasses.Field, raw: str) -> Any:
    """Parse an .ini / command-line string into the option's type."""
    raw = raw.strip()
    if f.metadata["multi"]:
        return [v for v in raw.replace(",", " ").split() if v]
    if f.type in ("bool", bool):
        low = raw.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"option {f.name}: {raw!r} is not a boolean (expected True or False)")
    if f.type in ("int", int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"option {f.name}: {raw!r} is not an integer") from None
    if f.type in ("float", float):
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"option {f.name}: {raw!r} is not a number") from None
    return raw


def _check(f: dataclasses.Field, value: Any) -> Any:
    """Validate one option value; return it normalised (e.g. int 1 for a float option → 1.0)."""
    m, name = f.metadata, f.name
    if m["multi"]:
        if isinstance(value, str):
            value = _parse_text(f, value)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"option {name}: expected a list of block names, got {value!r}")
        bad = [v for v in value if v not in m["choices"]]
        if bad:
            raise ConfigError(f"option {name}: {bad} not allowed; choose from {list(m['choices'])}")
        return list(value)
    kind = f.type
    if kind in ("bool", bool):
        if not isinstance(value, bool):
            raise ConfigError(f"option {name}: expected True or False, got {value!r}")
    elif kind in ("int", int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"option {name}: expected an integer, got {value!r}")
    elif kind in ("float", float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"option {name}: expected a number, got {value!r}")
        value = float(value)
    elif kind in ("str", str):
        if not isinstance(value, str):
            raise ConfigError(f"option {name}: expected a string, got {value!r}")
    if m["choices"] is not None and value not in m["choices"]:
        raise ConfigError(f"option {name}: {value!r} not allowed; choose from {list(m['choices'])}")
    if m["lo"] is not None and not (m["lo"] <= value <= m["hi"]):
        raise ConfigError(f"option {name}: {value!r} out of range; expected {m['lo']} to {m['hi']}")
    if m["multiple"] and value % m["multiple"]:
        raise ConfigError(f"option {name}: {value!r} must be a multiple of {m['multiple']}")
    return value


def option_info() -> list[dict[str, Any]]:
    """Name, default, choices/range and group of every option (for docs and widgets)."""
    out = []
    for f in fields(PhazeAConfig):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        out.append({"name": f.name, "default": default, "group": f.metadata["group"],
                    "choices": f.metadata["choices"], "lo": f.metadata["lo"], "hi": f.metadata["hi"]})
    return out
