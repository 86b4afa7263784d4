"""The committed notebooks' stored outputs are clean and show their figures.

Reads ``notebooks/NN_*.ipynb`` as committed (no execution) and fails on:

* a cell that makes a figure (it calls :func:`mslc_utils.figures.show_and_save`, pyplot or
  ``savefig``) without an ``image/png`` output — unless tagged ``figure-optional`` (a figure
  drawn only when its input exists, e.g. the filtering report of real data);
* an absolute path of the machine (``/work/``, ``/root/``, ``/home/``, ``/tmp/``,
  ``/Users/``, ``site-packages``) in any stored output;
* ``Warning`` or ``Traceback`` in a stored output, or an error output.

The checks run on an in-memory copy in the unit tests below, to prove each one can fail.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))

#: a code cell that makes a figure
FIGURE_CALL = re.compile(r"show_and_save\(|\bplt\.|\.savefig\(")
MACHINE_PATH = re.compile(r"/work/|/root/|/home/|/tmp/|/Users/|site-packages")
NOISE = re.compile(r"Warning|Traceback")
OPTIONAL_TAG = "figure-optional"


def _output_texts(output: dict) -> list[str]:
    """Every text of one stored output (streams, text/* and error fields; not images)."""
    if output.get("output_type") == "stream":
        return [output.get("text", "")]
    if output.get("output_type") == "error":
        return [output.get("ename", ""), output.get("evalue", ""), "\n".join(output.get("traceback", []))]
    data = output.get("data", {})
    return [v if isinstance(v, str) else "".join(v) for k, v in data.items() if k.startswith("text/")]


def output_problems(nb: nbformat.NotebookNode, name: str = "notebook") -> list[str]:
    """Every problem of a notebook's stored outputs (empty: clean)."""
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        outputs = cell.get("outputs", [])
        where = f"{name} cell {i}"
        tags = cell.get("metadata", {}).get("tags", [])
        has_png = any("image/png" in o.get("data", {}) for o in outputs)
        if FIGURE_CALL.search(cell.source) and not has_png and OPTIONAL_TAG not in tags:
            problems.append(f"{where}: makes a figure but stores no image/png output")
        for o in outputs:
            if o.get("output_type") == "error":
                problems.append(f"{where}: error output {o.get('ename')}")
            if o.get("output_type") == "stream" and o.get("name") == "stderr":
                problems.append(f"{where}: stderr output {o.get('text', '')[:80]!r}")
            for text in _output_texts(o):
                if m := MACHINE_PATH.search(text):
                    problems.append(f"{where}: machine path {m.group(0)!r} in an output")
                if m := NOISE.search(text):
                    problems.append(f"{where}: {m.group(0)!r} in an output")
    return problems


def test_notebooks_exist():
    assert len(NOTEBOOKS) >= 6, f"expected the numbered notebooks in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_are_clean(path):
    nb = nbformat.read(path, as_version=4)
    assert output_problems(nb, path.name) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_opens_with_a_question_and_ends_with_what_we_saw(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and "**Question.**" in nb.cells[0].source
    headings = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert headings[-1].strip().startswith("## What we saw")
    last = nb.cells[-1]
    assert last.cell_type == "code" and last.get("outputs"), "the closing summary must be computed and stored"


def _figure_cell(nb) -> int:
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code" and any("image/png" in o.get("data", {}) for o in c.get("outputs", [])):
            return i
    raise AssertionError("no cell with a figure output")


def test_check_fails_when_a_figure_output_is_removed():
    path = NOTEBOOK_DIR / "02_image_rendering.ipynb"
    nb = nbformat.read(path, as_version=4)
    assert output_problems(nb) == []
    broken = copy.deepcopy(nb)
    i = _figure_cell(broken)
    broken.cells[i].outputs = [o for o in broken.cells[i].outputs if "image/png" not in o.get("data", {})]
    problems = output_problems(broken)
    assert any("no image/png" in p and f"cell {i}" in p for p in problems), problems


def _one_cell_notebook(source: str, outputs: list) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    nb.cells = [cell]
    return nb


@pytest.mark.parametrize(
    "output, expected",
    [
        ({"output_type": "stream", "name": "stdout", "text": "artifacts: /work/main/artifacts/quick\n"}, "machine path"),
        ({"output_type": "stream", "name": "stdout", "text": "/x/.venv/lib/site-packages/tqdm/auto.py\n"}, "machine path"),
        ({"output_type": "stream", "name": "stdout", "text": "TqdmWarning: IProgress not found\n"}, "'Warning'"),
        ({"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": ["Traceback"]}, "error output"),
        ({"output_type": "display_data", "data": {"text/plain": "<a href='/home/u/x'>"}, "metadata": {}}, "machine path"),
    ],
)
def test_check_finds_each_kind_of_noise(output, expected):
    problems = output_problems(_one_cell_notebook("print(1)", [output]))
    assert any(expected in p for p in problems), problems


def test_check_accepts_a_clean_figure_and_an_optional_one():
    png = {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Image>"}, "metadata": {}}
    assert output_problems(_one_cell_notebook("figures.show_and_save(fig, stem)", [png])) == []
    optional = _one_cell_notebook("if x:\n    figures.show_and_save(fig, stem)", [])
    assert output_problems(optional)  # a figure cell without image fails ...
    optional.cells[0].metadata["tags"] = [OPTIONAL_TAG]
    assert output_problems(optional) == []  # ... unless tagged figure-optional
