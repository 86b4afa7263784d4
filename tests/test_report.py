"""Display helpers of the notebooks (mslc_utils.report)."""
from __future__ import annotations

import pandas as pd

from mslc_utils import report
from mslc_utils.config import repo_root, setup


def test_relpath_never_shows_the_machine_path(tmp_path) -> None:
    assert report.relpath(repo_root() / "figures" / "quick") == "figures/quick"
    assert report.relpath(tmp_path / "x.png") == "<outside the repository>/x.png"
    ctx = setup("quick", OUT_DIR=str(tmp_path / "run"))
    text = report.describe(ctx)
    assert str(tmp_path) not in text and "artifacts: <outside the repository>/run" in text


def test_fold_table_percent_and_no_run_columns() -> None:
    scores = pd.DataFrame({"model_id": ["m", "m"], "fold": [0, 1], "val_macro_f1": [0.31234, 0.2],
                           "test_macro_f1": [0.25, 0.26666], "best_epoch": [3, 5], "skipped": [True, False],
                           "wall_seconds": [0.001, 7.0], "train_seconds": [40.0, 7.0],
                           "resumed_from": [None, None], "train_macro_f1": [0.5, 0.6]})
    t = report.fold_table(scores)
    assert list(t.columns) == ["val macro-F1 [%]", "test macro-F1 [%]", "train macro-F1 [%]", "best epoch"]
    assert t.loc[0, "val macro-F1 [%]"] == 31.2 and t.loc[1, "test macro-F1 [%]"] == 26.7
    assert report.fold_status(scores) == ("2 folds: 1 trained in this run, 1 loaded from an earlier complete run "
                                          "with the same configuration.")


def test_best_epoch_note_and_logged(tmp_path, capsys) -> None:
    h = pd.DataFrame({"fold": [0, 0], "epoch": [1, 2], "val_macro_f1": [0.1, 0.2]})
    assert report.best_epoch_note("m", h, [0]).startswith("NOTE m: the best validation macro-F1 is at the last epoch")
    assert "room" in report.best_epoch_note("m", h, [])

    def noisy(x):
        print("m fold 0: epoch 1: 7 s")
        print("m fold 1: val macro-F1 0.3 [skipped (complete)]")
        return x + 1

    assert report.logged(tmp_path / "log.txt", noisy, 1) == 2
    assert (tmp_path / "log.txt").read_text().startswith("m fold 0: epoch 1: 7 s\n")
    assert capsys.readouterr().out == ("progress log: <outside the repository>/log.txt\n"
                                       "m fold 1: val macro-F1 0.3 [skipped (complete)]\n")  # events only


def test_notes_from_warnings_and_logged_progress_bars(capsys, tmp_path) -> None:
    import warnings

    with report.notes_from_warnings():
        warnings.warn("no object of class 'SLSN': showing class 'SNII' instead", stacklevel=1)
    assert capsys.readouterr().out == "Note: no object of class 'SLSN': showing class 'SNII' instead\n"
    import sys

    def bar():
        print("ingest: 50%", file=sys.stderr)

    report.logged(tmp_path / "bar.log", bar)
    assert (tmp_path / "bar.log").read_text() == "ingest: 50%\n" and capsys.readouterr().err == ""


def test_classify_summary_counts_masked_refused_and_agreement():
    from mslc_utils.report import classify_summary

    ms = pd.DataFrame({"object_id": ["x", "y", "z"], "status": ["classified"] * 3,
                       "top_class": ["SNIa", "QSO", "AGN"], "top_probability": [0.3, 0.2, 0.5],
                       "note": ["", "ATLAS missing: MS-SwinV2 masked path (blank ATLAS image)", None]})
    ztf = pd.DataFrame({"object_id": ["x", "y", "z"], "status": ["classified", "classified", "not classified"],
                        "top_class": ["SNIa", "AGN", None], "top_probability": [0.3, 0.2, None],
                        "note": ["", "", "not classified: needs ZTF"]})
    text = classify_summary({"MS": ms, "ZTF": ztf})
    lines = text.splitlines()
    assert lines[0].startswith("- **MS**: 3 of 3 objects classified, 1 of them through the masked path")
    assert "0.20–0.50" in lines[0]
    assert lines[1].startswith("- **ZTF**: 2 of 3 objects classified; not classified: `z` (needs ZTF)")
    assert lines[2] == "- The models agree on the top class of 1 of the 2 objects all of them classified."
