"""genorm.validate: every option is checked through one template."""

import math

import numpy as np
import pytest

from genorm.errors import ConfigError
from genorm.validate import check_int, check_number, check_positive_int, invalid, is_int, is_number


def test_message_template():
    assert str(invalid("units", "a positive integer", -3)) == \
        "Received an invalid value for `units`, expected a positive integer, got -3."


@pytest.mark.parametrize("value, ok", [(3, True), (np.int64(3), True), (True, False), (3.0, False), ("3", False)])
def test_is_int(value, ok):
    assert is_int(value) is ok


def test_integer_checks():
    assert check_int("seed", 0, 0) == 0
    assert check_positive_int("units", np.int32(8)) == 8
    with pytest.raises(ConfigError, match=r"`seed`, expected an integer >= 0, got -1"):
        check_int("seed", -1, 0)
    with pytest.raises(ConfigError, match=r"`units`, expected a positive integer, got 0"):
        check_positive_int("units", 0)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 10**400, True, "1"])
def test_check_number_refuses_what_is_not_a_finite_number(value):
    with pytest.raises(ConfigError, match=r"Received an invalid value for `w`"):
        check_number("w", value, 0, 1000)


def test_check_number_bounds_and_open_ends():
    assert check_number("w", 1000, 0, 1000) == 1000.0
    assert is_number(np.float32(0.5)) and not is_number(False)
    with pytest.raises(ConfigError, match=r"expected a number in \(0, 10\), got 10"):
        check_number("lr", 10, 0, 10, lo_open=True, hi_open=True)
    with pytest.raises(ConfigError, match=r"expected a finite number >= 0, got -1"):
        check_number("t", -1, 0)
