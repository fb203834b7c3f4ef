"""genorm.cli.explain: `genorm explain` prints the textbook RNN step by step."""

from __future__ import annotations

import pytest

from genorm.cli import main


def test_cli_explain(capsys):
    from genorm.cli import main

    assert main(["explain", "hello", "--example"]) == 0
    assert "(0.287027, 0.902874, 0.537524)" in capsys.readouterr().out
    assert main(["explain", "x"]) == 2
    assert "at least 2 letters" in capsys.readouterr().err


def test_cli_explain_options_reach_the_printer(capsys):
    assert main(["explain", "ACG", "--hidden", "2", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("The textbook recurrent network on 'ACG': inputs 'AC', targets 'CG'")
    assert "hidden size 2; random weights uniform in [-0.5, 0.5) with seed 0" in out


@pytest.mark.parametrize("flag, value, message", [("--hidden", "0", "argument --hidden: expected a positive integer, got 0"),
                                                  ("--seed", "-1", "argument --seed: expected a seed in")])
def test_cli_explain_bad_numbers_are_usage_errors(capsys, flag, value, message):
    with pytest.raises(SystemExit) as exc:
        main(["explain", "ACG", flag, value])
    assert exc.value.code == 2
    assert capsys.readouterr().err.startswith(f"error: {message}")


@pytest.mark.parametrize("text, message", [
    ("ACGT" * 25_000, "`text`, expected at most 200 letters (every step is printed), got 100,000 letters ('ACGTACGT"),
    ("".join(map(chr, range(0x100, 0x100 + 3000))), "expected at most 200 letters"),
    ("".join(map(chr, range(0x100, 0x100 + 150))), "`text`, expected at most 64 different letters (every matrix has a "
                                                   "column per letter), got 150 different letters."),
])
def test_cli_explain_output_is_bounded(capsys, text, message):
    """issue 23: 100,000 letters printed 48 MB (and a NumPy warning); 3,000 different letters 276 MB."""
    assert main(["explain", text]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and err.startswith("error: Received an invalid value for "), err
    assert message in err
    assert main(["explain", "ACGT" * 50]) == 0  # 200 letters: still explained
    assert len(capsys.readouterr().out) < 1_000_000
