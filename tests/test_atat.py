"""ATAT (LC): windowing, padding/mask, per-object aggregation, model shapes, training."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mslc_utils import atat as T
from mslc_utils.taxonomy import CLASS_TO_INDEX, N_CLASSES


def lightcurves(n_obs: dict[str, int], seed: int = 0, survey: str = "ZTF") -> pd.DataFrame:
    """Random canonical rows of one survey (shuffled), with ties in time between bands."""
    rng = np.random.default_rng(seed)
    bands = {"ZTF": ("g", "r"), "ATLAS": ("c", "o")}[survey]
    rows = []
    for oid, n in n_obs.items():
        mjd = 58000 + np.sort(rng.choice(3 * n, n, replace=False)).astype(float)
        band = rng.choice(bands, n)
        # a few g/r pairs observed at the same time (ties across bands)
        for i in range(0, min(n - 1, 20), 4):
            mjd[i + 1], band[i], band[i + 1] = mjd[i], bands[0], bands[1]
        for t, b in zip(mjd, band):
            rows.append((oid, survey, b, t, rng.normal(50, 30), rng.uniform(1, 5), True))
    lc = pd.DataFrame(rows, columns=["object_id", "survey", "band", "mjd", "flux", "flux_err", "detected"])
    assert not lc.duplicated(["object_id", "band", "mjd"]).any()
    return lc.sample(frac=1.0, random_state=seed).reset_index(drop=True)


# ---------------------------------------------------------------------------- windowing
def test_windows_partition_observations_without_mixing_objects() -> None:
    lc = lightcurves({"A": 450, "B": 200, "C": 7, "D": 201})
    w = T.make_windows(lc, "ZTF", window=200, labels={"A": "SNIa", "B": "QSO", "C": "LPV", "D": "CEP"})
    # every observation exactly once
    assert sorted(w.row.tolist()) == list(range(len(lc)))
    assert w.n_obs == len(lc) == int(w.length.sum())
    assert (w.length <= 200).all() and (w.length >= 1).all()
    counts = lc["object_id"].value_counts()
    per_obj = pd.Series(w.length, index=w.object_id).groupby(level=0).agg(["count", "sum"])
    assert per_obj.loc["A", "count"] == 3 and per_obj.loc["D", "count"] == 2 and per_obj.loc["C", "count"] == 1
    assert (per_obj["sum"] == counts.reindex(per_obj.index)).all()
    for i in range(len(w)):
        rows = w.row[w.start[i] : w.start[i] + w.length[i]]
        # no window mixes objects; windows carry their object's label
        assert set(lc.loc[rows, "object_id"]) == {w.object_id[i]}
        assert w.label[i] == CLASS_TO_INDEX[{"A": "SNIa", "B": "QSO", "C": "LPV", "D": "CEP"}[w.object_id[i]]]
        # consecutive in time, shifted by the window's first time
        t = w.time[w.start[i] : w.start[i] + w.length[i]]
        assert t[0] == 0.0 and (np.diff(t) >= 0).all()
        np.testing.assert_allclose(t, lc.loc[rows, "mjd"].to_numpy() - lc.loc[rows, "mjd"].min())
    # windows of one object cover consecutive time ranges (window k ends before k+1 starts)
    a = np.flatnonzero(w.object_id == "A")
    ends = [lc.loc[w.row[w.start[i] : w.start[i] + w.length[i]], "mjd"].max() for i in a]
    starts = [lc.loc[w.row[w.start[i] : w.start[i] + w.length[i]], "mjd"].min() for i in a]
    assert all(e <= s for e, s in zip(ends[:-1], starts[1:]))
    assert list(w.window_index[a]) == [0, 1, 2]


def test_windowing_ignores_row_order_and_other_surveys() -> None:
    lc = lightcurves({"A": 300, "B": 30})
    atlas = lightcurves({"A": 50}, seed=5, survey="ATLAS")
    w1 = T.make_windows(pd.concat([lc, atlas], ignore_index=True), "ZTF", window=100)
    w2 = T.make_windows(lc.sample(frac=1.0, random_state=9), "ZTF", window=100)
    assert w1.n_obs == len(lc)
    np.testing.assert_array_equal(w1.object_id, w2.object_id)
    np.testing.assert_array_equal(w1.time, w2.time)
    np.testing.assert_array_equal(w1.flux, w2.flux)
    np.testing.assert_array_equal(w1.band, w2.band)
    with pytest.raises(ValueError, match="not bands of ZTF"):
        T.make_windows(lc.assign(band="c"), "ZTF")


def test_real_zero_flux_is_kept_and_marked_real() -> None:
    lc = lightcurves({"A": 10})
    lc.loc[3, "flux"] = 0.0
    w = T.make_windows(lc, "ZTF", window=200)
    ds = T.WindowDataset(w)
    batch = T.collate_windows([ds[0]], pad_to=16)
    real = batch["mask"][0]
    assert real.sum() == 10 and not real[10:].any()
    assert (batch["flux"][0][real] == 0).sum() == 1  # the zero flux is there, marked real


def test_cap_per_object_is_deterministic_and_bounded() -> None:
    lc = lightcurves({"A": 1000, "B": 150})
    w = T.make_windows(lc, "ZTF", window=100)
    c1, c2 = w.cap_per_object(3, seed=1), w.cap_per_object(3, seed=1)
    assert (pd.Series(c1.object_id).value_counts() <= 3).all()
    assert (pd.Series(c1.object_id).value_counts()["B"] == 2)
    np.testing.assert_array_equal(c1.window_index, c2.window_index)
    assert w.cap_per_object(None) is w


# ---------------------------------------------------------------------------- aggregation
def test_window_probabilities_are_averaged_by_object_id_with_shuffled_rows() -> None:
    rng = np.random.default_rng(0)
    ids = np.array(["A", "B", "A", "C", "B", "A"])
    probs = rng.random((6, N_CLASSES))
    emb = rng.random((6, 4))
    perm = rng.permutation(6)
    p, e = T.aggregate_windows(ids[perm], probs[perm], emb[perm])
    assert list(p.index) == ["A", "B", "C"]
    np.testing.assert_allclose(p.loc["A"].to_numpy(), probs[[0, 2, 5]].mean(axis=0))
    np.testing.assert_allclose(p.loc["B"].to_numpy(), probs[[1, 4]].mean(axis=0))
    np.testing.assert_allclose(p.loc["C"].to_numpy(), probs[3])
    np.testing.assert_allclose(e.loc["B"].to_numpy(), emb[[1, 4]].mean(axis=0))
    assert list(p.columns) == [f"prob_{i:02d}" for i in range(N_CLASSES)]


# ---------------------------------------------------------------------------- model
def small_model(**kw) -> T.ATATLC:
    torch.manual_seed(0)
    cfg = T.ATATConfig(d_model=16, n_heads=4, n_layers=2, d_ff=32, dropout=0.0, **kw)
    return T.ATATLC(cfg).eval()


def test_forward_shapes_and_padding_changes_nothing() -> None:
    lc = lightcurves({"A": 120, "B": 37, "C": 5})
    w = T.make_windows(lc, "ZTF", window=200, labels={"A": "SNIa", "B": "QSO", "C": "LPV"})
    ds = T.WindowDataset(w)
    items = [ds[i] for i in range(len(ds))]
    model = small_model()
    tight = T.collate_windows(items)
    padded = T.collate_windows(items, pad_to=200)
    # garbage in the padding must not matter: only the mask says what is real
    for key in ("time", "flux", "flux_err"):
        padded[key][~padded["mask"]] = 1e6 * torch.randn(int((~padded["mask"]).sum()))
    with torch.no_grad():
        out1, out2 = model(**tight), model(**padded)
        single = model(**T.collate_windows([items[2]]))
    assert out1.logits.shape == (3, N_CLASSES) and out1.embeddings.shape == (3, 16)
    assert out1.loss is not None and torch.isfinite(out1.loss)
    torch.testing.assert_close(out1.logits, out2.logits, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out1.embeddings, out2.embeddings, rtol=1e-4, atol=1e-5)
    # a window's output does not depend on the other windows of its batch
    torch.testing.assert_close(single.logits[0], out1.logits[2], rtol=1e-4, atol=1e-5)


def test_last_layer_computes_the_class_token_alone_as_the_full_layer_would() -> None:
    # encode() runs its last layer on the class token's query only (n_queries=1): the same
    # function as the full layer's first row, in value and in gradient, padding included
    torch.manual_seed(3)
    layer = T.EncoderLayer(d_model=16, n_heads=4, d_ff=32, dropout=0.0, attention_dropout=0.0)
    x = torch.randn(5, 30, 16, requires_grad=True)
    keep = torch.rand(5, 30) < 0.7
    keep[:, 0] = True
    full = layer(x, keep)[:, 0]
    (g_full,) = torch.autograd.grad(full.square().sum(), x)
    cls_only = layer(x, keep, n_queries=1)
    assert cls_only.shape == (5, 1, 16)
    torch.testing.assert_close(cls_only[:, 0], full, rtol=1e-5, atol=1e-6)
    (g_cls,) = torch.autograd.grad(cls_only.square().sum(), x)
    torch.testing.assert_close(g_cls, g_full, rtol=1e-5, atol=1e-6)
    # and the model's embedding is that of the full stack of layers
    model = small_model().eval()
    lc = lightcurves({"A": 60, "B": 17})
    batch = T.collate_windows([T.WindowDataset(T.make_windows(lc, "ZTF", window=64))[i] for i in range(2)])
    with torch.no_grad():
        emb = model.encode(batch["time"], batch["flux"], batch["flux_err"], batch["band"], batch["mask"])
        mask = batch["mask"]
        tokens = model.embed(*(torch.where(mask, batch[k], torch.zeros_like(batch[k]))
                               for k in ("time", "flux", "flux_err", "band")))
        h = torch.cat([model.cls_token.expand(2, -1, -1), tokens], dim=1)
        keep2 = torch.cat([torch.ones(2, 1, dtype=torch.bool), mask], dim=1)
        for lyr in model.layers:
            h = lyr(h, keep2)
    torch.testing.assert_close(emb, h[:, 0], rtol=1e-5, atol=1e-6)


def test_mask_is_used_not_the_flux_value() -> None:
    model = small_model()
    b = {
        "time": torch.tensor([[0.0, 1.0, 2.0]]),
        "flux": torch.tensor([[10.0, 0.0, 20.0]]),
        "flux_err": torch.ones(1, 3),
        "band": torch.tensor([[0, 1, 0]]),
        "mask": torch.tensor([[True, True, True]]),
    }
    dropped = {k: v[:, [0, 2]] for k, v in b.items()}
    with torch.no_grad():
        full, without_zero = model(**b), model(**dropped)
    # the zero-flux observation is a real token: removing it changes the output
    assert not torch.allclose(full.logits, without_zero.logits, atol=1e-6)


def test_time_modulation_depends_on_band_and_time() -> None:
    model = small_model()
    emb = model.embed
    t = torch.tensor([[0.0, 0.0, 100.0]])
    f = torch.tensor([[5.0, 5.0, 5.0]])
    e = torch.ones(1, 3)
    tok = emb(t, f, e, torch.tensor([[0, 1, 0]]))
    assert tok.shape == (1, 3, 16)
    assert not torch.allclose(tok[0, 0], tok[0, 1])  # other band, same time and flux
    assert not torch.allclose(tok[0, 0], tok[0, 2])  # same band, other time
    ff = emb.fourier(torch.tensor([0.0, 1500.0]))
    assert ff.shape == (2, 32)
    torch.testing.assert_close(ff[0], ff[1], atol=1e-4, rtol=0)  # period t_max


def test_object_batch_averages_window_probabilities_by_owner() -> None:
    lc = lightcurves({"A": 130, "B": 60, "C": 250}, seed=3)
    w = T.make_windows(lc, "ZTF", window=50, labels={"A": "SNIa", "B": "QSO", "C": "LPV"})
    model = small_model()
    obj = T.ObjectWindowsDataset(w)
    assert list(obj.object_ids) == ["A", "B", "C"]
    # objects in shuffled order within the batch
    batch = T.collate_atat([obj[2], obj[0], obj[1]])
    assert batch["window_owner"].tolist() == [0] * 5 + [1] * 3 + [2] * 2
    with torch.no_grad():
        out = model(**batch)
        per_window = model(**T.collate_windows([T.WindowDataset(w)[i] for i in range(len(w))]))
    probs = per_window.logits.softmax(-1).numpy()
    p, e = T.aggregate_windows(w.object_id, probs, per_window.embeddings.numpy())
    np.testing.assert_allclose(out.logits.softmax(-1).numpy(), p.loc[["C", "A", "B"]].to_numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out.embeddings.numpy(), e.loc[["C", "A", "B"]].to_numpy(), rtol=1e-4, atol=1e-5)
    assert out.loss is not None and torch.isfinite(out.loss)


def _tiny_dataset(n_per_class: int = 8):
    from mslc_utils.schema import Dataset
    from mslc_utils.splits import make_splits
    from mslc_utils.taxonomy import CLASS_TO_GROUP

    labels = ["SNIa", "RRLab", "QSO"]
    rng = np.random.default_rng(0)
    rows, objs = [], []
    for c, lab in enumerate(labels):
        for j in range(n_per_class):
            oid = f"{lab[:2]}{j:02d}"
            objs.append((oid, 0.0, 0.0, lab, CLASS_TO_GROUP[lab]))
            n = int(rng.integers(30, 90))
            for i, t in enumerate(np.sort(rng.choice(400, n, replace=False))):
                for survey, band in (("ZTF", "g" if i % 2 else "r"), ("ATLAS", "o")):
                    rows.append((oid, survey, band, 58000.0 + t, 100.0 * c * np.sin(t / 7) + rng.normal(0, 5), 5.0, True))
    lc = pd.DataFrame(rows, columns=["object_id", "survey", "band", "mjd", "flux", "flux_err", "detected"])
    objects = pd.DataFrame(objs, columns=["object_id", "ra", "dec", "label", "group"])
    return Dataset(lc, objects, make_splits(objects, seed=0, test_fraction=0.25, n_folds=2))


def test_train_atat_folds_through_the_generic_trainer(tmp_path) -> None:
    from mslc_utils import artifacts as A
    from mslc_utils.config import setup
    from mslc_utils.splits import fold_partition
    from mslc_utils.training import load_weights

    ctx = setup("quick", OUT_DIR=str(tmp_path), DEVICE="cpu")
    ctx.config["atat"].update(
        window=20, d_model=8, n_heads=2, n_layers=1, d_ff=16, dropout=0.0, batch_size=8,
        max_epochs=2, patience=1, learning_rate=1e-3, train_windows="all", max_eval_windows=None,
    )
    ds = _tiny_dataset()
    res = T.train_atat_folds(ctx, ds, "ZTF", folds=[0])
    assert list(res["fold"]) == [0] and not res["skipped"].any()
    d = A.fold_dir(tmp_path, "atat_ztf", 0)
    assert A.is_complete(d) and (d / "model.safetensors").exists()
    part = fold_partition(ds.splits, 0)
    for split, ids in (("train", part.train), ("val", part.val), ("test", part.test)):
        p = A.load_predictions(tmp_path, "atat_ztf", 0, split)
        e = A.load_embeddings(tmp_path, "atat_ztf", 0, split)
        assert sorted(p["object_id"]) == sorted(ids) == sorted(e["object_id"])  # one row per object
        np.testing.assert_allclose(A.probabilities(p).sum(axis=1), 1.0, rtol=1e-5)
        assert A.embedding_matrix(e).shape[1] == 8
    # the saved test probabilities are the mean of the windows' probabilities, by object id
    model = T.ATATLC(T.ATATConfig.from_section(ctx.section("atat"))).eval()
    load_weights(model, d / "model.safetensors")
    labels = dict(zip(ds.splits["object_id"], ds.splits["label"]))
    w = T.make_windows(ds.lightcurves, "ZTF", window=20, labels=labels).select_objects(part.test)
    with torch.no_grad():
        out = model(**T.collate_windows([T.WindowDataset(w)[i] for i in range(len(w))]))
    expect, _ = T.aggregate_windows(w.object_id, out.logits.softmax(-1).numpy())
    p = A.load_predictions(tmp_path, "atat_ztf", 0, "test").set_index("object_id")
    np.testing.assert_allclose(A.probabilities(p.loc[expect.index].reset_index()), expect.to_numpy(), rtol=1e-4, atol=1e-6)
    again = T.train_atat_folds(ctx, ds, "ZTF", folds=[0])
    assert again["skipped"].all()


def test_random_window_dataset_one_item_per_object() -> None:
    lc = lightcurves({"A": 450, "B": 30}, seed=2)
    w = T.make_windows(lc, "ZTF", window=100, labels={"A": "SNIa", "B": "QSO"})
    ds = T.RandomWindowDataset(w)
    assert len(ds) == 2 and list(ds.object_ids) == ["A", "B"]
    assert list(ds.labels) == [CLASS_TO_INDEX["SNIa"], CLASS_TO_INDEX["QSO"]]
    torch.manual_seed(0)
    firsts = {float(ds[0]["flux"][0]) for _ in range(30)}
    starts = {float(w.flux[w.start[i]]) for i in np.flatnonzero(w.object_id == "A")}
    assert firsts <= starts and len(firsts) > 1  # A's windows, drawn at random
    assert len(ds[1]["time"]) == 30 and int(ds[1]["labels"]) == CLASS_TO_INDEX["QSO"]


def test_fold_datasets_cap_only_the_early_stopping_validation() -> None:
    from types import SimpleNamespace

    lc = lightcurves({"A": 1000, "B": 450, "C": 150, "D": 620}, seed=4)
    labels = {"A": "SNIa", "B": "QSO", "C": "EA", "D": "LPV"}
    w = T.make_windows(lc, "ZTF", window=100, labels=labels)
    part = SimpleNamespace(train=["A", "B"], val=["C", "D"], test=["A"])
    section = {"train_windows": "random_per_object", "max_eval_windows": None, "epoch_val_windows": 2}
    train_ds, pred, epoch_val = T.fold_datasets(w, part, section, seed=0)
    n_val_windows = pd.Series(w.select_objects(part.val).object_id).value_counts()
    assert n_val_windows["D"] == 7  # the saved validation predictions: every window
    assert sum(len(pred["val"][i]["windows"]) for i in range(len(pred["val"]))) == n_val_windows.sum()
    # early stopping: at most 2 windows per object, the same objects and labels
    assert [len(epoch_val[i]["windows"]) for i in range(len(epoch_val))] == [2, 2]
    assert list(epoch_val.object_ids) == list(pred["val"].object_ids)
    assert list(epoch_val.labels) == list(pred["val"].labels)
    # default (the paper): the early-stopping set is the validation prediction set
    section["epoch_val_windows"] = None
    _, pred_all, epoch_all = T.fold_datasets(w, part, section, seed=0)
    assert epoch_all is pred_all["val"]
