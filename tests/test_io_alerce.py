"""ALeRCE forced-photometry tables (CSV and Parquet, as the alerce client returns them)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mslc_utils.io import ReadError, detect_format, read_info, read_lightcurve
from mslc_utils.io_alerce import read_alerce_fp, write_alerce_fp


def alerce_table() -> pd.DataFrame:
    """Rows shaped like alerce.query_forced_photometry(oid, format='pandas')."""
    return pd.DataFrame({
        "oid": "ZTF21abfnfdw",
        "pid": [1, 2, 3, 4, 5, 6],
        "mjd": [59350.25, 59351.5, 59352.75, 59353.0, 59354.125, 59355.5],
        "fid": [1, 2, 3, 1, 2, 2],
        "mag": [19.5, 20.25, 18.0, np.nan, 21.0, 17.5],
        "e_mag": [0.05, 0.2, 0.01, np.nan, 0.5, 0.02],
        "isdiffpos": [1, -1, 1, 1, -1, 1],
        "procstatus": ["0", "0", "0", "56,57", "0", "0"],
        "field": 600, "rcid": 12, "rfid": 600120112,
        "sciinpseeing": 2.1, "scibckgnd": 150.0, "scisigpix": 6.0, "diffmaglim": 20.5,
        "distnr": 1.2, "magnr": 19.0, "sigmagnr": 0.05,
    })


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_reads_csv_and_parquet_with_the_formula(tmp_path: Path, suffix: str) -> None:
    raw = alerce_table()
    p = tmp_path / f"ZTF21abfnfdw{suffix}"
    raw.to_csv(p, index=False) if suffix == ".csv" else raw.to_parquet(p, index=False)
    assert detect_format(p) == "alerce_fp"
    lc = read_lightcurve(p)
    info = read_info(lc)
    assert info.format == "alerce_fp" and info.rows_read == {"ZTF": 6}
    assert lc["object_id"].unique().tolist() == ["ZTF21abfnfdw"]
    # fid 3 (i) counted and dropped
    assert info.log.to_frame()[["rule", "epochs"]].values.tolist() == [["ztf_i_band", 1]]
    assert lc["band"].tolist() == ["g", "r", "g", "r", "r"]
    # row 1 by hand: mag 19.5, isdiffpos +1 -> 10**(-0.4*(19.5-23.9)) = 10**1.76 = 57.5440 µJy
    assert lc["flux"].iloc[0] == pytest.approx(57.54399373, rel=1e-8)
    assert lc["flux_err"].iloc[0] == pytest.approx(0.4 * math.log(10) * 57.54399373 * 0.05, rel=1e-8)
    # row 2: isdiffpos -1 -> negative difference flux, 10**(-0.4*(20.25-23.9)) = 28.8403
    assert lc["flux"].iloc[1] == pytest.approx(-28.84031503, rel=1e-8)
    assert lc["flux_err"].iloc[1] == pytest.approx(0.4 * math.log(10) * 28.84031503 * 0.2, rel=1e-8)
    # missing mag -> NaN flux (removed and counted later by finite_flux), procstatus kept as text
    assert np.isnan(lc["flux"].iloc[2]) and lc["procstatus"].iloc[2] == "56,57"
    assert {"scisigpix", "sciinpseeing", "diffmaglim", "mag", "e_mag"} <= set(lc.columns)
    assert lc["detected"].tolist() == [True, True, False, False, True]  # |f|/σ: 21.7, 5.4, -, 2.2, 54


def test_isdiffpos_spellings_and_bad_values(tmp_path: Path) -> None:
    raw = alerce_table().iloc[:2].copy()
    raw["isdiffpos"] = ["t", "f"]
    p = tmp_path / "a.csv"
    raw.to_csv(p, index=False)
    lc = read_alerce_fp(p)
    assert lc["flux"].iloc[0] > 0 > lc["flux"].iloc[1]
    raw["isdiffpos"] = ["t", "maybe"]
    raw.to_csv(p, index=False)
    with pytest.raises(ReadError, match=r"a\.csv:3: column 'isdiffpos'"):
        read_alerce_fp(p)


def test_unknown_fid_names_the_line(tmp_path: Path) -> None:
    raw = alerce_table()
    raw.loc[4, "fid"] = 7
    p = tmp_path / "b.csv"
    raw.to_csv(p, index=False)
    with pytest.raises(ReadError, match=r"b\.csv:6: column 'fid': unknown filter id"):
        read_alerce_fp(p)


def test_several_objects_need_an_object_id(tmp_path: Path) -> None:
    raw = pd.concat([alerce_table(), alerce_table().assign(oid="ZTF18aajpcoq")], ignore_index=True)
    p = tmp_path / "many.parquet"
    raw.to_parquet(p, index=False)
    with pytest.raises(ReadError, match="holds 2 objects"):
        read_alerce_fp(p)
    lc = read_alerce_fp(p, object_id="ZTF18aajpcoq")
    assert len(lc) == 5 and (lc["object_id"] == "ZTF18aajpcoq").all()


def test_writer_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    n = 25
    lc = pd.DataFrame({"object_id": "x", "survey": "ZTF", "band": rng.choice(["g", "r"], n),
                       "mjd": np.sort(rng.uniform(58300, 58400, n)), "flux": rng.normal(0, 60, n),
                       "flux_err": rng.uniform(3, 9, n), "detected": False})
    for suffix in (".csv", ".parquet"):
        p = write_alerce_fp(lc, tmp_path / f"x{suffix}")
        back = read_lightcurve(p)
        assert read_info(back).format == "alerce_fp"
        np.testing.assert_allclose(back["flux"], lc["flux"], rtol=1e-9)
        np.testing.assert_allclose(back["flux_err"], lc["flux_err"], rtol=1e-9)
        assert back["band"].tolist() == lc["band"].tolist()
