"""Tests of genorm.metrics: softmax, ties split in top-1/top-2 credit, the accumulator's sums."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genorm.errors import ConfigError
from genorm.metrics import FIELDS, LN2, Accumulator, credits, log_softmax, softmax


def test_softmax_golden_stable_and_tempered():
    np.testing.assert_allclose(softmax(np.log([1.0, 1.0, 2.0, 4.0])), [0.125, 0.125, 0.25, 0.5])
    big = softmax(np.array([[1000.0, 1000.0, 0.0, -1000.0]]))
    assert np.isfinite(big).all() and big[0, :2].tolist() == [0.5, 0.5]
    cold = softmax(np.array([1.0, 2.0, 3.0, 2.5]), temperature=1e-30)  # no inf - inf
    assert cold.tolist() == [0.0, 0.0, 1.0, 0.0]
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(np.exp(log_softmax(x)), softmax(x), rtol=1e-12)
    assert softmax(x).dtype == np.float64 and LN2 == pytest.approx(math.log(2))


@pytest.mark.parametrize("probs, target, top1, top2", [
    ([0.25, 0.25, 0.25, 0.25], 0, 0.25, 0.5),   # a four-way tie
    ([0.7, 0.1, 0.1, 0.1], 0, 1.0, 1.0),
    ([0.1, 0.7, 0.1, 0.1], 0, 0.0, 1 / 3),       # second place shared by three
    ([0.4, 0.4, 0.1, 0.1], 1, 0.5, 1.0),
    ([0.1, 0.2, 0.3, 0.4], 0, 0.0, 0.0),
])
def test_credits_split_ties(probs, target, top1, top2):
    bits, p_true, t1, t2, pred = credits(np.array([probs]), np.array([target]))
    assert t1[0] == pytest.approx(top1) and t2[0] == pytest.approx(top2)
    assert bits[0] == pytest.approx(-math.log2(probs[target])) and p_true[0] == probs[target]
    assert pred.sum() == pytest.approx(1.0)


def test_accumulator_groups_sum_to_the_total_and_drop_n():
    acc = Accumulator(2, np.array([[0, 10], [0, 4]]), bins_per_record=2, min_bin=1)
    probs = np.full((5, 4), 0.25)
    acc.add(np.array([0, 0, 1, 1, 0]), np.array([0, 9, 1, 2, 5]), np.array([0, 3, 4, 2, 1]),
            np.array([False, True, False, True, False]), probs)
    total = acc.cells.sum(axis=(0, 1, 2))
    assert total[FIELDS.index("bases")] == 4 and total[FIELDS.index("bits")] == pytest.approx(8.0)
    assert acc.cells[1].sum(axis=(0, 1))[0] == 1  # record 1's N target is not counted
    assert acc.profile_bases.tolist() == [[1.0, 2.0], [0.0, 1.0]]
    assert acc.bin_edges(0).tolist() == [0, 5, 10]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_predictions_are_refused_not_summed(bad):
    """Issue 23: a NaN or infinite prediction would make every total NaN: an error instead of a NaN metric."""
    acc = Accumulator(1, np.array([[0, 4]]))
    probs = np.full((4, 4), 0.25)
    probs[2, 1] = bad
    with pytest.raises(ConfigError, match=r"^The predictions of some bases are NaN or infinite, so no metric can be "
                                          r"reported: the model's weights are damaged \(train again\), or adaptive "
                                          r"evaluation diverged \(use a smaller --adapt-lr\)\.$"):
        acc.add(0, np.arange(4), np.array([0, 1, 2, 3]), np.zeros(4, bool), probs)
    assert acc.cells.sum() == 0
