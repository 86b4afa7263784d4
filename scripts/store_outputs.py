#!/usr/bin/env python
"""Store the outputs of executed notebooks in the committed ones.

    ./run_all.sh && python scripts/store_outputs.py            # executed/quick/ -> notebooks/

The committed notebooks under ``notebooks/`` carry the outputs of one clean quick run (they
are what a reader sees first, and what nbval compares against). papermill's executed copies
differ from the sources only by what papermill adds: the cell of injected parameters and
its run metadata (durations, timestamps). This script copies each executed notebook over its
source without those, and refuses a notebook whose code differs from its source (a stale
executed copy) or that stopped on an error.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
INJECTED = "injected-parameters"


def clean(executed: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``executed`` without papermill's injected-parameters cell and run metadata."""
    nb = nbformat.from_dict(executed)  # a copy
    nb.cells = [c for c in nb.cells if INJECTED not in c.metadata.get("tags", [])]
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    return nb


def check_same_code(source: nbformat.NotebookNode, stored: nbformat.NotebookNode, name: str) -> None:
    """Raise if the executed notebook's cells are not the source's (it ran older code)."""
    a = [(c.cell_type, c.source) for c in source.cells]
    b = [(c.cell_type, c.source) for c in stored.cells]
    if a != b:
        raise SystemExit(f"{name}: the executed copy's cells differ from notebooks/{name}; run it again")
    errors = [o for c in stored.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    if errors:
        raise SystemExit(f"{name}: the executed copy stopped on an error ({errors[0].get('ename')})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--executed", default=str(ROOT / "executed" / "quick"), help="folder of executed notebooks")
    ap.add_argument("--notebooks", default=str(ROOT / "notebooks"), help="folder of the committed notebooks")
    args = ap.parse_args(argv)
    executed, target = Path(args.executed), Path(args.notebooks)
    sources = sorted(target.glob("[0-9][0-9]_*.ipynb"))
    missing = [p.name for p in sources if not (executed / p.name).is_file()]
    if missing:
        raise SystemExit(f"not executed in {executed}: {', '.join(missing)}")
    for src in sources:
        stored = clean(nbformat.read(executed / src.name, as_version=4))
        check_same_code(nbformat.read(src, as_version=4), stored, src.name)
        nbformat.write(stored, src)
        print(f"stored {src.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
