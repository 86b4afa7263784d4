"""Profiles and the run context that every notebook builds from its ``parameters`` cell.

A notebook's ``parameters`` cell holds only ``PROFILE``, ``DATA_DIR``, ``OUT_DIR``, ``DEVICE``
and ``SEED``; the next cell calls :func:`setup`, which loads the profile ``<PROFILE>.yaml``
(from the clone's ``configs/``, or the copy shipped in the installed package) and
derives everything else (paths, device, seeds) so that papermill runs and interactive runs
see exactly the same settings.
"""
from __future__ import annotations

import copy
import json
import os
import random
from importlib import resources
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

PROFILES: tuple[str, ...] = ("quick", "paper")
CONFIG_DIR_ENV = "MSLC_CONFIG_DIR"
SIMULATE_ENV = "MSLC_SIMULATE"
# profiles whose simulated data set is full scale: without DATA_DIR they need an explicit yes
_FULL_SCALE_PROFILES = ("paper",)


def clone_root() -> Path | None:
    """The root of the source checkout this package runs from, or ``None`` when installed.

    A checkout is recognised by ``pyproject.toml`` and ``configs/`` next to the package
    directory (a clone, or an editable install of one); a wheel installed into
    ``site-packages`` has neither.
    """
    root = Path(__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file() and (root / "configs").is_dir():
        return root
    return None


def repo_root() -> Path:
    """The root of the clone (for the repository's own scripts and tests).

    Raises
    ------
    RuntimeError
        When the package is installed rather than run from a clone.
    """
    root = clone_root()
    if root is None:
        raise RuntimeError(f"{Path(__file__).parent}: mslc_utils is installed, not run from a clone")
    return root


def project_dir() -> Path:
    """Where ``artifacts/`` and ``figures/`` go by default: the clone, else the working directory."""
    return clone_root() or Path.cwd()


def packaged_config_dir() -> Path:
    """The profiles shipped inside the package (``mslc_utils/profiles/``, built from ``configs/``)."""
    return Path(str(resources.files("mslc_utils").joinpath("profiles")))


def config_dir() -> Path:
    """Directory of the profile YAML files.

    ``$MSLC_CONFIG_DIR`` if set; else the clone's ``configs/`` (so that edits there take
    effect); else the profiles shipped with the installed package.
    """
    if os.environ.get(CONFIG_DIR_ENV):
        return Path(os.environ[CONFIG_DIR_ENV])
    root = clone_root()
    return root / "configs" if root is not None else packaged_config_dir()


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
    """``"auto"`` -> ``"cuda"`` if a CUDA GPU is visible, else ``"mps"`` (Apple GPU), else ``"cpu"``.

    Other values pass through unchanged.
    """
    if device in (None, "auto"):
        import torch

        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    return str(device)


def check_data_source(profile: str, data_dir: str | Path | None) -> None:
    """Refuse to simulate a full-scale data set unless asked for explicitly.

    Raises
    ------
    RuntimeError
        For a full-scale profile (``paper``) without ``DATA_DIR`` unless ``MSLC_SIMULATE=1``:
        the message says how to run on real data or how to ask for the simulation.
    """
    if data_dir or profile not in _FULL_SCALE_PROFILES or os.environ.get(SIMULATE_ENV) == "1":
        return
    raise RuntimeError(
        f"The {profile} profile runs on your data: set DATA_DIR to a data directory "
        f"(layout: docs/real-data.md), e.g. DATA_DIR=/path/to/data ./run_all.sh {profile}. "
        f"Without DATA_DIR it would simulate the paper's 39,483 objects and train at full scale "
        f"(days on a CPU); to do that on purpose set {SIMULATE_ENV}=1. "
        "For a run of minutes on simulated data use the quick profile (./run_all.sh)."
    )


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

    ``OUT_DIR`` defaults to ``<project>/artifacts/<profile>``; figures go to
    ``<project>/figures/<profile>`` (or ``OUT_DIR/figures`` when ``OUT_DIR`` is given outside
    the project, so tests never write into the working tree). The project is the clone, or
    the working directory when the package is installed (:func:`project_dir`). ``SEED``
    defaults to the profile's seed. A full-scale profile without ``DATA_DIR`` stops unless
    ``MSLC_SIMULATE=1`` (:func:`check_data_source`).
    """
    cfg = load_config(PROFILE)
    profile = str(cfg["profile"])
    check_data_source(profile, DATA_DIR)
    seed = int(cfg["seed"] if SEED is None else SEED)
    cfg["seed"] = seed
    root = project_dir()
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
