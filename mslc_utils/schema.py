"""The canonical light-curve data model, its validator, and Parquet storage.

Two long tables describe a data set (in the spirit of lightkurve / sncosmo tables):

* **light curves** — one row per epoch: ``object_id``, ``survey`` (``ZTF`` or ``ATLAS``),
  ``band`` (``g``/``r`` for ZTF, ``c``/``o`` for ATLAS), ``mjd`` (days), ``flux`` and
  ``flux_err`` (difference flux in µJy, AB zero point 23.9 mag; flux may be negative),
  ``detected`` (bool). Readers may keep extra raw quality columns after these.
* **objects** — one row per object: ``object_id``, ``ra``, ``dec`` (degrees), ``label``
  (one of the 21 classes of Table 1) and ``group`` (Transient, Stochastic, Periodic).

On disk a data set is a directory with ``lightcurves.parquet``, ``objects.parquet``,
optionally ``splits.parquet`` and a small ``manifest.json`` (schema version, source, counts).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .taxonomy import CLASS_TO_GROUP, CLASSES

SCHEMA_VERSION = "1.0"

SURVEY_BANDS: dict[str, tuple[str, ...]] = {"ZTF": ("g", "r"), "ATLAS": ("c", "o")}
SURVEYS: tuple[str, ...] = tuple(SURVEY_BANDS)
ALL_BANDS: tuple[str, ...] = ("g", "r", "c", "o")

#: column -> kind ("str", "float", "bool") of the canonical light-curve table
LIGHTCURVE_COLUMNS: dict[str, str] = {
    "object_id": "str",
    "survey": "str",
    "band": "str",
    "mjd": "float",
    "flux": "float",
    "flux_err": "float",
    "detected": "bool",
}
#: column -> kind of the canonical object table
OBJECT_COLUMNS: dict[str, str] = {
    "object_id": "str",
    "ra": "float",
    "dec": "float",
    "label": "str",
    "group": "str",
}

LIGHTCURVES_FILE = "lightcurves.parquet"
OBJECTS_FILE = "objects.parquet"
SPLITS_FILE = "splits.parquet"
MANIFEST_FILE = "manifest.json"


class DataValidationError(ValueError):
    """A table does not follow the canonical data model.

    The message names the table, the column, the offending object(s) and the reason.
    """


def _first_ids(df: pd.DataFrame, mask: np.ndarray, n: int = 3) -> str:
    if "object_id" not in df.columns:
        return ""
    ids = pd.unique(df.loc[mask, "object_id"])[:n]
    return ", ".join(repr(i) for i in ids)


def _check_kind(df: pd.DataFrame, table: str, col: str, kind: str) -> None:
    s = df[col]
    if kind == "float":
        if not pd.api.types.is_float_dtype(s.dtype):
            raise DataValidationError(
                f"{table}: column {col!r} must be floating point, got dtype {s.dtype}"
            )
    elif kind == "bool":
        if not pd.api.types.is_bool_dtype(s.dtype):
            raise DataValidationError(f"{table}: column {col!r} must be boolean, got dtype {s.dtype}")
    elif kind == "str":
        if not (pd.api.types.is_string_dtype(s.dtype) or s.dtype == object):
            raise DataValidationError(f"{table}: column {col!r} must hold strings, got dtype {s.dtype}")
        if isinstance(s.dtype, pd.StringDtype) or pd.api.types.infer_dtype(s, skipna=False) == "string":
            # vectorised fast path (millions of rows): only missing or empty values can be bad
            bad = (s.isna() | (s.astype(str) == "")).to_numpy(bool)
        else:
            bad = ~s.map(lambda v: isinstance(v, str) and v != "").to_numpy(bool)
        if bad.any():
            where = _first_ids(df, bad) if col != "object_id" else f"row {int(np.argmax(bad))}"
            raise DataValidationError(
                f"{table}: column {col!r} has {int(bad.sum())} missing or non-string value(s) "
                f"(objects: {where})"
            )


def _check_columns(df: pd.DataFrame, table: str, spec: dict[str, str]) -> None:
    if not isinstance(df, pd.DataFrame):
        raise DataValidationError(f"{table}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in spec if c not in df.columns]
    if missing:
        raise DataValidationError(
            f"{table}: missing column(s) {missing}; required columns are {list(spec)}"
        )
    for col, kind in spec.items():
        _check_kind(df, table, col, kind)


def validate_objects(objects: pd.DataFrame, table: str = "objects") -> pd.DataFrame:
    """Check an object table; return it unchanged or raise :class:`DataValidationError`."""
    _check_columns(objects, table, OBJECT_COLUMNS)
    dup = objects["object_id"].duplicated(keep=False).to_numpy()
    if dup.any():
        raise DataValidationError(f"{table}: duplicated object_id ({_first_ids(objects, dup)})")
    for col in ("ra", "dec"):
        bad = ~np.isfinite(objects[col].to_numpy(float))
        if bad.any():
            raise DataValidationError(
                f"{table}: column {col!r} is not finite for object(s) {_first_ids(objects, bad)}"
            )
    unknown = ~objects["label"].isin(CLASSES).to_numpy()
    if unknown.any():
        labs = sorted(set(objects.loc[unknown, "label"]))
        raise DataValidationError(
            f"{table}: column 'label' has unknown label(s) {labs} for object(s) "
            f"{_first_ids(objects, unknown)}; known labels: {list(CLASSES)}"
        )
    expected_group = objects["label"].map(CLASS_TO_GROUP)
    wrong = (objects["group"] != expected_group).to_numpy()
    if wrong.any():
        raise DataValidationError(
            f"{table}: column 'group' does not match the label's group for object(s) "
            f"{_first_ids(objects, wrong)} (see mslc_utils.taxonomy)"
        )
    return objects


def validate_lightcurves(
    lightcurves: pd.DataFrame,
    objects: pd.DataFrame | None = None,
    table: str = "lightcurves",
    require_both_surveys: bool = False,
) -> pd.DataFrame:
    """Check a light-curve table (and its consistency with ``objects`` when given).

    Raises :class:`DataValidationError` naming the column, the object(s) and the reason for:
    missing columns, wrong dtypes, non-finite times or fluxes, non-finite or non-positive
    errors, unknown surveys or bands (or a band of the wrong survey), duplicated epochs
    (same object, survey, band and mjd), light curves of objects absent from ``objects``,
    and objects without any light curve (or, with ``require_both_surveys``, without one
    in each survey).
    """
    lc = lightcurves
    _check_columns(lc, table, LIGHTCURVE_COLUMNS)
    unknown_survey = ~lc["survey"].isin(SURVEYS).to_numpy()
    if unknown_survey.any():
        vals = sorted(set(lc.loc[unknown_survey, "survey"]))
        raise DataValidationError(
            f"{table}: column 'survey' has unknown value(s) {vals} for object(s) "
            f"{_first_ids(lc, unknown_survey)}; expected one of {list(SURVEYS)}"
        )
    for survey, bands in SURVEY_BANDS.items():
        in_survey = (lc["survey"] == survey).to_numpy()
        bad = in_survey & ~lc["band"].isin(bands).to_numpy()
        if bad.any():
            vals = sorted(set(lc.loc[bad, "band"]))
            raise DataValidationError(
                f"{table}: column 'band' has value(s) {vals} not valid for survey {survey} "
                f"(expected {list(bands)}) for object(s) {_first_ids(lc, bad)}"
            )
    for col in ("mjd", "flux"):
        bad = ~np.isfinite(lc[col].to_numpy(float))
        if bad.any():
            raise DataValidationError(
                f"{table}: column {col!r} has {int(bad.sum())} non-finite value(s) for object(s) "
                f"{_first_ids(lc, bad)}"
            )
    err = lc["flux_err"].to_numpy(float)
    bad = ~np.isfinite(err)
    if bad.any():
        raise DataValidationError(
            f"{table}: column 'flux_err' has {int(bad.sum())} non-finite value(s) for object(s) "
            f"{_first_ids(lc, bad)}"
        )
    bad = err <= 0
    if bad.any():
        raise DataValidationError(
            f"{table}: column 'flux_err' has {int(bad.sum())} zero or negative value(s) for "
            f"object(s) {_first_ids(lc, bad)}"
        )
    dup = lc.duplicated(["object_id", "survey", "band", "mjd"], keep=False).to_numpy()
    if dup.any():
        raise DataValidationError(
            f"{table}: {int(dup.sum())} duplicated epoch(s) (same object_id, survey, band, mjd) "
            f"for object(s) {_first_ids(lc, dup)}"
        )
    if objects is not None:
        validate_objects(objects)
        known = set(objects["object_id"])
        orphan = ~lc["object_id"].isin(known).to_numpy()
        if orphan.any():
            raise DataValidationError(
                f"{table}: light curves of object(s) {_first_ids(lc, orphan)} absent from the "
                f"object table"
            )
        # unique(), not set(): iterating a 3-million-row Arrow string column in Python took
        # 3 of the 4 seconds of a quick data set's validation (each notebook loads it)
        have = lc["object_id"].unique()
        empty = ~objects["object_id"].isin(have).to_numpy()
        if empty.any():
            raise DataValidationError(
                f"objects: object(s) {_first_ids(objects, empty)} have no light curve in {table}"
            )
        if require_both_surveys:
            for survey in SURVEYS:
                have_s = lc.loc[lc["survey"] == survey, "object_id"].unique()
                miss = ~objects["object_id"].isin(have_s).to_numpy()
                if miss.any():
                    raise DataValidationError(
                        f"objects: object(s) {_first_ids(objects, miss)} have no {survey} light "
                        f"curve in {table}"
                    )
    return lc


def to_canonical_dtypes(lc: pd.DataFrame) -> pd.DataFrame:
    """Cast the canonical columns of a light-curve table to their canonical dtypes (copy)."""
    out = lc.copy()
    for col, kind in LIGHTCURVE_COLUMNS.items():
        if col not in out.columns:
            continue
        if kind == "float":
            out[col] = out[col].astype("float64")
        elif kind == "bool":
            out[col] = out[col].astype(bool)
        else:
            out[col] = out[col].astype(str)
    return out


@dataclass
class Dataset:
    """A canonical data set in memory: light curves, objects, optional splits and manifest."""

    lightcurves: pd.DataFrame
    objects: pd.DataFrame
    splits: pd.DataFrame | None = None
    manifest: dict[str, Any] | None = None

    def survey(self, name: str) -> pd.DataFrame:
        """Rows of one survey (``"ZTF"`` or ``"ATLAS"``)."""
        return self.lightcurves[self.lightcurves["survey"] == name]


def make_manifest(lightcurves: pd.DataFrame, objects: pd.DataFrame, source: str, **extra: Any) -> dict:
    """A small JSON-able description of a data set: schema version, source and counts."""
    per_survey = {
        s: {
            "objects": int(lightcurves.loc[lightcurves["survey"] == s, "object_id"].nunique()),
            "epochs": int((lightcurves["survey"] == s).sum()),
        }
        for s in SURVEYS
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "source": source,
        "n_objects": int(len(objects)),
        "n_epochs": int(len(lightcurves)),
        "per_survey": per_survey,
        "per_class": {k: int(v) for k, v in objects["label"].value_counts().items()},
        **extra,
    }


def save_dataset(dataset: Dataset, directory: str | Path, source: str | None = None) -> Path:
    """Validate and write a data set as Parquet files plus ``manifest.json``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    validate_lightcurves(dataset.lightcurves, dataset.objects)
    dataset.lightcurves.to_parquet(directory / LIGHTCURVES_FILE, index=False)
    dataset.objects.to_parquet(directory / OBJECTS_FILE, index=False)
    if dataset.splits is not None:
        dataset.splits.to_parquet(directory / SPLITS_FILE, index=False)
    manifest = dict(dataset.manifest or {})
    manifest.update(
        make_manifest(
            dataset.lightcurves,
            dataset.objects,
            source or manifest.get("source", "unknown"),
            **{k: v for k, v in manifest.items() if k not in {"schema_version", "source"}},
        )
    )
    manifest["has_splits"] = dataset.splits is not None
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    dataset.manifest = manifest
    return directory


def load_dataset(directory: str | Path, validate: bool = True) -> Dataset:
    """Read a data set written by :func:`save_dataset` (or laid out the same way)."""
    directory = Path(directory)
    for name in (LIGHTCURVES_FILE, OBJECTS_FILE):
        if not (directory / name).exists():
            raise FileNotFoundError(
                f"{directory / name}: not found; a canonical data set directory holds "
                f"{LIGHTCURVES_FILE}, {OBJECTS_FILE} and optionally {SPLITS_FILE}, {MANIFEST_FILE}"
            )
    lc = pd.read_parquet(directory / LIGHTCURVES_FILE)
    objects = pd.read_parquet(directory / OBJECTS_FILE)
    splits = pd.read_parquet(directory / SPLITS_FILE) if (directory / SPLITS_FILE).exists() else None
    manifest = None
    if (directory / MANIFEST_FILE).exists():
        manifest = json.loads((directory / MANIFEST_FILE).read_text())
        if str(manifest.get("schema_version", "")).split(".")[0] != SCHEMA_VERSION.split(".")[0]:
            raise DataValidationError(
                f"{directory / MANIFEST_FILE}: schema version {manifest.get('schema_version')!r} "
                f"is not compatible with this code ({SCHEMA_VERSION})"
            )
    if validate:
        try:
            validate_lightcurves(lc, objects)
        except DataValidationError as exc:
            raise DataValidationError(f"{directory}: {exc}") from exc
    return Dataset(lc, objects, splits, manifest)
