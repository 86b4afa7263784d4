"""Per-fold artifact layout: hashes, COMPLETE markers, prediction/embedding tables."""
from __future__ import annotations

import numpy as np
import pytest

from mslc_utils import artifacts as A
from mslc_utils.taxonomy import CLASSES, N_CLASSES


def test_config_hash_is_stable_and_ignores_private_keys():
    a = {"swin": {"config": {"embed_dim": 24}}, "seed": 0, "_source": "/x/quick.yaml"}
    b = {"seed": 0, "swin": {"config": {"embed_dim": 24}}, "_source": "/elsewhere/quick.yaml"}
    assert A.config_hash(a) == A.config_hash(b)
    assert len(A.config_hash(a)) == 16
    c = {"seed": 0, "swin": {"config": {"embed_dim": 32}}}
    assert A.config_hash(a) != A.config_hash(c)


def test_complete_marker_and_completed_folds(tmp_path):
    h = A.config_hash({"x": 1})
    for k in (0, 2):
        d = A.fold_dir(tmp_path, "swin_ztf", k, create=True)
        A.write_config(d, {"x": 1})
        A.write_complete(d, h)
    A.fold_dir(tmp_path, "swin_ztf", 1, create=True)  # started, never completed
    assert A.completed_folds(tmp_path, "swin_ztf") == [0, 2]
    assert A.completed_folds(tmp_path, "swin_ztf", h) == [0, 2]
    assert A.completed_folds(tmp_path, "swin_ztf", "other") == []
    assert A.completed_folds(tmp_path, "nonexistent") == []
    d0 = A.fold_dir(tmp_path, "swin_ztf", 0)
    assert A.is_complete(d0, h) and not A.is_complete(d0, "deadbeef")
    A.clear_complete(d0)
    assert not A.is_complete(d0)


def test_predictions_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    probs = rng.random((5, N_CLASSES)).astype(np.float32)
    probs /= probs.sum(1, keepdims=True)
    y = np.array([0, 3, 20, 7, 7])
    d = A.fold_dir(tmp_path, "m", 3, create=True)
    A.save_predictions(d, "test", ["a", "b", "c", "d", "e"], y, probs)
    df = A.load_predictions(tmp_path, "m", 3, "test")
    assert list(df.columns[:4]) == ["object_id", "label", "y_true", "y_pred"]
    assert list(df.columns[4:]) == [f"prob_{i:02d}" for i in range(N_CLASSES)]
    assert df["label"].tolist() == [CLASSES[i] for i in y]
    np.testing.assert_array_equal(df["y_pred"].to_numpy(), probs.argmax(1))
    np.testing.assert_array_equal(A.probabilities(df), probs)
    assert all(df[c].dtype == np.float32 for c in A.PROB_COLUMNS)
    assert df["object_id"].tolist() == ["a", "b", "c", "d", "e"]


def test_embeddings_roundtrip(tmp_path):
    emb = np.arange(12, dtype=np.float32).reshape(3, 4)
    d = A.fold_dir(tmp_path, "m", 0, create=True)
    A.save_embeddings(d, "val", ["x", "y", "z"], emb)
    df = A.load_embeddings(tmp_path, "m", 0, "val")
    assert list(df.columns) == ["object_id", "emb_000", "emb_001", "emb_002", "emb_003"]
    np.testing.assert_array_equal(A.embedding_matrix(df), emb)


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        A.predictions_frame(["a"], [0], np.zeros((1, 5)))
    with pytest.raises(ValueError, match="length mismatch"):
        A.predictions_frame(["a", "b"], [0], np.zeros((1, N_CLASSES)))
    with pytest.raises(ValueError, match="y_true"):
        A.predictions_frame(["a"], [21], np.zeros((1, N_CLASSES)))
    with pytest.raises(ValueError, match="split"):
        A.save_predictions(tmp_path, "training", ["a"], [0], np.zeros((1, N_CLASSES)))
    with pytest.raises(FileNotFoundError, match="predictions"):
        A.load_predictions(tmp_path, "missing_model", 0, "test")


def test_macro_f1_counts_all_21_classes():
    y = [0, 0, 1, 1]
    # perfect on the two present classes; the 19 absent classes count as 0 (zero_division=0)
    assert A.macro_f1(y, y) == pytest.approx(2 / N_CLASSES)
    assert A.macro_f1(list(range(N_CLASSES)), list(range(N_CLASSES))) == pytest.approx(1.0)
