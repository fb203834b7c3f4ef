"""What training tells the user: the cost estimate (fake clock) and one line per epoch."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from genorm.model import ModelConfig, build_model
from genorm.training.backup import TrainingState
from genorm.training.callbacks import CostEstimate, EpochLog, NanGuard, cost_message


@pytest.mark.parametrize("rate, bases, seconds, max_time, expected", [
    (26_000, 60_000_000, None, None,
     "about 38 min for 60 M bases at 26 k bases/s on this machine; use --max-time to bound it"),
    (26_000, 60_000_000, 300, "5m",
     "about 38 min for 60 M bases at 26 k bases/s on this machine; --max-time 5m stops it after about 7.8 M bases"),
    (136_000, 60_000_000, 3600, "1h", "about 7 min for 60 M bases at 136 k bases/s on this machine, within --max-time 1h"),
    (500, 40_000, None, None, "about 80 s for 40 k bases at 500 bases/s on this machine; use --max-time to bound it"),
    (1_000, 36_000_000, None, None, "about 10.0 h for 36 M bases at 1 k bases/s on this machine; use --max-time to bound it"),
])
def test_cost_message(rate, bases, seconds, max_time, expected):
    assert cost_message(rate, bases, seconds, max_time) == expected


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_cost_estimate_measures_after_the_warm_up_batches(caplog):
    clock = FakeClock()
    state = TrainingState(bases_done=1_000_000)  # a resumed run: only what is left counts
    cb = CostEstimate(state, bases_per_batch=1000, budget_bases=61_000_000, clock=clock, skip=2, measure_batches=10)
    with caplog.at_level(logging.INFO, logger="genorm.progress"):
        for batch in range(20):
            clock.now += 30.0 if batch < 2 else 0.04  # the first batches trace the graph: slow, not timed
            cb.on_train_batch_end(batch)
    assert cb.rate == pytest.approx(25_000)
    lines = [r.getMessage() for r in caplog.records if r.name == "genorm.progress"]
    assert lines == ["training: about 40 min for 60 M bases at 25 k bases/s on this machine; "
                     "use --max-time to bound it"]


def test_cost_estimate_reports_after_measure_seconds_on_a_slow_machine(caplog):
    clock = FakeClock()
    cb = CostEstimate(TrainingState(), 1000, 10_000_000, max_seconds=600, max_time="10m", clock=clock, skip=1,
                      measure_batches=1000, measure_seconds=20)
    with caplog.at_level(logging.INFO, logger="genorm.progress"):
        for batch in range(30):
            clock.now += 5.0
            cb.on_train_batch_end(batch)
    assert cb.rate == pytest.approx(200)
    assert [r.getMessage() for r in caplog.records] == [
        "training: about 13.9 h for 10 M bases at 200 bases/s on this machine; --max-time 10m stops it after about "
        "120 k bases"]


def test_epoch_log_is_one_line_per_epoch(caplog):
    state = TrainingState(history=[{"epoch": 1, "steps": 10, "bases": 20_000, "bits": 1.99, "accuracy": 0.3,
                                    "val_bits": 1.98, "val_accuracy": 0.31, "seconds": 2.0}])
    with caplog.at_level(logging.INFO, logger="genorm.progress"):
        EpochLog(state, epochs=5, bases_per_batch=2000).on_epoch_end(0)
    assert [r.getMessage() for r in caplog.records] == [
        "epoch 1/5: bits 1.9900, accuracy 0.3000, val_bits 1.9800, val_accuracy 0.3100; 20 k bases trained; 2 s "
        "(10 k bases/s)"]


def test_cost_estimate_of_a_short_first_epoch_is_reported_at_its_end(caplog):
    clock = FakeClock()
    cb = CostEstimate(TrainingState(), 100, 10_000, clock=clock, skip=1)
    with caplog.at_level(logging.INFO, logger="genorm.progress"):
        for batch in range(4):
            clock.now += 1.0
            cb.on_train_batch_end(batch)
        clock.now += 50.0  # validation: not counted
        cb.state.bases_done += 400  # Backup, installed before, has counted the epoch
        cb.on_epoch_end(0)
        cb.on_epoch_end(1)
    assert cb.rate == pytest.approx(100)
    assert [r.getMessage() for r in caplog.records] == [
        "training: about 2 min for 10 k bases at 100 bases/s on this machine; use --max-time to bound it"]


def test_nan_guard_restores_last_good_weights():
    model = build_model(ModelConfig(units=4, layers=1))
    state = TrainingState()
    guard = NanGuard(state)
    guard.set_model(model)
    guard.on_epoch_begin(0)
    good = model.get_weights()
    model.set_weights([w + 1.0 for w in good])
    guard.on_train_batch_end(0, {"loss": float("nan")})
    assert state.stopped == "nan" and model.stop_training
    for a, b in zip(model.get_weights(), good):
        np.testing.assert_array_equal(a, b)


def test_ctrl_c_is_recorded_and_raised_at_the_next_batch_boundary():
    import signal

    from genorm.training.callbacks import StopOnInterrupt, interrupt_between_batches

    # Python's own Ctrl-C handler, as in a terminal (a shell starts background jobs with SIGINT ignored)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with interrupt_between_batches() as flag:
            signal.raise_signal(signal.SIGINT)  # recorded, not raised here (e.g. inside a gc callback)
            assert flag["interrupted"]
            stop = StopOnInterrupt(flag)
            with pytest.raises(KeyboardInterrupt):
                stop.on_train_batch_end(0)
            with pytest.raises(KeyboardInterrupt):  # a second Ctrl-C raises at once
                signal.raise_signal(signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)
