"""The canonical data model: the validator rejects malformed tables, storage round-trips."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mslc_utils.schema import (
    DataValidationError,
    Dataset,
    load_dataset,
    save_dataset,
    validate_lightcurves,
    validate_objects,
)
from mslc_utils.taxonomy import CLASSES, GROUPS, N_CLASSES, PAPER_COUNTS, TAXONOMY, group_boundaries


def test_taxonomy_is_table_1() -> None:
    assert N_CLASSES == 21
    assert CLASSES[:6] == ("SNIa", "SESN", "SNII", "SNIIn", "SLSN", "TDE")
    assert CLASSES[-1] == "DSCT"
    assert sum(PAPER_COUNTS.values()) == 39483  # the paper's ZTF light-curve count
    assert [c.group for c in TAXONOMY].count("Periodic") == 9
    assert group_boundaries() == [6, 12]
    assert set(c.group for c in TAXONOMY) == set(GROUPS)


def test_valid_tables_pass(tables) -> None:
    lc, objects = tables
    assert validate_lightcurves(lc, objects, require_both_surveys=True) is lc


def _mutate(tables, fn):
    lc, objects = (t.copy() for t in tables)
    result = fn(lc, objects)
    return result if result is not None else (lc, objects)


BAD_CASES = {
    "missing column": (lambda lc, o: (lc.drop(columns="flux_err"), o), r"missing column.*flux_err"),
    "wrong dtype": (lambda lc, o: lc.__setitem__("mjd", lc["mjd"].astype(int)), r"'mjd' must be floating"),
    "string flux": (lambda lc, o: lc.__setitem__("flux", lc["flux"].astype(str)), r"'flux' must be floating"),
    "nan flux": (lambda lc, o: lc.loc.__setitem__((3, "flux"), np.nan), r"'flux'.*non-finite.*OBJ1"),
    "inf error": (lambda lc, o: lc.loc.__setitem__((25, "flux_err"), np.inf), r"'flux_err'.*non-finite.*OBJ2"),
    "zero error": (lambda lc, o: lc.loc.__setitem__((0, "flux_err"), 0.0), r"'flux_err'.*zero or negative.*OBJ1"),
    "negative error": (lambda lc, o: lc.loc.__setitem__((1, "flux_err"), -1.0), r"zero or negative"),
    "unknown band": (lambda lc, o: lc.loc.__setitem__((0, "band"), "i"), r"'band'.*\['i'\].*ZTF.*OBJ1"),
    "band of other survey": (lambda lc, o: lc.loc.__setitem__((0, "band"), "c"), r"not valid for survey ZTF"),
    "unknown survey": (lambda lc, o: lc.loc.__setitem__((0, "survey"), "PS1"), r"'survey'.*PS1"),
    "duplicated epoch": (
        lambda lc, o: lc.loc.__setitem__((1, "mjd"), lc.loc[0, "mjd"]),
        r"duplicated epoch.*OBJ1",
    ),
    "unknown label": (lambda lc, o: o.loc.__setitem__((0, "label"), "Quasar"), r"unknown label.*Quasar.*OBJ1"),
    "wrong group": (lambda lc, o: o.loc.__setitem__((1, "group"), "Transient"), r"'group'.*OBJ2"),
    "object without light curve": (
        lambda lc, o: (lc[lc.object_id != "OBJ2"], o),
        r"OBJ2.*no light curve",
    ),
    "light curve without object": (
        lambda lc, o: lc.loc.__setitem__((0, "object_id"), "OBJ9"),
        r"OBJ9.*absent from the object table",
    ),
    "missing object id": (lambda lc, o: lc.loc.__setitem__((0, "object_id"), None), r"'object_id'.*missing"),
    "bool as int": (lambda lc, o: lc.__setitem__("detected", lc["detected"].astype(int)), r"'detected' must be boolean"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_validator_rejects_malformed_tables(tables, case) -> None:
    fn, pattern = BAD_CASES[case]
    lc, objects = _mutate(tables, fn)
    with pytest.raises(DataValidationError, match=pattern):
        validate_lightcurves(lc, objects)


def test_require_both_surveys(tables) -> None:
    lc, objects = tables
    lc = lc[~((lc.object_id == "OBJ2") & (lc.survey == "ATLAS"))]
    validate_lightcurves(lc, objects)  # fine by default
    with pytest.raises(DataValidationError, match=r"OBJ2.*no ATLAS light curve"):
        validate_lightcurves(lc, objects, require_both_surveys=True)


def test_duplicated_object_ids_rejected(tables) -> None:
    _, objects = tables
    objects = pd.concat([objects, objects.iloc[:1]])
    with pytest.raises(DataValidationError, match="duplicated object_id.*OBJ1"):
        validate_objects(objects)


def test_save_load_round_trip(tables, tmp_path) -> None:
    lc, objects = tables
    splits = pd.DataFrame({"object_id": ["OBJ1", "OBJ2"], "label": ["SNIa", "RRLab"], "split": "trainval", "fold": [0, 1]})
    save_dataset(Dataset(lc, objects, splits), tmp_path, source="unit-test")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["source"] == "unit-test"
    assert manifest["n_objects"] == 2 and manifest["n_epochs"] == len(lc)
    assert manifest["per_survey"]["ZTF"]["epochs"] == 20
    ds = load_dataset(tmp_path)
    pd.testing.assert_frame_equal(ds.lightcurves, lc, check_dtype=False)
    assert list(ds.lightcurves.dtypes[["mjd", "flux", "flux_err"]]) == [np.float64] * 3
    pd.testing.assert_frame_equal(ds.splits, splits, check_dtype=False)


def test_save_refuses_invalid_data(tables, tmp_path) -> None:
    lc, objects = tables
    lc = lc.copy()
    lc.loc[0, "flux_err"] = -1.0
    with pytest.raises(DataValidationError):
        save_dataset(Dataset(lc, objects), tmp_path)
    assert not (tmp_path / "lightcurves.parquet").exists()


def test_load_names_the_directory(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="lightcurves.parquet"):
        load_dataset(tmp_path)
