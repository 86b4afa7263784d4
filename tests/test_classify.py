"""Classifier bundle round trip, classify() on tables and files, the mslc command."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mslc_utils import artifacts as A
from mslc_utils.bundle import Classifier
from mslc_utils.classify import CLASS_COLUMNS, GROUP_COLUMNS, classify
from mslc_utils.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "mslc_utils" / "examples"


def _ctx(tmp_path):
    from test_training import _tiny_ctx  # the tiny SwinV2 profile of the training tests

    return _tiny_ctx(tmp_path)


def _dataset():
    from test_training import _tiny_dataset  # 4 objects per class, T0001 without ATLAS, 2 folds

    return _tiny_dataset()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny MS-SwinV2 and SwinV2 (ZTF) trained on fold 0 (and MS-SwinV2 on fold 1).

    Trained on one torch thread, as the tests classify (``one_torch_thread``, a function
    fixture, is not active yet in this module fixture): the saved predictions are then
    bitwise reproducible. With another thread count some CPUs (seen on an AMD EPYC) split a
    batch's matrix products differently and the last bits of a few probabilities change
    (docs/determinism.md)."""
    import torch

    from mslc_utils.training import clear_image_cache, train_model_folds

    tmp = tmp_path_factory.mktemp("run")
    ds, ctx = _dataset(), _ctx(tmp)
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        clear_image_cache()
        train_model_folds(ctx, ds, "ms_swin_linear", folds=[0, 1], verbose=False)
        train_model_folds(ctx, ds, "swin_ztf", folds=[0], verbose=False)
        train_model_folds(ctx, ds, "swin_stacked", folds=[0], verbose=False)
        clear_image_cache()
    finally:
        torch.set_num_threads(n_threads)
    return tmp, ds


@pytest.mark.parametrize("model_id", ["ms_swin_linear", "swin_ztf", "swin_stacked"])
def test_export_load_classify_reproduces_the_fold_predictions_bitwise(trained, tmp_path, model_id):
    run, ds = trained
    out = Classifier.from_run(run / model_id).save_pretrained(tmp_path / "bundle")
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_id"] == model_id and len(cfg["classes"]) == 21 and set(cfg["class_groups"].values()) == {
        "Transient", "Stochastic", "Periodic"}
    assert (out / "fold_0.safetensors").exists() and "macro-F1" in (out / "README.md").read_text()
    clf = Classifier.from_pretrained(out, folds=[0])
    saved = A.load_predictions(run, model_id, 0, "test")
    ids = saved["object_id"].astype(str).tolist()
    lc = ds.lightcurves[ds.lightcurves["object_id"].isin(ids)].copy()
    lc["object_id"] = pd.Categorical(lc["object_id"], categories=ids, ordered=True)
    lc = lc.sort_values(["object_id", "survey", "band", "mjd"], kind="stable")
    lc["object_id"] = lc["object_id"].astype(str)
    table = classify(lc, clf)
    assert table["object_id"].tolist() == ids
    got = table[list(CLASS_COLUMNS)].to_numpy(np.float32)
    np.testing.assert_array_equal(got, A.probabilities(saved))  # bitwise, on the CPU
    np.testing.assert_allclose(table[list(GROUP_COLUMNS)].sum(axis=1), 1.0, atol=1e-5)
    assert (table["top_class"] == [clf.config["classes"][i] for i in got.argmax(axis=1)]).all()


def test_ensemble_is_the_mean_of_the_folds(trained, tmp_path):
    run, ds = trained
    clf = Classifier.from_run(run / "ms_swin_linear")
    assert clf.folds == [0, 1]
    lc = ds.lightcurves[ds.lightcurves["object_id"].isin(["T0001", "T0005", "T0040"])]
    both = classify(lc, clf)[list(CLASS_COLUMNS)].to_numpy()
    each = [classify(lc, clf.restrict([k]))[list(CLASS_COLUMNS)].to_numpy() for k in (0, 1)]
    np.testing.assert_allclose(both, (each[0] + each[1]) / 2, atol=1e-6)


def test_missing_survey_gives_a_reason_or_the_masked_path(trained):
    run, ds = trained
    lc = ds.lightcurves[ds.lightcurves["object_id"].isin(["T0001", "T0002"])]
    ztf_only = lc[~((lc["object_id"] == "T0002") & (lc["survey"] == "ZTF"))]  # T0002: ATLAS only
    ms = classify(ztf_only, Classifier.from_run(run / "ms_swin_linear")).set_index("object_id")
    assert (ms["status"] == "classified").all()
    assert "masked path" in ms.loc["T0001", "note"] and "ATLAS missing" in ms.loc["T0001", "note"]
    assert ms.loc["T0001", "surveys"] == "ZTF" and ms.loc["T0002", "surveys"] == "ATLAS"
    ztf = classify(ztf_only, Classifier.from_run(run / "swin_ztf")).set_index("object_id")
    assert ztf.loc["T0001", "status"] == "classified"
    assert ztf.loc["T0002", "status"] == "not classified" and "needs ZTF" in ztf.loc["T0002", "note"]
    assert np.isnan(ztf.loc["T0002", list(CLASS_COLUMNS)].to_numpy(float)).all()
    stacked = classify(ztf_only, Classifier.from_run(run / "swin_stacked")).set_index("object_id")
    assert (stacked["status"] == "classified").all() and "drawn from ZTF only" in stacked.loc["T0001", "note"]


# ------------------------------------------------------------------ the mslc command on files
FPBOT_CSV = """#name=ZTF19fpbot01
#ra=150.1
#dec=2.2
,obsmjd,filter,ampl,ampl.err,chi2dof,seeing,magzp,magzpunc,magzprms,airmass,nmatches,rcid,fieldid,infobits,pass,ampl_corr,ampl_err_corr
"""


def write_fpbot(path: Path, n: int = 30, seed: int = 0) -> Path:
    """An fpbot file in its published column layout (``filter`` spelled both ways)."""
    rng = np.random.default_rng(seed)
    lines = [FPBOT_CSV]
    for i in range(n):
        t = 58800 + 3 * i
        amp = 400 * np.exp(-((t - 58840) / 20) ** 2) + rng.normal(0, 10)
        filt = ["ZTF g", "ZTF_r", "ZTF_g", "ZTF r"][i % 4]
        lines.append(f"{i},{t},{filt},{amp:.3f},10.0,1.1,2.0,26.3,0.01,0.02,1.2,80,30,600,0,{int(i != 3)},"
                     f"{amp:.3f},10.0\n")
    path.write_text("".join(lines))
    return path


def write_mag(path: Path, n: int = 30, seed: int = 0) -> Path:
    """A magnitude light curve in the published layout ``MJD Mag MagErr Filter UL Telescope Instrument``."""
    rng = np.random.default_rng(seed)
    rows = ["MJD,Mag,MagErr,Filter,UL,Telescope,Instrument"]
    for i in range(n):
        t = 58800 + 2 * i
        m = 18.5 + 0.02 * abs(i - 12) ** 1.5 + rng.normal(0, 0.03)
        band, tel, inst = [("ZTF g", "P48", "ZTF-Cam"), ("ZTF_r", "P48", "ZTF-Cam"), ("o", "ATLAS", "ACAM1"),
                           ("c", "ATLAS", "ACAM1")][i % 4]
        ul = "T" if i in (0, 1) else "F"
        rows.append(f"{t},{m:.3f},0.05,{band},{ul},{tel},{inst}")
    rows.append("58900,17.9,0.1,UVW1,F,Swift,UVOT")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def bundle(trained, tmp_path_factory):
    run, _ = trained
    out = tmp_path_factory.mktemp("bundle") / "ms"
    assert main(["export", str(run / "ms_swin_linear"), "--out", str(out)]) == 0
    return out


def _check_csv(path: Path, n_objects: int) -> pd.DataFrame:
    t = pd.read_csv(path)
    assert len(t) == n_objects and t["object_id"].is_unique
    done = t[t["status"] == "classified"]
    np.testing.assert_allclose(done[list(CLASS_COLUMNS)].sum(axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(done[list(GROUP_COLUMNS)].sum(axis=1), 1.0, atol=1e-4)
    return t


def test_mslc_classify_real_fixtures_mag_and_fpbot_files(bundle, tmp_path, capsys):
    files = sorted(EXAMPLES.glob("*.txt"))
    assert len(files) >= 3
    mag = write_mag(tmp_path / "SN2019abc.csv")
    fp = write_fpbot(tmp_path / "fpbot_lc.csv")
    out = tmp_path / "pred.csv"
    assert main(["classify", *map(str, files), str(mag), str(fp), "--model", str(bundle), "--out", str(out)]) == 0
    t = _check_csv(out, len(files) + 2).set_index("object_id")
    assert (t["status"] == "classified").all()
    assert t.loc["ZTF19fpbot01", "surveys"] == "ZTF" and t.loc["SN2019abc", "surveys"] == "ZTF+ATLAS"
    assert t.loc["job01088", "surveys"] == "ATLAS" and "masked path" in t.loc["job01088", "note"]
    text = capsys.readouterr().out
    assert "upper_limit" in text and "other_facility" in text and "fpbot_pass" in text


def test_python_m_mslc_utils_and_info(bundle, tmp_path):
    fp = write_fpbot(tmp_path / "fp.csv")
    out = tmp_path / "p.csv"
    env_py = [sys.executable, "-m", "mslc_utils"]
    r = subprocess.run([*env_py, "classify", str(fp), "--model", str(bundle), "--out", str(out), "--quiet"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    _check_csv(out, 1)
    r = subprocess.run([*env_py, "info", str(bundle)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "MS-SwinV2-Linear" in r.stdout and "Intended use" in r.stdout


def test_mslc_bad_input_exits_non_zero_and_writes_nothing(bundle, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("MJD,Mag,MagErr,Filter\n58800,18.1,0.1,ZTF g\n58801,abc,0.1,ZTF g\n")
    out = tmp_path / "never.csv"
    assert main(["classify", str(bad), "--model", str(bundle), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad.csv:3" in err and "non-numeric" in err and not out.exists()
    assert main(["classify", str(bad), "--model", str(tmp_path), "--out", str(out)]) == 2
    assert "not a classifier bundle" in capsys.readouterr().err
    # --skip-bad: the unreadable file becomes a row with its reason
    fp = write_fpbot(tmp_path / "fp.csv")
    assert main(["classify", str(bad), str(fp), "--model", str(bundle), "--out", str(out), "--skip-bad"]) == 0
    t = pd.read_csv(out).set_index("object_id")
    assert t.loc["bad", "status"] == "not classified" and "non-numeric" in t.loc["bad", "note"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_header_only_file_gives_a_not_classified_row(bundle, tmp_path):
    empty = tmp_path / "SN_empty.csv"
    empty.write_text("MJD,Mag,MagErr,Filter,UL\n")
    t = classify([empty], str(bundle)).set_index("object_id")
    assert t.loc["SN_empty", "status"] == "not classified" and t.loc["SN_empty", "surveys"] == ""


def test_classify_a_data_dir_like_folder_with_labels(bundle, tmp_path):
    d = tmp_path / "data"
    (d / "ztf").mkdir(parents=True)
    (d / "atlas").mkdir()
    write_fpbot(d / "ztf" / "SN1.csv")
    write_mag(d / "atlas" / "SN2.csv")
    pd.DataFrame({"object_id": ["ZTF19fpbot01", "SN2"], "label": ["SN Ia", "SN Ic-BL"]}).to_csv(d / "labels.csv", index=False)
    t = classify(d, str(bundle)).set_index("object_id")
    assert t.loc["ZTF19fpbot01", "label"] == "SNIa" and t.loc["SN2", "label"] == "SESN"


def test_bundle_reads_the_shipped_quick_checkpoint_config():
    """A run of the quick profile names its backbone `package:swinv2-quick`: the bundle resolves it."""
    from mslc_utils.bundle import _backbone_config
    from mslc_utils.config import load_config

    backbone, pre = _backbone_config(load_config("quick")["swin"])
    assert backbone["image_size"] == 64 and backbone["embed_dim"] == 48
    assert list(pre["size"]) == [64, 64]  # the checkpoint's preprocessor_config.json
