"""Reader and writer of ATLAS forced-photometry server outputs (e.g. ``job01088.txt``).

Layout (lukeshingles/atlasserver; real example in ``shared/fixtures/atlas_fp``): whitespace-
separated text with ONE header line starting with ``###``, e.g.
``###MJD m dm uJy duJy F err chi/N RA Dec x y maj min phi apfit mag5sig Sky Obs``; older or
stacked outputs end ``... apfit Sky ZP Stack`` instead. Columns are therefore read by NAME.

Conversion: ``MJD`` -> ``mjd``, ``uJy``/``duJy`` (already µJy) -> ``flux``/``flux_err``,
``F`` -> ``band``. Filters ``c`` and ``o`` are kept; any other filter (``t``, ``w``, ``H``,
``I`` ...) is counted and dropped at read time (rule ``atlas_filter``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .io_canonical import (DropLog, LightCurveReader, ReadError, ReadInfo, file_object_id,
    parse_whitespace_rows, read_text_lines)

#: header of current server outputs (the layout :func:`write_atlas_fp` writes)
ATLAS_COLUMNS: tuple[str, ...] = (
    "MJD", "m", "dm", "uJy", "duJy", "F", "err", "chi/N", "RA", "Dec", "x", "y", "maj", "min",
    "phi", "apfit", "mag5sig", "Sky", "Obs",
)
ATLAS_REQUIRED: tuple[str, ...] = ("MJD", "uJy", "duJy", "F")
#: columns that hold text; every other KNOWN column must be numeric
ATLAS_STRING_COLUMNS: frozenset[str] = frozenset({"F", "Obs"})
ATLAS_NUMERIC_COLUMNS: frozenset[str] = frozenset(
    set(ATLAS_COLUMNS) - ATLAS_STRING_COLUMNS | {"ZP", "Stack"}
)
ATLAS_BANDS: tuple[str, ...] = ("c", "o")


def _header(lines: list[str], path: Path) -> tuple[int, list[str]]:
    for i, line in enumerate(lines):
        s = line.strip()
        if not s:
            continue
        names = s.lstrip("#").split()
        if not s.startswith("#") and not set(ATLAS_REQUIRED) <= set(names):
            break
        return i, names
    raise ReadError(path, None, "no header line starting with '###' (column names): not an ATLAS "
                                "forced-photometry output")


def _parse_atlas_fp(path: Path, object_id: str | None) -> tuple[pd.DataFrame, ReadInfo]:
    """Read one ATLAS forced-photometry server output (``###`` header, whitespace-separated rows).

    Survey ``ATLAS``, bands ``c``/``o``, then the other raw columns under their server names
    (``err``, ``chi/N``, ``Sky``, ``mag5sig``, ``Obs`` ...). Other filters are counted and
    dropped (``atlas_filter``). Bad input (:class:`ReadError`): empty file, no ``###`` header,
    a missing required column (``MJD, uJy, duJy, F``), a row with a wrong number of values or
    a non-numeric value.
    """
    lines = read_text_lines(path)
    h, columns = _header(lines, path)
    if len(set(columns)) != len(columns):
        raise ReadError(path, h + 1, "duplicated column names in the header")
    missing = [c for c in ATLAS_REQUIRED if c not in columns]
    if missing:
        raise ReadError(path, h + 1, f"missing required column(s) {missing} in the '###' header "
                                     f"(found {columns})")
    df, _ = parse_whitespace_rows(lines, h, columns, path, string_columns=ATLAS_STRING_COLUMNS,
                                  numeric_columns=ATLAS_NUMERIC_COLUMNS)
    oid = file_object_id(path, object_id)
    info = ReadInfo(str(path), "atlas_fp", oid, {"ATLAS": len(df)}, DropLog())
    filt = df["F"].astype(str).str.strip()
    other = ~filt.isin(ATLAS_BANDS).to_numpy()
    if other.any():
        for f, n in filt[other].value_counts().items():
            info.log.add("read", "atlas_filter", "ATLAS", oid, epochs=int(n),
                         reason=f"ATLAS filter {f!r} is not used (kept: c, o)", file=path)
        df, filt = df[~other].reset_index(drop=True), filt[~other].reset_index(drop=True)
    canon = pd.DataFrame({
        "object_id": oid, "survey": "ATLAS", "band": filt.to_numpy(), "mjd": df["MJD"].to_numpy(float),
        "flux": df["uJy"].to_numpy(float), "flux_err": df["duJy"].to_numpy(float),
    }, index=df.index)
    return pd.concat([canon, df.drop(columns=["MJD", "uJy", "duJy", "F"])], axis=1), info


read_atlas_fp = LightCurveReader("atlas_fp", _parse_atlas_fp)


def write_atlas_fp(lc: pd.DataFrame, path: str | Path, ra: float = 0.0, dec: float = 0.0) -> Path:
    """Write a one-object ATLAS light curve in the server's text layout (see :data:`ATLAS_COLUMNS`).

    Fluxes are written with three decimals (the server rounds to whole µJy; more digits keep
    round trips exact enough for tests). Raw columns of ``lc`` named like server columns
    (``err``, ``chi/N``, ``Sky`` ...) are written; absent ones get values that pass the
    paper's cuts (``err`` 0, ``chi/N`` 1, ``Sky`` 20) or plausible constants.
    """
    path = Path(path)
    n = len(lc)
    flux = lc["flux"].to_numpy(float)
    err = lc["flux_err"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.where(flux != 0, np.sign(flux) * (23.9 - 2.5 * np.log10(np.abs(flux))), np.nan)
        dm = np.where(flux != 0, 1.0857 * err / np.abs(flux), np.nan)
    values: dict[str, np.ndarray] = {
        "MJD": lc["mjd"].to_numpy(float), "m": m, "dm": dm, "uJy": flux, "duJy": err,
        "F": lc["band"].astype(str).to_numpy(), "err": np.zeros(n, int), "chi/N": np.ones(n),
        "RA": np.full(n, ra), "Dec": np.full(n, dec), "x": np.full(n, 5000.0), "y": np.full(n, 5000.0),
        "maj": np.full(n, 2.0), "min": np.full(n, 2.0), "phi": np.zeros(n), "apfit": np.full(n, -0.4),
        "mag5sig": np.full(n, 19.5), "Sky": np.full(n, 20.0),
        "Obs": np.array([f"01a{int(t)}o{i:04d}o" for i, t in enumerate(lc["mjd"].to_numpy(float))]),
    }
    for c in ATLAS_COLUMNS:
        if c in lc.columns and c not in ("MJD", "uJy", "duJy", "F"):
            values[c] = lc[c].to_numpy()
    fmts = {"MJD": "{:.6f}", "uJy": "{:.3f}", "duJy": "{:.3f}", "m": "{:.3f}", "dm": "{:.3f}",
            "RA": "{:.7f}", "Dec": "{:.7f}"}
    out = ["###" + " ".join(ATLAS_COLUMNS)]
    for i in range(n):
        cells = []
        for c in ATLAS_COLUMNS:
            v = values[c][i]
            if isinstance(v, (float, np.floating)):
                cells.append("nan" if not np.isfinite(v) else fmts.get(c, "{:.4g}").format(v))
            else:
                cells.append(str(v))
        out.append(" ".join(cells))
    path.write_text("\n".join(out) + "\n")
    return path
