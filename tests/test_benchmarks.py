"""The benchmark helpers that the README's figures come from (no timing is asserted)."""
from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from mslc_utils.config import repo_root

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _load(name: str):
    path = repo_root() / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_check_determinism_finds_two_cpu_trainings_bit_identical() -> None:
    cd = _load("check_determinism")
    r = cd.train_twice("cpu", False, cd.SWIN_SMALL, (64, 32, 32), epochs=2, batch_size=16, lr=1e-3)
    assert r["weights_identical"] and r["max_abs_prob_diff"] == 0.0 and r["same_class_fraction"] == 1.0
    assert r["test_macro_f1"][0] == r["test_macro_f1"][1]


def test_bar_images_encode_the_class_in_the_bar_position() -> None:
    cd = _load("check_determinism")
    x, y = cd.bar_images(40, 64, seed=0)
    rows = (x[:, 0] < 255).any(axis=2).argmax(axis=1)  # first dark row
    assert ((rows // (64 // 22)) == y).all()


def test_paper_runtime_estimate_arithmetic(capsys) -> None:
    est = _load("estimate_paper_runtime")
    rates = est.Rates(train=10.0, infer=50.0)
    # 2 epochs x (100 / 10 + 20 / 50) + (100 + 20 + 30) / 50, per window
    assert est.fold_seconds(100, 20, 30, 2, rates) == pytest.approx(23.8)
    assert est.fold_seconds(100, 20, 30, 2, rates, items_per_object=2) == pytest.approx(47.6)
    est.main(["--objects", "1000", "--epochs", "1", "--swin", "100", "1000", "--ms-swin", "50", "500",
              "--atat", "1000", "10000", "--median-length", "400", "401"])
    out = capsys.readouterr().out
    assert "640 train / 160 validation per fold, 200 test" in out and "(measured)" in out
    assert "windows per object ZTF 2, ATLAS 3" in out
    # swin_ztf: 5 folds x (640/100 + 160/1000 + 1000/1000) s = 37.8 s -> "1 min"
    assert "swin_ztf 1 min" in out


def test_paper_runtime_estimate_takes_the_gpu_benchmark_figures(tmp_path, capsys) -> None:
    est = _load("estimate_paper_runtime")
    bench = {"device": "NVIDIA H200", "steps": {
        "swin_ztf": {"eager": {"train": 100.0, "infer": 1000.0}, "compiled": {"train": 200.0, "infer": 2000.0}},
        "ms_swin_linear": {"eager": {"train": 50.0, "infer": 500.0}, "compiled": {"train": 100.0, "infer": 1000.0}}}}
    (tmp_path / "gpu.json").write_text(json.dumps(bench))
    est.main(["--objects", "1000", "--epochs", "1", "--bench-json", str(tmp_path / "gpu.json"), "--atat", "1", "1"])
    out = capsys.readouterr().out
    assert "SwinV2 200/2000, MS-SwinV2 100/1000 objects/s" in out and "measured on NVIDIA H200, compiled" in out
    est.main(["--objects", "1000"])
    assert "measured on one H100, eager path" in capsys.readouterr().out


@pytest.mark.long(17)
def test_gpu_benchmark_runs_on_the_cpu_with_tiny_settings(tmp_path, capsys) -> None:
    bench = _load("bench_swin_gpu")
    bench.main(["--tiny", "--device", "cpu", "--steps", "1", "--objects", "252", "--skip", "compile",
                "--json", str(tmp_path / "cpu.json")])
    out = capsys.readouterr().out
    figures = json.loads((tmp_path / "cpu.json").read_text())
    assert set(figures["steps"]) == {"swin_ztf", "ms_swin_linear"} and figures["steps"]["swin_ztf"]["eager"]["train"] > 0
    assert set(figures["pipeline_s"]) == {"cold, rendered on the fly", "cold, cache filled first", "warm"}
    assert isinstance(figures["determinism_bit_identical"], bool) and "x the warm epoch" in out


def test_atat_benchmark_times_each_head_count(capsys) -> None:
    bench = _load("bench_atat")
    rows = bench.main(["--heads", "4,2", "--steps", "1"])
    assert [r["n_heads"] for r in rows] == [4, 2] and [r["head_dim"] for r in rows] == [8, 16]
    for r in rows:
        assert r["step_ms"] > 0 and r["attention_ms_per_layer"] > 0 and 0 < r["attention_share"] <= 1
    out = capsys.readouterr().out
    assert "d_model 32" in out and out.count("n_heads ") == 2
    for r in rows:  # the step time is the training rate's inverse; inference is faster than training
        assert r["step_ms"] == pytest.approx(1e3 * 16 / r["train_windows_s"])
        assert r["infer_windows_s"] > r["train_windows_s"]


def test_adam_benchmark_times_both_optimiser_paths(capsys, monkeypatch) -> None:
    import torch

    bench = _load("bench_adam")
    kinds = []
    real = torch.optim.Adam.__init__

    def spy(self, params, **kw):  # which path each measurement really took
        kinds.append(kw.get("foreach"))
        real(self, params, **kw)

    monkeypatch.setattr(torch.optim.Adam, "__init__", spy)
    rows = bench.main(["--models", "swin_ztf,atat", "--steps", "1", "--rounds", "1"])
    assert [r["model"] for r in rows] == ["swin_ztf", "atat"] and [r["batch"] for r in rows] == [32, 16]
    for r in rows:
        assert min(r["per_tensor"], r["foreach"], r["adam_ms_per_tensor"], r["adam_ms_foreach"]) > 0
    assert kinds.count(False) == kinds.count(True) == 4  # training steps and Adam alone, both models
    assert "speed-up" in capsys.readouterr().out


def test_quick_levers_overrides_one_setting_and_rejects_unknown_keys() -> None:
    bench = _load("bench_quick_levers")
    cfg = {"atat": {"n_layers": 3, "window": 100}, "render": {"image_size": 64}}
    out = bench.apply_overrides(cfg, ["atat.n_layers=2", "render.image_size=48"])
    assert out == {"atat": {"n_layers": 2, "window": 100}, "render": {"image_size": 48}}
    assert cfg["atat"]["n_layers"] == 3  # the profile itself is not modified
    with pytest.raises(KeyError, match="atat.n_layer"):
        bench.apply_overrides(cfg, ["atat.n_layer=2"])
    with pytest.raises(ValueError, match="section.key=value"):
        bench.apply_overrides(cfg, ["atat.n_layers"])


def test_quick_levers_summary_reads_validation_scores_and_core_seconds(tmp_path) -> None:
    from mslc_utils.artifacts import write_complete

    bench = _load("bench_quick_levers")
    for k, (val, train, pred) in enumerate([(0.40, 30.0, 1.0), (0.50, 20.0, None)]):
        d = tmp_path / "swin_ztf" / f"fold_{k}"
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps({
            "val_macro_f1": val, "test_macro_f1": 0.9, "train_seconds": train, "predict_seconds": pred,
            "best_epoch": 3 + k, "epochs_run": 8 + k}))
        write_complete(d, "hash")
    unfinished = tmp_path / "swin_ztf" / "fold_2"  # no COMPLETE marker: not counted
    unfinished.mkdir()
    (unfinished / "metrics.json").write_text(json.dumps({"val_macro_f1": 0.0, "train_seconds": 99.0}))
    s = bench.summarise(tmp_path, "swin_ztf")
    assert s["folds"] == 2 and s["val_macro_f1_pct"] == pytest.approx(45.0)
    assert s["core_seconds"] == pytest.approx(51.0)
    assert s["epochs"] == [(3, 8), (4, 9)]
    assert "test" not in " ".join(s)  # validation only: no test score is reported
    with pytest.raises(FileNotFoundError, match="atat_ztf"):
        bench.summarise(tmp_path, "atat_ztf")
