"""Shared pieces of the survey readers, and the reader/writer of canonical light-curve files.

This module holds what every reader of :mod:`mslc_utils.io` builds on:

* :class:`IngestError` / :class:`ReadError` — bad input, with the file, the line and the reason;
* :class:`DropRecord` / :class:`DropLog` — the account of every epoch or object removed (or
  reordered) from reading to the final data set, so that nothing is lost without a count;
* :class:`ReadInfo` — what a reader attaches to the table it returns (``df.attrs``): the file,
  format, rows read per survey and the read-time drops;
* the column alias table (``time``/``MJD``/``mjd`` ...) and the strict text-table parsing
  helpers (field counts and numbers checked line by line);
* :func:`read_canonical` / :func:`write_canonical` for light curves already in the canonical
  model (CSV or Parquet, any common column spelling).
"""
from __future__ import annotations

import csv
import io as _io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .schema import LIGHTCURVE_COLUMNS, SURVEY_BANDS, SURVEYS

#: key of ``DataFrame.attrs`` under which readers store their :class:`ReadInfo` (as a dict)
READ_INFO_ATTR = "mslc_read"
#: signal-to-noise ratio above which a forced-photometry epoch counts as a detection
DEFAULT_DETECTION_SNR = 5.0
#: canonical columns, in order
CANONICAL_COLUMNS: tuple[str, ...] = tuple(LIGHTCURVE_COLUMNS)
PARQUET_MAGIC = b"PAR1"


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------
class IngestError(ValueError):
    """Bad input found while ingesting survey data (a labels table, a directory layout ...)."""


class ReadError(IngestError):
    """A light-curve file cannot be read: the message names the file, the line and the reason.

    Attributes
    ----------
    path, line, reason
        The file, the 1-based line number (``None`` when the problem is not one line, or a
        Parquet row when ``line_kind == "row"``) and a short reason.
    """

    def __init__(self, path: str | Path, line: int | None, reason: str, line_kind: str = "line"):
        self.path = str(path)
        self.line = line
        self.reason = reason
        self.line_kind = line_kind
        where = f"{self.path}:{line}" if line is not None and line_kind == "line" else self.path
        if line is not None and line_kind != "line":
            where = f"{self.path} ({line_kind} {line})"
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):  # picklable across joblib workers despite the custom __init__
        return (type(self), (self.path, self.line, self.reason, self.line_kind))


# --------------------------------------------------------------------------------------------
# drop accounting
# --------------------------------------------------------------------------------------------
#: stages of the ingestion, in order
STAGES: tuple[str, ...] = ("file", "read", "cut", "object")


@dataclass
class DropRecord:
    """One accounting entry: what a rule removed (or reordered) for one object and survey.

    Attributes
    ----------
    stage
        ``"file"`` (a file missing or unreadable), ``"read"`` (rows removed by a reader, e.g.
        ZTF_i), ``"cut"`` (a preprocessing step) or ``"object"`` (an object removed from the
        data set).
    rule
        Short machine name of the rule (``"ztf_i_band"``, ``"ztf_procstatus"`` ...).
    survey
        ``"ZTF"``, ``"ATLAS"`` or ``"ALL"`` (data-set level object drops).
    object_id, file
        The object and the file concerned (``None`` when not applicable).
    epochs
        Number of epochs (rows) removed (or reordered when ``removed`` is false).
    objects
        1 when the rule removed the object's whole light curve in this survey (or, for survey
        ``"ALL"``, the object from the data set), else 0.
    reason
        Human-readable reason.
    removed
        ``False`` for entries that remove nothing (rows reordered, a rule not applicable).
    """

    stage: str
    rule: str
    survey: str
    object_id: str | None
    epochs: int = 0
    objects: int = 0
    reason: str = ""
    file: str | None = None
    removed: bool = True


_RECORD_FIELDS = [f for f in DropRecord.__dataclass_fields__]


class DropLog:
    """An ordered list of :class:`DropRecord` with summaries; used by readers, cuts and builder."""

    def __init__(self, records: Iterable[DropRecord] | None = None) -> None:
        self.records: list[DropRecord] = list(records or [])

    def add(
        self,
        stage: str,
        rule: str,
        survey: str,
        object_id: str | None,
        epochs: int = 0,
        objects: int = 0,
        reason: str = "",
        file: str | Path | None = None,
        removed: bool = True,
    ) -> None:
        """Append a record (records removing nothing are kept only when ``removed`` is false)."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
        if removed and epochs == 0 and objects == 0:
            return
        self.records.append(
            DropRecord(
                stage, rule, survey, None if object_id is None else str(object_id), int(epochs),
                int(objects), reason, None if file is None else str(file), bool(removed),
            )
        )

    def note(self, stage: str, rule: str, survey: str, object_id: str | None, reason: str,
             epochs: int = 0, file: str | Path | None = None) -> None:
        """Record an event that removed nothing (e.g. rows reordered, a rule not applicable)."""
        self.add(stage, rule, survey, object_id, epochs=epochs, objects=0, reason=reason,
                 file=file, removed=False)

    def extend(self, other: DropLog | Iterable[DropRecord]) -> None:
        """Append the records of another log."""
        self.records.extend(other.records if isinstance(other, DropLog) else other)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[DropRecord]:
        return iter(self.records)

    def to_records(self) -> list[dict[str, Any]]:
        """Plain dicts (JSON-able), one per record."""
        return [asdict(r) for r in self.records]

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]]) -> DropLog:
        """Inverse of :meth:`to_records`."""
        return cls(DropRecord(**r) for r in records)

    def to_frame(self) -> pd.DataFrame:
        """All records as a DataFrame (one row per record; fixed columns even when empty)."""
        df = pd.DataFrame(self.to_records(), columns=_RECORD_FIELDS)
        return df.astype({"epochs": "int64", "objects": "int64", "removed": bool})

    def removed_epochs(self, survey: str | None = None, stage: str | None = None) -> int:
        """Total epochs removed (records with ``removed``), optionally for one survey / stage."""
        return sum(
            r.epochs
            for r in self.records
            if r.removed and (survey is None or r.survey == survey) and (stage is None or r.stage == stage)
        )

    def summary(self) -> pd.DataFrame:
        """Per stage, rule and survey: epochs removed, light curves/objects removed, reason.

        ``n_objects_affected`` counts distinct objects with at least one record of the rule.
        Notes (``removed`` false) are summarised too, with ``removed`` false.
        """
        df = self.to_frame()
        cols = ["stage", "rule", "survey", "removed", "epochs_removed", "objects_removed",
                "n_objects_affected", "reason"]
        if df.empty:
            return pd.DataFrame(columns=cols)
        df["stage_order"] = df["stage"].map({s: i for i, s in enumerate(STAGES)})
        g = df.groupby(["stage_order", "stage", "rule", "survey", "removed"], sort=False, dropna=False)
        out = g.agg(
            epochs_removed=("epochs", "sum"),
            objects_removed=("objects", "sum"),
            n_objects_affected=("object_id", "nunique"),
            reason=("reason", _common_reason),
        ).reset_index()
        out = out.sort_values(["stage_order", "survey"], kind="stable").drop(columns="stage_order")
        # notes removed nothing: report their counts as events, not removals
        return out[cols].reset_index(drop=True)


def _common_reason(reasons: pd.Series) -> str:
    """The reason shared by a group of records (the rule's generic reason when they differ)."""
    uniq = pd.unique(reasons)
    if len(uniq) == 1:
        return str(uniq[0])
    # Per-object details differ (e.g. the number of detections): keep the part before ':'.
    heads = list(dict.fromkeys(str(r).split(":")[0] for r in uniq))
    return str(heads[0]) if len(heads) == 1 else "; ".join(str(h) for h in heads[:3])


@dataclass
class ReadInfo:
    """What a reader read: stored as a dict in ``df.attrs["mslc_read"]`` of the table it returns.

    ``rows_read`` counts data rows per survey as they were in the file (before any drop);
    ``log`` holds the read-time drops and notes; ``meta`` holds file metadata (e.g. the
    requested position of a ZTF FPS request).
    """

    path: str
    format: str
    object_id: str | None
    rows_read: dict[str, int]
    log: DropLog = field(default_factory=DropLog)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (as stored in ``attrs``)."""
        return {
            "path": self.path,
            "format": self.format,
            "object_id": self.object_id,
            "rows_read": dict(self.rows_read),
            "records": self.log.to_records(),
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReadInfo:
        """Inverse of :meth:`to_dict`."""
        return cls(d["path"], d["format"], d.get("object_id"), dict(d["rows_read"]),
                   DropLog.from_records(d.get("records", [])), dict(d.get("meta", {})))


def read_info(df: pd.DataFrame) -> ReadInfo:
    """The :class:`ReadInfo` a reader attached to ``df`` (raises ``KeyError`` when absent)."""
    if READ_INFO_ATTR not in df.attrs:
        raise KeyError(
            f"this table carries no read information (df.attrs[{READ_INFO_ATTR!r}]); it was not "
            f"returned by a mslc_utils.io reader, or an operation dropped its attrs"
        )
    return ReadInfo.from_dict(df.attrs[READ_INFO_ATTR])


# --------------------------------------------------------------------------------------------
# column aliases
# --------------------------------------------------------------------------------------------
def normalize_name(name: str) -> str:
    """Lower-case a column name and drop everything but letters and digits (``"chi/N"`` -> ``"chin"``)."""
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


#: canonical column -> accepted spellings (compared after :func:`normalize_name`)
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "object_id": ("object_id", "objectid", "oid", "objid", "object", "id", "name", "source_id"),
    "survey": ("survey",),
    "band": ("band", "filter", "passband", "flt", "f", "filtername"),
    "mjd": ("mjd", "time", "t", "mjd_obs", "obsmjd", "date_mjd"),
    "flux": ("flux", "ujy", "flux_ujy", "fluxujy", "fnu", "flux_microjy", "diff_flux"),
    "flux_err": ("flux_err", "fluxerr", "dflux", "dujy", "flux_unc", "fluxunc", "flux_error",
                 "e_flux", "eflux", "sigma_flux", "fluxerr_ujy", "flux_ujy_err", "diff_flux_err"),
    "detected": ("detected", "detection", "is_detected", "isdet", "det"),
}
#: spellings of Julian dates (converted to MJD by the canonical reader)
JD_ALIASES: tuple[str, ...] = ("jd", "julian_date", "bjd")
#: band value -> canonical band (compared lower-cased)
BAND_ALIASES: dict[str, str] = {
    "g": "g", "ztf_g": "g", "ztfg": "g", "zg": "g",
    "r": "r", "ztf_r": "r", "ztfr": "r", "zr": "r",
    "i": "i", "ztf_i": "i", "ztfi": "i", "zi": "i",
    "c": "c", "atlas_c": "c", "atlasc": "c", "cyan": "c",
    "o": "o", "atlas_o": "o", "atlaso": "o", "orange": "o",
}
#: bands each survey may deliver, beyond the ones the project uses (counted and dropped)
SURVEY_OTHER_BANDS: dict[str, tuple[str, ...]] = {"ZTF": ("i",), "ATLAS": ("t", "w", "h")}
SURVEY_ALIASES: dict[str, str] = {
    "ztf": "ZTF", "p48": "ZTF", "ztfcam": "ZTF", "zwickytransientfacility": "ZTF", "palomar48": "ZTF",
    "atlas": "ATLAS", "atlashko": "ATLAS", "atlasmlo": "ATLAS", "atlassth": "ATLAS", "atlaschl": "ATLAS",
    "atlas1": "ATLAS", "atlas2": "ATLAS", "atlas3": "ATLAS", "atlas4": "ATLAS",
}
#: columns that name the facility, by priority: the first present is the survey, the others
#: stay raw columns (a table with ``Telescope`` AND ``Instrument`` is not ambiguous)
SURVEY_COLUMNS: tuple[str, ...] = ("survey", "telescope", "instrument", "facility")


def normalize_band(value: object) -> str:
    """Band spelling key: lower case, spaces and hyphens as ``_`` (``"ZTF g"`` -> ``"ztf_g"``)."""
    return re.sub(r"[\s\-]+", "_", str(value).strip().lower())


def map_bands(values: pd.Series) -> pd.Series:
    """Canonical bands of band spellings (:data:`BAND_ALIASES`); NaN for an unknown spelling.

    ``ZTF g``, ``ZTF_g``, ``ztf-g`` and ``g`` are all ``g``, also mixed in one file.
    """
    return values.map(lambda v: BAND_ALIASES.get(normalize_band(v)) if pd.notna(v) else None)


def map_surveys(values: pd.Series) -> pd.Series:
    """Canonical surveys of survey/telescope spellings (:data:`SURVEY_ALIASES`); NaN if unknown."""
    return values.map(lambda v: SURVEY_ALIASES.get(normalize_name(v)) if pd.notna(v) else None)


def resolve_columns(
    columns: Sequence[str],
    path: str | Path,
    required: Sequence[str] = ("mjd", "flux", "flux_err", "band"),
    aliases: dict[str, tuple[str, ...]] = COLUMN_ALIASES,
) -> dict[str, str]:
    """Map canonical column names to the file's columns through the alias table.

    Returns ``{canonical: file_column}`` for every canonical column found. Raises
    :class:`ReadError` when a required column is missing (listing the accepted spellings) or
    when two columns of the file are spellings of the same canonical column.
    """
    by_norm: dict[str, list[str]] = {}
    for c in columns:
        by_norm.setdefault(normalize_name(c), []).append(c)
    found: dict[str, str] = {}
    for canon, spellings in aliases.items():
        hits: list[str] = []
        for s in spellings:
            for c in by_norm.get(normalize_name(s), []):
                if c not in hits:
                    hits.append(c)
        # Two spellings of one quantity (say "flux" and "uJy") are ambiguous: refuse to guess.
        if len(hits) > 1:
            raise ReadError(
                path, None,
                f"columns {hits} are all spellings of {canon!r}; keep one or rename the others",
            )
        if hits:
            found[canon] = hits[0]
    missing = [c for c in required if c not in found]
    if missing:
        details = "; ".join(f"{m!r} (accepted: {', '.join(aliases[m])})" for m in missing)
        raise ReadError(path, None, f"missing required column(s) {details}; the file has {list(columns)}")
    return found


# --------------------------------------------------------------------------------------------
# strict parsing helpers
# --------------------------------------------------------------------------------------------
def read_text_lines(path: str | Path) -> list[str]:
    """The lines of a text file; :class:`ReadError` for an empty (or blank) or binary file."""
    path = Path(path)
    raw = path.read_bytes()
    if not raw.strip():
        raise ReadError(path, None, "empty file (no header and no data)")
    if raw[:4] == PARQUET_MAGIC:
        raise ReadError(path, None, "a Parquet file where a text table was expected")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ReadError(path, line, f"not a UTF-8 text file ({exc.reason})") from exc
    return text.splitlines()


def check_field_counts(
    rows: Sequence[Sequence[str]] | Sequence[str], n_expected: int, line_numbers: Sequence[int],
    path: str | Path, split_whitespace: bool = False,
) -> None:
    """Raise :class:`ReadError` at the first row whose number of fields differs from the header."""
    for row, lineno in zip(rows, line_numbers):
        n = len(row.split()) if split_whitespace else len(row)  # type: ignore[union-attr]
        if n != n_expected:
            kind = "truncated row" if n < n_expected else "too many values"
            raise ReadError(path, lineno, f"expected {n_expected} values, found {n} ({kind})")


def coerce_numeric(
    df: pd.DataFrame, columns: Iterable[str], line_numbers: np.ndarray, path: str | Path,
    line_kind: str = "line",
) -> None:
    """Make ``columns`` of ``df`` float64 in place; :class:`ReadError` on a non-numeric value.

    Missing values (empty, ``null``, ``NaN`` ...) become NaN; any other token that is not a
    number is an error naming the line and the column.
    """
    updates: dict[str, pd.Series] = {}
    for col in columns:
        if col not in df.columns:
            continue
        s = df[col]
        if s.dtype == np.float64:
            continue
        if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
            updates[col] = s.astype("float64")
            continue
        num = pd.to_numeric(s, errors="coerce")
        bad = (num.isna() & s.notna() & ~s.astype(str).str.strip().str.lower().isin(_NA_TOKENS)).to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise ReadError(
                path, int(line_numbers[i]),
                f"column {col!r}: non-numeric value {s.iloc[i]!r}", line_kind=line_kind,
            )
        updates[col] = num.astype("float64")
    if updates:  # one assignment: setting many columns one by one is slow in pandas
        df[list(updates)] = pd.DataFrame(updates, index=df.index)


_NA_TOKENS = {"", "null", "nan", "na", "n/a", "none", "-nan", "<na>"}


def read_csv_strict(path: str | Path, lines: list[str] | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a CSV file (``#`` comment lines allowed before the header) as strings.

    Returns the table (all columns as strings, missing as NaN) and the 1-based line number of
    each row. Raises :class:`ReadError` for an empty file, a missing header, or a row with a
    wrong number of fields. ``lines``: the file's lines when already read.
    """
    lines = read_text_lines(path) if lines is None else lines
    start = 0
    while start < len(lines) and (not lines[start].strip() or lines[start].lstrip().startswith("#")):
        start += 1
    if start == len(lines):
        raise ReadError(path, None, "no header line (only comments or blank lines)")
    body = [(i + 1, ln) for i, ln in enumerate(lines[start:], start) if ln.strip()]
    parsed = list(csv.reader([ln for _, ln in body]))
    header = [h.strip() for h in parsed[0]]
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        raise ReadError(path, body[0][0], f"duplicated column name(s) {dup} in the header")
    rows = parsed[1:]
    line_numbers = np.array([n for n, _ in body[1:]], dtype=np.int64)
    check_field_counts(rows, len(header), line_numbers, path)
    df = pd.DataFrame(rows, columns=header, dtype=object)
    df = df.apply(lambda s: s.str.strip()).replace("", np.nan) if len(df) else df
    return df, line_numbers


def is_parquet(path: str | Path) -> bool:
    """Whether the file starts with the Parquet magic bytes."""
    with open(path, "rb") as fh:
        return fh.read(4) == PARQUET_MAGIC


def read_table(path: str | Path) -> tuple[pd.DataFrame, np.ndarray, str]:
    """A CSV or Parquet table (decided by content), its row line numbers and the line kind.

    For CSV, numbers are 1-based file lines (``"line"``); for Parquet, 0-based rows (``"row"``).
    """
    path = Path(path)
    if is_parquet(path):
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise ReadError(path, None, f"unreadable Parquet file ({exc})") from exc
        return df.reset_index(drop=True), np.arange(len(df), dtype=np.int64), "row"
    lines = read_text_lines(path)
    header = next((i for i, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith("#")), None)
    if header is not None and "," not in lines[header] and len(lines[header].split()) >= 2:
        # a whitespace-separated table (``MJD Mag MagErr Filter UL``): every column as text
        columns = lines[header].split()
        if len(set(columns)) != len(columns):
            dup = sorted({c for c in columns if columns.count(c) > 1})
            raise ReadError(path, header + 1, f"duplicated column name(s) {dup} in the header")
        df, numbers = parse_whitespace_rows(lines, header, columns, path, string_columns=columns,
                                            na_values=sorted(_NA_TOKENS - {""}))
        return df, numbers, "line"
    df, numbers = read_csv_strict(path, lines)
    return df, numbers, "line"


def resolve_object_id(
    df: pd.DataFrame, column: str | None, object_id: str | None, path: str | Path,
    lines: np.ndarray, line_kind: str = "line",
) -> tuple[pd.DataFrame, np.ndarray, str, str | None]:
    """Decide the object id of a one-object table.

    * ``object_id`` given: when the file's id column holds several objects, keep the rows of
      that object (error if none); otherwise the given id replaces the file's.
    * not given: the file's id column (one value, else :class:`ReadError`) or the file stem.

    Returns the (possibly filtered) table, its line numbers, the object id and the file's own
    id (``None`` when the file has no id column).
    """
    path = Path(path)
    file_id: str | None = None
    if column is not None and len(df):
        ids = df[column].astype(str).str.strip()
        uniq = pd.unique(ids[df[column].notna()])
        if len(uniq) > 1:
            if object_id is None:
                raise ReadError(
                    path, None,
                    f"the file holds {len(uniq)} objects ({', '.join(map(str, uniq[:3]))} ...) in column "
                    f"{column!r}; pass object_id to select one",
                )
            keep = (ids == str(object_id)).to_numpy()
            if not keep.any():
                raise ReadError(path, None, f"object {object_id!r} not found in column {column!r}")
            return df[keep].reset_index(drop=True), lines[keep], str(object_id), str(object_id)
        if len(uniq) == 1:
            file_id = str(uniq[0])
        if df[column].isna().any() and file_id is not None:
            i = int(np.argmax(df[column].isna().to_numpy()))
            raise ReadError(path, int(lines[i]), f"missing object id in column {column!r}", line_kind)
    oid = str(object_id) if object_id is not None else (file_id or path.name.split(".")[0])
    return df, lines, oid, file_id


def finalize_lightcurve(
    df: pd.DataFrame,
    info: ReadInfo,
    detection_snr: float = DEFAULT_DETECTION_SNR,
    drop_columns: Iterable[str] = (),
) -> pd.DataFrame:
    """Common last step of every reader.

    Puts the canonical columns first (canonical dtypes; ``detected`` computed as
    ``|flux| / flux_err >= detection_snr`` when the file has no detection flag), drops the
    ``drop_columns`` (raw columns renamed into canonical ones), sorts each object's rows by
    time (stable; a note ``reordered`` counts the rows that moved), and attaches ``info`` to
    ``df.attrs``. Rows are *not* filtered here: NaN fluxes, bad errors and duplicated epochs
    are removed, and counted, by :mod:`mslc_utils.preprocess`.
    """
    out = df.drop(columns=[c for c in drop_columns if c in df.columns])
    if "detected" not in out.columns:
        with np.errstate(divide="ignore", invalid="ignore"):
            snr = np.abs(out["flux"].to_numpy(float)) / out["flux_err"].to_numpy(float)
        out["detected"] = np.nan_to_num(snr, nan=0.0) >= detection_snr
    out["object_id"] = out["object_id"].astype(str)
    out["survey"] = out["survey"].astype(str)
    out["band"] = out["band"].astype(str)
    for c in ("mjd", "flux", "flux_err"):
        out[c] = out[c].astype("float64")
    out["detected"] = out["detected"].astype(bool)
    raw = [c for c in out.columns if c not in CANONICAL_COLUMNS]
    out = out[list(CANONICAL_COLUMNS) + raw]
    if len(out):
        keys = ["object_id", "survey"]
        single = out["object_id"].nunique() == 1 and out["survey"].nunique() == 1
        groups = [((out["object_id"].iloc[0], out["survey"].iloc[0]), out)] if single \
            else list(out.groupby(keys, sort=False))
        moved_by_group: dict[tuple[str, str], int] = {}
        for key, grp in groups:
            t = grp["mjd"].to_numpy(float)
            moved = int((np.argsort(t, kind="stable") != np.arange(len(t))).sum())
            if moved:
                moved_by_group[key] = moved
        if moved_by_group:
            out = out.sort_values(keys + ["mjd"], kind="stable", na_position="last")
            for (oid, survey), moved in moved_by_group.items():
                info.log.note("read", "reordered", survey, oid,
                              "rows not in time order; sorted by mjd (nothing removed)",
                              epochs=moved, file=info.path)
    out = out.reset_index(drop=True)
    out.attrs = {READ_INFO_ATTR: info.to_dict()}
    return out


# --------------------------------------------------------------------------------------------
# canonical files
# --------------------------------------------------------------------------------------------
def parse_bool(s: pd.Series, path: Path, lines: np.ndarray, line_kind: str = "line",
               column: str = "detected") -> pd.Series:
    """Booleans from ``1/0``, ``t/f``, ``true/false``, ``yes/no``, ``y/n``; :class:`ReadError` otherwise."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype(bool)
    mapping = {"true": True, "t": True, "1": True, "1.0": True, "yes": True, "y": True,
               "false": False, "f": False, "0": False, "0.0": False, "no": False, "n": False}
    low = s.astype(str).str.strip().str.lower()
    out = low.map(mapping)
    bad = out.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise ReadError(path, int(lines[i]), f"column {column!r}: not a boolean: {s.iloc[i]!r}", line_kind)
    return out.astype(bool)


def find_survey_column(columns: Sequence[str]) -> str | None:
    """The column naming the survey: the first of :data:`SURVEY_COLUMNS` present (by priority)."""
    by_norm = {normalize_name(c): c for c in columns}
    for name in SURVEY_COLUMNS:
        if name in by_norm:
            return by_norm[name]
    return None


def _parse_canonical(path: Path, object_id: str | None, survey: str | None = None) -> tuple[pd.DataFrame, ReadInfo]:
    """Light curves stored in the canonical model (CSV or Parquet, detected by content).

    Column names go through :data:`COLUMN_ALIASES` (``time``/``MJD`` -> ``mjd``, ``uJy`` ->
    ``flux``, ``duJy``/``fluxerr`` -> ``flux_err``, ``filter``/``passband`` -> ``band``,
    ``oid`` -> ``object_id`` ...); a ``jd`` column is accepted instead of ``mjd``.
    Band values go through :data:`BAND_ALIASES` after :func:`normalize_band` (``ZTF g``,
    ``ZTF_g`` -> ``g``, mixed spellings allowed). The survey is the first of the columns
    :data:`SURVEY_COLUMNS` present (``survey``, then ``telescope``, ``instrument``: the others
    stay raw columns), else the ``survey`` option, else inferred from the bands (g, r, i ->
    ZTF; c, o -> ATLAS). Bands a survey delivers but the project does not use (ZTF i, ATLAS
    t/w/h) are counted and dropped (rule ``band_not_used``); any other band is a
    :class:`ReadError`. Other columns are kept as raw columns.

    Raises :class:`ReadError` for an empty file, missing or ambiguous columns, a non-numeric
    time/flux/error, an unknown band or survey, a row with a wrong number of fields.
    """
    df, lines, kind = read_table(path)
    cols = resolve_columns(list(df.columns), path, required=("flux", "flux_err", "band"))
    mjd_col = cols.get("mjd") or find_jd_column(df.columns, path)
    df, lines, oid, file_id = resolve_object_id(df, cols.get("object_id"), object_id, path, lines, kind)
    survey_col = find_survey_column(df.columns)
    out = df.rename(columns={v: k for k, v in cols.items() if k not in ("object_id", "mjd", "survey")})
    if "object_id" in cols:
        out = out.drop(columns=[cols["object_id"]])
    out["mjd"] = parse_time(out, mjd_col, lines, path, kind)
    if mjd_col != "mjd":
        out = out.drop(columns=[mjd_col])
    coerce_numeric(out, ["flux", "flux_err"], lines, path, kind)
    if "detected" in out.columns:
        out["detected"] = parse_bool(out["detected"], path, lines, kind).to_numpy()
    band_raw = out["band"].astype(str).str.strip()
    band = map_bands(band_raw)
    if survey_col is not None:
        surv = map_surveys(out[survey_col])
        bad = surv.isna().to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise ReadError(path, int(lines[i]),
                            f"column {survey_col!r}: unknown survey {out[survey_col].iloc[i]!r}; expected one of "
                            f"{list(SURVEYS)} (or a spelling in SURVEY_ALIASES)", kind)
    elif survey is not None:
        if normalize_name(survey) not in SURVEY_ALIASES:
            raise ValueError(f"unknown survey {survey!r}; expected one of {list(SURVEYS)}")
        surv = pd.Series(SURVEY_ALIASES[normalize_name(survey)], index=out.index)
    else:
        surv = band.map(BAND_SURVEY)
    check_bands(band, surv, band_raw, lines, path, kind)
    if survey_col is not None and survey_col != "survey":
        out = out.drop(columns=[survey_col]) if normalize_name(survey_col) == "survey" else out
    out["band"] = band.to_numpy()
    out["survey"] = surv.to_numpy()
    out["object_id"] = oid
    rows_read = {s: int(n) for s, n in out["survey"].value_counts().items()}
    info = ReadInfo(str(path), "canonical", oid, rows_read, DropLog(),
                    {"file_object_id": file_id} if file_id not in (None, oid) else {})
    return drop_unused_bands(out, info, path), info


#: band -> the survey that delivers it (used bands and the ones counted and dropped)
BAND_SURVEY: dict[str, str] = {
    **{b: s for s, bs in SURVEY_OTHER_BANDS.items() for b in bs},
    **{b: s for s, bs in SURVEY_BANDS.items() for b in bs},
}


def find_jd_column(columns: Iterable[str], path: Path) -> str:
    """The Julian-date column of a table without an MJD column (:class:`ReadError` if none)."""
    jd = [c for c in columns if normalize_name(c) in JD_ALIASES]
    if not jd:
        raise ReadError(
            path, None,
            f"missing required column 'mjd' (accepted: {', '.join(COLUMN_ALIASES['mjd'])}, or "
            f"a Julian date {', '.join(JD_ALIASES)}); the file has {list(columns)}",
        )
    return jd[0]


def parse_time(df: pd.DataFrame, column: str, lines: np.ndarray, path: Path, kind: str = "line") -> np.ndarray:
    """MJD from ``column`` (MJD, or a Julian date when the column is a :data:`JD_ALIASES` spelling)."""
    coerce_numeric(df, [column], lines, path, kind)
    t = df[column].to_numpy(float)
    return t - 2400000.5 if normalize_name(column) in JD_ALIASES else t


def check_bands(band: pd.Series, surv: pd.Series, band_raw: pd.Series, lines: np.ndarray, path: Path,
                kind: str = "line", allowed: np.ndarray | None = None) -> None:
    """:class:`ReadError` at the first row whose band is unknown or not one of its survey's.

    ``allowed`` (optional) marks rows exempt from the check (e.g. rows already counted as
    another facility's).
    """
    ok = np.array([isinstance(b, str) and isinstance(s, str) and (b in SURVEY_BANDS[s] or b in SURVEY_OTHER_BANDS[s])
                   for b, s in zip(band, surv)], dtype=bool)
    if allowed is not None:
        ok |= allowed
    if not ok.all():
        i = int(np.argmax(~ok))
        raise ReadError(
            path, int(lines[i]),
            f"unknown band {band_raw.iloc[i]!r}"
            + (f" for survey {surv.iloc[i]}" if isinstance(surv.iloc[i], str) else "")
            + f"; expected {dict(SURVEY_BANDS)} (or a spelling in BAND_ALIASES)", kind,
        )


def drop_unused_bands(out: pd.DataFrame, info: ReadInfo, path: Path) -> pd.DataFrame:
    """Count (rule ``band_not_used``) and drop the rows of bands a survey delivers but the
    project does not use (ZTF i, ATLAS t/w/h)."""
    used = np.array([b in SURVEY_BANDS[s] for b, s in zip(out["band"], out["survey"])], dtype=bool)
    if (~used).any():
        dropped = out[~used]
        for (s, b), n in dropped.groupby(["survey", "band"]).size().items():
            info.log.add("read", "band_not_used", s, info.object_id, epochs=int(n),
                         reason=f"band {b} of {s} is not used (kept: {', '.join(SURVEY_BANDS[s])})",
                         file=path)
        out = out[used]
    return out


# --------------------------------------------------------------------------------------------
# the one scaffold of every reader
# --------------------------------------------------------------------------------------------
#: parse(path, object_id, **options) -> (table with the canonical columns + raw ones, ReadInfo)
Parser = Callable[..., "tuple[pd.DataFrame, ReadInfo]"]

_READER_DOC = """

Parameters
----------
path
    The file.
object_id
    Object id of the rows; default: from the file (an id column) or the file name without suffix.
detection_snr
    ``detected`` is ``|flux| / flux_err >= detection_snr`` when the file has no detection flag.
**options
    Format-specific options (see above).

Returns
-------
The canonical columns, then the raw columns of the file, sorted by time, with a
:class:`ReadInfo` in ``df.attrs["mslc_read"]`` (:func:`read_info`): rows read, rows dropped
at read time and why. Quality cuts are not applied (:mod:`mslc_utils.preprocess`).

Raises
------
ReadError
    (a ``ValueError``) naming the file, the line and the reason for malformed input.
FileNotFoundError
    No such file.
"""


@dataclass(frozen=True)
class LightCurveReader:
    """A reader of one file format: the shared steps around a format's ``parse`` function.

    Calling it checks the file exists, runs ``parse(path, object_id, **options)`` and
    finishes with :func:`finalize_lightcurve` (canonical dtypes and order, ``detected``,
    time sort counted, :class:`ReadInfo` attached). Every format of :mod:`mslc_utils.io` is
    one of these, so the bad-input policy is applied the same way everywhere.
    """

    format: str
    parse: Parser

    def __call__(self, path: str | Path, object_id: str | None = None,
                 detection_snr: float = DEFAULT_DETECTION_SNR, **options: Any) -> pd.DataFrame:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        df, info = self.parse(path, object_id, **options)
        return finalize_lightcurve(df, info, detection_snr)

    def __post_init__(self) -> None:
        # help(read_xxx) shows the format's own description followed by the common parameters
        object.__setattr__(self, "__doc__", (self.parse.__doc__ or "") + _READER_DOC)


def parse_whitespace_rows(
    lines: Sequence[str], header: int, columns: Sequence[str], path: Path,
    string_columns: Iterable[str] = (), numeric_columns: Iterable[str] | None = None,
    na_values: Sequence[str] = ("null",),
) -> tuple[pd.DataFrame, np.ndarray]:
    """The whitespace-separated rows after line ``header`` (``#`` comments and blanks skipped).

    Field counts are checked line by line (:func:`check_field_counts`), ``string_columns`` are
    read as text and the ``numeric_columns`` (default: all the others) must be numbers or
    missing (:func:`coerce_numeric`). Returns the table and the 1-based line of each row.
    """
    body = [(i + 1, ln) for i, ln in enumerate(lines[header + 1:], header + 1)
            if ln.strip() and not ln.lstrip().startswith("#")]
    line_numbers = np.array([n for n, _ in body], dtype=np.int64)
    data_lines = [ln for _, ln in body]
    check_field_counts(data_lines, len(columns), line_numbers, path, split_whitespace=True)
    strings = {c for c in string_columns if c in columns}
    numeric = [c for c in columns if c not in strings] if numeric_columns is None \
        else [c for c in columns if c in set(numeric_columns)]
    if data_lines:
        text = "\n".join(data_lines)
        kw: dict[str, Any] = dict(sep=r"\s+", header=None, names=list(columns), na_values=list(na_values),
                                  keep_default_na=True)
        try:  # fast path: numbers parsed as float64 by the C parser (3x faster than coercing after)
            df = pd.read_csv(_io.StringIO(text), dtype={**{c: "float64" for c in numeric}, **{c: str for c in strings}},
                             **kw)
        except (ValueError, TypeError):  # a non-numeric token: read as text, coerce_numeric names the line
            df = pd.read_csv(_io.StringIO(text), dtype={c: str for c in strings}, **kw)
    else:
        df = pd.DataFrame({c: pd.Series(dtype=str if c in strings else float) for c in columns})
    coerce_numeric(df, numeric, line_numbers, path)
    return df, line_numbers


def file_object_id(path: Path, object_id: str | None) -> str:
    """The given object id, else the file name up to its first dot."""
    return str(object_id) if object_id is not None else path.name.split(".")[0]


read_canonical = LightCurveReader("canonical", _parse_canonical)


def write_canonical(lc: pd.DataFrame, path: str | Path, raw_columns: bool = False) -> Path:
    """Write a light-curve table as canonical CSV (or Parquet for a ``.parquet`` path).

    Only the canonical columns are written unless ``raw_columns``.
    """
    path = Path(path)
    missing = [c for c in CANONICAL_COLUMNS if c not in lc.columns]
    if missing:
        raise ValueError(f"write_canonical: missing canonical column(s) {missing}")
    cols = list(lc.columns) if raw_columns else list(CANONICAL_COLUMNS)
    out = lc[cols]
    if path.suffix == ".parquet":
        out.to_parquet(path, index=False)
    else:
        out.to_csv(path, index=False, float_format="%.10g")
    return path


def text_buffer(lines: Sequence[str]) -> _io.StringIO:
    """A StringIO of ``lines`` joined by newlines (for ``pd.read_csv``)."""
    return _io.StringIO("\n".join(lines))
