"""scripts/store_outputs.py: executed notebooks become the committed ones, without papermill's additions."""
from __future__ import annotations

import runpy
from pathlib import Path

import nbformat
import pytest

store = runpy.run_path(str(Path(__file__).resolve().parents[1] / "scripts" / "store_outputs.py"))


def _source() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('PROFILE = "quick"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# 01"), params, nbformat.v4.new_code_cell("print(1)")]
    return nb


def _executed(source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(source)
    injected = nbformat.v4.new_code_cell('PROFILE = "/abs/quick.yaml"')
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(2, injected)
    nb.metadata["papermill"] = {"duration": 1.0}
    for c in nb.cells:
        c.metadata["papermill"] = {"duration": 0.1}
        c.metadata["execution"] = {"iopub.status.busy": "2026-01-01"}
    nb.cells[-1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    return nb


def test_store_drops_injected_cell_and_run_metadata(tmp_path):
    (tmp_path / "nb").mkdir(), (tmp_path / "ex").mkdir()
    nbformat.write(_source(), tmp_path / "nb" / "01_x.ipynb")
    nbformat.write(_executed(_source()), tmp_path / "ex" / "01_x.ipynb")
    assert store["main"](["--executed", str(tmp_path / "ex"), "--notebooks", str(tmp_path / "nb")]) == 0
    stored = nbformat.read(tmp_path / "nb" / "01_x.ipynb", as_version=4)
    assert [c.source for c in stored.cells] == [c.source for c in _source().cells]
    assert "papermill" not in stored.metadata
    assert all("papermill" not in c.metadata and "execution" not in c.metadata for c in stored.cells)
    assert stored.cells[-1].outputs[0]["text"] == "1\n"


def test_store_refuses_stale_or_failed_copies(tmp_path):
    (tmp_path / "nb").mkdir(), (tmp_path / "ex").mkdir()
    nbformat.write(_source(), tmp_path / "nb" / "01_x.ipynb")
    stale = _executed(_source())
    stale.cells[-1].source = "print(2)"
    nbformat.write(stale, tmp_path / "ex" / "01_x.ipynb")
    with pytest.raises(SystemExit, match="differ"):
        store["main"](["--executed", str(tmp_path / "ex"), "--notebooks", str(tmp_path / "nb")])
    failed = _executed(_source())
    failed.cells[-1].outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue="x", traceback=[])]
    nbformat.write(failed, tmp_path / "ex" / "01_x.ipynb")
    with pytest.raises(SystemExit, match="error"):
        store["main"](["--executed", str(tmp_path / "ex"), "--notebooks", str(tmp_path / "nb")])
