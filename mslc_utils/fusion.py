"""Post-hoc fusion of the single-survey SwinV2 models (paper rows "3+4"), and Table 3.

* **Averaged probabilities** (:func:`run_average_fusion`, model id ``avg_3_4``): per fold,
  the mean of the ZTF-only and ATLAS-only probability vectors, matched by ``object_id``.
* **BRF on embeddings** (:func:`run_brf_fusion`, model id ``brf_3_4``): per fold, imblearn's
  :class:`~imblearn.ensemble.BalancedRandomForestClassifier` on the concatenation
  ``[emb(swin_ztf) ‖ emb(swin_atlas)]`` of that fold's pooled embeddings. Every grid
  configuration (Appendix B: 120 in the paper profile, a smaller grid in quick) is fitted on
  each fold's training embeddings and scored by macro-F1 on the fold's validation set;
  Table 3 is the top ``top_k`` by mean validation F1 (mean ± std over folds, ddof
  :data:`mslc_utils.results.STD_DDOF`); the best configuration is refitted per fold and
  its predictions saved as the ``brf_3_4`` fold artifacts.

Both read only saved artifacts (``mslc_utils.artifacts``) and write the same per-fold
artifacts as the trained models, so Table 2 reads every row the same way.

BRF settings beyond the grid are set explicitly to imbalanced-learn 0.14's defaults
(``sampling_strategy="all"``, ``replacement=True``, ``bootstrap=False``: each tree sees a
class-balanced bootstrap drawn by the under-sampler), with ``random_state`` = the run seed.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from . import artifacts as A
from .results import STD_DDOF, format_pm, macro_f1, mean_std, write_table
from .taxonomy import N_CLASSES

log = logging.getLogger(__name__)

FUSION_INPUTS: tuple[str, str] = ("swin_ztf", "swin_atlas")
AVG_MODEL_ID = "avg_3_4"
BRF_MODEL_ID = "brf_3_4"
GRID_KEYS: tuple[str, ...] = ("n_estimators", "max_depth", "max_features", "min_samples_split")
#: imbalanced-learn 0.14 defaults, passed explicitly (see module docstring)
BRF_FIXED: dict[str, Any] = {"sampling_strategy": "all", "replacement": True, "bootstrap": False}
#: Appendix B grid (the paper profile's ``brf.grid``)
PAPER_GRID: dict[str, list] = {
    "n_estimators": [100, 200, 300, 500],
    "max_depth": [None, 10, 20, 30, 50],
    "max_features": ["sqrt", "log2"],
    "min_samples_split": [2, 5, 10],
}
SCORES_FILE = "grid_scores.parquet"
SCORES_META = "grid_scores.json"

#: Table 3 of the paper (top 20 configurations; F1 in %).
PAPER_TABLE3 = pd.DataFrame(
    [
        (500, "log2", "30", 5, 65.7, 0.5), (500, "log2", "None", 5, 65.7, 0.5),
        (500, "log2", "50", 5, 65.7, 0.5), (500, "log2", "10", 2, 65.7, 1.2),
        (500, "log2", "20", 5, 65.7, 0.5), (300, "log2", "20", 2, 65.7, 1.3),
        (300, "log2", "None", 2, 65.6, 1.5), (300, "log2", "30", 2, 65.6, 1.5),
        (300, "log2", "50", 2, 65.6, 1.5), (500, "log2", "None", 2, 65.6, 1.2),
        (500, "log2", "50", 2, 65.6, 1.2), (500, "log2", "30", 2, 65.6, 1.2),
        (500, "sqrt", "20", 2, 65.5, 0.2), (500, "log2", "20", 2, 65.5, 1.2),
        (300, "sqrt", "20", 2, 65.5, 0.3), (500, "sqrt", "10", 5, 65.5, 0.6),
        (500, "sqrt", "30", 2, 65.4, 0.4), (500, "sqrt", "50", 2, 65.4, 0.4),
        (500, "sqrt", "None", 2, 65.4, 0.4), (500, "sqrt", "20", 5, 65.4, 0.5),
    ],
    columns=["N_ESTIMATORS", "MAX FEATURES", "MAX DEPTH", "MIN SAMPLES SPLIT", "f1_mean", "f1_std"],
)


# ----------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------
def _files_hash(paths: Sequence[Path]) -> str:
    """SHA-256 (16 hex digits) over the names and bytes of files (the fusion's inputs)."""
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).name.encode())
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def _common_folds(out_dir: Path, models: Sequence[str], folds: Sequence[int] | None) -> list[int]:
    done = [set(A.completed_folds(out_dir, m)) for m in models]
    common = sorted(set.intersection(*done)) if done else []
    if folds is not None:
        missing = {m: sorted(set(folds) - d) for m, d in zip(models, done) if set(folds) - d}
        if missing:
            raise FileNotFoundError(
                f"{out_dir}: fold(s) not complete for the fusion inputs: {missing}; train them first"
            )
        return sorted(folds)
    if not common:
        raise FileNotFoundError(
            f"{out_dir}: no fold is complete for all of {list(models)} "
            f"(complete: {dict(zip(models, map(sorted, done)))}); train them first"
        )
    return common


def _fold_metrics_json(val: float, test: float, seconds: float, extra: Mapping[str, Any] | None = None) -> dict:
    out = {"val_macro_f1": val, "test_macro_f1": test, "best_epoch": None, "epochs_run": 0,
           "train_seconds": seconds}
    out.update(extra or {})
    return out


# ----------------------------------------------------------------------------------------
# Averaged probabilities
# ----------------------------------------------------------------------------------------
def _fold_state(out_dir: Path, model_id: str, k: int, cfg: dict, force: bool) -> tuple[Path, str, dict | None]:
    """Fold directory, config hash and, when the fold is complete with this config (and not
    ``force``), its saved scores as a ``skipped`` row; otherwise clear its ``COMPLETE`` marker."""
    d = A.fold_dir(out_dir, model_id, k, create=True)
    h = A.config_hash(cfg)
    if not force and A.is_complete(d, h):
        m = A.load_metrics(out_dir, model_id, k)
        return d, h, {"fold": k, "val_macro_f1": m["val_macro_f1"], "test_macro_f1": m["test_macro_f1"], "skipped": True}
    A.clear_complete(d)
    return d, h, None


def average_probabilities(a: pd.DataFrame, b: pd.DataFrame, names: tuple[str, str] = ("a", "b")) -> pd.DataFrame:
    """Mean of two predictions tables' probability vectors, matched by ``object_id``.

    Rows may come in any order. An object present in only one table keeps that table's
    probabilities (an object without one survey, flagged ``has_ztf``/``has_atlas``); the
    count is logged. The classes of an object must agree between the tables.

    Returns
    -------
    A predictions table (contract layout) sorted by ``object_id``.
    """
    pa = a.set_index(a["object_id"].astype(str))
    pb = b.set_index(b["object_id"].astype(str))
    for name, p in zip(names, (pa, pb)):
        if p.index.duplicated().any():
            raise ValueError(f"predictions of {name}: duplicated object_id {list(p.index[p.index.duplicated()][:3])}")
    ids = pa.index.union(pb.index).sort_values()
    common = pa.index.intersection(pb.index)
    ya, yb = pa.loc[common, "y_true"].to_numpy(), pb.loc[common, "y_true"].to_numpy()
    if (ya != yb).any():
        bad = list(common[ya != yb][:3])
        raise ValueError(f"y_true differs between {names[0]} and {names[1]} for object(s) {bad}")
    only = len(ids) - len(common)
    if only:
        log.warning(
            "averaged probabilities: %d object(s) have predictions from one model only "
            "(%d only %s, %d only %s); their fused probabilities are that model's",
            only, len(pa.index.difference(pb.index)), names[0], len(pb.index.difference(pa.index)), names[1],
        )
    qa = pa.reindex(ids)[list(A.PROB_COLUMNS)].to_numpy(np.float64)
    qb = pb.reindex(ids)[list(A.PROB_COLUMNS)].to_numpy(np.float64)
    probs = np.nanmean(np.stack([qa, qb]), axis=0)
    y = pa["y_true"].reindex(ids).fillna(pb["y_true"].reindex(ids)).to_numpy(np.int64)
    return A.predictions_frame(ids.to_numpy(), y, probs)


def run_average_fusion(
    out_dir: str | Path,
    inputs: tuple[str, str] = FUSION_INPUTS,
    model_id: str = AVG_MODEL_ID,
    folds: Sequence[int] | None = None,
    force: bool = False,
) -> pd.DataFrame:
    """Write the ``avg_3_4`` fold artifacts (predictions of every split, metrics, config).

    Skips a fold whose ``COMPLETE`` hash matches (same inputs, byte for byte) unless
    ``force``. Returns one row per fold: ``fold``, ``val_macro_f1``, ``test_macro_f1``,
    ``skipped``.
    """
    out_dir = Path(out_dir)
    rows = []
    for k in _common_folds(out_dir, inputs, folds):
        files = [A.fold_dir(out_dir, m, k) / f"predictions_{s}.parquet" for m in inputs for s in A.SPLITS]
        cfg = {"model_id": model_id, "fold": k, "method": "mean of probability vectors",
               "inputs": list(inputs), "input_hash": _files_hash(files)}
        d, h, done = _fold_state(out_dir, model_id, k, cfg, force)
        if done is not None:
            rows.append(done)
            continue
        t0 = time.perf_counter()
        scores = {}
        for split in A.SPLITS:
            fused = average_probabilities(
                A.load_predictions(out_dir, inputs[0], k, split),
                A.load_predictions(out_dir, inputs[1], k, split),
                names=inputs,
            )
            fused.to_parquet(d / f"predictions_{split}.parquet", index=False)
            scores[split] = macro_f1(fused["y_true"], fused["y_pred"])
        A.write_config(d, cfg)
        A.write_json(d / A.METRICS_FILE, _fold_metrics_json(scores["val"], scores["test"], time.perf_counter() - t0))
        A.write_complete(d, h)
        rows.append({"fold": k, "val_macro_f1": scores["val"], "test_macro_f1": scores["test"], "skipped": False})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------
# BRF on embeddings
# ----------------------------------------------------------------------------------------
@dataclass
class FoldEmbeddings:
    """Concatenated embeddings of one fold: per split ``ids`` (str), ``X`` (n x D), ``y``."""

    fold: int
    ids: dict[str, np.ndarray] = field(default_factory=dict)
    X: dict[str, np.ndarray] = field(default_factory=dict)
    y: dict[str, np.ndarray] = field(default_factory=dict)


def concat_embeddings(
    out_dir: str | Path, fold: int, split: str, inputs: Sequence[str] = FUSION_INPUTS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ids, X, y)``: the inputs' embeddings joined by ``object_id`` and concatenated in
    the order of ``inputs``; ``y`` from the first input's predictions.

    Raises ``ValueError`` when the inputs do not cover the same objects (the BRF needs every
    part of the vector; nothing is silently dropped).
    """
    frames = []
    for m in inputs:
        e = A.load_embeddings(out_dir, m, fold, split)
        e = e.set_index(e["object_id"].astype(str)).drop(columns="object_id")
        e.columns = [f"{m}:{c}" for c in e.columns]
        frames.append(e)
    ids = frames[0].index
    for m, f in zip(inputs[1:], frames[1:]):
        if not f.index.sort_values().equals(ids.sort_values()):
            diff = ids.symmetric_difference(f.index)
            raise ValueError(
                f"fold {fold} {split}: embeddings of {inputs[0]} and {m} cover different objects "
                f"({len(diff)} differ, e.g. {list(diff[:3])})"
            )
    ids = ids.sort_values()
    X = np.concatenate([f.loc[ids].to_numpy(np.float32) for f in frames], axis=1)
    p = A.load_predictions(out_dir, inputs[0], fold, split)
    y = p.set_index(p["object_id"].astype(str))["y_true"].reindex(ids)
    if y.isna().any():
        raise ValueError(f"fold {fold} {split}: {int(y.isna().sum())} object(s) have embeddings but no label")
    return ids.to_numpy().astype(str), X, y.to_numpy(np.int64)


def load_fold_embeddings(out_dir: str | Path, fold: int, inputs: Sequence[str] = FUSION_INPUTS) -> FoldEmbeddings:
    """Train, val and test concatenated embeddings of one fold."""
    fe = FoldEmbeddings(fold)
    for split in A.SPLITS:
        fe.ids[split], fe.X[split], fe.y[split] = concat_embeddings(out_dir, fold, split, inputs)
    return fe


def param_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every configuration of ``grid`` (keys :data:`GRID_KEYS`), in a fixed order."""
    unknown = set(grid) - set(GRID_KEYS)
    missing = set(GRID_KEYS) - set(grid)
    if unknown or missing:
        raise ValueError(f"brf grid: keys must be {list(GRID_KEYS)}; unknown {sorted(unknown)}, missing {sorted(missing)}")
    values = [list(grid[k]) for k in GRID_KEYS]
    return [dict(zip(GRID_KEYS, combo)) for combo in itertools.product(*values)]


def make_brf(params: Mapping[str, Any], random_state: int, n_jobs: int | None = 1):
    """A :class:`BalancedRandomForestClassifier` with ``params`` and the fixed settings."""
    from imblearn.ensemble import BalancedRandomForestClassifier

    return BalancedRandomForestClassifier(**params, **BRF_FIXED, random_state=random_state, n_jobs=n_jobs)


def _fit_score(config_id: int, params: dict, fold: int, X_tr, y_tr, X_val, y_val, random_state: int) -> dict:
    clf = make_brf(params, random_state)
    clf.fit(X_tr, y_tr)
    score = macro_f1(y_val, clf.predict(X_val))
    return {"config_id": config_id, "fold": fold, "val_macro_f1": score}


def grid_search(
    data: Mapping[int, FoldEmbeddings],
    grid: Mapping[str, Sequence[Any]],
    random_state: int = 0,
    n_jobs: int = 1,
    progress: bool = True,
) -> pd.DataFrame:
    """Fit every (configuration, fold) on the fold's train set, score macro-F1 on its val.

    Returns one row per pair: ``config_id`` (grid order), the four parameters
    (``max_depth`` as nullable Int64, NA = None), ``fold``, ``val_macro_f1``.
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    configs = param_grid(grid)
    # Expensive configurations first so that the workers finish together.
    tasks = sorted(
        ((i, c, k) for i, c in enumerate(configs) for k in sorted(data)),
        key=lambda t: -t[1]["n_estimators"],
    )
    jobs = (
        delayed(_fit_score)(i, c, k, data[k].X["train"], data[k].y["train"], data[k].X["val"], data[k].y["val"], random_state)
        for i, c, k in tasks
    )
    results = []
    par = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    for r in tqdm(par(jobs), total=len(tasks), desc="BRF grid", disable=not progress):
        results.append(r)
    df = pd.DataFrame(results).sort_values(["config_id", "fold"]).reset_index(drop=True)
    params = pd.DataFrame(configs)
    params["config_id"] = np.arange(len(configs))
    params["max_depth"] = pd.array(params["max_depth"].tolist(), dtype="Int64")
    df = params.merge(df, on="config_id", how="right")
    return df[["config_id", *GRID_KEYS, "fold", "val_macro_f1"]]


def table3(scores: pd.DataFrame, top_k: int | None = 20, ddof: int = STD_DDOF) -> pd.DataFrame:
    """Table 3: configurations ranked by mean validation macro-F1 over folds.

    Columns (paper layout first): ``N_ESTIMATORS``, ``MAX FEATURES``, ``MAX DEPTH``
    (``"None"`` or an integer as text), ``MIN SAMPLES SPLIT``, ``F1-SCORE`` (``"mean ± std"``
    in %), then ``f1_mean``, ``f1_std`` (%), ``n_folds``, ``config_id``. Ties keep grid order.
    ``top_k=None`` returns every configuration.
    """
    rows = []
    for cid, g in scores.groupby("config_id", sort=True):
        m, s = mean_std(g["val_macro_f1"], ddof=ddof)
        first = g.iloc[0]
        md = first["max_depth"]
        rows.append(
            {
                "N_ESTIMATORS": int(first["n_estimators"]),
                "MAX FEATURES": str(first["max_features"]),
                "MAX DEPTH": "None" if pd.isna(md) else str(int(md)),
                "MIN SAMPLES SPLIT": int(first["min_samples_split"]),
                "F1-SCORE": format_pm(m, s),
                "f1_mean": 100 * m,
                "f1_std": 100 * s,
                "n_folds": int(len(g)),
                "config_id": int(cid),
            }
        )
    t = pd.DataFrame(rows).sort_values(["f1_mean", "config_id"], ascending=[False, True], kind="stable")
    t = t.reset_index(drop=True)
    return t.head(top_k).reset_index(drop=True) if top_k else t


def params_of_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """BRF parameters of a Table 3 row."""
    md = row["MAX DEPTH"]
    return {
        "n_estimators": int(row["N_ESTIMATORS"]),
        "max_depth": None if md in (None, "None") else int(md),
        "max_features": str(row["MAX FEATURES"]),
        "min_samples_split": int(row["MIN SAMPLES SPLIT"]),
    }


def cached_grid_search(
    cache_dir: str | Path,
    data: Mapping[int, FoldEmbeddings],
    grid: Mapping[str, Sequence[Any]],
    input_hash: str,
    random_state: int = 0,
    n_jobs: int = 1,
    force: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """:func:`grid_search` cached in ``cache_dir/grid_scores.parquet``; reused when the grid,
    the folds, the seed and the input hash are the same (recorded in ``grid_scores.json``)."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = {
        "grid": {k: list(grid[k]) for k in GRID_KEYS},
        "folds": sorted(int(k) for k in data),
        "random_state": int(random_state),
        "input_hash": input_hash,
        "fixed": BRF_FIXED,
    }
    scores_path, meta_path = cache_dir / SCORES_FILE, cache_dir / SCORES_META
    if not force and scores_path.exists() and meta_path.exists():
        if A.read_json(meta_path) == json.loads(json.dumps(key)):
            log.info("BRF grid: reusing cached scores %s", scores_path)
            return pd.read_parquet(scores_path)
        log.info("BRF grid: cache %s is for other settings; recomputing", scores_path)
    scores = grid_search(data, grid, random_state=random_state, n_jobs=n_jobs, progress=progress)
    scores.to_parquet(scores_path, index=False)
    A.write_json(meta_path, key)
    return scores


@dataclass
class BRFResult:
    """Output of :func:`run_brf_fusion`."""

    scores: pd.DataFrame
    table3: pd.DataFrame
    best_params: dict[str, Any]
    folds: pd.DataFrame
    paths: dict[str, Path]


def run_brf_fusion(
    out_dir: str | Path,
    figures_dir: str | Path,
    brf_section: Mapping[str, Any],
    seed: int = 0,
    inputs: tuple[str, str] = FUSION_INPUTS,
    model_id: str = BRF_MODEL_ID,
    folds: Sequence[int] | None = None,
    force: bool = False,
    progress: bool = True,
) -> BRFResult:
    """Grid search (cached), Table 3 (CSV + Markdown in ``figures_dir``), and the best
    configuration refitted per fold and saved as ``model_id`` fold artifacts.

    Parameters
    ----------
    brf_section
        The profile's ``brf`` section: ``grid`` (the four lists), ``top_k``, ``n_jobs``.
    seed
        ``random_state`` of every forest.
    """
    import joblib

    out_dir = Path(out_dir)
    grid = brf_section["grid"]
    top_k = brf_section.get("top_k", 20)
    n_jobs = int(brf_section.get("n_jobs", 1))
    fold_list = _common_folds(out_dir, inputs, folds)
    files = [
        A.fold_dir(out_dir, m, k) / f"{kind}_{s}.parquet"
        for k in fold_list for m in inputs for s in A.SPLITS for kind in ("embeddings", "predictions")
    ]
    input_hash = _files_hash(files)
    data = {k: load_fold_embeddings(out_dir, k, inputs) for k in fold_list}
    scores = cached_grid_search(
        out_dir / model_id, data, grid, input_hash, random_state=seed, n_jobs=n_jobs, force=force, progress=progress
    )
    full = table3(scores, top_k=None)
    t3 = full.head(top_k).reset_index(drop=True) if top_k else full
    paths = write_table(t3, figures_dir, "table3", ["N_ESTIMATORS", "MAX FEATURES", "MAX DEPTH", "MIN SAMPLES SPLIT", "F1-SCORE"])
    best = params_of_row(full.iloc[0])
    rows = []
    for k in fold_list:
        cfg = {"model_id": model_id, "fold": k, "inputs": list(inputs), "params": best, "fixed": BRF_FIXED,
               "random_state": seed, "input_hash": input_hash}
        d, h, done = _fold_state(out_dir, model_id, k, cfg, force)
        if done is not None:
            rows.append(done)
            continue
        t0 = time.perf_counter()
        fe = data[k]
        clf = make_brf(best, seed, n_jobs=n_jobs)
        clf.fit(fe.X["train"], fe.y["train"])
        fit_s = time.perf_counter() - t0
        if list(clf.classes_) != list(range(N_CLASSES)):
            # predict_proba columns follow clf.classes_; place them in Table 1 order.
            proba_cols = np.asarray(clf.classes_, dtype=np.int64)
        else:
            proba_cols = None
        sc = {}
        for split in A.SPLITS:
            p = clf.predict_proba(fe.X[split])
            if proba_cols is not None:
                full_p = np.zeros((len(p), N_CLASSES))
                full_p[:, proba_cols] = p
                p = full_p
            A.save_predictions(d, split, fe.ids[split], fe.y[split], p)
            sc[split] = macro_f1(fe.y[split], p.argmax(axis=1))
        joblib.dump(clf, d / "brf.joblib")
        A.write_config(d, cfg)
        A.write_json(d / A.METRICS_FILE, _fold_metrics_json(sc["val"], sc["test"], fit_s, {"params": best}))
        A.write_complete(d, h)
        rows.append({"fold": k, "val_macro_f1": sc["val"], "test_macro_f1": sc["test"], "skipped": False})
    return BRFResult(scores=scores, table3=t3, best_params=best, folds=pd.DataFrame(rows), paths=paths)


def run_fusions(ctx: Any, force: bool = False, progress: bool = True) -> dict[str, Any]:
    """Both post-hoc fusions of a run (notebook 04): ``avg_3_4`` and ``brf_3_4``.

    Returns ``{"avg": per-fold DataFrame, "brf": BRFResult}``; Table 3 is written to
    ``ctx.figures_dir`` (``table3.csv``, ``table3.md``).
    """
    avg = run_average_fusion(ctx.out_dir, force=force)
    brf = run_brf_fusion(ctx.out_dir, ctx.figures_dir, ctx.section("brf"), seed=ctx.seed, force=force, progress=progress)
    return {"avg": avg, "brf": brf}
