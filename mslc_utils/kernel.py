"""The Jupyter kernel "Python (mslc)" that the notebooks name, installed into this environment.

``run_all.sh`` calls ``python -m mslc_utils.kernel`` (nbval in ``scripts/test.sh`` needs no
kernel spec: it runs in the current environment, ``--nbval-current-env``). Why not
``python -m ipykernel install --user``, as before:

* ``--user`` writes to ``~/.local/share/jupyter/kernels/mslc``, shared by every clone and
  environment of the user: the last one to run decides which interpreter every other clone's
  notebooks start in.
* ``ipykernel install`` deletes the kernel directory and copies a new one; two runs starting
  at once (two clones, or the unit tests that run ``run_all.sh`` on both cores) race on it and
  one fails with ``FileNotFoundError: kernel.json``.

Here the spec goes to ``<sys.prefix>/share/jupyter/kernels/mslc`` (found by Jupyter started
from this environment, e.g. ``jupyter lab`` after ``source .venv/bin/activate``), it is
rewritten only when it differs, and the write is atomic (a temporary file renamed into
place), so concurrent runs never see a missing or half-written ``kernel.json``.
``run_all.sh`` also puts this directory first on ``JUPYTER_PATH``, so that papermill starts
this environment's kernel even where an older ``--user`` spec of the same name exists.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

KERNEL_NAME = "mslc"
DISPLAY_NAME = "Python (mslc)"


def kernel_spec(python: str | None = None) -> dict:
    """The kernel spec (``kernel.json`` content) that starts ``python`` (default: this one)."""
    from ipykernel.kernelspec import get_kernel_dict

    spec = get_kernel_dict()
    spec["argv"][0] = python or sys.executable
    spec["display_name"] = DISPLAY_NAME
    return spec


def kernels_dir(prefix: str | os.PathLike | None = None) -> Path:
    """``<prefix>/share/jupyter/kernels`` (default prefix: this environment's ``sys.prefix``)."""
    return Path(prefix or sys.prefix) / "share" / "jupyter" / "kernels"


def ensure_kernel(prefix: str | os.PathLike | None = None, python: str | None = None) -> Path:
    """Install (or update) the ``mslc`` kernel spec under ``prefix``; return its ``kernel.json``.

    Idempotent and safe to run concurrently: an up-to-date spec is left untouched, otherwise
    the new one replaces the old by an atomic rename.
    """
    spec = kernel_spec(python)
    path = kernels_dir(prefix) / KERNEL_NAME / "kernel.json"
    try:
        if json.loads(path.read_text()) == spec:
            return path
    except (OSError, ValueError):
        pass  # missing or unreadable: (re)write it
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".kernel.", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(spec, f, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def main() -> None:
    """``python -m mslc_utils.kernel``: install the spec; print the directory to put on JUPYTER_PATH."""
    path = ensure_kernel()
    print(path.parents[2])  # <prefix>/share/jupyter


if __name__ == "__main__":
    main()
