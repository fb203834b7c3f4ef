"""Tests of genorm.memory: the up-front memory estimates."""

from __future__ import annotations

import pytest

from genorm.config import ModelConfig
from genorm.errors import ConfigError
from genorm import memory


@pytest.mark.parametrize("cell", ["simple_rnn", "gru", "lstm"])
@pytest.mark.parametrize("layers", [1, 2])
def test_model_parameters_bounds_what_build_model_makes(cell, layers):
    from genorm.model import build_model

    config = ModelConfig(cell=cell, units=6, layers=layers)
    actual = build_model(config).count_params()
    assert actual <= memory.model_parameters(config) <= 1.25 * actual  # a rough upper bound, by design


def test_training_bytes_grows_with_every_size():
    model = ModelConfig(cell="gru", units=16, layers=1)
    base = memory.training_bytes(model, batch_size=8, window=20)
    assert base > 0
    assert memory.training_bytes(model, 16, 20) > base and memory.training_bytes(model, 8, 40) > base
    assert memory.training_bytes(ModelConfig(cell="gru", units=32, layers=2), 8, 20) > base


def test_check_training_refuses_an_absurd_model(monkeypatch):
    monkeypatch.setattr(memory, "physical_memory", lambda: 8 * 10**9)
    memory.check_training(ModelConfig(cell="gru", units=16, layers=1), 8, 20)  # fits
    with pytest.raises(ConfigError, match=r"Training a gru of 1 layer\(s\) x 100,000 units on batches of 128 windows "
                                          r"x 200 bases needs about .* GB of memory, but this machine has 8 GB; "
                                          r"reduce --units"):
        memory.check_training(ModelConfig(cell="gru", units=100_000, layers=1), 128, 200)
    monkeypatch.setattr(memory, "physical_memory", lambda: None)  # unknown: no check
    memory.check_memory(10**30, "a test", "use less")
