"""The model trained with stateful lanes (truncated back-propagation through time).

:class:`StatefulTrainer` has the layers of :func:`genorm.model.build_model` (same names, same
configuration, so the same cuDNN-ready recurrent layers) and, per recurrent layer, the state of
every lane of the batch as non-trainable variables ``(B, units)``. Its inputs are
``(codes (B, L) int32, keep (B,) float32)`` from :class:`genorm.walks.WalkSampler`: each lane's
initial state is its carried state times ``keep`` (0 resets it), and after the batch its final
state is stored for the next batch, without gradient through the carry (the gradient of a batch
stops at its first window base: truncated BPTT). The states are model variables, so a backup
(``save_weights``) holds them and ``--resume`` continues every lane from its exact state.

The saved model stays a plain :func:`~genorm.model.build_model` model: :meth:`base_weights`
gives the weights in its order.

>>> from genorm.config import ModelConfig
>>> import numpy as np
>>> m = StatefulTrainer(ModelConfig(units=4, layers=1), lanes=2, window=3)
>>> m((np.zeros((2, 3), np.int32), np.zeros(2, np.float32))).shape
TensorShape([2, 3, 4])
"""

from __future__ import annotations

import keras
import numpy as np

from genorm.config import CELL_TABLE, ModelConfig
from genorm.model import OneHotBases, _recurrent_layer


class StatefulTrainer(keras.Model):
    """``(codes, keep) → logits`` with each lane's recurrent state carried between batches.

    Args:
        config: the architecture (as :func:`genorm.model.build_model`).
        lanes: the batch size (rows are lanes; every batch must have exactly this many).
        window: the input length ``L`` (used to build the layers before training).
    """

    def __init__(self, config: ModelConfig, lanes: int, window: int, **kwargs):
        super().__init__(name=f"genorm_{config.cell}_{config.layers}x{config.units}_stateful", **kwargs)
        self.config, self.lanes = config, int(lanes)
        self.onehot = OneHotBases(name="onehot")
        self.rnns = [_recurrent_layer(config, f"rnn_{i}", return_state=True) for i in range(1, config.layers + 1)]
        self.drops = [keras.layers.Dropout(config.dropout, name=f"dropout_{i}") if config.dropout > 0 else None
                      for i in range(1, config.layers + 1)]
        self.dense = keras.layers.Dense(4, name="logits")
        n_states = CELL_TABLE[config.cell].states
        features = 4
        for rnn in self.rnns:  # build the layers first: their weights come before the states
            rnn.build((self.lanes, window, features))
            features = config.units
        self.dense.build((self.lanes, window, config.units))
        self.carried = [[self.add_weight(shape=(self.lanes, config.units), initializer="zeros", trainable=False,
                                         name=f"{rnn.name}_state_{j}") for j in range(n_states)]
                        for rnn in self.rnns]
        self.onehot.build((self.lanes, window))
        self.built = True

    def call(self, inputs, training=False):
        codes, keep = inputs
        x = self.onehot(codes)
        keep = keras.ops.expand_dims(keras.ops.cast(keep, "float32"), -1)
        for rnn, drop, states in zip(self.rnns, self.drops, self.carried):
            initial = [keras.ops.multiply(s, keep) for s in states]
            x, *final = rnn(x, initial_state=initial if len(initial) > 1 else initial[0], training=training)
            for var, value in zip(states, final):
                var.assign(keras.ops.stop_gradient(value))
            if drop is not None:
                x = drop(x, training=training)
        return self.dense(x)

    def base_weights(self) -> list[np.ndarray]:
        """The weights in :func:`~genorm.model.build_model`'s order (no lane states)."""
        return [w for layer in (*self.rnns, self.dense) for w in layer.get_weights()]

    def set_base_weights(self, weights: list[np.ndarray]) -> None:
        """Set the weights from a :func:`~genorm.model.build_model` model's ``get_weights()``."""
        i = 0
        for layer in (*self.rnns, self.dense):
            n = len(layer.weights)
            layer.set_weights(weights[i:i + n])
            i += n

    def reset_lanes(self) -> None:
        """Zero every lane's state."""
        for states in self.carried:
            for var in states:
                var.assign(keras.ops.zeros_like(var))


def base_weights(model) -> list[np.ndarray]:
    """The :func:`~genorm.model.build_model` weights of a training model (stateful or not)."""
    return model.base_weights() if isinstance(model, StatefulTrainer) else model.get_weights()


__all__ = ["StatefulTrainer", "base_weights"]
