"""``scripts/execute_notebooks.py`` (run by the docs build) executes notebooks into a jupyter-cache that myst-nb reads,
and fails with the traceback when a cell raises."""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_cache import get_cache

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "execute_notebooks.py"


def _write_notebook(path, *sources):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    return notebook


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.fixture
def notebooks(tmp_path):
    working = _write_notebook(
        tmp_path / "working.ipynb", "import os", "print(os.environ['LIBSPN_KERAS_TUTORIALS_QUICK'])"
    )
    broken = _write_notebook(tmp_path / "broken.ipynb", "x = 1", "raise ValueError('broken on purpose')")
    return tmp_path, working, broken


def test_outputs_land_in_the_cache_that_myst_nb_matches(notebooks):
    folder, working, _ = notebooks
    result = _run("--jobs", 2, "--cache", folder / "cache", folder / "working.ipynb")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "executed 1 of 1 notebooks" in result.stdout
    cache = get_cache(str(folder / "cache"))
    # myst-nb's cache mode looks the source notebook up by its code and merges the stored outputs into it.
    record = cache.match_cache_notebook(working)
    _, merged = cache.merge_match_into_notebook(working)
    assert record is not None
    # The kernel ran in the docs build's environment: quick mode on.
    assert merged.cells[1].outputs[0]["text"].strip() == "1"


def test_a_raising_cell_fails_with_its_traceback(notebooks):
    folder, _, _ = notebooks
    result = _run("--cache", folder / "cache", folder / "working.ipynb", folder / "broken.ipynb")
    assert result.returncode == 1
    assert "executed 1 of 2 notebooks" in result.stdout
    # The traceback is the kernel's (coloured); the cell's source and the exception are in it.
    assert "broken.ipynb failed" in result.stdout and "raise ValueError('broken on purpose')" in result.stdout
