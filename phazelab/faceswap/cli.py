"""`phazelab import-faceswap PATH --out DIR`: a faceswap Phaze-A model folder → a phazelab model folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .archive import FaceswapFileError


def import_main(args: argparse.Namespace) -> int:
    from ..cli import format_summary
    from ..model import block_summary
    from ..weights import save
    from .importer import import_faceswap
    from .reference import compare_reference

    try:
        model = import_faceswap(args.path, color_order=args.color_order)
        reference = Path(args.path) / "reference.npz" if Path(args.path).is_dir() else None
        reference = args.compare or (reference if reference is not None and reference.is_file() else None)
        # the comparison first: a reference that cannot be read stops the import before anything is written
        try:
            diffs = compare_reference(model, reference) if reference else None
        except (OSError, ValueError) as exc:
            raise FaceswapFileError(f"{reference}: not a faceswap reference .npz of this model ({exc})") from exc
    except (FaceswapFileError, OSError, ValueError) as exc:
        print(f"phazelab import-faceswap: error: {exc}", file=sys.stderr)
        return 2
    origin = model.faceswap_origin
    save(model, args.out, meta={"faceswap": origin})
    blocks = block_summary(model)
    print(format_summary({"blocks": blocks, "total_params": sum(b["params"] for b in blocks.values())}))
    print(f"\nimported {origin['source']} (faceswap: {origin['iterations']} iterations, {origin['sessions']} "
          f"session(s); input colour order {origin['input_color_order'].upper()}) -> {args.out}")
    if origin["ignored_options"]:
        print(f"ignored (training options, they do not change the model): {', '.join(origin['ignored_options'])}")
    if origin["defaulted_options"]:
        print(f"not in the state file, built with faceswap's defaults: {', '.join(origin['defaulted_options'])}")
    if diffs is not None:
        print("max |phazelab - faceswap| (fp32, eval): " + json.dumps({k: float(f"{v:.3g}") for k, v in diffs.items()}))
        worst = max(diffs.values())
        if worst > 1e-4:
            print(f"phazelab import-faceswap: WARNING: outputs differ from {reference} by up to {worst:.3g} "
                  "(> 1e-4): is it this model's reference?", file=sys.stderr)
            return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import-faceswap", help="import a faceswap-trained Phaze-A model (phaze_a.keras + state)")
    p.add_argument("path", help="faceswap model folder (phaze_a.keras + phaze_a_state.json) or the .keras file")
    p.add_argument("--out", required=True, help="phazelab model folder to write")
    p.add_argument("--color-order", choices=("rgb", "bgr"), default="rgb",
                   help="rgb (default): the imported model takes RGB faces like every phazelab model; "
                        "bgr: keep faceswap's BGR channel order")
    p.add_argument("--compare", metavar="REFERENCE.npz",
                   help="faceswap's reference outputs to compare with (default: PATH/reference.npz if present)")
    p.set_defaults(func=import_main)
