"""One network, every use: window training, stateful lanes, streaming and the adaptive copy are all
built by genorm.model.build_network and agree on the same weights; lanes continue from copied states."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from genorm.engine import Lane, Sequences, copy_lane, stream
from genorm.model import CELLS, ModelConfig, build_model
from genorm.stepper import make_stepper


def _codes(batch, length, seed=0):
    return np.random.default_rng(seed).integers(0, 5, (batch, length)).astype(np.int32)


@pytest.mark.parametrize("cell", CELLS)
def test_every_use_of_the_network_agrees_on_the_same_weights(cell):
    from genorm.evaluation.adapt import AdaptConfig, AdaptiveStepper
    from genorm.training.stateful import StatefulTrainer

    keras.utils.set_random_seed(3)
    config = ModelConfig(cell=cell, units=6, layers=2)
    model = build_model(config)  # window training, and the saved model
    codes = _codes(2, 30)
    expected = np.asarray(model.predict_on_batch(codes))

    stepper = make_stepper(model)  # streaming inference
    a, state = stepper.step(codes[:, :11], stepper.initial_state(2))
    b, _ = stepper.step(codes[:, 11:], state)
    np.testing.assert_allclose(np.concatenate([a, b], axis=1), expected, atol=1e-5)

    trainer = StatefulTrainer(config, lanes=2, window=15)  # stateful --tbptt lanes
    trainer.set_base_weights(model.get_weights())
    keep = np.array([0.0, 0.0], np.float32)
    first = np.asarray(trainer((codes[:, :15], keep)))
    second = np.asarray(trainer((codes[:, 15:], keep + 1)))
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), expected, atol=1e-5)
    assert [w.shape for w in trainer.base_weights()] == [w.shape for w in model.get_weights()]

    adaptive = AdaptiveStepper(model, AdaptConfig(learning_rate=0.0))  # the adaptive copy, learning nothing
    targets = np.concatenate([codes[:, 1:], np.full((2, 1), 4, np.int32)], axis=1)
    logits, _ = adaptive.step(codes, adaptive.initial_state(2), targets, np.ones(codes.shape, np.float32))
    np.testing.assert_allclose(logits, expected, atol=1e-5)
    assert type(adaptive.model.get_layer("rnn_1")) is type(model.get_layer("rnn_1"))


def test_copying_a_lane_state_and_continuing_equals_stepping_the_whole_sequence():
    keras.utils.set_random_seed(4)
    stepper = make_stepper(build_model(ModelConfig(units=5, layers=2)))
    codes = _codes(1, 40, seed=7)
    whole, _ = stepper.step(codes, stepper.initial_state(1))
    state = stepper.initial_state(2)
    _, state = stepper.step(np.vstack([codes[:, :25], _codes(1, 25, seed=8)]), state)  # lane 1 reads other bases
    state = copy_lane(stepper, state, 0, 1)  # lane 1 now continues from lane 0
    rest, _ = stepper.step(np.vstack([codes[:, 25:], codes[:, 25:]]), state)
    np.testing.assert_allclose(rest[0], whole[0, 25:], atol=1e-5)
    np.testing.assert_allclose(rest[1], whole[0, 25:], atol=1e-5)


def test_the_loop_streams_lanes_of_sequences_as_one_forward_pass():
    keras.utils.set_random_seed(5)
    model = build_model(ModelConfig(units=5, layers=1))
    packed = [_codes(1, n, seed=n)[0].astype(np.uint8) for n in (37, 5, 60)]
    lanes = [Lane(i, 0, 0, p.size) for i, p in enumerate(packed)]
    got = {i: np.zeros((p.size, 4), np.float32) for i, p in enumerate(packed)}
    stepper = make_stepper(model)
    for rec, pos, logits in stream(stepper, Sequences(packed), lanes, batch_size=2, chunk=7):
        for r in np.unique(rec):
            got[int(r)][pos[rec == r]] = logits[rec == r]
    for i, p in enumerate(packed):
        one_shot = np.asarray(model.predict_on_batch(p[None, :-1].astype(np.int32)))[0]
        np.testing.assert_allclose(got[i][0], stepper.initial_logits())
        np.testing.assert_allclose(got[i][1:], one_shot, atol=1e-5)
