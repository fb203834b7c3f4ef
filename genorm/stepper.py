"""Streaming inference: a model of :func:`genorm.model.build_model` run chunk by chunk, state carried.

:func:`make_stepper` checks that a Keras model is exactly what :func:`~genorm.model.build_model`
makes (:func:`check_model`), rebuilds its one-hot, recurrent and ``logits`` layers with the
recurrent state as explicit inputs and outputs (:class:`Stepper`), and checks itself against the
model's one-shot forward pass on a probe sequence (:data:`PROBE`, to :data:`PROBE_TOLERANCE`).

===========  ==========================  ==========================================================
array        shape, dtype                meaning
===========  ==========================  ==========================================================
codes        ``(B, T) int32``            codes A=0 C=1 G=2 T=3 N=4 of one chunk per lane
state        list of ``(B, units)``      one ``float32`` array per recurrent layer (two for LSTM)
logits       ``(B, T, 4) float32``       ``logits[:, t]`` predicts the base after ``codes[:, t]``
===========  ==========================  ==========================================================
"""

from __future__ import annotations

import logging

import keras
import numpy as np

from genorm.config import CELL_TABLE, ModelConfig
from genorm.errors import ConfigError
from genorm.model import OneHotBases, expected_layers
from genorm.validate import check_positive_int

logger = logging.getLogger(__name__)

def _recurrent_layers(model: keras.Model) -> list[keras.layers.Layer]:
    rnn_types = tuple(getattr(keras.layers, c.keras_class) for c in CELL_TABLE.values())
    return [layer for layer in model.layers if isinstance(layer, rnn_types)]


def _layer_list(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's layers without its inputs, in order."""
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def _named(layer: keras.layers.Layer) -> str:
    return f"{layer.name!r} ({type(layer).__name__})"


def _logits_layer(model: keras.Model, source: str) -> keras.layers.Layer:
    """The ``logits`` layer: a linear Dense with 4 outputs (A, C, G, T), or a ConfigError naming the difference."""
    found = [layer for layer in _layer_list(model) if layer.name == "logits"]
    if not found:
        raise ConfigError(f"{source} has no `logits` layer (the Dense(4) output of a genorm model; its layers: "
                          f"{', '.join(_named(x) for x in _layer_list(model)) or 'none'}): it is not a model made "
                          "by genorm.model.build_model() and cannot be used for prediction.")
    dense = found[0]
    if not isinstance(dense, keras.layers.Dense):
        raise ConfigError(f"{source}: its `logits` layer is a {type(dense).__name__}, expected Dense(4): it is not a "
                          "model made by genorm.model.build_model().")
    activation = getattr(dense.activation, "__name__", str(dense.activation))
    if dense.units != 4 or activation != "linear":
        raise ConfigError(f"{source}: its `logits` layer gives {dense.units} output(s) per position with activation "
                          f"{activation}; a genorm model gives 4 "
                          "linear logits (A, C, G, T). It is not a model made by genorm.model.build_model().")
    return dense


def _check_recurrent(layer: keras.layers.Layer, config: ModelConfig | None, source: str, described: str) -> None:
    if config is not None and layer.units != config.units:
        raise ConfigError(f"{source}: layer {_named(layer)} has {layer.units} units, but {described} describes "
                          f"{config.units}.")
    odd = [k for k, want in (("return_sequences", True), ("go_backwards", False), ("stateful", False))
           if getattr(layer, k, want) != want]
    if isinstance(layer, keras.layers.GRU) and not layer.reset_after:
        odd.append("reset_after")
    if odd:
        raise ConfigError(f"{source}: layer {_named(layer)} has {', '.join(f'{k}={getattr(layer, k)}' for k in odd)},"
                          " which genorm models never use; it cannot be streamed.")


def _states(layer: keras.layers.Layer) -> int:
    """State arrays of a recurrent layer (:data:`genorm.config.CELL_TABLE`)."""
    return next(c.states for c in CELL_TABLE.values() if isinstance(layer, getattr(keras.layers, c.keras_class)))


def check_model(model: keras.Model, config: ModelConfig | None = None, source: str | None = None,
                described: str = "the configuration") -> None:
    """Check that ``model`` is exactly what :func:`build_model` makes (for ``config``, when given).

    Streaming inference (:class:`Stepper`) rebuilds only the one-hot, recurrent and ``logits``
    layers, so a model with any other layer, another output width, or (with ``config``) another
    cell, number of layers or units would be predicted as something else than it is.

    Args:
        model: a Keras model, e.g. a run's loaded ``model.keras``.
        config: the architecture it must have; None checks only the layer kinds and order.
        source: how to name the model in messages (default: ``model <name>``).
        described: how to name ``config`` in messages, e.g. ``"config.json's model"``.

    Raises:
        ConfigError: naming the first difference.
    """
    source = source or f"Model {model.name!r}"
    try:
        _check_model(model, config, source, described)
    except ConfigError as exc:
        if config is None:
            raise
        raise ConfigError(f"{exc} {_REPLACED}") from None


def _check_model(model: keras.Model, config: ModelConfig | None, source: str, described: str) -> None:
    layers = _layer_list(model)
    _logits_layer(model, source)
    if config is None:
        kinds = ("OneHotBases", *(c.keras_class for c in CELL_TABLE.values()), "Dropout")
        extra = [x for x in layers if type(x).__name__ not in kinds and x.name != "logits"]
        if extra:
            raise ConfigError(f"{source} has a layer {_named(extra[0])} that streaming inference does not reproduce; "
                              "only models made by genorm.model.build_model() can be used for prediction.")
    else:
        want = expected_layers(config)
        got = [(x.name, type(x).__name__) for x in layers]
        shown = ", ".join(f"{n!r} ({c})" for n, c in want)
        extra = [x for x in layers if (x.name, type(x).__name__) not in want]
        if extra:
            raise ConfigError(f"{source} has a layer {_named(extra[0])} that {described} does not describe (it "
                              f"describes {shown}).")
        missing = [(n, c) for n, c in want if (n, c) not in got]
        if missing or got != want:
            what = f"lacks the layer {missing[0][0]!r} ({missing[0][1]})" if missing else "has its layers in another order"
            raise ConfigError(f"{source} {what}: {described} describes {shown}.")
    for layer in _recurrent_layers(model):
        _check_recurrent(layer, config, source, described)
    if config is not None and config.dropout > 0:
        for layer in layers:
            if isinstance(layer, keras.layers.Dropout) and abs(layer.rate - config.dropout) > 1e-12:
                raise ConfigError(f"{source}: layer {_named(layer)} has rate {layer.rate}, but {described} "
                                  f"describes dropout {config.dropout}.")


_REPLACED = ("The model file does not belong to the run's configuration (replaced or edited after training): train "
             "the run again (genorm train ... --force).")


PROBE = np.array([[0, 1, 2, 3, 4, 3, 3, 0, 2, 1, 1, 0, 4, 4, 2, 3, 1, 0, 0, 2]], dtype=np.int32)
"""``(1, 20)`` codes the stepper and the one-shot model are compared on (every base, N, repeats)."""

PROBE_TOLERANCE = 1e-5


class Stepper:
    """Runs a model chunk by chunk, carrying the recurrent state between chunks.

    Built by :func:`make_stepper` from a model of :func:`build_model` (or one loaded from a
    run directory). It holds a snapshot of the model's weights, taken when it was made.

    State: a list of ``(B, units) float32`` arrays, one per recurrent layer (two for LSTM:
    ``h`` then ``c``). Stepping chunk by chunk gives the same logits as one call over the
    concatenated sequence (to float32 round-off).

    >>> from genorm.model import build_model
    >>> model = build_model(ModelConfig(units=8, layers=2))
    >>> stepper = make_stepper(model)
    >>> state = stepper.initial_state(1)
    >>> logits, state = stepper.step(np.array([[0, 1, 2]], dtype=np.int32), state)
    >>> logits.shape, len(state)
    ((1, 3, 4), 2)
    """

    def __init__(self, model: keras.Model, source: str | None = None):
        rnns = _recurrent_layers(model)
        if not rnns:
            raise ConfigError(f"Model {model.name!r} has no recurrent layer; make_stepper() needs a model "
                              "made by genorm.model.build_model().")
        check_model(model, source=source)
        dense = _logits_layer(model, source or f"Model {model.name!r}")
        self._state_sizes: list[int] = []
        codes = keras.Input(shape=(None,), dtype="int32", name="codes")
        x = OneHotBases(name="onehot")(codes)
        state_inputs, state_outputs = [], []
        twins = []
        for layer in rnns:
            cfg = layer.get_config()
            cfg["return_state"] = True
            twin = layer.__class__.from_config(cfg)
            n_states = _states(layer)
            ins = [keras.Input(shape=(layer.units,), dtype="float32", name=f"{layer.name}_state_{j}")
                   for j in range(n_states)]
            x, *outs = twin(x, initial_state=ins if n_states > 1 else ins[0])
            state_inputs += ins
            state_outputs += outs
            self._state_sizes += [layer.units] * n_states
            twins.append((twin, layer))
        dense_twin = keras.layers.Dense.from_config(dense.get_config())
        logits = dense_twin(x)
        for twin, layer in twins:
            twin.set_weights(layer.get_weights())
        dense_twin.set_weights(dense.get_weights())
        self._dense_bias = np.asarray(dense.get_weights()[1], dtype=np.float32) if dense.use_bias \
            else np.zeros(4, np.float32)
        self.model = keras.Model([codes, *state_inputs], [logits, *state_outputs], name="genorm_stepper")
        self._call = self._make_call()
        self._verify(model, source or f"Model {model.name!r}")

    def _verify(self, model: keras.Model, source: str) -> None:
        """The stepper, over :data:`PROBE` in two chunks, must give the model's one-shot logits."""
        for layer in model.layers:  # NaN or inf weights: damaged, not wired differently
            for w in layer.weights:
                values = np.asarray(w)
                bad = int(values.size - np.count_nonzero(np.isfinite(values)))
                if bad:
                    raise ConfigError(f"{source}: layer {layer.name!r} has {bad:,} NaN or infinite weight(s) (in "
                                      f"{w.path if hasattr(w, 'path') else w.name}): the weights are damaged (a "
                                      "training that diverged, or an edited file). Train the run again (genorm train "
                                      "... --force), or use an undamaged copy of the model.")
        expected = np.asarray(model(PROBE, training=False), dtype=np.float32)
        if not np.all(np.isfinite(expected)):
            raise ConfigError(f"{source} gives NaN or infinite logits on a probe sequence: its weights are too large "
                              "for float32 (damaged or edited). Train the run again (genorm train ... --force).")
        if expected.shape != (*PROBE.shape, 4):
            raise ConfigError(f"{source} maps codes {PROBE.shape} to logits of shape {expected.shape}, expected "
                              f"{(*PROBE.shape, 4)}: it is not a model made by genorm.model.build_model().")
        cut = PROBE.shape[1] // 2
        call = lambda codes, state: [np.asarray(t) for t in self.model([codes, *state], training=False)]  # noqa: E731
        first, *state = call(PROBE[:, :cut], self.initial_state(1))  # eager: no tf.function trace per stepper
        second, *_ = call(PROBE[:, cut:], state)
        diff = float(np.max(np.abs(np.concatenate([first, second], axis=1) - expected)))
        scale = max(1.0, float(np.max(np.abs(expected))))
        if not diff <= PROBE_TOLERANCE * scale:
            raise ConfigError(f"{source}: streaming inference does not reproduce the model (largest logit "
                              f"difference {diff:.3g} on a probe sequence, tolerance {PROBE_TOLERANCE * scale:.1g}); "
                              "its layers are wired in a way genorm.model.build_model() never makes. Use a model "
                              "made by build_model() (train the run again).")

    def _make_call(self):
        """One traced function for every (B, T): avoids a retrace per chunk shape."""
        if keras.backend.backend() != "tensorflow":
            return lambda codes, state: self.model.predict_on_batch([codes, *state])
        import tensorflow as tf

        signature = [tf.TensorSpec((None, None), tf.int32)] + \
            [tf.TensorSpec((None, n), tf.float32) for n in self._state_sizes]

        @tf.function(input_signature=signature, autograph=False)
        def call(codes, *state):
            return self.model([codes, *state], training=False)

        return lambda codes, state: [t.numpy() for t in call(codes, *state)]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Load new weights of the same architecture (a :func:`~genorm.model.build_model` model's
        ``get_weights()``, e.g. after a training epoch) without rebuilding or retracing."""
        self.model.set_weights(weights)
        if len(weights) and np.shape(weights[-1]) == (4,):
            self._dense_bias = np.asarray(weights[-1], dtype=np.float32).copy()

    def initial_state(self, batch: int) -> list[np.ndarray]:
        """Zero states for ``batch`` sequences: list of ``(batch, units) float32``."""
        batch = check_positive_int("batch", batch)
        return [np.zeros((batch, n), dtype=np.float32) for n in self._state_sizes]

    def step(self, codes: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Advance over one chunk.

        Args:
            codes: ``(B, T) int`` codes 0-4 (``T >= 1``).
            state: the state from :meth:`initial_state` or the previous :meth:`step`.

        Returns:
            ``(logits, new_state)``: logits ``(B, T, 4) float32`` (position t predicts the base
            after ``codes[:, t]``) and the state after the last position.
        """
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] < 1:
            raise ConfigError(f"Received an invalid value for `codes`, expected shape (B, T) with T >= 1, "
                              f"got shape {codes.shape}.")
        if len(state) != len(self._state_sizes) or any(s.shape[0] != codes.shape[0] for s in state):
            raise ConfigError(f"`state` does not match `codes`: expected {len(self._state_sizes)} arrays of "
                              f"{codes.shape[0]} rows; use Stepper.initial_state({codes.shape[0]}).")
        out = self._call(codes.astype(np.int32), [np.asarray(s, dtype=np.float32) for s in state])
        logits, *new_state = out
        return np.asarray(logits, dtype=np.float32), [np.asarray(s, dtype=np.float32) for s in new_state]

    def initial_logits(self) -> np.ndarray:
        """``(4,) float32`` logits of base 0 from an empty context: the output layer at the zero state."""
        return self._dense_bias.copy()


def make_stepper(model: keras.Model, source: str | None = None) -> Stepper:
    """A :class:`Stepper` for ``model`` (a snapshot of its current weights).

    The model must be one :func:`build_model` makes (:func:`check_model`), and the stepper is
    checked to reproduce its one-shot forward pass on a short probe sequence (to 1e-5).

    Args:
        model: the Keras model.
        source: how to name the model in error messages (e.g. the path of ``model.keras``).

    Raises:
        ConfigError: the model has a layer the stepper would not reproduce, no ``logits``
            layer, an output width other than 4, or gives other logits than the stepper.
    """
    return Stepper(model, source=source)


__all__ = ["PROBE", "PROBE_TOLERANCE", "Stepper", "check_model", "make_stepper"]
