"""The shell entry points: interpreter choice of a fresh install, run_all.sh's help and guards."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIND_PYTHON = ROOT / "scripts" / "find_python.sh"
BASH = shutil.which("bash") or "/bin/bash"


def _fake(bin_dir: Path, name: str, output: str) -> None:
    """An executable ``name`` in ``bin_dir`` that prints ``output`` (as ``python --version`` does)."""
    path = bin_dir / name
    path.write_text(f'#!/bin/sh\necho "{output}"\n')
    path.chmod(0o755)


def _find_python(bin_dir: Path, **env: str) -> subprocess.CompletedProcess:
    # PATH holds only the fakes: the script must rely on bash builtins alone
    return subprocess.run([BASH, str(FIND_PYTHON)], env={"PATH": str(bin_dir), **env},
                          capture_output=True, text=True)


@pytest.fixture
def fake_bin(tmp_path) -> Path:
    """python3 is 3.10 (too old), python3.11 and python3.13 are available."""
    d = tmp_path / "bin"
    d.mkdir()
    _fake(d, "python3", "Python 3.10.14")
    _fake(d, "python3.10", "Python 3.10.14")
    _fake(d, "python3.11", "Python 3.11.9")
    _fake(d, "python3.13", "Python 3.13.1")
    return d


def test_newest_supported_interpreter_when_python3_is_too_old(fake_bin) -> None:
    r = _find_python(fake_bin)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "python3.13"


def test_python3_is_used_when_its_version_is_supported(fake_bin) -> None:
    _fake(fake_bin, "python3", "Python 3.11.9")
    assert _find_python(fake_bin).stdout.strip() == "python3"


def test_falls_back_to_311(fake_bin) -> None:
    (fake_bin / "python3.13").unlink()
    assert _find_python(fake_bin).stdout.strip() == "python3.11"


def test_only_310_stops_with_a_message_unless_uv_is_there(fake_bin) -> None:
    (fake_bin / "python3.13").unlink()
    (fake_bin / "python3.11").unlink()
    r = _find_python(fake_bin)
    assert r.returncode == 1 and r.stdout == ""
    assert "needs Python 3.11, 3.12 or 3.13" in r.stderr and "python3=3.10" in r.stderr
    assert "MSLC_PYTHON" in r.stderr
    _fake(fake_bin, "uv", "uv 0.9.0")
    r = _find_python(fake_bin)
    assert r.returncode == 0 and r.stdout.strip() == "uv"


def test_mslc_python_is_checked_too(fake_bin) -> None:
    assert _find_python(fake_bin, MSLC_PYTHON=str(fake_bin / "python3.11")).stdout.strip() \
        == str(fake_bin / "python3.11")
    r = _find_python(fake_bin, MSLC_PYTHON=str(fake_bin / "python3.10"))
    assert r.returncode == 1 and "is Python 3.10" in r.stderr


def test_shell_scripts_parse() -> None:
    for script in ("run_all.sh", "scripts/test.sh", "scripts/ensure_env.sh", "scripts/find_python.sh", ".ci/run"):
        subprocess.run([BASH, "-n", str(ROOT / script)], check=True)


def _run_all(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("DATA_DIR", "MSLC_SIMULATE")}
    return subprocess.run([BASH, str(ROOT / "run_all.sh"), *args], env={**base, **env},
                          capture_output=True, text=True, timeout=60)


def test_run_all_help() -> None:
    r = _run_all("--help")
    assert r.returncode == 0
    assert r.stdout.startswith("usage: ./run_all.sh")
    for var in ("DATA_DIR", "OUT_DIR", "EXEC_DIR", "DEVICE", "SEED", "MSLC_SIMULATE", "MSLC_TORCH_INDEX_URL"):
        assert f"\n  {var} " in r.stdout, var


def test_run_all_paper_without_data_stops_before_doing_anything(tmp_path) -> None:
    """No environment set-up, no notebook: the message says what to do instead."""
    r = _run_all("paper", EXEC_DIR=str(tmp_path / "executed"))
    assert r.returncode == 2
    assert "DATA_DIR=/path/to/data ./run_all.sh paper" in r.stderr
    assert "MSLC_SIMULATE=1 ./run_all.sh paper" in r.stderr
    assert not (tmp_path / "executed").exists()
    # the same for a profile file of one's own made from the paper profile
    own = tmp_path / "big.yaml"
    own.write_text((ROOT / "configs" / "paper.yaml").read_text())
    assert _run_all(str(own)).returncode == 2


def test_run_all_rejects_bad_arguments(tmp_path) -> None:
    assert _run_all("nonsense").returncode == 2
    assert "no such profile file" in _run_all(str(tmp_path / "missing.yaml")).stderr
    r = _run_all("quick", DATA_DIR=str(tmp_path / "missing"))
    assert r.returncode == 2 and "no such directory" in r.stderr
