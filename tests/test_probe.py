"""mslc_utils.probe: linear probes of a multi-survey model's [ZTF | ATLAS] embedding."""
from __future__ import annotations

import numpy as np
import pytest

from mslc_utils import artifacts as A
from mslc_utils.probe import PROBE_COLUMNS, survey_probe
from mslc_utils.taxonomy import N_CLASSES

D = N_CLASSES  # width of each survey's half (one-hot class signal)
CLASSES = list(range(N_CLASSES))  # macro-F1 is over all 21 classes


def _write_fold(out_dir, k, ztf_signal, atlas_signal, seed, drop_embedding=False):
    """A fake ms_swin_linear fold: the class is written into one or both embedding halves;
    the saved Mix probabilities predict the true class for even-indexed objects only."""
    rng = np.random.default_rng(seed)
    d = A.fold_dir(out_dir, "ms_swin_linear", k, create=True)
    for split, n in (("train", 420), ("val", 210), ("test", 21)):
        ids = np.array([f"O{k}{split}{i:03d}" for i in range(n)])
        y = np.array(CLASSES)[np.arange(n) % len(CLASSES)]
        onehot = np.eye(D)[y]
        emb = np.hstack([rng.normal(size=(n, D)) + 4 * ztf_signal * onehot, rng.normal(size=(n, D)) + 4 * atlas_signal * onehot])
        probs = np.full((n, N_CLASSES), 0.01, dtype=np.float32)
        guess = np.where(np.arange(n) % 2 == 0, y, (y + 1) % len(CLASSES))
        probs[np.arange(n), guess] = 1.0
        order = rng.permutation(n)  # rows of each file in its own order
        A.save_predictions(d, split, ids[order], y[order], probs[order])
        e_order = rng.permutation(n)
        if drop_embedding and split == "val":
            e_order = e_order[1:]
        A.save_embeddings(d, split, ids[e_order], emb[e_order])
    A.write_complete(d, "h")


def test_the_probe_finds_the_survey_that_carries_the_class(tmp_path):
    _write_fold(tmp_path, 0, ztf_signal=0.0, atlas_signal=1.0, seed=1)  # only ATLAS knows the class
    _write_fold(tmp_path, 1, ztf_signal=1.0, atlas_signal=0.0, seed=2)  # only ZTF knows it
    table = survey_probe(tmp_path)
    assert list(table.columns) == list(PROBE_COLUMNS) and list(table.index) == [0, 1]
    f0, f1 = table.loc[0], table.loc[1]
    assert f0.probe_atlas_half > 0.9 and f0.probe_ztf_half < 0.4 and f0.probe_both > 0.9
    assert f1.probe_ztf_half > 0.9 and f1.probe_atlas_half < 0.4 and f1.probe_both > 0.9
    # the saved Mix prediction is scored as saved (right on every second object), matched by id
    expected = A.macro_f1(*_mix_truth_and_guess())
    assert table["mix_head"].tolist() == pytest.approx([expected, expected])


def _mix_truth_and_guess():
    n = 210
    y = np.arange(n) % len(CLASSES)
    return y, np.where(np.arange(n) % 2 == 0, y, (y + 1) % len(CLASSES))


def test_missing_embeddings_and_missing_folds_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no completed fold of ms_swin_linear"):
        survey_probe(tmp_path)
    _write_fold(tmp_path, 0, 1.0, 1.0, seed=3, drop_embedding=True)
    with pytest.raises(ValueError, match=r"fold_0: 1 val objects have predictions but no embedding"):
        survey_probe(tmp_path)


def test_table2_seeds_prints_the_probe_of_a_run_with_a_multi_survey_model(tmp_path, capsys):
    import runpy
    from pathlib import Path

    script = runpy.run_path(str(Path(__file__).resolve().parents[1] / "scripts" / "table2_seeds.py"))
    _write_fold(tmp_path / "s0", 0, ztf_signal=1.0, atlas_signal=1.0, seed=4)
    assert script["main"]([f"seed 0={tmp_path / 's0'}", "--bootstrap", "0"]) == 0
    out = capsys.readouterr().out
    assert "linear probes of the ZTF half" in out
    row = next(line for line in out.splitlines() if line.startswith("| seed 0 | ms_swin_linear |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert float(cells[4]) > 90.0 and float(cells[5]) > 90.0  # both halves carry the class
