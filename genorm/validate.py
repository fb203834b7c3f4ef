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


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int if it is an integer >= ``minimum``."""
    if not is_int(value) or value < minimum:
        raise invalid(name, f"an integer >= {minimum}", value)
    return int(value)


def check_positive_int(name: str, value: Any) -> int:
    """``value`` as an int if it is a positive integer."""
    if not is_int(value) or value <= 0:
        raise invalid(name, "a positive integer", value)
    return int(value)


def check_number(name: str, value: Any, lo: float, hi: float = math.inf) -> float:
    """``value`` as a float if it is a number in ``[lo, hi]`` (NaN is not)."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if not ok or not lo <= float(value) <= hi:
        bound = f"in [{lo:g}, {hi:g}]" if hi != math.inf else f">= {lo:g}"
        raise invalid(name, f"a number {bound}", value)
    return float(value)
