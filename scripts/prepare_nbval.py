#!/usr/bin/env python
"""Copy the numbered notebooks for the nbval run of ``scripts/test.sh``, writing outside the clone.

nbval executes a notebook with the parameters stored in it (``OUT_DIR = None``: artifacts in
``artifacts/<profile>`` and figures in ``figures/<profile>`` of the clone), so a test run would
overwrite the committed figures (``figures/quick`` is tracked) with the test machine's
re-plots. nbval cannot inject papermill parameters; this script does what papermill does
instead: it copies each ``NN_*.ipynb`` to ``DEST`` with a cell tagged
``injected-parameters`` after the ``parameters`` cell that sets ``OUT_DIR`` to a directory
outside the clone (figures then go to ``OUT_DIR/figures``, :func:`mslc_utils.config.setup`).
Stored outputs are copied unchanged, so nbval compares against the committed ones.

    python scripts/prepare_nbval.py notebooks /tmp/nbval/notebooks --out-dir /tmp/nbval/artifacts
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

INJECTED_TAG = "injected-parameters"


def inject_out_dir(nb: nbformat.NotebookNode, out_dir: Path, name: str) -> nbformat.NotebookNode:
    """Insert ``OUT_DIR = <out_dir>`` right after the cell tagged ``parameters``."""
    where = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(where) != 1:
        raise ValueError(f"{name}: expected one cell tagged 'parameters', found {len(where)}")
    cell = nbformat.v4.new_code_cell(
        f"# injected by scripts/prepare_nbval.py for the test run: write outside the clone\nOUT_DIR = {str(out_dir)!r}",
        metadata={"tags": [INJECTED_TAG]},
    )
    nb.cells.insert(where[0] + 1, cell)
    return nb


def prepare(src: Path, dest: Path, out_dir: Path) -> list[Path]:
    """Copy every ``NN_*.ipynb`` of ``src`` to ``dest`` with ``OUT_DIR`` injected; the copies."""
    notebooks = sorted(src.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"{src}: no numbered notebooks (NN_*.ipynb)")
    dest.mkdir(parents=True, exist_ok=True)
    out_dir = out_dir.resolve()
    written = []
    for path in notebooks:
        nb = inject_out_dir(nbformat.read(path, as_version=4), out_dir, str(path))
        target = dest / path.name
        nbformat.write(nb, target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path, help="the clone's notebooks/ directory")
    ap.add_argument("dest", type=Path, help="where the copies go")
    ap.add_argument("--out-dir", type=Path, required=True, help="OUT_DIR of the copies (outside the clone)")
    args = ap.parse_args(argv)
    for target in prepare(args.src, args.dest, args.out_dir):
        print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
