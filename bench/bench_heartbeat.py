"""How often a notebook progress bar reaches the browser while one step takes seconds: a real ipykernel
runs `latent_table` with its probe slowed by a sleep (a wide block's logistic-regression probe takes
10–40 s on a 2-core CPU), and this script timestamps the bar's widget updates on the kernel's iopub
channel. With `phazelab.progress.heartbeat` the longest gap is about 1 s; without it, one update at the
probe's end.

    .venv/bin/python bench/bench_heartbeat.py [--sleep 6]
"""

from __future__ import annotations

import argparse
import queue
import time

CODE = r'''
import time, numpy as np
import phazelab.analysis.metrics as M
real = M.identity_probe
def slow_probe(*a, **k):
    time.sleep({sleep})  # a wide block's probe: seconds with no tick of its own
    return real(*a, **k)
M.identity_probe = slow_probe
X = np.random.default_rng(0).normal(size=(40, 8)); y = np.repeat(np.arange(4), 10)
M.latent_table({{"blockA": X}}, y, progress="heartbeat check")
'''


def main() -> None:
    from jupyter_client.manager import start_new_kernel

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sleep", type=float, default=6.0, help="seconds the slowed probe takes")
    args = parser.parse_args()
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        start = time.time()
        msg_id = kc.execute(CODE.format(sleep=args.sleep))
        stamps: list[float] = []
        while True:
            try:
                msg = kc.get_iopub_msg(timeout=120)
            except queue.Empty:
                break
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            data = msg["content"].get("data", {}) if msg["msg_type"] == "comm_msg" else {}
            value = data.get("state", {}).get("value") if data.get("method") == "update" else None
            if isinstance(value, str) and "heartbeat" not in value:  # the bar's right-hand text
                stamps.append(time.time() - start)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    print(f"{len(stamps)} bar updates; longest gap between two: {max(gaps, default=float('nan')):.1f} s "
          f"(probe slowed by {args.sleep:g} s)")


if __name__ == "__main__":
    main()
