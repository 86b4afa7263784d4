"""Exploration helpers: Table 1 layout and counts, split summaries, Markdown output."""
from __future__ import annotations

import pandas as pd
import pytest

from mslc_utils.explore import class_counts, pick_examples, split_summary, table1, to_markdown
from mslc_utils.splits import make_splits
from mslc_utils.taxonomy import CLASSES

from conftest import objects_with_counts


def test_table1_layout_and_counts() -> None:
    counts = {c: 12 + i for i, c in enumerate(CLASSES)}
    objects = objects_with_counts(counts)
    t = table1(objects)
    assert list(t.columns) == ["Transient", "Stochastic", "Periodic"]
    assert t.shape == (9, 3)
    assert t.loc[0, "Transient"] == "SNIa (12)"
    assert t.loc[0, "Periodic"] == "LPV (24)"
    assert t.loc[8, "Transient"] == "-"
    cc = class_counts(objects)
    assert cc["n_objects"].sum() == sum(counts.values())
    assert cc.loc["DSCT", "paper_n_objects"] == 1610


def test_split_summary_totals() -> None:
    objects = objects_with_counts({c: 15 for c in CLASSES})
    s = split_summary(make_splits(objects))
    assert s.loc["total"].sum() == 15 * 21
    assert list(s.columns) == ["fold 0", "fold 1", "fold 2", "fold 3", "fold 4", "test"]
    assert (s.drop(index="total").sum(axis=1) == 15).all()


def test_pick_examples_and_markdown() -> None:
    objects = objects_with_counts({c: 12 for c in CLASSES})
    ids = pick_examples(objects, ["Blazar", "SNIa"], seed=1)
    labels = objects.set_index("object_id").loc[ids, "label"].tolist()
    assert labels == ["Blazar", "SNIa"]
    md = to_markdown(pd.DataFrame({"a": [1], "b": ["x"]}), index=False)
    assert md.splitlines() == ["| a | b |", "|---|---|", "| 1 | x |"]


def test_pick_examples_substitutes_absent_classes_within_their_group() -> None:
    objects = objects_with_counts({"SNIa": 3, "SNII": 2, "QSO": 2, "LPV": 4})
    with pytest.warns(UserWarning) as caught:
        ids = pick_examples(objects, ["SNIa", "SLSN", "Blazar"], seed=0)
    assert [str(w.message) for w in caught] == ["no object of class 'SLSN': showing class 'SNII' instead",
                                                "no object of class 'Blazar': showing class 'QSO' instead"]
    labels = objects.set_index("object_id").loc[ids, "label"].tolist()
    assert labels == ["SNIa", "SNII", "QSO"]  # same group first (Transient; Stochastic)
    with pytest.warns(UserWarning, match="no object of class 'AGN', and every class present is shown"):
        ids = pick_examples(objects.query("label != 'LPV'"), ["SNIa", "SNII", "QSO", "AGN"], seed=0)
    assert len(ids) == 3
    with pytest.raises(ValueError, match="no object of class 'SLSN'"):
        pick_examples(objects, ["SLSN"], substitute=False)
    with pytest.raises(ValueError, match="classes present"):
        pick_examples(objects.iloc[:0], ["SNIa"])
