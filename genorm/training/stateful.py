"""The model trained with stateful lanes (truncated back-propagation through time).

:class:`StatefulTrainer` is the network of :func:`genorm.model.build_network` (``state=True``: the
same layers, names and cuDNN-ready configuration as the saved model) and, per state array, the
state of every lane of the batch as non-trainable variables ``(B, units)``. Its inputs are
``(codes (B, L) int32, keep (B,) float32)`` from :class:`genorm.batches.walks.WalkSampler`: each lane's
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

from genorm.config import ModelConfig
from genorm.model import build_network, state_sizes


class StatefulTrainer(keras.Model):
    """``(codes, keep) → logits`` with each lane's recurrent state carried between batches.

    The network is :func:`genorm.model.build_network` with ``state=True``: the same layers, names
    and weights as the saved model, the state fed from the carried variables.

    Args:
        config: the architecture (as :func:`genorm.model.build_model`).
        lanes: the batch size (rows are lanes; every batch must have exactly this many).
        window: the input length ``L`` (unused: kept for callers; the network takes any length).
    """

    def __init__(self, config: ModelConfig, lanes: int, window: int, **kwargs):
        super().__init__(name=f"genorm_{config.cell}_{config.layers}x{config.units}_stateful", **kwargs)
        self.config, self.lanes = config, int(lanes)
        self.network = build_network(config, state=True)
        sizes = state_sizes(config)
        self.carried = [self.add_weight(shape=(self.lanes, n), initializer="zeros", trainable=False,
                                        name=f"state_{j}") for j, n in enumerate(sizes)]
        self.built = True

    def call(self, inputs, training=False):
        *per_position, keep = inputs  # (codes[, context], keep): genorm.model.network_inputs, then keep
        keep = keras.ops.expand_dims(keras.ops.cast(keep, "float32"), -1)
        initial = [keras.ops.multiply(s, keep) for s in self.carried]
        logits, *final = self.network([*per_position, *initial], training=training)
        for var, value in zip(self.carried, final):
            var.assign(keras.ops.stop_gradient(value))
        return logits

    def base_weights(self) -> list[np.ndarray]:
        """The weights in :func:`~genorm.model.build_model`'s order (no lane states)."""
        return self.network.get_weights()

    def set_base_weights(self, weights: list[np.ndarray]) -> None:
        """Set the weights from a :func:`~genorm.model.build_model` model's ``get_weights()``."""
        self.network.set_weights(weights)

    def reset_lanes(self) -> None:
        """Zero every lane's state."""
        for var in self.carried:
            var.assign(keras.ops.zeros_like(var))


def base_weights(model) -> list[np.ndarray]:
    """The :func:`~genorm.model.build_model` weights of a training model (stateful or not)."""
    return model.base_weights() if isinstance(model, StatefulTrainer) else model.get_weights()


__all__ = ["StatefulTrainer", "base_weights"]
