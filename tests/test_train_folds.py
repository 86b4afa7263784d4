"""The command-line fold training, in one process and under torchrun with two CPU processes (gloo)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mslc_utils import artifacts as A
from mslc_utils.config import repo_root
from mslc_utils.train_folds import parse_args
from mslc_utils.training import per_process_batch

TINY = dict(image_size=32, patch_size=8, embed_dim=8, depths=[1, 1], num_heads=[1, 2], window_size=2)


def _tiny_profile(path: Path) -> Path:
    cfg = yaml.safe_load((repo_root() / "configs" / "quick.yaml").read_text())
    cfg["data"].update(n_objects=147, min_per_class=7)
    cfg["splits"]["n_folds"] = 2
    cfg["render"]["image_size"] = 32
    cfg["swin"] = {"pretrained": None, "config": TINY}
    cfg["training"].update(max_epochs=1, batch_size=16, torch_threads=1)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _train(profile: Path, out: Path, nproc: int) -> subprocess.CompletedProcess:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] if nproc > 1 else [sys.executable]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(repo_root())}
    for var in ("DATA_DIR", "OUT_DIR", "SEED", "DEVICE"):
        env.pop(var, None)
    cmd = launcher + ["-m", "mslc_utils.train_folds", "--profile", str(profile), "--models", "swin_ztf",
                      "--folds", "0", "--out-dir", str(out), "--device", "cpu"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)


def _files(fold_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(fold_dir)) for p in fold_dir.rglob("*"))


@pytest.mark.long(50)
def test_torchrun_two_processes_write_the_fold_once_and_predict_every_object_once(tmp_path):
    profile = _tiny_profile(tmp_path / "tiny.yaml")
    two = _train(profile, tmp_path / "two", nproc=2)
    assert two.returncode == 0, two.stdout[-3000:] + two.stderr[-3000:]
    assert "processes: 2" in two.stdout
    one = _train(profile, tmp_path / "one", nproc=1)
    assert one.returncode == 0, one.stdout[-3000:] + one.stderr[-3000:]

    fd_two, fd_one = A.fold_dir(tmp_path / "two", "swin_ztf", 0), A.fold_dir(tmp_path / "one", "swin_ztf", 0)
    assert A.is_complete(fd_two)
    # the same artifact layout as a one-process run, and the same configuration hash, so a
    # notebook (one process) run afterwards skips the fold
    assert _files(fd_two) == _files(fd_one)
    assert (fd_two / A.COMPLETE_FILE).read_text() == (fd_one / A.COMPLETE_FILE).read_text()
    assert not list(fd_two.rglob("checkpoint-*")) and not list(fd_two.rglob("*.tmp"))

    splits = pd.read_parquet(tmp_path / "two" / "data" / "splits.parquet")
    predicted = pd.concat([pd.read_parquet(fd_two / f"predictions_{s}.parquet") for s in ("train", "val", "test")])
    assert not predicted["object_id"].duplicated().any()
    assert sorted(predicted["object_id"]) == sorted(splits["object_id"].astype(str))
    # the skip-if-complete path under torchrun
    again = _train(profile, tmp_path / "two", nproc=2)
    assert again.returncode == 0 and "skipped (complete)" in again.stdout


def test_per_process_batch_keeps_the_global_batch() -> None:
    assert per_process_batch(64, 4) == 16 and per_process_batch(64, 1) == 64
    with pytest.raises(ValueError, match="not divisible by the 3 processes"):
        per_process_batch(64, 3)


def test_command_line_arguments() -> None:
    args = parse_args(["--profile", "paper", "--models", "swin_ztf,ms_swin_mlp", "--folds", "0,3"])
    assert args.models == ["swin_ztf", "ms_swin_mlp"] and args.folds == [0, 3]
    assert len(parse_args(["--models", "all"]).models) == 5
    with pytest.raises(SystemExit):
        parse_args(["--models", "swin_xyz"])
