"""The embedded simulator: schema, class counts, noise model, cadence, selection, determinism."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mslc_utils.schema import validate_lightcurves
from mslc_utils.simulate import (
    ATLAS,
    ATLAS_MIN_SKY,
    DETECTION_SNR,
    MIN_ZTF_DETECTIONS,
    PRE_DETECTION_WINDOW_D,
    ZTF,
    class_counts,
    flux_error,
    mag_to_flux,
    simulate_dataset,
    simulate_object,
)
from mslc_utils.stats import cadence_statistics
from mslc_utils.taxonomy import CLASS_TO_GROUP, CLASSES, PAPER_COUNTS

TRANSIENTS = [c for c in CLASSES if CLASS_TO_GROUP[c] == "Transient"]


@pytest.fixture(scope="module")
def sim() -> tuple[pd.DataFrame, pd.DataFrame]:
    """63 objects (3 per class at least), full survey baselines (~130k rows, < 1 s)."""
    return simulate_dataset(63, seed=5, min_per_class=3)


# ---------------------------------------------------------------- schema and layout
def test_valid_both_surveys_all_classes(sim):
    lc, objects = sim
    validate_lightcurves(lc, objects, require_both_surveys=True)
    assert set(objects["label"]) == set(CLASSES)
    per_obj = lc.groupby("object_id")["survey"].nunique()
    assert (per_obj == 2).all() and len(per_obj) == len(objects)
    assert (objects["group"] == objects["label"].map(CLASS_TO_GROUP)).all()


def test_dtypes_ids_sky_and_order(sim):
    lc, objects = sim
    for col in ("object_id", "survey", "band"):
        assert pd.api.types.is_string_dtype(lc[col].dtype)
    for col in ("mjd", "flux", "flux_err"):
        assert lc[col].dtype == np.float64
    assert lc["detected"].dtype == bool
    assert objects["object_id"].str.fullmatch(r"SIM\d{6}").all()
    assert (objects["dec"] > -30).all() and objects["ra"].between(0, 360).all()
    expected = lc.sort_values(["object_id", "survey", "mjd"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(lc, expected)
    assert not lc.duplicated(["object_id", "survey", "band", "mjd"]).any()
    assert set(lc.loc[lc["survey"] == "ZTF", "band"]) == {"g", "r"}
    assert set(lc.loc[lc["survey"] == "ATLAS", "band"]) == {"c", "o"}
    assert lc.loc[lc["survey"] == "ZTF", "mjd"].between(ZTF.mjd_start, ZTF.mjd_end).all()
    assert lc.loc[lc["survey"] == "ATLAS", "mjd"].between(ATLAS.mjd_start, ATLAS.mjd_end).all()


def test_detected_column_and_difference_fluxes(sim):
    lc, objects = sim
    np.testing.assert_array_equal(lc["detected"], (lc["flux"].abs() / lc["flux_err"]) >= DETECTION_SNR)
    # difference fluxes of variables oscillate around ~0: both signs are common
    var_ids = objects.loc[objects["group"] == "Periodic", "object_id"]
    var = lc[lc["object_id"].isin(var_ids) & (lc["survey"] == "ZTF")]
    frac_neg = (var["flux"] < 0).groupby(var["object_id"]).mean()
    assert frac_neg.between(0.05, 0.95).mean() > 0.8


# ---------------------------------------------------------------- class counts
def test_class_counts_proportional_with_floor():
    counts = class_counts(1000, min_per_class=12)
    assert sum(counts.values()) == 1000
    assert min(counts.values()) == 12
    floored = {c for c in CLASSES if PAPER_COUNTS[c] * 1000 / sum(PAPER_COUNTS.values()) < 12}
    assert floored == {"SNIIn", "SLSN", "TDE", "Microlensing"}
    assert all(counts[c] == 12 for c in floored)
    # the others share the remaining 952 objects in proportion to Table 1 (rounding < 1)
    free_total = sum(PAPER_COUNTS[c] for c in CLASSES if c not in floored)
    for c in CLASSES:
        if c not in floored:
            assert abs(counts[c] - 952 * PAPER_COUNTS[c] / free_total) < 1.0, c
    # by hand: 952 * 2936 / 38921 = 71.81 -> 72 (large remainder); QSO 71.50 -> 71 (the nine
    # largest remainders, down to 0.69, get the 9 objects left after flooring)
    assert (counts["RRLc"], counts["SNIa"], counts["QSO"], counts["AGN"]) == (72, 61, 71, 71)
    assert class_counts(21, min_per_class=1) == {c: 1 for c in CLASSES}


def test_class_counts_bad_input():
    with pytest.raises(ValueError, match="too small"):
        class_counts(100, min_per_class=10)
    with pytest.raises(ValueError, match="min_per_class"):
        class_counts(100, min_per_class=-1)


def test_dataset_counts_follow_class_counts(sim):
    _, objects = sim
    assert objects["label"].value_counts().to_dict() == {c: n for c, n in class_counts(63, 3).items() if n}


# ---------------------------------------------------------------- noise model
def test_depth_gives_snr_five():
    for sv in (ZTF, ATLAS):
        f_lim = float(mag_to_flux(sv.depth_mag))
        assert f_lim / float(sv.flux_error(f_lim)) == pytest.approx(5.0, rel=1e-9)
    f = float(mag_to_flux(20.5))
    assert f / float(ZTF.flux_error(f)) == pytest.approx(5.0, rel=1e-9)
    # the same source is well below 5 sigma in ATLAS, whose depth is 19.5 mag
    assert f / float(ATLAS.flux_error(f)) < 2.5
    # source photon noise and the calibration floor grow the error with flux, but the SNR
    # still rises with flux and saturates at 1 / calibration_floor
    err = flux_error(np.array([0.0, 100.0, 1e4, 1e7]), 20.5, source_noise_coeff=0.015, calibration_floor=0.01)
    assert np.all(np.diff(err) > 0)
    snr = np.array([100.0, 1e4, 1e7]) / err[1:]
    assert np.all(np.diff(snr) > 0) and snr[-1] == pytest.approx(100.0, rel=0.01)


def test_atlas_noisier_than_ztf(sim):
    fluxes = np.logspace(0, 5, 30)
    assert (ATLAS.flux_error(fluxes) > ZTF.flux_error(fluxes)).all()
    lc, _ = sim
    med_err = lc.groupby(["object_id", "survey"])["flux_err"].median().unstack()
    ratio = med_err["ATLAS"] / med_err["ZTF"]
    assert ratio.median() > 1.5
    assert (ratio > 1).mean() > 0.9


def test_cadence_in_intended_ranges(sim):
    lc, _ = sim
    st = cadence_statistics(lc)
    # paper: ZTF 1.13 d / 6.5 d; ATLAS 1.52 d / 11.03 d (medians within +-40%)
    assert 0.68 <= st.loc["ZTF", "median_cadence_d"] <= 1.58
    assert 0.91 <= st.loc["ATLAS", "median_cadence_d"] <= 2.13
    assert 4.0 <= st.loc["ZTF", "std_cadence_d"] <= 10.0
    assert 6.0 <= st.loc["ATLAS", "std_cadence_d"] <= 16.0
    # variables span the whole baseline: hundreds to thousands of epochs, more in ATLAS
    n = lc.groupby(["object_id", "survey"]).size().unstack()
    long = n[n["ZTF"] > 200]
    assert 500 <= long["ZTF"].median() <= 1400
    assert 800 <= long["ATLAS"].median() <= 2100


# ---------------------------------------------------------------- selection
def test_selection_and_transient_window(sim):
    lc, objects = sim
    z = lc[lc["survey"] == "ZTF"]
    n_det = z.groupby("object_id")["detected"].sum()
    assert (n_det >= MIN_ZTF_DETECTIONS).all()
    transients = objects.loc[objects["label"].isin(TRANSIENTS), "object_id"]
    assert len(transients) >= 18
    atlas_spans = []
    for oid in transients:
        zd = z[(z["object_id"] == oid) & z["detected"]]["mjd"]
        first, last = zd.min(), zd.max()
        rows = z[z["object_id"] == oid]  # default: only ZTF is cut (as the real-data alert_window step)
        assert rows["mjd"].min() >= first - PRE_DETECTION_WINDOW_D - 1e-9, oid
        assert rows["mjd"].max() == last, oid
        # a window of weeks to a couple of years, not the whole survey
        assert rows["mjd"].max() - rows["mjd"].min() < 1000
        a = lc.loc[(lc["object_id"] == oid) & (lc["survey"] == "ATLAS"), "mjd"]
        atlas_spans.append(a.max() - a.min())
    # ATLAS keeps its whole history (queried at the ZTF position, not cut)
    assert np.median(atlas_spans) > 2000
    # non-transients keep their whole history
    lpv = objects.loc[objects["label"] == "LPV", "object_id"].iloc[0]
    span = lc.loc[(lc["object_id"] == lpv) & (lc["survey"] == "ATLAS"), "mjd"]
    assert span.max() - span.min() > 2000


def test_alert_window_in_both_surveys_when_asked():
    lc, objects = simulate_dataset(21, seed=3, min_per_class=1, alert_window_surveys=("ZTF", "ATLAS"))
    for oid in objects.loc[objects["label"].isin(TRANSIENTS), "object_id"]:
        z = lc[(lc["object_id"] == oid) & (lc["survey"] == "ZTF")]
        first, last = z.loc[z["detected"], "mjd"].min(), z.loc[z["detected"], "mjd"].max()
        rows = lc[lc["object_id"] == oid]
        assert rows["mjd"].min() >= first - PRE_DETECTION_WINDOW_D - 1e-9, oid
        assert rows["mjd"].max() <= last + 1e-9, oid
    with pytest.raises(ValueError, match="unknown survey"):
        simulate_dataset(21, seed=3, min_per_class=1, alert_window_surveys=("PS1",))


def test_transients_bright_as_labelled_ones(sim):
    """Labelled transients are spectroscopically classified: peak |SNR| ~ tens (fixtures: ~55)."""
    lc, objects = sim
    z = lc[(lc["survey"] == "ZTF") & lc["object_id"].isin(objects.loc[objects["label"].isin(TRANSIENTS), "object_id"])]
    peak = (z["flux"].abs() / z["flux_err"]).groupby(z["object_id"]).quantile(0.995)
    assert 20.0 <= peak.median() <= 120.0


def test_pre_detection_fluxes_are_quiet():
    # before the explosion a supernova's difference flux is noise around zero
    obj = simulate_object(0, "SNIa", seed=11)
    z = obj.epochs["ZTF"]
    t0 = obj.params["t0"]
    early = z["mjd"] < t0 - 15
    if early.sum() >= 3:
        assert np.abs(np.median(z["flux"][early] / z["flux_err"][early])) < 2.0
    peak = np.argmax(z["flux"])
    assert z["flux"][peak] / z["flux_err"][peak] > 5


@pytest.mark.parametrize(
    "label, lo, hi",
    [("RRLab", 0.45, 0.8), ("RRLc", 0.25, 0.42), ("DSCT", 0.03, 0.2), ("CEP", 1.0, 50.0), ("LPV", 100.0, 1000.0)],
)
def test_periods_in_class_ranges(label, lo, hi):
    periods = [simulate_object(i, label, seed=2, time_span_days=200).params["period"] for i in range(15)]
    assert lo <= min(periods) and max(periods) <= hi
    assert max(periods) - min(periods) > 0.2 * (hi - lo)


# ---------------------------------------------------------------- determinism and knobs
def test_deterministic_and_seed_dependent():
    a = simulate_dataset(21, seed=4, min_per_class=1, time_span_days=200)
    b = simulate_dataset(21, seed=4, min_per_class=1, time_span_days=200)
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])
    c = simulate_dataset(21, seed=5, min_per_class=1, time_span_days=200)
    assert not a[1]["ra"].equals(c[1]["ra"])
    assert len(a[0]) != len(c[0]) or not np.array_equal(a[0]["flux"].to_numpy(), c[0]["flux"].to_numpy())


def test_objects_independent_of_generation_order(sim):
    lc, objects = sim
    row = objects.iloc[17]
    obj = simulate_object(17, row["label"], seed=5)
    assert obj.ra == row["ra"] and obj.dec == row["dec"]
    mine = lc[(lc["object_id"] == row["object_id"]) & (lc["survey"] == "ATLAS")]
    np.testing.assert_array_equal(mine["mjd"].to_numpy(), obj.epochs["ATLAS"]["mjd"])
    np.testing.assert_array_equal(mine["flux"].to_numpy(), obj.epochs["ATLAS"]["flux"])


def test_time_span_and_max_epochs_knobs():
    lc, objects = simulate_dataset(21, seed=1, min_per_class=1, time_span_days=300, max_epochs_per_survey=60)
    validate_lightcurves(lc, objects, require_both_surveys=True)
    assert lc["mjd"].between(ZTF.mjd_end - 300, ZTF.mjd_end).all()
    assert lc.groupby(["object_id", "survey"]).size().max() <= 60


def test_bad_arguments():
    with pytest.raises(ValueError, match="seed"):
        simulate_dataset(21, seed=-1, min_per_class=1)
    with pytest.raises(ValueError, match="time_span_days"):
        simulate_dataset(21, min_per_class=1, time_span_days=5)
    with pytest.raises(KeyError, match="unknown class"):
        simulate_object(0, "Pulsar")
    with pytest.raises(RuntimeError, match="no draw"):
        simulate_object(0, "SNIa", max_epochs_per_survey=MIN_ZTF_DETECTIONS - 1, max_attempts=3)


def test_run_data_uses_the_profile_alert_window_setting(tmp_path) -> None:
    """mslc_utils.data passes preprocess.steps.alert_window.surveys to the simulator."""
    from mslc_utils.config import setup
    from mslc_utils.data import get_dataset

    spans = {}
    for name, steps in (("default", {}), ("both", {"alert_window": {"surveys": ["ZTF", "ATLAS"]}})):
        ctx = setup("quick", OUT_DIR=str(tmp_path / name), DEVICE="cpu")
        ctx.config["data"].update(n_objects=210, min_per_class=10)
        ctx.config["preprocess"]["steps"] = steps
        ds = get_dataset(ctx)
        assert ds.manifest["simulation"]["alert_window_surveys"] == (["ZTF"] if name == "default" else ["ZTF", "ATLAS"])
        lc = ds.lightcurves
        tr = ds.objects.loc[ds.objects["label"].isin(TRANSIENTS), "object_id"]
        a = lc[(lc["survey"] == "ATLAS") & lc["object_id"].isin(tr)]
        spans[name] = (a.groupby("object_id")["mjd"].max() - a.groupby("object_id")["mjd"].min()).median()
    assert spans["default"] > 2000 > 1000 > spans["both"]


# ---------------------------------------------------------------- the paper's ATLAS sky cut
def test_sky_brightness_follows_depth():
    band = np.array([0, 1, 1, 0])
    depth = np.array([ATLAS.depth_mag + 0.2, ATLAS.depth_mag, ATLAS.depth_mag - 1.0, ATLAS.depth_mag - 2.0])
    sky = ATLAS.sky_mag(band, depth)
    # a deeper-than-nominal epoch has a dark sky; each mag of depth lost is 2 mag of sky
    np.testing.assert_allclose(sky, [ATLAS.dark_sky_mag[0], ATLAS.dark_sky_mag[1],
                                     ATLAS.dark_sky_mag[1] - 2.0, ATLAS.dark_sky_mag[0] - 4.0])
    with pytest.raises(ValueError, match="ZTF: no sky model"):
        ZTF.sky_mag(band, depth)


def test_sky_cut_removes_the_shallow_atlas_epochs():
    """With the paper's sky cut no ATLAS epoch keeps an error bar tens of times the median one
    (the real ATLAS file after the cuts: at most 5.3x); without it, some do."""
    ratios = {}
    for cut in (ATLAS_MIN_SKY, None):
        worst, removed = [], 0
        for i, label in enumerate(["RRLab", "EA", "QSO", "LPV", "CEP", "AGN"] * 2):
            obj = simulate_object(i, label, seed=8, atlas_min_sky=cut)
            e = obj.epochs["ATLAS"]["flux_err"]
            faint = np.abs(obj.epochs["ATLAS"]["flux"]) < 3 * e
            worst.append(e[faint].max() / np.median(e[faint]))
            removed += obj.params.get("sky_cut_epochs", 0)
        ratios["cut" if cut else "none"] = (np.median(worst), removed)
    assert ratios["cut"][0] < 6.0 < ratios["none"][0]
    assert ratios["cut"][1] > 0 and ratios["none"][1] == 0
    # a band without a limit is dropped, as the real-data step drops it
    obj = simulate_object(0, "EA", seed=8, atlas_min_sky={"o": 18.0})
    assert set(obj.epochs["ATLAS"]["band"]) == {"o"}


def test_run_data_uses_the_profile_sky_cut(tmp_path) -> None:
    """mslc_utils.data passes preprocess.steps.atlas_sky to the simulator (one setting)."""
    from mslc_utils.config import setup
    from mslc_utils.data import get_dataset

    n = {}
    for name, steps in (("default", {}), ("off", {"atlas_sky": False})):
        ctx = setup("quick", OUT_DIR=str(tmp_path / name), DEVICE="cpu")
        ctx.config["data"].update(n_objects=210, min_per_class=10)
        ctx.config["preprocess"]["steps"] = steps
        ds = get_dataset(ctx)
        assert ds.manifest["simulation"]["atlas_min_sky"] == ({"o": 18.0, "c": 18.5} if name == "default" else None)
        n[name] = int((ds.lightcurves["survey"] == "ATLAS").sum())
    assert n["default"] < n["off"]
