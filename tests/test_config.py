"""genorm.config: configurations in one place, checked once, round-tripped through JSON."""

import pytest

from genorm.config import CELLS, ModelConfig, TrainConfig, parse_duration
from genorm.errors import ConfigError


def test_model_config_round_trip_and_errors():
    m = ModelConfig(cell="lstm", units=8, layers=1)
    assert ModelConfig.from_dict(m.to_dict()) == m
    assert set(CELLS) == {"simple_rnn", "gru", "lstm"}
    with pytest.raises(ConfigError, match=r"`cell`, expected one of simple_rnn, gru, lstm, got 'rnn'"):
        ModelConfig(cell="rnn")
    with pytest.raises(ConfigError, match=r"Unknown model option\(s\) \['width'\]"):
        ModelConfig.from_dict({"width": 3})


def test_train_config_round_trip():
    c = TrainConfig(model=ModelConfig(units=8, layers=1), window=20, batch_size=16, max_time="90s", seed=3)
    again = TrainConfig.from_dict(c.to_dict())
    assert again == c and again.max_seconds == 90.0


@pytest.mark.parametrize("text, seconds", [("90s", 90.0), ("10m", 600.0), ("1h30m", 5400.0), (45, 45.0), (None, None)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-5m", 0, True, float("nan")])
def test_parse_duration_errors(text):
    with pytest.raises(ConfigError, match=r"Received an invalid value for `max_time`"):
        parse_duration(text)
