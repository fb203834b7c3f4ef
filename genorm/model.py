"""The recurrent next-nucleotide network, defined once: codes in, logits of the next base out.

:func:`build_network` is the only place genorm builds the network. Every use is derived from it:

* window training and the saved ``model.keras``: ``build_network(config)`` (= :func:`build_model`);
* streaming inference (:class:`genorm.stepper.NetworkStepper`), stateful ``--tbptt`` lanes
  (:class:`genorm.training.stateful.StatefulTrainer`) and the copy that adaptive evaluation
  trains (:mod:`genorm.evaluation.adapt`): ``build_network(config, state=True)``, the same
  layers in the same order (so the same weights, ``get_weights()`` order included), with the
  recurrent state as extra inputs and outputs (Keras' ``initial_state`` / ``return_state``).

An input added here (a second feature tensor per position) reaches every use at once.

Representations (see :mod:`genorm.encoding`):

===========  ==========================  ==========================================================
tensor       shape, dtype                meaning
===========  ==========================  ==========================================================
inputs       ``(B, T) int32``            codes A=0 C=1 G=2 T=3 N=4
one-hot      ``(B, T, 4) float32``       made inside the model (:class:`OneHotBases`); N is zeros
hidden       ``(B, T, units) float32``   per recurrent layer (``return_sequences=True``)
state        ``(B, units) float32``      per recurrent layer (two for LSTM: ``h`` then ``c``),
                                         only with ``state=True``
logits       ``(B, T, 4) float32``       ``logits[:, t]`` is the unnormalised log-probability of
                                         base ``t + 1`` given bases ``0..t``
===========  ==========================  ==========================================================

The ``simple_rnn`` cell is exactly the textbook recurrence (see :mod:`genorm.textbook_rnn`)::

    h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h)        Keras: kernel = W_xh.T, recurrent_kernel = W_hh.T
    y_t = W_hy h_t + b_y                             Keras: Dense kernel = W_hy.T, bias = b_y

``gru`` and ``lstm`` use Keras' default activations, no recurrent dropout and (GRU)
``reset_after=True``: the configuration TensorFlow runs on cuDNN, so the same model is fast
on a GPU. Dropout, when asked for, is a separate layer between recurrent layers.

>>> model = build_model(ModelConfig(cell="gru", units=8, layers=1))
>>> model.output_shape
(None, None, 4)
>>> [tuple(t.shape) for t in build_network(ModelConfig(cell="lstm", units=8, layers=1), state=True).outputs]
[(None, None, 4), (None, 8), (None, 8)]
"""

from __future__ import annotations

import logging
from typing import Any

import keras
import numpy as np

from genorm.config import CELL_TABLE, CELLS, ModelConfig  # noqa: F401  (CELLS, ModelConfig re-exported)
from genorm.errors import ConfigError

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


def state_sizes(config: ModelConfig) -> list[int]:
    """Widths of the state arrays of ``build_network(config, state=True)``, in input order.

    >>> state_sizes(ModelConfig(cell="lstm", units=8, layers=2))
    [8, 8, 8, 8]
    """
    return [config.units] * (CELL_TABLE[config.cell].states * config.layers)


CONTEXT_UNITS = 32
"""Width of the learned projection of the count features that joins the one-hot bases."""


def network_inputs(config: ModelConfig) -> list[str]:
    """The names of the network's per-position inputs, in order (the state follows them).

    >>> network_inputs(ModelConfig()), network_inputs(ModelConfig(context=10))
    (['codes'], ['codes', 'context'])
    """
    return ["codes", "context"] if config.context else ["codes"]


def empty_context(config: ModelConfig):
    """``(context,) float32``: the count features of a position with no context (no order has counts):
    every probability 1/4, every confidence 0 (:func:`genorm.counts.features_from_counts` of zeros)."""
    block = np.array([np.log(0.25)] * 4 + [0.0], np.float32)
    return np.tile(block, config.context // 5)


def build_network(config: ModelConfig | None = None, *, state: bool = False) -> keras.Model:
    """The network: codes ``(B, T) int32`` → logits ``(B, T, 4) float32``; with ``state=True`` also
    the recurrent state in and out.

    Layers: ``onehot`` (:class:`OneHotBases`) → ``rnn_1`` … ``rnn_<layers>`` (with
    ``dropout_<i>`` after each when ``config.dropout > 0``) → ``logits`` (Dense(4)). The model is
    not compiled.

    With ``config.context > 0`` (count models, :mod:`genorm.counts`) a second input ``context``
    ``(B, T, context) float32`` holds what the counts predict for the next base at each position;
    a linear ``context_proj`` (Dense(32)) of it joins the one-hot bases into the recurrent stack
    (the network mixes), and ``context_logits`` (Dense(4), no bias) adds a direct path from the
    counts to the logits (``mix``).

    Args:
        config: the architecture; default :class:`ModelConfig()` (GRU 2×128).
        state: False: inputs ``codes`` (``[codes, context]`` with counts), output ``logits``,
            every sequence starts from the zero state. True: inputs ``[*those, *state]`` and
            outputs ``[logits, *final_state]``, one ``(B, units)`` array per recurrent layer (two
            for LSTM), :func:`state_sizes`.
    """
    config = config or ModelConfig()
    cls = getattr(keras.layers, CELL_TABLE[config.cell].keras_class)
    codes = keras.Input(shape=(None,), dtype="int32", name="codes")
    inputs = [codes]
    x = OneHotBases(name="onehot")(codes)
    if config.context:
        counts = keras.Input(shape=(None, config.context), dtype="float32", name="context")
        inputs.append(counts)
        x = keras.layers.Concatenate(name="bases_and_counts")(
            [x, keras.layers.Dense(CONTEXT_UNITS, name="context_proj")(counts)])
    state_inputs, state_outputs = [], []
    for i in range(1, config.layers + 1):
        kwargs: dict[str, Any] = dict(units=config.units, return_sequences=True, name=f"rnn_{i}")
        if config.cell == "gru":
            kwargs["reset_after"] = True
        if state:
            n = CELL_TABLE[config.cell].states
            ins = [keras.Input(shape=(config.units,), dtype="float32", name=f"rnn_{i}_state_{j}") for j in range(n)]
            x, *outs = cls(return_state=True, **kwargs)(x, initial_state=ins if n > 1 else ins[0])
            state_inputs += ins
            state_outputs += outs
        else:
            x = cls(**kwargs)(x)
        if config.dropout > 0:
            x = keras.layers.Dropout(config.dropout, name=f"dropout_{i}")(x)
    logits = keras.layers.Dense(4, name="logits")(x)
    if config.context:
        direct = keras.layers.Dense(4, use_bias=False, name="context_logits")(counts)
        logits = keras.layers.Add(name="mix")([logits, direct])
    name = f"genorm_{config.cell}_{config.layers}x{config.units}" + ("_counts" if config.context else "")
    if state:
        return keras.Model([*inputs, *state_inputs], [logits, *state_outputs], name=f"{name}_stepper")
    return keras.Model(inputs if config.context else codes, logits, name=name)


def build_model(config: ModelConfig | None = None) -> keras.Model:
    """The training/inference model, ``build_network(config)``: codes ``(B, T) int32`` → logits
    ``(B, T, 4) float32`` (see :func:`build_network`). :func:`genorm.training.trainer.train`
    compiles it."""
    return build_network(config)


def infer_config(model: keras.Model, source: str | None = None) -> ModelConfig:
    """The :class:`ModelConfig` a Keras model's recurrent layers describe (cell, units, layers, dropout).

    What it infers is only a guess to rebuild from: :func:`genorm.stepper.make_stepper` then checks
    that the rebuilt network takes the model's weights and gives its logits.

    Raises:
        ConfigError: the model has no recurrent layer of a known cell.
    """
    kinds = {getattr(keras.layers, c.keras_class): name for name, c in CELL_TABLE.items()}
    rnns = [layer for layer in model.layers if type(layer) in kinds]
    if not rnns:
        raise ConfigError(f"{source or f'Model {model.name!r}'} has no recurrent layer ({', '.join(CELLS)}): it is "
                          "not a model made by genorm.model.build_model() and cannot be used for prediction.")
    drops = [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    context = [int(t.shape[-1]) for t in model.inputs if t.name.startswith("context") and len(t.shape) == 3]
    return ModelConfig(cell=kinds[type(rnns[0])], units=int(rnns[0].units), layers=len(rnns),
                       dropout=float(drops[0]) if drops else 0.0, context=context[0] if context else 0)


__all__ = ["CELLS", "CONTEXT_UNITS", "ModelConfig", "OneHotBases", "build_model", "build_network", "empty_context",
           "infer_config", "network_inputs", "state_sizes"]
