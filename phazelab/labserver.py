"""JupyterLab on 127.0.0.1 with a token, and Debian's chromium driven by Playwright.

Shared by the real-browser test (tests/test_browser.py) and `scripts/notebook_screenshots.py`. Playwright
drives the system chromium (`executable_path`); nothing is fetched with `playwright install`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM_ARGS", "KERNEL_IDLE", "LabServerError", "chromium_path", "free_port", "launch_chromium",
           "serve_lab", "wait_for_status"]

# Headless chromium in a container: no sandbox (root), no GPU, no /dev/shm reliance, no network chatter.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run")

# JS predicate for `page.wait_for_function`: the current notebook's kernel is idle.
KERNEL_IDLE = """() => window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'"""


class LabServerError(RuntimeError):
    """JupyterLab did not start (the message ends with its log)."""


def chromium_path() -> str | None:
    """Debian's chromium (`chromium` on PATH or /usr/bin/chromium), or None when it is not installed."""
    path = shutil.which("chromium") or "/usr/bin/chromium"
    return path if os.path.exists(path) else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_status(url: str, token: str, proc: subprocess.Popen | None = None, timeout: float = 120.0) -> None:
    """Poll `{url}/api/status` until the server answers; raise LabServerError if `proc` exits or time runs out."""
    deadline = time.time() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            return
        except OSError as e:
            if proc is not None and proc.poll() is not None:
                raise LabServerError(f"JupyterLab exited with code {proc.returncode}") from e
            if time.time() > deadline:
                raise LabServerError(f"JupyterLab did not answer {url}/api/status within {timeout:.0f} s") from e
            time.sleep(0.5)


@contextmanager
def serve_lab(root: str | Path, env: Mapping[str, str] | None = None,
              timeout: float = 120.0) -> Iterator[tuple[str, str]]:
    """Run JupyterLab on a free 127.0.0.1 port with a random token, serving `root`; yield (url, token).

    `env` is added to this process's environment for the server and its kernels (e.g. PHAZELAB_QUICK).
    The app is exposed as `window.jupyterapp`; workspaces, user settings (defaults, without the "news"
    prompt) and the log (`server.log`) stay inside `root`, so the user's own JupyterLab set-up plays no part.
    The server is stopped on exit; LabServerError (with the log's tail) if it does not start.
    """
    root = Path(root)
    settings = root / "user-settings"
    notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True, exist_ok=True)
    notification.write_text('{"fetchNews": "false", "checkForUpdates": false}\n')
    port, token = free_port(), secrets.token_hex(16)
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           f"--LabServerApp.workspaces_dir={root / 'workspaces'}", f"--LabServerApp.user_settings_dir={settings}",
           "--LabApp.expose_app_in_browser=True"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log_path = root / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                cwd=root)
        try:
            try:
                wait_for_status(url, token, proc, timeout)
            except LabServerError as e:
                raise LabServerError(f"{e}:\n{log_path.read_text()[-2000:]}") from None
            yield url, token
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def launch_chromium(playwright: Any, headless: bool = True) -> Any:
    """Launch Debian's chromium through a Playwright instance (`sync_playwright()`); returns the Browser."""
    path = chromium_path()
    if path is None:
        raise FileNotFoundError("Debian chromium is not installed (`make browser` installs it where it can)")
    return playwright.chromium.launch(executable_path=path, headless=headless, args=list(CHROMIUM_ARGS))
