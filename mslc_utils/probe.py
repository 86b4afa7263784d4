"""Does a multi-survey model use both surveys? Linear probes of its joint embedding.

MS-SwinV2 (paper rows 6 and 7) saves, per object, the concatenation ``[emb_ZTF ‖ emb_ATLAS]``
that its Mix head reads. A *linear probe* — a standardised, class-balanced logistic
regression fitted on a fold's **training** embeddings and scored by macro-F1 on its
**validation** objects — on the ZTF half alone, the ATLAS half alone and both halves tells
how much class information each stream carries and whether the two together carry more than
ZTF alone (the paper's claim that "incorporating ATLAS data in the multi-survey framework
provides additional signals"). The saved Mix-head prediction is scored beside it.

Validation only, from saved artifacts; nothing is retrained and the test split is not read.

    from mslc_utils.probe import survey_probe
    survey_probe("artifacts/quick")            # one row per fold, macro-F1 in [0, 1]
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from . import artifacts as A
from .fusion import concat_embeddings

#: columns of :func:`survey_probe`, in order
PROBE_COLUMNS: tuple[str, ...] = ("mix_head", "probe_ztf_half", "probe_atlas_half", "probe_both")


def _covered(out_dir: str | Path, model_id: str, fold: int, split: str, ids: np.ndarray) -> None:
    """Every object with a saved prediction has an embedding (a probe must not silently skip any)."""
    pred_ids = A.load_predictions(out_dir, model_id, fold, split)["object_id"].astype(str)
    missing = sorted(set(pred_ids) - set(ids))
    if missing:
        raise ValueError(
            f"{A.fold_dir(out_dir, model_id, fold)}: {len(missing)} {split} objects have predictions but no "
            f"embedding (e.g. {missing[0]!r})"
        )


def linear_probe(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, C: float = 0.1) -> float:
    """Validation macro-F1 of a standardised, class-balanced logistic regression fitted on train."""
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000, class_weight="balanced"))
    model.fit(x_train, y_train)
    return A.macro_f1(y_val, model.predict(x_val))


def survey_probe(
    out_dir: str | Path, model_id: str = "ms_swin_linear", folds: Sequence[int] | None = None, C: float = 0.1
) -> pd.DataFrame:
    """Per fold: validation macro-F1 of the saved Mix prediction and of linear probes.

    Parameters
    ----------
    out_dir
        A run's ``OUT_DIR`` (artifacts).
    model_id
        A multi-survey model whose embeddings are ``[ZTF ‖ ATLAS]`` (``ms_swin_linear`` or
        ``ms_swin_mlp``).
    folds
        Folds to probe (default: every completed fold of ``model_id``).
    C
        Inverse L2 strength of the logistic regression (fixed, not tuned).

    Returns
    -------
    One row per fold, index ``fold``, columns :data:`PROBE_COLUMNS` (macro-F1 in [0, 1]).
    """
    folds = list(A.completed_folds(out_dir, model_id) if folds is None else folds)
    if not folds:
        raise FileNotFoundError(f"{out_dir}: no completed fold of {model_id}; train it first (notebook 05)")
    rows = []
    for k in folds:
        # embeddings joined with their labels by object_id (the BRF fusion's reader)
        ids_tr, e_tr, y_tr = concat_embeddings(out_dir, k, "train", inputs=(model_id,))
        ids_va, e_va, y_va = concat_embeddings(out_dir, k, "val", inputs=(model_id,))
        _covered(out_dir, model_id, k, "train", ids_tr)
        _covered(out_dir, model_id, k, "val", ids_va)
        if e_tr.shape[1] % 2:
            raise ValueError(f"{A.fold_dir(out_dir, model_id, k)}: embedding width {e_tr.shape[1]} is not ZTF ‖ ATLAS")
        d = e_tr.shape[1] // 2
        pred_va = A.load_predictions(out_dir, model_id, k, "val")
        rows.append({
            "fold": k,
            "mix_head": A.macro_f1(pred_va["y_true"], pred_va["y_pred"]),
            "probe_ztf_half": linear_probe(e_tr[:, :d], y_tr, e_va[:, :d], y_va, C),
            "probe_atlas_half": linear_probe(e_tr[:, d:], y_tr, e_va[:, d:], y_va, C),
            "probe_both": linear_probe(e_tr, y_tr, e_va, y_va, C),
        })
    return pd.DataFrame(rows).set_index("fold")[list(PROBE_COLUMNS)]
