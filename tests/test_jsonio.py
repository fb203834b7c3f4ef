"""genorm.jsonio: the one JSON reader (config files, run files, TF_CONFIG)."""

import pytest

from genorm.errors import ConfigError, RunDirError
from genorm.jsonio import parse_json, read_json_file


@pytest.mark.parametrize("text, match", [
    (b"\xff{}", r"x is not UTF-8 text \(byte 0xff at offset 0\)"),
    ("{", "x is not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("[1]", "x must hold a JSON object, got array"),
    ("1" * 5000, "cannot be read as JSON"),
    # issue 23: json keeps the last of two values without a word
    ('{"units": 8, "units": 64}', r"^x has the key 'units' twice in one object: only one value would be used, "
                                  r"silently\. Keep one\.$"),
    ('{"model": {"cell": "gru", "cell": "lstm"}}', r"^x has the key 'cell' twice in one object"),
])
def test_bad_json_is_one_error(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_json(text, "x")


def test_byte_order_mark_and_expected_type():
    assert parse_json(b"\xef\xbb\xbf{\"a\": 1}", "x") == {"a": 1}
    assert parse_json("[1, 2]", "x", expect=list) == [1, 2]
    assert parse_json("null", "x", expect=None) is None


def test_file_errors_use_the_given_class_and_hint(tmp_path):
    with pytest.raises(RunDirError, match=r"Cannot read run config: .*retrain"):
        read_json_file(tmp_path / "missing.json", "run config", RunDirError, hint="retrain")
    path = tmp_path / "c.json"
    path.write_text('{"units": 8}')
    assert read_json_file(path, "c") == {"units": 8}
