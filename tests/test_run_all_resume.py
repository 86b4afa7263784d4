"""``run_all.sh`` interrupted in the middle of a training notebook, then run again.

A tiny profile (``configs/quick.yaml`` shrunk: 168 simulated objects, a 2-block SwinV2 at
32 px, a few epochs) runs through the real ``run_all.sh`` in a subprocess, once with two fold
workers (the quick profile's ``training.fold_workers``) and once serially (the paper
profile's path). As soon as one SwinV2-ZTF fold is complete and another has a checkpoint with
at least three epochs left to train (notebook 03, mid-fold), the whole process tree (papermill, the kernel and its
fold workers) is killed, as a crash or a lost machine would. The second ``run_all.sh`` must
finish every notebook without redoing a completed fold (their files are untouched and
notebook 03 reports them skipped) and resume the interrupted folds from their checkpoints.
(A kill in the middle of writing a checkpoint is tested in test_training.py.)

Both runs are ``run_all.sh tiny.yaml 03 04 05 06``: the notebooks that train (03, 05) and those
that read their folds (04, 06). Notebook 03 simulates the data set itself when notebook 01 has
not (``get_dataset``) and renders its images in memory; 01, 02 and 07 train nothing and add
about a minute per run on 2 cores (they run in full in the nbval run and in
test_paper_profile.py).
"""
from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import yaml

from mslc_utils import artifacts as A
from mslc_utils.config import repo_root
from mslc_utils.training import TRAINED_FILE

from conftest import run_all_env

MODELS = ("atat_ztf", "atat_atlas", "swin_ztf", "swin_atlas", "swin_stacked", "ms_swin_linear", "ms_swin_mlp")
N_FOLDS = 3
MAX_EPOCHS = 6  # SwinV2; patience as long, so that no fold stops early
NOTEBOOKS = ("03", "04", "05", "06")  # the training notebooks and the ones that read their folds


def _tiny_profile(path: Path, fold_workers: int) -> Path:
    cfg = yaml.safe_load((repo_root() / "configs" / "quick.yaml").read_text())
    cfg["profile"] = "tiny"
    cfg["data"].update(n_objects=168, min_per_class=8)
    cfg["splits"]["n_folds"] = N_FOLDS
    cfg["render"]["image_size"] = 32
    cfg["swin"]["pretrained"] = None  # a tiny random model, not the packaged 64-px checkpoint
    cfg["swin"]["config"] = dict(image_size=32, patch_size=8, embed_dim=8, depths=[1, 1], num_heads=[1, 1],
                                 window_size=2)
    # enough epochs that a fold is still training for a while after its first checkpoint
    cfg["training"].update(max_epochs=MAX_EPOCHS, patience=MAX_EPOCHS, batch_size=16, mix_head_hidden=8,
                          torch_threads=1, fold_workers=fold_workers)
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


def _output_text(notebook: Path) -> str:
    """Every printed line of an executed notebook (stream and text outputs), in cell order."""
    parts = []
    for cell in json.loads(notebook.read_text())["cells"]:
        for o in cell.get("outputs", []):
            text = o.get("text") or o.get("data", {}).get("text/plain", "")
            parts.append("".join(text) if isinstance(text, list) else text)
    return "\n".join(parts)


def _checkpoint_epoch(fold_dir: Path) -> float | None:
    """Epoch of the fold's latest complete Trainer checkpoint (None: none yet).

    Not ``training.last_complete_checkpoint``: it deletes a half-written checkpoint, which
    here is one the running fold is writing."""
    epochs = []
    for state in (fold_dir / "checkpoints").glob("checkpoint-*/trainer_state.json"):
        try:
            epochs.append(float(json.loads(state.read_text())["epoch"]))
        except (OSError, ValueError, KeyError):  # being written or rotated away right now
            continue
    return max(epochs) if epochs else None


def _swin_ztf_state(out: Path) -> tuple[set[int], dict[int, float], set[int]]:
    """SwinV2-ZTF folds: complete; mid-training (epoch of their last checkpoint; best weights
    not saved yet); trained (best weights saved, ``TRAINED``, predictions not yet)."""
    complete, training, trained = set(), {}, set()
    for k in range(N_FOLDS):
        d = A.fold_dir(out, "swin_ztf", k)
        if A.is_complete(d):
            complete.add(k)
        elif (d / TRAINED_FILE).exists():
            trained.add(k)
        elif (epoch := _checkpoint_epoch(d)) is not None:
            training[k] = epoch
    return complete, training, trained


# seconds under scripts/test.sh on the 2-core AVX2-only AMD EPYC (conftest: the longest run first)
@pytest.mark.parametrize("fold_workers", [pytest.param(2, marks=pytest.mark.long(200)),
                                          pytest.param(1, marks=pytest.mark.long(135))],
                         ids=["two-fold-workers", "serial"])
def test_run_all_resumes_after_being_killed_mid_fold(tmp_path, fold_workers) -> None:
    """Killed as soon as one SwinV2-ZTF fold is complete and another is mid-training (with
    two fold workers, the quick profile's setting, two folds train side by side)."""
    profile = _tiny_profile(tmp_path / "tiny.yaml", fold_workers=fold_workers)
    env, out = run_all_env(tmp_path), tmp_path / "out"
    cmd = ["bash", str(repo_root() / "run_all.sh"), str(profile), *NOTEBOOKS]
    log1 = open(tmp_path / "run1.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log1, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 900
    try:
        while True:
            complete, training, _ = _swin_ztf_state(out)
            # a fold with epochs left to train (two folds side by side finish almost together:
            # the second one is caught at the start of the fold after it)
            if complete and any(e <= MAX_EPOCHS - 3 for e in training.values()):
                break
            assert proc.poll() is None, f"run_all.sh ended (rc {proc.returncode}) before the kill:\n" + (
                tmp_path / "run1.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no SwinV2-ZTF fold mid-training after another within 900 s"
            time.sleep(0.02)
    finally:
        _kill_tree(proc)
        log1.close()
    complete, training, trained = _swin_ztf_state(out)  # again: a fold may have moved on before the kill
    interrupted = set(training)
    assert complete and interrupted, f"the kill came too late: complete {complete}, mid-training {training}"
    done_before = _fold_files(out)
    completed = {(m, k) for m in MODELS for k in range(N_FOLDS) if A.is_complete(A.fold_dir(out, m, k))}
    # notebook 03 trains ATAT (the longest jobs) first, notebook 05 has not started
    assert {("atat_ztf", k) for k in range(N_FOLDS)} <= completed, completed
    assert not any(m.startswith("ms_") for m, _ in completed), completed

    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]

    # completed folds were not redone: every file of theirs is untouched
    after = _fold_files(out)
    changed = sorted(k for k in done_before if after.get(k) != done_before[k])
    assert not changed, f"files of completed folds rewritten: {changed[:10]}"
    # the interrupted folds resumed from their checkpoints; every fold of every model is complete
    nb03 = _output_text(tmp_path / "executed" / "03_single_survey_finetuning.ipynb")
    for k in interrupted:
        metrics = json.loads((A.fold_dir(out, "swin_ztf", k) / "metrics.json").read_text())
        assert str(metrics["resumed_from"]).startswith("checkpoint-"), (k, metrics.get("resumed_from"))
        assert f"swin_ztf fold {k}: resuming from checkpoint-" in nb03, (k, training, trained, complete)
    for k in trained:  # killed between saving its best weights and its predictions: weights reused
        metrics = json.loads((A.fold_dir(out, "swin_ztf", k) / "metrics.json").read_text())
        assert metrics["resumed_from"] == TRAINED_FILE, (k, metrics.get("resumed_from"))
    for k in complete:
        assert re.search(rf"swin_ztf fold {k}: [^\n]*\[skipped \(complete\)\]", nb03), (k, training, trained, complete)
    incomplete = [(m, k) for m in MODELS for k in range(N_FOLDS) if not A.is_complete(A.fold_dir(out, m, k))]
    assert not incomplete, incomplete
    table2 = (out / "figures" / "table2.csv").read_text().splitlines()
    assert len(table2) == 1 + 9
    timings = (tmp_path / "executed" / "timings_partial.csv").read_text()  # a run of named notebooks
    assert [line.split(",")[0][:2] for line in timings.splitlines()[1:-1]] == list(NOTEBOOKS)


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
