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
