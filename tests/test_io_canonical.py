"""Canonical CSV/Parquet reader (alias table), format detection and the DropLog."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mslc_utils.io import DropLog, ReadError, detect_format, read_info, read_lightcurve
from mslc_utils.io_canonical import COLUMN_ALIASES, read_canonical, write_canonical


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    "header",
    [
        "object_id,survey,band,mjd,flux,flux_err",
        "oid,survey,filter,time,uJy,duJy",
        "objectid,Survey,passband,MJD,flux_ujy,fluxerr",
        "id,telescope,Filter,mjd_obs,flux,dflux",
    ],
)
def test_aliases(tmp_path: Path, header: str) -> None:
    p = write(tmp_path, "lc.csv", header + "\nZTF1,ZTF,g,58300.5,12.5,2.5\nZTF1,ztf,ZTF_r,58301.5,-3,1.5\n")
    assert detect_format(p) == "canonical"
    lc = read_lightcurve(p)
    assert lc[["object_id", "survey", "band"]].values.tolist() == [["ZTF1", "ZTF", "g"], ["ZTF1", "ZTF", "r"]]
    np.testing.assert_array_equal(lc["flux"], [12.5, -3.0])
    np.testing.assert_array_equal(lc["flux_err"], [2.5, 1.5])
    assert lc["detected"].tolist() == [True, False]  # 12.5/2.5 = 5 -> detection
    assert read_info(lc).format == "canonical"


def test_survey_inferred_from_bands_and_object_id_from_stem(tmp_path: Path) -> None:
    p = write(tmp_path, "SN2021abc.csv", "mjd,flux,flux_err,band\n59000,5,1,o\n58999,6,1,c\n")
    lc = read_canonical(p)
    assert (lc["survey"] == "ATLAS").all() and (lc["object_id"] == "SN2021abc").all()
    # sorted by time, and the reordering noted (not a drop)
    assert lc["mjd"].tolist() == [58999.0, 59000.0]
    rec = read_info(lc).log.to_frame()
    assert rec["rule"].tolist() == ["reordered"] and not rec["removed"].any()


def test_jd_column_converted(tmp_path: Path) -> None:
    p = write(tmp_path, "a.csv", "jd,flux,fluxerr,filter\n2459000.5,5,1,g\n")
    lc = read_canonical(p)
    assert lc["mjd"].iloc[0] == 59000.0 and "jd" not in lc.columns


def test_band_of_survey_not_used_is_counted(tmp_path: Path) -> None:
    p = write(tmp_path, "a.csv", "mjd,flux,flux_err,band\n1,5,1,g\n2,5,1,i\n3,5,1,ZTF_i\n")
    lc = read_canonical(p)
    info = read_info(lc)
    assert lc["band"].tolist() == ["g"] and info.rows_read == {"ZTF": 3}
    assert info.log.to_frame()[["rule", "epochs"]].values.tolist() == [["band_not_used", 2]]


def test_ambiguous_columns_rejected(tmp_path: Path) -> None:
    p = write(tmp_path, "a.csv", "mjd,flux,uJy,flux_err,band\n1,5,5,1,g\n")
    with pytest.raises(ReadError, match=r"\['flux', 'uJy'\] are all spellings of 'flux'"):
        read_canonical(p)


def test_detected_column_parsed(tmp_path: Path) -> None:
    p = write(tmp_path, "a.csv", "mjd,flux,flux_err,band,detected\n1,5,1,g,t\n2,1,1,g,False\n3,1,1,g,1\n")
    assert read_canonical(p)["detected"].tolist() == [True, False, True]
    p = write(tmp_path, "b.csv", "mjd,flux,flux_err,band,detected\n1,5,1,g,perhaps\n")
    with pytest.raises(ReadError, match=r"b\.csv:2: column 'detected'"):
        read_canonical(p)


def test_multi_object_parquet_and_selection(tmp_path: Path) -> None:
    df = pd.DataFrame({"object_id": ["a", "a", "b"], "survey": "ZTF", "band": "g", "mjd": [1.0, 2.0, 1.0],
                       "flux": [1.0, 2.0, 3.0], "flux_err": 1.0, "detected": False, "extra": [7, 8, 9]})
    p = tmp_path / "t.parquet"
    df.to_parquet(p)
    assert detect_format(p) == "canonical"
    with pytest.raises(ReadError, match="holds 2 objects"):
        read_canonical(p)
    b = read_canonical(p, object_id="b")
    assert b["flux"].tolist() == [3.0] and b["extra"].tolist() == [9]
    # given id overrides a file's single id; the file's id is kept in the read info
    one = tmp_path / "one.parquet"
    df[df.object_id == "a"].to_parquet(one)
    got = read_canonical(one, object_id="A-renamed")
    assert (got["object_id"] == "A-renamed").all()
    assert read_info(got).meta["file_object_id"] == "a"


def test_write_canonical_round_trip(tmp_path: Path) -> None:
    df = pd.DataFrame({"object_id": "z", "survey": ["ZTF", "ATLAS"], "band": ["r", "o"], "mjd": [1.0, 2.0],
                       "flux": [1.25, -2.5], "flux_err": [0.5, 0.75], "detected": [False, True]})
    for name in ("z.csv", "z.parquet"):
        back = read_lightcurve(write_canonical(df, tmp_path / name))
        pd.testing.assert_frame_equal(back[df.columns].reset_index(drop=True), df, check_dtype=False)
        assert read_info(back).rows_read == {"ZTF": 1, "ATLAS": 1}


def test_undetectable_format(tmp_path: Path) -> None:
    p = write(tmp_path, "x.csv", "a,b,c\n1,2,3\n")
    with pytest.raises(ReadError, match="cannot detect the format"):
        detect_format(p)


def test_alias_table_has_the_spec_spellings() -> None:
    from mslc_utils.io_canonical import normalize_name

    norm = {k: {normalize_name(v) for v in vs} for k, vs in COLUMN_ALIASES.items()}
    for canon, names in {"mjd": ["time", "MJD", "mjd"], "flux": ["flux", "uJy", "flux_ujy"],
                         "flux_err": ["fluxerr", "flux_err", "dflux", "duJy"],
                         "band": ["filter", "band", "passband"],
                         "object_id": ["oid", "objectid", "object_id"]}.items():
        assert {normalize_name(n) for n in names} <= norm[canon]


def test_droplog_summary_and_round_trip() -> None:
    log = DropLog()
    log.add("read", "ztf_i_band", "ZTF", "a", epochs=3, reason="ZTF_i")
    log.add("cut", "min_detections", "ZTF", "a", epochs=10, objects=1, reason="fewer than 8 detections: 3")
    log.add("cut", "min_detections", "ZTF", "b", epochs=4, objects=1, reason="fewer than 8 detections: 1")
    log.add("cut", "atlas_chi2", "ATLAS", "b", epochs=0, reason="nothing")  # zero: not recorded
    log.note("read", "reordered", "ZTF", "a", "sorted", epochs=5)
    assert len(log) == 4
    assert log.removed_epochs() == 17 and log.removed_epochs(survey="ZTF", stage="cut") == 14
    s = log.summary().set_index("rule")
    assert s.loc["min_detections", "epochs_removed"] == 14
    assert s.loc["min_detections", "objects_removed"] == 2
    assert s.loc["min_detections", "n_objects_affected"] == 2
    assert s.loc["min_detections", "reason"] == "fewer than 8 detections"
    assert not s.loc["reordered", "removed"]
    again = DropLog.from_records(log.to_records())
    pd.testing.assert_frame_equal(again.to_frame(), log.to_frame())
