"""scripts/prepare_nbval.py: the nbval run of scripts/test.sh writes outside the clone."""
from __future__ import annotations

import runpy
from pathlib import Path

import nbformat
import pytest

from mslc_utils.config import repo_root, setup

prep = runpy.run_path(str(Path(__file__).resolve().parents[1] / "scripts" / "prepare_nbval.py"))


def _notebook(tags=("parameters",)) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('PROFILE = "quick"\nOUT_DIR = None')
    params.metadata["tags"] = list(tags)
    stored = nbformat.v4.new_code_cell("print(1)")
    stored.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    stored.metadata["tags"] = ["nbval-check-output"]
    nb.cells = [nbformat.v4.new_markdown_cell("# 01"), params, stored]
    return nb


def test_copies_inject_out_dir_after_parameters_and_keep_stored_outputs(tmp_path):
    src, dest, out = tmp_path / "nb", tmp_path / "copies", tmp_path / "out"
    src.mkdir()
    nbformat.write(_notebook(), src / "01_a.ipynb")
    nbformat.write(_notebook(), src / "02_b.ipynb")
    nbformat.write(_notebook(), src / "scratch.ipynb")  # not a numbered notebook: not copied
    before = (src / "01_a.ipynb").read_bytes()
    written = prep["prepare"](src, dest, out)
    assert (src / "01_a.ipynb").read_bytes() == before  # the committed notebook is untouched
    assert [p.name for p in written] == ["01_a.ipynb", "02_b.ipynb"]
    assert sorted(p.name for p in dest.iterdir()) == ["01_a.ipynb", "02_b.ipynb"]
    nb = nbformat.read(dest / "01_a.ipynb", as_version=4)
    assert [c.metadata.get("tags", []) for c in nb.cells] == [[], ["parameters"], ["injected-parameters"], ["nbval-check-output"]]
    namespace: dict = {}
    exec(nb.cells[1].source + "\n" + nb.cells[2].source, namespace)  # the order the kernel runs them
    assert namespace["OUT_DIR"] == str(out.resolve())
    assert nb.cells[3].outputs == _notebook().cells[2].outputs  # compared by nbval as committed


def test_a_notebook_without_one_parameters_cell_is_named(tmp_path):
    (tmp_path / "nb").mkdir()
    nbformat.write(_notebook(tags=()), tmp_path / "nb" / "03_c.ipynb")
    with pytest.raises(ValueError, match=r"03_c.ipynb: expected one cell tagged 'parameters', found 0"):
        prep["prepare"](tmp_path / "nb", tmp_path / "copies", tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="no numbered notebooks"):
        prep["prepare"](tmp_path / "copies", tmp_path / "x", tmp_path / "out")


def test_the_injected_out_dir_sends_figures_outside_the_clone(tmp_path):
    ctx = setup("quick", None, str(tmp_path / "out"), "cpu", None)
    assert ctx.out_dir == (tmp_path / "out").resolve()
    assert ctx.figures_dir == (tmp_path / "out" / "figures").resolve()
    assert not ctx.figures_dir.is_relative_to(repo_root())


def test_every_shipped_notebook_can_be_prepared(tmp_path):
    written = prep["prepare"](repo_root() / "notebooks", tmp_path / "copies", tmp_path / "out")
    assert len(written) == len(list((repo_root() / "notebooks").glob("[0-9][0-9]_*.ipynb"))) >= 7
