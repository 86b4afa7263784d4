"""Display helpers for the notebooks: relative paths, rounded tables, computed Markdown.

The notebooks are read in JupyterLab; what they print must not depend on the machine (no
absolute paths) and every sentence about results must be computed from the results, so it
cannot go stale. These helpers keep that logic out of the notebooks.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from .config import RunContext, repo_root


def relpath(path: str | Path | None) -> str:
    """``path`` relative to the repository when it lies inside it, else ``<outside repo>/<name>``
    (never the machine's absolute path in a committed notebook)."""
    if path is None:
        return "None"
    p = Path(path).resolve()
    root = repo_root().resolve()
    if p.is_relative_to(root):
        return p.relative_to(root).as_posix()
    return f"<outside the repository>/{p.name}"


def describe(ctx: RunContext) -> str:
    """The run's settings, with paths relative to the repository."""
    data = relpath(ctx.data_dir) if ctx.data_dir else "embedded simulator (simulated ZTF + ATLAS light curves)"
    return (f"profile: {ctx.profile}   seed: {ctx.seed}   device: {ctx.device}\n"
            f"data: {data}\nartifacts: {relpath(ctx.out_dir)}\nfigures: {relpath(ctx.figures_dir)}")


def show_markdown(text: str) -> None:
    """Render ``text`` as Markdown in a notebook (printed outside one)."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover
        print(text)
        return
    if get_ipython() is None:
        print(text)
    else:
        display(Markdown(text))


def percent_table(df: pd.DataFrame, columns: Sequence[str] | None = None, decimals: int = 1) -> pd.DataFrame:
    """A copy with ``columns`` (default: every column whose name contains ``f1``, ``mean``,
    ``std`` or ``fold``) multiplied by 100 and rounded: F1 fractions shown in % with one decimal."""
    out = df.copy()
    if columns is None:
        columns = [c for c in out.columns if any(k in str(c) for k in ("f1", "mean", "std", "fold "))]
    for c in columns:
        out[c] = (100 * out[c].astype(float)).round(decimals)
    return out


#: columns of a fold table that describe how this run obtained a fold, not the fold itself
_RUN_COLUMNS = ("skipped", "wall_seconds", "train_seconds", "predict_seconds", "resumed_from")
#: display order of a fold table's columns (others follow in their own order)
_FOLD_ORDER = ("fold", "val_macro_f1", "test_macro_f1", "train_macro_f1", "best_epoch", "epochs_run")


def fold_table(scores: pd.DataFrame) -> pd.DataFrame:
    """A fold table (from ``train_model_folds`` / ``train_atat_folds``) for display: F1 in %
    with one decimal, indexed by fold. Columns about this run's timing and caching are
    dropped, so a table never mixes cached folds (whose timings are an earlier run's) with
    fresh ones."""
    keep = [c for c in scores.columns if c not in _RUN_COLUMNS and c != "model_id"]
    keep = [c for c in _FOLD_ORDER if c in keep] + [c for c in keep if c not in _FOLD_ORDER]
    out = percent_table(scores[keep], [c for c in keep if "f1" in c])
    out = out.rename(columns={c: c.replace("macro_f1", "macro-F1 [%]").replace("_", " ") for c in keep})
    return out.set_index("fold") if "fold" in out.columns else out


def fold_status(scores: pd.DataFrame) -> str:
    """One sentence: how many folds were trained now and how many loaded from an earlier run."""
    if "skipped" not in scores.columns:
        return f"{len(scores)} folds"
    cached = int(scores["skipped"].astype(bool).sum())
    fresh = len(scores) - cached
    parts = []
    if fresh:
        parts.append(f"{fresh} trained in this run")
    if cached:
        parts.append(f"{cached} loaded from an earlier complete run with the same configuration")
    return f"{len(scores)} folds: " + ", ".join(parts) + "."


def best_epoch_note(model: str, history: pd.DataFrame, at_end: Sequence[int]) -> str:
    """A printed note (not a Python warning) when folds peaked at their last epoch."""
    if not len(history):
        return f"{model}: no training log found (the curves need train_log.json)."
    if not at_end:
        return f"{model}: every fold peaked before its last epoch (early stopping had room)."
    return (f"NOTE {model}: the best validation macro-F1 is at the last epoch in fold(s) "
            f"{', '.join(map(str, at_end))} of {history['fold'].nunique()}: training was still improving, "
            "the training budget (epochs) is too small for these folds to converge.")


def yes_no_counts(values: Sequence[Any]) -> str:
    """``"3 of 8"``-style count of ``"yes"`` among ``values``."""
    v = list(values)
    return f"{sum(1 for x in v if x == 'yes')} of {len(v)}"


def quiet_notebook() -> None:
    """Settings for the notebooks' stored outputs (progress bars: see :func:`logged`).

    ``tqdm.auto`` (imported by transformers and by our progress bars) warns "IProgress not
    found" in a kernel without ipywidgets and then falls back to text bars, which is what
    we want; ipywidgets is not a dependency, so that one warning is silenced here, by its
    message. Every other warning stays visible.
    """
    import warnings

    warnings.filterwarnings("ignore", message="IProgress not found")


class notes_from_warnings:
    """Context manager: warnings raised inside are printed as ``Note: ...`` lines instead
    (a documented substitution, e.g. an example class absent from real data, is information
    for the reader, not a problem of the notebook)."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings(record=True)
        self._caught = self._ctx.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc) -> bool:
        self._ctx.__exit__(*exc)
        for w in self._caught:
            print(f"Note: {w.message}")
        return False


#: printed progress lines that are events a reader must see (a fold loaded instead of
#: trained, a run resumed from a checkpoint, a half-written checkpoint removed); they carry
#: no timing, so they are echoed into the notebook
EVENT_LINES = r"skipped \(complete\)|resuming from|removing the incomplete"


def logged(log_path: str | Path, fn, *args: Any, echo: str | None = EVENT_LINES, **kwargs: Any) -> Any:
    """Call ``fn(*args, **kwargs)`` with its printed progress (per-epoch lines, timings,
    tqdm progress bars on stderr) written to ``log_path`` instead of the notebook: timings differ from machine to machine
    and would make the committed outputs noisy. Prints where the log went (relative path)
    and the log's lines matching ``echo`` (:data:`EVENT_LINES`)."""
    import contextlib
    import re

    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as fh, contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        result = fn(*args, **kwargs)
    print(f"progress log: {relpath(log_path)}")
    if echo:
        for line in log_path.read_text().splitlines():
            if re.search(echo, line):
                print(line)
    return result


def show_fold_results(ctx: RunContext, scores: dict[str, pd.DataFrame], model_ids: Sequence[str]) -> None:
    """Notebooks 03 and 05: for each model of ``model_ids`` (a key of ``scores``, from
    :func:`mslc_utils.parallel.train_models`), where its progress log is, the lines of the log
    that say a fold was skipped or resumed, how many folds ran now, and the fold table."""
    from .parallel import echo_log_events, summary_lines

    for m in model_ids:
        log_path = ctx.out_dir / "logs" / f"{m}.log"
        print(f"progress log: {relpath(log_path)}")
        for line in echo_log_events(log_path):
            print(line)
        print(summary_lines({m: scores[m]})[0])
        _display(fold_table(scores[m]))


def _display(obj: Any) -> None:
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython ships with the notebook stack
        print(obj)
        return
    display(obj)


# ----------------------------------------------------------------------------------------
# Computed closing sentences and captions (notebooks 03-06)
# ----------------------------------------------------------------------------------------
def _name(model_id: str) -> str:
    from .results import MODEL_ROWS

    return MODEL_ROWS[model_id].description if model_id in MODEL_ROWS else model_id


def training_summary(summary: pd.DataFrame, histories: dict[str, pd.DataFrame]) -> str:
    """Closing Markdown of notebooks 03 and 05 from :func:`results.fold_scores_table` and
    the training histories."""
    from .results import best_epoch_at_end

    lines = []
    for model_id in summary.index.get_level_values("model").unique():
        row = summary.loc[model_id]
        val = row.loc["val"] if "val" in row.index else None
        test = row.loc["test"] if "test" in row.index else None
        text = f"- {_name(model_id)}: test macro-F1 {100 * test['mean']:.1f} ± {100 * test['std']:.1f}%" if test is not None else f"- {_name(model_id)}: no test predictions"
        if val is not None and test is not None:
            gap = 100 * (val["mean"] - test["mean"])
            text += f" (validation {100 * val['mean']:.1f}%, {abs(gap):.1f} points {'above' if gap >= 0 else 'below'} test)"
        h = histories.get(model_id)
        if h is not None and len(h):
            at_end = best_epoch_at_end(h)
            text += (f"; best epoch at the last epoch in {len(at_end)} of {h['fold'].nunique()} folds"
                     + (" (budget too small)" if at_end else ""))
        lines.append(text + ".")
    if {"val", "test"} <= set(summary.index.get_level_values("split")):
        best = summary.xs("test", level="split")["mean"].idxmax()
        lines.append(f"- Best here on the test set: {_name(best)}.")
    return "\n".join(lines)


def val_test_figure(folds: pd.DataFrame, title: str):
    """Validation vs test macro-F1 (%) per fold, one point per fold, with the diagonal."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2, 4.0), constrained_layout=True)
    ax = fig.subplots()
    v, t = 100 * folds["val_macro_f1"].astype(float), 100 * folds["test_macro_f1"].astype(float)
    lo, hi = float(min(v.min(), t.min())) - 3, float(max(v.max(), t.max())) + 3
    ax.plot([lo, hi], [lo, hi], color="0.6", lw=1, ls="--", label="test = validation")
    ax.scatter(v, t, color="C0", zorder=3)
    for k, x, y in zip(folds["fold"], v, t):
        ax.annotate(f"fold {k}", (x, y), xytext=(4, 3), textcoords="offset points", fontsize=8)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("validation macro-F1 [%]")
    ax.set_ylabel("test macro-F1 [%]")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    return fig


def fusion_summary(avg: pd.DataFrame, brf: Any, n_table3: int) -> str:
    """Closing Markdown of notebook 04."""
    f = brf.folds
    gap = 100 * (f["val_macro_f1"].mean() - f["test_macro_f1"].mean())
    return "\n".join([
        f"- Averaged probabilities (3+4): test macro-F1 {100 * avg['test_macro_f1'].mean():.1f}% "
        f"(mean of {len(avg)} folds).",
        f"- BRF on embeddings: {n_table3} configurations ranked; the chosen one "
        f"({', '.join(f'{k}={v}' for k, v in brf.best_params.items())}) reaches "
        f"{100 * f['val_macro_f1'].mean():.1f}% on validation and {100 * f['test_macro_f1'].mean():.1f}% on test: "
        f"{abs(gap):.1f} points {'lower' if gap >= 0 else 'higher'} on test"
        + (", the optimism of choosing the best of many configurations on validation." if gap > 0 else "."),
    ])


def table2_caption(ctx: RunContext, t2: pd.DataFrame) -> str:
    """Table 2's caption, with the caveat of the run in the caption itself."""
    n = sorted(set(t2.loc[t2["n_folds"] > 0, "n_folds"]))
    folds = "/".join(map(str, n)) if n else "0"
    caveat = ("**Caveat: simulated data and small, briefly trained models (quick profile); compare the "
              "ordering of the rows with the paper, not the numbers.**" if ctx.data_dir is None else
              f"Data: {relpath(ctx.data_dir)} (profile {ctx.profile}).")
    return (f"*Table 2 (this run).* Test macro-F1 in %, mean ± sample standard deviation over {folds} fold "
            f"models, beside the paper's published numbers. {caveat}")


def figure4_caption(ctx: RunContext) -> str:
    """Figure 4's caption (the number of folds per panel, the caveat of the run)."""
    from .results import FIGURE4_MODELS, available_folds

    parts = [f"{_name(m)}: {len(available_folds(ctx.out_dir, m))} folds" for m in FIGURE4_MODELS]
    caveat = " Quick profile: simulated data, small models." if ctx.data_dir is None else ""
    return f"*Figure 4 (this run).* Mean over folds — {'; '.join(parts)}.{caveat}"


def gallery_rows(out_dir: str | Path, model_id: str, n: int = 12) -> tuple[pd.DataFrame | None, int | None]:
    """The ``n`` most confident mistakes of the fold of ``model_id`` with the best test
    macro-F1; ``(None, None)`` when the model has no test predictions. The frame's ``attrs``
    hold ``n_wrong`` and ``n_test``."""
    from .results import fold_scores, misclassified

    scores = fold_scores(out_dir, model_id, "test")
    if scores.empty:
        return None, None
    fold = int(scores.loc[scores["macro_f1"].idxmax(), "fold"])
    wrong = misclassified(out_dir, model_id, fold)
    rows = wrong.head(n).copy()
    pairs = wrong.groupby(["true", "predicted"]).size().sort_values(ascending=False, kind="stable")
    rows.attrs = {"n_wrong": len(wrong), "n_test": int(scores.loc[scores["fold"] == fold, "n"].iloc[0]),
                  "top_confusions": [f"{t} → {p} ({k})" for (t, p), k in pairs.head(3).items()]}
    return rows, fold


def results_summary(ctx: RunContext, t2: pd.DataFrame, claims: pd.DataFrame, appendix: dict[str, Any]) -> str:
    """Closing Markdown of notebook 06: the best model, the claims reproduced, the caveats."""
    run = t2.dropna(subset=["f1_mean"])
    if run.empty:
        return "- No model has been run: nothing to summarise."
    best = run.loc[run["f1_mean"].idxmax()]
    agreed = claims[claims["agrees"] == "yes"]
    disagreed = claims[claims["agrees"] == "no"]
    n_test = appendix.get("n_test")
    few = [c for c, v in n_test.items() if v < 10] if n_test is not None else []
    lines = [
        f"- Best model of this run: Model {best['MODEL']} {best['DESCRIPTION']}, {best['F1-SCORE']}% "
        f"(paper: {best['paper F1']}%).",
        f"- The paper's claims about Table 2 hold for {yes_no_counts(claims['agrees'])} on this run"
        + (f"; not reproduced: {'; '.join(disagreed['claim'])}." if len(disagreed) else ".")
        + (f" {int((claims['within noise'] & claims['agrees'].isin(['yes', 'no'])).sum())} of the "
           f"{len(agreed) + len(disagreed)} comparisons are within the fold-to-fold noise."
           if len(agreed) + len(disagreed) else ""),
    ]
    if few:
        lines.append(f"- {len(few)} classes have fewer than 10 test objects ({', '.join(few)}); their recall is not "
                     "interpreted.")
    if ctx.data_dir is None:
        lines.append("- Quick profile: simulated data and small models trained for minutes on a CPU; the absolute "
                     "F1 values are far below the paper's by design, only the comparisons are meaningful.")
    return "\n".join(lines)


def ranked(table: pd.DataFrame) -> pd.DataFrame:
    """A ranked table (Table 3) indexed 1, 2, ... as ``rank``."""
    out = table.reset_index(drop=True)
    out.index = pd.RangeIndex(1, len(out) + 1, name="rank")
    return out


def classify_summary(tables: dict[str, pd.DataFrame]) -> str:
    """Closing Markdown of notebook 07, computed from the ``classify`` tables of each model.

    ``tables`` maps a model's display name to the table :func:`mslc_utils.classify.classify`
    returned: per model, how many objects were classified, which went through MS-SwinV2's
    masked path, which were refused and why, and how confident the top class was.
    """
    lines = []
    for name, t in tables.items():
        done = t[t["status"] == "classified"]
        refused = t[t["status"] != "classified"]
        notes = t["note"].fillna("").astype(str)
        masked = int(notes.str.contains("masked path").sum())
        text = f"- **{name}**: {len(done)} of {len(t)} objects classified"
        if masked:
            text += f", {masked} of them through the masked path (one survey missing)"
        if len(refused):
            reasons = "; ".join(f"`{r.object_id}` ({str(r.note).removeprefix('not classified: ')})"
                                for r in refused.itertuples())
            text += f"; not classified: {reasons}"
        if len(done):
            p = done["top_probability"]
            text += (f". Top-class probability {p.min():.2f}–{p.max():.2f} (chance for 21 classes: "
                     f"{1 / 21:.2f}); top classes: {', '.join(map(str, done['top_class']))}.")
        else:
            text += "."
        lines.append(text)
    if len(tables) > 1:
        tops = [t[t["status"] == "classified"].set_index("object_id")["top_class"] for t in tables.values()]
        both = pd.concat(tops, axis=1, join="inner")  # objects every model classified
        if len(both):
            agree = int((both.nunique(axis=1) == 1).sum())
            lines.append(f"- The models agree on the top class of {agree} of the {len(both)} objects "
                         "all of them classified.")
    return "\n".join(lines)
