"""Reader and writer of ZTF Forced Photometry Service outputs (``forcedphotometry_req*_lc.txt``).

Layout (Masci et al. 2023; real examples in ``shared/fixtures/ztf_fps``): ``#`` comment lines
(request position, JD range, one ``# name = description`` line per column), ONE uncommented
line of comma-separated column names, whitespace-separated rows, ``null`` for missing values,
``procstatus`` a string that can hold several codes (``56,57``), and a final ``# ---END---``
comment in some versions.

Conversion to the canonical model: ``mjd = jd - 2400000.5``;
``flux[µJy] = forcediffimflux * 10**(-0.4 * (zpdiff - 23.9))`` and the same factor for
``forcediffimfluxunc``; ``ZTF_g`` -> ``g``, ``ZTF_r`` -> ``r``; ``ZTF_i`` rows are counted and
dropped at read time (rule ``ztf_i_band``). The legacy sentinel ``-99999`` of failed
measurements becomes NaN (removed and counted later by the ``finite_flux`` step).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from .io_canonical import (DropLog, LightCurveReader, ReadError, ReadInfo, file_object_id,
    parse_whitespace_rows, read_text_lines)

#: the 40 columns of the FPS output, in file order
ZTF_FPS_COLUMNS: tuple[str, ...] = (
    "index", "field", "ccdid", "qid", "filter", "pid", "infobitssci", "sciinpseeing", "scibckgnd",
    "scisigpix", "zpmaginpsci", "zpmaginpsciunc", "zpmaginpscirms", "clrcoeff", "clrcoeffunc",
    "ncalmatches", "exptime", "adpctdif1", "adpctdif2", "diffmaglim", "zpdiff", "programid", "jd",
    "rfid", "forcediffimflux", "forcediffimfluxunc", "forcediffimsnr", "forcediffimchisq",
    "forcediffimfluxap", "forcediffimfluxuncap", "forcediffimsnrap", "aperturecorr",
    "dnearestrefsrc", "nearestrefmag", "nearestrefmagunc", "nearestrefchi", "nearestrefsharp",
    "refjdstart", "refjdend", "procstatus",
)
#: columns the reader needs
ZTF_FPS_REQUIRED: tuple[str, ...] = ("filter", "jd", "forcediffimflux", "forcediffimfluxunc", "zpdiff")
#: columns kept as strings (everything else must be numeric or missing)
ZTF_FPS_STRING_COLUMNS: frozenset[str] = frozenset({"filter", "procstatus"})
ZTF_FILTER_TO_BAND: dict[str, str] = {"ZTF_g": "g", "ZTF_r": "r"}
#: filters ZTF delivers that the project does not use: counted and dropped
ZTF_UNUSED_FILTERS: tuple[str, ...] = ("ZTF_i",)
#: value of failed measurements in older FPS versions
ZTF_FPS_SENTINEL = -99999.0
AB_ZEROPOINT_UJY = 23.9

_HEADER_FLOAT = re.compile(r"^#\s*Requested input (R\.A\.|Dec\.)\s*=\s*([-+0-9.eE]+)")


def zp_to_ujy_factor(zpdiff: np.ndarray | float) -> np.ndarray | float:
    """Factor turning difference-image counts at zero point ``zpdiff`` into µJy (AB 23.9)."""
    return 10.0 ** (-0.4 * (np.asarray(zpdiff, dtype=float) - AB_ZEROPOINT_UJY))


def read_ztf_fps_header(path: str | Path) -> dict[str, float]:
    """The requested position of an FPS file (``{"ra": deg, "dec": deg}``; empty if absent).

    Reads only the leading comment lines (used to match files to objects by position).
    """
    out: dict[str, float] = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            m = _HEADER_FLOAT.match(line)
            if m:
                out["ra" if m.group(1) == "R.A." else "dec"] = float(m.group(2))
    return out


def _header_index(lines: list[str], path: Path) -> int:
    for i, line in enumerate(lines):
        if line.strip() and not line.lstrip().startswith("#"):
            return i
    raise ReadError(path, None, "no column-name line (only '#' comments): not a ZTF FPS light curve")


def _parse_ztf_fps(path: Path, object_id: str | None) -> tuple[pd.DataFrame, ReadInfo]:
    """Read one ZTF Forced Photometry Service light curve (``forcedphotometry_req*_lc.txt``).

    Survey ``ZTF``, bands ``g``/``r``; every raw FPS column but ``filter`` follows the canonical
    ones (``procstatus`` as a string, the others as float; ``null`` -> NaN). ``ZTF_i`` rows are
    counted and dropped (``ztf_i_band``); the info's ``meta`` holds the requested RA/Dec.
    Bad input (:class:`ReadError`): empty file, no column-name line, a missing required
    column, a row with a wrong number of values, a non-numeric value, an unknown filter.
    """
    lines = read_text_lines(path)
    h = _header_index(lines, path)
    columns = [c.strip() for c in lines[h].split(",") if c.strip()]
    if len(columns) < 2:
        raise ReadError(path, h + 1, f"expected comma-separated column names, found {lines[h].strip()[:80]!r}")
    if len(set(columns)) != len(columns):
        raise ReadError(path, h + 1, "duplicated column names in the header")
    missing = [c for c in ZTF_FPS_REQUIRED if c not in columns]
    if missing:
        raise ReadError(path, h + 1, f"missing required column(s) {missing} in the column-name line")
    df, line_numbers = parse_whitespace_rows(lines, h, columns, path, string_columns=ZTF_FPS_STRING_COLUMNS)
    oid = file_object_id(path, object_id)
    info = ReadInfo(str(path), "ztf_fps", oid, {"ZTF": len(df)}, DropLog(), read_ztf_fps_header(path))

    filt = df["filter"].astype(str).str.strip()
    known = filt.isin(list(ZTF_FILTER_TO_BAND) + list(ZTF_UNUSED_FILTERS)).to_numpy()
    if not known.all():
        i = int(np.argmax(~known))
        raise ReadError(
            path, int(line_numbers[i]),
            f"unknown filter {df['filter'].iloc[i]!r}; expected one of "
            f"{list(ZTF_FILTER_TO_BAND) + list(ZTF_UNUSED_FILTERS)}",
        )
    unused = filt.isin(ZTF_UNUSED_FILTERS).to_numpy()
    if unused.any():
        info.log.add("read", "ztf_i_band", "ZTF", oid, epochs=int(unused.sum()),
                     reason="ZTF_i epochs are not used (the paper uses g and r)", file=path)
        df, filt = df[~unused].reset_index(drop=True), filt[~unused].reset_index(drop=True)
    if "procstatus" in df.columns:
        ps = df["procstatus"].astype(str).str.strip()
        df["procstatus"] = ps.where(df["procstatus"].notna(), None)
    flux = df["forcediffimflux"].to_numpy(float).copy()
    ferr = df["forcediffimfluxunc"].to_numpy(float).copy()
    flux[flux == ZTF_FPS_SENTINEL] = np.nan
    ferr[ferr == ZTF_FPS_SENTINEL] = np.nan
    factor = zp_to_ujy_factor(df["zpdiff"].to_numpy(float))
    canon = pd.DataFrame({
        "object_id": oid, "survey": "ZTF", "band": filt.map(ZTF_FILTER_TO_BAND).to_numpy(),
        "mjd": df["jd"].to_numpy(float) - 2400000.5, "flux": flux * factor, "flux_err": ferr * factor,
    }, index=df.index)
    return pd.concat([canon, df.drop(columns=["filter"])], axis=1), info


read_ztf_fps = LightCurveReader("ztf_fps", _parse_ztf_fps)


def write_ztf_fps(
    lc: pd.DataFrame,
    path: str | Path,
    zpdiff: float = 26.275,
    ra: float | None = None,
    dec: float | None = None,
) -> Path:
    """Write a one-object ZTF light curve in the FPS text layout (readable by :func:`read_ztf_fps`).

    ``forcediffimflux = flux / 10**(-0.4 (zpdiff - 23.9))`` at the given zero point (or a
    ``zpdiff`` column of ``lc``). Raw columns of ``lc`` named like FPS columns
    (``procstatus``, ``infobitssci`` ...) are written; the others are ``null`` (or plausible
    constants). Bands ``g``, ``r`` and ``i`` are accepted. Useful to test pipelines and to
    convert other ZTF photometry into the FPS form.
    """
    path = Path(path)
    n = len(lc)
    band_to_filter = {"g": "ZTF_g", "r": "ZTF_r", "i": "ZTF_i"}
    bad = ~lc["band"].isin(list(band_to_filter))
    if bad.any():
        raise ValueError(f"write_ztf_fps: bands {sorted(set(lc.loc[bad, 'band']))} are not ZTF bands")
    zp = lc["zpdiff"].to_numpy(float) if "zpdiff" in lc.columns else np.full(n, zpdiff)
    factor = zp_to_ujy_factor(zp)
    values: dict[str, np.ndarray] = {
        "index": np.arange(n), "filter": lc["band"].map(band_to_filter).to_numpy(),
        "jd": lc["mjd"].to_numpy(float) + 2400000.5, "zpdiff": zp,
        "forcediffimflux": lc["flux"].to_numpy(float) / factor,
        "forcediffimfluxunc": lc["flux_err"].to_numpy(float) / factor,
        "field": np.full(n, 600), "ccdid": np.full(n, 1), "qid": np.full(n, 1),
        "infobitssci": np.zeros(n, int), "procstatus": np.full(n, "0", dtype=object),
        "exptime": np.full(n, 30.0), "programid": np.full(n, 1),
    }
    with np.errstate(divide="ignore", invalid="ignore"):
        values["forcediffimsnr"] = values["forcediffimflux"] / values["forcediffimfluxunc"]
    for c in ZTF_FPS_COLUMNS:
        if c in lc.columns and c not in ("index", "filter", "jd", "forcediffimflux", "forcediffimfluxunc"):
            values[c] = lc[c].to_numpy()

    def fmt(v: object) -> str:
        if v is None or (np.ndim(v) == 0 and pd.isna(v)) or (
            isinstance(v, (float, np.floating)) and not np.isfinite(v)
        ):
            return "null"
        if isinstance(v, (float, np.floating)):
            return repr(float(v))
        return str(v).replace(" ", "")

    out = [
        "# ------------------------------------------------------------------",
        "# Written by mslc_utils.io_ztf.write_ztf_fps (ZTF Forced Photometry Service layout)",
        "#",
    ]
    if ra is not None and dec is not None:
        out += [f"# Requested input R.A. = {ra!r} degrees", f"# Requested input Dec. = {dec!r} degrees"]
    out += ["#", "# Order of columns below:", " " + ", ".join(ZTF_FPS_COLUMNS) + ",", "#"]
    cols = [values.get(c) for c in ZTF_FPS_COLUMNS]
    for i in range(n):
        out.append(" " + " ".join("null" if col is None else fmt(col[i]) for col in cols))
    out.append("# ------------------------------END---------------------------------")
    path.write_text("\n".join(out) + "\n")
    return path
