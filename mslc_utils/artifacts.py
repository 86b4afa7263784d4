"""Per-fold artifacts of every model: layout, writers, readers, skip-if-complete.

Layout (one directory per model and fold)::

    <out_dir>/<model_id>/fold_<k>/
        config.json                   resolved settings of the run; hashed by config_hash()
        model.safetensors             best weights (trained models only)
        predictions_{train,val,test}.parquet
            object_id (str), label (str), y_true (int), y_pred (int), prob_00..prob_20 (float32)
        embeddings_{train,val,test}.parquet
            object_id (str), emb_000.. (float32)
        metrics.json                  val_macro_f1, test_macro_f1, best_epoch, epochs_run, train_seconds
        train_log.json                the Trainer's log_history
        COMPLETE                      written last; holds the config hash

A fold directory counts as complete only when ``COMPLETE`` exists and holds the hash of the
current configuration, so an interrupted run (no ``COMPLETE``) or a changed configuration
(other hash) is redone, while a finished one is skipped.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from .taxonomy import CLASSES, N_CLASSES

SPLITS: tuple[str, ...] = ("train", "val", "test")
COMPLETE_FILE = "COMPLETE"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
TRAIN_LOG_FILE = "train_log.json"
WEIGHTS_FILE = "model.safetensors"
PROB_COLUMNS: tuple[str, ...] = tuple(f"prob_{i:02d}" for i in range(N_CLASSES))


def emb_columns(dim: int) -> list[str]:
    """Column names ``emb_000`` ... of a ``dim``-dimensional embedding."""
    return [f"emb_{i:03d}" for i in range(dim)]


def fold_dir(out_dir: str | Path, model_id: str, fold: int, create: bool = False) -> Path:
    """``<out_dir>/<model_id>/fold_<fold>`` (created when ``create``)."""
    d = Path(out_dir) / model_id / f"fold_{int(fold)}"
    if create:
        d.mkdir(parents=True, exist_ok=True)
    return d


# ----------------------------------------------------------------------------- config / COMPLETE
def _canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(config: dict[str, Any]) -> str:
    """A stable short hash (16 hex digits of SHA-256) of a JSON-able settings dict.

    Keys starting with ``_`` (e.g. ``_source``, the YAML path) are ignored at every level,
    so the same settings loaded from another checkout hash identically.
    """

    def strip(o: Any) -> Any:
        if isinstance(o, dict):
            return {str(k): strip(v) for k, v in o.items() if not str(k).startswith("_")}
        if isinstance(o, (list, tuple)):
            return [strip(v) for v in o]
        return o

    return hashlib.sha256(_canonical_json(strip(config)).encode()).hexdigest()[:16]


def _atomic_write_text(path: Path, text: str) -> None:
    # write-then-rename so that a crash never leaves a half-written JSON/marker behind
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON (atomically); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str))
    return path


def read_json(path: str | Path) -> Any:
    """Read a JSON file written by :func:`write_json`."""
    with open(path) as fh:
        return json.load(fh)


def write_config(directory: str | Path, config: dict[str, Any]) -> str:
    """Write ``config.json`` into a fold directory and return its :func:`config_hash`."""
    write_json(Path(directory) / CONFIG_FILE, config)
    return config_hash(config)


def is_complete(directory: str | Path, config_hash: str | None = None) -> bool:
    """Whether ``directory`` holds a ``COMPLETE`` marker (with ``config_hash`` if given)."""
    marker = Path(directory) / COMPLETE_FILE
    if not marker.exists():
        return False
    if config_hash is None:
        return True
    return marker.read_text().strip() == config_hash


def write_complete(directory: str | Path, config_hash: str) -> Path:
    """Write the ``COMPLETE`` marker (call this last, after every other artifact)."""
    marker = Path(directory) / COMPLETE_FILE
    _atomic_write_text(marker, config_hash + "\n")
    return marker


def clear_complete(directory: str | Path) -> None:
    """Remove the ``COMPLETE`` marker (before redoing a fold)."""
    (Path(directory) / COMPLETE_FILE).unlink(missing_ok=True)


def completed_folds(out_dir: str | Path, model_id: str, config_hash: str | None = None) -> list[int]:
    """Sorted folds ``k`` of ``model_id`` whose directory is complete (with ``config_hash`` if given)."""
    root = Path(out_dir) / model_id
    if not root.exists():
        return []
    folds = []
    for d in root.glob("fold_*"):
        try:
            k = int(d.name.split("_", 1)[1])
        except ValueError:
            continue
        if d.is_dir() and is_complete(d, config_hash):
            folds.append(k)
    return sorted(folds)


# ----------------------------------------------------------------------------- predictions
def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def predictions_frame(object_ids: Sequence[str], y_true: Sequence[int], probs: np.ndarray) -> pd.DataFrame:
    """The predictions table of the contract from ids, integer labels and N×21 probabilities.

    ``y_pred`` is the arg-max of ``probs``; ``label`` is the class name of ``y_true``.
    """
    probs = np.asarray(probs, dtype=np.float32)
    y_true = np.asarray(y_true, dtype=np.int64)
    ids = np.asarray(object_ids).astype(str)
    if probs.ndim != 2 or probs.shape[1] != N_CLASSES:
        raise ValueError(f"probs must have shape (n, {N_CLASSES}), got {probs.shape}")
    if not (len(ids) == len(y_true) == len(probs)):
        raise ValueError(
            f"length mismatch: {len(ids)} object ids, {len(y_true)} labels, {len(probs)} probability rows"
        )
    if len(y_true) and (y_true.min() < 0 or y_true.max() >= N_CLASSES):
        raise ValueError(f"y_true must lie in [0, {N_CLASSES}), got range [{y_true.min()}, {y_true.max()}]")
    df = pd.DataFrame(
        {
            "object_id": pd.array(ids, dtype="string"),
            "label": pd.array([CLASSES[i] for i in y_true], dtype="string"),
            "y_true": y_true,
            "y_pred": probs.argmax(axis=1).astype(np.int64) if len(probs) else np.zeros(0, np.int64),
        }
    )
    prob_df = pd.DataFrame(probs, columns=list(PROB_COLUMNS))
    return pd.concat([df, prob_df], axis=1)


def embeddings_frame(object_ids: Sequence[str], embeddings: np.ndarray) -> pd.DataFrame:
    """The embeddings table of the contract: ``object_id`` + ``emb_000`` ... (float32)."""
    emb = np.asarray(embeddings, dtype=np.float32)
    ids = np.asarray(object_ids).astype(str)
    if emb.ndim != 2 or len(emb) != len(ids):
        raise ValueError(f"embeddings must have shape ({len(ids)}, D), got {emb.shape}")
    df = pd.DataFrame(emb, columns=emb_columns(emb.shape[1]))
    df.insert(0, "object_id", pd.array(ids, dtype="string"))
    return df


def save_predictions(
    directory: str | Path, split: str, object_ids: Sequence[str], y_true: Sequence[int], probs: np.ndarray
) -> Path:
    """Write ``predictions_<split>.parquet`` into a fold directory."""
    _check_split(split)
    path = Path(directory) / f"predictions_{split}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    predictions_frame(object_ids, y_true, probs).to_parquet(path, index=False)
    return path


def save_embeddings(directory: str | Path, split: str, object_ids: Sequence[str], embeddings: np.ndarray) -> Path:
    """Write ``embeddings_<split>.parquet`` into a fold directory."""
    _check_split(split)
    path = Path(directory) / f"embeddings_{split}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    embeddings_frame(object_ids, embeddings).to_parquet(path, index=False)
    return path


def _read(path: Path, what: str) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no {what}; train that model/fold first (e.g. rerun its notebook)"
        )
    return pd.read_parquet(path)


def load_predictions(out_dir: str | Path, model_id: str, fold: int, split: str) -> pd.DataFrame:
    """Read ``predictions_<split>.parquet`` of one model and fold."""
    _check_split(split)
    return _read(fold_dir(out_dir, model_id, fold) / f"predictions_{split}.parquet", "predictions")


def load_embeddings(out_dir: str | Path, model_id: str, fold: int, split: str) -> pd.DataFrame:
    """Read ``embeddings_<split>.parquet`` of one model and fold."""
    _check_split(split)
    return _read(fold_dir(out_dir, model_id, fold) / f"embeddings_{split}.parquet", "embeddings")


def load_metrics(out_dir: str | Path, model_id: str, fold: int) -> dict[str, Any]:
    """Read ``metrics.json`` of one model and fold."""
    path = fold_dir(out_dir, model_id, fold) / METRICS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no metrics; train that model/fold first")
    return read_json(path)


def probabilities(df: pd.DataFrame) -> np.ndarray:
    """The N×21 float32 probability matrix of a predictions table."""
    return df[list(PROB_COLUMNS)].to_numpy(dtype=np.float32)


def embedding_matrix(df: pd.DataFrame) -> np.ndarray:
    """The N×D float32 matrix of an embeddings table (columns ``emb_*`` in order)."""
    cols = sorted(c for c in df.columns if c.startswith("emb_"))
    return df[cols].to_numpy(dtype=np.float32)


def macro_f1(y_true: Iterable[int], y_pred: Iterable[int]) -> float:
    """Macro-F1 over all 21 classes (``labels=range(21)``, ``zero_division=0``), as in the contract."""
    return float(
        f1_score(list(y_true), list(y_pred), labels=list(range(N_CLASSES)), average="macro", zero_division=0)
    )
