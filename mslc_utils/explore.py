"""Data exploration helpers for notebook 01: Table 1, split summaries, example light curves."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .render import BAND_COLORS as _RENDER_BAND_COLORS
from .schema import SURVEY_BANDS
from .taxonomy import CLASS_TO_GROUP, CLASSES, GROUPS, PAPER_COUNTS, TAXONOMY

#: plotting colours of the bands: the image renderer's (re-exported for the notebooks)
BAND_COLORS = _RENDER_BAND_COLORS


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


def _resolve_labels(objects: pd.DataFrame, labels: Sequence[str], substitute: bool = True) -> list[str]:
    """The requested classes, each absent one replaced by a present, not requested class.

    Real data need not hold all 21 classes: a requested class without objects is replaced,
    with a warning, by a present class that is not requested otherwise — of the same group
    (Transient, Stochastic, Periodic) first, in Table 1 order — or left out, with a warning,
    when every present class is already shown. With ``substitute=False`` a missing class
    raises ``ValueError``, as does an object table without objects.
    """
    import warnings

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
                warnings.warn(f"no object of class {lab!r}, and every class present is shown: left out", stacklevel=3)
                continue
            warnings.warn(f"no object of class {lab!r}: showing class {spare[0]!r} instead", stacklevel=3)
            lab = spare[0]
            used.add(lab)
        out.append(lab)
    return out


def pick_examples(
    objects: pd.DataFrame, labels: Sequence[str], seed: int = 0, substitute: bool = True
) -> list[str]:
    """One object id per requested class (seeded choice among that class's objects).

    Missing classes are handled by :func:`_resolve_labels` (substituted with a warning, or
    ``ValueError`` with ``substitute=False``).
    """
    rng = np.random.default_rng(seed)
    out = []
    for lab in _resolve_labels(objects, labels, substitute):
        ids = np.sort(objects.loc[objects["label"] == lab, "object_id"].to_numpy())
        out.append(str(ids[rng.integers(len(ids))]))
    return out


def epochs_per_survey(lightcurves: pd.DataFrame) -> pd.DataFrame:
    """Epochs of every object in each survey: index ``object_id``, one column per survey."""
    counts = lightcurves.groupby(["object_id", "survey"]).size().unstack("survey", fill_value=0)
    return counts.reindex(columns=list(SURVEY_BANDS), fill_value=0)


def pick_representative(
    lightcurves: pd.DataFrame, objects: pd.DataFrame, labels: Sequence[str], substitute: bool = True
) -> list[str]:
    """One *typical, well-sampled* object per requested class, for figures.

    Per class, among objects observed by every survey, the object whose number of epochs in
    each survey is nearest the class median (sum over surveys of ``|log(n / median)|``; ties
    by object id). A random pick can land on a short or sparse light curve that misrepresents
    the class (e.g. an SN Ia with four ATLAS epochs); the median object does not. Classes
    without objects are handled as in :func:`pick_examples`.
    """
    counts = epochs_per_survey(lightcurves)
    label_of = objects.set_index("object_id")["label"]
    out = []
    for lab in _resolve_labels(objects, labels, substitute):
        ids = label_of.index[label_of == lab]
        c = counts.reindex(ids, fill_value=0)
        both = c[(c > 0).all(axis=1)]
        c = both if len(both) else c
        score = np.log((c + 1) / (c.median() + 1)).abs().sum(axis=1)
        frame = pd.DataFrame({"score": score, "oid": c.index.astype(str)}).sort_values(["score", "oid"])
        out.append(str(frame["oid"].iloc[0]))
    return out


#: classes whose light curves are drawn phase-folded as well (a period makes sense for them)
FOLDED_CLASSES: frozenset[str] = frozenset(c for c in CLASSES if CLASS_TO_GROUP[c] == "Periodic")


#: windows (period in days, fractional half-width) masked in the periodogram: nightly
#: sampling makes spurious peaks at 1 day and its harmonics. The yearly alias is *not*
#: masked: long-period variables have true periods near one year.
ALIAS_PERIODS: tuple[tuple[float, float], ...] = ((1.0, 0.01), (0.5, 0.01), (1 / 3, 0.01), (0.25, 0.01))


def lombscargle_power(t: np.ndarray, y: np.ndarray, omegas: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Normalised Lomb–Scargle power at angular frequencies ``omegas`` (as
    ``scipy.signal.lombscargle(t, y, omegas, normalize=True)``; ``y`` should be mean-subtracted).

    The classical time-shift (``τ``) form needs, per frequency, only ``Σ y e^{iωt}`` and
    ``Σ e^{2iωt}`` (``CC - SS`` and ``2 CS``; ``CC + SS = N``): two complex matrix-vector
    products over a block of frequencies. On a uniform grid each row of ``e^{iωt}`` is the
    previous one times ``e^{iΔω t}`` (exact ``cos``/``sin`` again at the start of every
    block, so rounding does not accumulate). SciPy's loop evaluates the trigonometric
    functions for every sum and is ~20x slower on a 2,000-epoch, 50,000-frequency
    periodogram (notebook 01's phase folds).
    """
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    omegas = np.asarray(omegas, dtype=float)
    yy = float(y @ y)
    out = np.zeros(len(omegas))
    if yy == 0.0 or len(omegas) == 0:
        return out
    steps = np.diff(omegas)
    uniform = len(omegas) > 2 and np.allclose(steps, steps[0], rtol=1e-9, atol=0.0)
    step = np.exp(1j * steps[0] * t) if uniform else None
    for lo in range(0, len(omegas), chunk):
        w = omegas[lo:lo + chunk]
        if uniform:
            z = np.empty((len(w), len(t)), dtype=complex)
            z[0] = np.exp(1j * w[0] * t)
            for i in range(1, len(w)):
                np.multiply(z[i - 1], step, out=z[i])
        else:
            z = np.exp(1j * np.multiply.outer(w, t))
        yz = z @ y  # Σ y cos ωt + i Σ y sin ωt
        z2 = (z * z).sum(axis=1)  # Σ cos 2ωt + i Σ sin 2ωt = (CC - SS) + 2i CS
        n = len(t)
        cc = 0.5 * (n + z2.real)
        ss = n - cc
        cs = 0.5 * z2.imag
        two_wtau = np.arctan2(z2.imag, z2.real)  # tan(2ωτ) = Σ sin 2ωt / Σ cos 2ωt
        ct, st = np.cos(two_wtau / 2.0), np.sin(two_wtau / 2.0)
        yc_t = ct * yz.real + st * yz.imag
        ys_t = ct * yz.imag - st * yz.real
        cc_t = ct * ct * cc + 2.0 * ct * st * cs + st * st * ss
        ss_t = st * st * cc - 2.0 * ct * st * cs + ct * ct * ss
        with np.errstate(divide="ignore", invalid="ignore"):
            p = yc_t ** 2 / cc_t + ys_t ** 2 / ss_t
        out[lo:lo + chunk] = np.nan_to_num(p, nan=0.0, posinf=0.0) / yy
    return out


def estimate_period(
    bands: Sequence[tuple[np.ndarray, np.ndarray]],
    min_period: float = 0.05,
    max_period: float | None = None,
    oversample: float = 5.0,
    max_frequencies: int = 50_000,
    mask_aliases: bool = True,
) -> float:
    """Best Lomb–Scargle period (days) of a multi-band light curve.

    ``bands`` holds ``(mjd, flux)`` per band; each band with at least 10 epochs gets a
    normalised Lomb–Scargle periodogram (:func:`lombscargle_power`) (mean subtracted per band: bands
    differ in brightness) and the periodograms are summed. Neither the object table nor real
    data carry periods, so the fold uses the period a scientist would measure; astropy is not
    needed for this. The grid is uniform in frequency from ``1 / max_period`` (default: half
    the longest baseline) to ``1 / min_period``, ``oversample`` points per ``1 / baseline``
    (at most ``max_frequencies``, then refined around the five highest peaks); the daily
    aliases (:data:`ALIAS_PERIODS`) are masked. Eclipsing binaries often peak at half their
    orbital period; the fold then overlays the two eclipses.
    """
    series = []
    for t, y in bands:
        t = np.asarray(t, dtype=float)
        y = np.asarray(y, dtype=float)
        ok = np.isfinite(t) & np.isfinite(y)
        if ok.sum() >= 10 and np.ptp(t[ok]) > 0:
            series.append((t[ok], y[ok]))
    if not series:
        raise ValueError("a period needs a band with at least 10 epochs spread in time")
    t_min = min(t.min() for t, _ in series)
    baseline = max(t.max() for t, _ in series) - t_min
    max_period = baseline / 2 if max_period is None else max_period
    f_lo, f_hi = 1.0 / max_period, 1.0 / min_period
    n = int(min(max_frequencies, max(100, oversample * baseline * (f_hi - f_lo))))
    def periodogram(freqs: np.ndarray) -> np.ndarray:
        power = np.zeros(len(freqs))
        for t, y in series:
            power += lombscargle_power(t - t_min, y - y.mean(), 2 * np.pi * freqs)
        if mask_aliases:
            periods = 1.0 / freqs
            for p0, width in ALIAS_PERIODS:
                power[np.abs(periods / p0 - 1.0) < width] = 0.0
        return power

    freqs = np.linspace(f_lo, f_hi, n)
    power = periodogram(freqs)
    # the capped grid can be coarser than a peak's width (1 / baseline): refine around the
    # five highest coarse peaks on a grid fine enough to phase the whole baseline
    step = freqs[1] - freqs[0]
    best_f, best_p = freqs[int(np.argmax(power))], float(power.max())
    for i in np.argsort(power)[-5:]:
        fine = np.linspace(max(freqs[i] - 2 * step, f_lo), min(freqs[i] + 2 * step, f_hi),
                           int(max(50, 4 * step * baseline * oversample)))
        p = periodogram(fine)
        if p.max() > best_p:
            best_f, best_p = fine[int(np.argmax(p))], float(p.max())
    return float(1.0 / best_f)


def _robust_ylim(ax, flux: np.ndarray) -> None:
    """y-limits from the 0.5–99.5 percentiles (plus a margin): one outlier epoch must not
    flatten the whole light curve."""
    flux = np.asarray(flux, dtype=float)
    flux = flux[np.isfinite(flux)]
    if len(flux) < 5:
        return
    lo, hi = np.percentile(flux, [0.5, 99.5])
    pad = 0.12 * (hi - lo) if hi > lo else 1.0
    ax.set_ylim(lo - pad, hi + pad)


def _band_handles() -> list:
    from matplotlib.lines import Line2D

    return [Line2D([], [], marker="o", ls="", color=BAND_COLORS[b], label=f"{s} {b}")
            for s, bands in SURVEY_BANDS.items() for b in bands]


def plot_example_lightcurves(
    lightcurves: pd.DataFrame, objects: pd.DataFrame, object_ids: Sequence[str], fold: bool = True
) -> Figure:
    """Light curves of the given objects (rows): ZTF and ATLAS (columns) on one shared time
    axis per object (days since the object's first epoch in either survey), and, for
    periodic classes (:data:`FOLDED_CLASSES`), a third panel phase-folded at the
    Lomb–Scargle period of all bands (:func:`estimate_period`). y-limits ignore the most
    extreme 0.5% of epochs at each end, so that one outlier does not flatten the curve. Flux in µJy;
    one band key for the whole figure, above the panels (never over the data).
    """
    ncols = 3 if fold else 2
    fig = Figure(figsize=(4.0 * ncols, 1.9 * len(object_ids) + 0.6), constrained_layout=True)
    axes = fig.subplots(len(object_ids), ncols, squeeze=False)
    labels = objects.set_index("object_id")["label"]
    by_obj = dict(tuple(lightcurves[lightcurves["object_id"].isin(object_ids)].groupby("object_id")))
    for i, oid in enumerate(object_ids):
        lc = by_obj.get(oid, lightcurves.iloc[:0])
        label = labels.get(oid, "?")
        t0 = float(lc["mjd"].min()) if len(lc) else 0.0
        span = float(lc["mjd"].max()) - t0 if len(lc) else 1.0
        for j, (survey, bands) in enumerate(SURVEY_BANDS.items()):
            ax = axes[i, j]
            for band in bands:
                sel = lc[(lc["survey"] == survey) & (lc["band"] == band)]
                ax.errorbar(sel["mjd"] - t0, sel["flux"], yerr=sel["flux_err"], fmt="o", ms=1.5, lw=0.4,
                            color=BAND_COLORS[band], ecolor=BAND_COLORS[band], alpha=0.5)
            _robust_ylim(ax, lc.loc[lc["survey"] == survey, "flux"].to_numpy())
            ax.set_xlim(-0.03 * span, 1.03 * span)  # the same time range for both surveys
            ax.set_title(f"{oid} ({label}) — {survey}", fontsize=8)
            ax.tick_params(labelsize=7)
        axes[i, 0].set_ylabel("flux [µJy]", fontsize=8)
        if fold:
            ax = axes[i, 2]
            if label in FOLDED_CLASSES and len(lc):
                period = estimate_period([(g["mjd"].to_numpy(), g["flux"].to_numpy())
                                          for _, g in lc.groupby(["survey", "band"])])
                for survey, bands in SURVEY_BANDS.items():
                    for band in bands:
                        sel = lc[(lc["survey"] == survey) & (lc["band"] == band)]
                        ax.plot(((sel["mjd"] - t0) / period) % 1.0, sel["flux"], "o", ms=1.2,
                                color=BAND_COLORS[band], alpha=0.4)
                ax.set_title(f"phase-folded, Lomb–Scargle P = {period:.4g} d", fontsize=8)
                _robust_ylim(ax, lc["flux"].to_numpy())
                ax.tick_params(labelsize=7)
            else:
                ax.set_axis_off()
    for j in range(2):
        axes[-1, j].set_xlabel("days since first epoch", fontsize=8)
    if fold:
        axes[-1, 2].set_xlabel("phase", fontsize=8)
    fig.legend(handles=_band_handles(), loc="outside upper center", ncols=4, fontsize=8, markerscale=2,
               frameon=False)
    return fig


def plot_filtering_report(report) -> Figure:
    """Bar chart of a :class:`~mslc_utils.ingest.FilteringReport`: epochs removed per rule
    and survey (log scale: one rule can remove orders of magnitude more than another)."""
    rem = report.rules[report.rules["removed"].astype(bool)]
    fig = Figure(figsize=(8, 0.35 * max(len(rem), 2) + 1.2), constrained_layout=True)
    ax = fig.subplots()
    if rem.empty:
        ax.text(0.5, 0.5, "no epoch removed", ha="center", va="center")
        ax.set_axis_off()
        return fig
    col = "epochs_removed"
    names = [f"{r.stage}: {r.rule} ({r.survey})" for r in rem.itertuples(index=False)]
    values = rem[col].fillna(0).to_numpy(dtype=float)
    colors = ["#4477AA" if s == "ZTF" else "#EE7733" if s == "ATLAS" else "#999999" for s in rem["survey"]]
    ax.barh(names, np.maximum(values, 0.8), color=colors)
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("epochs removed (log scale)")
    ax.tick_params(labelsize=7)
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


def table1_comparison(counts: pd.DataFrame) -> pd.DataFrame:
    """Table 1 class by class beside the paper: counts and shares of the data set (%).

    ``counts`` is :func:`class_counts`. The shares matter when the data set is smaller than
    the paper's (the quick profile): the class *proportions* should match.
    """
    out = counts[["group", "n_objects", "paper_n_objects"]].copy()
    out["share [%]"] = (100 * out["n_objects"] / max(out["n_objects"].sum(), 1)).round(1)
    out["paper share [%]"] = (100 * out["paper_n_objects"] / out["paper_n_objects"].sum()).round(1)
    return out.rename(columns={"n_objects": "objects", "paper_n_objects": "paper objects"})


def examples_dir() -> "Path | None":
    """The real example files shipped with the package (``mslc_utils/examples/``, holding a
    ``labels.csv`` and ``ztf/`` / ``atlas/``), or ``None`` when this checkout has none."""
    from pathlib import Path

    d = Path(__file__).resolve().parent / "examples"
    return d if (d / "labels.csv").is_file() else None


def example_filtering_report(out_dir) -> tuple[object | None, str | None]:
    """Ingest the shipped real example files (:func:`examples_dir`) into ``out_dir`` and
    return ``(FilteringReport, source description)``; ``(None, None)`` without example files.

    Notebook 01 shows this report in the simulated profile, where there are no cuts to report:
    it shows what the ingestion does on real files, at the smallest scale.
    """
    from .ingest import build_dataset, find_labels

    d = examples_dir()
    if d is None:
        return None, None
    _, rep = build_dataset(find_labels(d), d, out_dir=out_dir, n_jobs=1, progress=False, on_error="drop")
    return rep, "the real example files in mslc_utils/examples/"


def data_summary(
    objects: pd.DataFrame, counts: pd.DataFrame, cadence: pd.DataFrame, splits_table: pd.DataFrame, simulated: bool
) -> str:
    """Notebook 01's closing Markdown, computed from its tables (never stale)."""
    by_group = counts.groupby("group", sort=False)["n_objects"].sum()
    share = 100 * counts["n_objects"] / max(counts["n_objects"].sum(), 1)
    paper_share = 100 * counts["paper_n_objects"] / counts["paper_n_objects"].sum()
    worst = (share - paper_share).abs().idxmax()
    test = splits_table.drop(index="total", errors="ignore")["test"]
    few = test[test < 10]
    ratio = cadence["ratio"]
    lines = [
        f"- {len(objects)} objects ({'simulated' if simulated else 'real data'}): "
        + ", ".join(f"{g} {n}" for g, n in by_group.items())
        + f". Class shares follow the paper's within {abs(share[worst] - paper_share[worst]):.1f} percentage points "
        f"(largest gap: {worst}, {share[worst]:.1f}% vs {paper_share[worst]:.1f}%).",
        f"- Largest class {counts['n_objects'].idxmax()} ({counts['n_objects'].max()}), smallest "
        f"{counts['n_objects'].idxmin()} ({counts['n_objects'].min()}): an imbalance of "
        f"{counts['n_objects'].max() / max(counts['n_objects'].min(), 1):.0f} to 1, which is why the paper reports macro-F1.",
        "- Cadence statistics are within "
        f"{100 * (ratio.min() - 1):+.0f}% to {100 * (ratio.max() - 1):+.0f}% of the paper's "
        f"(median epochs per light curve: ZTF {cadence.loc[('ZTF', 'median_n_obs'), 'this']:.0f} vs "
        f"{cadence.loc[('ZTF', 'median_n_obs'), 'paper']:.0f}, ATLAS {cadence.loc[('ATLAS', 'median_n_obs'), 'this']:.0f} vs "
        f"{cadence.loc[('ATLAS', 'median_n_obs'), 'paper']:.0f}).",
        f"- {len(few)} of {len(test)} classes have fewer than 10 test objects"
        + (f" ({', '.join(f'{c} {n}' for c, n in few.items())}): their test recall is coarse." if len(few) else "."),
    ]
    return "\n".join(lines)
