"""The paper profile, end to end on the CPU, so that its path cannot rot.

The same functions the notebooks call, with ``setup("paper", DATA_DIR=...)``: ingestion of
raw ZTF FPS and ATLAS files with the paper's cuts, one optimiser step of every model type
(ATAT (LC) on each survey; SwinV2 on ZTF, ATLAS and the stacked image; MS-SwinV2-Linear and
-MLP), both post-hoc fusions (averaged probabilities; BRF with configurations of the paper's
grid) and the results (Table 2, Figure 4, Appendix C).

Only sizes change, each override listed in :data:`OVERRIDES` and checked against the
profile: a tiny SwinV2 saved locally with ``save_pretrained`` replaces the pre-trained
checkpoint (same loader, same 256-px preprocessing read from its processor config);
30 short simulated light curves of 3 classes replace the real data (fewer than one batch of
64 per fold, so one epoch is one step); one epoch; fold 0; two configurations of the
Appendix B grid; two data-loader workers. Everything else is the paper profile as shipped:
learning rates, batch sizes, patience, 256-px images with the on-disk render cache,
ATAT at d = 192 with every window, the 20% test split and five folds.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from transformers import Swinv2Config, Swinv2Model

from mslc_utils import artifacts as A
from mslc_utils import atat, fusion, ingest, results, training
from mslc_utils.config import load_config, setup
from mslc_utils.data import get_dataset
from mslc_utils.models import MODEL_SPECS
from mslc_utils.simulate import simulate_dataset
from mslc_utils.splits import fold_partition
from mslc_utils.taxonomy import CLASS_TO_GROUP

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CLASSES3 = ("SNIa", "QSO", "RRLab")
N_OBJECTS = 30
SWIN_MODELS = ("swin_ztf", "swin_atlas", "swin_stacked", "ms_swin_linear", "ms_swin_mlp")
ATAT_MODELS = {"ZTF": "atat_ztf", "ATLAS": "atat_atlas"}
BRF_GRID = {"n_estimators": [100], "max_depth": [None, 50], "max_features": ["sqrt"], "min_samples_split": [2]}
OVERRIDES = {
    ("training", "max_epochs"): 1,
    ("training", "num_workers"): 2,
    ("atat", "max_epochs"): 1,
    ("atat", "num_workers"): 2,
    ("brf", "grid"): BRF_GRID,
}
TINY_SWIN = dict(image_size=256, patch_size=16, embed_dim=8, depths=[1, 1], num_heads=[1, 1], window_size=8)


def _tiny_checkpoint(directory) -> dict[str, torch.Tensor]:
    """A SwinV2 saved like a hub checkpoint (safetensors + 256-px processor config)."""
    torch.manual_seed(1)
    model = Swinv2Model(Swinv2Config(**TINY_SWIN))
    model.save_pretrained(directory)
    (directory / "preprocessor_config.json").write_text(json.dumps({
        "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.485, 0.456, 0.406],
        "image_std": [0.229, 0.224, 0.225], "resample": 3, "rescale_factor": 1 / 255,
        "size": {"height": 256, "width": 256}}))
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory):
    lc, objects = simulate_dataset(N_OBJECTS, seed=5, min_per_class=1, time_span_days=200, max_epochs_per_survey=60)
    labels = [CLASSES3[i % 3] for i in range(N_OBJECTS)]
    objects = objects.assign(label=labels, group=[CLASS_TO_GROUP[c] for c in labels])
    data_dir = ingest.write_data_dir(lc, objects, tmp_path_factory.mktemp("DATA_DIR"))
    ckpt = tmp_path_factory.mktemp("swinv2-local")
    pretrained = _tiny_checkpoint(ckpt)

    ctx = setup("paper", DATA_DIR=str(data_dir), OUT_DIR=str(tmp_path_factory.mktemp("out")), DEVICE="cpu")
    ctx.config["swin"]["pretrained"] = str(ckpt)
    for (section, key), value in OVERRIDES.items():
        ctx.config[section][key] = value

    ds = get_dataset(ctx)
    scores = {m: atat.train_atat_folds(ctx, ds, s, folds=[0]) for s, m in ATAT_MODELS.items()}
    scores |= {m: training.train_model_folds(ctx, ds, m, folds=[0]) for m in SWIN_MODELS}
    fus = fusion.run_fusions(ctx, progress=False)
    res = results.make_results(ctx)
    return {"ctx": ctx, "ds": ds, "scores": scores, "fusion": fus, "results": res, "pretrained": pretrained,
            "objects": objects}


def test_only_the_listed_sizes_differ_from_the_shipped_paper_profile(paper_run) -> None:
    shipped, used = load_config("paper"), paper_run["ctx"].config
    for section in ("preprocess", "splits", "render", "training", "atat", "brf"):
        changed = {k for k in set(shipped[section]) | set(used[section]) if shipped[section].get(k) != used[section].get(k)}
        assert changed == {k for s, k in OVERRIDES if s == section}, section
    assert used["swin"]["config"] is None and used["swin"]["pretrained"] != shipped["swin"]["pretrained"]
    for key, values in BRF_GRID.items():  # the two BRF configurations come from Appendix B's grid
        assert set(values) <= set(shipped["brf"]["grid"][key])
    t = used["training"]
    assert (t["learning_rate"], t["batch_size"], t["patience"]) == (5e-6, 64, 5)
    assert used["render"]["image_size"] == 256 and used["atat"]["d_model"] == 192


def test_real_format_files_are_ingested_with_the_paper_cuts(paper_run) -> None:
    ctx, ds = paper_run["ctx"], paper_run["ds"]
    report = ingest.find_report(ctx.data_dir)
    assert report is not None
    report.check()  # epochs read = kept + removed, per survey
    assert sorted(ds.objects["object_id"]) == sorted(paper_run["objects"]["object_id"])
    assert set(ds.lightcurves["survey"]) == {"ZTF", "ATLAS"}
    counts = ds.splits["fold"].value_counts().sort_index()
    assert list(counts.index) == [-1, 0, 1, 2, 3, 4] and counts[-1] == 6  # 20% test + five folds


@pytest.mark.parametrize("model_id", [*ATAT_MODELS.values(), *SWIN_MODELS])
def test_every_model_type_trains_one_step_and_predicts_every_object(paper_run, model_id) -> None:
    ctx, ds = paper_run["ctx"], paper_run["ds"]
    d = A.fold_dir(ctx.out_dir, model_id, 0)
    assert A.is_complete(d) and (d / "model.safetensors").exists()
    metrics = json.loads((d / "metrics.json").read_text())
    assert metrics["epochs_run"] == 1
    steps = [r["step"] for r in json.loads((d / "train_log.json").read_text()) if "step" in r]
    assert max(steps) == 1  # fewer training objects (or ATAT windows) than one batch: one step
    part = fold_partition(ds.splits, 0)
    for split, ids in (("train", part.train), ("val", part.val), ("test", part.test)):
        p = A.load_predictions(ctx.out_dir, model_id, 0, split)
        assert sorted(p["object_id"]) == sorted(ids)
        np.testing.assert_allclose(A.probabilities(p).sum(axis=1), 1.0, rtol=1e-5)
    emb = A.embedding_matrix(A.load_embeddings(ctx.out_dir, model_id, 0, "test"))
    width = 192 if model_id.startswith("atat") else 8 * 2 ** (len(TINY_SWIN["depths"]) - 1)
    assert emb.shape[1] == width * (2 if model_id.startswith("ms_") else 1)


@pytest.mark.parametrize("model_id", SWIN_MODELS)
def test_swin_weights_start_from_the_local_checkpoint_and_take_one_paper_step(paper_run, model_id) -> None:
    """Saved backbone = checkpoint + one Adam step at lr 5e-6: every changed weight moved by
    about the learning rate, none by more than a few of them."""
    saved = load_file(A.fold_dir(paper_run["ctx"].out_dir, model_id, 0) / "model.safetensors")
    backbone = {k.split("backbone.", 1)[1]: v for k, v in saved.items() if "backbone." in k}
    assert set(backbone) == set(paper_run["pretrained"])
    lr = paper_run["ctx"].config["training"]["learning_rate"]
    moved = [float((backbone[k].float() - v.float()).abs().max()) for k, v in paper_run["pretrained"].items()]
    assert max(moved) > 0.1 * lr and max(moved) < 10 * lr


def test_fusions_and_results_run_on_the_paper_profile(paper_run) -> None:
    ctx, fus, res = paper_run["ctx"], paper_run["fusion"], paper_run["results"]
    assert list(fus["avg"]["fold"]) == [0]
    assert len(fus["brf"].table3) == 2 and A.is_complete(A.fold_dir(ctx.out_dir, fusion.BRF_MODEL_ID, 0))
    t2 = res["table2"]
    assert len(t2) == 9 and set(t2["n_folds"]) == {1}
    assert (ctx.figures_dir / "figure4.png").exists() and (ctx.figures_dir / "table3.csv").exists()
    assert set(MODEL_SPECS) == set(SWIN_MODELS)
    cache = list((ctx.out_dir / "image_cache").rglob("*"))
    assert any(p.is_file() for p in cache), "render.cache: true should fill OUT_DIR/image_cache"
    assert isinstance(res["appendix_c"]["statements"], list) and pd.notna(t2["F1-SCORE"]).all()
