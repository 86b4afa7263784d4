"""Trainer-based fold training: sampler, settings, artifacts, skip-if-complete, resume,
determinism. Tiny SwinV2 (32×32 images, ~10k parameters), a few dozen samples."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import TrainerCallback

from mslc_utils import artifacts as A
from mslc_utils import training as T
from mslc_utils.models import build_model
from mslc_utils.taxonomy import N_CLASSES
from mslc_utils.training import (
    ArrayDataset,
    _best_epoch,
    EpochSeededWeightedSampler,
    PredictSet,
    TrainSettings,
    class_counts,
    fit,
    load_weights,
    mean_by_object,
    predict,
    run_fold,
    sample_weights,
    training_arguments,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TINY_SWIN = {
    "pretrained": None,
    "config": dict(image_size=32, patch_size=8, embed_dim=8, depths=[1, 1], num_heads=[1, 2], window_size=2),
}


def _toy_images(n: int, seed: int, two: bool = False) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """White 32×32 images with a dark horizontal bar whose row encodes the class."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, n)
    x = np.full((n, 3, 32, 32), 255, np.uint8)
    for i, c in enumerate(y):
        x[i, :, c : c + 4, :] = rng.integers(0, 60)
    if two:
        return {"pixel_values_ztf": x, "pixel_values_atlas": x[:, :, ::-1].copy()}, y
    return {"pixel_values": x}, y


def _sets(n_train=48, n_val=24, n_test=24, two=False):
    out = {}
    for split, n, seed in (("train", n_train, 0), ("val", n_val, 1), ("test", n_test, 2)):
        arrays, y = _toy_images(n, seed, two)
        ds = ArrayDataset(arrays, y)
        out[split] = PredictSet(ds, [f"{split}{i:03d}" for i in range(n)], y)
    return out


def _settings(**kw) -> TrainSettings:
    base = dict(learning_rate=3e-3, batch_size=16, max_epochs=2, patience=5, seed=0, device="cpu", verbose=False)
    base.update(kw)
    return TrainSettings(**base)


def _run(fold_dir, sets, settings, model_id="swin_ztf", config=None, **kw):
    return run_fold(
        fold_dir,
        config or {"model": model_id, "lr": settings.learning_rate, "epochs": settings.max_epochs},
        lambda: build_model(model_id, TINY_SWIN, {"mix_head_hidden": 8}),
        sets["train"].dataset,
        sets["val"].dataset,
        sets["train"].labels,
        sets,
        settings,
        **kw,
    )


# ----------------------------------------------------------------------------- sampler
def test_sample_weights_from_labels():
    y = [0, 0, 3, 5, 5, 5, 5]
    w = sample_weights(y)
    np.testing.assert_allclose(w, [0.5, 0.5, 1.0, 0.25, 0.25, 0.25, 0.25])
    assert class_counts(y)[[0, 3, 5]].tolist() == [2, 1, 4] and len(class_counts(y)) == N_CLASSES
    # every present class gets the same total weight
    totals = pd.Series(w).groupby(np.asarray(y)).sum()
    np.testing.assert_allclose(totals.to_numpy(), 1.0)
    with pytest.raises(ValueError, match="labels"):
        sample_weights([0, 21])


def test_weighted_sampler_balances_and_is_seeded_per_epoch():
    y = np.array([0] * 900 + [1] * 90 + [2] * 10)
    s = EpochSeededWeightedSampler(sample_weights(y), num_samples=3000, seed=7)
    s.set_epoch(0)
    a = list(s)
    frac = np.bincount(y[a], minlength=3) / len(a)
    np.testing.assert_allclose(frac, 1 / 3, atol=0.05)  # drawn classes balanced despite 90:9:1
    s.set_epoch(0)
    assert list(s) == a  # same (seed, epoch) -> same draw
    s.set_epoch(1)
    assert list(s) != a
    s2 = EpochSeededWeightedSampler(sample_weights(y), num_samples=3000, seed=7)
    s2.set_epoch(1)
    s.set_epoch(1)
    assert list(s2) == list(s)


def test_training_arguments_follow_the_paper_protocol(tmp_path):
    st = TrainSettings.from_config({"learning_rate": 5e-6, "batch_size": 64, "max_epochs": 100, "patience": 5,
                                    "num_workers": 0, "mix_head_hidden": 768}, seed=3, device="cpu")
    args = training_arguments(tmp_path, st)
    assert args.learning_rate == 5e-6 and args.per_device_train_batch_size == 64 and args.num_train_epochs == 100
    assert getattr(args.lr_scheduler_type, "value", None) == "constant" and args.weight_decay == 0.0
    assert args.metric_for_best_model == "macro_f1" and args.greater_is_better and args.load_best_model_at_end
    assert args.eval_strategy.value == "epoch" and args.save_strategy.value == "epoch"
    assert args.seed == 3 and args.data_seed == 3 and args.use_cpu and not args.bf16
    assert args.report_to in ([], "none", ["none"]) or not args.report_to
    with pytest.raises(KeyError, match="patience"):
        TrainSettings.from_config({"learning_rate": 1e-3, "batch_size": 2, "max_epochs": 1})


def test_early_stopping_on_the_validation_loss(tmp_path):
    st = _settings(early_stopping_metric="loss")
    args = training_arguments(tmp_path, st)
    assert args.metric_for_best_model == "loss" and not args.greater_is_better
    with pytest.raises(ValueError, match="early_stopping_metric must be one of"):
        _settings(early_stopping_metric="accuracy")
    # the kept epoch is the one with the lowest validation loss (first of equals), and
    # metrics.json names it
    log = [{"eval_loss": 2.0, "eval_macro_f1": 0.5, "epoch": 1.0}, {"eval_loss": 1.5, "eval_macro_f1": 0.2, "epoch": 2.0},
           {"eval_loss": 1.5, "eval_macro_f1": 0.1, "epoch": 3.0}, {"eval_loss": 1.7, "eval_macro_f1": 0.6, "epoch": 4.0}]
    assert _best_epoch(log, "loss") == (2, 1.5)
    assert _best_epoch(log, "macro_f1") == (4, 0.6)
    sets = _sets()
    m = _run(tmp_path / "f", sets, _settings(early_stopping_metric="loss", max_epochs=3))
    history = json.loads((tmp_path / "f" / "train_log.json").read_text())
    assert m["best_epoch"] == _best_epoch(history, "loss")[0]


def test_mean_by_object_aggregates_windows():
    ids = ["b", "a", "b", "c"]
    y = [4, 2, 4, 0]
    p = np.eye(N_CLASSES, dtype=np.float32)[[1, 2, 3, 0]]
    e = np.array([[0.0, 2.0], [1.0, 1.0], [2.0, 4.0], [5.0, 5.0]], np.float32)
    oid, lab, probs, emb = mean_by_object(ids, y, p, e)
    assert oid.tolist() == ["b", "a", "c"] and lab.tolist() == [4, 2, 0]
    np.testing.assert_allclose(probs[0, [1, 3]], [0.5, 0.5])
    np.testing.assert_allclose(emb, [[1.0, 3.0], [1.0, 1.0], [5.0, 5.0]])
    with pytest.raises(ValueError, match="different labels"):
        mean_by_object(["a", "a"], [1, 2], p[:2], e[:2])


# ----------------------------------------------------------------------------- one fold
def test_run_fold_writes_contract_artifacts_and_skips_when_complete(tmp_path):
    sets = _sets()
    fd = tmp_path / "swin_ztf" / "fold_0"
    seen = {}

    class Spy(TrainerCallback):
        def on_train_begin(self, args, state, control, optimizer=None, **kw):
            seen["optimizer"] = type(getattr(optimizer, "optimizer", optimizer))  # unwrap accelerate

    m = _run(fd, sets, _settings(), callbacks=[Spy()])
    assert seen["optimizer"] is torch.optim.Adam
    assert m["skipped"] is False and m["epochs_run"] == 2 and m["best_epoch"] in (1, 2)
    for f in ["config.json", "model.safetensors", "metrics.json", "train_log.json", "COMPLETE"] + [
        f"{kind}_{s}.parquet" for kind in ("predictions", "embeddings") for s in ("train", "val", "test")
    ]:
        assert (fd / f).exists(), f
    assert not (fd / "checkpoints").exists() and not (fd / "TRAINED").exists()
    h = A.config_hash(json.loads((fd / "config.json").read_text()))
    assert A.is_complete(fd, h)
    pred = A.load_predictions(tmp_path, "swin_ztf", 0, "test")
    assert len(pred) == 24 and pred["object_id"].tolist() == sets["test"].object_ids
    assert pred["y_true"].tolist() == sets["test"].labels.tolist()
    np.testing.assert_allclose(A.probabilities(pred).sum(1), 1.0, atol=1e-5)
    assert A.load_embeddings(tmp_path, "swin_ztf", 0, "val").shape == (24, 1 + 16)
    metrics = json.loads((fd / "metrics.json").read_text())
    assert metrics["test_macro_f1"] == pytest.approx(A.macro_f1(pred["y_true"], pred["y_pred"]))
    for key in ("val_macro_f1", "test_macro_f1", "best_epoch", "epochs_run", "train_seconds"):
        assert key in metrics
    log = json.loads((fd / "train_log.json").read_text())
    evals = [r for r in log if "eval_macro_f1" in r]
    assert len(evals) == 2
    assert {r["learning_rate"] for r in log if "learning_rate" in r} == {3e-3}  # constant LR
    # the saved best weights reproduce the saved predictions
    model = load_weights(build_model("swin_ztf", TINY_SWIN), fd / "model.safetensors")
    probs = predict(model, sets["test"].dataset, batch_size=8, device="cpu").probs
    np.testing.assert_allclose(probs, A.probabilities(pred), atol=1e-5)

    # rerun with the same config: skipped, files untouched
    mtime = (fd / "model.safetensors").stat().st_mtime_ns
    again = _run(fd, sets, _settings())
    assert again["skipped"] is True and again["test_macro_f1"] == m["test_macro_f1"]
    assert (fd / "model.safetensors").stat().st_mtime_ns == mtime
    # another config (or force) retrains
    other = _run(fd, sets, _settings(learning_rate=1e-3))
    assert other["skipped"] is False and A.is_complete(fd, A.config_hash({"model": "swin_ztf", "lr": 1e-3, "epochs": 2}))
    assert not A.is_complete(fd, h)
    forced = _run(fd, sets, _settings(learning_rate=1e-3), force=True)
    assert forced["skipped"] is False


class _InterruptAfterFirstSave(TrainerCallback):
    def on_save(self, args, state, control, **kw):
        raise KeyboardInterrupt("simulated interruption after epoch 1")


class _FirstStep(TrainerCallback):
    def __init__(self):
        self.first_step = None

    def on_step_end(self, args, state, control, **kw):
        if self.first_step is None:
            self.first_step = state.global_step


def test_interrupted_fold_resumes_from_checkpoint_and_matches_uninterrupted(tmp_path):
    sets = _sets()
    st = _settings(max_epochs=3)
    steps_per_epoch = int(np.ceil(48 / 16))
    fd = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        _run(fd, sets, st, callbacks=[_InterruptAfterFirstSave()])
    assert not (fd / "COMPLETE").exists()
    assert (fd / "checkpoints" / f"checkpoint-{steps_per_epoch}" / "model.safetensors").exists()
    spy = _FirstStep()
    m = _run(fd, sets, st, callbacks=[spy])
    assert spy.first_step == steps_per_epoch + 1  # continued from the epoch-1 checkpoint
    assert m["resumed_from"] == f"checkpoint-{steps_per_epoch}"
    assert m["epochs_run"] == 3 and (fd / "COMPLETE").exists() and not (fd / "checkpoints").exists()
    log = json.loads((fd / "train_log.json").read_text())
    assert [r["epoch"] for r in log if "eval_macro_f1" in r] == [1.0, 2.0, 3.0]
    # same predictions as a run that was never interrupted (and two fresh runs agree: determinism)
    ref = _run(tmp_path / "straight", sets, st)
    ref2 = _run(tmp_path / "straight2", sets, st)
    a = pd.read_parquet(fd / "predictions_test.parquet")
    b = pd.read_parquet(tmp_path / "straight" / "predictions_test.parquet")
    c = pd.read_parquet(tmp_path / "straight2" / "predictions_test.parquet")
    pd.testing.assert_frame_equal(b, c)
    np.testing.assert_allclose(A.probabilities(a), A.probabilities(b), atol=1e-5)
    assert ref["test_macro_f1"] == ref2["test_macro_f1"]


def test_half_written_checkpoint_is_removed_and_the_previous_one_resumed(tmp_path):
    """A kill while the Trainer saves leaves a checkpoint without trainer_state.json (written
    last): resuming must fall back to the previous complete checkpoint."""
    sets = _sets()
    fd = tmp_path / "fold"
    with pytest.raises(KeyboardInterrupt):
        _run(fd, sets, _settings(max_epochs=3), callbacks=[_InterruptAfterFirstSave()])
    ckpts = fd / "checkpoints"
    complete = ckpts / "checkpoint-3"
    assert T.last_complete_checkpoint(ckpts) == str(complete)
    half = ckpts / "checkpoint-6"  # as if killed mid-save: weights copied, no trainer state
    half.mkdir()
    shutil.copy(complete / "model.safetensors", half / "model.safetensors")
    truncated = ckpts / "checkpoint-9"  # killed while writing the state file itself
    truncated.mkdir()
    (truncated / "trainer_state.json").write_text('{"global_step": 9, "log_hist')
    assert T.last_complete_checkpoint(ckpts) == str(complete)
    assert not half.exists() and not truncated.exists()
    spy = _FirstStep()
    m = _run(fd, sets, _settings(max_epochs=3), callbacks=[spy])
    assert spy.first_step == 4 and m["resumed_from"] == "checkpoint-3" and A.is_complete(fd)
    assert T.last_complete_checkpoint(tmp_path / "nothing-here") is None


def test_fit_resumes_with_more_epochs(tmp_path):
    sets = _sets()
    torch.manual_seed(0)
    model = build_model("swin_ztf", TINY_SWIN)
    r1 = fit(model, sets["train"].dataset, sets["val"].dataset, sets["train"].labels, tmp_path, _settings(max_epochs=1))
    assert r1.global_step == 3 and r1.resumed_from is None
    model = build_model("swin_ztf", TINY_SWIN)
    r2 = fit(model, sets["train"].dataset, sets["val"].dataset, sets["train"].labels, tmp_path, _settings(max_epochs=2))
    assert r2.resumed_from is not None and r2.resumed_from.endswith("checkpoint-3")
    assert r2.global_step == 6 and r2.epochs_run == 2


def test_multisurvey_fold_saves_and_reloads_shared_backbone(tmp_path):
    sets = _sets(two=True)
    fd = tmp_path / "ms"
    m = _run(fd, sets, _settings(max_epochs=1), model_id="ms_swin_mlp")
    assert m["skipped"] is False
    emb = A.embedding_matrix(pd.read_parquet(fd / "embeddings_test.parquet"))
    assert emb.shape == (24, 32)  # ZTF ‖ ATLAS, 16 each
    model = load_weights(build_model("ms_swin_mlp", TINY_SWIN, {"mix_head_hidden": 8}), fd / "model.safetensors")
    probs = predict(model, sets["test"].dataset, batch_size=8, device="cpu").probs
    np.testing.assert_allclose(probs, A.probabilities(pd.read_parquet(fd / "predictions_test.parquet")), atol=1e-5)


def test_training_learns_the_toy_task(tmp_path):
    """A real learning check: the bar position is learnable; far above chance (1/21) on test."""
    sets = _sets(n_train=252, n_val=63, n_test=63)
    m = _run(tmp_path / "learn", sets, _settings(max_epochs=6, learning_rate=3e-3, batch_size=32))
    assert m["test_macro_f1"] > 0.3, m


# ----------------------------------------------------------------------------- SwinV2 driver
def _tiny_ctx(tmp_path, preload: bool = True):
    from mslc_utils.config import RunContext

    cfg = {
        "profile": "quick",
        "seed": 0,
        "render": {"renderer": "fast", "image_size": 32, "marker_size": 1.0, "line_width": 2.0, "cache": False},
        "swin": TINY_SWIN,
        "training": {"learning_rate": 3e-3, "batch_size": 16, "max_epochs": 1, "patience": 2, "num_workers": 0,
                     "preload_images": preload, "mix_head_hidden": 8},
    }
    return RunContext("quick", cfg, None, tmp_path, tmp_path / "figures", "cpu", 0)


def _tiny_dataset():
    """4 objects per class, both surveys (object T0001 has no ATLAS epoch), 2 folds."""
    from mslc_utils.schema import Dataset
    from mslc_utils.splits import make_splits
    from mslc_utils.taxonomy import CLASS_TO_GROUP, CLASSES

    rng = np.random.default_rng(0)
    rows, objects = [], []
    for c, label in enumerate(CLASSES):
        for j in range(4):
            oid = f"T{c * 4 + j:04d}"
            objects.append((oid, 0.0, 0.0, label, CLASS_TO_GROUP[label], True, oid != "T0001"))
            for survey, bands in (("ZTF", "gr"), ("ATLAS", "co")):
                if survey == "ATLAS" and oid == "T0001":
                    continue
                for b in bands:
                    t = np.sort(rng.uniform(0, 100, 25))
                    f = 100 * np.sin(2 * np.pi * t / (3 + 4 * c)) + rng.normal(0, 5, 25)
                    rows += [(oid, survey, b, float(ti), float(fi), 5.0, True) for ti, fi in zip(t, f)]
    lc = pd.DataFrame(rows, columns=["object_id", "survey", "band", "mjd", "flux", "flux_err", "detected"])
    obj = pd.DataFrame(objects, columns=["object_id", "ra", "dec", "label", "group", "has_ztf", "has_atlas"])
    return Dataset(lc, obj, make_splits(obj, seed=0, test_fraction=0.5, n_folds=2), {"n_objects": len(obj)})


def test_train_model_folds_end_to_end_with_missing_survey(tmp_path):
    from mslc_utils.training import clear_image_cache, train_model_folds

    ds = _tiny_dataset()
    ctx = _tiny_ctx(tmp_path)
    df = train_model_folds(ctx, ds, "ms_swin_linear", folds=[0], verbose=False)
    assert df["fold"].tolist() == [0] and not df["skipped"].iloc[0]
    fd = tmp_path / "ms_swin_linear" / "fold_0"
    cfg = json.loads((fd / "config.json").read_text())
    assert cfg["model_id"] == "ms_swin_linear" and cfg["fold"] == 0 and cfg["view"] == "multi"
    test_ids = ds.splits.loc[ds.splits["split"] == "test", "object_id"].tolist()
    pred = A.load_predictions(tmp_path, "ms_swin_linear", 0, "test")
    assert sorted(pred["object_id"]) == sorted(test_ids) and len(pred) == 42
    emb = A.load_embeddings(tmp_path, "ms_swin_linear", 0, "test").set_index("object_id")
    if "T0001" in emb.index:  # the object without ATLAS data: zero ATLAS half, kept (not dropped)
        assert np.all(emb.loc["T0001"].to_numpy()[16:] == 0) and np.any(emb.loc["T0001"].to_numpy()[:16] != 0)
    else:
        tr = A.load_embeddings(tmp_path, "ms_swin_linear", 0, "train")
        val = A.load_embeddings(tmp_path, "ms_swin_linear", 0, "val")
        both = pd.concat([tr, val]).set_index("object_id")
        assert np.all(both.loc["T0001"].to_numpy()[16:] == 0)
    again = train_model_folds(ctx, ds, "ms_swin_linear", folds=[0], verbose=False)
    assert bool(again["skipped"].iloc[0]) and again["test_macro_f1"].iloc[0] == df["test_macro_f1"].iloc[0]

    # on-the-fly rendering (no preloading) gives the same images, hence the same predictions
    clear_image_cache()
    a = train_model_folds(ctx, ds, "swin_atlas", folds=[1], verbose=False)
    ctx2 = _tiny_ctx(tmp_path / "otf", preload=False)
    b = train_model_folds(ctx2, ds, "swin_atlas", folds=[1], verbose=False)
    pa = A.load_predictions(tmp_path, "swin_atlas", 1, "test")
    pb = A.load_predictions(tmp_path / "otf", "swin_atlas", 1, "test")
    np.testing.assert_allclose(A.probabilities(pa), A.probabilities(pb), atol=1e-6)
    assert a["test_macro_f1"].iloc[0] == pytest.approx(b["test_macro_f1"].iloc[0])


def test_crash_after_training_reuses_saved_best_weights(tmp_path, monkeypatch):
    import mslc_utils.training as T

    sets = _sets()
    fd = tmp_path / "crash"
    real = T.save_fold_outputs

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(T, "save_fold_outputs", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        _run(fd, sets, _settings())
    assert (fd / "TRAINED").exists() and (fd / "model.safetensors").exists() and not (fd / "COMPLETE").exists()
    monkeypatch.setattr(T, "save_fold_outputs", real)
    trained = []

    class Spy(TrainerCallback):
        def on_train_begin(self, *a, **k):
            trained.append(True)

    m = _run(fd, sets, _settings(), callbacks=[Spy()])
    assert trained == [] and m["epochs_run"] == 2 and A.is_complete(fd) and not (fd / "TRAINED").exists()
    assert m["resumed_from"] == "TRAINED"
    model = load_weights(build_model("swin_ztf", TINY_SWIN), fd / "model.safetensors")
    probs = predict(model, sets["val"].dataset, batch_size=8, device="cpu").probs
    np.testing.assert_allclose(probs, A.probabilities(pd.read_parquet(fd / "predictions_val.parquet")), atol=1e-5)


def test_trainer_draws_class_balanced_batches(tmp_path):
    """The Trainer really uses the weighted sampler: with 44:4 imbalance both classes are
    drawn about equally often (a plain random sampler would give ~8% of the minority)."""
    arrays, _ = _toy_images(48, 0)
    y = np.array([0] * 44 + [1] * 4)
    seen: list[int] = []

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = build_model("swin_ztf", TINY_SWIN)

        def forward(self, pixel_values, labels=None):
            if self.training and labels is not None:
                seen.extend(labels.tolist())
            return self.inner(pixel_values=pixel_values, labels=labels)

    ds = ArrayDataset(arrays, y)
    fit(Recorder(), ds, ds, y, tmp_path, _settings(max_epochs=4))
    assert len(seen) == 4 * 48
    assert 0.35 < np.mean(np.asarray(seen) == 1) < 0.65


def test_full_determinism_switches_torch_to_deterministic_algorithms(tmp_path, monkeypatch):
    """The opt-in GPU setting goes through transformers' enable_full_determinism with
    warn_only=True; on the CPU it changes nothing in the results."""
    for var in ("CUDA_LAUNCH_BLOCKING", "CUBLAS_WORKSPACE_CONFIG", "ASCEND_LAUNCH_BLOCKING", "HCCL_DETERMINISTIC",
                "FLASH_ATTENTION_DETERMINISTIC"):
        monkeypatch.delenv(var, raising=False)  # restored after the test
    was = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
           torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    sets = _sets()
    try:
        assert not torch.are_deterministic_algorithms_enabled()
        det = _run(tmp_path / "det", sets, _settings(full_determinism=True))
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        import os

        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"
        assert not training_arguments(tmp_path, _settings(full_determinism=True)).full_determinism
    finally:
        torch.use_deterministic_algorithms(was[0], warn_only=was[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = was[2], was[3]
    plain = _run(tmp_path / "plain", sets, _settings())
    a = pd.read_parquet(tmp_path / "det" / "predictions_test.parquet")
    b = pd.read_parquet(tmp_path / "plain" / "predictions_test.parquet")
    pd.testing.assert_frame_equal(a, b)
    assert det["test_macro_f1"] == plain["test_macro_f1"]


def test_bf16_autocast_is_chosen_on_cuda_only(monkeypatch):
    """The paper profile trains under bf16 on a CUDA GPU that supports it, fp32 elsewhere."""
    st = lambda **kw: TrainSettings(learning_rate=5e-6, batch_size=64, max_epochs=1, patience=5, **kw)  # noqa: E731
    assert not st(device="cpu").use_bf16() and not st(device="auto").use_bf16()  # no GPU here
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert st(device="auto").resolved_device() == "cuda" and st(device="auto").use_bf16()
    assert st(device="cuda").use_bf16() and not st(device="cpu").use_bf16()
    assert not st(device="cuda", bf16=False).use_bf16()  # an explicit setting wins
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)  # e.g. a V100
    assert not st(device="cuda").use_bf16()


@pytest.mark.long(15)
def test_compiled_backbone_predicts_like_eager_and_compiles_once_across_folds(tmp_path):
    # aot_eager: TorchDynamo's graph capture and AOT autograd without code generation (the
    # inductor backend of the paper profile costs minutes per compile on this CPU)
    sets = _sets()
    eager = _run(tmp_path / "eager", sets, _settings(max_epochs=1))
    compiled_settings = _settings(max_epochs=1, compile=True, compile_backend="aot_eager")
    before = T.compiled_graph_count()
    first = _run(tmp_path / "fold_a", sets, compiled_settings)
    after_first = T.compiled_graph_count()
    assert after_first > before  # the backbone was compiled
    second = _run(tmp_path / "fold_b", sets, compiled_settings)
    assert T.compiled_graph_count() == after_first  # a new model of the same shape: no recompilation
    assert first["test_macro_f1"] == second["test_macro_f1"] == pytest.approx(eager["test_macro_f1"])
    for split in ("val", "test"):
        p_eager = A.probabilities(pd.read_parquet(tmp_path / "eager" / f"predictions_{split}.parquet"))
        p_comp = A.probabilities(pd.read_parquet(tmp_path / "fold_a" / f"predictions_{split}.parquet"))
        assert np.abs(p_eager - p_comp).max() < 1e-4
    # in-place compilation: the saved weights keep the eager model's parameter names
    model = build_model("swin_ztf", TINY_SWIN, {})
    load_weights(model, tmp_path / "fold_a" / A.WEIGHTS_FILE)


def test_cpu_adam_is_the_multi_tensor_one_and_bit_identical_to_the_per_tensor_loop():
    cls, kw = _settings().optimizer()
    assert (cls, kw) == (torch.optim.Adam, {"lr": 3e-3, "weight_decay": 0.0, "foreach": True})
    params = {}
    for foreach in (False, True):
        torch.manual_seed(0)
        model = build_model("ms_swin_mlp", TINY_SWIN, {"mix_head_hidden": 8, "mix_head_dropout": 0.0})
        start = [p.detach().clone() for p in model.parameters()]
        opt = cls(model.parameters(), **{**kw, "foreach": foreach})
        g = torch.Generator().manual_seed(1)
        for _ in range(4):
            opt.zero_grad()
            for p in model.parameters():
                p.grad = torch.randn(p.shape, generator=g)
            opt.step()
        params[foreach] = [p.detach().clone() for p in model.parameters()]
    assert len(params[True]) > 20  # many parameter tensors: the case the per-tensor loop is slow for
    # not allclose: the quick profile's committed results were trained with the per-tensor loop
    assert all(torch.equal(a, b) for a, b in zip(params[False], params[True]))
    assert not any(torch.equal(a, b) for a, b in zip(start, params[True]))  # every tensor moved


def test_fused_adam_is_the_same_update_and_chosen_on_cuda_only(monkeypatch):
    assert "fused" not in _settings().optimizer()[1]
    assert _settings(device="cuda").optimizer() == (torch.optim.Adam, {"lr": 3e-3, "weight_decay": 0.0, "fused": True})
    assert _settings(fused_adam=False, device="cuda").optimizer()[1].get("fused") is None
    params = []
    for fused in (False, True):
        torch.manual_seed(0)
        model = build_model("swin_ztf", TINY_SWIN, {})
        cls, kw = _settings(fused_adam=fused).optimizer()
        opt = cls(model.parameters(), **kw)
        x, y = _toy_images(16, 0)
        for _ in range(3):
            opt.zero_grad()
            model(pixel_values=torch.from_numpy(x["pixel_values"]), labels=torch.from_numpy(y)).loss.backward()
            opt.step()
        params.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    print("max |fused - unfused|", (params[0] - params[1]).abs().max().item())
    assert torch.allclose(params[0], params[1], rtol=0, atol=1e-5)  # float rounding only
    # compile "auto": on CUDA only
    assert _settings(compile="auto", device="cuda").use_compile() and not _settings(compile="auto").use_compile()
    with pytest.raises(ValueError, match="training.compile"):
        _settings(compile="yes").use_compile()
