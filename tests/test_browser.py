"""A real browser: JupyterLab + Debian's chromium driven by Playwright, as a learner uses the notebooks.

Every notebook of scripts/notebook_screenshots.py's VIEWS is opened and run with Run All while nobody
presses anything (cells that read a button's result must say so, not raise), then its main button is
clicked in chromium (Train, Run study, Compute) and the test waits until what it started has finished
and its view is drawn. Any cell error or widget error fails the test, naming the notebook. A screenshot
per notebook lands in tests/artifacts/ (git-ignored). Where this runs, the headless nbclient runs of the
same notebooks (tests/test_notebooks.py) are skipped: this covers both of them.
"""

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

from phazelab.labserver import LabServerError, chromium_path, launch_chromium, serve_lab

ROOT = Path(__file__).parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
_spec = importlib.util.spec_from_file_location("notebook_screenshots", ROOT / "scripts" / "notebook_screenshots.py")
shots = sys.modules.setdefault("notebook_screenshots", importlib.util.module_from_spec(_spec))
if not hasattr(shots, "VIEWS"):
    _spec.loader.exec_module(shots)  # registered first: its dataclasses look their module up

pytestmark = [pytest.mark.browser]


def browser_available() -> bool:
    """chromium and playwright are both here (tests/test_notebooks.py reads this too)."""
    return chromium_path() is not None and importlib.util.find_spec("playwright") is not None


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    if not browser_available():
        pytest.skip("Debian chromium or playwright is not installed (make test installs them where root + "
                    "apt-get allow)")
    work = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", work / "notebooks")  # the browser saves notebooks: use copies
    try:
        with serve_lab(work, {"PHAZELAB_QUICK": "1", "PHAZELAB_AUTORUN": "0"}) as server:
            yield server
    except LabServerError as e:
        pytest.fail(str(e))


@pytest.fixture(scope="module")
def browser(lab_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch_chromium(pw)
        try:
            yield b
        finally:
            b.close()


@pytest.mark.parametrize("view", shots.VIEWS, ids=[v.stem for v in shots.VIEWS])
def test_notebook_runs_and_its_main_button_works_in_chromium(lab_server, browser, view):
    url, token = lab_server
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport=shots.VIEWPORT)
    try:
        shots.run_notebook(page, url, token, view, press_in_browser=True)
        shots.screenshot(page, ARTIFACTS / f"{view.stem}.png")
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"{view.stem}-failure.png"))
        raise
    finally:
        try:
            page.evaluate("async () => await window.jupyterapp?.shell?.currentWidget?.sessionContext?.shutdown()")
        except Exception:
            pass
        page.close()
