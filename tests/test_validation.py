"""genorm.training.validation: the validation pass of training, the model streamed over the split."""

from __future__ import annotations

import numpy as np
import pytest

from genorm.config import ModelConfig
from genorm.evaluation.evaluate import evaluate
from genorm.genome.array import Genome
from genorm.model import build_model
from genorm.genome.splits import Interval
from genorm.training.validation import VAL_WARMUP, StreamingValidation, plan_validation


def test_streaming_validation_is_the_evaluation_of_the_split():
    rng = np.random.default_rng(0)
    genome = Genome.from_strings({"a": "".join(rng.choice(list("ACGTN"), 9000, p=[.3, .2, .2, .29, .01])),
                                  "b": "".join(rng.choice(list("ACGT"), 3000))})
    config = ModelConfig(units=8, layers=1)
    model = build_model(config)
    intervals = [Interval(0, 1000, 9000), Interval(1, 0, 3000)]
    lanes = plan_validation(intervals, 10**6)
    measured = StreamingValidation(genome, lanes, config, 1.0, lambda m: m.get_weights()).measure(model.get_weights())
    report = evaluate(model, genome, [(0, 1000, 9000), (1, 0, 3000)], warmup=VAL_WARMUP)
    row = report.summary.set_index("predictor").loc["model"]
    assert measured["val_bases"] == row["bases"]
    assert measured["val_bits"] == pytest.approx(row["bits_per_base"], abs=1e-6)
    assert measured["val_accuracy"] == pytest.approx(row["accuracy"], abs=1e-9)


def test_validation_sample_is_spread_over_the_split():
    lanes = plan_validation([Interval(0, 0, 100_000), Interval(1, 0, 100_000)], 30_000)
    assert 30_000 <= sum(lane.end - lane.start for lane in lanes) < 40_000
    assert {lane.record for lane in lanes} == {0, 1}
