"""The on-the-fly image Dataset: labels without rendering, views, blank surveys, cache, batches."""
from __future__ import annotations

import logging
import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from mslc_utils import image_dataset as ID
from mslc_utils.image_dataset import LightCurveImageDataset, fill_cache, normalize_pixels, render_batch, render_objects
from mslc_utils.render import VIEW_BANDS, RenderSettings, render_image
from mslc_utils.taxonomy import CLASS_TO_INDEX, N_CLASSES

SMALL = RenderSettings(image_size=48)


@pytest.fixture(scope="module")
def sim():
    from mslc_utils.simulate import simulate_dataset

    lc, objects = simulate_dataset(24, seed=3, min_per_class=1, max_epochs_per_survey=150)
    return lc, objects


def test_labels_and_weights_without_rendering(sim, monkeypatch):
    lc, objects = sim

    def boom(*args, **kwargs):
        raise AssertionError("rendered while only labels were needed")

    monkeypatch.setattr(ID, "render_arrays", boom)
    ds = LightCurveImageDataset.from_tables(lc, objects, view="ZTF", settings=SMALL)
    expected = np.array([CLASS_TO_INDEX[v] for v in objects["label"]])
    assert ds.labels.dtype == np.int64 and np.array_equal(ds.labels, expected)
    counts = ds.class_counts()
    assert counts.shape == (N_CLASSES,) and counts.sum() == len(objects)
    w = ds.sample_weights()
    np.testing.assert_allclose(w, 1.0 / counts[expected])
    with pytest.raises(AssertionError, match="rendered"):
        ds[0]
    # integer labels are accepted as they are
    ds2 = LightCurveImageDataset(lc, list(objects["object_id"]), expected, settings=SMALL)
    assert np.array_equal(ds2.labels, expected)


@pytest.mark.parametrize("view", ["ZTF", "ATLAS", "stacked"])
def test_items_single_image_views(sim, view):
    lc, objects = sim
    ds = LightCurveImageDataset.from_tables(lc, objects, view=view, settings=SMALL)
    assert len(ds) == len(objects)
    item = ds[2]
    assert set(item) == {"pixel_values", "labels"}
    x = item["pixel_values"]
    assert isinstance(x, torch.Tensor) and x.dtype == torch.uint8 and tuple(x.shape) == (3, 48, 48)
    assert isinstance(item["labels"], int) and item["labels"] == CLASS_TO_INDEX[objects["label"].iloc[2]]
    # the same picture as rendering the object's table directly
    oid = objects["object_id"].iloc[2]
    direct = render_image(lc[lc["object_id"] == oid], bands=VIEW_BANDS[view], settings=SMALL)
    assert np.array_equal(x.permute(1, 2, 0).numpy(), direct)
    assert ds[-1]["labels"] == ds[len(ds) - 1]["labels"]
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_multi_view_and_missing_survey(sim, caplog):
    lc, objects = sim
    gone = objects["object_id"].iloc[1]
    lc2 = lc[~((lc["object_id"] == gone) & (lc["survey"] == "ATLAS"))]
    with caplog.at_level(logging.WARNING, logger="mslc_utils.image_dataset"):
        ds = LightCurveImageDataset.from_tables(lc2, objects, view="multi", settings=SMALL)
    assert "no ATLAS epoch" in caplog.text and gone in caplog.text
    assert ds.n_missing == {"ZTF": 0, "ATLAS": 1}
    item = ds[1]
    assert set(item) == {"pixel_values_ztf", "pixel_values_atlas", "has_ztf", "has_atlas", "labels"}
    assert item["has_ztf"] is True and item["has_atlas"] is False
    assert (item["pixel_values_atlas"] == 255).all()  # blank white image
    assert (item["pixel_values_ztf"] < 255).any()
    other = ds[0]
    assert other["has_atlas"] is True and (other["pixel_values_atlas"] < 255).any()
    ztf_only = LightCurveImageDataset.from_tables(lc2, objects, view="ZTF", settings=SMALL)
    assert torch.equal(ztf_only[1]["pixel_values"], item["pixel_values_ztf"])
    # a batch of the multi view collates into what MS-SwinV2 takes
    batch = torch.utils.data.default_collate([ds[0], ds[1]])
    assert batch["pixel_values_ztf"].shape == (2, 3, 48, 48) and batch["has_atlas"].tolist() == [True, False]
    assert batch["labels"].dtype == torch.int64


def test_cache_hit_returns_identical_array_and_skips_rendering(sim, tmp_path, monkeypatch):
    lc, objects = sim
    ds = LightCurveImageDataset.from_tables(lc, objects, view="stacked", settings=SMALL, cache_dir=tmp_path)
    first = ds.render(4)
    files = list(tmp_path.rglob("*.npy"))
    assert len(files) == 1 and ds.settings.digest() in str(files[0])
    assert files[0].parent.name == "grco" and files[0].name.startswith(objects["object_id"].iloc[4])
    calls = []
    real = ID.render_arrays
    monkeypatch.setattr(ID, "render_arrays", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = ds.render(4)
    assert calls == [] and np.array_equal(first, again) and again.dtype == np.uint8
    # other settings or other data -> another key, rendered afresh
    ds_lw = LightCurveImageDataset.from_tables(lc, objects, view="stacked", settings=RenderSettings(image_size=48, line_width=1.0), cache_dir=tmp_path)
    ds_lw.render(4)
    assert len(calls) == 1
    oid = objects["object_id"].iloc[4]
    lc_mod = lc.copy()
    lc_mod.loc[lc_mod["object_id"] == oid, "flux"] *= -1.0
    ds_mod = LightCurveImageDataset.from_tables(lc_mod, objects, view="stacked", settings=SMALL, cache_dir=tmp_path)
    flipped = ds_mod.render(4)
    assert len(calls) == 2 and not np.array_equal(flipped, first)
    assert len(list(tmp_path.rglob("*.npy"))) == 3
    # the reference renderer has its own entries, and draws (nearly) the same picture
    ds_ref = LightCurveImageDataset.from_tables(lc, objects, view="stacked", settings=SMALL, renderer="reference", cache_dir=tmp_path)
    ref = ds_ref.render(4)
    assert len(calls) == 3 and len(list(tmp_path.rglob("*.npy"))) == 4
    assert np.abs(ref.astype(int) - first.astype(int)).mean() < 2.0
    # a multi item reuses the ZTF and ATLAS entries
    ds_multi = LightCurveImageDataset.from_tables(lc, objects, view="multi", settings=SMALL, cache_dir=tmp_path)
    ds_multi[4]
    ds_multi[4]
    assert len(calls) == 5 and len(list(tmp_path.rglob("*.npy"))) == 6


def test_fill_cache_renders_every_missing_image_once_then_items_only_read(sim, tmp_path, monkeypatch):
    lc, objects = sim
    ds = LightCurveImageDataset.from_tables(lc, objects, view="multi", settings=SMALL, cache_dir=tmp_path)
    ds[3]  # two images (ZTF, ATLAS) cached by an item
    assert fill_cache(ds, n_jobs=2, chunk_size=5) == 2 * len(ds) - 2
    assert len(list(tmp_path.rglob("*.npy"))) == 2 * len(ds)
    assert fill_cache(ds, n_jobs=1) == 0  # complete: nothing rendered
    monkeypatch.setattr(ID, "render_arrays", lambda *a, **k: pytest.fail("rendered although cached"))
    item = ds[7]
    uncached = LightCurveImageDataset.from_tables(lc, objects, view="multi", settings=SMALL)
    monkeypatch.undo()
    ref = uncached[7]
    assert torch.equal(item["pixel_values_ztf"], ref["pixel_values_ztf"])
    assert torch.equal(item["pixel_values_atlas"], ref["pixel_values_atlas"])
    with pytest.raises(ValueError, match="no cache_dir"):
        fill_cache(uncached)


def test_determinism_batches_and_pickling(sim):
    lc, objects = sim
    ds = LightCurveImageDataset.from_tables(lc, objects, view="ZTF", settings=SMALL)
    assert torch.equal(ds[3]["pixel_values"], ds[3]["pixel_values"])
    one = render_batch(ds, n_jobs=1, progress=False)
    two = render_batch(ds, n_jobs=2, chunk_size=5, progress=False)
    assert one.shape == (len(ds), 48, 48, 3) and np.array_equal(one, two)
    assert np.array_equal(one[7], ds[7]["pixel_values"].permute(1, 2, 0).numpy())
    sub = render_batch(ds, indices=[5, 1], progress=False)
    assert np.array_equal(sub, one[[5, 1]])
    multi = LightCurveImageDataset.from_tables(lc, objects, view="multi", settings=SMALL)
    m = render_batch(multi, indices=[0, 1], progress=False)
    assert m.shape == (2, 2, 48, 48, 3)
    assert np.array_equal(m[:, 0], one[[0, 1]])
    # the dataset goes to DataLoader workers by pickle
    clone = pickle.loads(pickle.dumps(ds))
    assert torch.equal(clone[3]["pixel_values"], ds[3]["pixel_values"]) and np.array_equal(clone.labels, ds.labels)
    loader = torch.utils.data.DataLoader(ds, batch_size=8, num_workers=0)
    batch = next(iter(loader))
    assert batch["pixel_values"].shape == (8, 3, 48, 48) and batch["pixel_values"].dtype == torch.uint8
    # unsorted rows and foreign objects in the table change nothing
    extra = pd.DataFrame({"object_id": "NOT_LISTED", "survey": "ZTF", "band": "g", "mjd": [1.0], "flux": [1.0], "flux_err": [1.0], "detected": [False]})
    shuffled = pd.concat([lc.sample(frac=1.0, random_state=0), extra], ignore_index=True)
    ds_sh = LightCurveImageDataset.from_tables(shuffled, objects, view="ZTF", settings=SMALL)
    assert np.array_equal(render_batch(ds_sh, progress=False), one)
    ids = list(objects["object_id"][:3])
    assert np.array_equal(render_objects(lc, ids, view="ZTF", settings=SMALL, progress=False), one[:3])


def test_construction_errors(sim):
    lc, objects = sim
    ids = list(objects["object_id"])
    with pytest.raises(ValueError, match="view"):
        LightCurveImageDataset(lc, ids, view="GAIA")
    with pytest.raises(ValueError, match="labels"):
        LightCurveImageDataset(lc, ids, [0, 1])
    with pytest.raises(KeyError, match="unknown class label"):
        LightCurveImageDataset(lc, ids, ["NotAClass"] * len(ids))
    with pytest.raises(ValueError, match="indices must lie"):
        LightCurveImageDataset(lc, ids, np.full(len(ids), N_CLASSES))
    with pytest.raises(ValueError, match="duplicated"):
        LightCurveImageDataset(lc, ids + ids[:1])
    with pytest.raises(ValueError, match="absent from the object table"):
        LightCurveImageDataset.from_tables(lc, objects, object_ids=["nope"])
    with pytest.raises(ValueError, match="missing column"):
        LightCurveImageDataset(lc.drop(columns=["flux_err"]), ids)
    unlabelled = LightCurveImageDataset(lc, ids[:2], settings=SMALL)
    assert "labels" not in unlabelled[0]
    with pytest.raises(ValueError, match="no labels"):
        unlabelled.sample_weights()
    with pytest.raises(ValueError, match="multi view"):
        LightCurveImageDataset(lc, ids[:2], view="multi", settings=SMALL).render(0)


def test_normalize_pixels():
    x = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    y = normalize_pixels(x)
    assert y.dtype == torch.float32
    np.testing.assert_allclose(y[0, :, 0, 0].numpy(), (1 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]), rtol=1e-6)


def _grouped_by_definition(lc: pd.DataFrame, object_ids: list[str]):
    """(object in object_ids order, band, time), ties in input order: the plain definition."""
    pos = {o: i for i, o in enumerate(object_ids)}
    obj = np.array([pos.get(str(o), -1) for o in lc["object_id"]])
    band = np.array([ID._BAND_INDEX[b] for b in lc["band"]])
    keep = obj >= 0
    order = np.lexsort((lc["mjd"].to_numpy()[keep], band[keep], obj[keep]))
    return lc["mjd"].to_numpy()[keep][order], lc["flux"].to_numpy()[keep][order], np.bincount(
        (obj[keep] * len(ID.BAND_ORDER) + band[keep]), minlength=len(object_ids) * len(ID.BAND_ORDER))


@pytest.mark.parametrize("case", ["reader order", "shuffled", "ties and nan time"])
def test_group_lightcurves_equals_the_three_key_sort(sim, case):
    lc, _ = sim
    rng = np.random.default_rng(0)
    lc = lc.copy()
    if case != "reader order":
        lc = lc.iloc[rng.permutation(len(lc))].reset_index(drop=True)
    if case == "ties and nan time":
        lc.loc[::7, "mjd"] = lc["mjd"].iloc[0]  # equal times: input order must decide
        lc.loc[5, "mjd"] = np.nan
    ids = list(dict.fromkeys(lc["object_id"].astype(str)))[::-1][:-3]  # reordered, 3 objects left out
    g = ID.group_lightcurves(lc, ids)
    t, f, counts = _grouped_by_definition(lc, ids)
    np.testing.assert_array_equal(g.t, t)
    np.testing.assert_array_equal(g.f, f)
    np.testing.assert_array_equal(g.n_epochs.ravel(), counts)


def test_group_lightcurves_rejects_unknown_and_missing_bands(sim):
    lc, _ = sim
    bad = lc.copy()
    bad.loc[3, "band"] = "i"
    with pytest.raises(ValueError, match=r"unknown band\(s\) \['i'\]"):
        ID.group_lightcurves(bad, list(dict.fromkeys(lc["object_id"])))
    bad = lc.copy().astype({"band": object})
    bad.loc[3, "band"] = None
    with pytest.raises(ValueError, match=r"unknown band\(s\) \['(None|nan)'\]"):
        ID.group_lightcurves(bad, list(dict.fromkeys(lc["object_id"])))
