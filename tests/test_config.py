"""Profiles load, the run context derives paths, device and seed."""
from __future__ import annotations

from pathlib import Path

import pytest

from mslc_utils import config
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


def test_a_clone_reads_its_own_configs_directory(tmp_path, monkeypatch) -> None:
    """In a clone, edits to configs/*.yaml take effect; MSLC_CONFIG_DIR overrides both places."""
    monkeypatch.delenv(config.CONFIG_DIR_ENV, raising=False)
    root = config.clone_root()
    assert root is not None and config.config_dir() == root / "configs"
    assert load_config("quick")["_source"] == str(root / "configs" / "quick.yaml")
    (tmp_path / "quick.yaml").write_text(
        (root / "configs" / "quick.yaml").read_text().replace("seed: 0", "seed: 41", 1))
    monkeypatch.setenv(config.CONFIG_DIR_ENV, str(tmp_path))
    assert load_config("quick")["seed"] == 41


def test_installed_package_uses_shipped_profiles_and_the_working_directory(tmp_path, monkeypatch) -> None:
    """Without a clone: profiles come from the package, outputs go under the working directory."""
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    clone_configs = Path(config.repo_root()) / "configs"
    for name in ("quick.yaml", "paper.yaml"):
        (shipped / name).write_text((clone_configs / name).read_text())
    monkeypatch.delenv(config.CONFIG_DIR_ENV, raising=False)
    monkeypatch.setattr(config, "clone_root", lambda: None)
    monkeypatch.setattr(config, "packaged_config_dir", lambda: shipped)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError, match="installed"):
        config.repo_root()
    assert load_config("paper")["_source"] == str(shipped / "paper.yaml")
    ctx = setup("quick", DEVICE="cpu")
    assert ctx.out_dir == tmp_path / "artifacts" / "quick"
    assert ctx.figures_dir == tmp_path / "figures" / "quick"


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert config.resolve_device("auto") == expected
    assert config.resolve_device(None) == expected
    assert config.resolve_device("cpu") == "cpu"


def test_paper_profile_without_data_dir_needs_an_explicit_request(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(config.SIMULATE_ENV, raising=False)
    with pytest.raises(RuntimeError) as err:
        setup("paper", OUT_DIR=str(tmp_path), DEVICE="cpu")
    message = str(err.value)
    assert "DATA_DIR" in message and "MSLC_SIMULATE=1" in message and "docs/real-data.md" in message
    config.check_data_source("quick", None)  # the quick profile simulates by design
    config.check_data_source("paper", str(tmp_path))  # real data given
    monkeypatch.setenv(config.SIMULATE_ENV, "1")
    config.check_data_source("paper", None)  # asked for explicitly
