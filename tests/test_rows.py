"""The report's rows are predictors registered by name (genorm.evaluation.rows): a new row is one
register() call, with no change to evaluate()."""

from __future__ import annotations

import numpy as np
import pytest

from genorm.errors import ConfigError
from genorm.evaluation import rows
from genorm.evaluation.evaluate import evaluate
from genorm.genome.array import Genome
from steppers import P_CONST, ConstantStepper


def _always_a(ev):
    for r, s, e in ev.intervals:
        probs = np.tile([0.97, 0.01, 0.01, 0.01], (e - s, 1))
        yield np.full(e - s, r, np.int64), np.arange(s, e, dtype=np.int64), probs


@pytest.fixture
def registered():
    rows.register("always A", lambda ev: "always A", _always_a, before="uniform")
    yield
    rows.unregister("always A")


def test_a_registered_row_appears_in_the_report_with_no_change_to_evaluate(registered):
    report = evaluate(ConstantStepper(), Genome.from_strings({"x": "AAAAC"}), [(0, 0, 5)])
    table = report.summary.set_index("predictor")
    assert list(table.index) == ["model", "always A", "uniform"]
    assert table.loc["always A", "accuracy"] == pytest.approx(0.8)
    assert table.loc["always A", "bits_per_base"] == pytest.approx(-(4 * np.log2(0.97) + np.log2(0.01)) / 5)
    assert table.loc["model", "bits_per_base"] == pytest.approx(-(4 * np.log2(P_CONST[0]) + np.log2(P_CONST[1])) / 5)


def test_a_row_can_stay_out_of_a_report_and_be_removed():
    rows.register("never", lambda ev: None, _always_a)
    try:
        report = evaluate(ConstantStepper(), Genome.from_strings({"x": "ACGT"}), [(0, 0, 4)])
        assert "never" not in set(report.summary["predictor"])
    finally:
        rows.unregister("never")
    assert "never" not in rows.ROWS


def test_register_before_an_unknown_row_is_an_error():
    with pytest.raises(ConfigError, match=r"Received an invalid value for `before`, expected one of model, .*got 'nope'"):
        rows.register("x", lambda ev: "x", _always_a, before="nope")
    assert "x" not in rows.ROWS
