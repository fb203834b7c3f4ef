"""The model: configuration errors, one-hot inside, cuDNN-compatible layers, save and load
(streaming inference: tests/test_stepper.py)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from genorm.errors import ConfigError
from genorm.model import CELLS, ModelConfig, OneHotBases, build_model, build_network, infer_config


@pytest.mark.parametrize("kwargs, message", [
    ({"units": -3}, "Received an invalid value for `units`, expected a positive integer, got -3."),
    ({"units": 0}, "`units`, expected a positive integer, got 0"),
    ({"units": 2.5}, "`units`, expected a positive integer, got 2.5"),
    ({"layers": 0}, "`layers`, expected a positive integer, got 0"),
    ({"cell": "transformer"}, "`cell`, expected one of simple_rnn, gru, lstm, got 'transformer'"),
    ({"dropout": 1.0}, r"`dropout`, expected a number in \[0, 1\), got 1.0"),
])
def test_invalid_model_config(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**kwargs)


def test_config_round_trip_and_unknown_key():
    cfg = ModelConfig(cell="lstm", units=8, layers=3, dropout=0.25)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="Unknown model option"):
        ModelConfig.from_dict({"unit": 8})


def test_one_hot_inside_n_is_zero():
    out = np.asarray(OneHotBases()(np.array([[0, 1, 2, 3, 4]], dtype=np.int32)))
    np.testing.assert_array_equal(out[0], np.vstack([np.eye(4), np.zeros(4)]))


@pytest.mark.parametrize("cell", CELLS)
def test_shapes_and_layers(cell):
    model = build_model(ModelConfig(cell=cell, units=8, layers=2, dropout=0.1))
    assert model.predict_on_batch(np.zeros((3, 7), np.int32)).shape == (3, 7, 4)
    rnn = model.get_layer("rnn_1")
    assert rnn.return_sequences and rnn.units == 8
    if cell != "simple_rnn":  # the cuDNN configuration
        assert rnn.activation.__name__ == "tanh" and rnn.recurrent_activation.__name__ == "sigmoid"
        assert rnn.recurrent_dropout == 0 and rnn.dropout == 0
    if cell == "gru":
        assert rnn.reset_after
    assert [layer.name for layer in model.layers][-1] == "logits"


def test_output_at_t_depends_only_on_inputs_up_to_t():
    model = build_model(ModelConfig(units=8, layers=2))
    x = np.random.default_rng(0).integers(0, 5, (1, 20)).astype(np.int32)
    y = x.copy()
    y[0, 10:] = (y[0, 10:] + 1) % 5
    a, b = model.predict_on_batch(x), model.predict_on_batch(y)
    np.testing.assert_array_equal(a[0, :10], b[0, :10])
    assert not np.allclose(a[0, 10:], b[0, 10:])


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_save_load_safe_mode_identical(tmp_path, cell):
    model = build_model(ModelConfig(cell=cell, units=8, layers=2))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    codes = np.random.default_rng(2).integers(0, 5, (2, 30)).astype(np.int32)
    np.testing.assert_array_equal(loaded.predict_on_batch(codes), model.predict_on_batch(codes))


def test_the_stateful_network_has_the_same_layers_and_weights_in_the_same_order():
    for cell in CELLS:
        config = ModelConfig(cell=cell, units=4, layers=2, dropout=0.1)
        plain, stateful = build_network(config), build_network(config, state=True)
        assert [(x.name, type(x).__name__) for x in plain.layers if not isinstance(x, keras.layers.InputLayer)] == \
            [(x.name, type(x).__name__) for x in stateful.layers if not isinstance(x, keras.layers.InputLayer)]
        assert [tuple(w.shape) for w in plain.weights] == [tuple(w.shape) for w in stateful.weights]
        assert infer_config(plain) == config
