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
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, f1_score

from . import artifacts as A
from .figures import save_figure
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


def confusion_annotations(mean: np.ndarray, std: np.ndarray, threshold: float = STD_PRINT_THRESHOLD) -> np.ndarray:
    """Cell texts: ``"0.85"`` and, where ``std >= threshold``, a second line ``"±0.07"``."""
    ann = np.empty(mean.shape, dtype=object)
    for idx in np.ndindex(mean.shape):
        txt = f"{mean[idx]:.2f}"
        if std[idx] >= threshold:
            txt += f"\n±{std[idx]:.2f}"
        ann[idx] = txt
    return ann


def plot_confusion(ax, mean: np.ndarray, std: np.ndarray, title: str, annot_size: float = 4.5) -> None:
    """One Figure 4 panel on ``ax``: heatmap of ``mean`` with texts, group lines, labels."""
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
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    ax.set_title(title)
    ax.tick_params(axis="both", labelsize=7)


def figure4(
    out_dir: str | Path,
    figures_dir: str | Path,
    models: Sequence[str] = FIGURE4_MODELS,
    stem: str = "figure4",
    split: str = "test",
) -> dict[str, Path]:
    """Figure 4: 2 x 2 panels of mean recall confusion matrices, saved as PNG and PDF.

    A model without artifacts gets a panel saying "not run". The figure is closed after
    saving (no pyplot state leaks).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    n = len(models)
    ncols = 2 if n > 1 else 1
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(11 * ncols, 10.5 * nrows), squeeze=False)
    try:
        for ax, model_id in zip(axes.ravel(), models):
            title = FIGURE4_TITLES.get(model_id, model_id)
            mats = fold_confusions(out_dir, model_id, split)
            if len(mats) == 0:
                ax.text(0.5, 0.5, f"{title}\n{NOT_RUN}", ha="center", va="center", fontsize=14)
                ax.set_axis_off()
                continue
            mean, std = confusion_mean_std(mats)
            plot_confusion(ax, mean, std, f"{title} — {len(mats)} fold(s)")
        for ax in axes.ravel()[n:]:
            ax.set_axis_off()
        fig.tight_layout()
        paths = save_figure(fig, figures_dir / stem, ("png", "pdf"), dpi=150)
    finally:
        plt.close(fig)
    return paths


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


def recall_statements(
    recall: pd.DataFrame, low: float = 0.25, high: float = 0.50, reference: str = "swin_ztf"
) -> list[str]:
    """Appendix C style sentences computed from ``recall`` (fractions), one list item each."""
    out = []
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
    """Write the Appendix C tables: per-class recall of the Figure 4 models
    (``recall_per_class``), the comparison of every model with ``reference``
    (``recall_vs_ztf``) and the statements (``recall_statements.md``)."""
    figures_dir = Path(figures_dir)
    all_models = [r.model_id for r in TABLE2_ROWS] if models is None else list(models)
    recall_all = per_class_recall(out_dir, all_models)
    fig4 = [m for m in FIGURE4_MODELS if m in recall_all.columns]
    recall4 = recall_all[fig4]
    recall_pct = (100 * recall4).round(1).reset_index()
    paths = {"recall_per_class": write_table(recall_pct, figures_dir, "recall_per_class")}
    result: dict[str, object] = {"recall": recall_all, "recall_figure4": recall4}
    if reference in recall_all.columns:
        comp = recall_comparison(recall_all, reference)
        paths["recall_vs_ztf"] = write_table(comp, figures_dir, "recall_vs_ztf")
        result["comparison"] = comp
    else:
        log.warning("Appendix C: reference model %s not run; no comparison table", reference)
        result["comparison"] = None
    statements = recall_statements(recall_all, reference=reference)
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
    fig4 = figure4(ctx.out_dir, ctx.figures_dir)
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
