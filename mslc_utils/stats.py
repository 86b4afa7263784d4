"""Cadence statistics of canonical light-curve tables, and the paper's numbers to compare with.

Definition (the paper gives its numbers "considering both bands" without more detail; this
is the one used throughout the project):

* a **light curve** is one object in one survey, both bands together;
* its epochs are sorted by ``mjd`` and the consecutive differences taken (so two exposures
  of the same night, in the same or another band, give a difference near 0: they are kept,
  not treated specially);
* the differences of all light curves of a survey are pooled; ``median_cadence_d`` and
  ``std_cadence_d`` are their median and population standard deviation (``ddof=0``);
  the standard deviation is dominated by the seasonal gaps;
* ``median_n_obs`` is the median over light curves of the number of epochs (both bands);
  ``n_objects`` the number of light curves (objects) of the survey.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .schema import SURVEYS

STAT_COLUMNS: tuple[str, ...] = ("median_cadence_d", "std_cadence_d", "median_n_obs", "n_objects")

#: The paper's numbers (Section 2: ZTF 1.13 d / 6.5 d; ATLAS 1.52 d / 11.03 d; Section 4:
#: median light-curve length 952 and 1493 observations). No object counts are compared.
PAPER_CADENCE: pd.DataFrame = pd.DataFrame(
    {
        "median_cadence_d": [1.13, 1.52],
        "std_cadence_d": [6.5, 11.03],
        "median_n_obs": [952.0, 1493.0],
        "n_objects": [39483, 39464],
    },
    index=pd.Index(["ZTF", "ATLAS"], name="survey"),
)


def _require(lightcurves: pd.DataFrame, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in lightcurves.columns]
    if missing:
        raise KeyError(
            f"light-curve table lacks column(s) {missing}; cadence statistics need {list(columns)} "
            "(see mslc_utils.schema)"
        )


def epochs_per_light_curve(lightcurves: pd.DataFrame) -> pd.DataFrame:
    """Number of epochs (both bands) of every light curve: columns ``object_id``, ``survey``, ``n_obs``."""
    _require(lightcurves, ("object_id", "survey"))
    return (
        lightcurves.groupby(["object_id", "survey"], sort=True, observed=True)
        .size()
        .rename("n_obs")
        .reset_index()
    )


def cadence_statistics(lightcurves: pd.DataFrame) -> pd.DataFrame:
    """Per-survey cadence statistics (see the module docstring for the definition).

    Returns a DataFrame indexed by ``survey`` (in the order ``ZTF``, ``ATLAS``, then any
    other survey present) with columns ``median_cadence_d``, ``std_cadence_d``,
    ``median_n_obs``, ``n_objects``. A survey whose light curves all have a single epoch
    has ``nan`` cadence statistics.
    """
    _require(lightcurves, ("object_id", "survey", "mjd"))
    present = list(pd.unique(lightcurves["survey"]))
    surveys = [s for s in SURVEYS if s in present] + sorted(s for s in present if s not in SURVEYS)
    rows = []
    for survey in surveys:
        sub = lightcurves.loc[lightcurves["survey"] == survey, ["object_id", "mjd"]]
        sub = sub.sort_values(["object_id", "mjd"], kind="stable")
        oid = sub["object_id"].to_numpy()
        mjd = sub["mjd"].to_numpy(dtype=float)
        same = oid[1:] == oid[:-1]  # consecutive rows of the same light curve
        diffs = np.diff(mjd)[same]
        n_obs = sub.groupby("object_id", sort=False, observed=True).size().to_numpy()
        rows.append(
            {
                "survey": survey,
                "median_cadence_d": float(np.median(diffs)) if diffs.size else float("nan"),
                "std_cadence_d": float(np.std(diffs)) if diffs.size else float("nan"),
                "median_n_obs": float(np.median(n_obs)),
                "n_objects": int(n_obs.size),
            }
        )
    out = pd.DataFrame(rows, columns=["survey", *STAT_COLUMNS]).set_index("survey")
    out["n_objects"] = out["n_objects"].astype(int)
    return out


def compare_with_paper(stats: pd.DataFrame) -> pd.DataFrame:
    """Side-by-side table of ``stats`` (from :func:`cadence_statistics`) and :data:`PAPER_CADENCE`.

    Rows are (survey, statistic) for the three cadence statistics; columns ``this``,
    ``paper`` and ``ratio`` (this / paper). Surveys absent from either table are left out.
    """
    missing = [c for c in STAT_COLUMNS[:3] if c not in stats.columns]
    if missing:
        raise KeyError(f"stats lacks column(s) {missing}; pass the output of cadence_statistics()")
    rows = []
    for survey in PAPER_CADENCE.index:
        if survey not in stats.index:
            continue
        for col in STAT_COLUMNS[:3]:
            this, paper = float(stats.loc[survey, col]), float(PAPER_CADENCE.loc[survey, col])
            rows.append({"survey": survey, "statistic": col, "this": this, "paper": paper, "ratio": this / paper})
    return pd.DataFrame(rows, columns=["survey", "statistic", "this", "paper", "ratio"]).set_index(
        ["survey", "statistic"]
    )
