"""Averaged probabilities and BRF on embeddings, on hand-made fold artifacts."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml

from mslc_utils import artifacts as A
from mslc_utils import fusion as F
from mslc_utils.config import config_dir
from mslc_utils.taxonomy import N_CLASSES


def _probs(rng, n):
    p = rng.random((n, N_CLASSES)).astype(np.float32)
    return p / p.sum(axis=1, keepdims=True)


def write_model(out_dir, model_id, folds, n_per_split, classes, emb_dim, rng, signal, shuffle_seed):
    """Fold artifacts for a fake model: ids and labels identical across models; rows of
    every file written in a model-specific shuffled order; embeddings = class signal + noise."""
    for k in folds:
        d = A.fold_dir(out_dir, model_id, k, create=True)
        for s_i, split in enumerate(A.SPLITS):
            n = n_per_split
            ids = np.array([f"F{k}{split}{i:03d}" for i in range(n)])
            y = np.array(classes)[np.arange(n) % len(classes)]
            emb = rng.normal(size=(n, emb_dim)) + signal * np.eye(emb_dim)[y % emb_dim] * 3
            order = np.random.default_rng(shuffle_seed + 10 * k + s_i).permutation(n)
            A.save_predictions(d, split, ids[order], y[order], _probs(rng, n)[order])
            A.save_embeddings(d, split, ids[order], emb[order])
        A.write_complete(d, "h")


def test_average_probabilities_aligns_by_object_id() -> None:
    rng = np.random.default_rng(0)
    ids = [f"O{i}" for i in range(6)]
    y = [0, 1, 2, 3, 4, 5]
    pa, pb = _probs(rng, 6), _probs(rng, 6)
    a = A.predictions_frame(ids, y, pa)
    b = A.predictions_frame(ids, y, pb).sample(frac=1.0, random_state=3).reset_index(drop=True)
    assert list(b["object_id"]) != ids  # really shuffled
    fused = F.average_probabilities(a, b).set_index("object_id")
    got = fused.loc[ids, list(A.PROB_COLUMNS)].to_numpy()
    np.testing.assert_allclose(got, (pa + pb) / 2, rtol=1e-6)
    assert list(fused.loc[ids, "y_pred"]) == list(((pa + pb) / 2).argmax(axis=1))
    assert list(fused.loc[ids, "y_true"]) == y


def test_average_probabilities_one_sided_object_and_label_mismatch() -> None:
    rng = np.random.default_rng(1)
    pa, pb = _probs(rng, 3), _probs(rng, 2)
    a = A.predictions_frame(["X", "Y", "Z"], [1, 2, 3], pa)
    b = A.predictions_frame(["Y", "X"], [2, 1], pb)
    fused = F.average_probabilities(a, b).set_index("object_id")
    np.testing.assert_allclose(fused.loc["Z", list(A.PROB_COLUMNS)].to_numpy(float), pa[2], rtol=1e-6)
    np.testing.assert_allclose(fused.loc["X", list(A.PROB_COLUMNS)].to_numpy(float), (pa[0] + pb[1]) / 2, rtol=1e-6)
    b_bad = A.predictions_frame(["Y", "X"], [2, 7], pb)
    with pytest.raises(ValueError, match="y_true differs"):
        F.average_probabilities(a, b_bad)


def test_run_average_fusion_writes_and_skips(tmp_path) -> None:
    rng = np.random.default_rng(2)
    for m, seed in (("swin_ztf", 1), ("swin_atlas", 2)):
        write_model(tmp_path, m, [0, 1], 12, [0, 1, 2], 4, rng, 1.0, seed)
    res = F.run_average_fusion(tmp_path)
    assert list(res["fold"]) == [0, 1] and not res["skipped"].any()
    for k in (0, 1):
        assert A.is_complete(A.fold_dir(tmp_path, "avg_3_4", k))
        for split in A.SPLITS:
            a = A.load_predictions(tmp_path, "swin_ztf", k, split).set_index("object_id")
            b = A.load_predictions(tmp_path, "swin_atlas", k, split).set_index("object_id")
            f = A.load_predictions(tmp_path, "avg_3_4", k, split).set_index("object_id")
            ids = f.index
            expect = (A.probabilities(a.loc[ids]) + A.probabilities(b.loc[ids])) / 2
            np.testing.assert_allclose(A.probabilities(f), expect, rtol=1e-6)
    again = F.run_average_fusion(tmp_path)
    assert again["skipped"].all()


def test_paper_grid_has_120_configurations() -> None:
    paper = yaml.safe_load((config_dir() / "paper.yaml").read_text())
    assert paper["brf"]["grid"] == F.PAPER_GRID
    configs = F.param_grid(paper["brf"]["grid"])
    assert len(configs) == 120 and len({tuple(c.items()) for c in configs}) == 120
    with pytest.raises(ValueError, match="keys must be"):
        F.param_grid({"n_estimators": [1]})


def test_concat_embeddings_aligns_rows_by_object_id(tmp_path) -> None:
    rng = np.random.default_rng(3)
    write_model(tmp_path, "swin_ztf", [0], 10, [0, 1], 3, rng, 1.0, 100)
    write_model(tmp_path, "swin_atlas", [0], 10, [0, 1], 2, rng, 1.0, 200)
    ids, X, y = F.concat_embeddings(tmp_path, 0, "val")
    ez = A.load_embeddings(tmp_path, "swin_ztf", 0, "val").set_index("object_id")
    ea = A.load_embeddings(tmp_path, "swin_atlas", 0, "val").set_index("object_id")
    assert X.shape == (10, 5)
    np.testing.assert_array_equal(X[:, :3], A.embedding_matrix(ez.loc[ids].reset_index()))
    np.testing.assert_array_equal(X[:, 3:], A.embedding_matrix(ea.loc[ids].reset_index()))
    pz = A.load_predictions(tmp_path, "swin_ztf", 0, "val").set_index("object_id")
    assert list(y) == list(pz.loc[ids, "y_true"])


def test_brf_grid_table3_and_fold_artifacts(tmp_path, monkeypatch) -> None:
    rng = np.random.default_rng(4)
    classes = [0, 6, 13]  # distinct signal dims (y % 4 = 0, 2, 1)
    write_model(tmp_path, "swin_ztf", [0, 1, 2], 30, classes, 4, rng, 1.0, 1)
    write_model(tmp_path, "swin_atlas", [0, 1, 2], 30, classes, 4, rng, 0.5, 2)
    section = {
        "grid": {"n_estimators": [5, 10], "max_depth": [None, 3], "max_features": ["sqrt"], "min_samples_split": [2]},
        "top_k": 3,
        "n_jobs": 1,
    }
    res = F.run_brf_fusion(tmp_path, tmp_path / "fig", section, seed=0, progress=False)
    assert len(res.scores) == 4 * 3
    t3 = res.table3
    assert len(t3) == 3
    assert list(t3.columns[:5]) == ["N_ESTIMATORS", "MAX FEATURES", "MAX DEPTH", "MIN SAMPLES SPLIT", "F1-SCORE"]
    assert all(re.fullmatch(r"\d+\.\d ± \d+\.\d", s) for s in t3["F1-SCORE"])
    assert t3["f1_mean"].is_monotonic_decreasing
    top = res.scores[res.scores["config_id"] == t3.loc[0, "config_id"]]["val_macro_f1"]
    assert t3.loc[0, "f1_mean"] == pytest.approx(100 * top.mean())
    assert t3.loc[0, "f1_std"] == pytest.approx(100 * top.std(ddof=1))
    assert set(t3["MAX DEPTH"]) <= {"None", "3"}
    assert (tmp_path / "fig" / "table3.md").read_text().count("\n") == 2 + 3
    # Well separated classes: the refitted best configuration classifies the test set well.
    for k in range(3):
        p = A.load_predictions(tmp_path, "brf_3_4", k, "test")
        assert set(p["y_pred"]) <= set(classes)
        assert A.load_metrics(tmp_path, "brf_3_4", k)["test_macro_f1"] > 0.8 * len(classes) / N_CLASSES
        assert A.is_complete(A.fold_dir(tmp_path, "brf_3_4", k))
    assert res.best_params == F.params_of_row(t3.iloc[0])
    # Second call: grid scores come from the cache and every fold is skipped.
    monkeypatch.setattr(F, "grid_search", lambda *a, **k: (_ for _ in ()).throw(AssertionError("recomputed")))
    again = F.run_brf_fusion(tmp_path, tmp_path / "fig", section, seed=0, progress=False)
    assert again.folds["skipped"].all()
    pd.testing.assert_frame_equal(again.table3, t3)
