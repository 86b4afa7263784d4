"""build_dataset / load_or_build on a small data set written in the three survey formats."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mslc_utils.ingest import (
    FilteringReport,
    IngestConfig,
    IngestError,
    build_dataset,
    find_report,
    load_or_build,
    read_labels,
)
from mslc_utils.io import ReadError, write_alerce_fp, write_atlas_fp, write_canonical, write_ztf_fps
from mslc_utils.schema import LIGHTCURVE_COLUMNS, load_dataset

CLASSES3 = ["SNIa", "QSO", "RRLc"]
N = 21


def _extra(lc: pd.DataFrame, n: int, band: str, t0: float, **cols) -> pd.DataFrame:
    """n new epochs of one object (after its last epoch), with given raw columns."""
    rows = pd.DataFrame({"object_id": lc["object_id"].iloc[0], "survey": lc["survey"].iloc[0], "band": band,
                         "mjd": t0 + np.arange(n) * 0.37, "flux": 10.0, "flux_err": 5.0, "detected": False})
    for k, v in cols.items():
        rows[k] = v
    return rows


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> dict:
    """DATA_DIR with ztf/ and atlas/ files of 21 simulated objects, with known defects.

    ZTF: 0-6 FPS <id>.txt, 7-9 ALeRCE csv, 10-11 ALeRCE parquet, 12-14 canonical csv, 15 canonical
    parquet, 16 FPS matched by position, 17 FPS mapped by labels.ztf_file, 18-19 none, 20 truncated FPS.
    ATLAS: 0-16 <id>.txt except 15 (none), 17 mapped by labels.atlas_file, 18 matched by position,
    19 none, 20 <id>.txt. Object 19 has no file at all.
    """
    from mslc_utils.simulate import simulate_dataset

    lc, obj = simulate_dataset(N, seed=3, min_per_class=1, time_span_days=200, max_epochs_per_survey=60)
    root = tmp_path_factory.mktemp("DATA_DIR")
    (root / "ztf").mkdir()
    (root / "atlas").mkdir()
    ids = obj["object_id"].tolist()
    labels = obj[["object_id", "ra", "dec"]].copy()
    labels["label"] = [CLASSES3[i % 3] for i in range(N)]
    labels["ztf_file"] = ""
    labels["atlas_file"] = ""
    rows = {"ZTF": 0, "ATLAS": 0}
    expect = {"ztf_i_band": 0, "atlas_filter": 0, "ztf_procstatus": 0, "atlas_chi2": 0, "atlas_sky": 0,
              "duplicate_epochs": 0, "finite_flux_ZTF": 0, "positive_flux_err_ATLAS": 0}
    for i, oid in enumerate(ids):
        z = lc[(lc.object_id == oid) & (lc.survey == "ZTF")].reset_index(drop=True)
        a = lc[(lc.object_id == oid) & (lc.survey == "ATLAS")].reset_index(drop=True)
        a = a.assign(**{"chi/N": 1.0, "Sky": 20.0})  # quality columns that pass the cuts
        ra, dec = float(obj.ra.iloc[i]), float(obj.dec.iloc[i])
        tz, ta = z["mjd"].max() + 1, a["mjd"].max() + 1
        # ---- ZTF
        if i == 0:  # ZTF_i rows and bad-status rows with null flux
            z = pd.concat([z.assign(procstatus="0"),
                           _extra(z, 2, "i", tz, procstatus="0"),
                           _extra(z, 3, "g", tz + 5, procstatus="56,57").assign(flux=np.nan, flux_err=np.nan)],
                          ignore_index=True)
            expect["ztf_i_band"] += 2
            expect["ztf_procstatus"] += 3
        if i == 2:  # an exact duplicate epoch
            z = pd.concat([z, z.iloc[[5]]], ignore_index=True)
            expect["duplicate_epochs"] += 1
        if i == 7:  # ALeRCE fid 3
            z = pd.concat([z, _extra(z, 1, "i", tz)], ignore_index=True)
            expect["ztf_i_band"] += 1
        if i == 12:  # NaN flux, rows in reverse time order
            z = pd.concat([z, _extra(z, 1, "r", tz).assign(flux=np.nan)], ignore_index=True).iloc[::-1]
            expect["finite_flux_ZTF"] += 1
        if i <= 6 or i == 20:
            write_ztf_fps(z, root / "ztf" / f"{oid}.txt", ra=ra, dec=dec)
        elif i <= 9:
            write_alerce_fp(z, root / "ztf" / f"{oid}.csv")
        elif i <= 11:
            write_alerce_fp(z, root / "ztf" / f"{oid}.parquet")
        elif i <= 14:
            write_canonical(z, root / "ztf" / f"{oid}.csv")
        elif i == 15:
            write_canonical(z, root / "ztf" / f"{oid}.parquet")
        elif i == 16:
            write_ztf_fps(z, root / "ztf" / "forcedphotometry_req00000016_lc.txt", ra=ra, dec=dec)
        elif i == 17:
            write_ztf_fps(z, root / "ztf" / "mapped_ztf_17.txt")
            labels.loc[i, "ztf_file"] = "mapped_ztf_17.txt"
        if i == 20:  # truncate a data row: the file is unreadable
            p = root / "ztf" / f"{oid}.txt"
            lines = p.read_text().splitlines()
            k = next(j for j, ln in enumerate(lines) if ln.startswith(" 3 "))
            lines[k] = " ".join(lines[k].split()[:17])
            p.write_text("\n".join(lines) + "\n")
            expect["truncated_line"] = k + 1
        elif i not in (18, 19):
            rows["ZTF"] += len(z)
        # ---- ATLAS
        if i == 1:
            a = pd.concat([a, _extra(a, 4, "o", ta, **{"chi/N": 5.0, "Sky": 20.0}),
                           _extra(a, 2, "o", ta + 3, **{"chi/N": 1.0, "Sky": 17.5}),
                           _extra(a, 1, "t", ta + 6, **{"chi/N": 1.0, "Sky": 20.0})], ignore_index=True)
            expect["atlas_chi2"] += 4
            expect["atlas_sky"] += 2
            expect["atlas_filter"] += 1
        if i == 3:
            a = pd.concat([a, _extra(a, 1, "c", ta, **{"chi/N": 1.0, "Sky": 20.0}).assign(flux_err=-4.0)],
                          ignore_index=True)
            expect["positive_flux_err_ATLAS"] += 1
        if i in (15, 19):
            continue
        name = {17: "job00017.txt", 18: "job00018.txt"}.get(i, f"{oid}.txt")
        write_atlas_fp(a, root / "atlas" / name, ra=ra, dec=dec)
        if i == 17:
            labels.loc[i, "atlas_file"] = name
        rows["ATLAS"] += len(a)
    (root / "ztf" / "README.txt").write_text("my notes, not a light curve\n")
    labels.to_csv(root / "labels.csv", index=False)
    return {"root": root, "ids": ids, "rows": rows, "expect": expect, "labels": labels}


CONFIG = {"profile": "test", "splits": {"test_fraction": 0.3, "n_folds": 2},
          "preprocess": {"on_error": "drop", "n_jobs": 1}}


@pytest.fixture(scope="module")
def built(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    ds, report = build_dataset(data_dir["root"] / "labels.csv", data_dir["root"], out, config=CONFIG,
                               seed=1, progress=False)
    return ds, report, out


def test_counts_add_up_per_survey(data_dir, built) -> None:
    ds, report, _ = built
    t = report.totals.set_index("survey")
    for s in ("ZTF", "ATLAS"):
        r = t.loc[s]
        assert r["epochs_read"] == data_dir["rows"][s]
        removed = r["epochs_removed_read"] + r["epochs_removed_cut"] + r["epochs_removed_object"]
        assert r["epochs_read"] == r["epochs_kept"] + removed
        assert r["epochs_kept"] == (ds.lightcurves["survey"] == s).sum()
        assert r["objects"] == N == r["lightcurves_kept"] + r["lightcurves_removed"]
    assert t.loc["ZTF", "files_missing"] == 2 and t.loc["ZTF", "files_unreadable"] == 1
    assert t.loc["ATLAS", "files_missing"] == 2 and t.loc["ATLAS", "files_unreadable"] == 0
    assert t.loc["ALL", "objects"] == N and t.loc["ALL", "objects_kept"] == len(ds.objects) == N - 1
    report.check()


def test_each_injected_defect_is_counted_under_its_rule(data_dir, built) -> None:
    _, report, _ = built
    e = data_dir["expect"]
    rules = report.rules[report.rules["removed"]]
    got = {(r.rule, r.survey): r.epochs_removed for r in rules.itertuples()}
    assert got[("ztf_i_band", "ZTF")] == e["ztf_i_band"] == 3
    assert got[("atlas_filter", "ATLAS")] == e["atlas_filter"] == 1
    assert got[("ztf_procstatus", "ZTF")] == e["ztf_procstatus"] == 3
    assert got[("atlas_chi2", "ATLAS")] == e["atlas_chi2"]
    assert got[("atlas_sky", "ATLAS")] == e["atlas_sky"]
    assert got[("duplicate_epochs", "ZTF")] == e["duplicate_epochs"]
    assert got[("finite_flux", "ZTF")] == e["finite_flux_ZTF"]
    assert got[("positive_flux_err", "ATLAS")] == e["positive_flux_err_ATLAS"]
    notes = report.rules[~report.rules["removed"]]
    note_rules = set(zip(notes["rule"], notes["survey"]))
    assert {("matched_by_position", "ZTF"), ("matched_by_position", "ATLAS"), ("unused_file", "ZTF"),
            ("reordered", "ZTF"), ("ztf_procstatus", "ZTF")} <= note_rules  # canonical files: no procstatus


def test_objects_flags_and_drops(data_dir, built) -> None:
    ds, report, _ = built
    ids = data_dir["ids"]
    obj = ds.objects.set_index("object_id")
    assert ids[19] not in obj.index
    assert report.objects_dropped["object_id"].tolist() == [ids[19]]
    assert "no_file" in report.objects_dropped["reason"].iloc[0]
    assert not obj.loc[ids[18], "has_ztf"] and obj.loc[ids[18], "has_atlas"]   # ATLAS by position
    assert not obj.loc[ids[20], "has_ztf"] and obj.loc[ids[20], "has_atlas"]   # ZTF unreadable
    assert obj.loc[ids[15], "has_ztf"] and not obj.loc[ids[15], "has_atlas"]
    assert obj.loc[ids[16], "has_ztf"] and obj.loc[ids[17], "has_ztf"] and obj.loc[ids[17], "has_atlas"]
    assert obj["has_ztf"].sum() == 18 and obj["has_atlas"].sum() == 19
    assert obj["label"].tolist() == data_dir["labels"].set_index("object_id").loc[obj.index, "label"].tolist()
    log = report.log.to_frame()
    unreadable = log[log["rule"] == "unreadable_file"]
    assert unreadable["object_id"].tolist() == [ids[20]]
    assert f":{data_dir['expect']['truncated_line']}: expected 40 values, found 17" in unreadable["reason"].iloc[0]


def test_outputs_on_disk(built) -> None:
    ds, report, out = built
    for name in ("lightcurves.parquet", "objects.parquet", "splits.parquet", "manifest.json",
                 "filtering_report.csv", "filtering_report.json", "filtering_log.csv"):
        assert (out / name).is_file(), name
    back = load_dataset(out)
    assert list(back.lightcurves.columns) == list(LIGHTCURVE_COLUMNS)  # raw columns dropped after the cuts
    assert {"has_ztf", "has_atlas"} <= set(back.objects.columns)
    assert back.lightcurves.groupby(["object_id", "survey"])["mjd"].apply(lambda s: s.is_monotonic_increasing).all()
    sp = back.splits
    assert set(sp["fold"]) == {-1, 0, 1} and set(sp["split"]) == {"test", "trainval"}
    assert sorted(sp["object_id"]) == sorted(back.objects["object_id"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["ingest"]["splits"] == {"test_fraction": 0.3, "n_folds": 2}
    assert manifest["ingest"]["config"]["steps"]["atlas_chi2"] == {
        "surveys": ["ATLAS"], "enabled": True, "column": "chi/N", "low": 0.5, "high": 3.0}
    again = FilteringReport.load(out)
    pd.testing.assert_frame_equal(again.totals, report.totals, check_dtype=False)
    assert len(again.log) == len(report.log)
    assert again.log.removed_epochs() == report.log.removed_epochs()
    csv = pd.read_csv(out / "filtering_report.csv")
    assert set(csv["table"]) == {"rules", "totals"}
    assert "Removed, per rule" in str(report) and "<table" in report._repr_html_()


def test_parallel_build_gives_the_same_data(data_dir, built, tmp_path) -> None:
    ds, report, _ = built
    cfg = {**CONFIG, "preprocess": {"on_error": "drop"}}
    ds2, report2 = build_dataset(data_dir["root"] / "labels.csv", data_dir["root"], tmp_path, config=cfg,
                                 n_jobs=2, seed=1, progress=False)
    pd.testing.assert_frame_equal(ds2.lightcurves, ds.lightcurves)
    pd.testing.assert_frame_equal(ds2.objects, ds.objects)
    pd.testing.assert_frame_equal(ds2.splits, ds.splits)
    pd.testing.assert_frame_equal(report2.totals, report.totals)


def test_on_error_raise_names_file_and_line(data_dir, tmp_path) -> None:
    cfg = {**CONFIG, "preprocess": {"on_error": "raise", "n_jobs": 1}}
    line = data_dir["expect"]["truncated_line"]
    with pytest.raises(ReadError, match=rf"{data_dir['ids'][20]}\.txt:{line}: expected 40 values"):
        build_dataset(data_dir["root"] / "labels.csv", data_dir["root"], tmp_path, config=cfg, progress=False)


def test_required_survey_drops_and_counts_the_other_survey(data_dir, built, tmp_path) -> None:
    ds, report, _ = built
    cfg = {**CONFIG, "preprocess": {"on_error": "drop", "n_jobs": 1, "required_surveys": ["ZTF"]}}
    ds2, rep2 = build_dataset(data_dir["root"] / "labels.csv", data_dir["root"], tmp_path, config=cfg,
                              seed=1, progress=False)
    ids = data_dir["ids"]
    assert set(ds.objects["object_id"]) - set(ds2.objects["object_id"]) == {ids[18], ids[20]}
    assert ds2.objects["has_ztf"].all()
    r = rep2.rules.set_index(["rule", "survey"])
    lost = ((ds.lightcurves["object_id"].isin([ids[18], ids[20]])) & (ds.lightcurves["survey"] == "ATLAS")).sum()
    assert r.loc[("missing_required_survey", "ATLAS"), "epochs_removed"] == lost > 0
    rep2.check()


def test_load_or_build_caches_and_rebuilds(data_dir, tmp_path) -> None:
    import shutil

    root = tmp_path / "DATA"
    shutil.copytree(data_dir["root"], root)
    ds = load_or_build(root, config=CONFIG, seed=1, progress=False)
    out = root / "canonical"
    stamp = (out / "lightcurves.parquet").stat().st_mtime_ns
    ds2 = load_or_build(root, config=CONFIG, seed=1, progress=False)
    assert (out / "lightcurves.parquet").stat().st_mtime_ns == stamp  # loaded, not rebuilt
    pd.testing.assert_frame_equal(ds2.lightcurves, ds.lightcurves)
    cfg = {**CONFIG, "preprocess": {"on_error": "drop", "n_jobs": 1, "steps": {"alert_window": False}}}
    ds3 = load_or_build(root, config=cfg, seed=1, progress=False)
    assert len(ds3.lightcurves) > len(ds.lightcurves)  # settings changed: rebuilt without the window
    rep = find_report(root)  # found in DATA_DIR/canonical, describes the last build
    assert rep is not None and rep.config["steps"]["alert_window"]["enabled"] is False
    assert find_report(tmp_path) is None
    # a DATA_DIR that already is a canonical data set is loaded as is
    ds4 = load_or_build(out)
    pd.testing.assert_frame_equal(ds4.objects, ds3.objects)
    with pytest.raises(FileNotFoundError, match="labels.csv"):
        load_or_build(tmp_path / "DATA" / "ztf")


def test_config_forms() -> None:
    assert IngestConfig.from_config(None).on_error == "raise"
    full = IngestConfig.from_config({"profile": "quick", "render": {}, "splits": {}})
    assert full.to_dict() == IngestConfig().to_dict()
    sec = IngestConfig.from_config({"on_error": "drop", "steps": {"ztf_infobits": True}})
    assert sec.on_error == "drop" and sec.preprocess.to_dict()["steps"]["ztf_infobits"]["enabled"]
    with pytest.raises(ValueError, match="on_error"):
        IngestConfig(on_error="ignore")


def test_labels_aliases_and_alert_times(tmp_path) -> None:
    p = tmp_path / "l.csv"
    p.write_text("oid,meanra,meandec,class,firstmjd,lastmjd\nZTF1,10,20,SNIa,59000.5,59050\n")
    lab = read_labels(p)
    assert lab[["object_id", "ra", "dec", "label", "group"]].values.tolist() == [["ZTF1", 10.0, 20.0, "SNIa",
                                                                                "Transient"]]
    assert lab["first_alert_mjd"].iloc[0] == 59000.5 and lab["last_alert_mjd"].iloc[0] == 59050.0
    with pytest.raises(IngestError, match=r"l2\.csv:3: column 'ra': not a number"):
        (tmp_path / "l2.csv").write_text("object_id,ra,dec,label\na,1,2,SNIa\nb,x,2,SNIa\n")
        read_labels(tmp_path / "l2.csv")
    with pytest.raises(IngestError, match="duplicated object_id 'a'"):
        read_labels(pd.DataFrame({"object_id": ["a", "a"], "ra": [1, 2], "dec": [1, 2], "label": "QSO"}))
