"""The bad-input policy, one test per case of tests/data/bad_inputs (see its README.md).

Each case ends in an exception naming file, line and reason, or in a counted drop (or a
note) of the filtering report — never in silently lost data.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mslc_utils.ingest import IngestError, build_dataset, read_labels
from mslc_utils.io import ReadError, detect_format, read_info, read_lightcurve
from mslc_utils.io_canonical import DropLog
from mslc_utils.preprocess import LightCurveContext, PreprocessConfig, apply_steps

BAD = Path(__file__).parent / "data" / "bad_inputs"


# The corpus light curves have a few rows: no alert window and no minimum number of detections;
# the first ATLAS rows of job01088 have chi/N > 3 (so no chi/N cut, to isolate the defect).
SHORT = PreprocessConfig.from_dict(
    {"steps": {"alert_window": False, "min_detections": False, "atlas_chi2": False}})


def cut(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, DropLog]:
    """Read one corpus file and apply the (short-curve) steps to it, as build_dataset does."""
    lc = read_lightcurve(path)
    log = DropLog()
    ctx = LightCurveContext("x", "ZTF" if read_info(lc).format in ("ztf_fps", "alerce_fp") else "ATLAS")
    kept = apply_steps(lc, SHORT.steps, ctx, log)
    return lc, kept, log


# ----------------------------------------------------------------- exceptions: file + line + reason
@pytest.mark.parametrize(
    "name, pattern",
    [
        ("empty.txt", r"empty.txt: empty file"),
        ("binary.dat", r"binary.dat:2: not a UTF-8 text file"),
        ("ztf_truncated_row.txt", r"ztf_truncated_row.txt:9: expected 40 values, found 20 \(truncated row\)"),
        ("ztf_non_numeric.txt", r"ztf_non_numeric.txt:8: column 'forcediffimflux': non-numeric value '12.5e'"),
        ("ztf_missing_column.txt", r"ztf_missing_column.txt:6: missing required column\(s\) \['forcediffimfluxunc'\]"),
        ("ztf_unknown_filter.txt", r"ztf_unknown_filter.txt:10: unknown filter 'ZTF_x'"),
        ("atlas_truncated_row.txt", r"atlas_truncated_row.txt:4: expected 19 values, found 10"),
        ("atlas_non_numeric.txt", r"atlas_non_numeric.txt:3: column 'uJy': non-numeric value 'n/a\?'"),
        ("canonical_missing_column.csv", r"canonical_missing_column.csv: missing required column\(s\) 'flux_err'"),
        ("canonical_unknown_band.csv", r"canonical_unknown_band.csv:3: unknown band 'x'"),
        ("canonical_non_numeric.csv", r"canonical_non_numeric.csv:3: column 'flux': non-numeric value 'ten'"),
        ("canonical_truncated_row.csv", r"canonical_truncated_row.csv:3: expected 5 values, found 3"),
        ("alerce_unknown_fid.csv", r"alerce_unknown_fid.csv:3: column 'fid': unknown filter id"),
    ],
)
def test_malformed_file_raises_with_file_line_and_reason(name: str, pattern: str) -> None:
    with pytest.raises(ReadError, match=pattern) as exc:
        read_lightcurve(BAD / name)
    assert isinstance(exc.value, ValueError)
    assert exc.value.path.endswith(name)


def test_empty_file_cannot_be_detected() -> None:
    with pytest.raises(ReadError, match="empty file"):
        detect_format(BAD / "empty.txt")


def test_read_error_survives_pickling() -> None:  # joblib workers send it back to the parent
    import pickle

    err = ReadError("f.txt", 3, "bad")
    back = pickle.loads(pickle.dumps(err))
    assert (back.path, back.line, back.reason, str(back)) == ("f.txt", 3, "bad", "f.txt:3: bad")


# ----------------------------------------------------------------- header only: empty light curve
@pytest.mark.parametrize("name, fmt", [("ztf_header_only.txt", "ztf_fps"), ("atlas_header_only.txt", "atlas_fp")])
def test_header_only_gives_an_empty_light_curve_counted_as_removed(name: str, fmt: str) -> None:
    lc = read_lightcurve(BAD / name)
    assert read_info(lc).format == fmt and len(lc) == 0
    assert list(lc.columns[:7]) == ["object_id", "survey", "band", "mjd", "flux", "flux_err", "detected"]
    _, kept, log = cut(BAD / name)
    assert kept.empty and [(r.rule, r.objects) for r in log] == [("empty_lightcurve", 1)]


# ----------------------------------------------------------------- counted drops
def test_unknown_atlas_filter_is_a_counted_read_drop() -> None:
    lc = read_lightcurve(BAD / "atlas_unknown_filter.txt")
    info = read_info(lc)
    assert info.rows_read == {"ATLAS": 6} and len(lc) == 5
    assert [(r.rule, r.epochs) for r in info.log] == [("atlas_filter", 1)]


def test_ztf_i_in_alerce_is_a_counted_read_drop() -> None:
    lc = read_lightcurve(BAD / "alerce_i_band.csv")
    assert lc["band"].tolist() == ["g", "r"]
    assert [(r.rule, r.epochs) for r in read_info(lc).log] == [("ztf_i_band", 1)]


@pytest.mark.parametrize("name, rule, n", [
    ("canonical_nan_flux.csv", "finite_flux", 2),
    ("atlas_nan_flux.txt", "finite_flux", 1),
    ("canonical_negative_error.csv", "positive_flux_err", 2),
    ("ztf_negative_error.txt", "positive_flux_err", 1),
    ("canonical_duplicated_epochs.csv", "duplicate_epochs", 1),
])
def test_bad_epochs_are_counted_drops_of_the_quality_steps(name: str, rule: str, n: int) -> None:
    lc, kept, log = cut(BAD / name)
    assert {r.rule: r.epochs for r in log if r.removed} == {rule: n}
    assert len(kept) + log.removed_epochs() == len(lc)


def test_duplicated_epochs_keep_the_first() -> None:
    _, kept, _ = cut(BAD / "canonical_duplicated_epochs.csv")
    assert kept.loc[(kept["band"] == "g") & (kept["mjd"] == 59000.1), "flux"].tolist() == [10.0]
    assert len(kept) == 3  # the same mjd in another band is not a duplicate


def test_unsorted_times_are_sorted_and_noted_not_dropped() -> None:
    lc = read_lightcurve(BAD / "canonical_unsorted.csv")
    assert lc["mjd"].tolist() == [59000.1, 59001.2, 59002.3, 59003.4]
    assert lc["flux"].tolist() == [10.0, 11.0, 9.0, 8.0]
    (rec,) = read_info(lc).log.records
    assert rec.rule == "reordered" and not rec.removed and rec.epochs == 3  # 59002.3 did not move


# ----------------------------------------------------------------- labels
def test_label_outside_taxonomy_names_file_line_and_label() -> None:
    with pytest.raises(IngestError, match=r"labels_unknown_label.csv:4: label 'SN Ia' of object 'A3' is not "
                                          r"in the taxonomy \(did you mean 'SNIa'\?\)"):
        read_labels(BAD / "labels_unknown_label.csv")


def test_labels_missing_column_and_bad_coordinates() -> None:
    with pytest.raises(IngestError, match=r"labels_missing_column.csv: missing required column\(s\) 'dec'"):
        read_labels(BAD / "labels_missing_column.csv")
    with pytest.raises(IngestError, match=r"labels_bad_coordinates.csv:3: coordinates out of range: ra=400"):
        read_labels(BAD / "labels_bad_coordinates.csv")


# ----------------------------------------------------------------- in a build
def test_in_a_build_missing_files_empty_files_and_unreadable_files_are_counted(tmp_path: Path) -> None:
    """Objects: A (ZTF ok + ATLAS header only), B (no file at all), C (ZTF truncated + ATLAS ok),
    D (ATLAS only)."""
    root = tmp_path / "DATA"
    (root / "ztf").mkdir(parents=True)
    (root / "atlas").mkdir()
    shutil.copy(BAD / "ztf_ok.txt", root / "ztf" / "A.txt")
    shutil.copy(BAD / "atlas_header_only.txt", root / "atlas" / "A.txt")
    shutil.copy(BAD / "ztf_truncated_row.txt", root / "ztf" / "C.txt")
    shutil.copy(BAD / "atlas_unknown_filter.txt", root / "atlas" / "C.txt")
    shutil.copy(BAD / "atlas_nan_flux.txt", root / "atlas" / "D.txt")
    pd.DataFrame({"object_id": list("ABCD"), "ra": [1.0, 2, 3, 4], "dec": [1.0, 2, 3, 4],
                  "label": ["SNIa", "QSO", "RRLc", "AGN"]}).to_csv(root / "labels.csv", index=False)
    # keep the few real rows: no window / detection threshold on 4-row light curves
    cfg = {"on_error": "drop", "n_jobs": 1, "steps": {"alert_window": False, "min_detections": False,
                                                      "atlas_chi2": False}}
    with pytest.raises(ReadError, match=r"C.txt:9: expected 40 values"):
        build_dataset(root / "labels.csv", root, config={**cfg, "on_error": "raise"}, progress=False)
    ds, rep = build_dataset(root / "labels.csv", root, config=cfg, progress=False)
    obj = ds.objects.set_index("object_id")
    assert sorted(obj.index) == ["A", "C", "D"]
    assert obj.loc["A", "has_ztf"] and not obj.loc["A", "has_atlas"]
    assert not obj.loc["C", "has_ztf"] and obj.loc["C", "has_atlas"]
    assert not obj.loc["D", "has_ztf"] and obj.loc["D", "has_atlas"]
    assert ds.splits is None  # one object per class: no stratified split (warned, not raised)
    log = rep.log.to_frame()
    lc_drops = {(r.object_id, r.survey): r.rule for r in log.itertuples() if r.removed and r.objects}
    assert lc_drops == {("A", "ATLAS"): "empty_lightcurve", ("B", "ZTF"): "no_file", ("B", "ATLAS"): "no_file",
                        ("C", "ZTF"): "unreadable_file", ("D", "ZTF"): "no_file", ("B", "ALL"): "object_dropped"}
    assert rep.objects_dropped["object_id"].tolist() == ["B"]
    t = rep.totals.set_index("survey")
    assert t.loc["ATLAS", "epochs_read"] == 6 + 5 and t.loc["ZTF", "epochs_read"] == 4
    assert t.loc["ATLAS", "epochs_removed_read"] == 1  # filter t
    assert t.loc["ATLAS", "epochs_kept"] == 5 + 4  # C: 5 c/o rows; D: 5 rows minus one NaN flux
    assert t.loc["ZTF", "files_unreadable"] == 1 and t.loc["ZTF", "files_missing"] == 2
    rep.check()


def test_listed_file_missing_is_raised_or_counted(tmp_path: Path) -> None:
    root = tmp_path / "DATA"
    (root / "ztf").mkdir(parents=True)
    shutil.copy(BAD / "ztf_ok.txt", root / "ztf" / "A.txt")
    labels = pd.DataFrame({"object_id": ["A", "B"], "ra": [1.0, 2], "dec": [1.0, 2], "label": ["SNIa", "SNIa"],
                           "ztf_file": [None, "typo.txt"]})
    cfg = {"steps": {"alert_window": False, "min_detections": False}, "n_jobs": 1}
    with pytest.raises(IngestError, match=r"ZTF file of object 'B': file 'typo.txt' listed in the labels"):
        build_dataset(labels, root, config=cfg, progress=False)
    ds, rep = build_dataset(labels, root, config={**cfg, "on_error": "drop"}, progress=False)
    assert ds.objects["object_id"].tolist() == ["A"]
    rules = rep.log.to_frame().set_index("object_id")
    assert rules.loc["B"].query("survey == 'ZTF'")["rule"].tolist() == ["listed_file_missing"]
    assert np.isclose(rep.totals.set_index("survey").loc["ZTF", "files_missing"], 1)
