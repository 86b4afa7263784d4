"""Table 2, Figure 4 and the Appendix C comparison, on hand-made artifacts."""
from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from mslc_utils import artifacts as A
from mslc_utils import results as R
from mslc_utils.taxonomy import CLASSES, N_CLASSES


def write_fold(out_dir, model_id, fold, y_true, y_pred, split="test") -> None:
    """A complete fold whose predicted class is ``y_pred`` (probabilities one-hot-ish)."""
    d = A.fold_dir(out_dir, model_id, fold, create=True)
    y_pred = np.asarray(y_pred)
    probs = np.full((len(y_pred), N_CLASSES), 0.01, dtype=np.float32)
    probs[np.arange(len(y_pred)), y_pred] = 0.8
    ids = [f"O{i:03d}" for i in range(len(y_true))]
    A.save_predictions(d, split, ids, y_true, probs)
    A.write_complete(d, "h")


def test_macro_f1_against_hand_computation() -> None:
    # class 0: P=1/2, R=1/2 -> F1=0.5; class 1: P=2/3, R=1 -> F1=0.8; class 2: F1=0;
    # the 18 classes absent from both count as 0 (labels=range(21), zero_division=0).
    y_true = [0, 0, 1, 1, 2]
    y_pred = [0, 1, 1, 1, 0]
    assert R.macro_f1(y_true, y_pred) == pytest.approx((0.5 + 0.8) / 21)


def test_recall_confusion_against_hand_computation() -> None:
    y_true = [0, 0, 1, 1, 2]
    y_pred = [0, 1, 1, 1, 0]
    cm = R.recall_confusion(y_true, y_pred)
    assert cm.shape == (21, 21)
    np.testing.assert_allclose(cm[0, :3], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(cm[1, :3], [0.0, 1.0, 0.0])
    np.testing.assert_allclose(cm[2, :3], [1.0, 0.0, 0.0])
    assert cm[3:].sum() == 0.0  # absent classes: rows of zeros


def test_table2_mean_std_and_not_run_rows(tmp_path) -> None:
    # fold 0 perfect on classes 0..20 -> F1 = 1; fold 1: one class of 21 always wrong.
    y = np.arange(N_CLASSES).repeat(2)
    write_fold(tmp_path, "swin_ztf", 0, y, y)
    wrong = y.copy()
    wrong[y == 0] = 1  # class 0 -> predicted 1: F1_0 = 0, F1_1 = 2*(0.5*1)/(1.5) = 2/3
    write_fold(tmp_path, "swin_ztf", 1, y, wrong)
    f1_1 = (19 + 2 / 3) / 21
    t = R.table2(tmp_path)
    assert list(t["MODEL"]) == ["1", "2", "3", "4", "3+4", "3+4", "5", "6", "7"]
    row = t.set_index("model_id").loc["swin_ztf"]
    mean, std = np.mean([1.0, f1_1]), np.std([1.0, f1_1], ddof=1)
    assert row["f1_mean"] == pytest.approx(100 * mean)
    assert row["f1_std"] == pytest.approx(100 * std)
    assert row["F1-SCORE"] == f"{100 * mean:.1f} ± {100 * std:.1f}"
    assert row["n_folds"] == 2
    assert row["paper F1"] == "64.9 ± 1.6"
    others = t[t["model_id"] != "swin_ztf"]
    assert (others["F1-SCORE"] == R.NOT_RUN).all() and (others["n_folds"] == 0).all()
    _, paths = R.save_table2(tmp_path, tmp_path / "fig")
    md = paths["md"].read_text()
    assert "| MODEL | DESCRIPTION | F1-SCORE | paper F1 | n_folds |" in md
    assert "not run" in md and "69.9 ± 1.7" in md
    assert len(pd.read_csv(paths["csv"])) == 9


def test_incomplete_fold_is_ignored(tmp_path) -> None:
    y = np.arange(N_CLASSES)
    write_fold(tmp_path, "swin_atlas", 0, y, y)
    write_fold(tmp_path, "swin_atlas", 1, y, y)
    A.clear_complete(A.fold_dir(tmp_path, "swin_atlas", 1))
    assert R.available_folds(tmp_path, "swin_atlas") == [0]


def test_confusion_mean_std_and_annotations() -> None:
    a = np.zeros((N_CLASSES, N_CLASSES))
    b = np.zeros((N_CLASSES, N_CLASSES))
    a[0, 0], b[0, 0] = 1.0, 0.8  # std (ddof=1) = 0.1414 >= 0.05 -> printed
    a[1, 1], b[1, 1] = 0.50, 0.52  # std = 0.0141 < 0.05 -> not printed
    mean, std = R.confusion_mean_std(np.stack([a, b]))
    assert mean[0, 0] == pytest.approx(0.9) and std[0, 0] == pytest.approx(np.sqrt(0.02))
    ann = R.confusion_annotations(mean, std)
    assert ann[0, 0] == "0.90\n±0.14"
    assert ann[1, 1] == "0.51"


def test_figure4_saved_and_no_figure_left_open(tmp_path) -> None:
    rng = np.random.default_rng(0)
    y = np.arange(N_CLASSES).repeat(3)
    for k in range(2):
        write_fold(tmp_path, "swin_ztf", k, y, np.where(rng.random(len(y)) < 0.7, y, rng.integers(0, 21, len(y))))
    plt.close("all")
    paths = R.figure4(tmp_path, tmp_path / "fig")  # swin_atlas, avg_3_4, ms_swin_linear: "not run"
    assert paths["png"].stat().st_size > 10_000 and paths["pdf"].stat().st_size > 1_000
    assert plt.get_fignums() == []


def test_recall_comparison_counts_and_classes() -> None:
    ref = np.full(N_CLASSES, 0.6)
    other = ref.copy()
    other[0] = 0.7  # SNIa higher
    other[1] = 0.1  # SESN lower
    other[2] = 0.6001  # equal as displayed (2 decimals)
    other[3:] = 0.9
    recall = pd.DataFrame({"swin_ztf": ref, "swin_atlas": other}, index=CLASSES)
    comp = R.recall_comparison(recall).set_index("model_id").loc["swin_atlas"]
    assert comp["n_higher"] == 1 + (N_CLASSES - 3)
    assert comp["n_lower"] == 1 and comp["lower"] == "SESN"
    assert comp["n_equal"] == 1 and comp["equal"] == "SNII"
    statements = R.recall_statements(recall)
    assert any(s.startswith("SwinV2 (ATLAS only): below 25% recall for: SESN (10%);") for s in statements)
    assert any("lower in 1 (SESN)" in s for s in statements)


def test_save_appendix_c_writes_tables(tmp_path) -> None:
    y = np.arange(N_CLASSES).repeat(R.MIN_TEST_OBJECTS)
    y = y[~((y == 4) & (np.arange(len(y)) % R.MIN_TEST_OBJECTS >= 2))]  # SLSN: 2 test objects
    write_fold(tmp_path, "swin_ztf", 0, y, y)
    bad = y.copy()
    bad[y == 5] = 0  # TDE always wrong
    bad[y == 4] = 0  # SLSN always wrong, but only 2 test objects: not interpreted
    write_fold(tmp_path, "swin_atlas", 0, y, bad)
    res = R.save_appendix_c(tmp_path, tmp_path / "fig")
    comp = res["comparison"].set_index("model_id")
    assert comp.loc["swin_atlas", "lower"] == "TDE" and comp.loc["swin_atlas", "n_equal"] == 19
    rec = pd.read_csv(tmp_path / "fig" / "recall_per_class.csv").set_index("class")
    assert list(rec.columns) == ["n_test", "swin_ztf", "swin_atlas", f"fewer than {R.MIN_TEST_OBJECTS}"]
    assert rec.loc["TDE", "swin_atlas"] == 0.0 and rec.loc["SNIa", "swin_ztf"] == 100.0
    assert rec.loc["SLSN", "n_test"] == 2 and rec.loc["SLSN", f"fewer than {R.MIN_TEST_OBJECTS}"]
    assert not rec.loc["TDE", f"fewer than {R.MIN_TEST_OBJECTS}"]
    text = (tmp_path / "fig" / "recall_statements.md").read_text()
    assert re.search(r"SwinV2 \(ATLAS only\): below 25% recall for: TDE \(0%\)", text)
    assert "Not interpreted (fewer than 10 test objects): SLSN (2)." in text
    assert "SLSN (0%)" not in text  # a 2-object class is never stated as a finding


def test_confusion_annotations_only_cells_above_threshold() -> None:
    mean = np.array([[0.85, 0.04], [0.05, 0.0]])
    std = np.array([[0.07, 0.2], [0.01, 0.0]])
    ann = R.confusion_annotations(mean, std)
    assert ann.tolist() == [["0.85\n±0.07", ""], ["0.05", ""]]


def test_table2_claims_agree_disagree_and_not_run() -> None:
    t2 = pd.DataFrame({
        "model_id": ["swin_ztf", "swin_atlas", "swin_stacked", "atat_ztf"],
        "MODEL": ["3", "4", "5", "1"],
        "f1_mean": [30.0, 20.0, 35.0, float("nan")],
        "f1_std": [1.0, 1.0, 8.0, float("nan")],
    })
    claims = R.table2_claims(t2).set_index("claim")
    ztf_atlas = claims.loc["ZTF beats ATLAS (SwinV2: Model 3 > Model 4)"]
    assert ztf_atlas["agrees"] == "yes" and ztf_atlas["difference"] == 10.0 and not ztf_atlas["within noise"]
    stacked = claims.loc["Stacked input is worse than ZTF only (Model 5 < Model 3)"]
    assert stacked["agrees"] == "no" and stacked["difference"] == -5.0 and stacked["within noise"]
    assert claims.loc["ZTF beats ATLAS (ATAT: Model 1 > Model 2)", "agrees"] == R.NOT_RUN


def test_training_history_and_best_epoch_at_end(tmp_path) -> None:
    for k, f1 in enumerate(([0.1, 0.3, 0.2], [0.1, 0.2, 0.3])):
        d = A.fold_dir(tmp_path, "swin_ztf", k, create=True)
        log = []
        for e, m in enumerate(f1, start=1):
            log += [{"loss": 2.0 / e, "epoch": e - 0.5}, {"loss": 1.0 / e, "epoch": float(e)},
                    {"eval_loss": 1.5 / e, "eval_macro_f1": m, "epoch": float(e)}]
        A.write_json(d / A.TRAIN_LOG_FILE, log)
        A.write_complete(d, "h")
    h = R.training_history(tmp_path, "swin_ztf")
    assert list(h["epoch"][h["fold"] == 0]) == [1, 2, 3]
    assert h.loc[(h["fold"] == 0) & (h["epoch"] == 2), "train_loss"].item() == pytest.approx(0.75)
    assert R.best_epoch_at_end(h) == [1]  # fold 1 peaks at its last epoch, fold 0 does not
    assert list(h.loc[h["kept"], "epoch"]) == [2, 3]
    fig = R.plot_training_curves({"swin_ztf": h})
    assert len(fig.axes) == 2
    # a fold that stopped on the validation loss kept the epoch its metrics.json names
    A.write_json(A.fold_dir(tmp_path, "swin_ztf", 1) / A.METRICS_FILE, {"best_epoch": 1})
    h = R.training_history(tmp_path, "swin_ztf")
    assert list(h.loc[h["kept"], "epoch"]) == [2, 1] and R.best_epoch_at_end(h) == []


def test_misclassified_lists_wrong_objects_most_confident_first(tmp_path) -> None:
    y = np.array([0, 1, 2, 3])
    write_fold(tmp_path, "ms_swin_linear", 0, y, [0, 2, 2, 0])
    wrong = R.misclassified(tmp_path, "ms_swin_linear", 0)
    assert list(wrong["true"]) == [CLASSES[1], CLASSES[3]] and list(wrong["predicted"]) == [CLASSES[2], CLASSES[0]]
    assert (wrong["p_predicted"] > wrong["p_true"]).all()


def test_make_results_writes_every_output(tmp_path) -> None:
    from mslc_utils.config import setup

    ctx = setup("quick", OUT_DIR=str(tmp_path / "run"))
    y = np.arange(N_CLASSES).repeat(2)
    write_fold(ctx.out_dir, "swin_ztf", 0, y, y)
    res = R.make_results(ctx)
    names = {p.name for p in ctx.figures_dir.iterdir()}
    assert {"table2.csv", "table2.md", "figure4.png", "figure4.pdf", "recall_per_class.csv",
            "recall_per_class.md", "recall_statements.md"} <= names
    assert res["table2"].set_index("model_id").loc["swin_ztf", "F1-SCORE"] == "100.0 ± 0.0"
    assert res["appendix_c"]["comparison"].empty  # nothing to compare with the ZTF model alone


def test_fold_scores_table_from_saved_predictions(tmp_path) -> None:
    from mslc_utils.artifacts import fold_dir, save_predictions, write_complete
    from mslc_utils.results import fold_scores_table

    y = np.array([0, 1, 2, 2])
    for k, pred in enumerate(([0, 1, 2, 2], [0, 0, 2, 2])):
        d = fold_dir(tmp_path, "m", k, create=True)
        probs = np.eye(21)[pred]
        save_predictions(d, "val", ["a", "b", "c", "d"], y, probs)
        save_predictions(d, "test", ["a", "b", "c", "d"], y, probs)
        write_complete(d, "hash")
    t = fold_scores_table(tmp_path, ["m", "absent"])
    assert list(t.index) == [("m", "val"), ("m", "test")]
    # macro-F1 over all 21 classes (absent classes score 0): perfect on 3 classes -> 3/21
    assert abs(t.loc[("m", "test"), "fold 0"] - 3 / 21) < 1e-12
    # fold 1 never predicts class 1: F1 = (2/3 + 0 + 1) / 21
    assert abs(t.loc[("m", "test"), "fold 1"] - (2 / 3 + 1) / 21) < 1e-12
    assert abs(t.loc[("m", "test"), "mean"] - (3 / 21 + (2 / 3 + 1) / 21) / 2) < 1e-12


def test_table2_over_seeds_and_findings(tmp_path) -> None:
    """Two runs with known scores: per-run columns, their mean, and each finding judged."""
    y = np.repeat(np.arange(N_CLASSES), 2)  # 42 test objects, 2 per class

    def pred(n_right: int) -> np.ndarray:  # the first n_right classes right, the others wrong
        p = y.copy()
        wrong = y >= n_right
        p[wrong] = (y[wrong] + 1) % N_CLASSES
        return p

    # number of classes predicted right per model (monotone in macro-F1)
    run_a = {"atat_ztf": 8, "atat_atlas": 6, "swin_ztf": 12, "swin_atlas": 9, "avg_3_4": 13, "brf_3_4": 14,
             "swin_stacked": 10, "ms_swin_linear": 16, "ms_swin_mlp": 16}
    run_b = {**run_a, "avg_3_4": 11, "ms_swin_linear": 13, "ms_swin_mlp": 13}  # findings 3 and 5 fail here
    for name, run in (("a", run_a), ("b", run_b)):
        for model_id, n in run.items():
            write_fold(tmp_path / name, model_id, 0, y, pred(n))
    table = R.table2_over_seeds({"seed a": tmp_path / "a", "seed b": tmp_path / "b"})
    assert list(table.columns[-3:]) == ["seed a", "seed b", "mean"]
    assert table.loc["swin_ztf", "seed a"] == pytest.approx(100 * R.macro_f1(y, pred(12)))
    assert table.loc["avg_3_4", "mean"] == pytest.approx((table.loc["avg_3_4", "seed a"] + table.loc["avg_3_4", "seed b"]) / 2)
    found = R.findings_over_seeds(table).set_index("finding")
    assert (found["seed a"] == "yes").all()
    assert found["seed b"].str.startswith("n").sum() == 2  # exactly findings 3 and 5
    assert found.loc[found.index.str.startswith("3."), "seed b"].item() == "no"
    assert found.loc[found.index.str.startswith("5."), "seed b"].item() == "no"
    # a run given as the table2.csv that notebook 06 wrote (its artifacts gone): the same column
    R.table2(tmp_path / "a").to_csv(tmp_path / "table2_a.csv", index=False)
    from_csv = R.table2_over_seeds({"seed a": tmp_path / "table2_a.csv", "seed b": tmp_path / "b"})
    pd.testing.assert_frame_equal(from_csv, table)
    with pytest.raises(ValueError, match="table2_a.csv.*test split only"):
        R.table2_over_seeds({"seed a": tmp_path / "table2_a.csv"}, split="val")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="other.csv: not a table2.csv"):
        R.table2_over_seeds({"x": tmp_path / "other.csv"})
    # a model missing from a run: the findings that read it are "not run", not "no"
    import shutil
    shutil.rmtree(tmp_path / "b" / "atat_atlas")
    found = R.findings_over_seeds(R.table2_over_seeds({"b": tmp_path / "b"})).set_index("finding")
    assert found.loc[found.index.str.startswith("1."), "b"].item() == "not run"
    assert found.loc[found.index.str.startswith("2."), "b"].item() == "yes"


def test_table2_seeds_script_prints_both_tables(tmp_path, capsys) -> None:
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "table2_seeds", Path(__file__).resolve().parents[1] / "scripts" / "table2_seeds.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    y = np.repeat(np.arange(N_CLASSES), 2)
    write_fold(tmp_path / "s0", "swin_ztf", 0, y, y)
    assert mod.main([f"seed 0={tmp_path / 's0'}"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "test macro-F1 (%), mean over folds:"
    assert "seed 0" in out.splitlines()[1] and "mean" in out.splitlines()[1]
    assert "100.0" in out and "not run" in out  # SwinV2 ZTF scored; the other models' findings not run
    # with a second model: the paired-bootstrap table of the differences the findings read
    write_fold(tmp_path / "s0", "swin_atlas", 0, y, (y + 1) % N_CLASSES)
    assert mod.main([f"seed 0={tmp_path / 's0'}", "--bootstrap", "50"]) == 0
    out = capsys.readouterr().out
    assert "95 % interval of a paired bootstrap" in out
    # ZTF perfect, ATLAS always wrong: +100 points observed, positive in every draw
    assert "| 3 SwinV2 (ZTF only) - 4 SwinV2 (ATLAS only) | 100.0 |" in out
    assert out.rstrip().endswith("| 1.0 | 42 | 0 |")
    assert mod.main([f"seed 0={tmp_path / 's0'}", "--bootstrap", "0"]) == 0
    assert "paired bootstrap" not in capsys.readouterr().out
    with pytest.raises(SystemExit):
        mod.main([str(tmp_path / "missing")])
    # --split val scores the validation predictions: here the order of the two models is the
    # opposite of the test order, and the tables must say which split they are
    write_fold(tmp_path / "s0", "swin_ztf", 0, y, (y + 1) % N_CLASSES, split="val")
    write_fold(tmp_path / "s0", "swin_atlas", 0, y, y, split="val")
    assert mod.main([f"seed 0={tmp_path / 's0'}", "--split", "val", "--bootstrap", "50"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "validation macro-F1 (%), mean over folds:"
    assert "| 3 SwinV2 (ZTF only) - 4 SwinV2 (ATLAS only) | -100.0 |" in out
    assert "over the validation objects" in out
    ztf_row = next(line for line in out.splitlines() if "SwinV2 (ZTF only) |" in line and line.startswith("| 3 |"))
    assert "| 0.0 |" in ztf_row
    # a table2.csv holds test scores only
    (tmp_path / "table2.csv").write_text("model_id,MODEL,DESCRIPTION,f1_mean\n")
    with pytest.raises(SystemExit):
        mod.main([f"x={tmp_path / 'table2.csv'}", "--split", "val"])


def test_early_stopping_counts_from_fold_metrics(tmp_path) -> None:
    y = np.arange(N_CLASSES)
    for k, run in enumerate([20, 13, 20]):
        write_fold(tmp_path, "swin_ztf", k, y, y)
        d = A.fold_dir(tmp_path, "swin_ztf", k)
        A.write_json(d / A.CONFIG_FILE, {"training": {"max_epochs": 20}})
        A.write_json(d / A.METRICS_FILE, {"epochs_run": run})
    write_fold(tmp_path, "atat_ztf", 0, y, y)
    d = A.fold_dir(tmp_path, "atat_ztf", 0)
    A.write_json(d / A.CONFIG_FILE, {"atat": {"max_epochs": 7}})
    A.write_json(d / A.METRICS_FILE, {"epochs_run": 6})
    write_fold(tmp_path, "avg_3_4", 0, y, y)  # a fusion: no epochs, left out
    got = R.early_stopping_counts(tmp_path).set_index("model_id")
    assert list(got.index) == ["atat_ztf", "swin_ztf"]
    assert got.loc["swin_ztf", ["folds", "stopped_early", "max_epochs"]].tolist() == [3, 1, 20]
    assert got.loc["atat_ztf", ["folds", "stopped_early", "max_epochs"]].tolist() == [1, 1, 7]


# ----------------------------------------------------------------------------------------
# Paired bootstrap of Table 2 differences
# ----------------------------------------------------------------------------------------
def test_weighted_macro_f1_equals_sklearn_with_sample_weight() -> None:
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(3)
    y_true = rng.integers(0, N_CLASSES, 120)
    y_pred = np.where(rng.random(120) < 0.6, y_true, rng.integers(0, N_CLASSES, 120))
    weights = rng.multinomial(120, np.full(120, 1 / 120), size=6).astype(float)
    got = R._weighted_macro_f1(weights, y_true, y_pred)
    for w, g in zip(weights, got):
        want = f1_score(y_true, y_pred, labels=list(range(N_CLASSES)), average="macro", zero_division=0, sample_weight=w)
        assert g == pytest.approx(want, abs=1e-12)
    assert R._weighted_macro_f1(np.ones((1, 120)), y_true, y_pred)[0] == pytest.approx(R.macro_f1(y_true, y_pred))


def _noisy(y: np.ndarray, p_right: float, rng) -> np.ndarray:
    return np.where(rng.random(len(y)) < p_right, y, (y + 1 + rng.integers(0, N_CLASSES - 1, len(y))) % N_CLASSES)


def test_paired_bootstrap_difference_interval_and_pairing(tmp_path) -> None:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(N_CLASSES), 20)  # 420 test objects, the same in every fold
    for k in range(3):
        good = _noisy(y, 0.8, rng)
        good[:3] = y[:3]
        write_fold(tmp_path, "ms_swin_linear", k, y, good)
        write_fold(tmp_path, "swin_ztf", k, y, _noisy(y, 0.5, rng))
        almost = good.copy()
        almost[:3] = (y[:3] + 1) % N_CLASSES  # the same predictions but 3 objects
        write_fold(tmp_path, "brf_3_4", k, y, almost)
    t2 = R.table2(tmp_path).set_index("model_id")["f1_mean"]

    r = R.paired_bootstrap(tmp_path, "ms_swin_linear", "swin_ztf", n_boot=500)
    # the observed difference is the difference of the two Table 2 means
    assert r["difference"] == pytest.approx(t2["ms_swin_linear"] - t2["swin_ztf"])
    assert r["folds"] == [0, 1, 2] and r["n_objects"] == 420 and r["n_dropped"] == 0
    assert r["ci_low"] < r["difference"] < r["ci_high"]
    assert r["ci_low"] > 15  # 80 % vs 50 % right: far beyond test-set noise
    assert r["p_a_better"] == 1.0
    # deterministic for a seed
    assert R.paired_bootstrap(tmp_path, "ms_swin_linear", "swin_ztf", n_boot=500) == r

    # models that differ on 3 of 420 objects: the pairing keeps the interval narrow
    near = R.paired_bootstrap(tmp_path, "ms_swin_linear", "brf_3_4", n_boot=500)
    assert 0 < near["difference"] < 2 and near["ci_high"] - near["ci_low"] < 2
    assert near["ci_low"] >= 0  # brf_3_4 is never better: it only loses those 3 objects

    same = R.paired_bootstrap(tmp_path, "swin_ztf", "swin_ztf", n_boot=100)
    assert same["difference"] == same["ci_low"] == same["ci_high"] == 0.0 and same["p_a_better"] == 0.0

    table = R.paired_differences(tmp_path, n_boot=200)
    # only the pairs whose two models were run: 6-3 and 6-BRF and BRF-3
    assert list(table["comparison"]) == [
        "3+4 BRF on embeddings - 3 SwinV2 (ZTF only)",
        "6 MS-SwinV2-Linear - 3 SwinV2 (ZTF only)",
        "6 MS-SwinV2-Linear - 3+4 BRF on embeddings",
    ]
    assert table["difference"].iloc[1] == pytest.approx(r["difference"])


def test_paired_bootstrap_counts_unpaired_objects_and_rejects_bad_input(tmp_path, caplog) -> None:
    y = np.repeat(np.arange(N_CLASSES), 3)
    write_fold(tmp_path, "swin_ztf", 0, y, y)
    # ATAT without a light curve for the first 5 objects: no prediction there
    d = A.fold_dir(tmp_path, "atat_ztf", 0, create=True)
    ids = [f"O{i:03d}" for i in range(len(y))][5:]
    probs = np.full((len(ids), N_CLASSES), 0.01, dtype=np.float32)
    probs[np.arange(len(ids)), y[5:]] = 0.8
    A.save_predictions(d, "test", ids, y[5:], probs)
    A.write_complete(d, "h")
    with caplog.at_level("WARNING", logger="mslc_utils.results"):
        r = R.paired_bootstrap(tmp_path, "swin_ztf", "atat_ztf", n_boot=50)
    assert r["n_dropped"] == 5 and r["n_objects"] == len(y) - 5
    assert "5 object-fold prediction(s) without a partner" in caplog.text
    assert r["difference"] == 0.0  # both perfect on the shared objects

    with pytest.raises(ValueError, match="no fold with predictions_test.parquet in both 'swin_ztf' and 'ms_swin_mlp'"):
        R.paired_bootstrap(tmp_path, "swin_ztf", "ms_swin_mlp")
    write_fold(tmp_path, "swin_atlas", 0, (y + 1) % N_CLASSES, y)  # other true classes
    with pytest.raises(ValueError, match="fold 0: 'swin_ztf' and 'swin_atlas' disagree on the true class"):
        R.paired_bootstrap(tmp_path, "swin_ztf", "swin_atlas")


def test_paired_bootstrap_on_validation_pools_the_folds(tmp_path) -> None:
    rng = np.random.default_rng(1)
    for k in range(2):  # each fold its own validation objects
        y = np.repeat(np.arange(N_CLASSES), 4)
        d_ids = [f"F{k}_{i:03d}" for i in range(len(y))]
        for model_id, p_right in (("ms_swin_linear", 0.7), ("brf_3_4", 0.4)):
            pred = _noisy(y, p_right, rng)
            probs = np.full((len(y), N_CLASSES), 0.01, dtype=np.float32)
            probs[np.arange(len(y)), pred] = 0.8
            d = A.fold_dir(tmp_path, model_id, k, create=True)
            A.save_predictions(d, "val", d_ids, y, probs)
            A.write_complete(d, "h")
    r = R.paired_bootstrap(tmp_path, "ms_swin_linear", "brf_3_4", split="val", n_boot=300)
    scores = {m: R.fold_scores(tmp_path, m, "val")["macro_f1"].mean() for m in ("ms_swin_linear", "brf_3_4")}
    assert r["n_objects"] == 2 * 4 * N_CLASSES
    assert r["difference"] == pytest.approx(100 * (scores["ms_swin_linear"] - scores["brf_3_4"]))
    assert r["ci_low"] < r["difference"] < r["ci_high"]
