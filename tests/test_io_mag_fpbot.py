"""The magnitude and fpbot readers, band spellings, facility columns, label aliases."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mslc_utils.io import detect_format, read_info, read_lightcurve
from mslc_utils.io_canonical import ReadError, read_canonical
from mslc_utils.io_fpbot import FpbotPassStep, fpbot_steps, read_fpbot
from mslc_utils.io_mag import mag_to_ujy, read_mag
from mslc_utils.preprocess import apply_cuts
from mslc_utils.taxonomy import CLASSES, canonical_label

MAG = "MJD,Mag,MagErr,Filter,UL,Telescope,Instrument\n"
FPBOT = ("#name=ZTF19aapreis\n"
         ",obsmjd,filter,ampl,ampl.err,magzp,magzpunc,infobits,pass,ampl_corr,ampl_err_corr\n")


def _w(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_mag_to_ujy_formula():
    f, e = mag_to_ujy(np.array([23.9, 18.9]), np.array([0.1, 0.1]))
    np.testing.assert_allclose(f, [1.0, 100.0])
    np.testing.assert_allclose(e, 0.4 * np.log(10) * f * 0.1)


def test_mag_reader_drops_and_counts_upper_limits_and_other_facilities(tmp_path):
    p = _w(tmp_path, "SN2020x.csv", MAG + "58800,18.9,0.1,ZTF g,F,P48,ZTF-Cam\n58801,19.5,0.0,ZTF g,T,P48,ZTF-Cam\n"
           "58802,18.9,0.2,o,0,ATLAS,ACAM1\n58803,17.0,0.1,UVW1,F,Swift,UVOT\n58799,19.0,0.1,ZTF_r,F,P48,ZTF-Cam\n")
    assert detect_format(p) == "mag"
    lc = read_lightcurve(p)
    assert lc["object_id"].unique().tolist() == ["SN2020x"]
    lc = lc.sort_values(["survey", "mjd"], ascending=[False, True])
    assert lc[["survey", "band"]].values.tolist() == [["ZTF", "r"], ["ZTF", "g"], ["ATLAS", "o"]]
    np.testing.assert_allclose(lc["flux"], [10 ** (-0.4 * (19.0 - 23.9)), 10 ** (-0.4 * (18.9 - 23.9)),
                                            10 ** (-0.4 * (18.9 - 23.9))])
    assert "Instrument" in lc.columns  # kept raw: Telescope is the survey, Instrument is not a second survey
    log = read_info(lc).log.to_frame()
    assert log.set_index("rule")["epochs"].to_dict() == {"other_facility": 1, "upper_limit": 1, "reordered": 2}


def test_mag_reader_whitespace_layout_and_jd(tmp_path):
    p = _w(tmp_path, "a.dat", "# a published light curve\nJD Mag MagErr Filter\n2458800.5 18.0 0.05 g\n2458801.5 18.1 0.05 r\n")
    lc = read_mag(p)
    assert lc["mjd"].tolist() == [58800.0, 58801.0] and lc["survey"].tolist() == ["ZTF", "ZTF"]


@pytest.mark.parametrize("text, match", [
    ("", "empty file"),
    (MAG + "58800,18.9,0.1,ZTF g,F,P48\n", "expected 7 values, found 6"),
    (MAG + "58800,bright,0.1,ZTF g,F,P48,ZTF-Cam\n", r":2: column 'Mag': non-numeric value 'bright'"),
    ("MJD,Mag,Filter\n58800,18.9,g\n", "missing required column"),
    (MAG + "58800,18.9,0.1,ZTF z,F,P48,ZTF-Cam\n", "unknown band 'ZTF z'"),
    ("MJD,Mag,MagErr,Filter\n58800,18.9,0.1,V\n", "unknown band 'V'"),
    (MAG + "58800,18.9,0.1,g,maybe,P48,ZTF-Cam\n", "column 'UL': not a boolean"),
])
def test_mag_reader_bad_input(tmp_path, text, match):
    p = _w(tmp_path, "bad.csv", text)
    with pytest.raises(ReadError, match=match) as err:
        read_mag(p)
    assert "bad.csv" in str(err.value)


def _fpbot_rows(n=6):
    rows = []
    for i in range(n):
        filt = ["ZTF g", "ZTF_g", "ZTF r", "ZTF_i", "ZTF_r", "ZTF g"][i % 6]
        rows.append(f"{i},{58800 + i},{filt},100,5,26.4,0.01,0,{int(i != 0)},90,5\n")
    return "".join(rows)


def test_fpbot_reader_flux_from_ampl_corr_and_magzp(tmp_path):
    p = _w(tmp_path, "x_fpbot.csv", FPBOT + _fpbot_rows())
    assert detect_format(p) == "fpbot"
    lc = read_lightcurve(p)
    assert lc["object_id"].unique().tolist() == ["ZTF19aapreis"]  # from '#name='
    assert lc["band"].tolist() == ["g", "g", "r", "r", "g"]  # 'ZTF g' and 'ZTF_g' mixed; i dropped
    factor = 10 ** (-0.4 * (26.4 - 23.9))
    np.testing.assert_allclose(lc["flux"], 90 * factor)
    np.testing.assert_allclose(lc["flux_err"], factor * np.sqrt(5**2 + (90 * 0.4 * np.log(10) * 0.01) ** 2))
    assert read_info(lc).log.to_frame().set_index("rule")["epochs"].to_dict() == {"ztf_i_band": 1}
    kept, log = apply_cuts(lc, fpbot_steps())
    assert len(kept) == 4 and log.to_frame().set_index("rule")["epochs"].to_dict() == {"fpbot_pass": 1}
    assert [s.name for s in fpbot_steps()] == ["fpbot_pass", "fpbot_infobits"] and not fpbot_steps()[1].enabled
    assert FpbotPassStep().columns() == ("pass",)


@pytest.mark.parametrize("text, match", [
    ("", "empty file"),
    (FPBOT + "0,58800,ZTF g,100,5,26.4,0.01,0,1,90\n", "expected 11 values, found 10"),
    (FPBOT + "0,58800,ZTF g,100,5,26.4,0.01,0,1,ninety,5\n", r":3: column 'ampl_corr': non-numeric value 'ninety'"),
    ("#name=a\n,obsmjd,filter,ampl,magzp,ampl_corr\n0,58800,ZTF g,1,26,1\n", r"missing required column\(s\) \['ampl_err_corr'\]"),
    (FPBOT + "0,58800,ZTF y,100,5,26.4,0.01,0,1,90,5\n", "unknown band 'ZTF y'"),
])
def test_fpbot_reader_bad_input(tmp_path, text, match):
    p = _w(tmp_path, "bad.csv", text)
    with pytest.raises(ReadError, match=match) as err:
        read_fpbot(p)
    assert "bad.csv" in str(err.value)


def test_canonical_band_spellings_with_spaces_mixed(tmp_path):
    p = _w(tmp_path, "o.csv", "mjd,flux,flux_err,filter\n1,1,1,ZTF g\n2,1,1,ZTF_g\n3,1,1,ztf-r\n4,1,1,r\n")
    assert read_canonical(p)["band"].tolist() == ["g", "g", "r", "r"]


def test_telescope_and_instrument_columns_are_not_both_the_survey(tmp_path):
    p = _w(tmp_path, "o.csv", "mjd,flux,flux_err,band,Telescope,Instrument\n1,1,1,g,P48,ZTF-Cam\n2,1,1,o,ATLAS-HKO,ACAM1\n")
    lc = read_canonical(p)
    assert lc["survey"].tolist() == ["ZTF", "ATLAS"] and "Instrument" in lc.columns and "Telescope" in lc.columns


@pytest.mark.parametrize("label, cls", [("SN Ia", "SNIa"), ("SN Ic", "SESN"), ("SN Ic-BL", "SESN"), ("SN Ib", "SESN"),
                                        ("SN IIn", "SNIIn"), ("TDE", "TDE"), ("SN II", "SNII"), ("SLSN-I", "SLSN"),
                                        ("sn_ia", "SNIa"), ("CV/Nova", "CV/Nova")])
def test_label_aliases(label, cls):
    assert canonical_label(label) == cls


def test_every_class_is_its_own_alias_and_unknown_labels_name_the_closest():
    assert [canonical_label(c) for c in CLASSES] == list(CLASSES)
    with pytest.raises(KeyError, match="closest"):
        canonical_label("SN Iz")
