"""Online mixing, as a compressor's mixer: predictions combined geometrically, weights learnt as it reads.

An :class:`OnlineMixer` combines ``I`` predictions of the next base (log-probabilities) into one,
``P(b) ∝ exp(Σ_i w_i log p_i(b))``, with one weight vector per lane of :mod:`genorm.engine`. Each
base is predicted first; then the weights take one step of the gradient of its log loss,
``w_i += rate * (log p_i(y) - Σ_b P(b) log p_i(b))`` (GeCo3's and cmix's mixers learn the same way).
Nothing is learnt before a base is predicted, so a lane's predictions depend only on the bases it
has read; stepping in chunks equals stepping base by base exactly (the last prediction of a chunk
meets its base as the first code of the next).

Two predictors use it:

- :class:`CountStepper`: the count models mixed without a network (weights start equal), the
  report's ``counts, updating`` / ``counts, static`` rows;
- the network's own output mixed with the count models' (:class:`genorm.stepper.NetworkStepper`
  with ``ModelConfig.mix > 0``): the weights start at 1 on the network and 0 on every order, so
  before it has read anything the mixture *is* the network; as it reads, the weights move to the
  orders that predict this sequence well.

>>> mixer = OnlineMixer([1.0, 0.0], rate=0.5)
>>> x = np.log(np.array([[[[0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7]]] * 3]))  # (B=1, T=3, I=2, 4)
>>> out, state = mixer.mix(x, np.array([[3, 3, 3]]), mixer.initial(1))
>>> np.exp(out[0, 0]).round(2).tolist()  # the first input alone
[0.7, 0.1, 0.1, 0.1]
>>> bool(state[0][0, 1] > 0)  # base T was read: the second input gains weight
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from genorm.counts import CountLanes, CountTables
from genorm.encoding import CODE_BITS, N
from genorm.validate import check_number

MIX_LEARNING_RATE = 0.002
"""Step of :class:`CountStepper`'s weights per base (chosen on the validation splits of E. coli and the fly)."""

NETWORK_MIX_RATE = 0.0005
"""Default step of the mixer of the network's output with the count orders (``--context-mix``),
chosen on the validation splits of the three sample genomes at 6 M training bases, of the steps
0.0005, 0.001 and 0.002: the one that gains on all three (fly 0.9779 → 0.9758 bits/base, vertebrate
segments 1.7807 → 1.7784, E. coli 1.8056 → 1.8051); 0.001 gains 0.0004 more on the fly and the
vertebrates but 0.0001 on E. coli, and 0.002 loses on E. coli (1.8074)."""


class OnlineMixer:
    """Geometric mixing of ``len(initial_weights)`` predictions, learnt online per lane.

    State of ``B`` lanes: ``[weights (B, I) float64, pending (B, I, 4)]``: the weights, and the
    inputs of each lane's last prediction, which learns from the next chunk's first code (NaN: none).
    """

    def __init__(self, initial_weights: Sequence[float], rate: float = NETWORK_MIX_RATE):
        self.w0 = np.asarray(initial_weights, np.float64)
        self.rate = check_number("rate", rate, 0)

    @property
    def n_inputs(self) -> int:
        return self.w0.size

    def initial(self, batch: int) -> list:
        return [np.tile(self.w0, (int(batch), 1)), np.full((int(batch), self.n_inputs, 4), np.nan)]

    @staticmethod
    def _predict(w: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``(B, 4)`` probabilities of the mixture of ``x (B, I, 4)`` with weights ``w (B, I)``."""
        z = np.matmul(w[:, None, :], x)[:, 0]
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        return p

    @staticmethod
    def _learn(w: np.ndarray, x: np.ndarray, p: np.ndarray, given: np.ndarray, step: np.ndarray) -> None:
        """One step of each lane's weights (in place): ``given (B, I)`` the inputs' log-probabilities
        of the base that came, ``step (B,)`` the rate, or 0 for a lane that learns nothing."""
        w += step[:, None] * (given - np.matmul(x, p[:, :, None])[..., 0])

    def mix(self, inputs: np.ndarray, codes: np.ndarray, state: list) -> tuple[np.ndarray, list]:
        """Mix one chunk.

        Args:
            inputs: ``(B, T, I, 4)`` log-probabilities: ``inputs[:, t]`` predict the base after ``codes[:, t]``.
            codes: ``(B, T)`` the chunk's codes (0-3 bases; 4-7 N: nothing is learnt from them).
            state: from :meth:`initial` or the previous :meth:`mix`.

        Returns:
            ``(log-probabilities (B, T, 4) float64, new state)``.
        """
        x_all = np.asarray(inputs, np.float64)
        codes = np.bitwise_and(np.asarray(codes), CODE_BITS).astype(np.int64)
        w, pending = np.array(state[0]), np.asarray(state[1])
        B, T = codes.shape
        # the previous chunk's last prediction meets its base, the first code of this chunk
        first = codes[:, 0]
        ready = (first < 4) & ~np.isnan(pending[:, 0, 0])
        if ready.any():
            x = np.where(ready[:, None, None], pending, 0.0)
            given = np.take_along_axis(x, np.minimum(first, 3)[:, None, None], axis=2)[..., 0]
            self._learn(w, x, self._predict(w, x), given, ready * self.rate)
        # what each prediction learns from, gathered for the whole chunk: the log-probabilities each
        # input gave the next base, and whether that base is A/C/G/T (N teaches nothing)
        target = np.concatenate([codes[:, 1:], np.full((B, 1), N)], axis=1)
        step = (target < 4) * self.rate
        given = np.take_along_axis(x_all, np.minimum(target, 3)[:, :, None, None], axis=3)[..., 0]  # (B, T, I)
        out = np.empty((B, T, 4), np.float64)
        for t in range(T):
            x = x_all[:, t]
            out[:, t] = p = self._predict(w, x)
            if t + 1 < T:
                self._learn(w, x, p, given[:, t], step[:, t])
        return np.log(out), [w, x_all[:, -1].copy()]

    def reset(self, state: list, rows) -> list:
        rows = list(rows)
        w, pending = np.array(state[0]), np.array(state[1])
        w[rows], pending[rows] = self.w0, np.nan
        return [w, pending]

    def select(self, state: list, rows) -> list:
        rows = list(rows)
        return [np.asarray(state[0])[rows], np.asarray(state[1])[rows]]

    def copy(self, state: list, src: int, dst: int) -> list:
        w, pending = np.array(state[0]), np.array(state[1])
        w[dst], pending[dst] = w[src], pending[src]
        return [w, pending]


def order_log_probs(features: np.ndarray, n_orders: int) -> np.ndarray:
    """``(B, T, n_orders, 4)``: each order's log-probabilities, the first four of its five features
    (:func:`genorm.counts.features_from_counts`)."""
    f = np.asarray(features)
    return f.reshape(*f.shape[:-1], n_orders, 5)[..., :4]


class CountStepper:
    """The counts mixed without a network, as a stepper of :mod:`genorm.engine`: the count models'
    predictions mixed by an :class:`OnlineMixer` whose weights start equal. The counts update as
    the lane reads (``update=True``) or stay the training split's.

    >>> from genorm.counts import CountConfig
    >>> tables = CountTables.build([np.array([0, 1, 2, 3] * 5, np.uint8)], CountConfig(orders=(1, 2)))
    >>> stepper = CountStepper(tables)
    >>> logits, state = stepper.step(np.array([[0, 1, 2]]), stepper.initial_state(1))
    >>> int(np.argmax(logits[0, 0]))  # after A: C
    1
    """

    def __init__(self, tables: CountTables, update: bool = True, learning_rate: float = MIX_LEARNING_RATE):
        self.lanes = CountLanes(tables, update)
        orders = len(tables.orders)
        self.mixer = OnlineMixer(np.full(orders, 1.0 / orders), learning_rate)

    def initial_state(self, batch: int) -> list:
        """``[count streams, mixer weights, mixer pending]``."""
        return [self.lanes.initial(batch), *self.mixer.initial(batch)]

    def initial_logits(self) -> np.ndarray:
        return np.full(4, np.log(0.25), np.float32)

    def lane_bytes(self, bases: int) -> int:
        return self.lanes.lane_bytes(bases)

    def step(self, codes: np.ndarray, state: list) -> tuple[np.ndarray, list]:
        codes = np.bitwise_and(np.asarray(codes), CODE_BITS).astype(np.int64)
        counts = self.lanes.counts(codes, state[0]).astype(np.float64)
        alpha = self.lanes.tables.config.alpha
        logp = np.log((counts + alpha) / (counts.sum(-1, keepdims=True) + 4 * alpha))  # (B, T, O, 4)
        out, mixed = self.mixer.mix(logp, codes, state[1:])
        return out.astype(np.float32), [state[0], *mixed]

    def reset_lanes(self, state: list, rows) -> list:
        return [self.lanes.reset(state[0], rows), *self.mixer.reset(state[1:], rows)]

    def select_lanes(self, state: list, rows) -> list:
        return [self.lanes.select(state[0], list(rows)), *self.mixer.select(state[1:], rows)]

    def copy_lane(self, state: list, src: int, dst: int) -> list:
        return [self.lanes.copy(state[0], src, dst), *self.mixer.copy(state[1:], src, dst)]


__all__ = ["CountStepper", "MIX_LEARNING_RATE", "NETWORK_MIX_RATE", "OnlineMixer", "order_log_probs"]
