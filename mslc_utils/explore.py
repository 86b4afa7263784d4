"""Data exploration helpers for notebook 01: Table 1, split summaries, example light curves."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .schema import SURVEY_BANDS
from .taxonomy import CLASS_TO_GROUP, CLASSES, GROUPS, PAPER_COUNTS, TAXONOMY

#: plotting colours of the bands, the same as the image renderer's
BAND_COLORS: dict[str, str] = {"g": "#00FF7F", "r": "#FF007F", "c": "#007FFF", "o": "#FF7F00"}


def class_counts(objects: pd.DataFrame) -> pd.DataFrame:
    """Objects per class in Table 1 order, with group and the paper's ZTF count."""
    n = objects["label"].value_counts().reindex(CLASSES, fill_value=0)
    return pd.DataFrame(
        {
            "group": [c.group for c in TAXONOMY],
            "n_objects": n.to_numpy(),
            "paper_n_objects": [PAPER_COUNTS[c] for c in CLASSES],
        },
        index=pd.Index(CLASSES, name="class"),
    )


def table1(objects: pd.DataFrame) -> pd.DataFrame:
    """Table 1 in the paper's layout: one column per group, cells ``"Class (count)"``."""
    counts = class_counts(objects)
    cols = {}
    for group in GROUPS:
        sub = counts[counts["group"] == group]
        cols[group] = [f"{c} ({n})" for c, n in zip(sub.index, sub["n_objects"])]
    depth = max(len(v) for v in cols.values())
    return pd.DataFrame({g: v + ["-"] * (depth - len(v)) for g, v in cols.items()})


def split_summary(splits: pd.DataFrame) -> pd.DataFrame:
    """Objects per class in the test set and in each validation fold."""
    part = np.where(splits["fold"] < 0, "test", "fold " + splits["fold"].astype(str))
    table = pd.crosstab(splits["label"], part).reindex(CLASSES, fill_value=0)
    table.index.name = "class"
    table.columns.name = None
    table.loc["total"] = table.sum()
    return table


def survey_coverage(lightcurves: pd.DataFrame, objects: pd.DataFrame) -> pd.DataFrame:
    """Per survey: objects with a light curve, objects without one, epochs, epochs per band."""
    rows = {}
    for survey, bands in SURVEY_BANDS.items():
        lc = lightcurves[lightcurves["survey"] == survey]
        have = lc["object_id"].nunique()
        per_band = ", ".join(f"{b}: {int((lc['band'] == b).sum())}" for b in bands)
        rows[survey] = {
            "objects": int(have),
            "objects_missing": int(len(objects) - have),
            "epochs": int(len(lc)),
            "epochs_per_band": per_band,
            "detected_fraction": round(float(lc["detected"].mean()), 3) if len(lc) else float("nan"),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def pick_examples(
    objects: pd.DataFrame, labels: Sequence[str], seed: int = 0, substitute: bool = True
) -> list[str]:
    """One object id per requested class (seeded choice among that class's objects).

    Real data need not hold all 21 classes: a requested class without objects is replaced,
    with a warning, by a present class that is not requested otherwise — of the same group
    (Transient, Stochastic, Periodic) first, in Table 1 order — or left out, with a warning,
    when every present class is already shown. With ``substitute=False`` a missing class
    raises ``ValueError``, as does an object table without objects.
    """
    import warnings

    rng = np.random.default_rng(seed)
    present = [c for c in CLASSES if (objects["label"] == c).any()]
    used = set(labels)
    out = []
    for lab in labels:
        if lab not in present:
            spare = [c for c in present if c not in used]
            spare = [c for c in spare if CLASS_TO_GROUP[c] == CLASS_TO_GROUP.get(lab)] or spare
            if not substitute or not present:
                raise ValueError(f"no object of class {lab!r} in the object table (classes present: {present})")
            if not spare:
                warnings.warn(f"no object of class {lab!r}, and every class present is shown: left out", stacklevel=2)
                continue
            warnings.warn(f"no object of class {lab!r}: showing class {spare[0]!r} instead", stacklevel=2)
            lab = spare[0]
            used.add(lab)
        ids = np.sort(objects.loc[objects["label"] == lab, "object_id"].to_numpy())
        out.append(str(ids[rng.integers(len(ids))]))
    return out


def plot_example_lightcurves(
    lightcurves: pd.DataFrame, objects: pd.DataFrame, object_ids: Sequence[str]
) -> Figure:
    """Light curves of the given objects (rows) in ZTF and ATLAS (columns), flux in µJy."""
    fig = Figure(figsize=(10, 2.0 * len(object_ids)), constrained_layout=True)
    axes = fig.subplots(len(object_ids), 2, squeeze=False)
    labels = objects.set_index("object_id")["label"]
    by_obj = dict(tuple(lightcurves[lightcurves["object_id"].isin(object_ids)].groupby("object_id")))
    for i, oid in enumerate(object_ids):
        lc = by_obj.get(oid, lightcurves.iloc[:0])
        for j, (survey, bands) in enumerate(SURVEY_BANDS.items()):
            ax = axes[i, j]
            for band in bands:
                sel = lc[(lc["survey"] == survey) & (lc["band"] == band)]
                ax.errorbar(
                    sel["mjd"], sel["flux"], yerr=sel["flux_err"], fmt="o", ms=1.5, lw=0.5,
                    color=BAND_COLORS[band], ecolor=BAND_COLORS[band], alpha=0.6, label=band,
                )
            ax.set_title(f"{oid} ({labels.get(oid, '?')}) — {survey}", fontsize=9)
            ax.set_ylabel("flux [µJy]", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=7, loc="upper right", markerscale=3)
        axes[i, 0].set_xlabel("MJD", fontsize=8)
        axes[i, 1].set_xlabel("MJD", fontsize=8)
    return fig


def save_table(df: pd.DataFrame, path_stem, index: bool = True) -> None:
    """Write a table as ``<stem>.csv`` and ``<stem>.md`` (Markdown, for the README)."""
    from pathlib import Path

    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(stem.with_suffix(".csv"), index=index)
    stem.with_suffix(".md").write_text(to_markdown(df, index=index) + "\n")


def to_markdown(df: pd.DataFrame, index: bool = True) -> str:
    """A GitHub-flavoured Markdown table (no dependency on ``tabulate``)."""
    frame = df.reset_index() if index else df
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    sep = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, sep, *body])
