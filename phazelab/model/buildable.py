"""Every option value inside its documented range either builds a working model or raises ConfigError.

faceswap allows each Phaze-A option over a range (e.g. `output_size` 64..2048 in steps of 16), but some
combinations cannot work: faceswap scales the fc filters down to a multiple of scale_dim(output_size,
final_dims)² for sizes that do not halve down to the fc's map (phaze-a.md §6), which leaves 0 filters
when that square exceeds fc_min_filters (e.g. lab-tiny at 208 px: 13² = 169 > 128). Built as is, such a
model has layers with 0 channels and fails at its first forward with an error naming no option.

`check_buildable(config)` finds that before any weight is allocated: a direct check of the fc filter
scaling (with the exact options and values to change), then the model built on the meta device and one
shapes-only forward, which catches every other combination that does not fit together and names the
block and the options that shape it. Results are cached per config.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any

import torch

from ..config import ConfigError, PhazeAConfig, option_info
from .layers import curve, scale_dim

__all__ = ["check_buildable", "fc_scaling_problem"]

# Which option groups (config.py's `group`) shape each kind of block, for messages.
_BLOCK_GROUPS = {"encoder": ("encoder", "bottleneck"), "fc": ("fc", "bottleneck"), "fc_gblock": ("fc_gblock",),
                 "g_block": ("fc", "fc_gblock"), "decoder": ("decoder", "fc")}


def _kind(block: str) -> str:
    if block == "fc_gblock" or block.startswith("g_block"):
        return "fc_gblock" if block == "fc_gblock" else "g_block"
    return "fc" if block.startswith("fc") else block.split("_")[0]


def _sizes_halving_to(dims: int, around: int) -> list[int]:
    """Output sizes faceswap allows (64..2048, multiples of 16) that halve down to exactly `dims`."""
    sizes = [s for s in range(64, 2049, 16) if scale_dim(s, dims) == dims]
    return sorted(sizes, key=lambda s: abs(s - around))[:3]


def fc_scaling_problem(cfg: PhazeAConfig) -> str | None:
    """Why the fc blocks would get 0 filters at this output size (None when they do not).

    Follows FullyConnected exactly: final_dims = fc_dimensions × (fc_upsamples + 1); unless
    scale_dim(output_size, final_dims) == final_dims, filters f become floor(f / sd²) · sd².
    """
    dims = cfg.fc_dimensions
    final_dims = dims * (cfg.fc_upsamples + 1)
    sd = scale_dim(cfg.output_size, final_dims)
    if sd == final_dims:
        return None
    unit = sd * sd
    nodes = curve((cfg.fc_min_filters // unit) * unit * dims * dims, (cfg.fc_max_filters // unit) * unit * dims * dims,
                  cfg.fc_depth, cfg.fc_filter_slope, "full")
    short = []
    if any(n <= 0 for n in nodes):
        short += [f"{name}={getattr(cfg, name)}" for name in ("fc_min_filters", "fc_max_filters")
                  if getattr(cfg, name) < unit]
    if cfg.fc_upsamples and cfg.fc_upsampler != "upsample2d" and cfg.fc_upsample_filters < unit:
        short.append(f"fc_upsample_filters={cfg.fc_upsample_filters}")
    if not short:
        return None
    sizes = ", ".join(map(str, _sizes_halving_to(final_dims, cfg.output_size))) or "none in 64..2048"
    return (f"output_size={cfg.output_size} with fc_dimensions={dims} and fc_upsamples={cfg.fc_upsamples}: "
            f"output_size does not halve down to the fc map size {final_dims}, so (as faceswap does) the fc "
            f"filters are rounded down to a multiple of scale_dim({cfg.output_size}, {final_dims})² = {sd}² = "
            f"{unit}, and {', '.join(short)} would become 0 filters. Raise "
            f"{' / '.join(s.split('=')[0] for s in short)} to at least {unit}, or choose an output_size that "
            f"halves down to {final_dims} (nearest: {sizes}), or change fc_dimensions / fc_upsamples.")


def _options_for(cfg: PhazeAConfig, block: str | None) -> str:
    groups = _BLOCK_GROUPS.get(_kind(block), ()) if block else ()
    info = option_info()
    names = [o["name"] for o in info if o["group"] in groups] if groups else []
    changed = [o["name"] for o in info if getattr(cfg, o["name"]) != o["default"]]
    picked = [n for n in names if n in changed] or names
    if not picked:
        picked = changed
    text = ", ".join(f"{n}={getattr(cfg, n)!r}" for n in ["output_size", *[p for p in picked if p != "output_size"]])
    return text


def _explain(cfg: PhazeAConfig, block: str | None, what: str) -> str:
    where = f"block {block}" if block else "the model"
    return (f"these Phaze-A options do not fit together: {where} cannot be built ({what}). Options that shape "
            f"it: {_options_for(cfg, block)}. Change one of them (e.g. another output_size, fc_dimensions or "
            "filter counts); faceswap accepts each value alone but not this combination.")


def check_buildable(cfg: PhazeAConfig) -> None:
    """Raise ConfigError (naming the options to change and why) if `cfg` cannot build a working model;
    NotSupportedError for encoders that need downloaded weights. Cheap: meta device, cached per config."""
    cfg.require_buildable()
    _check(cfg.to_json())


@lru_cache(maxsize=512)
def _check(config_json: str) -> None:
    from .phaze_a import PhazeA

    cfg = PhazeAConfig.from_json(config_json)
    problem = fc_scaling_problem(cfg)
    if problem:
        raise ConfigError(problem)
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with torch.device("meta"):
                model = PhazeA(cfg, check=False)
        except ConfigError:
            raise
        except (ValueError, ZeroDivisionError, RuntimeError) as exc:
            raise ConfigError(_explain(cfg, None, str(exc))) from exc
        for name, block in model.blocks.items():
            if any(p.numel() == 0 for p in block.parameters()):
                raise ConfigError(_explain(cfg, name, "a layer would have 0 channels"))
        _shape_forward(cfg, model)


def _shape_forward(cfg: PhazeAConfig, model: Any) -> None:
    current: list[str] = []
    hooks = [block.register_forward_pre_hook(lambda _m, _i, name=name: current.append(name))
             for name, block in model.blocks.items()]
    x = torch.zeros(1, 3, model.input_size, model.input_size, device="meta")
    model.eval()
    try:
        with torch.no_grad():
            outputs = model(x, x)
    except NotImplementedError:  # an op without a meta kernel: shapes cannot be checked this way
        return
    except (RuntimeError, ValueError, TypeError, ZeroDivisionError) as exc:
        raise ConfigError(_explain(cfg, current[-1] if current else None, str(exc).splitlines()[0])) from exc
    finally:
        for h in hooks:
            h.remove()
    want = [3, cfg.output_size, cfg.output_size]
    for side, out in zip("ab", outputs, strict=True):
        face = out[0] if isinstance(out, (tuple, list)) else out
        if list(face.shape[1:]) != want:
            block = model.side_blocks(side)[-1]
            raise ConfigError(_explain(cfg, block, f"it would output {list(face.shape[1:])}, not {want}"))
