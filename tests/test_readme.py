"""The README is short, its links resolve, and every command in it is valid as written.

Commands that need the network or hours (a run, the tests) are not executed here: each
``./run_all.sh`` line is checked against ``./run_all.sh --help`` (profile, notebook numbers,
environment variables), the other lines against the repository. A command of a kind this test
does not know fails it, so a new README command cannot go unchecked.
"""
from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_WORDS = 1500


def _shell_lines(path: Path) -> list[str]:
    """Command lines of the fenced ``bash``/``sh`` blocks, comments removed."""
    lines = []
    for block in re.findall(r"```(?:bash|sh)\n(.*?)```", path.read_text(), flags=re.S):
        for line in block.splitlines():
            cmd = " ".join(shlex.split(line, comments=True))
            if cmd:
                lines.append(cmd)
    return lines


def _help() -> str:
    return subprocess.run(["bash", str(ROOT / "run_all.sh"), "--help"], check=True, capture_output=True,
                          text=True).stdout


def _help_variables(help_text: str) -> set[str]:
    return set(re.findall(r"^  ([A-Z][A-Z0-9_]+) ", help_text, flags=re.M))


def _check_run_all(words: list[str], variables: set[str], where: str) -> None:
    """``VAR=value ... ./run_all.sh [profile] [NN ...]`` is valid per ``--help``."""
    while "=" in words[0]:
        name = words.pop(0).split("=", 1)[0]
        assert name in variables, f"{where}: {name} is not an environment variable of ./run_all.sh --help"
    assert words[0] == "./run_all.sh", where
    args = words[1:]
    if not args or args == ["--help"]:
        return
    profile, *notebooks = args
    assert profile in ("quick", "paper") or profile.endswith((".yaml", ".yml")), f"{where}: profile {profile!r}"
    for nn in notebooks:
        assert re.fullmatch(r"\d\d", nn) and list((ROOT / "notebooks").glob(f"{nn}_*.ipynb")), \
            f"{where}: no notebook {nn}"


def test_readme_is_short() -> None:
    words = len(README.read_text().split())
    assert words <= MAX_WORDS, f"README.md has {words} words (at most {MAX_WORDS}; details go to docs/)"


def test_readme_starts_with_the_quickstart_and_the_two_commands() -> None:
    text = README.read_text()
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    assert headings[0] == "Quickstart"
    quick = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert "./run_all.sh" in quick and "./scripts/test.sh" in quick and "jupyter lab" in quick
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(images) == 1 and (ROOT / images[0]).is_file(), images


def test_readme_and_docs_links_resolve() -> None:
    for doc in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if "://" in target:
                continue
            assert (doc.parent / target).exists(), f"{doc.relative_to(ROOT)}: broken link {target}"


def test_no_development_history_wording() -> None:
    for doc in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text()
        for pattern in (r"\bissue \d+", r"earlier session", r"this revision", r"huggingface-cli"):
            assert not re.search(pattern, text, flags=re.I), f"{doc.relative_to(ROOT)}: {pattern!r}"


def test_every_readme_command_is_valid() -> None:
    help_text = _help()
    variables = _help_variables(help_text)
    assert {"DATA_DIR", "DEVICE", "MSLC_SIMULATE"} <= variables
    lines = _shell_lines(README)
    assert "./run_all.sh" in lines and "./scripts/test.sh" in lines
    for line in lines:
        words = shlex.split(line)
        where = f"README.md: {line!r}"
        if "./run_all.sh" in words:
            _check_run_all(words, variables, where)
        elif words == ["./scripts/test.sh"]:
            assert (ROOT / "scripts" / "test.sh").stat().st_mode & 0o111
        elif words == ["source", ".venv/bin/activate"]:
            assert ".venv" in (ROOT / "scripts" / "ensure_env.sh").read_text()
        elif words[:2] == ["jupyter", "lab"]:
            (path,) = words[2:]
            made_by_run_all = path.rstrip("/") in ("executed/quick", "executed/paper")
            assert (ROOT / path).is_dir() or made_by_run_all, where
            assert "executed/$NAME" in (ROOT / "run_all.sh").read_text()
        elif words[0] == "mslc":
            _check_mslc(words[1:], where)
        else:
            pytest.fail(f"{where}: a command this test does not know how to check")


def _check_mslc(argv: list[str], where: str) -> None:
    """An `mslc` line must parse with the command's own parser, and name inputs that exist."""
    from mslc_utils.cli import _parser

    try:
        args = _parser().parse_args(argv)
    except SystemExit as err:  # argparse reports a bad line by exiting
        pytest.fail(f"{where}: rejected by mslc's parser ({err})")
    if argv[0] == "classify":
        for path in args.paths:
            assert (ROOT / path).exists(), f"{where}: {path} does not exist"
    if argv[0] == "export":
        assert args.run_dir.startswith("artifacts/"), where  # made by ./run_all.sh


def test_run_all_lines_in_docs_are_valid() -> None:
    variables = _help_variables(_help())
    for doc in sorted((ROOT / "docs").glob("*.md")):
        for line in _shell_lines(doc):
            words = shlex.split(line)
            if "./run_all.sh" in words:
                _check_run_all(words, variables, f"{doc.relative_to(ROOT)}: {line!r}")
