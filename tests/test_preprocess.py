"""The paper's preprocessing steps (Section 3.1): each rule, its config and its accounting."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mslc_utils.io_canonical import DropLog
from mslc_utils.preprocess import (
    STEP_TYPES,
    AlertWindowStep,
    FunctionStep,
    LightCurveContext,
    MinDetectionsStep,
    PreprocessConfig,
    apply_cuts,
    apply_steps,
    default_steps,
)


def ztf(n: int = 12, **cols) -> pd.DataFrame:
    mjd = 59000.0 + np.arange(n, dtype=float) * 2
    base = {"object_id": "z", "survey": "ZTF", "band": np.where(np.arange(n) % 2, "r", "g"), "mjd": mjd,
            "flux": np.full(n, 100.0), "flux_err": np.full(n, 10.0), "detected": np.ones(n, bool),
            "procstatus": ["0"] * n, "infobitssci": np.zeros(n)}
    base.update(cols)
    return pd.DataFrame(base)


def atlas(n: int = 10, **cols) -> pd.DataFrame:
    base = {"object_id": "a", "survey": "ATLAS", "band": np.where(np.arange(n) % 2, "o", "c"),
            "mjd": 59000.0 + np.arange(n, dtype=float), "flux": np.full(n, 50.0), "flux_err": np.full(n, 20.0),
            "detected": np.zeros(n, bool), "err": np.zeros(n), "chi/N": np.ones(n), "Sky": np.full(n, 20.0)}
    base.update(cols)
    return pd.DataFrame(base)


def run(lc: pd.DataFrame, steps=None, **ctx) -> tuple[pd.DataFrame, DropLog]:
    log = DropLog()
    c = LightCurveContext(lc["object_id"].iloc[0] if len(lc) else "x", lc["survey"].iloc[0] if len(lc) else "ZTF",
                          **ctx)
    kept = apply_steps(lc, steps if steps is not None else default_steps(), c, log)
    return kept, log


def removed(log: DropLog) -> dict[str, int]:
    return {r.rule: r.epochs for r in log if r.removed}


def test_default_step_names_and_order() -> None:
    names = [s.name for s in default_steps()]
    assert names == ["ztf_procstatus", "ztf_infobits", "atlas_err", "finite_flux", "positive_flux_err",
                     "atlas_chi2", "atlas_sky", "duplicate_epochs", "alert_window", "min_detections"]
    assert not STEP_TYPES["ztf_infobits"]().enabled  # optional in the paper
    assert not STEP_TYPES["atlas_err"]().enabled  # the project's choice, not the paper's


def test_ztf_quality_rules_and_attribution() -> None:
    lc = ztf(16)
    lc.loc[0, "procstatus"] = "56,57"
    lc.loc[0, "flux"] = np.nan          # a bad-status row with null flux counts under procstatus
    lc.loc[1, "procstatus"] = None      # missing status is not "0"
    lc.loc[2, "flux"] = np.nan
    lc.loc[3, "flux_err"] = -1.0
    lc.loc[4, "flux_err"] = 0.0
    lc.loc[5, "flux_err"] = np.inf
    lc.loc[6, "infobitssci"] = 8        # kept: infobits step disabled by default
    kept, log = run(lc)
    assert removed(log) == {"ztf_procstatus": 2, "finite_flux": 1, "positive_flux_err": 3}
    assert len(kept) == 10 and 6 in set((kept["mjd"] - 59000) / 2)
    cfg = PreprocessConfig.from_dict({"steps": {"ztf_infobits": True}})
    kept2, log2 = run(lc, cfg.steps)
    assert removed(log2)["ztf_infobits"] == 1 and len(kept2) == 9


def test_atlas_rules() -> None:
    lc = atlas(12)  # bands alternate c, o, c, o ...
    lc.loc[0, "err"] = 1
    lc.loc[1, "chi/N"] = 0.5   # boundaries are excluded
    lc.loc[2, "chi/N"] = 3.0
    lc.loc[3, "Sky"] = 17.99   # o: > 18 needed
    lc.loc[5, "Sky"] = 18.2    # o: kept
    lc.loc[4, "Sky"] = 18.4    # c: > 18.5 needed
    lc.loc[6, "flux_err"] = -20
    kept, log = run(lc)
    assert removed(log) == {"atlas_chi2": 2, "atlas_sky": 2, "positive_flux_err": 1}
    assert len(kept) == 7 and 0 in set(kept.index)  # err != 0 kept: atlas_err is off by default
    kept, log = run(lc, PreprocessConfig.from_dict({"steps": {"atlas_err": True}}).steps)
    assert removed(log) == {"atlas_err": 1, "atlas_chi2": 2, "atlas_sky": 2, "positive_flux_err": 1}
    assert len(kept) == 6
    # ZTF rules do not touch ATLAS (no procstatus column, no alert window, no min detections)
    assert not any(r.rule in ("ztf_procstatus", "alert_window", "min_detections") for r in log)


def test_parametrised_atlas_thresholds() -> None:
    lc = atlas(4, **{"chi/N": [0.4, 1.0, 3.5, 4.5]})
    cfg = PreprocessConfig.from_dict({"steps": {"atlas_chi2": {"low": 0.3, "high": 4.0}}})
    kept, log = run(lc, cfg.steps)
    assert kept["chi/N"].tolist() == [0.4, 1.0, 3.5]
    cfg = PreprocessConfig.from_dict({"steps": {"atlas_sky": {"min_sky": {"c": 21, "o": 18}}}})
    kept, _ = run(atlas(4), cfg.steps)
    assert kept["band"].tolist() == ["o", "o"]


def test_alert_window_from_labels_and_from_detections() -> None:
    lc = ztf(40)  # mjd 59000 .. 59078 every 2 d
    det = np.zeros(40, bool)
    det[20:30] = True  # detections 59040 .. 59058
    lc["detected"] = det
    steps = [AlertWindowStep()]
    kept, log = run(lc, steps)
    assert kept["mjd"].min() == 59010 and kept["mjd"].max() == 59058
    assert removed(log) == {"alert_window": 40 - 25}
    assert "first/last detection" in log.records[0].reason
    kept, log = run(lc, steps, first_alert_mjd=59050.0, last_alert_mjd=59060.0)
    assert kept["mjd"].min() == 59020 and kept["mjd"].max() == 59060
    assert "labels" in log.records[0].reason
    kept, _ = run(lc, [AlertWindowStep(days_before=10, days_after=4)])
    assert kept["mjd"].min() == 59030 and kept["mjd"].max() == 59062
    # disabled by config
    cfg = PreprocessConfig.from_dict({"steps": {"alert_window": False, "min_detections": False}})
    kept, log = run(lc, cfg.steps)
    assert len(kept) == 40 and len(log) == 0


def test_min_detections_is_object_level() -> None:
    lc = ztf(12, detected=[True] * 7 + [False] * 5)
    kept, log = run(lc, [MinDetectionsStep()])
    assert kept.empty
    (rec,) = log.records
    assert (rec.rule, rec.epochs, rec.objects) == ("min_detections", 12, 1)
    assert rec.reason == "fewer than 8 detections: 7"
    kept, log = run(lc, [MinDetectionsStep(min_detections=7)])
    assert len(kept) == 12 and len(log) == 0


def test_duplicates_after_quality_cuts_keep_the_first_good_one() -> None:
    lc = ztf(4)
    lc = pd.concat([lc, lc.iloc[[1]]], ignore_index=True)
    lc.loc[1, "procstatus"] = "57"  # the first copy is bad: the second one survives
    lc.loc[4, "flux"] = 123.0
    kept, log = run(lc, PreprocessConfig.from_dict({"steps": {"min_detections": False}}).steps)
    assert removed(log).get("duplicate_epochs", 0) == 0
    assert kept.loc[kept["mjd"] == 59002, "flux"].tolist() == [123.0]
    lc2 = pd.concat([ztf(10), ztf(10).iloc[[3, 3]]], ignore_index=True)
    kept2, log2 = run(lc2, PreprocessConfig.from_dict({"steps": {"min_detections": False}}).steps)
    assert removed(log2) == {"duplicate_epochs": 2} and len(kept2) == 10


def test_absent_column_rule_not_applied_is_noted() -> None:
    lc = ztf(10).drop(columns=["procstatus"])
    kept, log = run(lc)
    assert len(kept) == 10
    notes = [r for r in log if not r.removed]
    assert [n.rule for n in notes] == ["ztf_procstatus"] and "absent" in notes[0].reason


def test_empty_lightcurve_counted_once() -> None:
    lc = atlas(3, **{"chi/N": [9.0, 9.0, 9.0]})
    kept, log = run(lc)
    assert kept.empty
    assert [(r.rule, r.epochs, r.objects) for r in log] == [("atlas_chi2", 3, 0), ("empty_lightcurve", 0, 1)]
    kept, log = run(atlas(0).astype({"mjd": float}))
    assert [(r.rule, r.objects) for r in log] == [("empty_lightcurve", 1)]


def test_function_step_and_bad_mask() -> None:
    step = FunctionStep(name="no_negative", func=lambda lc, ctx: lc["flux"].to_numpy() >= 0,
                        why="negative flux", surveys=("ATLAS",))
    lc = atlas(4, flux=[-1.0, 2.0, -3.0, 4.0])
    kept, log = run(lc, [step])
    assert kept["flux"].tolist() == [2.0, 4.0] and removed(log) == {"no_negative": 2}
    bad = FunctionStep(name="bad", func=lambda lc, ctx: np.ones(1, bool))
    with pytest.raises(ValueError, match="mask of shape"):
        run(lc, [bad])


def test_config_errors_name_the_valid_choices() -> None:
    with pytest.raises(ValueError, match="unknown step 'atlas_chi'.*atlas_chi2"):
        PreprocessConfig.from_dict({"steps": {"atlas_chi": {"low": 1}}})
    with pytest.raises(ValueError, match="has no parameter 'lo'.*'low'"):
        PreprocessConfig.from_dict({"steps": {"atlas_chi2": {"lo": 1}}})
    with pytest.raises(ValueError, match="unknown key"):
        PreprocessConfig.from_dict({"stepz": {}})
    cfg = PreprocessConfig.from_dict({"detection_snr": 3, "steps": {"min_detections": {"min_detections": 5}}})
    d = cfg.to_dict()
    assert d["detection_snr"] == 3.0 and d["steps"]["min_detections"]["min_detections"] == 5
    assert d["steps"]["atlas_sky"]["min_sky"] == {"o": 18.0, "c": 18.5}
    assert PreprocessConfig.from_dict(d).to_dict() == d  # a saved config rebuilds the same steps


def test_apply_cuts_many_objects_accounting() -> None:
    a = ztf(12)
    b = ztf(12, detected=[False] * 12).assign(object_id="y")
    c = atlas(10, **{"chi/N": np.r_[np.ones(8), 5, 5]})
    table = pd.concat([a, b, c], ignore_index=True)
    alerts = pd.DataFrame({"object_id": ["z"], "first_alert_mjd": [59010.0], "last_alert_mjd": [59014.0]})
    kept, log = apply_cuts(table, alerts=alerts)
    assert len(kept) + log.removed_epochs() == len(table)
    assert sorted(kept.groupby(["object_id", "survey"]).size().items()) == [
        (("a", "ATLAS"), 8), (("z", "ZTF"), 8)]  # window 58980 .. 59014 keeps 8 of z's epochs
    s = log.summary().set_index("rule")
    assert s.loc["min_detections", "objects_removed"] == 1  # y: no detection at all


def test_alert_window_surveys_is_one_setting() -> None:
    from mslc_utils.preprocess import alert_window_surveys
    from mslc_utils.simulate import ALERT_WINDOW_SURVEYS

    assert alert_window_surveys(None) == ALERT_WINDOW_SURVEYS == ("ZTF",)
    both = {"steps": {"alert_window": {"surveys": ["ZTF", "ATLAS"]}}}
    assert alert_window_surveys(both) == ("ZTF", "ATLAS")
    assert alert_window_surveys({"steps": {"alert_window": False}}) == ()
    # other keys of a profile's preprocess section are ignored
    assert alert_window_surveys({"on_error": "raise", "required_surveys": [], **both}) == ("ZTF", "ATLAS")
    # real ingestion: the ATLAS light curve of an object is cut only when asked
    lc = atlas(6)
    lc["detected"] = [False, False, True, True, False, False]
    kept, _ = run(lc)
    assert len(kept) == 6
    kept, _ = run(lc, PreprocessConfig.from_dict(both).steps)
    assert len(kept) < 6
