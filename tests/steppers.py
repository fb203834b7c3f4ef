"""Tiny NumPy steppers (the Stepper protocol: initial_state, initial_logits, step) shared by
tests/test_evaluate.py and tests/test_lanes.py."""

from __future__ import annotations

import numpy as np

P_CONST = np.array([0.1, 0.2, 0.3, 0.4])


class ConstantStepper:
    """Always predicts P_CONST."""

    def initial_state(self, batch):
        return [np.zeros((batch, 1), np.float32)]

    def initial_logits(self):
        return np.log(P_CONST).astype(np.float32)

    def step(self, codes, state):
        return np.broadcast_to(self.initial_logits(), (*codes.shape, 4)).copy(), state


class ElmanStepper:
    """A tiny NumPy recurrence h = tanh(x W + h U), logits = h V + c (one-hot N is zeros)."""

    def __init__(self, units=5, seed=0):
        rng = np.random.default_rng(seed)
        self.w, self.u = rng.normal(size=(4, units)), rng.normal(size=(units, units)) * 0.6
        self.v, self.c = rng.normal(size=(units, 4)), rng.normal(size=4)
        self.calls = []

    def initial_state(self, batch):
        return [np.zeros((batch, self.u.shape[0]))]

    def initial_logits(self):
        return self.c.astype(np.float32)

    def step(self, codes, state):
        self.calls.append(codes.shape)
        onehot = np.vstack([np.eye(4), np.zeros((1, 4))])[codes]
        h, out = state[0], []
        for t in range(codes.shape[1]):
            h = np.tanh(onehot[:, t] @ self.w + h @ self.u)
            out.append(h @ self.v + self.c)
        return np.stack(out, axis=1).astype(np.float32), [h]

    def one_shot(self, codes):
        """Logits (L, 4) of every base of one sequence, base 0 from the empty context."""
        first = self.initial_logits()[None]
        if len(codes) == 1:
            return first
        logits, _ = self.step(np.asarray(codes)[None, :-1], self.initial_state(1))
        return np.vstack([first, logits[0]])


class LastTwoStepper:
    """Logits depend only on the last two inputs (state = those two codes, 5 = none yet)."""

    def initial_state(self, batch):
        return [np.full((batch, 2), 5.0)]

    def initial_logits(self):
        return np.zeros(4, np.float32)

    def step(self, codes, state):
        prev = state[0].copy()
        out = np.zeros((*codes.shape, 4), np.float32)
        for t in range(codes.shape[1]):
            prev = np.stack([prev[:, 1], codes[:, t]], axis=1)
            out[:, t, 0] = prev[:, 0] * 6 + prev[:, 1]
        return out, [prev]
