"""Shared fixtures: tiny hand-made canonical tables."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mslc_utils.taxonomy import CLASS_TO_GROUP

SHARED = Path(__file__).resolve().parents[2] / "shared"


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
