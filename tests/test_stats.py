"""Cadence statistics on hand-made tables with hand-computed answers."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mslc_utils.stats import PAPER_CADENCE, cadence_statistics, compare_with_paper, epochs_per_light_curve


def _table() -> pd.DataFrame:
    rows = [
        # object A: ZTF epochs 0, 1, 3 (two bands) -> diffs 1, 2; ATLAS 0, 2 -> diff 2
        ("A", "ZTF", "g", 0.0),
        ("A", "ZTF", "r", 1.0),
        ("A", "ZTF", "g", 3.0),
        ("A", "ATLAS", "c", 0.0),
        ("A", "ATLAS", "o", 2.0),
        # object B: ZTF 10, 10.5 -> diff 0.5; ATLAS 5, 6, 8, 12 -> diffs 1, 2, 4
        ("B", "ZTF", "r", 10.0),
        ("B", "ZTF", "g", 10.5),
        ("B", "ATLAS", "o", 5.0),
        ("B", "ATLAS", "c", 6.0),
        ("B", "ATLAS", "o", 8.0),
        ("B", "ATLAS", "c", 12.0),
    ]
    lc = pd.DataFrame(rows, columns=["object_id", "survey", "band", "mjd"])
    lc["flux"], lc["flux_err"], lc["detected"] = 1.0, 1.0, False
    # shuffled: the statistics must sort epochs per light curve themselves
    return lc.sample(frac=1.0, random_state=3).reset_index(drop=True)


def test_cadence_statistics_hand_computed():
    st = cadence_statistics(_table())
    assert list(st.index) == ["ZTF", "ATLAS"]
    assert list(st.columns) == ["median_cadence_d", "std_cadence_d", "median_n_obs", "n_objects"]
    # ZTF pooled diffs [1, 2, 0.5]; ATLAS pooled diffs [2, 1, 2, 4]
    assert st.loc["ZTF", "median_cadence_d"] == pytest.approx(1.0)
    mean = 3.5 / 3
    var = ((1 - mean) ** 2 + (2 - mean) ** 2 + (0.5 - mean) ** 2) / 3
    assert st.loc["ZTF", "std_cadence_d"] == pytest.approx(math.sqrt(var))
    assert st.loc["ZTF", "median_n_obs"] == pytest.approx(2.5)
    assert st.loc["ATLAS", "median_cadence_d"] == pytest.approx(2.0)
    assert st.loc["ATLAS", "std_cadence_d"] == pytest.approx(math.sqrt(1.1875))
    assert st.loc["ATLAS", "median_n_obs"] == pytest.approx(3.0)
    assert st["n_objects"].tolist() == [2, 2]


def test_no_difference_across_objects():
    # two one-epoch light curves: no difference may be taken between objects
    lc = pd.DataFrame({"object_id": ["A", "B"], "survey": ["ZTF", "ZTF"], "mjd": [0.0, 100.0]})
    st = cadence_statistics(lc)
    assert np.isnan(st.loc["ZTF", "median_cadence_d"]) and np.isnan(st.loc["ZTF", "std_cadence_d"])
    assert st.loc["ZTF", "median_n_obs"] == 1.0
    assert "ATLAS" not in st.index


def test_epochs_per_light_curve():
    n = epochs_per_light_curve(_table()).set_index(["object_id", "survey"])["n_obs"]
    assert n.to_dict() == {("A", "ATLAS"): 2, ("A", "ZTF"): 3, ("B", "ATLAS"): 4, ("B", "ZTF"): 2}


def test_missing_column_is_named():
    with pytest.raises(KeyError, match="mjd"):
        cadence_statistics(pd.DataFrame({"object_id": ["A"], "survey": ["ZTF"]}))


def test_paper_numbers_and_comparison():
    assert PAPER_CADENCE.loc["ZTF", "median_cadence_d"] == 1.13
    assert PAPER_CADENCE.loc["ATLAS", "std_cadence_d"] == 11.03
    assert PAPER_CADENCE.loc["ATLAS", "median_n_obs"] == 1493
    cmp = compare_with_paper(cadence_statistics(_table()))
    assert cmp.loc[("ZTF", "median_cadence_d"), "this"] == pytest.approx(1.0)
    assert cmp.loc[("ZTF", "median_cadence_d"), "ratio"] == pytest.approx(1.0 / 1.13)
    assert cmp.loc[("ATLAS", "median_n_obs"), "ratio"] == pytest.approx(3.0 / 1493)
    assert len(cmp) == 6
