"""Every notebook runs top to bottom headless in quick mode; a failing cell fails the test."""

import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


def _in_browser() -> set[str]:
    """Notebooks tests/test_browser.py runs in chromium here (Run All unpressed, then its main button):
    the headless runs below skip them, so the default suite runs each notebook once, not three times."""
    import importlib.util

    from phazelab.labserver import chromium_path

    if chromium_path() is None or importlib.util.find_spec("playwright") is None:
        return set()
    root = Path(__file__).parents[1]
    spec = importlib.util.spec_from_file_location("notebook_screenshots", root / "scripts" / "notebook_screenshots.py")
    shots = sys.modules.setdefault("notebook_screenshots", importlib.util.module_from_spec(spec))
    if not hasattr(shots, "VIEWS"):
        spec.loader.exec_module(shots)  # registered first: its dataclasses look their module up
    return {v.stem for v in shots.VIEWS}


IN_BROWSER = _in_browser()


# Notebooks too slow for the default suite go here (they then run in `make test-all`). None is now:
# 04 in quick mode took 80 s on the 2-core CPU at load average 4.6 once its probes used pooled latents.
SLOW: set[str] = set()


@pytest.mark.notebook
@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW else p
                                  for p in NOTEBOOKS], ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(path, tmp_path, monkeypatch):
    if path.stem in IN_BROWSER:
        pytest.skip("run and its button pressed in chromium by tests/test_browser.py")
    monkeypatch.setenv("PHAZELAB_QUICK", "1")
    monkeypatch.setenv("PHAZELAB_AUTORUN", "1")
    monkeypatch.chdir(tmp_path)  # anything a notebook writes lands in a scratch folder
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code")


WITH_BUTTONS = [p for p in NOTEBOOKS if "lab.autorun(" in p.read_text()]


@pytest.mark.notebook
@pytest.mark.parametrize("path", WITH_BUTTONS, ids=[p.stem for p in WITH_BUTTONS])
def test_notebook_runs_with_nobody_pressing_a_button(path, tmp_path, monkeypatch):
    """Run All before any button is pressed: cells that read what a button produces say so, no traceback."""
    if path.stem in IN_BROWSER:
        pytest.skip("run unpressed, then pressed, in chromium by tests/test_browser.py")
    monkeypatch.setenv("PHAZELAB_QUICK", "1")
    monkeypatch.delenv("PHAZELAB_AUTORUN", raising=False)
    monkeypatch.chdir(tmp_path)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors


def test_notebooks_are_stored_without_outputs():
    assert NOTEBOOKS, "no notebooks found"
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.get("outputs") and not cell.get("execution_count"), path.name


CODE_WIDTH = 92  # characters: what JupyterLab shows of a code line at 1400 px with the file browser open


def test_code_lines_fit_the_notebook_width():
    """A learner reads the code cells: no line runs past the editor's width into a horizontal scroll."""
    long = [f"{path.name} cell {i}: {len(line)} chars: {line[:50]}…"
            for path in NOTEBOOKS for i, cell in enumerate(nbformat.read(path, as_version=4).cells)
            if cell.cell_type == "code" for line in cell.source.splitlines() if len(line) > CODE_WIDTH]
    assert not long, "\n".join(long)


def test_every_code_cell_is_valid_python():
    """A generator string with a lost escape (a "\\n" turned newline) fails here, not minutes into a run."""
    import ast

    for path in NOTEBOOKS:
        for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
            if cell.cell_type == "code":
                try:
                    ast.parse(cell.source)
                except SyntaxError as exc:
                    pytest.fail(f"{path.name} cell {i}: {exc}")


def test_notebooks_match_their_generator():
    """notebooks/ is written by scripts/make_notebooks.py: editing one without the other is a mistake."""
    import importlib.util

    script = Path(__file__).parents[1] / "scripts" / "make_notebooks.py"
    spec = importlib.util.spec_from_file_location("make_notebooks", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert sorted(module.NOTEBOOKS) == [p.name for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        stored = [c.source for c in nbformat.read(path, as_version=4).cells]
        assert stored == [c.source for c in module.cells_of(path.name)], path.name
        assert "make_notebooks.py" in stored[0]  # every notebook says where it comes from


