"""One entry point for reading light curves of every supported data product.

>>> lc = read_lightcurve("forcedphotometry_req00017007_lc.txt")      # doctest: +SKIP
>>> read_info(lc).log.to_frame()          # what was dropped at read time, and why  # doctest: +SKIP

Formats (detected from the CONTENT when ``format`` is not given, never from the file name):

============  ===========================================================================
``ztf_fps``   ZTF Forced Photometry Service text output (:mod:`mslc_utils.io_ztf`)
``alerce_fp`` ALeRCE forced-photometry table, CSV or Parquet (:mod:`mslc_utils.io_alerce`)
``atlas_fp``  ATLAS forced-photometry server output (:mod:`mslc_utils.io_atlas`)
``fpbot``     fpbot / ZTF Bright Transient Survey forced photometry, CSV (:mod:`mslc_utils.io_fpbot`)
``canonical`` canonical light-curve table, CSV, whitespace text or Parquet, any common column
              spelling (:mod:`mslc_utils.io_canonical`)
``mag``       light curve in AB magnitudes (``MJD Mag MagErr Filter UL``), CSV, text or
              Parquet (:mod:`mslc_utils.io_mag`)
============  ===========================================================================

Every reader is a :class:`~mslc_utils.io_canonical.LightCurveReader`: one scaffold (file
check, the format's parser, :func:`~mslc_utils.io_canonical.finalize_lightcurve`), so the
README's bad-input policy holds the same way for all of them.

Every reader returns the canonical columns (``object_id, survey, band, mjd, flux, flux_err,
detected``; flux in µJy) followed by the raw quality columns of the file, sorted by time, with
a :class:`~mslc_utils.io_canonical.ReadInfo` in ``df.attrs["mslc_read"]`` (rows read, rows
dropped at read time and why). Quality cuts are NOT applied here: see
:mod:`mslc_utils.preprocess`.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pyarrow.parquet as pq

from .io_alerce import ALERCE_SIGNATURE, read_alerce_fp, write_alerce_fp
from .io_atlas import ATLAS_REQUIRED, read_atlas_fp, write_atlas_fp
from .io_canonical import (
    DEFAULT_DETECTION_SNR,
    DropLog,
    DropRecord,
    IngestError,
    ReadError,
    ReadInfo,
    COLUMN_ALIASES,
    JD_ALIASES,
    is_parquet,
    normalize_name,
    read_canonical,
    read_info,
    write_canonical,
)
from .io_fpbot import FPBOT_SIGNATURE, is_fpbot_table, read_fpbot
from .io_mag import is_mag_table, read_mag
from .io_ztf import read_ztf_fps, write_ztf_fps

__all__ = [
    "FORMATS", "DropLog", "DropRecord", "IngestError", "ReadError", "ReadInfo", "detect_format",
    "read_lightcurve", "read_info", "read_ztf_fps", "read_alerce_fp", "read_atlas_fp",
    "read_canonical", "read_fpbot", "read_mag", "write_ztf_fps", "write_alerce_fp", "write_atlas_fp", "write_canonical",
]

READERS: dict[str, Callable[..., pd.DataFrame]] = {
    "ztf_fps": read_ztf_fps,
    "alerce_fp": read_alerce_fp,
    "atlas_fp": read_atlas_fp,
    "fpbot": read_fpbot,
    "canonical": read_canonical,
    "mag": read_mag,
}
FORMATS: tuple[str, ...] = tuple(READERS)
_SNIFF_BYTES = 65536


def _is_alerce(columns: list[str]) -> bool:
    return {normalize_name(c) for c in ALERCE_SIGNATURE} <= {normalize_name(c) for c in columns}


def detect_format(path: str | Path) -> str:
    """Guess the format of a light-curve file from its content.

    Rules: a Parquet file is ``alerce_fp`` when it has ``fid, mag, e_mag, isdiffpos``, else
    ``canonical``. A text file is ``atlas_fp`` when its first line starts with ``###`` (or
    whitespace-separated ``MJD ... uJy duJy F`` names), ``ztf_fps`` when its first non-comment
    line is a comma-separated list of names holding ``forcediffimflux``, ``alerce_fp`` when
    its CSV header has the ALeRCE columns, and ``canonical`` when the alias table resolves
    its columns.

    Raises
    ------
    ReadError
        Empty file, or content that matches no format (naming the columns found).
    FileNotFoundError
        No such file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if is_parquet(path):
        try:
            cols = pq.read_schema(path).names
        except Exception as exc:
            raise ReadError(path, None, f"unreadable Parquet file ({exc})") from exc
        return _table_format(cols, path, None) or "canonical"
    with open(path, "rb") as fh:
        raw = fh.read(_SNIFF_BYTES)
    try:
        # a multi-byte character cut at the end of the sniffed block is not an error
        head = raw.decode("utf-8") if len(raw) < _SNIFF_BYTES else raw[:-4].decode("utf-8")
        if "\x00" in head:
            raise UnicodeDecodeError("utf-8", raw, head.index("\x00"), head.index("\x00") + 1, "NUL byte")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ReadError(path, line, f"not a UTF-8 text file ({exc.reason}) and not Parquet") from None
    lines = head.splitlines()
    nonblank = [(i, ln) for i, ln in enumerate(lines) if ln.strip()]
    if not nonblank:
        raise ReadError(path, None, "empty file: cannot detect its format")
    first = nonblank[0][1].strip()
    if first.startswith("###") or set(ATLAS_REQUIRED) <= set(first.lstrip("#").split()):
        return "atlas_fp"
    data = [(i, ln) for i, ln in nonblank if not ln.lstrip().startswith("#")]
    if not data:
        raise ReadError(path, None, "only comment lines: cannot detect its format")
    lineno, header = data[0]
    names = [normalize_name(c) for c in header.split(",")]
    if "forcediffimflux" in names:
        return "ztf_fps"
    try:
        cols = [c.strip() for c in next(csv.reader([header]))] if "," in header else header.split()
    except csv.Error as exc:  # pragma: no cover - csv.reader rarely fails on one line
        raise ReadError(path, lineno + 1, f"unreadable header ({exc})") from exc
    fmt = _table_format(cols, path, lineno + 1)
    if fmt is None:
        raise ReadError(
            path, lineno + 1,
            f"cannot detect the format from the header {cols[:12]}: not a ZTF FPS output "
            f"(no 'forcediffimflux'), not an ATLAS output (no '###' header), not an fpbot table "
            f"(needs {sorted(FPBOT_SIGNATURE)}), not an ALeRCE table (needs {sorted(ALERCE_SIGNATURE)}), "
            f"not a canonical table (needs time, flux, flux error and band columns), not a "
            f"magnitude table (needs time, mag, mag error and band columns); pass format= explicitly",
        )
    return fmt


def _table_format(cols: list[str], path: Path, lineno: int | None) -> str | None:
    """The format of a CSV/Parquet/text table from its column names (``None``: no match)."""
    if is_fpbot_table(cols):
        return "fpbot"
    if _is_alerce(cols):
        return "alerce_fp"
    norm = {normalize_name(c) for c in cols}
    has_flux = bool(norm & {normalize_name(a) for a in COLUMN_ALIASES["flux"]})
    if not has_flux and is_mag_table(cols):
        return "mag"
    hits = [k for k in ("mjd", "flux", "flux_err", "band")
            if norm & {normalize_name(a) for a in COLUMN_ALIASES[k]}
            or (k == "mjd" and norm & set(JD_ALIASES))]
    # two canonical columns or more: a canonical table, whose reader names what is missing
    return "canonical" if len(hits) >= 2 else None


def read_lightcurve(path: str | Path, format: str | None = None, **options: Any) -> pd.DataFrame:
    """Read one light-curve file of any supported format into the canonical table.

    ``format`` is one of :data:`FORMATS` (detected from the content by :func:`detect_format`
    when ``None``); ``options`` go to the format's reader: ``object_id`` (default: from the
    file, else its name), ``detection_snr`` (signal-to-noise of a detection when the file
    has no detection flag), ``survey`` (canonical tables without a survey column).

    Returns the canonical light-curve table plus the raw quality columns; ``read_info(df)``
    gives the rows read and the rows dropped at read time (ZTF i band, ATLAS filters other
    than c/o, upper limits, other facilities). Raises :class:`ReadError` (a ``ValueError``)
    naming the file, line and reason for malformed input, ``FileNotFoundError`` for a
    missing file.
    """
    if format is None:
        format = detect_format(path)
    if format not in READERS:
        raise ValueError(f"unknown format {format!r}; expected one of {list(FORMATS)}")
    return READERS[format](path, **options)
