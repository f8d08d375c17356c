"""Print how closely phazelab's imports of faceswap's own Phaze-A models compute faceswap's outputs.

    PYTHONPATH=. python scripts/faceswap_equality.py [FIXTURES_DIR]

For every folder of ../shared/fixtures/faceswap (default), imports the model (RGB, phazelab's default)
and prints a markdown table of max |phazelab − faceswap| over faceswap's reference.npz arrays (fp32,
eval mode, CPU): the two outputs, the encoder output and the fc blocks.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from phazelab.faceswap import import_faceswap  # noqa: E402
from phazelab.faceswap.reference import compare_reference  # noqa: E402
from phazelab.model import count_params  # noqa: E402


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)
    root = Path(argv[0]) if argv else ROOT.parent / "shared" / "fixtures" / "faceswap"
    folders = sorted(p for p in root.iterdir() if (p / "phaze_a.keras").is_file())
    if not folders:
        print(f"no faceswap model folders in {root}", file=sys.stderr)
        return 1
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, fp32, eval mode\n")
    print("| fixture | params | output_0 | output_1 | encoder | fc blocks (max) |")
    print("|---|---:|---:|---:|---:|---:|")
    for folder in folders:
        model = import_faceswap(folder)
        d = compare_reference(model, folder / "reference.npz")
        fc = max(v for k, v in d.items() if k.endswith("__of_encoder_a"))
        print(f"| {folder.name} | {count_params(model):,} | {d['output_0']:.1e} | {d['output_1']:.1e} | "
              f"{d['encoder_a']:.1e} | {fc:.1e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
