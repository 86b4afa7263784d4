"""The paper profile, end to end on the CPU, so that its path cannot rot.

``./run_all.sh <profile file>`` with ``DATA_DIR`` on raw ZTF FPS and ATLAS server files: every
notebook, with the paper profile's settings — ingestion with the paper's cuts, one optimiser
step per fold of every model type (ATAT (LC) on each survey; SwinV2 on ZTF, ATLAS and the
stacked image; MS-SwinV2-Linear and -MLP), both post-hoc fusions (averaged probabilities; BRF
with configurations of the paper's grid), Table 2, Figure 4 and Appendix C.

Only sizes change, each override listed in :data:`OVERRIDES` and checked against
``configs/paper.yaml``: a tiny SwinV2 saved locally with ``save_pretrained`` replaces the
pre-trained checkpoint (same loader, same 256-px preprocessing read from its processor config);
30 short simulated light curves of 3 classes replace the real data (fewer than one batch of
64 per fold, so one epoch is one step); one epoch; two configurations of the Appendix B grid;
two data-loader workers. Everything else is the paper profile as shipped: learning rates,
batch sizes, patience, 256-px images with the on-disk render cache, ATAT at d = 192 with every
window, the 20% test split and five folds.
"""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file

from mslc_utils import artifacts as A
from mslc_utils import fusion, ingest
from mslc_utils.config import load_config, repo_root, setup
from mslc_utils.data import get_dataset
from mslc_utils.models import MODEL_SPECS
from mslc_utils.simulate import simulate_dataset
from mslc_utils.splits import fold_partition
from mslc_utils.taxonomy import CLASS_TO_GROUP

from conftest import run_all_env, save_local_swin

# one pytest-xdist worker runs the whole module (tests/conftest.py: ONE_WORKER_MODULES), so that
# its module-scoped run_all.sh run (~3 min) is made once, not once on each worker
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
    """A tiny SwinV2 saved like a hub checkpoint (256-px processor config); its weights."""
    model, _ = save_local_swin(directory, TINY_SWIN, seed=1)
    return {k: v.clone() for k, v in model.state_dict().items()}


def _paper_profile_file(path, checkpoint) -> dict:
    """configs/paper.yaml with only the OVERRIDES (and the local checkpoint) changed."""
    cfg = yaml.safe_load((repo_root() / "configs" / "paper.yaml").read_text())
    cfg["swin"]["pretrained"] = str(checkpoint)
    for (section, key), value in OVERRIDES.items():
        cfg[section][key] = value
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return cfg


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory):
    """``run_all.sh <paper profile file>`` with ``DATA_DIR`` on raw files, on the CPU."""
    tmp = tmp_path_factory.mktemp("paper")
    lc, objects = simulate_dataset(N_OBJECTS, seed=5, min_per_class=1, time_span_days=200, max_epochs_per_survey=60)
    labels = [CLASSES3[i % 3] for i in range(N_OBJECTS)]
    objects = objects.assign(label=labels, group=[CLASS_TO_GROUP[c] for c in labels])
    data_dir = ingest.write_data_dir(lc, objects, tmp / "DATA_DIR")
    pretrained = _tiny_checkpoint(tmp / "swinv2-local")
    profile = tmp / "paper.yaml"
    _paper_profile_file(profile, tmp / "swinv2-local")

    env = run_all_env(tmp, DATA_DIR=str(data_dir))
    run = subprocess.run(["bash", str(repo_root() / "run_all.sh"), str(profile)], env=env, capture_output=True,
                         text=True, timeout=1800)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]

    ctx = setup(str(profile), DATA_DIR=str(data_dir), OUT_DIR=str(tmp / "out"), DEVICE="cpu")
    return {"ctx": ctx, "ds": get_dataset(ctx), "pretrained": pretrained, "objects": objects,
            "executed": tmp / "executed"}


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


FOLDS = range(5)


@pytest.mark.parametrize("model_id", [*ATAT_MODELS.values(), *SWIN_MODELS])
def test_every_model_type_trains_one_step_per_fold_and_predicts_every_object(paper_run, model_id) -> None:
    ctx, ds = paper_run["ctx"], paper_run["ds"]
    for k in FOLDS:
        d = A.fold_dir(ctx.out_dir, model_id, k)
        assert A.is_complete(d) and (d / "model.safetensors").exists()
        assert json.loads((d / "metrics.json").read_text())["epochs_run"] == 1
        steps = [r["step"] for r in json.loads((d / "train_log.json").read_text()) if "step" in r]
        assert max(steps) == 1  # fewer training objects (or ATAT windows) than one batch: one step
        part = fold_partition(ds.splits, k)
        for split, ids in (("train", part.train), ("val", part.val), ("test", part.test)):
            p = A.load_predictions(ctx.out_dir, model_id, k, split)
            assert sorted(p["object_id"]) == sorted(ids)
            np.testing.assert_allclose(A.probabilities(p).sum(axis=1), 1.0, rtol=1e-5)
    emb = A.embedding_matrix(A.load_embeddings(ctx.out_dir, model_id, 0, "test"))
    width = 192 if model_id.startswith("atat") else 8 * 2 ** (len(TINY_SWIN["depths"]) - 1)
    assert emb.shape[1] == width * (2 if model_id.startswith("ms_") else 1)


@pytest.mark.parametrize("model_id", SWIN_MODELS)
def test_swin_weights_start_from_the_local_checkpoint_and_take_one_paper_step(paper_run, model_id) -> None:
    """Saved backbone = checkpoint + one Adam step at lr 5e-6: the weights moved by about the
    learning rate (Adam's first step), not more: loaded from the checkpoint, then trained."""
    lr = paper_run["ctx"].config["training"]["learning_rate"]
    for k in FOLDS:
        saved = load_file(A.fold_dir(paper_run["ctx"].out_dir, model_id, k) / "model.safetensors")
        backbone = {key.split("backbone.", 1)[1]: v for key, v in saved.items() if "backbone." in key}
        assert set(backbone) == set(paper_run["pretrained"])
        moved = [float((backbone[key].float() - v.float()).abs().max()) for key, v in paper_run["pretrained"].items()]
        assert 0.1 * lr < max(moved) < 10 * lr


def test_fusions_results_and_notebooks_of_the_paper_profile(paper_run) -> None:
    ctx = paper_run["ctx"]
    assert ctx.profile == "paper" and ctx.figures_dir == ctx.out_dir / "figures"
    for model_id in (fusion.AVG_MODEL_ID, fusion.BRF_MODEL_ID):
        assert all(A.is_complete(A.fold_dir(ctx.out_dir, model_id, k)) for k in FOLDS)
    assert len(pd.read_csv(ctx.figures_dir / "table3.csv")) == 2  # the two grid configurations
    t2 = pd.read_csv(ctx.figures_dir / "table2.csv")
    assert len(t2) == 9 and set(t2["n_folds"]) == {5} and t2["F1-SCORE"].notna().all()
    for name in ("table1.csv", "figure1.png", "figure4.png", "recall_statements.md"):
        assert (ctx.figures_dir / name).is_file(), name
    assert set(MODEL_SPECS) == set(SWIN_MODELS)  # every SwinV2 model type is covered above
    assert any(p.is_file() for p in (ctx.out_dir / "image_cache").rglob("*")), "render.cache fills image_cache"
    executed = sorted(p.name for p in paper_run["executed"].glob("*.ipynb"))
    assert executed == sorted(p.name for p in (repo_root() / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    nb01 = (paper_run["executed"] / "01_data_exploration.ipynb").read_text()
    assert "epochs_read" in nb01  # the filtering report of the real-data path is displayed
