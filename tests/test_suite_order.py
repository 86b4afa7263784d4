"""The unit tests' own scheduling (tests/conftest.py): the longest tests are collected first."""
from __future__ import annotations

import subprocess
import sys

from conftest import scheduling_unit

from mslc_utils.config import repo_root


def test_long_tests_are_collected_first_longest_first() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "tests/test_parallel.py", "tests/test_run_all_resume.py", "tests/test_train_folds.py"],
        cwd=repo_root(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    ids = [line for line in r.stdout.splitlines() if "::" in line]
    assert ids[:5] == [
        "tests/test_run_all_resume.py::test_run_all_resumes_after_being_killed_mid_fold[two-fold-workers]",
        "tests/test_run_all_resume.py::test_run_all_resumes_after_being_killed_mid_fold[serial]",
        "tests/test_parallel.py::test_two_workers_train_every_fold_as_a_serial_run",
        "tests/test_train_folds.py::test_torchrun_two_processes_write_the_fold_once_and_predict_every_object_once",
        "tests/test_parallel.py::test_a_failing_fold_names_the_model_fold_and_log",
    ], ids[:6]
    # the unmarked tests follow in pytest's order (file by file)
    rest = [i.split("::")[0] for i in ids[5:]]
    assert rest == sorted(rest, key=["tests/test_parallel.py", "tests/test_run_all_resume.py",
                                     "tests/test_train_folds.py"].index)


def test_the_paper_profile_module_is_one_scheduling_unit_and_other_tests_their_own() -> None:
    a = "tests/test_paper_profile.py::test_every_model_type_trains_one_step_per_fold_and_predicts_every_object[atat_ztf]"
    b = "tests/test_paper_profile.py::test_only_the_listed_sizes_differ_from_the_shipped_paper_profile"
    assert scheduling_unit(a) == scheduling_unit(b) == "tests/test_paper_profile.py"
    c = "tests/test_run_all_resume.py::test_run_all_resumes_after_being_killed_mid_fold[serial]"
    assert scheduling_unit(c) == c
