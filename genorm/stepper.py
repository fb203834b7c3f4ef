"""Streaming inference: the network stepped chunk by chunk, its recurrent state carried.

:func:`make_stepper` derives a :class:`NetworkStepper` (the protocol of :mod:`genorm.engine`)
from a Keras model: the network of :func:`genorm.model.build_network` with the state as input
and output, given the model's weights. It is accepted when that works and agrees with the
model: the weights fit, and the stepper over :data:`PROBE` in two chunks reproduces the model's
one-shot forward pass (to :data:`PROBE_TOLERANCE`). A run's model is rebuilt from the run's own
``config.json`` (:func:`check_model`); a bare Keras model from what its layers describe
(:func:`genorm.model.infer_config`).

===========  ==========================  ==========================================================
array        shape, dtype                meaning
===========  ==========================  ==========================================================
codes        ``(B, T) int32``            codes A=0 C=1 G=2 T=3 N=4 of one chunk per lane
state        list of ``(B, units)``      one ``float32`` array per recurrent layer (two for LSTM)
logits       ``(B, T, 4) float32``       ``logits[:, t]`` predicts the base after ``codes[:, t]``
===========  ==========================  ==========================================================

A network that reads count features carries its lanes' count streams in the state too and, when
its configuration has ``mix > 0``, an online mixer (:class:`genorm.mixer.OnlineMixer`): the
network's log-probabilities and each count order's are mixed geometrically with weights that
start at the network alone and learn from each base after predicting it. Its logits are then the
mixture's log-probabilities.
"""

from __future__ import annotations

import logging

import keras
import numpy as np

from genorm.config import ModelConfig
from genorm.errors import ConfigError
from genorm.metrics import log_softmax
from genorm.mixer import OnlineMixer, order_log_probs
from genorm.model import build_network, empty_context, infer_config, state_sizes
from genorm.validate import check_positive_int, invalid

logger = logging.getLogger(__name__)

PROBE = np.array([[0, 1, 2, 3, 4, 3, 3, 0, 2, 1, 1, 0, 4, 4, 2, 3, 1, 0, 0, 2]], dtype=np.int32)
"""``(1, 20)`` codes the stepper and the one-shot model are compared on (every base, N, repeats)."""

PROBE_TOLERANCE = 1e-5


def probe_inputs(config: ModelConfig) -> list[np.ndarray]:
    """The probe's per-position inputs: :data:`PROBE`, and fixed count features when the network reads them."""
    if not config.context:
        return [PROBE]
    features = np.random.default_rng(0).normal(size=(*PROBE.shape, config.context)).astype(np.float32)
    return [PROBE, features]

_REPLACED = ("The model file does not belong to the run's configuration (replaced or edited after training): train "
             "the run again (genorm train ... --force).")


def _shapes(weights) -> str:
    return ", ".join("x".join(map(str, np.shape(w))) for w in weights)


class NetworkStepper:
    """The network run chunk by chunk, carrying the recurrent state between chunks.

    Built by :func:`make_stepper`. It holds a snapshot of the weights it was given.

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

    def __init__(self, config: ModelConfig, weights: list[np.ndarray], source: str = "The model", counts=None):
        self.config = config
        self.model = build_network(config, state=True)
        self._state_sizes = state_sizes(config)
        self.counts = counts
        """The count lanes (:class:`genorm.counts.CountLanes`) that give the network its count features
        (None: a plain network); :meth:`with_counts` sets them."""
        self.mixer = None
        """The online mixer of the network's output with the count orders (None: the network alone)."""
        if config.context and config.mix:
            self.mixer = OnlineMixer([1.0] + [0.0] * (config.context // 5), config.mix)
        want = [tuple(w.shape) for w in self.model.weights]
        if [tuple(np.shape(w)) for w in weights] != want:
            raise ConfigError(f"{source} does not match {{described}}: its weights have the shapes "
                              f"[{_shapes(weights)}], where a {config.cell} {config.layers}x{config.units} network of "
                              f"genorm.model.build_network() has [{_shapes(self.model.weights)}].")
        self.set_weights(weights)
        self._call = self._make_call()

    def with_counts(self, counts) -> "NetworkStepper":
        """Give the network its count features from ``counts`` (a :class:`genorm.counts.CountLanes`
        whose tables give ``config.context`` features per position); returns ``self``.

        Raises:
            ConfigError: the tables give another number of features than the network reads.
        """
        if counts is not None and counts.n_features != self.config.context:
            raise ConfigError(f"The count tables give {counts.n_features} features per position, but the network "
                              f"reads {self.config.context}: they do not belong to this model.")
        self.counts = counts
        self._dense_bias = initial_logits_of(self.model, self.config, self.empty_features())
        return self

    def variant(self, counts, mix: bool = True) -> "NetworkStepper":
        """The same network (weights and traced call shared) with other count lanes, e.g. static ones;
        ``mix=False``: without the online mixer (the network's output alone)."""
        import copy

        out = copy.copy(self).with_counts(counts)
        if not mix:
            out.mixer = None
        return out

    def verify(self, model: keras.Model, source: str) -> None:
        """The stepper, over :data:`PROBE` in two chunks, must give ``model``'s one-shot logits."""
        for layer in model.layers:  # NaN or inf weights: damaged, not wired differently
            for w in layer.weights:
                values = np.asarray(w)
                bad = int(values.size - np.count_nonzero(np.isfinite(values)))
                if bad:
                    raise ConfigError(f"{source}: layer {layer.name!r} has {bad:,} NaN or infinite weight(s) (in "
                                      f"{w.path if hasattr(w, 'path') else w.name}): the weights are damaged (a "
                                      "training that diverged, or an edited file). Train the run again (genorm train "
                                      "... --force), or use an undamaged copy of the model.")
        probe = probe_inputs(self.config)
        try:
            expected = np.asarray(model(probe if len(probe) > 1 else PROBE, training=False), dtype=np.float32)
        except Exception as exc:  # noqa: BLE001  (any model: say what it is, never a traceback)
            raise ConfigError(f"{source} cannot be run on codes of shape {PROBE.shape} ({type(exc).__name__}); it is "
                              "not a model made by genorm.model.build_model().") from None
        if expected.shape != (*PROBE.shape, 4):
            raise ConfigError(f"{source} maps codes {PROBE.shape} to outputs of shape {expected.shape}, expected "
                              f"logits of shape {(*PROBE.shape, 4)}: it is not a model made by "
                              "genorm.model.build_model().")
        if not np.all(np.isfinite(expected)):
            raise ConfigError(f"{source} gives NaN or infinite logits on a probe sequence: its weights are not "
                              "finite (a diverged or damaged model). Train the run again.")
        cut = PROBE.shape[1] // 2
        call = lambda inputs, state: [np.asarray(t) for t in self.model([*inputs, *state], training=False)]  # noqa: E731
        zero = [np.zeros((1, n), np.float32) for n in self._state_sizes]
        first, *state = call([x[:, :cut] for x in probe], zero)  # eager: no tf.function trace per stepper
        second, *_ = call([x[:, cut:] for x in probe], state)
        diff = float(np.max(np.abs(np.concatenate([first, second], axis=1) - expected)))
        scale = max(1.0, float(np.max(np.abs(expected))))
        if not diff <= PROBE_TOLERANCE * scale:
            raise ConfigError(f"{source}: streaming inference does not reproduce the model (largest logit "
                              f"difference {diff:.3g} on a probe sequence, tolerance {PROBE_TOLERANCE * scale:.1g}); "
                              "its layers are wired in a way genorm.model.build_network() never makes. Use a model "
                              "made by build_model() (train the run again).")

    def _make_call(self):
        """One traced function for every (B, T): avoids a retrace per chunk shape."""
        if keras.backend.backend() != "tensorflow":
            return lambda inputs, state: self.model.predict_on_batch([*inputs, *state])
        import tensorflow as tf

        signature = [tf.TensorSpec((None, None), tf.int32)] + \
            ([tf.TensorSpec((None, None, self.config.context), tf.float32)] if self.config.context else []) + \
            [tf.TensorSpec((None, n), tf.float32) for n in self._state_sizes]

        @tf.function(input_signature=signature, autograph=False)
        def call(*inputs):
            return self.model(list(inputs), training=False)

        return lambda inputs, state: [t.numpy() for t in call(*inputs, *state)]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Load new weights of the same architecture (a :func:`~genorm.model.build_model` model's
        ``get_weights()``, e.g. after a training epoch) without rebuilding or retracing."""
        self.model.set_weights(weights)
        self._dense_bias = initial_logits_of(self.model, self.config, self.empty_features())

    def empty_features(self) -> np.ndarray | None:
        """The count features of a position without context, from the count tables (None: none given)."""
        counts = getattr(self, "counts", None)
        return counts.tables.config.empty_features() if self.config.context and counts is not None else None

    def initial_state(self, batch: int) -> list:
        """Fresh states for ``batch`` sequences: list of ``(batch, units) float32`` zeros, then (with
        count features) the lanes' count streams."""
        batch = check_positive_int("batch", batch)
        zeros = [np.zeros((batch, n), dtype=np.float32) for n in self._state_sizes]
        return zeros + ([self._counts().initial(batch)] if self.config.context else []) + \
            (self.mixer.initial(batch) if self.mixer is not None else [])

    def _counts(self):
        if self.counts is None:
            raise ConfigError("This network reads count features beside the bases, but no count tables were given: "
                              "load it with its run (genorm.load(RUN)), which holds the tables.")
        return self.counts

    def inputs(self, codes: np.ndarray, state: list) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """``(per-position inputs, recurrent state)`` of one chunk: the codes (and the count features,
        which read the chunk into the count streams of ``state``)."""
        n = len(self._state_sizes)
        arrays = [np.asarray(s, dtype=np.float32) for s in state[:n]]
        if not self.config.context:
            return [codes], arrays
        return [codes, self._counts().features(codes, state[n])], arrays

    # -- lanes (genorm.engine): the recurrent state, and the count streams -----------------
    def lane_bytes(self, bases: int) -> int:
        """Memory of one lane's state after ``bases`` bases (its count stream grows when it updates)."""
        own = 4 * sum(self._state_sizes) + (40 * self.mixer.n_inputs if self.mixer is not None else 0)
        return own + (self.counts.lane_bytes(bases) if self.config.context and self.counts is not None else 0)

    def reset_lanes(self, state: list, rows) -> list:
        n, rows = len(self._state_sizes), list(rows)
        out = [np.array(s, dtype=np.float32) for s in state[:n]]
        for s in out:
            s[rows] = 0.0
        return out + ([self._counts().reset(state[n], rows)] if self.config.context else []) + \
            (self.mixer.reset(state[n + 1:], rows) if self.mixer is not None else [])

    def select_lanes(self, state: list, rows) -> list:
        n, rows = len(self._state_sizes), list(rows)
        return [np.asarray(s)[rows] for s in state[:n]] + \
            ([self._counts().select(state[n], rows)] if self.config.context else []) + \
            (self.mixer.select(state[n + 1:], rows) if self.mixer is not None else [])

    def copy_lane(self, state: list, src: int, dst: int) -> list:
        n = len(self._state_sizes)
        out = [np.array(s) for s in state[:n]]
        for s in out:
            s[dst] = s[src]
        return out + ([self._counts().copy(state[n], src, dst)] if self.config.context else []) + \
            (self.mixer.copy(state[n + 1:], src, dst) if self.mixer is not None else [])

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
            raise invalid("codes", "shape (B, T) with T >= 1", shown=f"shape {codes.shape}")
        n = len(self._state_sizes)
        want = n + bool(self.config.context) + (2 if self.mixer is not None else 0)
        if len(state) != want or any(len(s) != codes.shape[0] for s in state):
            raise ConfigError(f"`state` does not match `codes`: expected {want} arrays of "
                              f"{codes.shape[0]} rows; use initial_state({codes.shape[0]}).")
        inputs, arrays = self.inputs(codes.astype(np.int32), state)
        logits, *new_state = self._call(inputs, arrays)
        logits, rest = self.mix(logits, codes, inputs, list(state[n:]))
        return logits, [np.asarray(s, dtype=np.float32) for s in new_state] + rest

    def mix(self, logits: np.ndarray, codes: np.ndarray, inputs: list[np.ndarray], rest: list) -> tuple[np.ndarray, list]:
        """The network's ``logits`` of a chunk through the online mixer, when there is one:
        ``(logits (B, T, 4) float32, rest of the state)``; ``inputs`` as :meth:`inputs` gave them,
        ``rest``: the state after the recurrent arrays (count streams, then the mixer's)."""
        logits = np.asarray(logits, dtype=np.float32)
        if self.mixer is None:
            return logits, rest
        x = np.concatenate([log_softmax(logits)[:, :, None], order_log_probs(inputs[1], self.config.context // 5)],
                           axis=2)
        mixed, mixer_state = self.mixer.mix(x, codes, rest[1:])
        return mixed.astype(np.float32), [rest[0], *mixer_state]

    def initial_logits(self) -> np.ndarray:
        """``(4,) float32`` logits of base 0 from an empty context: the output layer at the zero state."""
        return self._dense_bias.copy()


def initial_logits_of(network: keras.Model, config: ModelConfig, empty: np.ndarray | None = None) -> np.ndarray:
    """``(4,) float32`` logits of a first base (empty context): the output layer at the zero state,
    plus the direct path of the empty count features ``empty`` (the count tables'
    :meth:`~genorm.counts.CountConfig.empty_features`; default :func:`genorm.model.empty_context`)."""
    bias = network.get_layer("logits").bias
    out = np.asarray(bias, dtype=np.float32).copy() if bias is not None else np.zeros(4, np.float32)
    if config.context:
        kernel = np.asarray(network.get_layer("context_logits").kernel, dtype=np.float32)
        out = out + (empty_context(config) if empty is None else np.asarray(empty, np.float32)) @ kernel
    return out.astype(np.float32)


Stepper = NetworkStepper
"""The name earlier releases used (``genorm.stepper.Stepper``)."""


def _derive(model: keras.Model, config: ModelConfig, source: str, described: str, counts=None) -> NetworkStepper:
    try:
        stepper = NetworkStepper(config, model.get_weights(), source=source).with_counts(counts)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("{described}", described)) from None
    stepper.verify(model, source)
    return stepper


def check_model(model: keras.Model, config: ModelConfig, source: str | None = None,
                described: str = "the configuration", counts=None) -> NetworkStepper:
    """Accept ``model`` as the network ``config`` describes, or raise.

    The network :func:`~genorm.model.build_network` makes for ``config`` must take the model's
    weights and give its one-shot logits when stepped in chunks (:class:`NetworkStepper`).

    Args:
        model: a Keras model, e.g. a run's loaded ``model.keras``.
        config: the architecture it must have (e.g. ``config.json``'s model).
        source: how to name the model in messages (default: ``model <name>``).
        described: how to name ``config`` in messages, e.g. ``"config.json's model"``.
        counts: the :class:`genorm.counts.CountLanes` of a network that reads count features.

    Returns:
        the :class:`NetworkStepper` of the model.

    Raises:
        ConfigError: naming the difference.
    """
    source = source or f"Model {model.name!r}"
    try:
        return _derive(model, config, source, described, counts)
    except ConfigError as exc:
        raise ConfigError(f"{exc} {_REPLACED}") from None


def as_stepper(model, source: str | None = None):
    """A stepper of :mod:`genorm.engine` from what callers pass as "the model": a stepper (returned as
    it is), a loaded or just-trained run (its ``.stepper()``, count tables included) or a Keras model
    (:func:`make_stepper`); None for anything else."""
    if all(hasattr(model, a) for a in ("step", "initial_state", "initial_logits")):
        return model
    if callable(getattr(model, "stepper", None)):
        return model.stepper()
    if isinstance(model, keras.Model):
        return make_stepper(model, source=source)
    return None


def make_stepper(model: keras.Model, source: str | None = None, config: ModelConfig | None = None,
                 counts=None) -> NetworkStepper:
    """A :class:`NetworkStepper` for ``model`` (a snapshot of its current weights).

    Args:
        model: the Keras model.
        source: how to name the model in error messages (e.g. the path of ``model.keras``).
        config: its architecture; default: what its recurrent layers describe
            (:func:`~genorm.model.infer_config`).
        counts: the :class:`genorm.counts.CountLanes` of a network that reads count features.

    Raises:
        ConfigError: the network of that configuration does not take the model's weights, or
            gives other logits than the model.
    """
    source = source or f"Model {model.name!r}"
    config = config or infer_config(model, source)
    return _derive(model, config, source, "the network its layers describe", counts)


__all__ = ["NetworkStepper", "as_stepper", "PROBE", "PROBE_TOLERANCE", "Stepper", "check_model", "initial_logits_of", "make_stepper",
           "probe_inputs"]
