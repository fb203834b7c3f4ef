"""Streaming inference (genorm.stepper): chunks equal one pass, initial logits, errors, the self-check."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from genorm.errors import ConfigError
from genorm.model import CELLS, ModelConfig, build_model
from genorm.stepper import PROBE, check_model, make_stepper


@pytest.mark.parametrize("cell", CELLS)
def test_stepper_chunks_equal_one_pass(cell):
    keras.utils.set_random_seed(1)
    model = build_model(ModelConfig(cell=cell, units=12, layers=2))
    codes = np.random.default_rng(0).integers(0, 5, (3, 57)).astype(np.int32)
    full = model.predict_on_batch(codes)
    stepper = make_stepper(model)
    state = stepper.initial_state(3)
    assert len(state) == (4 if cell == "lstm" else 2) and state[0].shape == (3, 12)
    parts = []
    for a, b in [(0, 1), (1, 20), (20, 21), (21, 57)]:
        logits, state = stepper.step(codes[:, a:b], state)
        assert logits.dtype == np.float32
        parts.append(logits)
    np.testing.assert_allclose(np.concatenate(parts, axis=1), full, atol=1e-5)


def test_initial_logits_is_dense_at_zero_state():
    model = build_model(ModelConfig(units=8, layers=1))
    w, b = model.get_layer("logits").get_weights()
    bias = np.array([0.1, -0.2, 0.3, 0.0], np.float32)
    model.get_layer("logits").set_weights([w, bias])
    np.testing.assert_array_equal(make_stepper(model).initial_logits(), bias)


def test_stepper_errors():
    stepper = make_stepper(build_model(ModelConfig(units=8, layers=1)))
    with pytest.raises(ConfigError, match="expected shape"):
        stepper.step(np.zeros(5, np.int32), stepper.initial_state(1))
    with pytest.raises(ConfigError, match="initial_state"):
        stepper.step(np.zeros((2, 5), np.int32), stepper.initial_state(1))


def test_check_model_accepts_build_model_and_names_the_config_difference():
    model = build_model(ModelConfig(cell="gru", units=8, layers=1))
    check_model(model, ModelConfig(cell="gru", units=8, layers=1))
    with pytest.raises(ConfigError, match=r"does not match the configuration: its weights have the shapes .*, where a "
                                          r"lstm 1x8 network of genorm.model.build_network\(\) has .*The model file "
                                          r"does not belong"):
        check_model(model, ModelConfig(cell="lstm", units=8, layers=1))


def test_lstm_stepper_carries_two_states_per_layer():
    stepper = make_stepper(build_model(ModelConfig(cell="lstm", units=6, layers=1)))
    assert [s.shape for s in stepper.initial_state(2)] == [(2, 6), (2, 6)]
    logits, state = stepper.step(PROBE, stepper.initial_state(1))
    assert logits.shape == (*PROBE.shape, 4) and len(state) == 2
