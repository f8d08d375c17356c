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
lighting — so the lab can *judge* a swap: which identity does the output show, and is its pose A's?

**Where we start.** A real swap takes thousands of training steps: minutes on a GPU, a long while on a
CPU. So this notebook first opens a trained A+B model shipped with the lab (`data/models`, made by the
command printed below) — where a faceswap user with a trained model starts — and then lets you train one
yourself.

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
## The trained model

`lab.stage1_model` opens the shipped model of the lab's topology (`S.topology`: one shared encoder, one
decoder per side). Its `meta.json` says how it was made and what the swap judge said at the end of its
training, beside the judge's baselines on the same frames (the truth itself, B's mean face, a copy of A).
"""),
    code("""
model = lab.stage1_model(S.topology)
print(lab.describe_stage1(S.topology))"""),
    md("""
## The swap against the ground truth

Held-out frames of A (never trained on), the model's output, the exact ground truth, and where they
differ. The **judge** names the identity each output shows among the world's identities and look-alike
distractors (siblings of B included) and measures its pose; a frame *succeeds* when it shows B with A's
pose (|Δyaw|, |Δpitch| < 5°). Toggle **decode as A** to see A's own reconstruction instead. The first
judgement of a pair renders its references (~10 s).
"""),
    code("""
from phazelab.widgets import SwapViewer
viewer = SwapViewer(model, world, IDENTITY_A, IDENTITY_B)
viewer"""),
    md("""
## Train it yourself

The lab's recipe for a small model on a CPU: `lab-slim` (faceswap's smallest widths), face banks of
2 048 frames per identity, faceswap's warp/rotate/zoom/flip augmentation without colour jitter (the
renderer already varies the lighting), Adam at lr 1e-3 with a 30-step warm-up and a cosine decay. The
steps below are what this machine can afford in a few minutes; the shipped model trained far longer
(see its meta above), so expect a rougher swap — the judge will say how rough.
"""),
    code("""
from phazelab import Trainer

my_model = lab.build(S.preset, topology=S.topology)
trainer = Trainer(my_model, world.source(IDENTITY_A), world.source(IDENTITY_B), batch_size=S.batch,
                  device=S.device, preview_every=S.preview_every, **lab.recipe_options(S.steps))
print(f"{sum(p.numel() for p in my_model.parameters()):,} parameters on {trainer.device}, precision "
      f"{trainer.precision}; {S.steps} steps of batch {S.batch} (~{lab.estimate_minutes(S.steps)} min here)")"""),
    md("""
Press **Train**. The loss curves for side A and side B update live; the preview shows, row by row:
A, A→A, A→B, B, B→B, B→A. Pause, stop and train more whenever you like.
"""),
    code("""
from phazelab.widgets import TrainPanel
panel = TrainPanel(trainer, steps=S.steps)
panel"""),
    code("""_ = lab.autorun(panel)  # headless runs only; in JupyterLab press Train above"""),
    md("""
When training has finished, this viewer judges *your* model (press its Refresh after more training):
"""),
    code("""
my_viewer = SwapViewer(my_model, world, IDENTITY_A, IDENTITY_B, trainer=trainer)
my_viewer"""),
    md("""
## What to take away

Generated from the numbers just computed — the shipped model's and your model's verdicts, each beside
its baselines:
"""),
    code("""
viewer.wait(); my_viewer.wait()
print(lab.swap_takeaway(viewer, my_viewer, trainer))"""),
]

NOTEBOOKS["03_transfer_learning.ipynb"] = [
    md("""
# 03 · Transfer learning: load and freeze

*Transfer learning* starts a new model from parts of an old one instead of from random numbers. faceswap
offers two switches for this: **load** copies chosen blocks' weights from a saved model, and **freeze**
keeps chosen blocks from changing while the rest train.

The set-up used here and in notebook 05:

- **stage 1**: a model learns identity *a1* (side A) and *b1* (side B) from scratch, and is saved;
- **stage 2**: a new model learns *a2* + *b1*, where *a2* is a sibling of *a1* (a1's face moved half-way
  towards a random face). Each run loads some blocks from stage 1, and trains them, freezes them, or
  freezes them for the first K steps and then unfreezes them (a *kickstart*).

Every stage-2 run has the same seed, the same random initial weights for the blocks it does not load, the
same batches and the same number of steps, so differences between the curves come from what was loaded
and frozen.
"""),
    code(SETUP),
    code("""
from pathlib import Path
from phazelab.analysis import image_grid_figure
from phazelab.experiments import run_study
from phazelab.experiments.forum import World, topology_config

RUNS = [("scratch", "trainable"), ("encoder", "trainable"), ("encoder", "frozen"), ("encoder", "kickstart"),
        ("all_but_a", "trainable"), ("all_but_a", "kickstart")]
STUDY = lab.study_config(runs=RUNS)
OUT = Path("runs/nb03")
ids = World.build(STUDY)
faces, _ = ids.world.sample([ids.a1, ids.a2, ids.b1], n=6, seed=1, size=64)
print(f"{STUDY.preset}, batch {STUDY.batch}, stage 1: {STUDY.stage1_steps} steps, stage 2: {STUDY.stage2_steps} "
      f"steps per run, kickstart unfreezes at step {STUDY.kickstart}")
image_grid_figure(faces, nrow=6, title="a1 (top), a2 = a1's sibling (middle), b1 (bottom)")"""),
    md("""
## Run stage 1 and the stage-2 runs

This trains the stage-1 model and then one stage-2 model per row of `RUNS`. Finished runs are saved in
`runs/nb03` and reused when the cell runs again.
"""),
    code("""results = run_study(STUDY, OUT, device=S.device, progress=print)"""),
    md("""
## Kickstart curves

Training loss of each stage-2 run (a trailing mean). The grey line is the target: the loss the stage-1
model had reached part-way through its own training. *frozen* runs are dotted, *kickstart* runs dashed.
"""),
    code("""
from phazelab.experiments.report import aggregate, figures, summarize
figs = figures(results, "default")
figs[0]"""),
    code("""figs[1]"""),
    md("""
## The numbers behind the curves

`steps_to_target_*` is the first step whose trailing mean loss is at or below the target (empty = never
within this budget); `loss_b_step0` is side B's loss before stage 2 trains at all (`recon_ssim_b_*`: how well side B
reproduces held-out b1 frames, at step 0 and at the end); `swap_ssim_*` compare
the final swaps with the ground-truth renders. The sentences below are generated from this table.
"""),
    code("""
table = aggregate(results)
table[["strategy", "mode", "steps_to_target_a", "steps_to_target_b", "loss_b_step0", "recon_ssim_b_step0",
       "recon_ssim_b_final", "swap_ssim_ab", "swap_ssim_ba", "train_s"]]"""),
    code("""
for line in summarize(results, table):
    print("-", line)"""),
    md("""
## What did each block keep?

Relative weight drift of each block from stage 1 (0 = unchanged), and the linear CKA between each
block's outputs in stage 1 and after stage 2 (1 = the same representation up to rotation and scale).
"""),
    code("""figs[-2]"""),
    code("""figs[-1]"""),
    md("""
## Your turn

A fresh a2+b1 model and the saved stage-1 model as the source. Tick blocks to load (or pick a strategy),
toggle **freeze**, press **Apply**, then **Train**. The cell after the panels applies one strategy for
you so the notebook also runs unattended; change its name or use the panel instead.
"""),
    code("""
from phazelab import Trainer
from phazelab.widgets import BlockPanel, TrainPanel

model = lab.build(topology_config(STUDY, "default"))
trainer = Trainer(model, ids.world.source(ids.a2), ids.world.source(ids.b1), batch_size=STUDY.batch,
                  lr=STUDY.lr, device=S.device, preview_every=S.preview_every)
blocks = BlockPanel(model, sources={"stage 1 (a1+b1)": OUT / "stage1" / "default" / "seed0"}, trainer=trainer)
blocks"""),
    code("""
blocks.set_strategy("encoder+fc_b")
blocks.apply()
blocks.wait()
{name: status for name, status in blocks.status().items() if status}"""),
    code("""
train = TrainPanel(trainer, steps=STUDY.stage2_steps)
train"""),
    code("""lab.autorun(train)  # headless runs only; in JupyterLab press Train above"""),
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


NOTEBOOKS["05_the_forum_question.ipynb"] = [
    md("""
# 05 · The forum question

A faceswap user asked:

> *I am reusing Face B with a new Face A on Phaze-A with split fc. Should I load the encoder and fc_b but
> not fc_a? Should the shared G-Block stay unloaded? And if I load and freeze the encoder of an a1+b1
> model into an a2+b1 model, why doesn't a1 leak?*

This notebook runs that experiment on the synthetic face world, where every swap has an exact ground
truth: stage 1 trains a1+b1; stage 2 trains a2+b1 (a2 = a1's sibling) once per strategy, each with the
loaded blocks trainable, frozen, or frozen for the first K steps (kickstart). The same study runs from
the command line as `phazelab experiment forum` (add `--quick` for the CPU-sized version).
"""),
    code(SETUP),
    md("""
## The strategies, read from the model

Which blocks each strategy loads depends on the topology: in faceswap's default the G-Block and the
decoder are shared by both sides, with `split_decoders` each side has its own decoder. The table is
computed from each topology's model.
"""),
    code("""
import pandas as pd
from phazelab.strategies import STRATEGIES, STRATEGY_HELP
from phazelab.experiments.forum import strategy_plan, topology_config
from phazelab.model import meta_model

STUDY = lab.study_config(topologies=["default", "split_decoders"])
models = {t: meta_model(topology_config(STUDY, t)) for t in STUDY.topologies}
pd.DataFrame({s: {"what": STRATEGY_HELP[s],
                  **{t: ", ".join(strategy_plan(m, s)["load"]) or "-" for t, m in models.items()}}
              for s in STRATEGIES}).T"""),
    md("""
## Run the study

Choose runs and topologies, then press **Run study**. Finished runs are saved in `runs/nb05` and reused,
so adding a run later trains only that run. When it is done the panel shows the generated summary, the
table and the plots.
"""),
    code("""
from phazelab.widgets import StudyPanel
panel = StudyPanel(lambda runs, topologies: lab.study_config(runs=runs, topologies=topologies),
                   out="runs/nb05", device=S.device)
panel"""),
    code("""lab.autorun(panel)  # headless runs only; in JupyterLab press Run study above"""),
    md("""
## Does a1 leak into side A?

For each a2 frame, side A's output is compared with two ground-truth renders at the same pose,
expression and lighting: a2's (the right answer) and a1's. `leakage` places the output on the line between
them: 0 = a2's render, 1 = a1's. `closer_to_old` is the share of frames nearer a1's render. The scratch
run never saw a1, so its values show how large the number gets without any leakage: the noise level.
"""),
    code("""
from phazelab.experiments.report import aggregate, figures
results = panel.results
table = aggregate(results)
table[["topology", "strategy", "mode", "leakage_final", "leakage_max", "closer_to_old_final", "swap_ssim_ab",
       "recon_ssim_b_final"]]"""),
    code("""
[fig for t in results["study"]["topologies"] for fig in figures(results, t) if "leakage" in fig.layout.title.text][0]"""),
    md("""
The whole report (curves, tables, swap grids) is a single HTML file written next to the results:
"""),
    code("""print(panel.out / "report.html")"""),
]

NOTEBOOKS["06_open_your_faceswap_model.ipynb"] = [
    md("""
# 06 · Open your own faceswap model

If you have trained a Phaze-A model in faceswap, you can open it here and look inside *your* model:
which blocks it has, and where identity lives in them. faceswap keeps a model in a folder holding
`phaze_a.keras` (the weights, Keras 3) and `phaze_a_state.json` (the options it was built with,
iterations, sessions). phazelab reads both and builds the same model in PyTorch, weight for weight.

If you have no faceswap model at hand, this notebook opens a small one that faceswap itself saved
(the project's test fixture, random weights).

**Colours.** faceswap's fs_original encoder is trained on BGR faces (faceswap reads frames with
OpenCV). The import reorders the first and last layers' channels so the model takes and gives RGB
faces like every phazelab model: the same computation, channels permuted (`color_order="bgr"` keeps
faceswap's order).
"""),
    code(SETUP),
    code("""
from pathlib import Path
from phazelab.faceswap import example_model, import_faceswap

MODEL_DIR = None  # your faceswap model folder, e.g. Path("~/faceswap/models/my_phaze_a").expanduser()
source = Path(MODEL_DIR) if MODEL_DIR else example_model()
model = import_faceswap(source)
{k: v for k, v in model.faceswap_origin.items() if k != "ignored_options"}"""),
    md("""
## Its blocks

The same table as in notebook 01, read from the imported model. The options come from faceswap's state
file; faceswap's training options there (loss, learning rate, ...) do not change the model and are
listed in `faceswap_origin["ignored_options"]`.
"""),
    code("""
import pandas as pd
from phazelab import block_summary
pd.DataFrame(block_summary(model)).T.assign(params=lambda t: t.params.map("{:,}".format))"""),
    md("""
## Does it compute what faceswap computes?

The fixture folders also hold faceswap's own outputs for a few inputs (`reference.npz`); the largest
difference from phazelab's outputs is printed (a model of your own has no such file).
"""),
    code("""
from phazelab.faceswap.reference import compare_reference
reference = source / "reference.npz"
compare_reference(model, reference) if reference.is_file() else 'no reference.npz in this folder'"""),
    md("""
## Keep it as a phazelab model

Saved like any phazelab model (config.json, model.safetensors, meta.json with the faceswap origin):
`load_blocks`, `freeze`, the trainer and the widgets all take it. The same from a terminal:
`phazelab import-faceswap MODEL_DIR --out imported/my_phaze_a`.
"""),
    code("""
from phazelab import save
save(model, "imported/my_phaze_a")"""),
    md("""
## Where does identity live in it?

The explorer sends synthetic faces of several identities through the model, block by block (pick one
in the menu and press **Compute**). For a model trained on real faces, pass your own faces instead:
`LatentExplorer(model, images=faces, labels=frame)` with `faces` (N, 3, S, S) RGB in [0, 1] at the
model's input size.
"""),
    code("""
from phazelab.data import FaceWorld
from phazelab.widgets import LatentExplorer
world = FaceWorld(seed=0, n_identities=4)
explorer = LatentExplorer(model, world, n_per_identity=S.n_per_identity)
explorer.compute(); explorer.wait()
explorer"""),
    md("""
To look at these latents in TensorBoard's Projector (faceswap users know TensorBoard from training):
`explorer.export_projector("projector")`, then `tensorboard --logdir projector`.
"""),
]


def main() -> None:
    out = ROOT / "notebooks"
    out.mkdir(exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        for i, cell in enumerate(cells):
            cell["id"] = f"cell-{i:02d}"  # stable ids: regenerating leaves unchanged notebooks unchanged
        nb = new_notebook(cells=cells, metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"}})
        atomic_write_text(out / name, nbformat.writes(nb))
        print(f"wrote {out / name}")


if __name__ == "__main__":
    main()
