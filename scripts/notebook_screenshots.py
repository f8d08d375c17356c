"""Screenshots of each notebook's main view for the README (run `make screenshots`).

notebooks/ is copied to a temporary folder and served by JupyterLab with PHAZELAB_QUICK=1 (small, fast
runs) and PHAZELAB_AUTORUN=1 (`lab.autorun` presses the Train / Run study buttons headless). For each
notebook, Debian's chromium opens it, runs all cells, waits until every cell has run and the kernel is
idle, scrolls the notebook's main widget or plot to the top and writes docs/screenshots/<notebook>.png
(1400×1000, written atomically). A cell that raises fails the run with the notebook's name.

    python scripts/notebook_screenshots.py               # all notebooks
    python scripts/notebook_screenshots.py --only 02 04  # some of them
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phazelab.labserver import KERNEL_IDLE, LabServerError, chromium_path, launch_chromium, serve_lab

ROOT = Path(__file__).resolve().parents[1]
VIEWPORT = {"width": 1400, "height": 1000}


@dataclass(frozen=True)
class View:
    """What to photograph in one notebook.

    `cell`: text of the cell whose output is the main view. `ready`: JS body (with `out`, that cell's node)
    true once the view is drawn. `press`: a button in that output to click first, as a learner would.
    `button`: (text of its cell, label) of the notebook's main button, which `lab.autorun` presses
    headless under PHAZELAB_AUTORUN=1 and a browser test clicks itself (`press_in_browser`); `done`: JS
    body (with `out`, that button cell's output) true once what it started has finished.
    The cell is aligned to the top of the notebook for the screenshot.
    """

    stem: str
    cell: str
    ready: str
    run_timeout_s: float
    press: str | None = None
    button: tuple[str, str] | None = None
    done: str = "!out.querySelector('button.jupyter-button:disabled')"


HAS_PLOT = "[...out.querySelectorAll('.js-plotly-plot')].some(gd => (gd.data || []).some(t => (t.x || []).length))"

TRAINED = f"{HAS_PLOT} && /finished/.test(out.innerText)"  # the TrainPanel's status line (Pause stays disabled)
VIEWS = [
    View("01_meet_phaze_a", "TopologyPicker(", "!!out.querySelector('svg.phazelab-diagram')", 600),
    View("02_train_a_pair", "TrainPanel(",
         f"{HAS_PLOT} && !!out.querySelector('img.widget-image[src^=\"blob:\"], img.widget-image[src^=\"data:\"]')",
         900, button=("panel = TrainPanel(", "Train"),
         done=f"{TRAINED} && /preview at step [1-9]/.test(out.innerText)"),
    View("03_transfer_learning", "figs = figures(", HAS_PLOT, 1800, button=("train = TrainPanel(", "Train"),
         done=TRAINED),
    View("04_where_identity_lives", "LatentExplorer(",
         f"{HAS_PLOT} && !out.querySelector('button.jupyter-button:disabled')", 1800, press="Compute"),
    View("05_the_forum_question", "StudyPanel(", f"{HAS_PLOT} && out.innerText.includes('The three answers')", 2400,
         button=("panel = StudyPanel(", "Run study"),
         done=f"{HAS_PLOT} && out.innerText.includes('The three answers')"),
]

# Progress of "run all": code cells that have run, errors in any output, kernel state.
RUN_STATE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.widgets;
  const errors = [], notes = [];
  let total = 0, done = 0, running = false;
  cells.forEach((cell, i) => {
    if (cell.model.type !== 'code') return;
    total += 1;
    if (cell.model.executionCount !== null) done += 1;
    if (cell.model.executionState === 'running') running = true;
    const head = cell.model.sharedModel.getSource().split('\\n')[0].slice(0, 60);
    const outputs = cell.model.outputs;
    for (let j = 0; j < outputs.length; j++) {
      const o = outputs.get(j).toJSON();
      const text = Array.isArray(o.text) ? o.text.join('') : String(o.text || '');
      if (o.output_type === 'error') errors.push(`cell ${i} (${head}): ${o.ename}: ${o.evalue}`);
      else if (o.output_type === 'stream' && o.name === 'stderr') {
        if (text.includes('Traceback')) errors.push(`cell ${i} (${head}): ${text.trim().split('\\n').pop()}`);
        else notes.push(`cell ${i} stderr: ${text.trim().slice(0, 300)}`);
      }
    }
  });
  if (!errors.length) {  // the rendered outputs too, in case the model check missed one
    for (const el of panel.node.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')) {
      if (el.innerText.includes('Traceback')) errors.push(el.innerText.trim().split('\\n').slice(-1)[0]);
    }
  }
  for (const el of panel.node.querySelectorAll('.phazelab-error')) errors.push('widget: ' + el.innerText.trim());
  // a widget box wider than the space it has shows a sideways scroll bar (or clips): the layout is off
  // and so does a table's main view (table_view); its "details" tables may scroll
  for (const el of panel.node.querySelectorAll('.jp-OutputArea-output .widget-box, .phazelab-table-main')) {
    if (el.offsetParent && el.scrollWidth > el.clientWidth + 1) {
      const i = cells.findIndex(c => c.node.contains(el));  // the notebook's own index (windowing-safe)
      const what = el.classList.contains('phazelab-table-main') ? 'a table' : 'a widget box';
      errors.push(`cell ${i}: ${what} ${el.scrollWidth} px wide in ${el.clientWidth} px (${el.className})`);
    }
  }
  if (panel.node.innerText.includes('Error displaying widget')) errors.push('a widget failed to display');
  const status = panel.sessionContext?.session?.kernel?.status;
  return {total, done, running, status, errors: [...new Set(errors)], notes};
}"""

CELL_INDEX = """(text) => window.jupyterapp.shell.currentWidget.content.widgets
  .findIndex(c => c.model.sharedModel.getSource().includes(text))"""


class NotebookError(RuntimeError):
    """A notebook could not be photographed (the message names it)."""


def _out_js(index: int, body: str) -> str:
    """A JS function whose `out` is the output area of cell `index` (or the cell when it has none)."""
    return (f"() => {{ const cell = window.jupyterapp.shell.currentWidget.content.widgets[{index}]; "
            f"const out = cell.node.querySelector('.jp-Cell-outputWrapper') || cell.node; return ({body}); }}")


def _page_error(stem: str, errors: list[str]) -> NotebookError:
    """What RUN_STATE found wrong on the page (a cell's error, a widget or table wider than its space), as one error."""
    return NotebookError(f"{stem}: a cell raised an error or drew a widget or table wider than its space:\n  "
                         + "\n  ".join(errors))


def _poll(page: Any, stem: str, what: str, timeout_s: float, check: Any) -> Any:
    """Call check() every 2 s until it returns something truthy; NotebookError on a cell error or timeout."""
    deadline, state = time.time() + timeout_s, None
    while time.time() < deadline:
        state = page.evaluate(RUN_STATE)
        if state["errors"]:
            raise _page_error(stem, state["errors"])
        result = check(state)
        if result:
            return result
        time.sleep(2)
    raise NotebookError(f"{stem}: timed out after {timeout_s:.0f} s waiting for {what} "
                        f"({state and state['done']}/{state and state['total']} code cells run, "
                        f"kernel {state and state['status']})")


def _click(page: Any, stem: str, cell_text: str, label: str) -> int:
    """Click the button `label` in the output of the cell containing `cell_text`; returns the cell index."""
    index = page.evaluate(CELL_INDEX, cell_text)
    if index < 0:
        raise NotebookError(f"{stem}: no cell contains {cell_text!r}")
    cell = page.evaluate_handle(f"() => window.jupyterapp.shell.currentWidget.content.widgets[{index}].node")
    cell.as_element().wait_for_selector(f"button.jupyter-button:has-text('{label}')", timeout=60_000).click()
    time.sleep(1)
    return index


def run_notebook(page: Any, url: str, token: str, view: View, press_in_browser: bool = False) -> list[str]:
    """Open the notebook, run all cells, (with `press_in_browser`) click its main button and wait until
    what it started is done, then wait for the view; returns stderr notes seen in outputs. Raises
    NotebookError naming the notebook on a cell error or a timeout."""
    page.goto(f"{url}/lab/workspaces/shot-{view.stem[:2]}/tree/notebooks/{view.stem}.ipynb?reset&token={token}")
    page.wait_for_function(KERNEL_IDLE, timeout=300_000)
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    settled = {"n": 0}

    def all_run(state: dict) -> dict | None:  # every code cell has an execution count, twice in a row, idle
        ok = state["done"] == state["total"] and not state["running"] and state["status"] == "idle"
        settled["n"] = settled["n"] + 1 if ok else 0
        return state if settled["n"] >= 2 else None

    state = _poll(page, view.stem, "all cells to run", view.run_timeout_s, all_run)
    if press_in_browser and view.button:
        pressed = _click(page, view.stem, *view.button)
        _poll(page, view.stem, f"{view.button[1]!r} to finish", view.run_timeout_s,
              lambda _s: page.evaluate(_out_js(pressed, view.done)))
    index = page.evaluate(CELL_INDEX, view.cell)
    if index < 0:
        raise NotebookError(f"{view.stem}: no cell contains {view.cell!r}")
    page.evaluate(f"""async () => {{
        const nb = window.jupyterapp.shell.currentWidget.content;
        try {{ await nb.scrollToItem({index}, 'start'); }} catch (e) {{}}
        nb.widgets[{index}].node.scrollIntoView({{block: 'start'}});
    }}""")
    if view.press:
        _click(page, view.stem, view.cell, view.press)
    _poll(page, view.stem, "its main view to be drawn", 600, lambda _s: page.evaluate(_out_js(index, view.ready)))
    page.evaluate(f"""() => {{
        const nb = window.jupyterapp.shell.currentWidget.content;
        nb.activeCellIndex = 0;  // the title cell, out of view: no highlight or cell toolbar in the shot
        nb.mode = 'command';
        nb.widgets[{index}].node.scrollIntoView({{block: 'start'}});
        window.dispatchEvent(new Event('resize'));
    }}""")
    time.sleep(2)  # plotly relayout after the resize, images decoded
    final = page.evaluate(RUN_STATE)
    if final["errors"]:
        raise _page_error(view.stem, final["errors"])
    return state["notes"]


def screenshot(page: Any, path: Path) -> None:
    """The viewport as a PNG, written to a temporary file and renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".png")
    os.close(fd)
    try:
        page.screenshot(path=tmp, type="png", full_page=False)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a repository file is world-readable
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def select(only: list[str] | None) -> list[View]:
    """The views whose notebook stem starts with one of `only` ("02", "04_where..."), all by default."""
    if not only:
        return list(VIEWS)
    chosen = [v for v in VIEWS if any(v.stem.startswith(o.removesuffix(".ipynb")) for o in only)]
    unknown = [o for o in only if not any(v.stem.startswith(o.removesuffix(".ipynb")) for v in VIEWS)]
    if unknown:
        raise SystemExit(f"notebook_screenshots: no notebook matches {unknown}; "
                         f"choose from {[v.stem for v in VIEWS]}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NN", help="notebook numbers or stems (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="folder for the PNGs")
    parser.add_argument("--failures", type=Path, default=ROOT / "tests" / "artifacts",
                        help="where a screenshot of a failed notebook goes (default: tests/artifacts)")
    args = parser.parse_args(argv)
    views = select(args.only)
    if chromium_path() is None:
        raise SystemExit("notebook_screenshots: Debian chromium is not installed (run `make browser`)")
    from playwright.sync_api import sync_playwright

    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="phazelab-shots-") as work:
        shutil.copytree(ROOT / "notebooks", Path(work) / "notebooks",
                        ignore=shutil.ignore_patterns("runs", ".ipynb_checkpoints"))
        try:
            with serve_lab(work, {"PHAZELAB_QUICK": "1", "PHAZELAB_AUTORUN": "1"}) as (url, token), \
                    sync_playwright() as pw:
                browser = launch_chromium(pw)
                try:
                    for view in views:
                        started = time.time()
                        page = browser.new_page(viewport=VIEWPORT)
                        try:
                            notes = run_notebook(page, url, token, view)
                            path = args.out / f"{view.stem}.png"
                            screenshot(page, path)
                            print(f"{path}  ({time.time() - started:.0f} s)", flush=True)
                            for note in notes:
                                print(f"  note: {note}", flush=True)
                        except Exception as e:  # one broken notebook must not hide the others
                            message = str(e) if isinstance(e, NotebookError) else f"{view.stem}: {e!r}"
                            failures.append(message)
                            args.failures.mkdir(parents=True, exist_ok=True)
                            shot = args.failures / f"{view.stem}-screenshot-failure.png"
                            try:
                                page.screenshot(path=str(shot))
                                message += f"\n  (what the browser showed: {shot})"
                            except Exception:
                                pass
                            print(f"FAILED {message}", file=sys.stderr, flush=True)
                        finally:
                            try:
                                page.evaluate("async () => await window.jupyterapp?.shell?.currentWidget"
                                              "?.sessionContext?.shutdown()")
                            except Exception:
                                pass
                            page.close()
                finally:
                    browser.close()
        except LabServerError as e:
            raise SystemExit(f"notebook_screenshots: {e}") from None
    if failures:
        print(f"notebook_screenshots: {len(failures)} notebook(s) failed:\n" + "\n".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
