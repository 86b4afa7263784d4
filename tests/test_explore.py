"""Exploration helpers: Table 1 layout and counts, split summaries, Markdown output."""
from __future__ import annotations

import pandas as pd
import pytest

from mslc_utils.explore import class_counts, pick_examples, split_summary, table1, to_markdown
from mslc_utils.splits import make_splits
from mslc_utils.taxonomy import CLASSES

from conftest import objects_with_counts


def test_table1_layout_and_counts() -> None:
    counts = {c: 12 + i for i, c in enumerate(CLASSES)}
    objects = objects_with_counts(counts)
    t = table1(objects)
    assert list(t.columns) == ["Transient", "Stochastic", "Periodic"]
    assert t.shape == (9, 3)
    assert t.loc[0, "Transient"] == "SNIa (12)"
    assert t.loc[0, "Periodic"] == "LPV (24)"
    assert t.loc[8, "Transient"] == "-"
    cc = class_counts(objects)
    assert cc["n_objects"].sum() == sum(counts.values())
    assert cc.loc["DSCT", "paper_n_objects"] == 1610


def test_split_summary_totals() -> None:
    objects = objects_with_counts({c: 15 for c in CLASSES})
    s = split_summary(make_splits(objects))
    assert s.loc["total"].sum() == 15 * 21
    assert list(s.columns) == ["fold 0", "fold 1", "fold 2", "fold 3", "fold 4", "test"]
    assert (s.drop(index="total").sum(axis=1) == 15).all()


def test_pick_examples_and_markdown() -> None:
    objects = objects_with_counts({c: 12 for c in CLASSES})
    ids = pick_examples(objects, ["Blazar", "SNIa"], seed=1)
    labels = objects.set_index("object_id").loc[ids, "label"].tolist()
    assert labels == ["Blazar", "SNIa"]
    md = to_markdown(pd.DataFrame({"a": [1], "b": ["x"]}), index=False)
    assert md.splitlines() == ["| a | b |", "|---|---|", "| 1 | x |"]


def test_pick_examples_substitutes_absent_classes_within_their_group() -> None:
    objects = objects_with_counts({"SNIa": 3, "SNII": 2, "QSO": 2, "LPV": 4})
    with pytest.warns(UserWarning) as caught:
        ids = pick_examples(objects, ["SNIa", "SLSN", "Blazar"], seed=0)
    assert [str(w.message) for w in caught] == ["no object of class 'SLSN': showing class 'SNII' instead",
                                                "no object of class 'Blazar': showing class 'QSO' instead"]
    labels = objects.set_index("object_id").loc[ids, "label"].tolist()
    assert labels == ["SNIa", "SNII", "QSO"]  # same group first (Transient; Stochastic)
    with pytest.warns(UserWarning, match="no object of class 'AGN', and every class present is shown"):
        ids = pick_examples(objects.query("label != 'LPV'"), ["SNIa", "SNII", "QSO", "AGN"], seed=0)
    assert len(ids) == 3
    with pytest.raises(ValueError, match="no object of class 'SLSN'"):
        pick_examples(objects, ["SLSN"], substitute=False)
    with pytest.raises(ValueError, match="classes present"):
        pick_examples(objects.iloc[:0], ["SNIa"])


def test_estimate_period_recovers_a_sinusoid_with_gaps_and_two_bands() -> None:
    import numpy as np

    from mslc_utils.explore import estimate_period

    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 1000, 400))
    t = t[(t % 365) < 240]  # seasonal gaps, as from the ground
    true = 0.6237  # an RR Lyrae period, shorter than the nightly sampling
    bands = [(t, 100 + 50 * np.sin(2 * np.pi * t / true) + rng.normal(0, 5, len(t))),
             (t + 0.1, 300 + 30 * np.sin(2 * np.pi * (t + 0.1) / true) + rng.normal(0, 5, len(t)))]
    assert estimate_period(bands) == pytest.approx(true, rel=1e-3)
    with pytest.raises(ValueError, match="at least 10 epochs"):
        estimate_period([(t[:5], t[:5])])


def test_pick_representative_takes_the_median_sampled_object() -> None:
    from mslc_utils.explore import pick_representative

    rows = []
    for oid, n_ztf, n_atlas in (("A", 5, 100), ("B", 50, 60), ("C", 200, 200), ("D", 55, 0)):
        rows += [(oid, "ZTF", "g", float(i)) for i in range(n_ztf)]
        rows += [(oid, "ATLAS", "o", float(i)) for i in range(n_atlas)]
    lc = pd.DataFrame(rows, columns=["object_id", "survey", "band", "mjd"])
    objects = pd.DataFrame({"object_id": ["A", "B", "C", "D"], "label": ["SNIa"] * 4})
    # D is nearest the ZTF median but has no ATLAS light curve; B is typical in both surveys
    assert pick_representative(lc, objects, ["SNIa"]) == ["B"]


def test_table1_comparison_shares() -> None:
    from mslc_utils.explore import table1_comparison

    objects = objects_with_counts({c: 10 for c in CLASSES})
    t = table1_comparison(class_counts(objects))
    assert t["objects"].sum() == 210 and t["share [%]"].sum() == pytest.approx(100, abs=1.1)
    assert t["paper share [%]"].sum() == pytest.approx(100, abs=1.1)


def test_example_light_curves_share_the_time_axis_and_fold_periodic_classes() -> None:
    import numpy as np

    from mslc_utils.explore import plot_example_lightcurves

    rows = []
    for oid, t0 in (("P", 0.0), ("T", 0.0)):
        for survey, band, start in (("ZTF", "r", 1000.0), ("ATLAS", "o", 0.0)):
            t = np.linspace(start, start + 900, 120)
            rows += [(oid, survey, band, t0 + x, np.sin(x / 3.1), 0.1) for x in t]
    lc = pd.DataFrame(rows, columns=["object_id", "survey", "band", "mjd", "flux", "flux_err"])
    objects = pd.DataFrame({"object_id": ["P", "T"], "label": ["RRLab", "SNIa"]})
    fig = plot_example_lightcurves(lc, objects, ["P", "T"])
    axes = np.array(fig.axes).reshape(2, 3)
    assert axes[0, 0].get_xlim() == axes[0, 1].get_xlim()  # ZTF and ATLAS: same time range
    assert axes[0, 2].get_title().startswith("phase-folded") and not axes[1, 2].axison
    assert fig.legends and len(fig.legends[0].get_texts()) == 4  # one band key, outside the panels


def test_lombscargle_power_matches_scipy() -> None:
    import numpy as np
    from scipy.signal import lombscargle

    from mslc_utils.explore import lombscargle_power

    rng = np.random.default_rng(3)
    t = np.sort(rng.uniform(0, 900, 300))
    y = 20 * np.sin(2 * np.pi * t / 3.7) + rng.normal(0, 4, len(t))
    y -= y.mean()
    omegas = 2 * np.pi * np.linspace(0.001, 5, 5003)  # several blocks, the last one partial
    ours = lombscargle_power(t, y, omegas, chunk=1000)
    ref = lombscargle(t, y, omegas, normalize=True)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9)
    irregular = np.sort(rng.uniform(omegas[0], omegas[-1], 500))  # the direct path (no recurrence)
    np.testing.assert_allclose(lombscargle_power(t, y, irregular, chunk=200),
                               lombscargle(t, y, irregular, normalize=True), rtol=1e-6, atol=1e-9)
    assert ours.max() > 0.5  # the sinusoid's peak is there, not a flat zero
    assert np.all(lombscargle_power(t, np.zeros_like(y), omegas[:10]) == 0.0)
