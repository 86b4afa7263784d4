"""The paper's results from saved artifacts: Table 2, Figure 4 and the Appendix C comparison.

Everything here **reads** the per-fold artifacts of the contract
(``OUT_DIR/<model id>/fold_k/predictions_<split>.parquet``) and never trains anything.
Metrics come from scikit-learn on the saved ``y_true`` / ``y_pred`` columns:
``f1_score(average="macro", labels=range(21), zero_division=0)`` and
``confusion_matrix(normalize="true", labels=range(21))``.

Spread over folds: the standard deviation is the **sample** standard deviation
(``ddof=1``, :data:`STD_DDOF`) over the five fold models — the paper does not say which
it used; ``ddof=0`` would be about 11% smaller for five folds.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, f1_score

from . import artifacts as A
from .taxonomy import CLASSES, N_CLASSES, group_boundaries

log = logging.getLogger(__name__)

#: ddof of every "mean ± std over folds" in this project (Table 2, Table 3, Figure 4)
STD_DDOF: int = 1
#: Figure 4 prints a cell's standard deviation when it is at least this large
STD_PRINT_THRESHOLD: float = 0.05
NOT_RUN = "not run"


@dataclass(frozen=True)
class ModelRow:
    """One row of Table 2: model id (artifact directory), paper numbering, description and
    the paper's published test macro-F1 (mean, std in %)."""

    model_id: str
    number: str
    description: str
    paper_mean: float
    paper_std: float


#: Table 2 of the paper, in its row order.
TABLE2_ROWS: tuple[ModelRow, ...] = (
    ModelRow("atat_ztf", "1", "ATAT (LC) (ZTF only)", 57.0, 1.4),
    ModelRow("atat_atlas", "2", "ATAT (LC) (ATLAS only)", 49.6, 1.9),
    ModelRow("swin_ztf", "3", "SwinV2 (ZTF only)", 64.9, 1.6),
    ModelRow("swin_atlas", "4", "SwinV2 (ATLAS only)", 54.0, 1.3),
    ModelRow("avg_3_4", "3+4", "Averaged probabilities", 68.9, 1.3),
    ModelRow("brf_3_4", "3+4", "BRF on embeddings", 68.7, 0.9),
    ModelRow("swin_stacked", "5", "SwinV2 (stacked input)", 59.0, 1.3),
    ModelRow("ms_swin_linear", "6", "MS-SwinV2-Linear", 69.9, 1.7),
    ModelRow("ms_swin_mlp", "7", "MS-SwinV2-MLP", 69.8, 1.5),
)
MODEL_ROWS: dict[str, ModelRow] = {r.model_id: r for r in TABLE2_ROWS}

#: Figure 4 panels (a)-(d): Model 3, Model 4, averaged 3+4, Model 6.
FIGURE4_MODELS: tuple[str, ...] = ("swin_ztf", "swin_atlas", "avg_3_4", "ms_swin_linear")
FIGURE4_TITLES: dict[str, str] = {
    "swin_ztf": "(a) SwinV2 (ZTF only)",
    "swin_atlas": "(b) SwinV2 (ATLAS only)",
    "avg_3_4": "(c) Averaged probabilities (3+4)",
    "ms_swin_linear": "(d) MS-SwinV2-Linear",
}

#: The paper's Appendix C comparison with the ZTF-only model, as stated in its text (the
#: averaged-probabilities sentence names 17 higher, 4 lower and 1 equal class: 22 of 21).
PAPER_APPENDIX_C: dict[str, str] = {
    "swin_atlas": "higher 2 (RSCVn, DSCT), lower 19",
    "avg_3_4": "higher 17, lower 4 (SESN, SLSN, TDE, Microlensing), equal 1 (EB/EW)",
    "ms_swin_linear": "higher 19 (incl. SESN and SLSN, +3 points); no improvement for TDE, Microlensing",
}

#: Per-class recall of the paper's Appendix C text (fractions), where it states them.
PAPER_RECALL_NOTES: dict[str, dict[str, float]] = {
    "swin_ztf": {"SNIIn": 0.36, "SLSN": 0.26},
    "swin_atlas": {"SESN": 0.19, "SLSN": 0.25, "TDE": 0.08, "Microlensing": 0.07},
}


# ----------------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------------
def macro_f1(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Macro-F1 over the 21 classes (``labels=range(21)``, ``zero_division=0``)."""
    return float(
        f1_score(y_true, y_pred, labels=list(range(N_CLASSES)), average="macro", zero_division=0)
    )


def recall_confusion(y_true: Sequence[int], y_pred: Sequence[int]) -> np.ndarray:
    """Row-normalised 21 x 21 confusion matrix (row = true class; diagonal = recall).

    A class absent from ``y_true`` gets a row of zeros (scikit-learn's convention).
    """
    return confusion_matrix(y_true, y_pred, labels=list(range(N_CLASSES)), normalize="true")


def mean_std(values: Iterable[float], ddof: int = STD_DDOF) -> tuple[float, float]:
    """Mean and standard deviation (``ddof``; 0.0 for a single value)."""
    v = np.asarray(list(values), dtype=float)
    if len(v) == 0:
        return float("nan"), float("nan")
    std = float(np.std(v, ddof=ddof)) if len(v) > ddof else 0.0
    return float(np.mean(v)), std


def format_pm(mean: float, std: float, scale: float = 100.0, decimals: int = 1) -> str:
    """``"65.7 ± 0.5"`` from fractions (``scale=100`` gives percent)."""
    return f"{mean * scale:.{decimals}f} ± {std * scale:.{decimals}f}"


# ----------------------------------------------------------------------------------------
# Reading artifacts
# ----------------------------------------------------------------------------------------
def available_folds(out_dir: str | Path, model_id: str, split: str = "test") -> list[int]:
    """Complete folds of ``model_id`` (``COMPLETE`` marker) that hold
    ``predictions_<split>.parquet``, sorted."""
    return [
        k
        for k in A.completed_folds(out_dir, model_id)
        if (A.fold_dir(out_dir, model_id, k) / f"predictions_{split}.parquet").exists()
    ]


def read_predictions(out_dir: str | Path, model_id: str, fold: int, split: str = "test") -> pd.DataFrame:
    """One fold's predictions (``object_id``, ``label``, ``y_true``, ``y_pred``, ``prob_*``)."""
    df = A.load_predictions(out_dir, model_id, fold, split)
    missing = [c for c in ("object_id", "y_true", "y_pred") if c not in df.columns]
    if missing:
        raise ValueError(f"{A.fold_dir(out_dir, model_id, fold)}: predictions_{split}.parquet lacks column(s) {missing}")
    return df


def fold_scores(
    out_dir: str | Path, model_id: str, split: str = "test", folds: Sequence[int] | None = None
) -> pd.DataFrame:
    """Macro-F1 of every available fold of a model: columns ``fold``, ``macro_f1``, ``n``."""
    folds = available_folds(out_dir, model_id, split) if folds is None else list(folds)
    rows = []
    for k in folds:
        df = read_predictions(out_dir, model_id, k, split)
        rows.append({"fold": k, "macro_f1": macro_f1(df["y_true"], df["y_pred"]), "n": len(df)})
    return pd.DataFrame(rows, columns=["fold", "macro_f1", "n"])


# ----------------------------------------------------------------------------------------
# Table 2
# ----------------------------------------------------------------------------------------
def table2(
    out_dir: str | Path,
    rows: Sequence[ModelRow] = TABLE2_ROWS,
    split: str = "test",
    ddof: int = STD_DDOF,
) -> pd.DataFrame:
    """Table 2: test macro-F1 mean ± std (%) over folds, beside the paper's numbers.

    Columns: ``MODEL``, ``DESCRIPTION``, ``F1-SCORE`` (ours, ``"mean ± std"`` or
    ``"not run"``), ``paper F1``, ``n_folds``, ``f1_mean``, ``f1_std`` (percent; NaN when not
    run), ``model_id``. A model without artifacts is a "not run" row, never an error.
    """
    out = []
    for r in rows:
        scores = fold_scores(out_dir, r.model_id, split)
        if len(scores):
            m, s = mean_std(scores["macro_f1"], ddof=ddof)
            ours = format_pm(m, s)
            m, s = 100 * m, 100 * s
        else:
            m = s = float("nan")
            ours = NOT_RUN
        out.append(
            {
                "MODEL": r.number,
                "DESCRIPTION": r.description,
                "F1-SCORE": ours,
                "paper F1": f"{r.paper_mean:.1f} ± {r.paper_std:.1f}",
                "n_folds": int(len(scores)),
                "f1_mean": m,
                "f1_std": s,
                "model_id": r.model_id,
            }
        )
    return pd.DataFrame(out)


# ----------------------------------------------------------------------------------------
# Tables on disk
# ----------------------------------------------------------------------------------------
def to_markdown(df: pd.DataFrame, floatfmt: str = ".1f") -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""

    def cell(v: object) -> str:
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else format(float(v), floatfmt)
        return str(v).replace("|", "\\|")

    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(cell(v) for v in row.tolist()) + " |")
    return "\n".join(lines) + "\n"


def write_table(df: pd.DataFrame, directory: str | Path, stem: str, markdown_columns: Sequence[str] | None = None) -> dict[str, Path]:
    """Write ``<stem>.csv`` (all columns) and ``<stem>.md`` (``markdown_columns`` or all)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    csv = directory / f"{stem}.csv"
    md = directory / f"{stem}.md"
    df.to_csv(csv, index=False)
    md.write_text(to_markdown(df[list(markdown_columns)] if markdown_columns else df))
    return {"csv": csv, "md": md}


def save_table2(out_dir: str | Path, figures_dir: str | Path, stem: str = "table2") -> tuple[pd.DataFrame, dict[str, Path]]:
    """Compute Table 2 and save it as CSV and Markdown in ``figures_dir``."""
    t = table2(out_dir)
    paths = write_table(t, figures_dir, stem, ["MODEL", "DESCRIPTION", "F1-SCORE", "paper F1", "n_folds"])
    return t, paths


# ----------------------------------------------------------------------------------------
# Figure 4: confusion matrices
# ----------------------------------------------------------------------------------------
def fold_confusions(out_dir: str | Path, model_id: str, split: str = "test") -> np.ndarray:
    """Row-normalised confusion matrices of every available fold: ``(n_folds, 21, 21)``."""
    folds = available_folds(out_dir, model_id, split)
    mats = [
        recall_confusion(df["y_true"], df["y_pred"])
        for df in (read_predictions(out_dir, model_id, k, split) for k in folds)
    ]
    return np.stack(mats) if mats else np.zeros((0, N_CLASSES, N_CLASSES))


def confusion_mean_std(mats: np.ndarray, ddof: int = STD_DDOF) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over folds of stacked confusion matrices."""
    if len(mats) == 0:
        raise ValueError("no confusion matrices (no completed folds)")
    std = mats.std(axis=0, ddof=ddof) if len(mats) > ddof else np.zeros_like(mats[0])
    return mats.mean(axis=0), std


#: Figure 4 writes a number only in cells whose mean recall is at least this large (the
#: paper's matrices leave near-empty cells blank, so that the structure stays readable)
ANNOTATE_THRESHOLD: float = 0.05


def confusion_annotations(
    mean: np.ndarray,
    std: np.ndarray,
    threshold: float = STD_PRINT_THRESHOLD,
    annotate_threshold: float = ANNOTATE_THRESHOLD,
) -> np.ndarray:
    """Cell texts: ``"0.85"`` where the mean is at least ``annotate_threshold`` (else empty)
    and, where also ``std >= threshold``, a second line ``"±0.07"``."""
    ann = np.full(mean.shape, "", dtype=object)
    for idx in np.ndindex(mean.shape):
        if mean[idx] < annotate_threshold:
            continue
        txt = f"{mean[idx]:.2f}"
        if std[idx] >= threshold:
            txt += f"\n±{std[idx]:.2f}"
        ann[idx] = txt
    return ann


def _label_groups(ax) -> None:
    """Write the three group names (Transient, Stochastic, Periodic) outside the matrix,
    centred on their blocks, above the top and left of the class names."""
    from .taxonomy import GROUPS

    edges = [0, *group_boundaries(), N_CLASSES]
    for name, lo, hi in zip(GROUPS, edges[:-1], edges[1:]):
        mid = (lo + hi) / 2
        ax.annotate(name, xy=(mid, 0), xycoords="data", xytext=(0, 4), textcoords="offset points",
                    ha="center", va="bottom", fontsize=9, fontweight="bold", annotation_clip=False)


def plot_confusion(ax, mean: np.ndarray, std: np.ndarray, title: str, annot_size: float = 6.0) -> None:
    """One Figure 4 panel on ``ax``: heatmap of ``mean`` (colour = recall, 0–1), numbers in
    cells ≥ :data:`ANNOTATE_THRESHOLD`, black lines between the three groups, group names."""
    import seaborn as sns

    sns.heatmap(
        mean,
        ax=ax,
        vmin=0.0,
        vmax=1.0,
        cmap="Blues",
        annot=confusion_annotations(mean, std),
        fmt="",
        annot_kws={"fontsize": annot_size},
        cbar=False,
        square=True,
        xticklabels=CLASSES,
        yticklabels=CLASSES,
        linewidths=0.0,
    )
    for b in group_boundaries():
        ax.axhline(b, color="black", linewidth=1.2)
        ax.axvline(b, color="black", linewidth=1.2)
    _label_groups(ax)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    ax.set_title(title, pad=30, fontsize=13)
    ax.tick_params(axis="both", labelsize=8)


def figure4_figure(out_dir: str | Path, models: Sequence[str] = FIGURE4_MODELS, split: str = "test"):
    """Figure 4 as a :class:`matplotlib.figure.Figure` (not saved): 2 x 2 panels of mean
    recall confusion matrices, one shared colour bar. A model without artifacts gets a panel
    saying "not run". The number of folds is not in the titles (it is in the caption)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    n = len(models)
    ncols = 2 if n > 1 else 1
    nrows = int(np.ceil(n / ncols))
    fig = Figure(figsize=(9.5 * ncols + 1.0, 9.5 * nrows), constrained_layout=True)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, model_id in zip(axes.ravel(), models):
        title = FIGURE4_TITLES.get(model_id, model_id)
        mats = fold_confusions(out_dir, model_id, split)
        if len(mats) == 0:
            ax.text(0.5, 0.5, f"{title}\n{NOT_RUN}", ha="center", va="center", fontsize=14)
            ax.set_axis_off()
            continue
        mean, std = confusion_mean_std(mats)
        plot_confusion(ax, mean, std, title)
    for ax in axes.ravel()[n:]:
        ax.set_axis_off()
    cbar = fig.colorbar(ScalarMappable(Normalize(0, 1), cmap="Blues"), ax=axes.ravel().tolist(), shrink=0.5,
                        pad=0.01, aspect=40)
    cbar.set_label("recall (fraction of the true class), mean over folds")
    return fig


def figure4(
    out_dir: str | Path,
    figures_dir: str | Path,
    models: Sequence[str] = FIGURE4_MODELS,
    stem: str = "figure4",
    split: str = "test",
    show: bool | None = None,
) -> dict[str, Path]:
    """Figure 4 (:func:`figure4_figure`) saved as PNG and PDF in ``figures_dir`` and shown
    inline in a notebook (:func:`mslc_utils.figures.show_and_save`)."""
    from .figures import show_and_save

    figures_dir = Path(figures_dir)
    fig = figure4_figure(out_dir, models, split)
    return show_and_save(fig, figures_dir / stem, ("png", "pdf"), dpi=150, inline_dpi=60, display=show)


# ----------------------------------------------------------------------------------------
# Appendix C: per-class recall
# ----------------------------------------------------------------------------------------
def per_class_recall(out_dir: str | Path, models: Sequence[str], split: str = "test") -> pd.DataFrame:
    """Mean (over folds) recall of every class: index = classes (Table 1 order), one column
    per model that has artifacts (models not run are left out)."""
    cols = {}
    for model_id in models:
        mats = fold_confusions(out_dir, model_id, split)
        if len(mats):
            cols[model_id] = np.diagonal(mats.mean(axis=0)).copy()
    return pd.DataFrame(cols, index=pd.Index(CLASSES, name="class"))


def recall_comparison(recall: pd.DataFrame, reference: str = "swin_ztf", decimals: int = 2) -> pd.DataFrame:
    """Each model's per-class recall against ``reference``: how many classes higher, lower,
    equal, and which. Recalls are compared after rounding to ``decimals`` (as displayed in
    Figure 4), so "equal" means equal as printed. Column ``paper``: the paper's statement
    for that model (:data:`PAPER_APPENDIX_C`), when the reference is ``swin_ztf``.
    """
    if reference not in recall.columns:
        raise KeyError(f"reference model {reference!r} has no recall column (models: {list(recall.columns)})")
    ref = recall[reference].round(decimals)
    rows = []
    for model_id in recall.columns:
        if model_id == reference:
            continue
        r = recall[model_id].round(decimals)
        higher = list(r.index[r > ref])
        lower = list(r.index[r < ref])
        equal = list(r.index[r == ref])
        rows.append(
            {
                "model_id": model_id,
                "model": MODEL_ROWS[model_id].description if model_id in MODEL_ROWS else model_id,
                "n_higher": len(higher),
                "n_lower": len(lower),
                "n_equal": len(equal),
                "higher": ", ".join(higher),
                "lower": ", ".join(lower),
                "equal": ", ".join(equal),
                "paper": PAPER_APPENDIX_C.get(model_id, "") if reference == "swin_ztf" else "",
            }
        )
    return pd.DataFrame(
        rows, columns=["model_id", "model", "n_higher", "n_lower", "n_equal", "higher", "lower", "equal", "paper"]
    )


#: classes with fewer test objects than this get no Appendix C sentence: their recall can
#: only take a few values (0, 50 or 100% with two objects) and is flagged, not a finding
MIN_TEST_OBJECTS: int = 10


def test_class_counts(out_dir: str | Path, models: Sequence[str], split: str = "test") -> pd.Series:
    """Objects per class in the ``split`` set (index = classes in Table 1 order), read from
    the first model with predictions (every model is scored on the same test set)."""
    for model_id in models:
        folds = available_folds(out_dir, model_id, split)
        if folds:
            y = read_predictions(out_dir, model_id, folds[0], split)["y_true"]
            counts = np.bincount(np.asarray(y, dtype=int), minlength=N_CLASSES)
            return pd.Series(counts, index=pd.Index(CLASSES, name="class"), name=f"n_{split}")
    return pd.Series(np.zeros(N_CLASSES, dtype=int), index=pd.Index(CLASSES, name="class"), name=f"n_{split}")


def recall_table(recall: pd.DataFrame, n_test: pd.Series, min_objects: int = MIN_TEST_OBJECTS) -> pd.DataFrame:
    """Per-class recall in % (one decimal) beside the number of test objects of each class,
    and a column ``few test objects`` (True below ``min_objects``)."""
    out = (100 * recall).round(1)
    out.insert(0, "n_test", n_test.reindex(out.index).astype(int))
    out[f"fewer than {min_objects}"] = out["n_test"] < min_objects
    return out


def recall_statements(
    recall: pd.DataFrame,
    low: float = 0.25,
    high: float = 0.50,
    reference: str = "swin_ztf",
    n_test: pd.Series | None = None,
    min_objects: int = MIN_TEST_OBJECTS,
) -> list[str]:
    """Appendix C style sentences computed from ``recall`` (fractions), one list item each.

    With ``n_test``, classes with fewer than ``min_objects`` test objects are left out of
    every sentence (and named once, first): their recall is too coarse to be a finding.
    """
    out = []
    if n_test is not None:
        few = [c for c in recall.index if n_test.get(c, 0) < min_objects]
        if few:
            out.append(
                f"Not interpreted (fewer than {min_objects} test objects): "
                + ", ".join(f"{c} ({int(n_test.get(c, 0))})" for c in few) + "."
            )
            recall = recall.drop(index=few)
    for model_id in recall.columns:
        name = MODEL_ROWS[model_id].description if model_id in MODEL_ROWS else model_id
        r = recall[model_id]
        below = [f"{c} ({100 * v:.0f}%)" for c, v in r.items() if v < low]
        mid = [f"{c} ({100 * v:.0f}%)" for c, v in r.items() if low <= v < high]
        n_high = int((r >= high).sum())
        out.append(
            f"{name}: below {100 * low:.0f}% recall for: {', '.join(below) if below else 'none'}; "
            f"between {100 * low:.0f}% and {100 * high:.0f}% for: {', '.join(mid) if mid else 'none'}; "
            f"{n_high} of {len(r)} classes at {100 * high:.0f}% or higher."
        )
    if reference in recall.columns:
        comp = recall_comparison(recall, reference)
        ref_name = MODEL_ROWS[reference].description if reference in MODEL_ROWS else reference
        for _, c in comp.iterrows():
            out.append(
                f"{c['model']} vs {ref_name}: recall higher in {c['n_higher']} of {len(recall)} classes, "
                f"lower in {c['n_lower']} ({c['lower'] or 'none'}), equal in {c['n_equal']} "
                f"({c['equal'] or 'none'})."
            )
    return out


def save_appendix_c(
    out_dir: str | Path,
    figures_dir: str | Path,
    models: Sequence[str] | None = None,
    reference: str = "swin_ztf",
) -> dict[str, object]:
    """Write the Appendix C tables: per-class recall (%) of the Figure 4 models beside the
    number of test objects (``recall_per_class``), the comparison of every model with
    ``reference`` over the classes with at least :data:`MIN_TEST_OBJECTS` test objects
    (``recall_vs_ztf``) and the statements (``recall_statements.md``)."""
    figures_dir = Path(figures_dir)
    all_models = [r.model_id for r in TABLE2_ROWS] if models is None else list(models)
    recall_all = per_class_recall(out_dir, all_models)
    n_test = test_class_counts(out_dir, all_models)
    fig4 = [m for m in FIGURE4_MODELS if m in recall_all.columns]
    recall4 = recall_all[fig4]
    table = recall_table(recall4, n_test)
    paths = {"recall_per_class": write_table(table.reset_index(), figures_dir, "recall_per_class")}
    result: dict[str, object] = {"recall": recall_all, "recall_figure4": recall4, "n_test": n_test,
                                 "recall_table": table}
    enough = recall_all[n_test.reindex(recall_all.index).fillna(0) >= MIN_TEST_OBJECTS]
    if reference in recall_all.columns:
        comp = recall_comparison(enough, reference)
        paths["recall_vs_ztf"] = write_table(comp, figures_dir, "recall_vs_ztf")
        result["comparison"] = comp
    else:
        log.warning("Appendix C: reference model %s not run; no comparison table", reference)
        result["comparison"] = None
    statements = recall_statements(recall_all, reference=reference, n_test=n_test)
    md = figures_dir / "recall_statements.md"
    md.write_text("".join(f"- {s}\n" for s in statements) if statements else f"- {NOT_RUN}\n")
    paths["statements"] = {"md": md}
    result["statements"] = statements
    result["paths"] = paths
    return result


def make_results(ctx: Any) -> dict[str, Any]:
    """Every result of the paper from a run's saved artifacts (notebook 06): Table 2,
    Figure 4 and the Appendix C tables, written to ``ctx.figures_dir``. Never trains."""
    t2, t2_paths = save_table2(ctx.out_dir, ctx.figures_dir)
    fig4 = figure4(ctx.out_dir, ctx.figures_dir, show=False)
    app_c = save_appendix_c(ctx.out_dir, ctx.figures_dir)
    return {"table2": t2, "table2_paths": t2_paths, "figure4": fig4, "appendix_c": app_c}


def fold_scores_table(out_dir: str | Path, model_ids: Sequence[str]) -> pd.DataFrame:
    """Validation and test macro-F1 per fold (columns) for each model (rows), plus mean and std.

    Computed from the saved predictions (``predictions_val`` / ``predictions_test``), so it
    is the same whether the folds were trained now or loaded from an earlier run.
    """
    rows = []
    for model_id in model_ids:
        for split in ("val", "test"):
            scores = fold_scores(out_dir, model_id, split)
            if scores.empty:
                continue
            row: dict[str, Any] = {"model": model_id, "split": split}
            row.update({f"fold {int(k)}": f for k, f in zip(scores["fold"], scores["macro_f1"])})
            mean, std = mean_std(scores["macro_f1"])
            row.update({"mean": mean, "std": std})
            rows.append(row)
    if not rows:
        return pd.DataFrame(columns=["model", "split", "mean", "std"])
    return pd.DataFrame(rows).set_index(["model", "split"])


# ----------------------------------------------------------------------------------------
# Table 2: the paper's claims, checked on this run
# ----------------------------------------------------------------------------------------
#: The paper's qualitative claims about Table 2 (Section 4), as (claim, left models, right
#: models): the claim holds when the best mean of ``left`` exceeds the best mean of ``right``.
TABLE2_CLAIMS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("ZTF beats ATLAS (ATAT: Model 1 > Model 2)", ("atat_ztf",), ("atat_atlas",)),
    ("ZTF beats ATLAS (SwinV2: Model 3 > Model 4)", ("swin_ztf",), ("swin_atlas",)),
    ("SwinV2 beats ATAT on ZTF (Model 3 > Model 1)", ("swin_ztf",), ("atat_ztf",)),
    ("SwinV2 beats ATAT on ATLAS (Model 4 > Model 2)", ("swin_atlas",), ("atat_atlas",)),
    ("Averaged probabilities beat the best single survey (3+4 > 3)", ("avg_3_4",), ("swin_ztf", "swin_atlas")),
    ("BRF on embeddings beats the best single survey (3+4 > 3)", ("brf_3_4",), ("swin_ztf", "swin_atlas")),
    ("Stacked input is worse than ZTF only (Model 5 < Model 3)", ("swin_ztf",), ("swin_stacked",)),
    ("MS-SwinV2 beats every other model (max(6, 7) is best)", ("ms_swin_linear", "ms_swin_mlp"),
     ("atat_ztf", "atat_atlas", "swin_ztf", "swin_atlas", "avg_3_4", "brf_3_4", "swin_stacked")),
)


def table2_claims(t2: pd.DataFrame) -> pd.DataFrame:
    """Whether this run agrees with each claim of :data:`TABLE2_CLAIMS`, from a Table 2
    (:func:`table2`). Columns: ``claim``, ``this run`` (best mean of each side, %),
    ``difference`` (percentage points), ``agrees`` (``"yes"``, ``"no"`` or ``"not run"``),
    ``within noise`` (``True`` when the difference is smaller than the larger of the two
    fold standard deviations: the sign could flip with other folds)."""
    by_id = t2.set_index("model_id")
    rows = []
    for claim, left, right in TABLE2_CLAIMS:
        sides = []
        for ids in (left, right):
            sub = by_id.reindex(list(ids))
            sub = sub[sub["f1_mean"].notna()]
            sides.append(sub.loc[sub["f1_mean"].idxmax()] if len(sub) else None)
        if sides[0] is None or sides[1] is None or len(sides[1]) == 0:
            rows.append({"claim": claim, "this run": NOT_RUN, "difference": float("nan"),
                         "agrees": NOT_RUN, "within noise": False})
            continue
        a, b = sides
        diff = float(a["f1_mean"] - b["f1_mean"])
        rows.append({
            "claim": claim,
            "this run": f"{a['f1_mean']:.1f} ({a['MODEL']}) vs {b['f1_mean']:.1f} ({b['MODEL']})",
            "difference": round(diff, 1),
            "agrees": "yes" if diff > 0 else "no",
            "within noise": bool(abs(diff) < max(a["f1_std"], b["f1_std"])),
        })
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------
# Several seeds: Table 2 per seed, its mean, and the paper's qualitative findings
# ----------------------------------------------------------------------------------------
def table2_over_seeds(out_dirs: Mapping[str, str | Path], split: str = "test") -> pd.DataFrame:
    """Table 2 of several runs side by side: one column of mean test macro-F1 (%) per run
    (``out_dirs``: run name -> ``OUT_DIR``, e.g. ``{"seed 0": "artifacts/quick"}``) and
    their ``mean``; rows in Table 2 order, indexed by ``model_id``, with ``MODEL`` and
    ``DESCRIPTION``. A model missing from a run is NaN there (and in the mean).

    A run may also be given as the ``table2.csv`` that notebook 06 wrote (e.g. the committed
    ``figures/quick/table2.csv``), for a run whose artifacts are gone; it holds the test
    split only."""
    if not out_dirs:
        raise ValueError("table2_over_seeds: give at least one run directory")
    cols = {}
    base = None
    for name, d in out_dirs.items():
        if Path(d).is_file():
            if split != "test":
                raise ValueError(f"{d}: a table2.csv holds the test split only, not {split!r}")
            t2 = pd.read_csv(d, dtype={"MODEL": str})
            missing = {"model_id", "MODEL", "DESCRIPTION", "f1_mean"} - set(t2.columns)
            if missing:
                raise ValueError(f"{d}: not a table2.csv of notebook 06 (no column {sorted(missing)[0]!r})")
            t2 = t2.set_index("model_id")
        else:
            t2 = table2(d, split=split).set_index("model_id")
        base = t2[["MODEL", "DESCRIPTION"]] if base is None else base
        cols[name] = t2["f1_mean"]
    out = pd.concat([base, pd.DataFrame(cols)], axis=1)
    out["mean"] = pd.DataFrame(cols).mean(axis=1, skipna=False)
    return out


#: the paper's qualitative findings as the quick profile checks them (docs/quick-profile.md):
#: (finding, the model ids it reads, test on a mapping model_id -> mean test macro-F1 in %)
PAPER_FINDINGS: tuple[tuple[str, tuple[str, ...], Callable[[Mapping[str, float]], bool]], ...] = (
    ("1. ZTF > ATLAS for SwinV2 (3 > 4) and ATAT (1 > 2)", ("swin_ztf", "swin_atlas", "atat_ztf", "atat_atlas"),
     lambda f: f["swin_ztf"] > f["swin_atlas"] and f["atat_ztf"] > f["atat_atlas"]),
    ("2. SwinV2 ZTF > ATAT ZTF (3 > 1)", ("swin_ztf", "atat_ztf"), lambda f: f["swin_ztf"] > f["atat_ztf"]),
    ("3. averaged probabilities > ZTF only and BRF on embeddings > ZTF only", ("avg_3_4", "brf_3_4", "swin_ztf"),
     lambda f: f["avg_3_4"] > f["swin_ztf"] and f["brf_3_4"] > f["swin_ztf"]),
    ("4. stacked input < ZTF only (5 < 3)", ("swin_stacked", "swin_ztf"), lambda f: f["swin_stacked"] < f["swin_ztf"]),
    ("5. MS-SwinV2-Linear > ZTF only + 2 and >= the better fusion - 0.5",
     ("ms_swin_linear", "swin_ztf", "avg_3_4", "brf_3_4"),
     lambda f: f["ms_swin_linear"] > f["swin_ztf"] + 2.0
     and f["ms_swin_linear"] >= max(f["avg_3_4"], f["brf_3_4"]) - 0.5),
    ("6. |MS-SwinV2-MLP - MS-SwinV2-Linear| <= 3", ("ms_swin_mlp", "ms_swin_linear"),
     lambda f: abs(f["ms_swin_mlp"] - f["ms_swin_linear"]) <= 3.0),
)


def findings_over_seeds(table: pd.DataFrame) -> pd.DataFrame:
    """Whether each of :data:`PAPER_FINDINGS` holds in every score column of a
    :func:`table2_over_seeds` table (each run and the mean): ``"yes"``, ``"no"``, or
    ``"not run"`` when a model the finding reads has no score there."""
    runs = [c for c in table.columns if c not in ("MODEL", "DESCRIPTION")]
    rows = []
    for finding, needed, test in PAPER_FINDINGS:
        row = {"finding": finding}
        for run in runs:
            scores = table[run].to_dict()
            if any(not np.isfinite(scores.get(k, np.nan)) for k in needed):
                row[run] = NOT_RUN
            else:
                row[run] = "yes" if test(scores) else "no"
        rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------
# Is a difference between two rows of Table 2 larger than the test set's sampling noise?
# ----------------------------------------------------------------------------------------
#: the differences the paper's findings (:data:`PAPER_FINDINGS`) read, as (model a, model b)
FINDING_PAIRS: tuple[tuple[str, str], ...] = (
    ("swin_ztf", "swin_atlas"),
    ("atat_ztf", "atat_atlas"),
    ("swin_ztf", "atat_ztf"),
    ("avg_3_4", "swin_ztf"),
    ("brf_3_4", "swin_ztf"),
    ("swin_ztf", "swin_stacked"),
    ("ms_swin_linear", "swin_ztf"),
    ("ms_swin_linear", "avg_3_4"),
    ("ms_swin_linear", "brf_3_4"),
    ("ms_swin_mlp", "ms_swin_linear"),
)


def _weighted_macro_f1(weights: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Macro-F1 (21 classes, ``zero_division=0``, as :func:`macro_f1`) of one set of
    predictions under many object weightings at once: ``weights`` (n_draws, n_objects) of
    bootstrap counts -> (n_draws,). Equal to ``f1_score(..., sample_weight=w)`` row by row."""
    eye = np.eye(N_CLASSES)
    true_1h, pred_1h = eye[y_true], eye[y_pred]
    tp = weights @ (true_1h * (y_true == y_pred)[:, None])
    denom = weights @ true_1h + weights @ pred_1h  # 2 TP + FP + FN
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return f1.mean(axis=1)


def paired_bootstrap(
    out_dir: str | Path,
    model_a: str,
    model_b: str,
    split: str = "test",
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Paired bootstrap over objects of the Table 2 difference ``model_a - model_b``.

    Table 2 reports, per model, the mean over folds of the macro-F1 on the test split —
    and every fold predicts the **same** test objects, so the fold spread says nothing about
    how much the ranking of two models depends on which objects happened to be in that test
    set. Here the objects are resampled with replacement (one draw shared by every fold and
    both models: the pairing keeps what the two models have in common out of the noise), the
    mean-over-folds macro-F1 of both models is recomputed on each draw, and the distribution
    of their difference is summarised. For ``split="val"`` (each object in one fold's
    validation set) the draw is over the pooled validation objects.

    Only objects that both models predicted in a fold count (an ATAT model has no prediction
    for an object without a light curve in its survey); how many were left out is returned
    and logged, never silent. Folds must be complete in both models.

    Returns
    -------
    dict with ``model_a``, ``model_b``, ``split``, ``folds`` (the folds both models have),
    ``n_objects`` (distinct objects used), ``n_dropped`` (object-fold predictions of either
    model without a partner), ``difference`` (observed, percentage points; equals the
    difference of the two Table 2 means when nothing was dropped), ``ci_low``, ``ci_high``
    (95 % percentile interval), ``p_a_better`` (fraction of draws with a difference > 0),
    ``n_boot``.
    """
    folds = sorted(set(available_folds(out_dir, model_a, split)) & set(available_folds(out_dir, model_b, split)))
    if not folds:
        raise ValueError(
            f"{out_dir}: no fold with predictions_{split}.parquet in both {model_a!r} and {model_b!r}"
        )
    per_fold, dropped = [], 0
    for k in folds:
        a = read_predictions(out_dir, model_a, k, split).set_index("object_id")
        b = read_predictions(out_dir, model_b, k, split).set_index("object_id")
        common = a.index.intersection(b.index, sort=False)
        dropped += (len(a) - len(common)) + (len(b) - len(common))
        a, b = a.loc[common], b.loc[common]
        if not np.array_equal(a["y_true"].to_numpy(), b["y_true"].to_numpy()):
            raise ValueError(f"{out_dir}: fold {k}: {model_a!r} and {model_b!r} disagree on the true class of some objects")
        per_fold.append((common, a["y_true"].to_numpy(int), a["y_pred"].to_numpy(int), b["y_pred"].to_numpy(int)))
    if dropped:
        log.warning("paired_bootstrap %s - %s (%s): %d object-fold prediction(s) without a partner left out",
                    model_a, model_b, split, dropped)
    objects = pd.Index(sorted(set().union(*(set(p[0]) for p in per_fold))))
    if len(objects) == 0:
        raise ValueError(f"{out_dir}: {model_a!r} and {model_b!r} have no {split} object in common")
    rng = np.random.default_rng(seed)
    # bootstrap counts of each object; row 0 is the observed sample (every object once)
    counts = np.vstack([np.ones(len(objects)), rng.multinomial(len(objects), np.full(len(objects), 1 / len(objects)), size=n_boot)])
    diff = np.zeros(len(counts))
    for ids, y_true, pred_a, pred_b in per_fold:
        w = counts[:, objects.get_indexer(ids)]
        diff += _weighted_macro_f1(w, y_true, pred_a) - _weighted_macro_f1(w, y_true, pred_b)
    diff *= 100.0 / len(per_fold)
    boot = diff[1:]
    return {
        "model_a": model_a,
        "model_b": model_b,
        "split": split,
        "folds": folds,
        "n_objects": int(len(objects)),
        "n_dropped": int(dropped),
        "difference": float(diff[0]),
        "ci_low": float(np.percentile(boot, 2.5)),
        "ci_high": float(np.percentile(boot, 97.5)),
        "p_a_better": float(np.mean(boot > 0)),
        "n_boot": int(n_boot),
    }


def paired_differences(
    out_dir: str | Path,
    pairs: Sequence[tuple[str, str]] = FINDING_PAIRS,
    split: str = "test",
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`paired_bootstrap` for several pairs (default: those the paper's findings
    read), one row each: ``comparison`` (``"6 MS-SwinV2-Linear - 3 SwinV2 (ZTF only)"``),
    ``difference``, ``ci_low``, ``ci_high`` (percentage points), ``p_a_better``,
    ``n_objects``, ``n_dropped``. A pair with a model not run (no complete fold) is left out, as
    in the findings; any other problem raises (:func:`paired_bootstrap`)."""
    rows = []
    for a, b in pairs:
        not_run = [m for m in (a, b) if not available_folds(out_dir, m, split)]
        if not_run:
            log.info("paired_differences: %s - %s skipped: %s not run", a, b, " and ".join(not_run))
            continue
        r = paired_bootstrap(out_dir, a, b, split=split, n_boot=n_boot, seed=seed)
        name = " - ".join(
            f"{MODEL_ROWS[m].number} {MODEL_ROWS[m].description}" if m in MODEL_ROWS else m for m in (a, b)
        )
        rows.append({"comparison": name, **{k: r[k] for k in
                     ("difference", "ci_low", "ci_high", "p_a_better", "n_objects", "n_dropped")}})
    return pd.DataFrame(rows, columns=["comparison", "difference", "ci_low", "ci_high", "p_a_better", "n_objects", "n_dropped"])


def early_stopping_counts(out_dir: str | Path, model_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Per model of a run: how many complete folds stopped early (``epochs_run`` below the
    ``max_epochs`` of the fold's saved configuration: ``training`` for SwinV2, ``atat`` for
    ATAT). Columns ``model_id``, ``folds``, ``stopped_early``, ``max_epochs``; models without
    trained folds (the fusions) are left out."""
    rows = []
    ids = list(model_ids) if model_ids is not None else [r.model_id for r in TABLE2_ROWS]
    for model_id in ids:
        n = stopped = 0
        cap = None
        for k in available_folds(out_dir, model_id):
            d = A.fold_dir(out_dir, model_id, k)
            metrics = A.load_metrics(out_dir, model_id, k) if (d / A.METRICS_FILE).exists() else {}
            cfg = A.read_json(d / A.CONFIG_FILE) if (d / A.CONFIG_FILE).exists() else {}
            section = cfg.get("atat") if "atat" in cfg else cfg.get("training", {})
            if "epochs_run" not in metrics or "max_epochs" not in section:
                continue  # a fusion (no training of its own)
            cap = int(section["max_epochs"])
            n += 1
            stopped += int(metrics["epochs_run"]) < cap
        if n:
            rows.append({"model_id": model_id, "folds": n, "stopped_early": stopped, "max_epochs": cap})
    return pd.DataFrame(rows, columns=["model_id", "folds", "stopped_early", "max_epochs"])


# ----------------------------------------------------------------------------------------
# Training curves (notebooks 03 and 05)
# ----------------------------------------------------------------------------------------
def training_history(out_dir: str | Path, model_id: str) -> pd.DataFrame:
    """Per fold and epoch: ``train_loss`` (mean of the losses logged in that epoch),
    ``val_loss`` and ``val_macro_f1``, from each complete fold's ``train_log.json`` (the
    Trainer's ``log_history``), and ``kept``: True at the epoch whose weights the fold kept
    (its ``metrics.json`` ``best_epoch``: the best validation macro-F1 or loss, whichever early
    stopping watched; the best macro-F1 when a fold has no ``best_epoch``). Folds without a
    training log are left out."""
    rows = []
    for k in A.completed_folds(out_dir, model_id):
        path = A.fold_dir(out_dir, model_id, k) / A.TRAIN_LOG_FILE
        if not path.is_file():
            continue
        metrics_path = A.fold_dir(out_dir, model_id, k) / A.METRICS_FILE
        kept = A.read_json(metrics_path).get("best_epoch") if metrics_path.is_file() else None
        first = len(rows)
        train: dict[int, list[float]] = {}
        evals: dict[int, dict[str, float]] = {}
        for rec in A.read_json(path):
            epoch = int(np.ceil(float(rec.get("epoch", 0)) - 1e-9))
            if "loss" in rec:
                train.setdefault(epoch, []).append(float(rec["loss"]))
            if "eval_macro_f1" in rec:
                evals[epoch] = {"val_loss": float(rec.get("eval_loss", np.nan)),
                                "val_macro_f1": float(rec["eval_macro_f1"])}
        for epoch in sorted(set(train) | set(evals)):
            rows.append({"fold": k, "epoch": epoch,
                         "train_loss": float(np.mean(train[epoch])) if epoch in train else np.nan,
                         **evals.get(epoch, {"val_loss": np.nan, "val_macro_f1": np.nan}), "kept": False})
        if kept is None:  # an older fold: the best validation macro-F1 (first of equals)
            f1 = [(r["val_macro_f1"], -r["epoch"]) for r in rows[first:] if np.isfinite(r["val_macro_f1"])]
            kept = -max(f1)[1] if f1 else None
        for r in rows[first:]:
            r["kept"] = r["epoch"] == kept
    return pd.DataFrame(rows, columns=["fold", "epoch", "train_loss", "val_loss", "val_macro_f1", "kept"])


def best_epoch_at_end(history: pd.DataFrame) -> list[int]:
    """Folds whose kept (best) epoch is their last one: training stopped while still
    improving, so a longer training budget may help."""
    out = []
    for k, h in history.dropna(subset=["val_macro_f1"]).groupby("fold"):
        if len(h) > 1 and bool(h.loc[h["epoch"] == h["epoch"].max(), "kept"].any()):
            out.append(int(k))
    return out


def plot_training_curves(histories: dict[str, pd.DataFrame]):
    """Training curves of several models (rows): loss (train solid, validation dashed) and
    validation macro-F1 per epoch, one colour per fold, the best epoch of each fold marked."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(10, 2.6 * max(len(histories), 1) + 0.4), constrained_layout=True)
    axes = fig.subplots(max(len(histories), 1), 2, squeeze=False)
    colors = [f"C{i}" for i in range(10)]
    for (model_id, h), (ax_loss, ax_f1) in zip(histories.items(), axes):
        name = MODEL_ROWS[model_id].description if model_id in MODEL_ROWS else model_id
        for k, g in h.groupby("fold"):
            c = colors[int(k) % 10]
            ax_loss.plot(g["epoch"], g["train_loss"], "-", color=c, lw=1.2)
            ax_loss.plot(g["epoch"], g["val_loss"], "--", color=c, lw=1.2)
            ax_f1.plot(g["epoch"], 100 * g["val_macro_f1"], "-o", color=c, ms=2.5, lw=1.2, label=f"fold {k}")
            for _, r in g[g["kept"]].iterrows():  # the epoch whose weights were kept
                ax_f1.plot(r["epoch"], 100 * r["val_macro_f1"], "*", color=c, ms=9, mec="k", mew=0.5)
                ax_loss.plot(r["epoch"], r["val_loss"], "*", color=c, ms=9, mec="k", mew=0.5)
        ax_loss.set_title(f"{name}: loss (star = kept epoch)", fontsize=9)
        ax_f1.set_title(f"{name}: validation macro-F1 (star = kept epoch)", fontsize=9)
        ax_loss.set_ylabel("cross-entropy", fontsize=8)
        ax_f1.set_ylabel("macro-F1 [%]", fontsize=8)
        for ax in (ax_loss, ax_f1):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.tick_params(labelsize=7)
            ax.set_xlabel("epoch", fontsize=8)
    handles = [Line2D([], [], color="k", ls="-", label="train loss"),
               Line2D([], [], color="k", ls="--", label="validation loss")]
    handles += [Line2D([], [], color=colors[k], ls="-", label=f"fold {k}") for k in range(5)]
    fig.legend(handles=handles, loc="outside upper center", ncols=len(handles), fontsize=8, frameon=False)
    return fig


# ----------------------------------------------------------------------------------------
# Misclassified test objects (notebook 06)
# ----------------------------------------------------------------------------------------
def misclassified(out_dir: str | Path, model_id: str, fold: int, split: str = "test") -> pd.DataFrame:
    """Misclassified objects of one fold: ``object_id``, ``true``, ``predicted`` (class
    names), ``p_predicted`` and ``p_true`` (the model's probabilities), most confident first."""
    df = read_predictions(out_dir, model_id, fold, split)
    probs = A.probabilities(df)
    wrong = np.flatnonzero(df["y_true"].to_numpy() != df["y_pred"].to_numpy())
    out = pd.DataFrame({
        "object_id": df["object_id"].to_numpy()[wrong],
        "true": [CLASSES[int(i)] for i in df["y_true"].to_numpy()[wrong]],
        "predicted": [CLASSES[int(i)] for i in df["y_pred"].to_numpy()[wrong]],
        "p_predicted": probs[wrong, df["y_pred"].to_numpy()[wrong].astype(int)],
        "p_true": probs[wrong, df["y_true"].to_numpy()[wrong].astype(int)],
    })
    return out.sort_values(["p_predicted", "object_id"], ascending=[False, True]).reset_index(drop=True)
