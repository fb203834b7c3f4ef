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

from genorm.errors import ConfigError


def invalid(name: str, expected: str, got: Any) -> ConfigError:
    """The error for option ``name``: what was ``expected`` and what was ``got``."""
    return ConfigError(f"Received an invalid value for `{name}`, expected {expected}, got {got!r}.")


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
