"""Profiles and the run context that every notebook builds from its ``parameters`` cell.

A notebook's ``parameters`` cell holds only ``PROFILE``, ``DATA_DIR``, ``OUT_DIR``, ``DEVICE``
and ``SEED``; the next cell calls :func:`setup`, which loads ``configs/<PROFILE>.yaml`` and
derives everything else (paths, device, seeds) so that papermill runs and interactive runs
see exactly the same settings.
"""
from __future__ import annotations

import copy
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

PROFILES: tuple[str, ...] = ("quick", "paper")
CONFIG_DIR_ENV = "MSLC_CONFIG_DIR"


def repo_root() -> Path:
    """The repository root (parent of the ``mslc_utils`` package directory)."""
    return Path(__file__).resolve().parents[1]


def config_dir() -> Path:
    """Directory of the profile YAML files (``$MSLC_CONFIG_DIR`` or ``<repo>/configs``)."""
    return Path(os.environ.get(CONFIG_DIR_ENV, repo_root() / "configs"))


def load_config(profile: str | Path) -> dict[str, Any]:
    """Load a profile by name (``quick``, ``paper``) or from a YAML file path."""
    path = Path(profile)
    if path.suffix not in {".yaml", ".yml"}:
        path = config_dir() / f"{profile}.yaml"
    if not path.exists():
        available = sorted(p.stem for p in config_dir().glob("*.yaml"))
        raise FileNotFoundError(f"{path}: no such profile config; available profiles: {available}")
    with open(path) as fh:
        cfg = yaml.safe_load(fh)
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: expected a YAML mapping at top level")
    for key in ("profile", "seed", "data", "splits", "render"):
        if key not in cfg:
            raise ValueError(f"{path}: missing required key {key!r}")
    cfg["_source"] = str(path)
    return cfg


def resolve_device(device: str | None = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU is visible, else ``"cpu"``; other values pass through."""
    if device in (None, "auto"):
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) for reproducible runs."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass


@dataclass
class RunContext:
    """Everything a notebook derives from its parameters: config, paths, device, seed."""

    profile: str
    config: dict[str, Any]
    data_dir: Path | None
    out_dir: Path
    figures_dir: Path
    device: str
    seed: int
    extra: dict[str, Any] = field(default_factory=dict)

    def artifact(self, *parts: str) -> Path:
        """A path under ``OUT_DIR`` (parents created)."""
        p = self.out_dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def figure(self, name: str) -> Path:
        """A path under ``figures/<profile>/`` (directory created)."""
        self.figures_dir.mkdir(parents=True, exist_ok=True)
        return self.figures_dir / name

    def section(self, name: str) -> dict[str, Any]:
        """A copy of one config section (``render``, ``swin``, ``training``, ...)."""
        if name not in self.config:
            raise KeyError(f"profile {self.profile!r} ({self.config.get('_source')}) has no section {name!r}")
        return copy.deepcopy(self.config[name])

    def describe(self) -> str:
        """A short human-readable summary (printed by every notebook)."""
        return (
            f"profile={self.profile} seed={self.seed} device={self.device}\n"
            f"data: {self.data_dir if self.data_dir else 'embedded simulator'}\n"
            f"artifacts: {self.out_dir}\nfigures: {self.figures_dir}"
        )

    def to_json(self) -> str:
        """The resolved settings as JSON (saved beside artifacts)."""
        return json.dumps(
            {
                "profile": self.profile,
                "seed": self.seed,
                "device": self.device,
                "data_dir": str(self.data_dir) if self.data_dir else None,
                "config": self.config,
            },
            indent=2,
            sort_keys=True,
            default=str,
        )


def setup(
    PROFILE: str = "quick",
    DATA_DIR: str | None = None,
    OUT_DIR: str | None = None,
    DEVICE: str = "auto",
    SEED: int | None = None,
) -> RunContext:
    """Build the :class:`RunContext` of a notebook from its papermill parameters.

    ``OUT_DIR`` defaults to ``<repo>/artifacts/<profile>``; figures always go to
    ``<repo>/figures/<profile>`` (or ``OUT_DIR/figures`` when ``OUT_DIR`` is given outside
    the repository, so tests never write into the working tree). ``SEED`` defaults to the
    profile's seed.
    """
    cfg = load_config(PROFILE)
    profile = str(cfg["profile"])
    seed = int(cfg["seed"] if SEED is None else SEED)
    cfg["seed"] = seed
    root = repo_root()
    out_dir = Path(OUT_DIR).expanduser().resolve() if OUT_DIR else root / "artifacts" / profile
    figures_dir = root / "figures" / profile
    if OUT_DIR and not out_dir.is_relative_to(root):
        figures_dir = out_dir / "figures"
    data_dir = Path(DATA_DIR).expanduser().resolve() if DATA_DIR else None
    if data_dir is not None and not data_dir.exists():
        raise FileNotFoundError(f"DATA_DIR={data_dir}: no such directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(seed)
    return RunContext(
        profile=profile,
        config=cfg,
        data_dir=data_dir,
        out_dir=out_dir,
        figures_dir=figures_dir,
        device=resolve_device(DEVICE),
        seed=seed,
    )
