"""The recurrent next-nucleotide model: codes in, logits of the next base out.

Representations (see :mod:`genorm.encoding`):

===========  ==========================  ==========================================================
tensor       shape, dtype                meaning
===========  ==========================  ==========================================================
inputs       ``(B, T) int32``            codes A=0 C=1 G=2 T=3 N=4
one-hot      ``(B, T, 4) float32``       made inside the model (:class:`OneHotBases`); N is zeros
hidden       ``(B, T, units) float32``   per recurrent layer (``return_sequences=True``)
logits       ``(B, T, 4) float32``       ``logits[:, t]`` is the unnormalised log-probability of
                                         base ``t + 1`` given bases ``0..t``
===========  ==========================  ==========================================================

The ``simple_rnn`` cell is exactly the textbook recurrence (see :mod:`genorm.textbook_rnn`)::

    h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h)        Keras: kernel = W_xh.T, recurrent_kernel = W_hh.T
    y_t = W_hy h_t + b_y                             Keras: Dense kernel = W_hy.T, bias = b_y

``gru`` and ``lstm`` use Keras' default activations, no recurrent dropout and (GRU)
``reset_after=True``: the configuration TensorFlow runs on cuDNN, so the same model is fast
on a GPU. Dropout, when asked for, is a separate layer between recurrent layers.

For streaming inference over a whole chromosome, :func:`genorm.stepper.make_stepper` returns a
:class:`~genorm.stepper.Stepper` that carries the recurrent state from one chunk to the next.

>>> model = build_model(ModelConfig(cell="gru", units=8, layers=1))
>>> model.output_shape
(None, None, 4)
"""

from __future__ import annotations

import logging
from typing import Any

import keras
import numpy as np  # noqa: F401  (the doctests use it)

from genorm.config import CELL_TABLE, CELLS, ModelConfig  # noqa: F401  (CELLS, ModelConfig re-exported)

logger = logging.getLogger(__name__)


@keras.saving.register_keras_serializable(package="genorm")
class OneHotBases(keras.layers.Layer):
    """Codes ``(B, T) int`` → one-hot ``(B, T, 4) float32``; N (code 4) becomes the zero vector.

    ``keras.ops.one_hot`` with depth 5, then the N channel is dropped.

    >>> OneHotBases()(np.array([[0, 4, 3]])).numpy().tolist()
    [[[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]]
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)

    def call(self, codes):
        onehot = keras.ops.one_hot(keras.ops.cast(codes, "int32"), 5, dtype=self.compute_dtype)
        return onehot[..., :4]

    def compute_output_shape(self, input_shape):
        return (*input_shape, 4)

    def get_config(self) -> dict:
        return super().get_config()


def _recurrent_layer(config: ModelConfig, name: str, return_state: bool = False) -> keras.layers.Layer:
    cls = getattr(keras.layers, CELL_TABLE[config.cell].keras_class)
    kwargs: dict[str, Any] = dict(units=config.units, return_sequences=True, return_state=return_state, name=name)
    if config.cell == "gru":
        kwargs["reset_after"] = True
    return cls(**kwargs)


def build_model(config: ModelConfig | None = None) -> keras.Model:
    """The training/inference model: codes ``(B, T) int32`` → logits ``(B, T, 4) float32``.

    Layers: ``onehot`` (:class:`OneHotBases`) → ``rnn_1`` … ``rnn_<layers>`` (with
    ``dropout_<i>`` after each when ``config.dropout > 0``) → ``logits`` (Dense(4)).
    The model is not compiled; :func:`genorm.training.trainer.train` compiles it.

    Args:
        config: the architecture; default :class:`ModelConfig()` (GRU 2×128).
    """
    config = config or ModelConfig()
    codes = keras.Input(shape=(None,), dtype="int32", name="codes")
    x = OneHotBases(name="onehot")(codes)
    for i in range(1, config.layers + 1):
        x = _recurrent_layer(config, f"rnn_{i}")(x)
        if config.dropout > 0:
            x = keras.layers.Dropout(config.dropout, name=f"dropout_{i}")(x)
    logits = keras.layers.Dense(4, name="logits")(x)
    return keras.Model(codes, logits, name=f"genorm_{config.cell}_{config.layers}x{config.units}")


def expected_layers(config: ModelConfig) -> list[tuple[str, str]]:
    """``(name, class name)`` of every layer :func:`build_model` makes for ``config``, in order.

    >>> expected_layers(ModelConfig(cell="lstm", units=8, layers=1))
    [('onehot', 'OneHotBases'), ('rnn_1', 'LSTM'), ('logits', 'Dense')]
    """
    out = [("onehot", "OneHotBases")]
    for i in range(1, config.layers + 1):
        out.append((f"rnn_{i}", CELL_TABLE[config.cell].keras_class))
        if config.dropout > 0:
            out.append((f"dropout_{i}", "Dropout"))
    return out + [("logits", "Dense")]


__all__ = ["CELLS", "ModelConfig", "OneHotBases", "build_model", "expected_layers"]
