"""Splits: disjoint, stratified, cover every object once, shared by both surveys, reproducible."""
from __future__ import annotations

import numpy as np
import pytest

from mslc_utils.splits import TEST_FOLD, fold_partition, make_splits, n_folds_of
from mslc_utils.taxonomy import CLASSES

from conftest import objects_with_counts

COUNTS = {c: (12 if i % 3 else 60) for i, c in enumerate(CLASSES)}


@pytest.fixture
def objects():
    return objects_with_counts(COUNTS)


def test_every_object_once_and_partitions_disjoint(objects) -> None:
    s = make_splits(objects, seed=3)
    assert list(s["object_id"]) == list(objects["object_id"])  # one row per object, same order
    assert n_folds_of(s) == 5
    for k in range(5):
        p = fold_partition(s, k)
        sets = [set(p.train), set(p.val), set(p.test)]
        assert sum(map(len, sets)) == len(objects)
        assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    # each trainval object validates exactly once
    assert (s.loc[s.fold != TEST_FOLD, "fold"].between(0, 4)).all()


def test_stratified(objects) -> None:
    s = make_splits(objects, seed=3)
    test_frac = s[s.split == "test"].groupby("label").size() / s.groupby("label").size()
    assert np.allclose(test_frac, 0.2, atol=0.1)
    big = s[s.label == CLASSES[0]]  # 60 objects: 48 trainval -> folds of 9 or 10
    sizes = big[big.fold != TEST_FOLD].groupby("fold").size()
    assert sizes.min() >= 9 and sizes.max() <= 10
    small = s[s.label == CLASSES[1]]  # 12 objects: every fold and the test set get some
    assert set(small.fold) == {-1, 0, 1, 2, 3, 4}


def test_reproducible_and_seed_dependent(objects) -> None:
    a = make_splits(objects, seed=3)
    b = make_splits(objects.sample(frac=1.0, random_state=0), seed=3)
    # same assignment whatever the row order of the object table
    assert a.set_index("object_id")["fold"].equals(b.set_index("object_id")["fold"].loc[a.object_id])
    c = make_splits(objects, seed=4)
    assert not a["fold"].equals(c["fold"])


def test_too_small_class_is_an_error() -> None:
    objects = objects_with_counts({**COUNTS, "TDE": 3})
    with pytest.raises(ValueError, match="TDE"):
        make_splits(objects)


def test_heldout_splits_drop_test_and_hold_out_a_stratified_fraction(objects) -> None:
    from mslc_utils.splits import heldout_splits

    s = make_splits(objects, seed=3)
    test_ids = set(s.loc[s.fold == TEST_FOLD, "object_id"])
    h = heldout_splits(s, fraction=0.2, seed=1)
    assert not (set(h["object_id"]) & test_ids)  # no test object reaches any fold
    assert set(h["object_id"]) == set(s["object_id"]) - test_ids
    held = h[h.fold == TEST_FOLD]
    assert len(held) == pytest.approx(0.2 * len(h), abs=1)
    assert (held["split"] == "test").all() and (h.loc[h.fold != TEST_FOLD, "split"] == "trainval").all()
    # stratified: every class is held out in proportion (within one object)
    per_class = held["label"].value_counts()
    for label, n in h["label"].value_counts().items():
        assert abs(per_class.get(label, 0) - 0.2 * n) <= 1, label
    # the rest keep their folds; fold_partition then tests on the held-out objects
    kept = h[h.fold != TEST_FOLD].merge(s, on="object_id", suffixes=("", "_orig"))
    assert (kept["fold"] == kept["fold_orig"]).all()
    p = fold_partition(h, 0)
    assert set(p.test) == set(held["object_id"]) and not (set(p.train) & set(p.test))
    assert heldout_splits(s, fraction=0.2, seed=1).equals(h)  # reproducible


def test_heldout_splits_rejects_a_bad_fraction(objects) -> None:
    from mslc_utils.splits import heldout_splits

    with pytest.raises(ValueError, match="fraction must be in"):
        heldout_splits(make_splits(objects, seed=3), fraction=1.0)
