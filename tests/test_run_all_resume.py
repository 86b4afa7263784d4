"""``run_all.sh`` interrupted in the middle of a training notebook, then run again.

A tiny profile (``configs/quick.yaml`` shrunk: 168 simulated objects, a 2-block SwinV2 at
32 px, a few epochs) runs through the real ``run_all.sh`` in a subprocess. As soon as
SwinV2-ZTF's fold 1 has completed its first checkpoint (notebook 03, mid-fold), the whole
process tree (papermill and the kernel) is killed, as a crash or a lost machine would. The
second ``run_all.sh`` must finish every notebook without redoing a completed fold (their
files are untouched and notebook 03 reports them skipped) and resume fold 1 from its
checkpoint. (A kill in the middle of writing a checkpoint is tested in test_training.py.)
"""
from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import psutil
import yaml

from mslc_utils import artifacts as A
from mslc_utils.config import repo_root

from conftest import run_all_env

MODELS = ("atat_ztf", "atat_atlas", "swin_ztf", "swin_atlas", "swin_stacked", "ms_swin_linear", "ms_swin_mlp")
N_FOLDS = 3


def _tiny_profile(path: Path) -> Path:
    cfg = yaml.safe_load((repo_root() / "configs" / "quick.yaml").read_text())
    cfg["profile"] = "tiny"
    cfg["data"].update(n_objects=168, min_per_class=8)
    cfg["splits"]["n_folds"] = N_FOLDS
    cfg["render"]["image_size"] = 32
    cfg["swin"]["pretrained"] = None  # a tiny random model, not the packaged 64-px checkpoint
    cfg["swin"]["config"] = dict(image_size=32, patch_size=8, embed_dim=8, depths=[1, 1], num_heads=[1, 1],
                                 window_size=2)
    # enough epochs that fold 1 is still training when its first checkpoint appears
    cfg["training"].update(max_epochs=6, patience=6, batch_size=16, mix_head_hidden=8, torch_threads=1)
    cfg["atat"].update(d_model=8, d_ff=16, n_heads=2, n_layers=1, max_epochs=2, batch_size=32)
    cfg["brf"]["grid"] = {"n_estimators": [10], "max_depth": [None], "max_features": ["sqrt"],
                          "min_samples_split": [2, 5]}
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _kill_tree(proc: subprocess.Popen) -> None:
    try:
        parent = psutil.Process(proc.pid)
        procs = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:  # already ended
        return
    for p in procs:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=30)


def _fold_files(out: Path) -> dict[str, int]:
    """mtime (ns) of every file of every completed fold."""
    stamps = {}
    for m in MODELS:
        for k in range(N_FOLDS):
            d = A.fold_dir(out, m, k)
            if A.is_complete(d):
                stamps |= {str(p.relative_to(out)): p.stat().st_mtime_ns for p in d.rglob("*") if p.is_file()}
    return stamps


def test_run_all_resumes_after_being_killed_mid_fold(tmp_path) -> None:
    profile = _tiny_profile(tmp_path / "tiny.yaml")
    env, out = run_all_env(tmp_path), tmp_path / "out"
    cmd = ["bash", str(repo_root() / "run_all.sh"), str(profile)]
    log1 = open(tmp_path / "run1.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log1, stderr=subprocess.STDOUT, start_new_session=True)
    target = A.fold_dir(out, "swin_ztf", 1) / "checkpoints"
    deadline = time.monotonic() + 900
    try:
        while not any(target.glob("checkpoint-*/trainer_state.json")):  # a complete checkpoint
            assert proc.poll() is None, f"run_all.sh ended (rc {proc.returncode}) before the kill:\n" + (
                tmp_path / "run1.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint of swin_ztf fold 1 within 900 s"
            time.sleep(0.02)
    finally:
        _kill_tree(proc)
        log1.close()
    assert not A.is_complete(A.fold_dir(out, "swin_ztf", 1)), "the kill came too late: fold 1 had finished"
    done_before = _fold_files(out)
    completed = {(m, k) for m in MODELS for k in range(N_FOLDS) if A.is_complete(A.fold_dir(out, m, k))}
    assert {("atat_ztf", k) for k in range(N_FOLDS)} | {("swin_ztf", 0)} <= completed
    assert ("swin_ztf", 1) not in completed and not any(m.startswith("ms_") for m, _ in completed)

    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]

    # completed folds were not redone: every file of theirs is untouched
    after = _fold_files(out)
    assert {k: after.get(k) for k in done_before} == done_before
    # the interrupted fold resumed from its checkpoint; every fold of every model is complete
    metrics = json.loads((A.fold_dir(out, "swin_ztf", 1) / "metrics.json").read_text())
    assert str(metrics["resumed_from"]).startswith("checkpoint-")
    assert all(A.is_complete(A.fold_dir(out, m, k)) for m in MODELS for k in range(N_FOLDS))
    nb03 = (tmp_path / "executed" / "03_single_survey_finetuning.ipynb").read_text()
    assert "swin_ztf fold 0: " in nb03 and "[skipped (complete)]" in nb03
    assert "swin_ztf fold 1: resuming from checkpoint-" in nb03
    table2 = (out / "figures" / "table2.csv").read_text().splitlines()
    assert len(table2) == 1 + 9
    timings = (tmp_path / "executed" / "timings.csv").read_text()
    assert "06_results_and_figures.ipynb" in timings


def test_run_all_rejects_an_unknown_profile_or_notebook(tmp_path) -> None:
    script = str(repo_root() / "run_all.sh")
    env = run_all_env(tmp_path)
    for args, message in (
        (["nonsense"], "usage:"),
        ([str(tmp_path / "missing.yaml")], "missing.yaml: no such profile file"),
        (["quick", "99"], "no notebook notebooks/99_*.ipynb"),
    ):
        r = subprocess.run(["bash", script, *args], env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and message in r.stderr, (args, r.stderr)
    assert not (tmp_path / "executed").exists()  # nothing ran
