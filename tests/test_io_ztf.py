"""ZTF Forced Photometry Service reader, on the real FPS outputs of shared/fixtures/ztf_fps."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mslc_utils.io import ReadError, detect_format, read_info, read_lightcurve
from mslc_utils.io_ztf import read_ztf_fps, write_ztf_fps
from mslc_utils.preprocess import apply_cuts

SHARED = Path(__file__).resolve().parents[2] / "shared"
FPS_DIR = SHARED / "fixtures" / "ztf_fps"
FPS_FILES = sorted(FPS_DIR.glob("forcedphotometry_req*_lc.txt")) if FPS_DIR.is_dir() else []
needs_fixtures = pytest.mark.skipif(
    not FPS_FILES, reason=f"real ZTF FPS fixtures not found in {FPS_DIR} (shared/ is outside the repo)"
)


def raw_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """Column names and data rows of an FPS file, parsed by hand (independently of the reader)."""
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    cols = [c.strip() for c in lines[0].split(",") if c.strip()]
    return cols, [ln.split() for ln in lines[1:]]


@needs_fixtures
@pytest.mark.parametrize("path", FPS_FILES, ids=lambda p: p.name)
def test_every_fixture_reads_with_counts(path: Path) -> None:
    cols, rows = raw_rows(path)
    fi, pi = cols.index("filter"), cols.index("procstatus")
    n_i = sum(r[fi] == "ZTF_i" for r in rows)
    assert detect_format(path) == "ztf_fps"
    lc = read_lightcurve(path)
    info = read_info(lc)
    assert info.format == "ztf_fps"
    assert info.rows_read == {"ZTF": len(rows)}
    assert len(lc) == len(rows) - n_i
    assert info.log.removed_epochs(stage="read") == n_i
    if n_i:
        assert info.log.to_frame()["rule"].tolist() == ["ztf_i_band"]
    assert set(lc["band"]) <= {"g", "r"}
    assert (lc["band"] == "g").sum() == sum(r[fi] == "ZTF_g" for r in rows)
    assert (lc["survey"] == "ZTF").all()
    assert lc["mjd"].is_monotonic_increasing
    # procstatus kept verbatim as text, including multi-code lists
    gr = [r for r in rows if r[fi] != "ZTF_i"]
    assert sorted(lc["procstatus"].tolist()) == sorted(r[pi] for r in gr)
    # raw quality columns are kept next to the canonical ones
    assert list(lc.columns[:7]) == ["object_id", "survey", "band", "mjd", "flux", "flux_err", "detected"]
    assert {"infobitssci", "scisigpix", "forcediffimchisq", "zpdiff"} <= set(lc.columns)


@needs_fixtures
@pytest.mark.parametrize("path", FPS_FILES, ids=lambda p: p.name)
def test_microjansky_conversion_matches_the_formula_row_by_row(path: Path) -> None:
    cols, rows = raw_rows(path)
    c = {n: cols.index(n) for n in ("index", "filter", "jd", "zpdiff", "forcediffimflux", "forcediffimfluxunc")}
    lc = read_ztf_fps(path).set_index("index")
    for r in rows[:: max(1, len(rows) // 25)]:
        if r[c["filter"]] == "ZTF_i" or r[c["forcediffimflux"]] == "null":
            continue
        factor = 10 ** (-0.4 * (float(r[c["zpdiff"]]) - 23.9))
        row = lc.loc[float(r[c["index"]])]
        assert row["flux"] == pytest.approx(float(r[c["forcediffimflux"]]) * factor, rel=1e-12)
        assert row["flux_err"] == pytest.approx(float(r[c["forcediffimfluxunc"]]) * factor, rel=1e-12)
        assert row["mjd"] == pytest.approx(float(r[c["jd"]]) - 2400000.5, abs=1e-9)


@needs_fixtures
def test_first_row_of_req17007_by_hand() -> None:
    # " 0 820 9 3 ZTF_r ... zpdiff=26.275 ... jd=2458226.7677662 ... forcediffimflux=-44.3859037364674
    #   forcediffimfluxunc=32.095415181224": 10**(-0.4*(26.275-23.9)) = 10**-0.95 = 0.1122018454
    lc = read_ztf_fps(FPS_DIR / "forcedphotometry_req00017007_lc.txt")
    row = lc[lc["index"] == 0].iloc[0]
    assert row["band"] == "r"
    assert row["mjd"] == pytest.approx(58226.2677662, abs=1e-7)
    assert row["flux"] == pytest.approx(-44.3859037364674 * 0.1122018454, rel=1e-9)
    assert row["flux"] == pytest.approx(-4.98023, abs=1e-4)
    assert row["flux_err"] == pytest.approx(3.60117, abs=1e-4)
    assert not row["detected"]  # |flux| / err = 1.38 < 5


@needs_fixtures
def test_null_values_and_multi_code_procstatus() -> None:
    lc = read_ztf_fps(FPS_DIR / "forcedphotometry_req00040332_lc.txt")
    multi = lc["procstatus"] == "56,57"
    assert multi.sum() == 104
    # these rows have every flux column null: NaN, never a number
    assert lc.loc[multi, "flux"].isna().all() and lc.loc[multi, "flux_err"].isna().all()
    assert lc.loc[~multi, "flux"].notna().all()
    assert (lc["procstatus"] == "56").sum() == 3
    # req17007: procstatus 57 rows have fluxes but null nearest-reference columns
    lc7 = read_ztf_fps(FPS_DIR / "forcedphotometry_req00017007_lc.txt")
    p57 = lc7["procstatus"] == "57"
    assert p57.sum() > 0 and lc7.loc[p57, "flux"].notna().all()
    assert lc7.loc[p57, "nearestrefmag"].isna().all()
    lc3 = read_ztf_fps(FPS_DIR / "forcedphotometry_req00213985_lc.txt")
    assert sorted(lc3.loc[lc3["procstatus"] != "0", "procstatus"]) == ["56,57", "56,57", "57,61"]


@needs_fixtures
def test_header_position_is_read() -> None:
    info = read_info(read_ztf_fps(FPS_DIR / "forcedphotometry_req00017007_lc.txt"))
    assert info.meta["ra"] == pytest.approx(200.11657171153848)
    assert info.meta["dec"] == pytest.approx(62.30081933461539)


# Rows kept after the paper's cuts (default steps), measured on the fixtures; the procstatus
# part is re-derived by hand below, the rest is the alert window around first/last detection.
KEPT_AFTER_CUTS = {
    "forcedphotometry_req00017007_lc.txt": 181,
    "forcedphotometry_req00018146_lc.txt": 106,
    "forcedphotometry_req00040332_lc.txt": 1042,
    "forcedphotometry_req00042211_lc.txt": 1065,
    "forcedphotometry_req00106783_lc.txt": 55,
    "forcedphotometry_req00213985_lc.txt": 83,
}


@needs_fixtures
@pytest.mark.parametrize("path", FPS_FILES, ids=lambda p: p.name)
def test_row_counts_after_cuts(path: Path) -> None:
    cols, rows = raw_rows(path)
    fi, pi = cols.index("filter"), cols.index("procstatus")
    gr = [r for r in rows if r[fi] != "ZTF_i"]
    bad_status = sum(r[pi] != "0" for r in gr)
    lc = read_ztf_fps(path)
    kept, log = apply_cuts(lc)
    summary = log.summary().set_index("rule")
    if bad_status:
        assert summary.loc["ztf_procstatus", "epochs_removed"] == bad_status
    else:
        assert "ztf_procstatus" not in summary.index
    assert len(kept) + log.removed_epochs() == len(lc)
    assert (kept["procstatus"] == "0").all()
    assert np.isfinite(kept["flux"]).all() and (kept["flux_err"] > 0).all()
    assert len(kept) == KEPT_AFTER_CUTS[path.name]
    # the window: from 30 d before the first detection to the last detection
    det = kept.loc[kept["detected"], "mjd"]
    assert kept["mjd"].min() >= det.min() - 30 and kept["mjd"].max() == det.max()


def test_writer_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 30
    lc = pd.DataFrame({
        "object_id": "obj1", "survey": "ZTF", "band": rng.choice(["g", "r"], n),
        "mjd": np.sort(rng.uniform(58300, 58400, n)), "flux": rng.normal(50, 40, n),
        "flux_err": rng.uniform(3, 9, n), "detected": False,
        "procstatus": ["0"] * (n - 2) + ["56,57", "57"],
    })
    p = write_ztf_fps(lc, tmp_path / "forcedphotometry_req1_lc.txt", ra=10.5, dec=-3.25)
    assert detect_format(p) == "ztf_fps"
    back = read_lightcurve(p, object_id="obj1")
    np.testing.assert_allclose(back["flux"], lc["flux"], rtol=1e-12)
    np.testing.assert_allclose(back["flux_err"], lc["flux_err"], rtol=1e-12)
    np.testing.assert_allclose(back["mjd"], lc["mjd"], atol=1e-8)
    assert back["band"].tolist() == lc["band"].tolist()
    assert back["procstatus"].tolist() == lc["procstatus"].tolist()
    assert read_info(back).meta == {"ra": 10.5, "dec": -3.25}


def test_legacy_sentinel_becomes_nan(tmp_path: Path) -> None:
    lc = pd.DataFrame({"object_id": "o", "survey": "ZTF", "band": ["g", "r"], "mjd": [58300.0, 58301.0],
                       "flux": [10.0, 20.0], "flux_err": [1.0, 2.0], "detected": True})
    p = write_ztf_fps(lc, tmp_path / "o.txt")
    text = p.read_text().splitlines()
    # replace the second row's forcediffimflux by the legacy -99999 sentinel
    data = [i for i, ln in enumerate(text) if ln.startswith(" 1 ")][0]
    toks = text[data].split()
    toks[24] = "-99999"
    text[data] = " " + " ".join(toks)
    p.write_text("\n".join(text) + "\n")
    back = read_ztf_fps(p)
    assert np.isnan(back["flux"].iloc[1]) and back["flux"].iloc[0] == pytest.approx(10.0)


def test_unknown_filter_is_an_error_with_line(tmp_path: Path) -> None:
    lc = pd.DataFrame({"object_id": "o", "survey": "ZTF", "band": ["g", "r"], "mjd": [58300.0, 58301.0],
                       "flux": [10.0, 20.0], "flux_err": [1.0, 2.0], "detected": True})
    p = write_ztf_fps(lc, tmp_path / "o.txt")
    lines = p.read_text().splitlines()
    i = [k for k, ln in enumerate(lines) if "ZTF_r" in ln and not ln.startswith("#")][0]
    lines[i] = lines[i].replace("ZTF_r", "ZTF_x")
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(ReadError, match=rf"o\.txt:{i + 1}: unknown filter 'ZTF_x'"):
        read_ztf_fps(p)
