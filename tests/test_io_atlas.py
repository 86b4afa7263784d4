"""ATLAS forced-photometry server reader, on the real output shared/fixtures/atlas_fp/job01088.txt."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mslc_utils.io import ReadError, detect_format, read_info, read_lightcurve
from mslc_utils.io_atlas import read_atlas_fp, write_atlas_fp
from mslc_utils.preprocess import apply_cuts

SHARED = Path(__file__).resolve().parents[2] / "shared"
JOB = SHARED / "fixtures" / "atlas_fp" / "job01088.txt"
needs_fixture = pytest.mark.skipif(
    not JOB.is_file(), reason=f"real ATLAS fixture not found at {JOB} (shared/ is outside the repo)"
)


def raw_table(path: Path) -> tuple[list[str], list[list[str]]]:
    lines = path.read_text().splitlines()
    return lines[0].lstrip("#").split(), [ln.split() for ln in lines[1:] if ln.strip()]


@needs_fixture
def test_fixture_is_read_by_column_name() -> None:
    names, rows = raw_table(JOB)
    assert names[:6] == ["MJD", "m", "dm", "uJy", "duJy", "F"]
    assert detect_format(JOB) == "atlas_fp"
    lc = read_lightcurve(JOB)
    info = read_info(lc)
    assert info.format == "atlas_fp" and info.rows_read == {"ATLAS": 147} and len(rows) == 147
    assert len(lc) == 147 and info.log.removed_epochs() == 0
    assert (lc["band"] == "c").sum() == 27 and (lc["band"] == "o").sum() == 120
    assert lc["object_id"].iloc[0] == "job01088"
    # uJy and duJy are already µJy: copied, not converted
    first = dict(zip(names, rows[0]))
    row = lc.iloc[0]
    assert row["mjd"] == pytest.approx(59101.519211) and row["mjd"] == float(first["MJD"])
    assert row["flux"] == -7.0 and row["flux_err"] == 10.0 and row["band"] == "o"
    assert row["chi/N"] == pytest.approx(7.69) and row["Sky"] == pytest.approx(20.43)
    assert row["Obs"] == "01a59101o0618o"
    assert not {"MJD", "uJy", "duJy", "F"} & set(lc.columns)
    for name in ("err", "chi/N", "Sky", "mag5sig", "x", "y", "maj", "min", "apfit"):
        assert name in lc.columns
    np.testing.assert_array_equal(lc["flux"].to_numpy(), [float(dict(zip(names, r))["uJy"]) for r in rows])


@needs_fixture
def test_cuts_on_fixture_match_a_hand_count() -> None:
    names, rows = raw_table(JOB)
    t = [dict(zip(names, r)) for r in rows]
    expected = sum(
        1 for r in t
        if int(r["err"]) == 0 and 0.5 < float(r["chi/N"]) < 3
        and float(r["Sky"]) > {"o": 18.0, "c": 18.5}[r["F"]] and float(r["duJy"]) > 0
    )
    kept, log = apply_cuts(read_atlas_fp(JOB))
    assert len(kept) == expected == 75
    rules = log.summary().set_index("rule")["epochs_removed"].to_dict()
    n_chi = sum(not (0.5 < float(r["chi/N"]) < 3) for r in t)
    assert rules["atlas_chi2"] == n_chi == 67
    assert rules["atlas_sky"] == 147 - 75 - 67 == 5


@needs_fixture
def test_permuted_and_older_layouts_give_the_same_light_curve(tmp_path: Path) -> None:
    names, rows = raw_table(JOB)
    ref = read_atlas_fp(JOB)
    # reversed column order
    rev = tmp_path / "rev.txt"
    rev.write_text("###" + " ".join(names[::-1]) + "\n" + "\n".join(" ".join(r[::-1]) for r in rows) + "\n")
    got = read_atlas_fp(rev, object_id="job01088")
    pd.testing.assert_frame_equal(got[ref.columns], ref, check_like=False, check_dtype=True)
    # older/stacked layout: ... apfit Sky ZP Stack (no mag5sig, no Obs)
    keep = [n for n in names if n not in ("mag5sig", "Obs")]
    old = tmp_path / "old.txt"
    body = [" ".join([dict(zip(names, r))[k] for k in keep] + ["30.0", "4"]) for r in rows]
    old.write_text("###" + " ".join(keep + ["ZP", "Stack"]) + "\n" + "\n".join(body) + "\n")
    got = read_atlas_fp(old, object_id="job01088")
    np.testing.assert_array_equal(got["flux"], ref["flux"])
    assert got["ZP"].iloc[0] == 30.0 and "mag5sig" not in got.columns
    kept_old, _ = apply_cuts(got)
    assert len(kept_old) == 75


def test_other_filters_counted_and_dropped(tmp_path: Path) -> None:
    lc = pd.DataFrame({"object_id": "a", "survey": "ATLAS", "band": ["c", "o", "t", "o", "t"],
                       "mjd": [59000.0, 59001, 59002, 59003, 59004], "flux": [10.0, 20, 30, 40, 50],
                       "flux_err": [5.0] * 5, "detected": False})
    p = write_atlas_fp(lc, tmp_path / "a.txt")
    got = read_lightcurve(p)
    info = read_info(got)
    assert got["band"].tolist() == ["c", "o", "o"]
    assert info.rows_read == {"ATLAS": 5}
    rec = info.log.to_frame()
    assert rec["rule"].tolist() == ["atlas_filter"] and rec["epochs"].tolist() == [2]
    assert "'t'" in rec["reason"].iloc[0]


def test_writer_round_trip_and_quality_columns(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n = 20
    lc = pd.DataFrame({"object_id": "b", "survey": "ATLAS", "band": rng.choice(["c", "o"], n),
                       "mjd": np.sort(rng.uniform(59000, 59100, n)), "flux": rng.normal(0, 30, n),
                       "flux_err": rng.uniform(5, 20, n), "detected": False,
                       "chi/N": np.linspace(0.1, 4, n), "Sky": np.full(n, 19.0)})
    p = write_atlas_fp(lc, tmp_path / "b.txt")
    back = read_atlas_fp(p)
    np.testing.assert_allclose(back["flux"], lc["flux"], atol=5e-4)
    np.testing.assert_allclose(back["flux_err"], lc["flux_err"], atol=5e-4)
    np.testing.assert_allclose(back["chi/N"], lc["chi/N"], rtol=1e-3)
    kept, _ = apply_cuts(back)
    assert ((kept["chi/N"] > 0.5) & (kept["chi/N"] < 3)).all()
    assert len(kept) == int(((lc["chi/N"] > 0.5) & (lc["chi/N"] < 3)).sum())


def test_missing_required_column_names_the_header_line(tmp_path: Path) -> None:
    p = tmp_path / "x.txt"
    p.write_text("###MJD m dm uJy F err chi/N\n59000.1 19.0 0.1 100 o 0 1.2\n")
    with pytest.raises(ReadError, match=r"x\.txt:1: missing required column\(s\) \['duJy'\]"):
        read_atlas_fp(p)
