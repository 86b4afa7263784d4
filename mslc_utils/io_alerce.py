"""Reader and writer of ALeRCE forced-photometry tables (CSV or Parquet).

The ``alerce`` client's ``query_forced_photometry(oid, format="pandas")`` returns one row per
epoch with ``oid, mjd, fid, mag, e_mag, isdiffpos, procstatus, field, rcid, rfid, ...`` —
magnitudes of the *difference* flux, no flux column. Saved with ``DataFrame.to_csv`` or
``to_parquet``, such tables are read here:

* ``fid`` 1 -> ``g``, 2 -> ``r``; 3 (ZTF i) is counted and dropped (rule ``ztf_i_band``);
* ``flux[µJy] = isdiffpos * 10**(-0.4 (mag - 23.9))`` (``isdiffpos`` as ``1``/``-1``,
  ``t``/``f`` or booleans), ``flux_err = 0.4 ln(10) |flux| e_mag``;
* a missing ``mag`` gives a NaN flux (removed and counted later by the ``finite_flux`` step).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .io_canonical import (
    DropLog,
    LightCurveReader,
    ReadError,
    ReadInfo,
    coerce_numeric,
    normalize_name,
    read_table,
    resolve_object_id,
)

ALERCE_REQUIRED: tuple[str, ...] = ("mjd", "fid", "mag", "e_mag", "isdiffpos")
#: columns that identify an ALeRCE forced-photometry table (used by format detection)
ALERCE_SIGNATURE: frozenset[str] = frozenset({"fid", "mag", "e_mag", "isdiffpos"})
ALERCE_FID_TO_BAND: dict[int, str] = {1: "g", 2: "r"}
ALERCE_UNUSED_FIDS: tuple[int, ...] = (3,)
_ISDIFFPOS: dict[str, float] = {
    "1": 1.0, "1.0": 1.0, "+1": 1.0, "+": 1.0, "t": 1.0, "true": 1.0,
    "-1": -1.0, "-1.0": -1.0, "-": -1.0, "f": -1.0, "false": -1.0,
}
LN10_OVER_2P5 = 0.4 * np.log(10.0)


def _parse_isdiffpos(s: pd.Series, path: Path, lines: np.ndarray, kind: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(s.dtype):
        return np.where(s.to_numpy(bool), 1.0, -1.0)
    low = s.astype(str).str.strip().str.lower()
    out = low.map(_ISDIFFPOS)
    missing = s.isna().to_numpy()
    bad = out.isna().to_numpy() & ~missing
    if bad.any():
        i = int(np.argmax(bad))
        raise ReadError(path, int(lines[i]),
                        f"column 'isdiffpos': expected 1/-1 or t/f, found {s.iloc[i]!r}", kind)
    return out.to_numpy(float)


def _parse_alerce_fp(path: Path, object_id: str | None) -> tuple[pd.DataFrame, ReadInfo]:
    """Read an ALeRCE forced-photometry table (CSV or Parquet, decided by content).

    Needs ``mjd, fid, mag, e_mag, isdiffpos`` (names compared case-insensitively); survey
    ``ZTF``, then the raw columns (``procstatus`` as a string). The object id defaults to the
    ``oid`` column (one value), else the file stem; with ``object_id`` given and several
    ``oid`` in the file, only that object's rows are read. Bad input (:class:`ReadError`):
    missing columns, non-numeric values, an unknown ``fid`` or ``isdiffpos`` value, several
    objects without ``object_id`` (naming the file and line, or row for Parquet).
    """
    df, lines, kind = read_table(path)
    by_norm = {normalize_name(c): c for c in df.columns}
    rename = {by_norm[normalize_name(c)]: c for c in (*ALERCE_REQUIRED, "oid", "procstatus")
              if normalize_name(c) in by_norm}
    df = df.rename(columns=rename)
    missing = [c for c in ALERCE_REQUIRED if c not in df.columns]
    if missing:
        raise ReadError(path, None, f"missing required column(s) {missing} of an ALeRCE forced-photometry "
                                    f"table; the file has {list(df.columns)}")
    df, lines, oid, file_id = resolve_object_id(df, "oid" if "oid" in df.columns else None,
                                                object_id, path, lines, kind)
    coerce_numeric(df, ["mjd", "fid", "mag", "e_mag"], lines, path, kind)
    info = ReadInfo(str(path), "alerce_fp", oid, {"ZTF": len(df)}, DropLog(),
                    {"file_object_id": file_id} if file_id not in (None, oid) else {})
    fid = df["fid"].to_numpy(float)
    known = np.isin(fid, list(ALERCE_FID_TO_BAND) + list(ALERCE_UNUSED_FIDS))
    if not known.all():
        i = int(np.argmax(~known))
        raise ReadError(path, int(lines[i]),
                        f"column 'fid': unknown filter id {df['fid'].iloc[i]!r}; expected 1 (g), 2 (r) or 3 (i)",
                        kind)
    unused = np.isin(fid, list(ALERCE_UNUSED_FIDS))
    if unused.any():
        info.log.add("read", "ztf_i_band", "ZTF", oid, epochs=int(unused.sum()),
                     reason="ZTF_i epochs are not used (the paper uses g and r)", file=path)
        df, lines = df[~unused].reset_index(drop=True), lines[~unused]
    sign = _parse_isdiffpos(df["isdiffpos"], path, lines, kind)
    flux = sign * 10.0 ** (-0.4 * (df["mag"].to_numpy(float) - 23.9))
    flux_err = LN10_OVER_2P5 * np.abs(flux) * df["e_mag"].to_numpy(float)
    if "procstatus" in df.columns:
        ps = df["procstatus"].astype(str).str.strip()
        # a numeric column read from Parquet gives "0.0": compare codes as integers' text
        ps = ps.str.replace(r"\.0$", "", regex=True)
        df["procstatus"] = ps.where(df["procstatus"].notna(), None)
    if "oid" in df.columns:
        df = df.drop(columns=["oid"])
    band = pd.Series(df["fid"].to_numpy(float)).map({float(k): v for k, v in ALERCE_FID_TO_BAND.items()})
    df = df.drop(columns=["mjd"]).assign(
        object_id=oid, survey="ZTF", band=band.to_numpy(), mjd=df["mjd"].to_numpy(float),
        flux=flux, flux_err=flux_err,
    )
    return df, info


read_alerce_fp = LightCurveReader("alerce_fp", _parse_alerce_fp)


def write_alerce_fp(lc: pd.DataFrame, path: str | Path, oid: str | None = None) -> Path:
    """Write a one-object ZTF light curve as an ALeRCE forced-photometry table.

    CSV, or Parquet for a ``.parquet`` path. ``mag = 23.9 - 2.5 log10|flux|``, ``isdiffpos`` the
    sign of the flux, ``e_mag = flux_err / (0.4 ln10 |flux|)``. A zero flux has no magnitude:
    its ``mag`` is written empty (so it reads back as a NaN flux, counted by ``finite_flux``).
    Raw columns named ``procstatus`` (and other ALeRCE columns) are copied.
    """
    path = Path(path)
    band_to_fid = {"g": 1, "r": 2, "i": 3}
    bad = ~lc["band"].isin(list(band_to_fid))
    if bad.any():
        raise ValueError(f"write_alerce_fp: bands {sorted(set(lc.loc[bad, 'band']))} are not ZTF bands")
    flux = lc["flux"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(flux != 0, 23.9 - 2.5 * np.log10(np.abs(flux)), np.nan)
        e_mag = np.where(flux != 0, lc["flux_err"].to_numpy(float) / (LN10_OVER_2P5 * np.abs(flux)), np.nan)
    out = pd.DataFrame({
        "oid": oid if oid is not None else lc["object_id"].astype(str).to_numpy(),
        "mjd": lc["mjd"].to_numpy(float),
        "fid": lc["band"].map(band_to_fid).to_numpy(int),
        "mag": mag, "e_mag": e_mag,
        "isdiffpos": np.where(flux < 0, -1, 1),
        "procstatus": lc["procstatus"].astype(str).to_numpy() if "procstatus" in lc.columns else "0",
    })
    for c in ("field", "rcid", "rfid", "sciinpseeing", "scibckgnd", "scisigpix", "diffmaglim", "programid"):
        if c in lc.columns:
            out[c] = lc[c].to_numpy()
    if path.suffix == ".parquet":
        out.to_parquet(path, index=False)
    else:
        out.to_csv(path, index=False, float_format="%.12g")
    return path
