"""A real browser: JupyterLab + Debian's chromium driven by Playwright, as a learner uses notebook 02.

Open the notebook, run all cells, press Train, and check that the loss plot gains points and the preview
image changes. A screenshot lands in tests/artifacts/ (git-ignored).
"""

import shutil
from pathlib import Path

import pytest

from phazelab.labserver import KERNEL_IDLE, LabServerError, chromium_path, launch_chromium, serve_lab

ROOT = Path(__file__).parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    if chromium_path() is None:
        pytest.skip("Debian chromium is not installed (make test installs it where root + apt-get allow)")
    pytest.importorskip("playwright.sync_api")
    work = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", work / "notebooks")  # the browser saves notebooks: use copies
    try:
        with serve_lab(work, {"PHAZELAB_QUICK": "1", "PHAZELAB_AUTORUN": "0"}) as server:
            yield server
    except LabServerError as e:
        pytest.fail(str(e))


LOSS_POINTS = """() => {
  for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    for (const t of (gd.data || [])) if (t.name === 'loss_a') return (t.x || []).length;
  }
  return -1;
}"""

PREVIEW_SRCS = """() => [...document.querySelectorAll('img.widget-image')].map(i => i.src)"""


def test_train_button_updates_loss_plot_and_preview(lab_server):
    from playwright.sync_api import sync_playwright

    url, token = lab_server
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{url}/lab/tree/notebooks/02_train_a_pair.ipynb?token={token}")
            page.wait_for_function(KERNEL_IDLE, timeout=180_000)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            train = page.locator("button.jupyter-button", has_text="Train")
            train.wait_for(state="visible", timeout=300_000)
            page.wait_for_function(KERNEL_IDLE, timeout=300_000)  # every cell has run
            page.wait_for_function(f"() => ({LOSS_POINTS})() === 0", timeout=60_000)
            train.scroll_into_view_if_needed()
            page.wait_for_function(f"() => ({PREVIEW_SRCS})().length > 0", timeout=60_000)
            previews_before = page.evaluate(PREVIEW_SRCS)
            train.click()
            page.wait_for_function(f"() => ({LOSS_POINTS})() >= 3", timeout=300_000)
            page.wait_for_function(
                f"() => JSON.stringify(({PREVIEW_SRCS})()) !== {repr(__import__('json').dumps(previews_before))}",
                timeout=300_000)
            # ...and the new image is a preview rendered after training steps, not the step-0 one again
            page.get_by_text(__import__("re").compile(r"preview at step [1-9]")).wait_for(timeout=300_000)
            points = page.evaluate(LOSS_POINTS)
            assert points >= 3
            page.locator(".js-plotly-plot").last.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "02_train_a_pair.png"), full_page=False)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "02_train_a_pair-failure.png"))
            raise
        finally:
            page.evaluate("() => window.jupyterapp?.commands.execute('kernelmenu:shutdown')")
            browser.close()
