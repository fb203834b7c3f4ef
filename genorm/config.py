"""Configuration of the model and of training: frozen dataclasses, validated on construction.

Kept free of TensorFlow so that ``genorm --help`` and config files are handled instantly;
:mod:`genorm.model` (``ModelConfig``, ``CELLS``) and :mod:`genorm.training.trainer` re-export these names.

>>> TrainConfig(window=1)
Traceback (most recent call last):
...
genorm.errors.ConfigError: Received an invalid value for `window`, expected an integer >= 2, got 1.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genorm.errors import ConfigError
from genorm.validate import (check_bool, check_choice, check_int, check_names, check_number,  # noqa: F401
                             check_positive_int, check_stream_option, invalid)  # (check_positive_int re-exported)
from genorm.validate import MAX_BASES_PER_EPOCH, MAX_SOFT_MASK_WEIGHT, MAX_WALK  # noqa: F401  (re-exported)
from genorm.counts import DEFAULT_MAX_BYTES as COUNT_MAX_BYTES, DEFAULT_ORDERS as COUNT_ORDERS
from genorm.mixer import NETWORK_MIX_RATE

RESUMABLE = ("epochs", "max_time", "patience", "tensorboard", "strategy")
"""Options a resumed run may change (everything else must match the saved configuration)."""

@dataclass(frozen=True)
class Cell:
    """What genorm knows about one recurrent cell: its Keras layer class, weight blocks and state arrays."""

    keras_class: str
    gates: int
    """Weight blocks (GRU: update, reset, candidate; LSTM: input, forget, cell, output)."""
    states: int
    """State arrays a layer carries (LSTM: ``h`` and ``c``)."""


CELL_TABLE = {
    "simple_rnn": Cell("SimpleRNN", gates=1, states=1),
    "gru": Cell("GRU", gates=3, states=1),
    "lstm": Cell("LSTM", gates=4, states=2),
}
"""The one table of the recurrent cells :func:`genorm.model.build_model` knows."""

CELLS = tuple(CELL_TABLE)
"""Recurrent cells :func:`genorm.model.build_model` knows."""

STRATEGIES = ("auto", "one", "mirrored", "multiworker")
"""Distribution strategies (see :mod:`genorm.training.distribute`)."""
FLOAT32_TINY = 1.1754943508222875e-38
"""The smallest normal float32 (``np.finfo(np.float32).tiny``): learning rates below it are 0 in training."""
MAX_CLIPNORM = 1e10
"""The largest ``clipnorm``: a gradient times a larger norm can overflow float32 (3.4e38) before it is divided."""


@dataclass(frozen=True)
class ModelConfig:
    """The architecture of the model.

    Attributes:
        cell: recurrent cell, one of ``"simple_rnn"``, ``"gru"`` (default), ``"lstm"``.
        units: hidden units per recurrent layer (default 128).
        layers: number of stacked recurrent layers (default 2).
        dropout: dropout rate between recurrent layers and before the output layer, in
            ``[0, 1)`` (default 0.0: the genome is large and one pass rarely over-fits).
        context: count features read beside each base (:mod:`genorm.counts`: 5 per order of the
            count models); 0 (default): the plain network. Training sets it from its count models.
        mix: with count features, the step of the online mixer that mixes the network's output with
            the count models' predictions as it reads (:mod:`genorm.mixer`); 0 (default): the
            network's output alone. Training sets it from ``context_mix``.

    >>> ModelConfig(units=-3)
    Traceback (most recent call last):
    ...
    genorm.errors.ConfigError: Received an invalid value for `units`, expected a positive integer, got -3.
    """

    cell: str = "gru"
    units: int = 128
    layers: int = 2
    dropout: float = 0.0
    context: int = 0
    mix: float = 0.0

    def __post_init__(self) -> None:
        check_choice("cell", self.cell, CELLS)
        object.__setattr__(self, "context", check_int("context", self.context, 0, 5 * 64 + 1,
                                                      expected="an integer in [0, 320] (count features)"))
        object.__setattr__(self, "units", check_positive_int("units", self.units))
        object.__setattr__(self, "layers", check_positive_int("layers", self.layers))
        object.__setattr__(self, "dropout", check_number("dropout", self.dropout, 0.0, 1.0, hi_open=True))
        object.__setattr__(self, "mix", check_number("mix", self.mix, 0.0, 1.0))
        if self.mix and not self.context:
            raise ConfigError(f"Received `mix`={self.mix} for a network without count features (context=0): the "
                              "online mixer mixes the network with the count models; use mix=0.")

    def to_dict(self) -> dict:
        """Plain JSON-able dict of the fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys are a :class:`ConfigError`."""
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"Unknown model option(s) {sorted(unknown)}; "
                              f"known: {[f.name for f in dataclasses.fields(cls)]}.")
        return cls(**d)


def parse_duration(value: str | float | int | None) -> float | None:
    """Seconds in a duration like ``"90s"``, ``"10m"``, ``"1h"``, ``"1h30m"`` or a plain number of seconds.

    >>> parse_duration("10m"), parse_duration("1h30m"), parse_duration(45), parse_duration(None)
    (600.0, 5400.0, 45.0, None)
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise invalid("max_time", "a duration like '10m'", value)
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().lower().replace(" ", "")
        parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?:in)?)?(?:(\d+(?:\.\d+)?)s?)?", text)
        if not text or parts is None or not any(parts.groups()):
            raise invalid("max_time", "a duration like '90s', '10m', '1h' or '1h30m'", value)
        h, m, s = (float(g) if g else 0.0 for g in parts.groups())
        seconds = 3600 * h + 60 * m + s
    if not seconds > 0 or not math.isfinite(seconds):
        raise invalid("max_time", "a positive duration", value)
    return seconds


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; saved as ``config.json`` in the run directory.

    The defaults are chosen for a bacterial genome on a 2-core laptop: on E. coli K-12 (4.6 Mb)
    they train a GRU 2×128 on about 60 M bases, which took 12.4 minutes on 2 shared CPU cores
    (test split: 1.853 bits/base, 39.1 % accuracy; see docs/training.md).

    Attributes:
        model: the architecture (:class:`~genorm.model.ModelConfig`, default GRU 2×128).
        window: input window length ``L`` in bases (>= 2). Default 200.
        batch_size: windows per batch. Default 128.
        epochs: maximum number of epochs. Default 30.
        bases_per_epoch: input bases per epoch (an "epoch" is this many bases of random
            windows, then a validation pass). Default 2,000,000; None: about one pass over the
            training split.
        learning_rate: Adam's initial learning rate. Default 2e-3.
        clipnorm: gradient clipping by global norm (per variable, Keras ``clipnorm``). Default 1.0.
        lr_factor: learning-rate multiplier when validation stops improving. Default 0.5.
        lr_patience: epochs without validation improvement before the learning rate is cut.
            Default 2.
        min_learning_rate: lower bound of the learning rate. Default 1e-5.
        patience: epochs without validation improvement before training stops. Default 5.
        val_fraction: validation fraction at the end of each record, before the test fraction
            (see :func:`genorm.genome.splits.make_splits`). Default 0.05.
        test_fraction: test fraction at the end of each record. Default 0.10.
        val_records: record names that go whole into validation.
        test_records: record names that go whole into test.
        records: record names to read; None: all records.
        iupac: IUPAC ambiguity codes (R Y S W K M B D H V): ``"n"`` reads them as N (counted),
            ``"error"`` rejects them.
        u_as_t: read U (RNA) as T instead of rejecting it.
        max_val_bases: validation bases per epoch: the whole validation split when it is
            smaller, otherwise a fixed random sample of this many. Default 2,000,000.
        rc_augment: reverse-complement half of the training windows. Default False.
        soft_mask_weight: loss weight of soft-masked (lower-case) targets, in ``[0, 1000]``
            (:data:`MAX_SOFT_MASK_WEIGHT`). Default 1.0. 0 ignores them; a genome with no other
            target is then an error before training (nothing would be learned).
        max_n_fraction: skip windows that are more than this fraction N. Default 0.5.
        tbptt: stateful training (truncated back-propagation through time): each row of a batch
            walks consecutive windows and carries its recurrent state from one batch to the next
            (:mod:`genorm.batches.walks`). Default False: independent windows, each from a zero state.
        walk: with ``tbptt``, reset a row's state and re-seat it at least every this many windows,
            in ``[1, 1000]``. Default 50.
        max_time: wall-clock budget for training per invocation, e.g. ``"90s"``, ``"10m"``,
            ``"1h"``: training stops cleanly and keeps the best model; None: no limit.
        seed: seeds weights, window sampling and the split. Default 0.
        tensorboard: write TensorBoard logs to ``<run>/logs``. Default False.
        baselines: fit and save the Markov / composition baselines. Default True.
        context_orders: orders of the count models whose predictions the network reads beside
            each base (:mod:`genorm.counts`; built from the training split, leave-one-out in
            training, predict-then-update when used). Default 1,2,3,4,6,8,11,12,14,16,18,20,24;
            empty (``--no-context``): the plain network.
        context_strands: ``"both"`` (default: every occurrence also counts its reverse complement,
            so inverted repeats count) or ``"forward"``.
        context_max_bytes: memory bound of all count tables, in bytes. Default 2 GiB (the tables
            are smaller for a smaller genome: at most about 4 cells per training base and order).
        context_mix: the step of the online mixer (:mod:`genorm.mixer`) that mixes the trained
            network's output with the count models' predictions wherever the model is used, learning
            from each base after predicting it. Default 0.0005 (chosen on validation); 0
            (``--no-mix``): the network's output alone.
        strategy: ``"auto"`` (default), ``"one"``, ``"mirrored"`` (all local GPUs) or
            ``"multiworker"`` (``TF_CONFIG``): how
            training is spread over devices and machines (:mod:`genorm.training.distribute`).
            ``batch_size``, ``learning_rate`` and ``bases_per_epoch`` mean the same whatever
            the number of replicas: ``batch_size`` is the global batch of one step.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    window: int = 200
    batch_size: int = 128
    epochs: int = 30
    bases_per_epoch: int | None = 2_000_000
    learning_rate: float = 2e-3
    clipnorm: float = 1.0
    lr_factor: float = 0.5
    lr_patience: int = 2
    min_learning_rate: float = 1e-5
    patience: int = 5
    val_fraction: float = 0.05
    test_fraction: float = 0.10
    val_records: tuple[str, ...] | None = None
    test_records: tuple[str, ...] | None = None
    records: tuple[str, ...] | None = None
    iupac: str = "n"
    u_as_t: bool = False
    max_val_bases: int = 2_000_000
    rc_augment: bool = False
    soft_mask_weight: float = 1.0
    max_n_fraction: float = 0.5
    tbptt: bool = False
    walk: int = 50
    max_time: str | None = None
    seed: int = 0
    tensorboard: bool = False
    baselines: bool = True
    context_orders: tuple[int, ...] = COUNT_ORDERS
    context_strands: str = "both"
    context_max_bytes: int = COUNT_MAX_BYTES
    context_mix: float = NETWORK_MIX_RATE
    strategy: str = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            object.__setattr__(self, "model", ModelConfig.from_dict(self.model))
        if not isinstance(self.model, ModelConfig):
            raise invalid("model", "a ModelConfig", self.model)
        # the window stream's options: the rules StreamConfig applies too (genorm.validate.STREAM_OPTIONS)
        for name in ("window", "batch_size", "walk", "soft_mask_weight", "max_n_fraction", "rc_augment"):
            object.__setattr__(self, name, check_stream_option(name, getattr(self, name)))
        if self.bases_per_epoch is not None:
            object.__setattr__(self, "bases_per_epoch", check_stream_option("bases_per_epoch", self.bases_per_epoch))
        for name in ("epochs", "lr_patience", "patience", "max_val_bases"):
            object.__setattr__(self, name, check_positive_int(name, getattr(self, name)))
        object.__setattr__(self, "seed", check_int("seed", self.seed, 0, 2**32, expected="an integer in [0, 2**32)"))
        for name, lo, hi, expected in (("learning_rate", 0, 10, "a positive number below 10"),
                                       ("clipnorm", 0, math.inf, "a positive number"),
                                       ("min_learning_rate", 0, 1, "a positive number below 1")):
            object.__setattr__(self, name, check_number(name, getattr(self, name), lo, hi, lo_open=True,
                                                        hi_open=True, expected=expected))
        # training runs in float32: a rate below its smallest normal number is 0 there (nothing is learnt),
        # and a clip norm that large overflows the clipped gradient (g × clipnorm) to inf, then NaN
        for name, expected in (("learning_rate", "a positive number below 10"),
                               ("min_learning_rate", "a positive number below 1")):
            if getattr(self, name) < FLOAT32_TINY:
                raise invalid(name, f"{expected} and at least {FLOAT32_TINY:.3g} (training runs in float32, "
                                    "where a smaller rate is 0 and nothing is learnt)", getattr(self, name))
        if self.clipnorm > MAX_CLIPNORM:
            raise invalid("clipnorm", f"a positive number up to {MAX_CLIPNORM:g} (float32 gradients times a larger "
                                      f"norm overflow to NaN; {MAX_CLIPNORM:g} already means no clipping)",
                          self.clipnorm)
        for name, lo_open, hi_open in (("lr_factor", True, True), ("val_fraction", False, True),
                                       ("test_fraction", False, True)):
            object.__setattr__(self, name, check_number(name, getattr(self, name), 0.0, 1.0, lo_open=lo_open,
                                                        hi_open=hi_open))
        check_choice("iupac", self.iupac, ("n", "error"), expected="'n' or 'error'")
        for name in ("u_as_t", "tensorboard", "baselines", "tbptt"):
            object.__setattr__(self, name, check_bool(name, getattr(self, name)))
        for name in ("val_records", "test_records", "records"):
            object.__setattr__(self, name, check_names(name, getattr(self, name)))
        check_choice("strategy", self.strategy, STRATEGIES)
        self._check_context()
        parse_duration(self.max_time)
        if self.max_time is not None and not isinstance(self.max_time, str):
            # positional, never "1e+20s", which the duration syntax would not read back
            object.__setattr__(self, "max_time", np.format_float_positional(float(self.max_time), trim="-") + "s")

    def _check_context(self) -> None:
        orders = () if self.context_orders is None else self.context_orders
        if isinstance(orders, str):
            orders = [x for x in orders.replace(" ", "").split(",") if x]
        if not isinstance(orders, (list, tuple)):
            raise invalid("context_orders", "a list of orders such as 1,2,4,8,16", orders)
        orders = tuple(int(x) if isinstance(x, str) and x.isdigit() else x for x in orders)
        object.__setattr__(self, "context_orders", orders)
        if self.context_strands == "forward" and orders and self.rc_augment:
            raise ConfigError("--rc-augment reads reverse-strand windows, whose occurrences forward-strand count models "
                              "do not hold (their leave-one-out features would be wrong): use --context-strands both, "
                              "or train without --rc-augment.")
        check_choice("context_strands", self.context_strands, ("both", "forward"))
        object.__setattr__(self, "context_max_bytes", check_positive_int("context_max_bytes", self.context_max_bytes))
        count_config = self.count_config()  # checks the orders
        want = 5 * len(count_config.orders) if count_config is not None else 0  # the model follows the orders
        object.__setattr__(self, "context_mix", check_number("context_mix", self.context_mix, 0.0, 1.0))
        object.__setattr__(self, "model", dataclasses.replace(self.model, context=want,
                                                              mix=self.context_mix if want else 0.0))

    def count_config(self):
        """The :class:`~genorm.counts.CountConfig` of the count models the network reads, or None (plain network)."""
        if not self.context_orders:
            return None
        from genorm.counts import CountConfig

        return CountConfig(orders=tuple(self.context_orders), both_strands=self.context_strands == "both",
                           max_bytes=self.context_max_bytes)

    # -- derived --------------------------------------------------------------------------
    @property
    def max_seconds(self) -> float | None:
        """``max_time`` in seconds."""
        return parse_duration(self.max_time)

    def stream_config(self, **changes):
        """The :class:`~genorm.batches.dataset.StreamConfig` of the training stream (``changes`` override)."""
        from genorm.batches.dataset import StreamConfig

        kw = dict(window=self.window, batch_size=self.batch_size, bases_per_epoch=self.bases_per_epoch,
                  shuffle=True, rc_augment=self.rc_augment, max_n_fraction=float(self.max_n_fraction),
                  soft_mask_weight=float(self.soft_mask_weight), walk=self.walk if self.tbptt else None)
        kw.update(changes)
        return StreamConfig(**kw)

    def policy(self):
        from genorm.encoding import EncodingPolicy

        return EncodingPolicy(iupac=self.iupac, u_as_t=self.u_as_t)

    # -- (de)serialisation ----------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain JSON-able dict; ``model`` nested."""
        d = dataclasses.asdict(self)
        for name in ("val_records", "test_records", "records"):
            if d[name] is not None:
                d[name] = list(d[name])
        d["context_orders"] = list(d["context_orders"])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Inverse of :meth:`to_dict`; missing keys take their defaults, unknown keys are an error."""
        if not isinstance(d, dict):
            raise ConfigError(f"A training configuration must be a JSON object, got {type(d).__name__}.")
        known = {f.name for f in dataclasses.fields(cls)}
        model_keys = {f.name for f in dataclasses.fields(ModelConfig)}
        d = dict(d)
        model = d.pop("model", None) or {}
        if not isinstance(model, dict):
            raise invalid("model", "a JSON object of model options (cell, units, layers, dropout)", model)
        model = dict(model)
        for k in list(d):  # allow flat model keys ("cell": "lstm") in hand-written config files
            if k in model_keys and k not in known:
                model[k] = d.pop(k)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"Unknown training option(s) {unknown}. Known options: {sorted(known | model_keys)}.")
        return cls(model=ModelConfig.from_dict(model), **d)

    @classmethod
    def from_saved(cls, d: Any, source) -> TrainConfig:
        """:meth:`from_dict` of the options a run directory saved in ``source`` (its ``config.json``);
        invalid options there are a :class:`~genorm.errors.RunDirError` naming the file."""
        from genorm.errors import RunDirError

        if isinstance(d, dict) and "context_orders" not in d:  # saved before count models: the plain network
            d = {**d, "context_orders": []}
        if isinstance(d, dict) and "context_mix" not in d:  # saved before the online mixer: the network alone
            d = {**d, "context_mix": 0.0}
        try:
            return cls.from_dict(d)
        except (ConfigError, TypeError) as exc:
            raise RunDirError(f"{source} holds an invalid configuration: {exc}") from None

    def replace(self, **changes) -> TrainConfig:
        """A copy with some fields changed (model fields may be given flat: ``units=64``)."""
        model_keys = {f.name for f in dataclasses.fields(ModelConfig)}
        model_changes = {k: changes.pop(k) for k in list(changes) if k in model_keys}
        if model_changes:
            changes["model"] = dataclasses.replace(self.model, **model_changes)
        return dataclasses.replace(self, **changes)
