"""Checks of option values at the public boundary, with one message template.

Every failed check is a :class:`~genorm.errors.ConfigError` reading "Received an invalid value
for `name`, expected ..., got ...", the Keras template.

>>> check_int("window", 200, 2)
200
>>> check_positive_int("units", -3)
Traceback (most recent call last):
...
genorm.errors.ConfigError: Received an invalid value for `units`, expected a positive integer, got -3.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from genorm.errors import ConfigError, GenormError


def invalid(name: str | tuple[str, ...], expected: str, got: Any = None, *, shown: str | None = None,
            error: type[GenormError] = ConfigError) -> GenormError:
    """The error for option ``name``: what was ``expected`` and what was ``got``; the one place the message is
    written.

    ``name`` may be several names (``("codes", "targets", "mask")`` reads "`codes`, `targets` or `mask`");
    ``shown`` replaces ``repr(got)`` when the value is better described ("shape (3, 4)"); ``error`` is the class
    raised (a :class:`~genorm.errors.ConfigError` unless a caller documents another, such as ``SplitError``).

    >>> invalid("codes", "shape (B, T) with T >= 1", shown="shape (3,)")
    ConfigError('Received an invalid value for `codes`, expected shape (B, T) with T >= 1, got shape (3,).')
    >>> str(invalid(("a", "b"), "positive integers", shown="0/1"))
    'Received an invalid value for `a` or `b`, expected positive integers, got 0/1.'
    """
    names = [name] if isinstance(name, str) else list(name)
    what = " or ".join(filter(None, [", ".join(f"`{n}`" for n in names[:-1]), f"`{names[-1]}`"]))
    got = repr(got) if shown is None else shown
    return error(f"Received an invalid value for {what}, expected {expected}, got {got}.")


def is_int(value: Any) -> bool:
    """True for Python and NumPy integers, not for booleans."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_int(name: str, value: Any, minimum: int, below: int | None = None, *, expected: str | None = None) -> int:
    """``value`` as an int if it is an integer >= ``minimum`` (and < ``below`` when given); ``expected``
    replaces the generated description in the message."""
    if not is_int(value) or value < minimum or (below is not None and value >= below):
        raise invalid(name, expected or (f"an integer in [{minimum}, {below})" if below is not None
                                         else f"an integer >= {minimum}"), value)
    return int(value)


def check_choice(name: str, value: Any, choices, *, expected: str | None = None) -> Any:
    """``value`` if it is one of ``choices``.

    >>> check_choice("cell", "rnn", ("gru", "lstm"))
    Traceback (most recent call last):
    ...
    genorm.errors.ConfigError: Received an invalid value for `cell`, expected one of gru, lstm, got 'rnn'.
    """
    if not isinstance(value, str) or value not in choices:
        raise invalid(name, expected or "one of " + ", ".join(choices), value)
    return value


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a bool if it is a Python or NumPy boolean (not 0/1, not "no")."""
    if not isinstance(value, (bool, np.bool_)):
        raise invalid(name, "true or false", value)
    return bool(value)


def check_names(name: str, value: Any) -> tuple[str, ...] | None:
    """``value`` (one name or a non-empty list of names) as a tuple of names; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(x, str) for x in value):
        raise invalid(name, "a list of record names", value)
    if not value:
        raise invalid(name, "at least one record name (or leave it unset)", value)
    return tuple(value)


def check_positive_int(name: str, value: Any) -> int:
    """``value`` as an int if it is a positive integer."""
    if not is_int(value) or value <= 0:
        raise invalid(name, "a positive integer", value)
    return int(value)


def is_number(value: Any) -> bool:
    """True for Python and NumPy ints and floats, not for booleans (NaN and infinities included)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _interval(lo: float, hi: float, lo_open: bool, hi_open: bool) -> str:
    if hi == math.inf:
        return f"finite number {'>' if lo_open else '>='} {lo:g}"
    return f"number in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"


def check_number(name: str, value: Any, lo: float, hi: float = math.inf, *, lo_open: bool = False,
                 hi_open: bool = False, expected: str | None = None) -> float:
    """``value`` as a float if it is a finite number in ``[lo, hi]`` (ends open when asked).

    NaN and the infinities are never accepted, nor an integer too large for a float. ``expected``
    replaces the generated description ("a number in [0, 1)", "a finite number >= 0") in the message.

    >>> check_number("soft_mask_weight", 0.5, 0, 1000)
    0.5
    >>> check_number("learning_rate", float("nan"), 0, 10, lo_open=True)
    Traceback (most recent call last):
    ...
    genorm.errors.ConfigError: Received an invalid value for `learning_rate`, expected a number in (0, 10], got nan.
    """
    ok = is_number(value)
    if ok:
        try:
            x = float(value)
        except OverflowError:  # an int beyond float range
            ok = False
        else:
            ok = math.isfinite(x) and (lo < x if lo_open else lo <= x) and (x < hi if hi_open else x <= hi)
    if not ok:
        raise invalid(name, expected or f"a {_interval(lo, hi, lo_open, hi_open)}", value)
    return x


# -- the window stream's options: one rule each, for TrainConfig and StreamConfig alike ---------------------------

MAX_SOFT_MASK_WEIGHT = 1000.0
"""Upper bound of ``soft_mask_weight`` (relative to 1 for an upper-case target): a larger weight only
makes the loss overflow float32 (``1e308`` gave NaN metrics), it cannot mean anything more."""

MAX_BASES_PER_EPOCH = 10**12
"""Upper bound of ``bases_per_epoch``: a larger epoch would not reach its validation pass and backup in days."""

MAX_WALK = 1000
"""Upper bound of ``walk``: batch ``k`` is rebuilt by replaying up to ``walk - 1`` batches of NumPy
arithmetic (:mod:`genorm.batches.walks`), and a GRU's memory fades long before 1000 windows."""


def _check_bases_per_epoch(value: Any) -> int:
    n = check_positive_int("bases_per_epoch", value)
    if n > MAX_BASES_PER_EPOCH:  # an epoch that never ends: no validation, no backup
        raise invalid("bases_per_epoch", f"a positive integer up to {MAX_BASES_PER_EPOCH:.0e} (train longer with more "
                      "epochs)", value)
    return n


STREAM_OPTIONS = {
    "window": lambda v: check_int("window", v, 2),
    "batch_size": lambda v: check_positive_int("batch_size", v),
    "bases_per_epoch": _check_bases_per_epoch,
    "shuffle": lambda v: check_bool("shuffle", v),
    "rc_augment": lambda v: check_bool("rc_augment", v),
    "max_n_fraction": lambda v: check_number("max_n_fraction", v, 0.0, 1.0),
    "soft_mask_weight": lambda v: check_number("soft_mask_weight", v, 0.0, MAX_SOFT_MASK_WEIGHT),
    "walk": lambda v: check_int("walk", v, 1, MAX_WALK + 1, expected=f"an integer in [1, {MAX_WALK}] (windows)"),
}
"""The rule of each option that :class:`~genorm.config.TrainConfig` and
:class:`~genorm.batches.windows.StreamConfig` share (``bases_per_epoch`` and ``walk`` may be None in a
StreamConfig: the rule is for a value)."""


def check_stream_option(name: str, value: Any) -> Any:
    """``value`` of the window-stream option ``name``, normalised (int, float or bool), under the one rule that
    both configurations apply (:data:`STREAM_OPTIONS`).

    >>> check_stream_option("batch_size", 0)
    Traceback (most recent call last):
    ...
    genorm.errors.ConfigError: Received an invalid value for `batch_size`, expected a positive integer, got 0.
    """
    return STREAM_OPTIONS[name](value)


class Brief:
    """A value shown in a message by a short repr (a list of a million letters is not printed)."""

    def __init__(self, value):
        self.value = value

    def __repr__(self) -> str:
        import reprlib

        return reprlib.repr(self.value)


def check_sequence(name: str, seq: Any):
    """``seq`` (a SeqRecord's ``.seq``) if it is one of the documented input types: ``str``, ``bytes``,
    ``Bio.Seq.Seq`` / ``MutableSeq`` with defined bases, or an array of codes; anything else (None, a number,
    a list) is refused rather than read as DNA through ``str()``. The content is checked by the encoder.

    >>> check_sequence("seq", float("nan"))
    Traceback (most recent call last):
    ...
    genorm.errors.ConfigError: Received an invalid value for `seq`, expected a string, bytes, Bio.Seq.Seq, SeqRecord or a 1-D integer array of codes 0-4, got nan.
    """
    from Bio.Seq import MutableSeq, Seq
    from Bio.SeqRecord import SeqRecord

    if isinstance(seq, SeqRecord):
        seq = seq.seq
    if not isinstance(seq, (str, bytes, np.ndarray, Seq, MutableSeq)):
        raise invalid(name, "a string, bytes, Bio.Seq.Seq, SeqRecord or a 1-D integer array of codes 0-4",
                      Brief(seq))
    if isinstance(seq, Seq) and not seq.defined and len(seq) > 0:
        raise invalid(name, f"a sequence whose bases are defined (this Bio.Seq.Seq holds only its length, "
                            f"{len(seq):,})", seq)
    return seq


def check_path(name: str, value: Any, what: str = "a path") -> Any:
    """``value`` if it is a path (``str`` or ``os.PathLike``); None, numbers and bytes are refused by name.

    >>> check_path("run_dir", None, "the path of a run directory")
    Traceback (most recent call last):
    ...
    genorm.errors.ConfigError: Received an invalid value for `run_dir`, expected the path of a run directory (str or os.PathLike), got None.
    """
    import os

    if not isinstance(value, (str, os.PathLike)) or (isinstance(value, str) and not value):
        raise invalid(name, f"{what} (str or os.PathLike)", Brief(value))
    return value
