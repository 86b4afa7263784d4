"""The pins of pyproject.toml and environment.yml agree and are exact; the built wheel works
outside the clone."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_pins() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"])
    for extra in data["project"].get("optional-dependencies", {}).values():
        reqs += extra
    pins = {}
    for r in reqs:
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-]+)", r.strip())
        assert m, f"pyproject.toml: dependency {r!r} is not pinned exactly (name==version)"
        pins[m.group(1).lower()] = m.group(2)
    return pins


def _environment_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_list = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    pins = {}
    for r in pip_list:
        if r.startswith("-e"):
            continue
        name, version = r.split("==")
        pins[name.lower()] = version
    return pins


def test_every_dependency_is_pinned_exactly_and_torch_is_pinned() -> None:
    pins = _pyproject_pins()
    assert pins["torch"] == "2.13.0"
    assert "timm" not in pins and "torchvision" not in pins


def test_environment_yml_agrees_with_pyproject() -> None:
    assert _environment_pins() == _pyproject_pins()


def test_release_files_agree_on_version_and_license() -> None:
    import mslc_utils

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert project["version"] == mslc_utils.__version__ == str(citation["version"])
    assert project["license"]["text"] == citation["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert f"## {project['version']}" in (ROOT / "CHANGELOG.md").read_text()
    paper = citation["preferred-citation"]
    assert paper["title"].startswith("Image-Based Multi-Survey Classification of Light Curves")
    assert paper["authors"][0]["family-names"] == "Moreno-Cartagena"


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./scripts/test.sh" in readme
    assert "./scripts/test.sh" in ci


# --------------------------------------------------------------------------------------------
# the installed package, away from the clone
# --------------------------------------------------------------------------------------------
_INSTALLED_CHECK = r"""
import json, sys
from pathlib import Path
import mslc_utils
config = mslc_utils.config  # reachable after a bare `import mslc_utils`, as the README shows
quick, paper = config.load_config("quick"), config.load_config("paper")
own = Path("my_profile.yaml")
own.write_text(Path(paper["_source"]).read_text().replace("seed: 0", "seed: 123"))
print(json.dumps({
    "module": mslc_utils.__file__,
    "clone_root": str(config.clone_root()),
    "project_dir": str(config.project_dir()),
    "profiles": [quick["profile"], paper["profile"]],
    "sources": [quick["_source"], paper["_source"]],
    "own_seed": config.load_config(str(own.resolve()))["seed"],
}))
"""


def _source_copy(dest: Path) -> Path:
    """The files a wheel is built from, copied out of the working tree (the build writes
    ``build/`` and ``*.egg-info`` next to them, which must not land in the clone)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, dest / name)
    for name in ("mslc_utils", "configs"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    return dest


def test_wheel_installs_outside_the_clone_and_finds_both_profiles(tmp_path) -> None:
    """Build a wheel, install it into a fresh venv outside the repository, load both profiles.

    Offline and fast: the wheel is built with this environment's setuptools
    (``--no-build-isolation``) and installed with ``--no-deps``; the fresh venv sees this
    environment's dependencies (torch, numpy, ...) through a ``.pth`` file listing their
    site-packages directory. A ``.pth`` path line does not run the ``.pth`` hooks inside that
    directory, so an editable install of the clone there stays invisible: ``mslc_utils`` can only
    come from the wheel (asserted below).
    """
    (tmp_path / "src").mkdir()
    src = _source_copy(tmp_path / "src")
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(dist), str(src)], check=True, cwd=tmp_path)
    wheel = next(dist.glob("mslc_utils-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert {"mslc_utils/profiles/quick.yaml", "mslc_utils/profiles/paper.yaml", "mslc_utils/py.typed"} <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in names), names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_mslc_test_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True)

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MSLC_CONFIG_DIR")}
    out = subprocess.run([str(py), "-I", "-c", _INSTALLED_CHECK], cwd=work, env=env, check=True,
                         capture_output=True, text=True).stdout
    got = json.loads(out.strip().splitlines()[-1])
    assert Path(got["module"]).is_relative_to(venv), got["module"]
    assert got["clone_root"] == "None" and Path(got["project_dir"]) == work.resolve()
    assert got["profiles"] == ["quick", "paper"]
    for source in got["sources"]:
        assert Path(source).is_relative_to(site / "mslc_utils" / "profiles"), source
    assert got["own_seed"] == 123
