"""Profiles load, the run context derives paths, device and seed."""
from __future__ import annotations

import pytest

from mslc_utils.config import PROFILES, load_config, setup


@pytest.mark.parametrize("profile", PROFILES)
def test_profiles_load(profile) -> None:
    cfg = load_config(profile)
    assert cfg["profile"] == profile
    for section in ("data", "splits", "render", "swin", "training", "atat", "brf"):
        assert section in cfg, section
    assert cfg["splits"]["n_folds"] == 5 and cfg["splits"]["test_fraction"] == 0.2


def test_paper_profile_has_the_published_settings() -> None:
    cfg = load_config("paper")
    assert cfg["swin"]["pretrained"] == "microsoft/swinv2-tiny-patch4-window16-256"
    assert cfg["render"]["image_size"] == 256
    assert cfg["training"]["learning_rate"] == 5e-6
    assert cfg["training"]["batch_size"] == 64
    assert cfg["training"]["patience"] == 5
    grid = cfg["brf"]["grid"]
    n = 1
    for v in grid.values():
        n *= len(v)
    assert n == 120


def test_setup_derives_paths(tmp_path) -> None:
    ctx = setup("quick", OUT_DIR=str(tmp_path / "out"), SEED=7, DEVICE="cpu")
    assert ctx.seed == 7 and ctx.config["seed"] == 7
    assert ctx.out_dir == (tmp_path / "out").resolve()
    assert ctx.figures_dir == ctx.out_dir / "figures"  # outside the repo: figures stay there
    assert ctx.device == "cpu"
    assert ctx.artifact("a", "b.txt").parent.is_dir()


def test_unknown_profile_and_missing_data_dir(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="available profiles"):
        load_config("nope")
    with pytest.raises(FileNotFoundError, match="DATA_DIR"):
        setup("quick", DATA_DIR=str(tmp_path / "missing"), OUT_DIR=str(tmp_path))
