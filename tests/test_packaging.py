"""The pins of pyproject.toml and environment.yml agree, and every pin is exact."""
from __future__ import annotations

import re
import tomllib
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


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./scripts/test.sh" in readme
    assert "./scripts/test.sh" in ci
