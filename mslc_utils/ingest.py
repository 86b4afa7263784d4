"""Build the canonical data set from a user's real survey files, with the paper's preprocessing.

Expected layout of ``DATA_DIR`` (see the README, "Real data"):

.. code-block:: text

    DATA_DIR/
      labels.csv        # object_id, ra, dec, label [, ztf_file, atlas_file, first_alert_mjd, last_alert_mjd]
      ztf/              # ZTF: <object_id>.txt|.csv|.parquet (FPS, ALeRCE or canonical; format from content),
                        #      or any name mapped by labels.ztf_file, or FPS outputs matched by position
      atlas/            # ATLAS: <object_id>.txt (server output) ..., or mapped by labels.atlas_file,
                        #        or matched by the RA/Dec of their rows
      canonical/        # written by build_dataset: lightcurves.parquet, objects.parquet, splits.parquet,
                        #      manifest.json, filtering_report.{csv,json}, filtering_log.csv

:func:`build_dataset` reads every file (in parallel, joblib, with a tqdm bar), applies the
steps of :mod:`mslc_utils.preprocess`, assembles the canonical tables, the splits
(:func:`mslc_utils.splits.make_splits`) and a :class:`FilteringReport` that accounts for every
epoch and object removed: per survey, ``epochs read = epochs kept + epochs removed`` and
``objects in labels = light curves kept + light curves removed``.
:func:`load_or_build` loads an existing canonical data set or builds (and caches) one.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .io import read_lightcurve, write_atlas_fp, write_ztf_fps
from .io_canonical import (
    CANONICAL_COLUMNS,
    DropLog,
    IngestError,
    ReadError,
    ReadInfo,
    normalize_name,
    read_csv_strict,
    read_info,
    is_parquet,
)
from .io_ztf import read_ztf_fps_header
from .preprocess import LightCurveContext, PreprocessConfig, apply_steps, find_column
from .schema import (
    LIGHTCURVES_FILE,
    MANIFEST_FILE,
    OBJECTS_FILE,
    SURVEYS,
    Dataset,
    load_dataset,
    save_dataset,
    validate_objects,
)
from .taxonomy import CLASS_TO_GROUP, CLASSES

log = logging.getLogger(__name__)

__all__ = [
    "IngestError", "IngestConfig", "FilteringReport", "read_labels", "locate_files",
    "build_dataset", "load_or_build", "load_report", "find_report", "write_data_dir", "SURVEY_DIRS",
    "LABEL_ALIASES",
]

#: survey -> sub-directory of DATA_DIR holding its files
SURVEY_DIRS: dict[str, str] = {"ZTF": "ztf", "ATLAS": "atlas"}
#: file name suffixes tried for ``<object_id><suffix>``
FILE_SUFFIXES: tuple[str, ...] = (".txt", ".dat", ".csv", ".parquet", ".pq")
DEFAULT_OUT_SUBDIR = "canonical"
REPORT_CSV = "filtering_report.csv"
REPORT_JSON = "filtering_report.json"
LOG_CSV = "filtering_log.csv"

#: labels column -> accepted spellings (compared ignoring case and punctuation)
LABEL_ALIASES: dict[str, tuple[str, ...]] = {
    "object_id": ("object_id", "objectid", "oid", "objid", "id", "name"),
    "ra": ("ra", "meanra", "ra_deg", "radeg"),
    "dec": ("dec", "meandec", "dec_deg", "decdeg"),
    "label": ("label", "class", "classalerce", "class_name", "classname", "type"),
    "ztf_file": ("ztf_file", "ztffile", "ztf_path"),
    "atlas_file": ("atlas_file", "atlasfile", "atlas_path"),
    "first_alert_mjd": ("first_alert_mjd", "firstmjd", "first_alert"),
    "last_alert_mjd": ("last_alert_mjd", "lastmjd", "last_alert"),
}
LABEL_REQUIRED: tuple[str, ...] = ("object_id", "ra", "dec", "label")


# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------
@dataclass
class IngestConfig:
    """Settings of :func:`build_dataset` (the ``preprocess`` section of a profile config).

    Attributes
    ----------
    preprocess
        The steps (:class:`~mslc_utils.preprocess.PreprocessConfig`).
    on_error
        ``"raise"``: a malformed file stops the build with a :class:`ReadError` naming the file,
        line and reason; ``"drop"``: the object's light curve in that survey is removed and
        counted (rule ``unreadable_file``).
    required_surveys
        Surveys an object must keep a light curve in (e.g. ``["ZTF"]`` for the paper, whose
        sample is defined by ZTF); by default an object is kept when any survey has data, and
        flagged by ``has_ztf`` / ``has_atlas``.
    match_by_position, match_radius_arcsec
        Match files that are neither named ``<object_id>.*`` nor listed in the labels to
        objects by the position they hold (ZTF FPS header, ATLAS RA/Dec columns).
    n_jobs
        joblib workers for reading files (``-1``: all cores).
    """

    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    on_error: str = "raise"
    required_surveys: tuple[str, ...] = ()
    match_by_position: bool = True
    match_radius_arcsec: float = 1.0
    n_jobs: int = -1

    def __post_init__(self) -> None:
        if self.on_error not in ("raise", "drop"):
            raise ValueError(f"on_error must be 'raise' or 'drop', got {self.on_error!r}")
        bad = [s for s in self.required_surveys if s not in SURVEYS]
        if bad:
            raise ValueError(f"required_surveys: unknown survey(s) {bad}; expected {list(SURVEYS)}")
        self.required_surveys = tuple(self.required_surveys)

    @classmethod
    def from_config(cls, config: Any = None) -> IngestConfig:
        """From ``None`` (defaults), an :class:`IngestConfig`, a :class:`PreprocessConfig`, the
        ``preprocess`` section of a profile, or a whole profile config (its ``preprocess``
        section is used; absent -> defaults)."""
        if config is None:
            return cls()
        if isinstance(config, IngestConfig):
            return config
        if isinstance(config, PreprocessConfig):
            return cls(preprocess=config)
        if not isinstance(config, Mapping):
            raise TypeError(f"config must be a mapping or IngestConfig, got {type(config).__name__}")
        if "preprocess" in config:
            section = dict(config["preprocess"] or {})
        elif {"profile", "render", "splits"} & set(config):
            section = {}
        else:
            section = dict(config)
        own = {"on_error", "required_surveys", "match_by_position", "match_radius_arcsec", "n_jobs"}
        kwargs = {k: section.pop(k) for k in list(section) if k in own}
        if "required_surveys" in kwargs:
            kwargs["required_surveys"] = tuple(kwargs["required_surveys"] or ())
        return cls(preprocess=PreprocessConfig.from_dict(section), **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (stored in the manifest and the report)."""
        d = self.preprocess.to_dict()
        d.update(on_error=self.on_error, required_surveys=list(self.required_surveys),
                 match_by_position=self.match_by_position, match_radius_arcsec=self.match_radius_arcsec)
        return d


def _splits_settings(config: Any) -> dict[str, Any]:
    if isinstance(config, Mapping) and isinstance(config.get("splits"), Mapping):
        s = config["splits"]
        return {k: s[k] for k in ("test_fraction", "n_folds") if k in s}
    return {}


# --------------------------------------------------------------------------------------------
# labels
# --------------------------------------------------------------------------------------------
def read_labels(labels: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Read and check a labels table (CSV or Parquet path, or a DataFrame).

    Columns (any spelling of :data:`LABEL_ALIASES`): ``object_id, ra, dec, label`` required;
    ``ztf_file, atlas_file, first_alert_mjd, last_alert_mjd`` optional; other columns are
    ignored. Returns a table with the canonical names, a ``group`` column and ``source_line`` (the
    file line of each row, or ``row i`` for a DataFrame).

    Raises
    ------
    IngestError
        Naming the file, the line and the reason: missing column, missing or duplicated
        object id, non-numeric or out-of-range coordinates, or a label outside the taxonomy
        (with the closest known label).
    """
    if isinstance(labels, pd.DataFrame):
        src, df = "labels table", labels.reset_index(drop=True).copy()
        lines = np.arange(len(df)) + 2  # as if written to CSV with a header line
        where = lambda i: f"{src} (row {i})"  # noqa: E731
    else:
        path = Path(labels)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: labels file not found")
        src = str(path)
        if is_parquet(path):
            df = pd.read_parquet(path).reset_index(drop=True)
            lines = np.arange(len(df))
            where = lambda i: f"{src} (row {i})"  # noqa: E731
        else:
            try:
                df, lines = read_csv_strict(path)
            except ReadError as exc:
                raise IngestError(f"labels file {exc}") from exc
            where = lambda i: f"{src}:{int(lines[i])}"  # noqa: E731
    by_norm: dict[str, list[str]] = {}
    for c in df.columns:
        by_norm.setdefault(normalize_name(c), []).append(c)
    rename: dict[str, str] = {}
    for canon, spellings in LABEL_ALIASES.items():
        hits = [c for s in spellings for c in by_norm.get(normalize_name(s), [])]
        hits = list(dict.fromkeys(hits))
        if len(hits) > 1:
            raise IngestError(f"{src}: columns {hits} are all spellings of {canon!r}; keep one")
        if hits:
            rename[hits[0]] = canon
    df = df.rename(columns=rename)
    missing = [c for c in LABEL_REQUIRED if c not in df.columns]
    if missing:
        acc = "; ".join(f"{m!r} ({', '.join(LABEL_ALIASES[m])})" for m in missing)
        raise IngestError(f"{src}: missing required column(s) {acc}; found {list(df.columns)}")
    keep = [c for c in LABEL_ALIASES if c in df.columns]
    df = df[keep].copy()
    df["source_line"] = [where(i) for i in range(len(df))]
    oid = df["object_id"]
    for i in np.flatnonzero(oid.isna().to_numpy() | (oid.astype(str).str.strip() == "").to_numpy()):
        raise IngestError(f"{where(i)}: missing object_id")
    df["object_id"] = oid.astype(str).str.strip()
    dup = df["object_id"].duplicated(keep=False).to_numpy()
    if dup.any():
        first = df.loc[dup, "object_id"].iloc[0]
        at = ", ".join(df.loc[df["object_id"] == first, "source_line"])
        raise IngestError(f"duplicated object_id {first!r} at {at}")
    for c in ("ra", "dec", "first_alert_mjd", "last_alert_mjd"):
        if c not in df.columns:
            continue
        num = pd.to_numeric(df[c], errors="coerce")
        bad = num.isna() & df[c].notna()
        if c in ("ra", "dec"):
            bad |= num.isna()
        if bad.any():
            i = int(np.argmax(bad.to_numpy()))
            raise IngestError(f"{where(i)}: column {c!r}: not a number: {df[c].iloc[i]!r} "
                              f"(object {df['object_id'].iloc[i]!r})")
        df[c] = num.astype("float64")
    bad = ~((df["ra"] >= 0) & (df["ra"] < 360) & (df["dec"] >= -90) & (df["dec"] <= 90))
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise IngestError(f"{where(i)}: coordinates out of range: ra={df['ra'].iloc[i]}, "
                          f"dec={df['dec'].iloc[i]} (object {df['object_id'].iloc[i]!r})")
    df["label"] = df["label"].astype(str).str.strip()
    unknown = ~df["label"].isin(CLASSES)
    if unknown.any():
        i = int(np.argmax(unknown.to_numpy()))
        lab = df["label"].iloc[i]
        close = difflib.get_close_matches(lab, CLASSES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise IngestError(
            f"{where(i)}: label {lab!r} of object {df['object_id'].iloc[i]!r} is not in the "
            f"taxonomy{hint}; known labels: {', '.join(CLASSES)} "
            f"({int(unknown.sum())} row(s) with unknown labels)"
        )
    df["group"] = df["label"].map(CLASS_TO_GROUP)
    for c in ("ztf_file", "atlas_file"):
        if c in df.columns:
            df[c] = pd.Series([_file_name(v) for v in df[c]], index=df.index, dtype=object)
    return df.reset_index(drop=True)


def _file_name(v: Any) -> str | None:
    """A labels file-name cell: ``None`` when empty or missing."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    s = str(v).strip()
    return s if s and s.lower() not in ("nan", "none", "<na>") else None


# --------------------------------------------------------------------------------------------
# file discovery
# --------------------------------------------------------------------------------------------
def _radec_to_xyz(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    ra, dec = np.radians(ra), np.radians(dec)
    return np.column_stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])


def file_position(path: Path) -> tuple[float, float] | None:
    """The sky position a survey file holds, if any (ZTF FPS header; ATLAS first row RA/Dec)."""
    try:
        pos = read_ztf_fps_header(path)
        if "ra" in pos and "dec" in pos:
            return pos["ra"], pos["dec"]
        with open(path, encoding="utf-8", errors="replace") as fh:
            header = fh.readline()
            first = fh.readline()
        if header.startswith("###"):
            names = header.lstrip("#").split()
            vals = first.split()
            if "RA" in names and "Dec" in names and len(vals) == len(names):
                return float(vals[names.index("RA")]), float(vals[names.index("Dec")])
    except (OSError, ValueError):
        return None
    return None


@dataclass
class FileMap:
    """Where each object's file of each survey is, and what could not be matched."""

    files: dict[tuple[str, str], Path]
    problems: dict[tuple[str, str], str]
    unused: dict[str, list[Path]]
    notes: list[tuple[str, str, str | None, str]]  # (survey, rule, object_id, reason)


def locate_files(labels: pd.DataFrame, data_dir: str | Path, config: IngestConfig | None = None) -> FileMap:
    """Find the file of every object in every survey (see the module docstring for the rules).

    Order: the labels' ``ztf_file`` / ``atlas_file`` (relative to the survey directory, then
    to ``data_dir``; absolute paths allowed), else ``<survey dir>/<object_id><suffix>`` for the
    suffixes of :data:`FILE_SUFFIXES`, else (``match_by_position``) a file of the survey
    directory whose position lies within ``match_radius_arcsec`` of the object.
    A listed file that does not exist, or several files for one object, is a *problem*
    (raised or counted according to ``on_error``); files used by no object are *unused*
    (reported as notes).
    """
    cfg = config or IngestConfig()
    data_dir = Path(data_dir)
    files: dict[tuple[str, str], Path] = {}
    problems: dict[tuple[str, str], str] = {}
    unused: dict[str, list[Path]] = {}
    notes: list[tuple[str, str, str | None, str]] = []
    for survey, sub in SURVEY_DIRS.items():
        sdir = data_dir / sub
        listing = sorted(p for p in sdir.iterdir() if p.is_file() and not p.name.startswith(".")) \
            if sdir.is_dir() else []
        by_name = {p.name: p for p in listing}
        used: set[Path] = set()
        col = f"{sub}_file"
        for r in labels.itertuples(index=False):
            oid = r.object_id
            listed = _file_name(getattr(r, col, None)) if col in labels.columns else None
            if listed:
                cand = [Path(listed)] if Path(listed).is_absolute() else [sdir / listed, data_dir / listed]
                hit = next((p for p in cand if p.is_file()), None)
                if hit is None:
                    problems[(oid, survey)] = (f"file {listed!r} listed in the labels ({r.source_line}) not found "
                                               f"(looked in {', '.join(str(p.parent) for p in cand)})")
                else:
                    files[(oid, survey)] = hit
                    used.add(hit.resolve())
                continue
            hits = [by_name[oid + s] for s in FILE_SUFFIXES if oid + s in by_name]
            if len(hits) > 1:
                problems[(oid, survey)] = f"several files for object {oid!r}: {[h.name for h in hits]}"
                used.update(h.resolve() for h in hits)
            elif hits:
                files[(oid, survey)] = hits[0]
                used.add(hits[0].resolve())
        rest = [p for p in listing if p.resolve() not in used]
        if cfg.match_by_position and rest:
            need = labels[[(oid, survey) not in files and (oid, survey) not in problems
                           for oid in labels["object_id"]]]
            pos = [(p, file_position(p)) for p in rest]
            pos = [(p, xy) for p, xy in pos if xy is not None]
            if pos and len(need):
                from scipy.spatial import cKDTree

                tree = cKDTree(_radec_to_xyz(need["ra"].to_numpy(float), need["dec"].to_numpy(float)))
                xyz = _radec_to_xyz(np.array([xy[0] for _, xy in pos]), np.array([xy[1] for _, xy in pos]))
                chord = 2 * np.sin(np.radians(cfg.match_radius_arcsec / 3600) / 2)
                dist, idx = tree.query(xyz, distance_upper_bound=chord)
                claimed: dict[str, list[tuple[float, Path]]] = {}
                for (p, _), d, i in zip(pos, dist, idx):
                    if np.isfinite(d):
                        claimed.setdefault(need["object_id"].iloc[i], []).append((d, p))
                for oid, cands in claimed.items():
                    cands.sort(key=lambda t: (t[0], t[1].name))
                    files[(oid, survey)] = cands[0][1]
                    used.add(cands[0][1].resolve())
                    notes.append((survey, "matched_by_position", oid,
                                  f"file matched to the object by position: {cands[0][1].name} "
                                  f"({np.degrees(2 * np.arcsin(cands[0][0] / 2)) * 3600:.2f} arcsec)"))
                    for _, p in cands[1:]:
                        notes.append((survey, "duplicate_file", oid,
                                      f"another file matches the object by position, ignored: {p.name} "
                                      f"(kept {cands[0][1].name})"))
                        used.add(p.resolve())
        unused[survey] = [p for p in listing if p.resolve() not in used]
    return FileMap(files, problems, unused, notes)


# --------------------------------------------------------------------------------------------
# per-file work
# --------------------------------------------------------------------------------------------
@dataclass
class _FileResult:
    object_id: str
    survey: str
    lightcurve: pd.DataFrame | None
    rows_read: dict[str, int]
    records: list[dict[str, Any]]
    format: str | None = None


def _process_file(
    object_id: str, survey: str, path: Path, first_alert: float | None, last_alert: float | None,
    cfg: IngestConfig,
) -> _FileResult:
    """Read one file and apply the steps; errors are raised or turned into a counted drop."""
    dlog = DropLog()
    try:
        lc = read_lightcurve(path, object_id=object_id, detection_snr=cfg.preprocess.detection_snr)
    except (IngestError, ValueError, OSError, UnicodeError) as exc:
        if cfg.on_error == "raise":
            if isinstance(exc, IngestError):
                raise
            raise IngestError(f"{path}: cannot read the {survey} file of object {object_id!r}: {exc}") from exc
        dlog.add("file", "unreadable_file", survey, object_id, epochs=0, objects=1,
                 reason=f"unreadable file: {exc}", file=path)
        return _FileResult(object_id, survey, None, {}, dlog.to_records())
    info: ReadInfo = read_info(lc)
    lc.attrs = {}
    dlog.extend(info.log)
    # only the raw columns the enabled steps read travel through the cuts (faster slicing)
    needed = {find_column(lc, c) for st in cfg.preprocess.steps if st.enabled for c in st.columns()}
    lc = lc[list(CANONICAL_COLUMNS) + [c for c in lc.columns if c in needed and c not in CANONICAL_COLUMNS]]
    other = lc["survey"] != survey
    if other.any():  # e.g. a canonical file with ATLAS rows in the ztf/ directory
        for s, n in lc.loc[other, "survey"].value_counts().items():
            dlog.add("read", "wrong_survey", str(s), object_id, epochs=int(n), file=path,
                     reason=f"{s} rows in a file of the {survey} directory")
        lc = lc[~other]
    ctx = LightCurveContext(object_id, survey, first_alert, last_alert, str(path))
    kept = apply_steps(lc, cfg.preprocess.steps, ctx, dlog)
    kept = kept[list(CANONICAL_COLUMNS)].reset_index(drop=True)
    return _FileResult(object_id, survey, kept if len(kept) else None, info.rows_read,
                       dlog.to_records(), info.format)


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
@dataclass
class FilteringReport:
    """Account of the ingestion: what was read, removed (per rule and survey) and kept.

    Attributes
    ----------
    totals
        One row per survey: ``objects`` (in the labels), ``files_found``, ``files_missing``,
        ``files_unreadable``, ``epochs_read``, ``epochs_removed_read`` / ``_cut`` /
        ``_object`` (by stage), ``epochs_kept``, ``lightcurves_removed``,
        ``lightcurves_kept``; plus a row ``ALL`` for objects (``objects``, ``objects_dropped``,
        ``objects_kept``).
    rules
        :meth:`DropLog.summary` of all records: per stage, rule and survey, epochs and light
        curves removed, number of objects affected, reason. Notes (``removed`` false) are
        events that removed nothing (rows reordered, a rule not applicable, files matched or
        unused).
    objects_dropped
        ``object_id, reason`` of every object removed from the data set.
    log
        Every record (per object).
    """

    totals: pd.DataFrame
    rules: pd.DataFrame
    objects_dropped: pd.DataFrame
    log: DropLog
    config: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """Raise ``AssertionError`` unless kept + removed = read (epochs) and = labelled (light curves)."""
        for r in self.totals.itertuples(index=False):
            if r.survey == "ALL":
                assert r.objects == r.objects_kept + r.objects_dropped, f"objects do not add up: {r}"
                continue
            removed = r.epochs_removed_read + r.epochs_removed_cut + r.epochs_removed_object
            assert r.epochs_read == r.epochs_kept + removed, f"{r.survey}: epochs do not add up: {r}"
            assert r.objects == r.lightcurves_kept + r.lightcurves_removed, \
                f"{r.survey}: light curves do not add up: {r}"

    def to_json(self) -> dict[str, Any]:
        """JSON-able form (what ``filtering_report.json`` holds)."""
        return {
            "totals": self.totals.to_dict(orient="records"),
            "rules": self.rules.to_dict(orient="records"),
            "objects_dropped": self.objects_dropped.to_dict(orient="records"),
            "config": self.config,
        }

    def save(self, directory: str | Path) -> list[Path]:
        """Write ``filtering_report.csv`` (rules + totals), ``.json`` and ``filtering_log.csv``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        both = pd.concat([self.rules.assign(table="rules"), self.totals.assign(table="totals")],
                         ignore_index=True)
        text = {"table", "stage", "rule", "survey", "removed", "reason"}
        for c in both.columns:
            if c not in text:
                both[c] = both[c].astype("Int64")  # counts stay integers next to empty cells
        both = both[["table"] + [c for c in both.columns if c != "table"]]
        both.to_csv(d / REPORT_CSV, index=False)
        (d / REPORT_JSON).write_text(json.dumps(self.to_json(), indent=2, default=_json_default) + "\n")
        self.log.to_frame().to_csv(d / LOG_CSV, index=False)
        return [d / REPORT_CSV, d / REPORT_JSON, d / LOG_CSV]

    @classmethod
    def load(cls, directory: str | Path) -> FilteringReport:
        """Read a report written by :meth:`save`."""
        d = Path(directory)
        j = json.loads((d / REPORT_JSON).read_text())
        lg = pd.read_csv(d / LOG_CSV, keep_default_na=False, na_values={"object_id": [""], "file": [""]})
        records = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
                   for r in lg.to_dict(orient="records")]
        return cls(pd.DataFrame(j["totals"]), pd.DataFrame(j["rules"]),
                   pd.DataFrame(j["objects_dropped"], columns=["object_id", "reason"]),
                   DropLog.from_records(records), j.get("config", {}))

    def __str__(self) -> str:
        rem = self.rules[self.rules["removed"].astype(bool)]
        lines = ["Filtering report", self.totals.to_string(index=False), "",
                 "Removed, per rule:", rem.drop(columns=["removed"]).to_string(index=False)
                 if len(rem) else "(nothing)"]
        if len(self.objects_dropped):
            lines += ["", f"Objects dropped: {len(self.objects_dropped)}"]
        return "\n".join(lines)

    def _repr_html_(self) -> str:  # notebook display
        rem = self.rules[self.rules["removed"].astype(bool)].drop(columns=["removed"])
        return ("<h4>Totals</h4>" + self.totals.to_html(index=False)
                + "<h4>Removed, per rule</h4>" + rem.to_html(index=False)
                + f"<p>Objects dropped from the data set: {len(self.objects_dropped)}</p>")


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _make_report(
    labels: pd.DataFrame, dlog: DropLog, rows_read: dict[str, int], kept: pd.DataFrame,
    objects_kept: pd.DataFrame, files_found: dict[str, int], cfg: IngestConfig,
) -> FilteringReport:
    recs = dlog.to_frame()
    rem = recs[recs["removed"]]
    rows = []
    for s in SURVEYS:
        r = rem[rem["survey"] == s]
        by_stage = r.groupby("stage")["epochs"].sum()
        rows.append({
            "survey": s,
            "objects": int(len(labels)),
            "files_found": int(files_found.get(s, 0)),
            "files_missing": int(r.loc[r["rule"].isin(["no_file", "listed_file_missing", "ambiguous_files"]),
                                       "objects"].sum()),
            "files_unreadable": int(r.loc[r["rule"] == "unreadable_file", "objects"].sum()),
            "epochs_read": int(rows_read.get(s, 0)),
            "epochs_removed_read": int(by_stage.get("read", 0)),
            "epochs_removed_cut": int(by_stage.get("cut", 0)),
            "epochs_removed_object": int(by_stage.get("object", 0)),
            "epochs_kept": int((kept["survey"] == s).sum()),
            "lightcurves_removed": int(r["objects"].sum()),
            "lightcurves_kept": int(kept.loc[kept["survey"] == s, "object_id"].nunique()),
        })
    alld = rem[rem["survey"] == "ALL"]
    rows.append({"survey": "ALL", "objects": int(len(labels)), "objects_dropped": int(alld["objects"].sum()),
                 "objects_kept": int(len(objects_kept))})
    totals = pd.DataFrame(rows)
    for c in totals.columns:
        if c != "survey":
            totals[c] = totals[c].astype("Int64")
    dropped = alld[["object_id", "reason"]].reset_index(drop=True)
    report = FilteringReport(totals, dlog.summary(), dropped, dlog, cfg.to_dict())
    report.check()
    return report


# --------------------------------------------------------------------------------------------
# builder
# --------------------------------------------------------------------------------------------
def _apply_overrides(
    config: Any, on_error: str | None, test_fraction: float | None, n_folds: int | None,
) -> tuple[IngestConfig, dict[str, Any]]:
    """The ingestion settings and the split settings, with the call's overrides applied."""
    cfg = IngestConfig.from_config(config)
    if on_error is not None:
        cfg = IngestConfig(cfg.preprocess, on_error, cfg.required_surveys, cfg.match_by_position,
                           cfg.match_radius_arcsec, cfg.n_jobs)
    split_kw = {"test_fraction": 0.2, "n_folds": 5, **_splits_settings(config)}
    if test_fraction is not None:
        split_kw["test_fraction"] = test_fraction
    if n_folds is not None:
        split_kw["n_folds"] = n_folds
    return cfg, split_kw


def _plan_file_tasks(
    lab: pd.DataFrame, fmap: FileMap, cfg: IngestConfig, dlog: DropLog,
) -> list[tuple[str, str, Path, float | None, float | None]]:
    """One task per (object, survey) with a file; log matching notes and missing/ambiguous files.

    With ``on_error="raise"`` a listed-but-absent or ambiguous file raises :class:`IngestError`.
    """
    for survey, rule, oid, reason in fmap.notes:
        dlog.note("file", rule, survey, oid, reason)
    for survey, paths in fmap.unused.items():
        for p in paths:
            dlog.note("file", "unused_file", survey, None, f"file not matched to any labelled object: {p.name}",
                      file=p)
    tasks = []
    for r in lab.itertuples(index=False):
        for survey in SURVEYS:
            key = (r.object_id, survey)
            if key in fmap.problems:
                msg = fmap.problems[key]
                if cfg.on_error == "raise":
                    raise IngestError(f"{survey} file of object {r.object_id!r}: {msg}")
                rule = "ambiguous_files" if msg.startswith("several") else "listed_file_missing"
                dlog.add("file", rule, survey, r.object_id, objects=1, reason=msg)
            elif key not in fmap.files:
                dlog.add("file", "no_file", survey, r.object_id, objects=1,
                         reason=f"no file for survey {survey}")
            else:
                fa = getattr(r, "first_alert_mjd", None)
                la = getattr(r, "last_alert_mjd", None)
                tasks.append((r.object_id, survey, fmap.files[key], fa, la))
    return tasks


def _run_file_tasks(tasks: list[tuple], cfg: IngestConfig, n_jobs: int, progress: bool) -> list[_FileResult]:
    """Read and cut every file (in parallel with joblib unless ``n_jobs == 1``), in task order."""
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    bar = tqdm(total=len(tasks), desc="ingest", unit="file", disable=not progress)
    results: list[_FileResult] = []
    if n_jobs == 1 or len(tasks) <= 1:
        for t in tasks:
            results.append(_process_file(*t, cfg))
            bar.update()
    else:
        par = Parallel(n_jobs=n_jobs, return_as="generator", batch_size="auto")
        for res in par(delayed(_process_file)(*t, cfg) for t in tasks):
            results.append(res)
            bar.update()
    bar.close()
    return results


_EMPTY_LIGHTCURVE_DTYPES = {"object_id": "str", "survey": "str", "band": "str", "mjd": "float64",
                            "flux": "float64", "flux_err": "float64", "detected": "bool"}


def _collect_results(results: list[_FileResult], dlog: DropLog) -> tuple[pd.DataFrame, dict[str, int]]:
    """Concatenate the kept light curves, merge each file's log into ``dlog``, sum rows read per survey."""
    rows_read: dict[str, int] = {}
    parts = []
    for res in results:
        dlog.extend(DropLog.from_records(res.records))
        for s, n in res.rows_read.items():
            rows_read[s] = rows_read.get(s, 0) + n
        if res.lightcurve is not None:
            parts.append(res.lightcurve)
    lc = (pd.concat(parts, ignore_index=True) if parts
          else pd.DataFrame({c: pd.Series(dtype=k if k != "str" else str)
                             for c, k in _EMPTY_LIGHTCURVE_DTYPES.items()}))
    return lc, rows_read


def _select_objects(
    lab: pd.DataFrame, lc: pd.DataFrame, cfg: IngestConfig, dlog: DropLog,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the objects with a light curve (in every required survey); count and explain the rest.

    Returns the kept light curves (sorted) and the objects table with ``has_ztf``/``has_atlas``.
    """
    # why each light curve was removed, for the object-level reasons
    why: dict[tuple[str, str], str] = {}
    for rec in dlog:
        if rec.removed and rec.objects and rec.object_id is not None:
            why.setdefault((rec.object_id, rec.survey), f"{rec.rule} ({rec.reason})")
    have = {s: set(lc.loc[lc["survey"] == s, "object_id"].unique()) for s in SURVEYS}
    keep_ids = []
    for oid in lab["object_id"]:
        missing_req = [s for s in cfg.required_surveys if oid not in have[s]]
        has_any = any(oid in have[s] for s in SURVEYS)
        if has_any and not missing_req:
            keep_ids.append(oid)
            continue
        if missing_req:
            # its other light curves are removed too: count their epochs
            for s in SURVEYS:
                if oid in have[s]:
                    n = int(((lc["object_id"] == oid) & (lc["survey"] == s)).sum())
                    dlog.add("object", "missing_required_survey", s, oid, epochs=n, objects=1,
                             reason=f"no light curve in required survey(s) {missing_req}")
            reason = f"no light curve in required survey(s) {missing_req}: " + "; ".join(
                f"{s}: {why.get((oid, s), 'removed')}" for s in missing_req)
        else:
            reason = "no light curve left in any survey: " + "; ".join(
                f"{s}: {why.get((oid, s), 'unknown')}" for s in SURVEYS)
        dlog.add("object", "object_dropped", "ALL", oid, objects=1, reason=reason)
    keep_set = set(keep_ids)
    lc = lc[lc["object_id"].isin(keep_set)]
    lc = lc.sort_values(["object_id", "survey", "mjd", "band"], kind="stable").reset_index(drop=True)
    objects = lab[lab["object_id"].isin(keep_set)][["object_id", "ra", "dec", "label", "group"]].copy()
    objects["object_id"] = objects["object_id"].astype(str)
    objects["has_ztf"] = objects["object_id"].isin(have["ZTF"])
    objects["has_atlas"] = objects["object_id"].isin(have["ATLAS"])
    return lc, objects.reset_index(drop=True)


def _splits_or_none(objects: pd.DataFrame, seed: int, split_kw: dict[str, Any]) -> pd.DataFrame | None:
    """Stratified splits, or ``None`` with a warning when some class is too small for them."""
    from .splits import make_splits

    if not len(objects):
        return None
    try:
        return make_splits(objects, seed=seed, **split_kw)
    except ValueError as exc:
        log.warning("no splits for this data set: %s", exc)
        return None


def _manifest(
    labels: Any, data_dir: Path, cfg: IngestConfig, seed: int, split_kw: dict[str, Any], report: FilteringReport,
) -> dict[str, Any]:
    """What ``manifest.json`` records of a build: inputs, settings, fingerprint, totals."""
    return {
        "ingest": {
            "labels": str(labels) if not isinstance(labels, pd.DataFrame) else "DataFrame",
            "data_dir": str(data_dir),
            "config": cfg.to_dict(),
            "seed": int(seed),
            "splits": split_kw,
            "fingerprint": _fingerprint(labels, data_dir, cfg, seed, split_kw),
            "totals": report.totals.to_dict(orient="records"),
        }
    }


def build_dataset(
    labels: str | Path | pd.DataFrame,
    data_dir: str | Path,
    out_dir: str | Path | None = None,
    config: Any = None,
    n_jobs: int | None = None,
    seed: int = 0,
    test_fraction: float | None = None,
    n_folds: int | None = None,
    on_error: str | None = None,
    progress: bool = True,
) -> tuple[Dataset, FilteringReport]:
    """Build the canonical data set from per-object survey files and a labels table.

    Parameters
    ----------
    labels
        Labels table (path or DataFrame; see :func:`read_labels`).
    data_dir
        Directory with ``ztf/`` and ``atlas/`` (see the module docstring).
    out_dir
        Where to write the data set and the report (default ``data_dir/canonical``). Written: ``lightcurves.parquet`` (canonical
        columns only — the raw quality columns are dropped after the cuts),
        ``objects.parquet`` (with ``has_ztf``, ``has_atlas``), ``splits.parquet``,
        ``manifest.json``, ``filtering_report.csv/.json``, ``filtering_log.csv``.
    config
        ``None``, an :class:`IngestConfig`, a ``preprocess`` section or a whole profile config
        (its ``preprocess`` and ``splits`` sections are used).
    n_jobs
        joblib workers (default: the config's, ``-1``).
    seed, test_fraction, n_folds
        Passed to :func:`mslc_utils.splits.make_splits` (defaults: the config's ``splits``
        section, else 0.2 and 5).
    on_error
        Overrides the config's ``on_error`` (``"raise"`` or ``"drop"``).
    progress
        Show a tqdm progress bar.

    Returns
    -------
    The :class:`~mslc_utils.schema.Dataset` (with splits, or ``None`` splits and a warning
    when some class is too small for them) and the :class:`FilteringReport`.

    Raises
    ------
    IngestError
        Bad labels (file, line, reason); with ``on_error="raise"``, the first malformed,
        missing-listed or ambiguous file (:class:`ReadError` names file and line).
    """
    cfg, split_kw = _apply_overrides(config, on_error, test_fraction, n_folds)
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{data_dir}: data directory not found")
    out = Path(out_dir) if out_dir else data_dir / DEFAULT_OUT_SUBDIR
    lab = read_labels(labels)
    fmap = locate_files(lab, data_dir, cfg)
    dlog = DropLog()
    tasks = _plan_file_tasks(lab, fmap, cfg, dlog)
    results = _run_file_tasks(tasks, cfg, cfg.n_jobs if n_jobs is None else n_jobs, progress)
    lc, rows_read = _collect_results(results, dlog)
    lc, objects = _select_objects(lab, lc, cfg, dlog)
    files_found = {s: sum(1 for k in fmap.files if k[1] == s) for s in SURVEYS}
    report = _make_report(lab, dlog, rows_read, lc, objects, files_found, cfg)
    splits = _splits_or_none(objects, seed, split_kw)
    manifest = _manifest(labels, data_dir, cfg, seed, split_kw, report)
    if len(objects) == 0:
        report.save(out)
        raise IngestError(f"{data_dir}: no object kept (see {out / REPORT_CSV})")
    ds = Dataset(lc, objects, splits, manifest)
    save_dataset(ds, out, source=f"mslc_utils.ingest ({data_dir})")
    report.save(out)
    return ds, report


def _fingerprint(labels: Any, data_dir: Path, cfg: IngestConfig, seed: int, split_kw: dict) -> str:
    """Hash of the inputs of a build: labels content, file listing (name, size, mtime), settings."""
    h = hashlib.sha256()
    if isinstance(labels, pd.DataFrame):
        h.update(pd.util.hash_pandas_object(labels.astype(str), index=False).values.tobytes())
    else:
        h.update(Path(labels).read_bytes())
    for sub in SURVEY_DIRS.values():
        d = data_dir / sub
        if d.is_dir():
            for p in sorted(d.iterdir()):
                if p.is_file():
                    st = p.stat()
                    h.update(f"{sub}/{p.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    h.update(json.dumps([cfg.to_dict(), seed, split_kw], sort_keys=True, default=str).encode())
    return h.hexdigest()


def find_labels(data_dir: str | Path) -> Path:
    """``labels.csv`` (or ``labels.parquet``) of a data directory."""
    d = Path(data_dir)
    for name in ("labels.csv", "labels.parquet"):
        if (d / name).is_file():
            return d / name
    raise FileNotFoundError(
        f"{d}: neither a canonical data set ({LIGHTCURVES_FILE} + {OBJECTS_FILE}) nor a labels.csv "
        f"/ labels.parquet to build one from. Expected layout: DATA_DIR/labels.csv (object_id, ra, dec, "
        f"label [, ztf_file, atlas_file, first_alert_mjd, last_alert_mjd]), DATA_DIR/ztf/, DATA_DIR/atlas/"
    )


def load_or_build(
    data_dir: str | Path,
    config: Any = None,
    seed: int = 0,
    out_dir: str | Path | None = None,
    rebuild: bool = False,
    n_jobs: int | None = None,
    progress: bool = True,
) -> Dataset:
    """The data set of ``data_dir``: canonical files there, a cached build, or a new build.

    1. ``data_dir`` holds ``lightcurves.parquet`` and ``objects.parquet``: load them.
    2. ``out_dir`` (default ``data_dir/canonical``) holds a build whose fingerprint (labels,
       file listing, config, seed, split settings) matches: load it (unless ``rebuild``).
    3. Otherwise build from ``labels.csv`` with :func:`build_dataset`.
    """
    data_dir = Path(data_dir)
    if (data_dir / LIGHTCURVES_FILE).is_file() and (data_dir / OBJECTS_FILE).is_file():
        return load_dataset(data_dir)
    labels = find_labels(data_dir)
    out = Path(out_dir) if out_dir else data_dir / DEFAULT_OUT_SUBDIR
    cfg = IngestConfig.from_config(config)
    split_kw = {"test_fraction": 0.2, "n_folds": 5, **_splits_settings(config)}
    if not rebuild and (out / MANIFEST_FILE).is_file() and (out / LIGHTCURVES_FILE).is_file():
        manifest = json.loads((out / MANIFEST_FILE).read_text())
        if manifest.get("ingest", {}).get("fingerprint") == _fingerprint(labels, data_dir, cfg, seed, split_kw):
            log.info("loading the cached build in %s", out)
            return load_dataset(out)
        log.info("inputs or settings changed since the build in %s: rebuilding", out)
    ds, report = build_dataset(labels, data_dir, out, config=config, n_jobs=n_jobs, seed=seed, progress=progress)
    log.info("%s", report)
    return ds


def load_report(directory: str | Path) -> FilteringReport:
    """The :class:`FilteringReport` saved next to a built data set."""
    return FilteringReport.load(directory)


def find_report(data_dir: str | Path) -> FilteringReport | None:
    """The filtering report of a ``DATA_DIR`` (in it, or in its ``canonical/``), else ``None``.

    For notebook 01: ``None`` means the data set was not built by :func:`build_dataset` (the
    embedded simulation, or canonical files provided as they are).
    """
    for d in (Path(data_dir), Path(data_dir) / DEFAULT_OUT_SUBDIR):
        if (d / REPORT_JSON).is_file() and (d / LOG_CSV).is_file():
            return FilteringReport.load(d)
    return None


def write_data_dir(lightcurves: pd.DataFrame, objects: pd.DataFrame, data_dir: str | Path) -> Path:
    """Write canonical tables as a raw ``DATA_DIR``: the inverse of :func:`build_dataset`.

    ``labels.csv`` (``object_id, ra, dec, label``), ``ztf/<object_id>.txt`` in the ZTF Forced
    Photometry Service layout and ``atlas/<object_id>.txt`` in the ATLAS server layout (an
    object without rows in a survey gets no file there). Use it to try the real-data path on
    the embedded simulation, or to hand converted photometry to the pipeline.

    Returns
    -------
    The directory (created; existing files of the same names are overwritten).
    """
    validate_objects(objects)
    root = Path(data_dir)
    for sub in SURVEY_DIRS.values():
        (root / sub).mkdir(parents=True, exist_ok=True)
    objects[["object_id", "ra", "dec", "label"]].to_csv(root / "labels.csv", index=False)
    position = objects.set_index("object_id")[["ra", "dec"]]
    for (oid, survey), rows in lightcurves.groupby(["object_id", "survey"], sort=True, observed=True):
        ra, dec = (float(v) for v in position.loc[oid])
        path = root / SURVEY_DIRS[survey] / f"{oid}.txt"
        if survey == "ZTF":
            write_ztf_fps(rows, path, ra=ra, dec=dec)
        else:
            write_atlas_fp(rows, path, ra=ra, dec=dec)
    return root
