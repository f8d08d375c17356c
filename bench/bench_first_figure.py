"""Where a notebook's first plotly figure spends its seconds in the kernel: a real ipykernel runs notebook
02's grid cell one statement at a time, and this script times each from execute to idle. The first
display of a figure imports plotly's notebook renderer (nbformat, jsonschema); later ones do not.

    .venv/bin/python bench/bench_first_figure.py
"""

from __future__ import annotations

import time

STEPS = [
    ("import torch and phazelab (the notebooks' first cell)",
     "import torch\nfrom phazelab import lab\nS = lab.settings()"),
    ("import image_grid_figure", "from phazelab.analysis import image_grid_figure"),
    ("the stage-1 world", "world, A, B = lab.stage1_world(S.topology)"),
    ("render 16 faces", "faces, labels = world.sample([A, B], n=8, seed=1, size=64)"),
    ("build the figure", "fig = image_grid_figure(faces, nrow=8, title='x')"),
    ("display it (the first figure)", "fig"),
    ("display it again", "fig"),
]


def main() -> None:
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        for what, code in STEPS:
            started, msg_id = time.perf_counter(), kc.execute(code)
            while True:
                msg = kc.get_iopub_msg(timeout=300)
                if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                        and msg["content"]["execution_state"] == "idle"):
                    break
            print(f"{time.perf_counter() - started:6.2f} s  {what}", flush=True)
    finally:
        km.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
