"""Folds of several models trained in two worker processes give what a serial run gives."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mslc_utils import artifacts as A
from mslc_utils import parallel
from mslc_utils.config import repo_root, setup
from mslc_utils.data import get_dataset

TINY = dict(image_size=32, patch_size=8, embed_dim=8, depths=[1, 1], num_heads=[1, 2], window_size=2)
MODELS = ["atat_ztf", "swin_ztf", "ms_swin_linear"]


def _tiny_profile(path: Path, fold_workers: int) -> Path:
    cfg = yaml.safe_load((repo_root() / "configs" / "quick.yaml").read_text())
    cfg["data"].update(n_objects=147, min_per_class=7)
    cfg["splits"]["n_folds"] = 2
    cfg["render"]["image_size"] = 32
    cfg["swin"] = {"pretrained": None, "config": TINY}
    # one thread in both runs, so that the two runs do the same arithmetic
    cfg["training"].update(max_epochs=2, batch_size=16, torch_threads=1, fold_workers=fold_workers)
    cfg["atat"].update(max_epochs=2, d_model=8, n_heads=2, d_ff=16, n_layers=1, window=50)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _run(tmp: Path, name: str, workers: int) -> tuple[dict[str, pd.DataFrame], Path]:
    ctx = setup(str(_tiny_profile(tmp / f"{name}.yaml", workers)), None, str(tmp / name), "cpu", 0)
    ds = get_dataset(ctx)
    return parallel.train_models(ctx, ds, MODELS), ctx.out_dir


@pytest.mark.long(54)
def test_two_workers_train_every_fold_as_a_serial_run(tmp_path):
    serial, out1 = _run(tmp_path, "serial", 1)
    two, out2 = _run(tmp_path, "two", 2)
    assert list(two) == MODELS
    for m in MODELS:
        assert list(two[m]["fold"]) == [0, 1]
        assert not two[m]["skipped"].any()
        for k in (0, 1):
            assert A.is_complete(A.fold_dir(out2, m, k))
            p1 = A.probabilities(A.load_predictions(out1, m, k, "test"))
            p2 = A.probabilities(A.load_predictions(out2, m, k, "test"))
            # same seed, same thread count: the same predictions, whichever worker ran the fold
            np.testing.assert_allclose(p2, p1, rtol=0, atol=1e-6, err_msg=f"{m} fold {k}")
        # the per-fold logs were joined into the model's log, in fold order
        log = (out2 / "logs" / f"{m}.log").read_text()
        assert not list((out2 / "logs").glob(f"{m}.fold*.log"))
        if m.startswith("swin") or m.startswith("ms_"):
            assert log.index(f"{m} fold 0:") < log.index(f"{m} fold 1:")
    # a second call skips every fold (the COMPLETE markers)
    ctx = setup(str(tmp_path / "two.yaml"), None, str(out2), "cpu", 0)
    again = parallel.train_models(ctx, get_dataset(ctx), MODELS)
    assert all(df["skipped"].all() for df in again.values())


def test_fold_workers_setting(tmp_path):
    ctx = setup(str(_tiny_profile(tmp_path / "p.yaml", 2)), None, str(tmp_path / "o"), "cpu", 0)
    assert 1 <= parallel.fold_workers(ctx) <= 2
    assert parallel.worker_threads(ctx, 2) == 1  # torch_threads given: it wins
    ctx.config["training"]["torch_threads"] = None
    assert parallel.worker_threads(ctx, 1) is None  # serial: torch's default
    assert parallel.worker_threads(ctx, 2) == max(1, parallel.available_cores() // 2)
    ctx.device = "cuda"
    assert parallel.fold_workers(ctx) == 1  # one GPU: folds one after the other
    ctx.device = "cpu"
    for bad in (0, -1, "two", 1.5):
        ctx.config["training"]["fold_workers"] = bad
        with pytest.raises(ValueError, match="fold_workers must be a positive integer"):
            parallel.fold_workers(ctx)
    with pytest.raises(ValueError, match="unknown model id"):
        parallel.train_models(ctx, None, ["swin_zft"])


@pytest.mark.long(25)
def test_a_failing_fold_names_the_model_fold_and_log(tmp_path, monkeypatch):
    ctx = setup(str(_tiny_profile(tmp_path / "p.yaml", 2)), None, str(tmp_path / "o"), "cpu", 0)
    ds = get_dataset(ctx)
    ctx.config["training"]["learning_rate"] = "not a number"  # the worker's Trainer rejects it
    with pytest.raises(RuntimeError, match=r"swin_ztf fold \d failed in a worker process.*swin_ztf\.fold\d\.log"):
        parallel.train_models(ctx, ds, ["swin_ztf"])


def test_paper_profile_trains_folds_serially():
    cfg = yaml.safe_load((repo_root() / "configs" / "paper.yaml").read_text())
    assert cfg["training"].get("fold_workers", 1) == 1
    quick = yaml.safe_load((repo_root() / "configs" / "quick.yaml").read_text())
    assert quick["training"]["fold_workers"] == 2


def test_a_worker_ends_when_its_parent_dies(tmp_path):
    """A spawned worker whose parent is killed exits instead of training on as an orphan."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    script = tmp_path / "parent.py"
    pid_file = tmp_path / "child.pid"
    script.write_text(
        "import multiprocessing as mp, os, sys, time\n"
        "from mslc_utils.parallel import exit_with_parent\n"
        "def child(parent, path):\n"
        "    exit_with_parent(parent, poll_s=0.2)\n"
        "    open(path, 'w').write(str(os.getpid()))\n"
        "    time.sleep(120)\n"
        "if __name__ == '__main__':\n"
        "    p = mp.get_context('spawn').Process(target=child, args=(os.getpid(), sys.argv[1]))\n"
        "    p.start()\n"
        "    time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, str(script), str(pid_file)], cwd=str(repo_root()))
    try:
        for _ in range(200):
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.1)
        child = int(pid_file.read_text())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        def alive(pid: int) -> bool:  # an exited child nobody reaped yet is a zombie: not alive
            try:
                return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                return False

        for _ in range(100):  # ~10 s at most
            if not alive(child):
                break
            time.sleep(0.1)
        else:
            os.kill(child, signal.SIGKILL)
            pytest.fail("the worker outlived its killed parent by 10 s")
    finally:
        if parent.poll() is None:
            parent.kill()
