"""genorm._version: one version, which pyproject.toml reads."""

import re
from pathlib import Path

import genorm
from genorm._version import __version__


def test_one_version():
    assert genorm.__version__ == __version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert 'version = { attr = "genorm._version.__version__" }' in pyproject
