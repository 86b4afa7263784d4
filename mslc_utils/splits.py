"""Class-stratified, seeded splits defined per object (so both surveys share them).

Layout (as in the paper and in ATAT's ZTF forced-photometry code): 20% of the objects
form the test set (``train_test_split(stratify=label)``); the other 80% are divided into
five stratified folds (``StratifiedKFold(shuffle=True)``). Fold ``k`` is the validation set
of model ``k``; the other four folds train it. Every model is scored on the same test set.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

TEST_FOLD = -1


def make_splits(
    objects: pd.DataFrame,
    seed: int = 0,
    test_fraction: float = 0.2,
    n_folds: int = 5,
) -> pd.DataFrame:
    """Assign every object to the test set or to one of ``n_folds`` validation folds.

    Parameters
    ----------
    objects
        Object table with ``object_id`` and ``label``.
    seed
        Seed of both the test split and the fold shuffling.
    test_fraction
        Fraction of objects in the (stratified) test set.
    n_folds
        Number of stratified folds of the remaining objects.

    Returns
    -------
    DataFrame with ``object_id``, ``label``, ``split`` (``"test"`` or ``"trainval"``) and
    ``fold`` (``-1`` for test objects, else the fold in which the object validates),
    in the order of ``objects``.

    Raises
    ------
    ValueError
        If a class has too few objects for a stratified split (at least
        ``n_folds`` objects per class must remain after the test split).
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    counts = objects["label"].value_counts()
    # Each class needs one test object and one object per fold at least.
    min_needed = n_folds + int(np.ceil(1 / test_fraction))
    too_small = counts[counts < min_needed]
    if len(too_small):
        raise ValueError(
            f"classes with too few objects for a stratified {test_fraction:.0%} test split and "
            f"{n_folds} folds (need >= {min_needed} each): {too_small.to_dict()}"
        )
    ids = objects["object_id"].to_numpy()
    labels = objects["label"].to_numpy()
    # Sort by id first so that the split depends only on the set of objects, not on row order.
    order = np.argsort(ids, kind="stable")
    ids_sorted, labels_sorted = ids[order], labels[order]
    idx = np.arange(len(ids_sorted))
    trainval_idx, test_idx = train_test_split(
        idx, test_size=test_fraction, stratify=labels_sorted, random_state=seed
    )
    fold = np.full(len(ids_sorted), TEST_FOLD, dtype=np.int64)
    skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    trainval_idx = np.sort(trainval_idx)
    for k, (_, val_pos) in enumerate(skf.split(trainval_idx, labels_sorted[trainval_idx])):
        fold[trainval_idx[val_pos]] = k
    by_id = pd.DataFrame({"object_id": ids_sorted, "fold": fold})
    out = objects[["object_id", "label"]].merge(by_id, on="object_id", how="left")
    out["split"] = np.where(out["fold"] == TEST_FOLD, "test", "trainval")
    return out[["object_id", "label", "split", "fold"]].reset_index(drop=True)


@dataclass(frozen=True)
class FoldPartition:
    """Object ids used by the model of one fold."""

    fold: int
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def fold_partition(splits: pd.DataFrame, fold: int) -> FoldPartition:
    """Train / validation / test object ids of model ``fold`` (validation = that fold)."""
    folds = sorted(f for f in splits["fold"].unique() if f != TEST_FOLD)
    if fold not in folds:
        raise ValueError(f"fold {fold} not in the splits (folds: {folds})")
    ids = splits["object_id"].to_numpy()
    f = splits["fold"].to_numpy()
    return FoldPartition(
        fold=fold,
        train=ids[(f != TEST_FOLD) & (f != fold)],
        val=ids[f == fold],
        test=ids[f == TEST_FOLD],
    )


def n_folds_of(splits: pd.DataFrame) -> int:
    """Number of validation folds in a splits table."""
    return len(set(splits["fold"].tolist()) - {TEST_FOLD})


def heldout_splits(splits: pd.DataFrame, fraction: float = 0.2, seed: int = 12345) -> pd.DataFrame:
    """Splits for comparing training settings without the test set.

    The test objects are dropped (no fold can read them), and a stratified ``fraction`` of
    the remaining objects takes the test role (``fold`` = ``TEST_FOLD``, ``split`` =
    ``"test"``): they are never trained on, stopped or selected on, so their scores compare
    settings fairly, while the validation folds keep choosing each fold's epoch as usual
    (``scripts/heldout_stopping.py``).

    Parameters
    ----------
    splits
        A splits table of :func:`make_splits` (``object_id``, ``label``, ``split``, ``fold``).
    fraction
        Fraction of the train/validation objects held out, in (0, 1).
    seed
        Random state of the stratified draw.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"heldout_splits: fraction must be in (0, 1), got {fraction!r}")
    rest = splits[splits["fold"] != TEST_FOLD].reset_index(drop=True)
    _, held = train_test_split(rest["object_id"], test_size=fraction, stratify=rest["label"], random_state=seed)
    is_held = rest["object_id"].isin(set(held))
    rest.loc[is_held, "fold"] = TEST_FOLD
    if "split" in rest.columns:
        rest.loc[is_held, "split"] = "test"
    return rest
