"""Shared fixtures: tiny hand-made canonical tables, local SwinV2 checkpoints, run_all.sh runs."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mslc_utils.taxonomy import CLASS_TO_GROUP

SHARED = Path(__file__).resolve().parents[2] / "shared"
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


# Test modules whose module-scoped fixture is a whole run_all.sh run: all their tests go to one
# pytest-xdist worker, so the run is made once (scheduled first: the largest unit).
ONE_WORKER_MODULES = ("tests/test_paper_profile.py",)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``-n N`` (``--dist load``): every test its own unit, except the modules of
    :data:`ONE_WORKER_MODULES`, each one unit.

    With plain ``load`` the paper-profile module was split between the two workers at a chunk
    boundary and its ~3-minute fixture ran on both (docs/testing.md). ``--dist loadgroup`` with
    ``xdist_group`` would be the usual fix, but on pytest 9.2 with pytest-xdist 3.8 it groups
    nothing (the group is written into the node id, which pytest 9.2 no longer lets a plugin
    change: pytest-dev/pytest-xdist#1386), so the grouping is done here by module path."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class OneWorkerPerSharedRun(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scheduling_unit(nodeid)

    return OneWorkerPerSharedRun(config, log)


def scheduling_unit(nodeid: str) -> str:
    """The scheduling unit of a test: its module for :data:`ONE_WORKER_MODULES`, else itself."""
    module = nodeid.split("::", 1)[0]
    return module if module in ONE_WORKER_MODULES else nodeid


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest tests first (``@pytest.mark.long(seconds)``, longest first; the rest keep their order).

    With two pytest-xdist workers the unit tests take as long as the longer worker's share: a
    200-second test that starts last ends minutes after everything else (docs/testing.md). Only
    tests without module-scoped fixtures carry the mark, so moving them splits no module's
    fixtures; test_paper_profile.py runs on one worker (:func:`pytest_xdist_make_scheduler`)."""
    def seconds(item: pytest.Item) -> float:
        mark = item.get_closest_marker("long")
        return float(mark.args[0]) if mark and mark.args else 0.0

    for item in items:
        if seconds(item):
            shared = [name for name, defs in item._fixtureinfo.name2fixturedefs.items()
                      if defs and defs[-1].scope in ("module", "class", "package")]
            if shared:
                raise pytest.UsageError(f"{item.nodeid}: marked long but uses module-scoped fixtures {shared}; "
                                        "moving it first would set them up twice")
    items.sort(key=lambda item: -seconds(item))  # stable: unmarked tests keep pytest's order


def save_local_swin(directory: Path, config: dict, seed: int = 0, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """A random-weight SwinV2 saved like a hub checkpoint: ``save_pretrained`` (safetensors)
    plus the ``preprocessor_config.json`` of the image processor. Returns (model, processor dict)."""
    import torch
    from transformers import Swinv2Config, Swinv2Model

    torch.manual_seed(seed)
    model = Swinv2Model(Swinv2Config(**config))
    model.save_pretrained(directory)
    size = int(model.config.image_size)
    proc = {
        "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": mean, "image_std": std,
        "image_processor_type": "ViTImageProcessor", "resample": 3, "rescale_factor": 1 / 255,
        "size": {"height": size, "width": size},
    }
    (Path(directory) / "preprocessor_config.json").write_text(json.dumps(proc))
    return model, proc


def run_all_env(tmp: Path, **extra: str) -> dict[str, str]:
    """Environment for ``run_all.sh`` in a test: this interpreter's environment, outputs under
    ``tmp`` (``OUT_DIR``, ``EXEC_DIR``), the CPU; ``extra`` variables added."""
    env = dict(os.environ)
    for var in ("DATA_DIR", "SEED"):
        env.pop(var, None)
    env.update(OUT_DIR=str(tmp / "out"), EXEC_DIR=str(tmp / "executed"), DEVICE="cpu", VIRTUAL_ENV=sys.prefix,
               PATH=str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", ""), **extra)
    return env


def make_tables(n_per_survey: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two objects, both surveys, two bands each, ``n_per_survey`` epochs per band."""
    rows = []
    for oid in ("OBJ1", "OBJ2"):
        for survey, bands in (("ZTF", ("g", "r")), ("ATLAS", ("c", "o"))):
            for b, band in enumerate(bands):
                for i in range(n_per_survey):
                    rows.append((oid, survey, band, 58000.0 + i + 0.1 * b, 10.0 * i - 5, 1.0 + i, i > 2))
    lc = pd.DataFrame(rows, columns=["object_id", "survey", "band", "mjd", "flux", "flux_err", "detected"])
    objects = pd.DataFrame(
        {
            "object_id": ["OBJ1", "OBJ2"],
            "ra": [10.0, 20.0],
            "dec": [5.0, -5.0],
            "label": ["SNIa", "RRLab"],
        }
    )
    objects["group"] = objects["label"].map(CLASS_TO_GROUP)
    return lc, objects


@pytest.fixture
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_tables()


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.exists():
        pytest.skip(f"{SHARED} not present (the shared fixtures live beside the checkout)")
    return SHARED


def objects_with_counts(counts: dict[str, int]) -> pd.DataFrame:
    """An object table with the given number of objects per class."""
    labels = [lab for lab, n in counts.items() for _ in range(n)]
    rng = np.random.default_rng(1)
    ids = [f"O{i:05d}" for i in rng.permutation(len(labels))]
    df = pd.DataFrame({"object_id": ids, "ra": 0.0, "dec": 0.0, "label": labels})
    df["group"] = df["label"].map(CLASS_TO_GROUP)
    return df


@pytest.fixture
def one_torch_thread():
    """Tiny models run fastest (and least disturbed by other processes) on one thread."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
