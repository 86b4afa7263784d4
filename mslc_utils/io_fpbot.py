"""Reader of ZTF forced photometry from fpbot / the ZTF Bright Transient Survey pipeline.

fpbot (Reusch et al.; used by the BTS and AMPEL) writes one CSV per object: optional
``#key=value`` header lines (``#name=ZTF19aapreis``, ``#ra=...``), then a pandas CSV whose
first column is the unnamed index, with ``obsmjd, filter, ampl, ampl.err, chi2dof, seeing,
magzp, magzpunc, magzprms, airmass, nmatches, rcid, fieldid, infobits, filename, ...`` and,
after its baseline correction, ``ampl_corr, ampl_err_corr`` (and quality columns such as
``pass``). ``filter`` is written ``ZTF_g`` or ``ZTF g`` (both accepted, also mixed).

Conversion (the amplitudes are in counts at the zero point ``magzp``)::

    flux     = ampl_corr * 10 ** (-0.4 * (magzp - 23.9))                     # µJy
    flux_err = 10 ** (-0.4 * (magzp - 23.9))
               * sqrt(ampl_err_corr**2 + (ampl_corr * 0.4 ln10 * magzpunc)**2)   # magzpunc if present

(fpbot's own ``flux_Jy`` is the same flux in Jy). ZTF i rows are counted and dropped
(``ztf_i_band``). Quality flags are applied later as named preprocessing steps
(:func:`fpbot_steps`): ``fpbot_pass`` keeps ``pass == 1`` (fpbot's good-conditions flag, as
AMPEL's ``excl_poor_conditions``), ``fpbot_infobits`` keeps ``infobits == 0`` (off by
default, as ``ztf_infobits``). A step whose column is absent is noted and not applied.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .io_canonical import (DropLog, LightCurveReader, ReadError, ReadInfo, check_bands, coerce_numeric,
    drop_unused_bands, map_bands, normalize_name, read_table, read_text_lines, resolve_object_id)
from .io_ztf import zp_to_ujy_factor
from .preprocess import LightCurveContext, Step, _num

FPBOT_REQUIRED: tuple[str, ...] = ("obsmjd", "filter", "ampl_corr", "ampl_err_corr", "magzp")
#: the columns that identify an fpbot table (format detection)
FPBOT_SIGNATURE: frozenset[str] = frozenset({"obsmjd", "ampl_corr", "magzp"})
_HEADER_KV = re.compile(r"^#\s*([A-Za-z_][\w.]*)\s*=\s*(.*?)\s*$")
LN10_OVER_2P5 = 0.4 * np.log(10.0)


def is_fpbot_table(columns: list[str]) -> bool:
    """Whether the column names are those of an fpbot light curve."""
    return {normalize_name(c) for c in FPBOT_SIGNATURE} <= {normalize_name(c) for c in columns}


def read_fpbot_header(lines: list[str]) -> dict[str, str]:
    """The ``#key=value`` lines before the table (``name``, ``ra``, ``dec`` ...)."""
    out: dict[str, str] = {}
    for line in lines:
        if not line.startswith("#"):
            break
        m = _HEADER_KV.match(line)
        if m and m.group(2) not in ("", "-"):
            out[m.group(1)] = m.group(2)
    return out


def _parse_fpbot(path: Path, object_id: str | None) -> tuple[pd.DataFrame, ReadInfo]:
    """Read an fpbot / BTS forced-photometry CSV (baseline-corrected ``ampl_corr``).

    Needs ``obsmjd, filter, ampl_corr, ampl_err_corr, magzp``; the object id defaults to the
    ``#name=`` header, else the file stem. Flux in µJy from ``ampl_corr`` and ``magzp`` (see
    the module docstring); every other column is kept raw (``pass``, ``infobits`` ... for the
    :func:`fpbot_steps`). Bad input (:class:`ReadError`): empty file, missing column, a row
    with a wrong number of values, a non-numeric value, an unknown filter.
    """
    meta = read_fpbot_header(read_text_lines(path)) if not path.read_bytes()[:4] == b"PAR1" else {}
    df, lines, kind = read_table(path)
    by_norm = {normalize_name(c): c for c in df.columns}
    missing = [c for c in FPBOT_REQUIRED if normalize_name(c) not in by_norm]
    if missing:
        raise ReadError(path, None, f"missing required column(s) {missing} of an fpbot light curve "
                                    f"(baseline-corrected amplitudes); the file has {list(df.columns)}")
    df = df.rename(columns={by_norm[normalize_name(c)]: c for c in (*FPBOT_REQUIRED, "magzpunc") if normalize_name(c) in by_norm})
    df = df.drop(columns=[c for c in df.columns if c == "" or c.startswith("Unnamed")])  # the pandas index
    if object_id is None and "name" in meta:
        object_id = meta["name"]
    df, lines, oid, _ = resolve_object_id(df, None, object_id, path, lines, kind)
    numeric = [c for c in ("obsmjd", "ampl_corr", "ampl_err_corr", "magzp", "magzpunc") if c in df.columns]
    coerce_numeric(df, numeric, lines, path, kind)
    info = ReadInfo(str(path), "fpbot", oid, {"ZTF": len(df)}, DropLog(), meta)
    band_raw = df["filter"].astype(str).str.strip()
    band = map_bands(band_raw)
    check_bands(band, pd.Series("ZTF", index=df.index), band_raw, lines, path, kind)
    factor = zp_to_ujy_factor(df["magzp"].to_numpy(float))
    ampl, ampl_err = df["ampl_corr"].to_numpy(float), df["ampl_err_corr"].to_numpy(float)
    zp_unc = df["magzpunc"].to_numpy(float) if "magzpunc" in df.columns else np.zeros(len(df))
    canon = pd.DataFrame({
        "object_id": oid, "survey": "ZTF", "band": band.to_numpy(), "mjd": df["obsmjd"].to_numpy(float),
        "flux": ampl * factor,
        "flux_err": factor * np.sqrt(ampl_err**2 + (ampl * LN10_OVER_2P5 * np.nan_to_num(zp_unc)) ** 2),
    }, index=df.index)
    out = pd.concat([canon, df.drop(columns=["obsmjd", "filter"])], axis=1)
    i_band = (out["band"] == "i").to_numpy()
    if i_band.any():
        info.log.add("read", "ztf_i_band", "ZTF", oid, epochs=int(i_band.sum()),
                     reason="ZTF_i epochs are not used (the paper uses g and r)", file=path)
        out = out[~i_band]
    return drop_unused_bands(out, info, path), info


read_fpbot = LightCurveReader("fpbot", _parse_fpbot)


# ------------------------------------------------------------------ quality steps
@dataclass
class FpbotPassStep(Step):
    """Keep epochs fpbot marks as taken in good conditions (``pass == 1``)."""

    name: str = "fpbot_pass"
    surveys: tuple[str, ...] = ("ZTF",)

    def columns(self) -> tuple[str, ...]:
        return ("pass",)

    def keep(self, lc: pd.DataFrame, ctx: LightCurveContext) -> np.ndarray:
        return _num(lc, "pass") == 1

    def reason(self, lc: pd.DataFrame, ctx: LightCurveContext) -> str:
        return "fpbot pass != 1 (poor observing conditions)"


@dataclass
class FpbotInfobitsStep(Step):
    """Keep epochs with ``infobits == 0`` (no processing warning; off by default)."""

    name: str = "fpbot_infobits"
    surveys: tuple[str, ...] = ("ZTF",)
    enabled: bool = False

    def columns(self) -> tuple[str, ...]:
        return ("infobits",)

    def keep(self, lc: pd.DataFrame, ctx: LightCurveContext) -> np.ndarray:
        return _num(lc, "infobits") == 0

    def reason(self, lc: pd.DataFrame, ctx: LightCurveContext) -> str:
        return "fpbot infobits != 0"


def fpbot_steps() -> list[Step]:
    """The fpbot quality steps (applied before the paper's steps to fpbot light curves)."""
    return [FpbotPassStep(), FpbotInfobitsStep()]
