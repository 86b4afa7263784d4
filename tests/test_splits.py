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
