"""Write the lab's notebooks (outputs empty) from the cell lists below: `python scripts/make_notebooks.py`.

The notebooks are narrative plus short calls into `phazelab`; keeping their source here makes them easy
to review and keeps every notebook free of stored outputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from phazelab.weights import atomic_write_text  # noqa: E402

SETUP = """\
from phazelab import lab
S = lab.settings()
S"""


def md(text: str):
    return new_markdown_cell(text.strip())


def code(text: str):
    return new_code_cell(text.strip())


NOTEBOOKS: dict[str, list] = {}

NOTEBOOKS["01_meet_phaze_a.ipynb"] = [
    md("""
# 01 · Meet Phaze-A

Phaze-A is faceswap's most configurable model. Two sets of faces, side **A** and side **B**, go through
one shared **encoder**; after that, each side takes a path through *fully connected* blocks, an optional
**G-Block** and a **decoder**. Which of these blocks are shared and which exist once per side is set by
a handful of options — and that decides where a face's identity can be stored.

phazelab builds Phaze-A block for block, with faceswap's block names, options and parameter counts.
This notebook shows the blocks; nothing is trained here.
"""),
    code(SETUP),
    md("""
## faceswap's default Phaze-A, block by block

`PhazeAConfig()` holds every option with faceswap's default. The table is read from the model that this
config builds (shapes are channels-first, without the batch axis).
"""),
    code("""
import pandas as pd
from phazelab import PhazeAConfig
from phazelab.cli import summary_table

table = summary_table(PhazeAConfig())
pd.DataFrame(table["blocks"]).T.assign(params=lambda t: t.params.map("{:,}".format))"""),
    code("""print(f"total parameters: {table['total_params']:,}")"""),
    md("""
## Which blocks belong to one side?

A block on side A's path but not on side B's is *private* to side A. The list comes from the model
itself (`model.side_blocks`).
"""),
    code("""
from phazelab.model import block_sides, meta_model
topologies = {"faceswap default": PhazeAConfig(), "split_decoders": PhazeAConfig(split_fc=False, split_decoders=True),
              "split_gblock": PhazeAConfig(split_gblock=True), "shared_fc=full": PhazeAConfig(shared_fc="full")}
pd.DataFrame({name: block_sides(meta_model(cfg)) for name, cfg in topologies.items()}).fillna("-")"""),
    md("""
## Try the options

Toggle the topology options or pick a preset; the diagram is rebuilt from the model each time, with
every block's parameter count. faceswap presets that need downloaded encoder weights are left out.
"""),
    code("""
from phazelab.widgets import TopologyPicker
picker = TopologyPicker(PhazeAConfig.preset(S.preset))
picker"""),
    code("""picker.frame()"""),
    md("""
On a 2-core CPU faceswap's default (above) takes seconds per training step, so the lab trains its own
small presets `lab-tiny` and `lab-small`: the same topology options at smaller widths.
"""),
    code("""
pd.DataFrame({name: {"total params": f"{summary_table(PhazeAConfig.preset(name))['total_params']:,}"}
              for name in ["lab-tiny", "lab-small"]}).T"""),
]

NOTEBOOKS["02_train_a_pair.ipynb"] = [
    md("""
# 02 · Train a pair

Pick two faces from the synthetic face world — identity A and identity B — and train Phaze-A to
reconstruct each through its own side. The swap is then A's face sent through side B's path. Because
the world is synthetic, the *correct* swap is known exactly: B's face with A's pose, expression and
lighting.

To use your own faces instead, replace the sources with `make_source("path/to/aligned/faces")`.
"""),
    code(SETUP),
    code("""
from phazelab.data import FaceWorld
from phazelab.analysis import image_grid_figure

world = FaceWorld(seed=0, n_identities=8)
IDENTITY_A, IDENTITY_B = 0, 1
faces, labels = world.sample([IDENTITY_A, IDENTITY_B], n=8, seed=1, size=64)
image_grid_figure(faces, nrow=8, title=f"identity {IDENTITY_A} (top) and {IDENTITY_B} (bottom)")"""),
    md("""
## The model and the trainer

faceswap's training defaults: Adam (learning rate 5e-5, ε 1e-7), SSIM + MSE loss, random warp and
flips, colour jitter. The batch and step counts come from the lab settings above.
"""),
    code("""
from phazelab import Trainer

model = lab.build(S.preset)
trainer = Trainer(model, world.source(IDENTITY_A), world.source(IDENTITY_B), batch_size=S.batch,
                  device=S.device, preview_every=S.preview_every)
print(f"{sum(p.numel() for p in model.parameters()):,} parameters on {trainer.device}, precision {trainer.precision}")"""),
    md("""
## Train

Press **Train**. The loss curves for side A and side B update live; the preview shows, row by row:
A, A→A, A→B, B, B→B, B→A. Pause, stop and train more whenever you like.
"""),
    code("""
from phazelab.widgets import TrainPanel
panel = TrainPanel(trainer, steps=S.steps)
panel"""),
    code("""lab.autorun(panel)  # headless runs only; in JupyterLab press Train above"""),
    md("""
## The swap against the ground truth

Input frames of A, the model's swap (A through side B), the ground-truth swap rendered by the world,
and the error between the two. The SSIM is computed on these frames now.
"""),
    code("""
from phazelab.widgets import SwapViewer
SwapViewer(model, world, IDENTITY_A, IDENTITY_B)"""),
    code("""trainer.history_frame().tail()"""),
]

NOTEBOOKS["04_where_identity_lives.ipynb"] = [
    md("""
# 04 · Where does identity live?

Send faces of several identities through the model and record what each block outputs. If a linear
probe can tell the identities apart from a block's output, that block carries identity; if a ridge
regression can read the pose from it, it carries pose. The numbers below are measured on frames the
model never trained on, with the chance level beside each.

Two topologies are compared: faceswap's default (per-side `fc_a`/`fc_b`, shared G-Block and decoder)
and split decoders (one shared `fc_both`, per-side decoders).
"""),
    code(SETUP),
    code("""
from phazelab.data import FaceWorld
world = FaceWorld(seed=0, n_identities=6)
IDENTITY_A, IDENTITY_B = 0, 1
PROBE_IDS = list(range(world.n_identities))"""),
    md("## Train both topologies on the same pair"),
    code("""
default_model = lab.build(S.preset)
split_model = lab.build(S.preset, split_fc=False, split_decoders=True)
runs = {name: lab.train_pair(m, world, IDENTITY_A, IDENTITY_B, S.steps, batch=S.batch, device=S.device)
        for name, m in [("default", default_model), ("split_decoders", split_model)]}
{name: round(float(t.history[-1]["loss"]), 4) for name, t in runs.items()}"""),
    md("""
## The per-block table

`probe_acc`: cross-validated logistic regression predicting the identity; `knn_acc` and
`silhouette` by identity; `r2_*`: cross-validated ridge regression to each factor. The `reduction`
column says how a feature map became the probe's input.
"""),
    code("""
import pandas as pd
from phazelab.analysis import block_table
tables = {name: block_table(t.model, world, PROBE_IDS, n=S.n_per_identity, pool=S.latent_pool)
          for name, t in runs.items()}
pd.concat(tables, names=["topology"])"""),
    code("""
from phazelab.analysis import metric_bars
metric_bars(pd.concat(tables, names=["topology"]).reset_index(level=0).rename(columns={"topology": "model"}),
            "probe_acc")"""),
    md("""
## The swap, measured

For A frames decoded through side B: SSIM against the ground-truth swap, and the fraction of outputs that
are closer to B's render than to A's at the same pose (`attribution`).
"""),
    code("""
from phazelab.analysis import swap_scores
pd.DataFrame({name: swap_scores(t.model, world, IDENTITY_A, IDENTITY_B, n=S.n_per_identity)
              for name, t in runs.items()}).T"""),
    md("""
## Explore the latents

Pick a block, a projection and what to colour by. Hover a point to see its face.
"""),
    code("""
from phazelab.widgets import LatentExplorer
LatentExplorer(default_model, world, identities=PROBE_IDS, n_per_identity=S.n_per_identity)"""),
]


def main() -> None:
    out = ROOT / "notebooks"
    out.mkdir(exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(cells=cells, metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"}})
        atomic_write_text(out / name, nbformat.writes(nb))
        print(f"wrote {out / name}")


if __name__ == "__main__":
    main()
