"""Reader of light curves in AB magnitudes (``MJD Mag MagErr Filter UL [Telescope ...]``).

The form of most published light curves and catalogues: one row per epoch with a magnitude,
its error, a band and often an upper-limit flag and the telescope or instrument. CSV or
whitespace-separated text (decided by the header line), or Parquet.

Conversion to µJy (AB zero point 23.9 mag, i.e. 3631 Jy at mag 0)::

    flux     = 10 ** (-0.4 * (mag - 23.9))            # µJy
    flux_err = 0.4 * ln(10) * flux * mag_err         # first-order error propagation

* rows flagged as upper limits (``UL``/``upper_limit``/``is_limit`` ... true) are **dropped
  and counted** at read time (rule ``upper_limit``): a limit is not a flux measurement;
* the survey is the first of the ``survey``, ``telescope``, ``instrument`` columns present
  (``ZTF``/``P48`` -> ZTF, ``ATLAS``/``ATLAS-HKO`` ... -> ATLAS), else inferred from the
  bands; rows of other facilities (Swift, PS1 ...) are counted and dropped (rule
  ``other_facility``); an unknown band of ZTF or ATLAS (or with no facility) is a
  :class:`~mslc_utils.io_canonical.ReadError`;
* a missing magnitude gives a NaN flux (counted later by the ``finite_flux`` step).

A magnitude measures the total flux (or a host-subtracted flux), never negative; the models
were trained on forced-photometry *difference* fluxes that scatter around zero for variable
stars and AGN. For transients on a faint host the two agree; for variables the image differs
(see ``docs/classify.md``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .io_canonical import (BAND_SURVEY, DropLog, LightCurveReader, ReadError, ReadInfo, check_bands,
    coerce_numeric, drop_unused_bands, find_jd_column, find_survey_column, map_bands, map_surveys,
    parse_bool, parse_time, read_table, resolve_columns, resolve_object_id)

AB_ZEROPOINT_UJY = 23.9
LN10_OVER_2P5 = 0.4 * np.log(10.0)

#: column -> accepted spellings (compared lower-cased without punctuation)
MAG_COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "object_id": ("object_id", "objectid", "oid", "objid", "object", "name", "source_id", "ztfid"),
    "mjd": ("mjd", "time", "mjd_obs", "obsmjd", "date_mjd"),
    "mag": ("mag", "magnitude", "abmag", "mag_ab", "magpsf", "magap"),
    "mag_err": ("magerr", "mag_err", "e_mag", "emag", "dmag", "sigma_mag", "magerr_ab", "sigmapsf", "mag_unc",
                "magunc", "magerror", "mag_error"),
    "band": ("band", "filter", "passband", "flt", "filtername"),
    "upper_limit": ("ul", "upper_limit", "upperlimit", "is_limit", "islimit", "is_upper_limit", "uplim", "limit"),
}
#: the columns that identify a magnitude table (format detection)
MAG_SIGNATURE: tuple[str, ...] = ("mag", "mag_err", "band")


def mag_to_ujy(mag: np.ndarray, mag_err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AB magnitude and error -> flux and error in µJy (see the module docstring)."""
    flux = 10.0 ** (-0.4 * (np.asarray(mag, float) - AB_ZEROPOINT_UJY))
    return flux, LN10_OVER_2P5 * flux * np.asarray(mag_err, float)


def is_mag_table(columns: list[str]) -> bool:
    """Whether the column names have a magnitude, its error and a band (and no flux)."""
    try:
        resolve_columns(columns, "<header>", required=MAG_SIGNATURE, aliases=MAG_COLUMN_ALIASES)
    except ReadError:
        return False
    return True


def _parse_mag(path: Path, object_id: str | None) -> tuple[pd.DataFrame, ReadInfo]:
    """Read a light curve in AB magnitudes (CSV, whitespace-separated text or Parquet).

    Needs a time (``MJD``, or a Julian date ``JD``), ``Mag``, ``MagErr`` and ``Filter``
    columns (spellings in :data:`MAG_COLUMN_ALIASES`); optional upper-limit flag and
    ``Telescope``/``Instrument`` columns. Magnitudes become µJy with
    ``flux = 10**(-0.4 (mag - 23.9))``, ``flux_err = 0.4 ln10 flux mag_err``; upper limits and
    rows of other facilities are counted and dropped (rules ``upper_limit``,
    ``other_facility``). Bad input (:class:`ReadError`): empty file, missing column, a row
    with a wrong number of values, a non-numeric time/magnitude/error, a flag that is not a
    boolean, an unknown band.
    """
    df, lines, kind = read_table(path)
    cols = resolve_columns(list(df.columns), path, required=("mag", "mag_err", "band"), aliases=MAG_COLUMN_ALIASES)
    mjd_col = cols.get("mjd") or find_jd_column(df.columns, path)
    df, lines, oid, file_id = resolve_object_id(df, cols.get("object_id"), object_id, path, lines, kind)
    mjd = parse_time(df, mjd_col, lines, path, kind)
    coerce_numeric(df, [cols["mag"], cols["mag_err"]], lines, path, kind)
    info = ReadInfo(str(path), "mag", oid, {}, DropLog(),
                    {"file_object_id": file_id} if file_id not in (None, oid) else {})
    band_raw = df[cols["band"]].astype(str).str.strip()
    band = map_bands(band_raw)
    survey_col = find_survey_column(df.columns)
    if survey_col is not None:
        surv = map_surveys(df[survey_col])
        other = surv.isna().to_numpy()  # another facility: counted and dropped below
    else:
        surv = band.map(BAND_SURVEY)
        other = np.zeros(len(df), dtype=bool)
    check_bands(band, surv, band_raw, lines, path, kind, allowed=other)
    keep = ~other
    for fac, n in (df.loc[other, survey_col].astype(str).value_counts().items() if other.any() else ()):
        info.log.add("read", "other_facility", str(fac), oid, epochs=int(n),
                     reason=f"{n} epoch(s) of {fac!r} (not ZTF or ATLAS)", file=path)
    if "upper_limit" in cols:
        ul = parse_bool(df[cols["upper_limit"]], path, lines, kind, cols["upper_limit"]).to_numpy(bool)
        for s in sorted(set(surv[keep & ul])):
            n = int((keep & ul & (surv == s).to_numpy()).sum())
            info.log.add("read", "upper_limit", s, oid, epochs=n,
                         reason="upper limits are not flux measurements", file=path)
        keep &= ~ul
    info.rows_read = {s: int(n) for s, n in surv[~other].value_counts().items()}
    flux, flux_err = mag_to_ujy(df[cols["mag"]].to_numpy(float), df[cols["mag_err"]].to_numpy(float))
    raw = df.drop(columns=[c for c in (cols["band"], mjd_col, cols.get("object_id")) if c])
    out = pd.concat([pd.DataFrame({"object_id": oid, "survey": surv.to_numpy(), "band": band.to_numpy(),
                                   "mjd": mjd, "flux": flux, "flux_err": flux_err}, index=df.index),
                     raw.drop(columns=[c for c in ("survey",) if c in raw.columns])], axis=1)
    return drop_unused_bands(out[keep].reset_index(drop=True), info, path), info


read_mag = LightCurveReader("mag", _parse_mag)
