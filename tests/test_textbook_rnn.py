"""The NumPy textbook RNN: the worked "hello" example, BPTT against finite differences, and
equivalence with genorm's Keras ``simple_rnn`` model."""

from __future__ import annotations

import numpy as np
import pytest

from genorm.errors import ConfigError
from genorm.textbook_rnn import (
    EXAMPLE_H_E,
    EXAMPLE_VOCAB,
    EXAMPLE_W_HY,
    PARAM_NAMES,
    RNNParams,
    backward,
    encode_text,
    explain,
    forward,
    numerical_gradient,
    one_hot,
    relative_error,
    softmax,
    train_on_text,
)


def test_worked_example_input_projection():
    params = RNNParams.example()
    fwd = forward(params, encode_text("hell", EXAMPLE_VOCAB))
    np.testing.assert_allclose(fwd.input_part[0], [0.287027, 0.902874, 0.537524], atol=1e-6)


def test_worked_example_output_and_wrong_prediction():
    # The example publishes W_hy's first column to 5 decimals and h_t to 6, so its y_t (8 decimals)
    # came from unrounded values: rounding alone allows |dy| <= 5e-6 * 0.94 + 5e-7 * 1.7 < 6e-6.
    # The exact products (W_xh x_h above, softmax below) are checked to 1e-6 / exactly.
    y = EXAMPLE_W_HY @ EXAMPLE_H_E
    np.testing.assert_allclose(y, [1.90607732, 1.13779113, 0.95666016, 1.27422602], atol=6e-6)
    np.testing.assert_allclose(y, [1.906075, 1.137792, 0.956664, 1.274228], atol=1e-6)
    assert EXAMPLE_VOCAB[int(softmax(y).argmax())] == "h"  # the untrained network is wrong


def test_forward_first_step_is_tanh_of_input_projection_plus_bias():
    params = RNNParams.example()
    fwd = forward(params, encode_text("h", EXAMPLE_VOCAB))
    np.testing.assert_allclose(fwd.hidden[1], np.tanh(np.array([0.287027, 0.902874, 0.537524]) + 0.567001),
                               atol=1e-12)
    np.testing.assert_allclose(fwd.probs.sum(axis=-1), 1.0, atol=1e-12)


def test_worked_example_forward_pass_is_the_lecture_number_for_number():
    params = RNNParams.example()
    np.testing.assert_array_equal(params.W_hh, 0.427043 * np.eye(3))
    np.testing.assert_array_equal(params.b_h, [0.567001] * 3)
    fwd = forward(params, encode_text("hell", EXAMPLE_VOCAB))
    np.testing.assert_allclose(fwd.hidden[1], [0.693168, 0.899554, 0.802119], atol=1e-5)
    np.testing.assert_allclose(fwd.hidden[2], [0.936534, 0.949104, 0.762341], atol=1e-5)
    np.testing.assert_allclose(fwd.hidden[2], EXAMPLE_H_E, atol=1e-5)
    np.testing.assert_allclose(fwd.logits[1], [1.906075, 1.137792, 0.956664, 1.274228], atol=1e-5)
    assert EXAMPLE_VOCAB[int(fwd.probs[1].argmax())] == "h"  # as the example says


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bptt_matches_finite_differences(seed):
    params = RNNParams.initialize(vocab_size=4, hidden_size=5, seed=seed, scale=1.0)
    params.b_h[:] = np.random.default_rng(seed).normal(size=5) * 0.1
    xs = one_hot([0, 1, 2, 2, 4, 3], 4)  # includes an N (all-zero input)
    targets = [1, 2, 2, 3, 0, 1]
    analytic = backward(params, forward(params, xs, targets))
    numeric = numerical_gradient(params.copy(), xs, targets)
    assert relative_error(analytic, numeric) < 1e-6


def test_training_on_hello_predicts_o():
    trained = train_on_text("hello", hidden_size=3, steps=300, learning_rate=0.1, seed=0)
    assert trained.losses[-1] < trained.losses[0] / 10
    assert trained.predict_next("hell") == "o"
    assert [trained.predict_next(p) for p in ("h", "he", "hel")] == ["e", "l", "l"]


def test_errors_are_clear():
    with pytest.raises(ConfigError, match="not in the vocabulary"):
        encode_text("hex", "helo")
    with pytest.raises(ConfigError, match="expected shape"):
        forward(RNNParams.initialize(4, 3), np.zeros((2, 5)))
    with pytest.raises(ConfigError, match="with targets"):
        backward(RNNParams.initialize(4, 3), forward(RNNParams.initialize(4, 3), np.zeros((2, 4))))


# ------------------------------------------------------------------------------------------
# Equivalence with the Keras model


@pytest.fixture(scope="module")
def keras_simple_rnn():
    from genorm.model import ModelConfig, build_model

    return build_model(ModelConfig(cell="simple_rnn", units=6, layers=1))


def _case(seed: int):
    params = RNNParams.initialize(vocab_size=4, hidden_size=6, seed=seed, scale=0.8)
    rng = np.random.default_rng(seed)
    params.b_h[:] = rng.normal(size=6) * 0.1
    params.b_y[:] = rng.normal(size=4) * 0.1
    codes = rng.integers(0, 5, size=30)  # A C G T and N
    targets = rng.integers(0, 4, size=30)
    return params, codes, targets


@pytest.mark.parametrize("seed", [0, 1])
def test_keras_simple_rnn_outputs_equal_reference(keras_simple_rnn, seed):
    params, codes, _ = _case(seed)
    keras_simple_rnn.set_weights(params.to_keras_weights())
    logits = np.asarray(keras_simple_rnn(codes[None].astype(np.int32)))[0]
    np.testing.assert_allclose(logits, forward(params, one_hot(codes, 4)).logits, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
def test_keras_simple_rnn_gradients_equal_bptt(keras_simple_rnn, seed):
    import keras
    import tensorflow as tf

    params, codes, targets = _case(seed)
    keras_simple_rnn.set_weights(params.to_keras_weights())
    with tf.GradientTape() as tape:
        logits = keras_simple_rnn(codes[None].astype(np.int32))
        loss = keras.ops.sum(keras.losses.sparse_categorical_crossentropy(targets[None], logits, from_logits=True))
    grads = tape.gradient(loss, keras_simple_rnn.trainable_weights)
    keras_grads = RNNParams.from_keras_weights([g.numpy() for g in grads])
    fwd = forward(params, one_hot(codes, 4), targets)
    assert float(loss) == pytest.approx(fwd.loss, rel=1e-5)
    ref = backward(params, fwd)
    for name in PARAM_NAMES:
        np.testing.assert_allclose(getattr(keras_grads, name), getattr(ref, name), atol=1e-5, rtol=1e-4)
    assert relative_error(keras_grads, ref) < 1e-5
    # and back: the Keras weights read as reference parameters are the same network
    np.testing.assert_allclose(RNNParams.from_keras_weights(keras_simple_rnn.get_weights()).W_hh, params.W_hh,
                               atol=1e-7)


def test_weighted_bptt_matches_finite_differences():
    params = RNNParams.initialize(vocab_size=4, hidden_size=4, seed=5, scale=1.0)
    xs, targets, weights = one_hot([0, 1, 4, 3], 4), [1, 0, 3, 2], [1.0, 0.0, 1.0, 0.5]
    analytic = backward(params, forward(params, xs, targets, weights=weights))
    assert relative_error(analytic, numerical_gradient(params.copy(), xs, targets, weights=weights)) < 1e-6


def test_explain_example_prints_the_worked_numbers():
    text = "\n".join(explain("hello", example=True))
    assert "W_xh x_t         = (0.287027, 0.902874, 0.537524)" in text
    assert "h_t = tanh(sum)  = (0.693168, 0.899554, 0.802119)" in text
    assert "h_t = tanh(sum)  = (0.936534, 0.949104, 0.762341)" in text
    assert "y_t = W_hy h_t   = (1.906075, 1.137792, 0.956664, 1.274228)" in text
    assert "W_hh = 0.427043·I" in text and "b_h = 0.567001 for every unit" in text
    assert "it prints y_2 = (1.90607732, 1.13779113, 0.95666016, 1.27422602)" in text
    assert explain("hello", example=True, seed=5) == explain("hello", example=True)  # no random part
    assert "most probable 'h' (wrong)" in text
    assert "dE/dW_hh" in text and "one gradient-descent step" in text


def test_explain_dna_and_errors():
    lines = explain("ACGNTA", seed=1)
    assert any("target is N: not scored" in line for line in lines)
    assert explain("ACGNTA", seed=1) == lines  # deterministic for a seed
    with pytest.raises(ConfigError, match="worked example's vocabulary"):
        explain("ACGT", example=True)
    with pytest.raises(ConfigError, match="at least 2 letters"):
        explain("h")
