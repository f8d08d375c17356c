"""faceswap's option files: GUI preset JSON files and train.ini, read without dropping anything that
changes the model.

- A GUI preset (faceswap's "Save preset" in the Train tab's model settings) is a JSON object of options
  plus two bookkeeping keys: `"__filetype": "faceswap_preset"` and `"__section"` (the config section it
  was saved from, "|"-separated, e.g. "model|phaze_a"). The keys are dropped after checking that the
  section is Phaze-A's.
- train.ini: `[model.phaze_a]` holds the Phaze-A options; the `[global*]` sections hold faceswap's
  training options. Of those, `learn_mask` (in `[global.loss]`, or `[global]` in older files) changes the
  model — faceswap adds a mask output to each decoder — and is imported (phazelab's decoders build the
  same mask output); `reflect_padding` = True changes every conv's padding and is refused. Everything
  else is listed as ignored with the reason.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass, field
from typing import Any

from ..config import ConfigError, PhazeAConfig, _field, _parse_text

PRESET_KEYS = ("__filetype", "__section")

# faceswap options outside [model.phaze_a] that change the model, and what phazelab does with them
MODEL_CHANGING = {"learn_mask": "imported: adds a mask output to each decoder",
                  "reflect_padding": "refused when True: phazelab's convs zero-pad"}
# faceswap options that only shape the mask *target* learn_mask trains against (not the model)
MASK_TARGET = ("mask_type", "mask_blur_kernel", "mask_threshold", "mask_dilation", "penalized_mask_loss",
               "mask_loss_function", "eye_multiplier", "mouth_multiplier")


@dataclass
class IniImport:
    """A train.ini import: the config, and each option not imported with the reason (option -> reason)."""

    config: PhazeAConfig
    ignored: dict[str, str] = field(default_factory=dict)


def is_preset(data: Any) -> bool:
    return isinstance(data, dict) and any(k in data for k in PRESET_KEYS)


def read_preset(data: dict[str, Any], source: str = "preset") -> PhazeAConfig:
    """A faceswap GUI preset dict → PhazeAConfig. Raises ConfigError if it is not a faceswap preset file
    or was saved from another section than Phaze-A's (naming `source` and the section)."""
    filetype = data.get("__filetype")
    if filetype is not None and filetype != "faceswap_preset":
        raise ConfigError(f"{source}: __filetype is {filetype!r}, expected 'faceswap_preset'")
    section = str(data.get("__section", ""))
    if section.replace(".", "|").split("|")[-1].lower() != "phaze_a":
        raise ConfigError(f"{source}: a faceswap preset for section {section!r}, not for Phaze-A "
                          "(expected a section ending in 'phaze_a', e.g. 'model|phaze_a')")
    options = {k: v for k, v in data.items() if k not in PRESET_KEYS}
    try:
        return PhazeAConfig.from_dict(options)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _reason(section: str, key: str) -> str:
    if key in MASK_TARGET:
        return f"[{section}]: the mask target learn_mask trains against; phazelab's faces carry no masks"
    return f"[{section}]: a training option; it does not change the model"


def read_train_ini(text: str, section: str | None = None) -> IniImport:
    """Import faceswap train.ini text: `[model.phaze_a]` plus the model-changing global options.

    Raises ConfigError for unparsable text, a missing Phaze-A section, a bad value (naming the option),
    and for reflect_padding = True.
    """
    parser = configparser.ConfigParser(inline_comment_prefixes=("#", ";"), interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise ConfigError(f"cannot parse faceswap .ini text: {exc}") from exc
    if section is None:
        candidates = [s for s in parser.sections() if s.lower().endswith("phaze_a")]
        if not candidates:
            raise ConfigError(f"no [model.phaze_a] section in the .ini text (sections: {parser.sections()})")
        section = candidates[0]
    names = set(PhazeAConfig.__dataclass_fields__)
    values: dict[str, Any] = {}
    ignored: dict[str, str] = {}
    unknown = []
    for key, raw in parser.items(section):
        if key in names:
            values[key] = _parse_text(_field(key), raw)
        else:
            unknown.append(key)
    if unknown:  # every faceswap Phaze-A option is a PhazeAConfig field: anything else is a typo
        import difflib

        hints = [f"{k!r}" + (f" (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(k, names, 1)) else "")
                 for k in unknown]
        raise ConfigError(f"[{section}]: unknown Phaze-A option(s) {', '.join(hints)}; the section holds "
                          f"only Phaze-A options (phazelab summary --help-options lists them)")
    for sec in parser.sections():
        if sec == section:
            continue
        if not sec.lower().startswith("global"):
            for key in parser[sec]:
                ignored[f"{sec}.{key}"] = f"[{sec}]: another plugin's section"
            continue
        for key, raw in parser.items(sec):
            if key == "learn_mask":
                values["learn_mask"] = _parse_text(_field("learn_mask"), raw)
            elif key == "reflect_padding":
                if raw.strip().lower() in ("true", "1", "yes", "on"):
                    raise ConfigError(f"[{sec}] reflect_padding = True pads faceswap's convs by reflection; "
                                      "phazelab's convs zero-pad, so this model cannot be built faithfully")
                ignored[key] = f"[{sec}]: False, faceswap's zero padding (what phazelab builds)"
            else:
                ignored[key] = _reason(sec, key)
    mask_types = [parser.get(s, "mask_type") for s in parser.sections() if parser.has_option(s, "mask_type")]
    if values.get("learn_mask") and mask_types and mask_types[0].strip().lower() == "none":
        raise ConfigError("learn_mask = True with mask_type = none: faceswap needs a mask type to learn a "
                              "mask; set mask_type or learn_mask = False")
    return IniImport(PhazeAConfig.from_dict(values), ignored)
