"""genorm.plots: figure formats are checked before any work."""

import pytest

from genorm.errors import ConfigError
from genorm.plots import plot_format


@pytest.mark.parametrize("path, fmt", [("r.png", "png"), ("R.PDF", "pdf"), ("r.svg", "svg"), ("report", "png")])
def test_plot_format_from_the_suffix(path, fmt):
    assert plot_format(path) == fmt


def test_unknown_suffix_is_a_config_error():
    with pytest.raises(ConfigError, match=r"Cannot draw a figure to 'r\.gif': unknown figure format 'gif'"):
        plot_format("r.gif")
