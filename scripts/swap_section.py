"""Write the README's "Time to a real swap" section from the shipped models' meta.json (data/models/*):
what each was trained with, the exact command, and the swap judge's numbers beside its baselines.

    python scripts/swap_section.py --readme README.md    # or without --readme: print the section
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from phazelab.experiments.swap import gate_success  # noqa: E402
from phazelab.lab import MODELS_DIR, SUCCESS_GATE  # noqa: E402
from phazelab.markdown import replace_marked  # noqa: E402
from phazelab.weights import read_meta  # noqa: E402


def section() -> str:
    rows = ["| topology | steps (training s, device) | A→B success | identity named (chance) | pose error "
            "| B→A success | face recon SSIM A / B | A→B success on fresh frames (B mean face, copy A) | verdict |",
            "|---|---|---|---|---|---|---|---|---|"]
    base_rows, commands = [], []
    for path in sorted(p for p in MODELS_DIR.iterdir() if (p / "meta.json").is_file()):
        m = read_meta(path)
        j = m["judge"]
        c = m.get("confirm")
        passed = gate_success(m) >= SUCCESS_GATE
        verdict = "a real swap" if passed else "**not trained enough**"
        fresh = (f"{c['success']:.2f} of {c['n']} ({c['baselines']['mean_face_b']['success']:.2f}, "
                 f"{c['baselines']['copy_a']['success']:.2f})" if c else "—")
        rows.append(f"| {path.name} | {m['step']} ({m['train_seconds']:.0f} s, {m['device']}) | "
                    f"{j['success_ab']:.2f} | {j['id_top1_ab']:.2f} ({j['chance']:.3f}) | {j['pose_err_ab']:.1f}° | "
                    f"{j['success_ba']:.2f} | {j['recon_ssim_a']:.3f} / {j['recon_ssim_b']:.3f} | {fresh} | "
                    f"{verdict} |")
        world = "the hard world" if m["recipe"].get("world_hard") else "the default world"
        commands.append(f"- `{path.name}`: `{m['command']}` ({world}'s "
                        f"identities {m['recipe']['identity_a']}/{m['recipe']['identity_b']}, preset "
                        f"`{m['recipe']['preset']}`, batch "
                        f"{m['recipe']['batch']}, lr {m['recipe']['lr']:g} with a {m['recipe']['lr_warmup']}-step "
                        f"warm-up and {m['recipe']['lr_schedule']} decay over {m['recipe']['steps']} steps)")
        if not base_rows:
            base = m["baselines"]["a_to_b"]
            base_rows = ["| baseline (same held-out frames) | A→B success | identity named | pose error |",
                         "|---|---|---|---|"]
            base_rows += [f"| {name} | {v['success']:.2f} | {v['id_top1']:.2f} | {v['pose_err_deg']:.1f}° |"
                          for name, v in base.items()]
    return "\n".join(["Written by `python scripts/swap_section.py --readme README.md` from `data/models/*/meta.json`.",
                      "", *rows, "", "Held-out A frames, A→A, A→B and the ground truth (B with A's factors), per "
                      "shipped model (default, then split_decoders):", "", "![shipped swaps](docs/shipped_swaps.png)",
                      "", "The judge's baselines on the same 64 held-out frames:", "", *base_rows, "",
                      "Made by:", "", *commands])


def swap_grid(path: Path, n: int = 8) -> None:
    """A PNG per shipped model, stacked: held-out A frames, A→A, A→B, and the ground truth (B, same factors)."""
    import torch
    from PIL import Image

    from phazelab.data.bank import FaceBank
    from phazelab.experiments.swap import SwapRecipe
    from phazelab.lab import stage1_model
    from phazelab.model import evaluating
    from phazelab.weights import atomic_write_bytes

    blocks = []
    for name in sorted(p.name for p in MODELS_DIR.iterdir() if (p / "meta.json").is_file()):
        recipe = SwapRecipe.from_dict(read_meta(MODELS_DIR / name)["recipe"], name)
        world = recipe.world()
        x, labels = FaceBank(world, recipe.identity_a, 8).heldout(n, 64)
        model = stage1_model(name)
        with evaluating(model):
            rows = [x, model.swap(x, "a"), model.swap(x, "b"), world.render(recipe.identity_b, labels.factors, 64)]
        blocks.append(torch.cat([torch.cat(list(r.clamp(0, 1)), 2) for r in rows], 1))
    grid = torch.cat(blocks, 1)
    import io

    buf = io.BytesIO()
    Image.fromarray((grid.permute(1, 2, 0).numpy() * 255).round().astype("uint8")).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readme", help="replace the marked section of this file")
    ap.add_argument("--grid", type=Path, default=ROOT / "docs" / "shipped_swaps.png",
                    help="where to write the swap grid of the shipped models")
    args = ap.parse_args()
    swap_grid(args.grid)
    text = section()
    if args.readme:
        replace_marked(args.readme, "time-to-swap", text)
    print(text)


if __name__ == "__main__":
    main()
