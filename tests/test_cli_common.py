"""genorm.cli.common: the reading options, progress on stderr, tables, argument types."""

from __future__ import annotations

import argparse
import io

import pytest

from genorm.cli import common
from genorm.errors import GenormError


def _parse(argv, format_flag="--format"):
    p = argparse.ArgumentParser()
    common.add_policy_options(p, format_flag=format_flag)
    return p.parse_args(argv)


def test_policy_options_become_library_arguments():
    args = _parse(["--records", "chr1, chr2,", "--iupac", "error", "--u-as-t", "--format", "genbank"])
    assert common.records_from_args(args) == ["chr1", "chr2"]
    assert common.format_from_args(args) == "genbank"
    policy = common.policy_from_args(args)
    assert (policy.iupac, policy.u_as_t) == ("error", True)
    args = _parse([], format_flag=None)
    assert common.records_from_args(args) is None and common.format_from_args(args) is None


def test_empty_records_option_is_an_error():
    with pytest.raises(GenormError, match=r"^--records is empty: give comma-separated record names"):
        common.records_from_args(_parse(["--records", " , "]))


@pytest.mark.parametrize("kind, text, message", [
    (common.positive_int, "0", "expected a positive integer, got 0"),
    (common.positive_int, "x", "expected a positive integer, got 'x'"),
    (common.seed, "-1", r"expected a seed in \[0, 4294967295\], got -1"),
    (common.seed, "1.5", "expected an integer seed, got '1.5'"),
])
def test_argument_types_reject_with_a_message(kind, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        kind(text)
    assert common.positive_int("3") == 3 and common.seed("4294967295") == 2**32 - 1


def test_print_table_and_human_stream(capsys):
    import pandas as pd

    out = io.StringIO()
    common.print_table(pd.DataFrame({"record": ["a"], "bits": [1.23456]}), out=out)
    assert out.getvalue().splitlines()[1].split() == ["a", "1.2346"]
    import sys

    assert common.human_stream("-") is sys.stderr and common.human_stream("x.tsv") is sys.stdout
    assert common.human_stream(None) is sys.stdout


def test_note_is_hidden_by_quiet(capsys):
    common.note("fitting")
    assert capsys.readouterr().err == "note: fitting\n"
    common.set_quiet(True)
    try:
        common.note("fitting")
        assert capsys.readouterr().err == "" and common.progress_mode() == "off"
    finally:
        common.set_quiet(False)


def test_staged_progress_reads_in_mb_then_scores_in_mb_of_bases(capsys, monkeypatch):
    monkeypatch.setattr(common, "progress_mode", lambda: "lines")
    with common.staged_progress() as show:
        show(150_000_000, 200_000_000, "g.fa")
        show(10_000_000, 20_000_000, "evaluate")
    err = capsys.readouterr().err
    assert err.splitlines()[0].startswith("g.fa: 150.0 MB of 200.0 MB (75.0%)")
    assert err.splitlines()[1].startswith("evaluate: 10.0 Mb of 20.0 Mb (50.0%)")


def test_progress_in_a_log_is_one_line_per_step_without_carriage_returns(capsys):
    from genorm.cli.common import ProgressBar

    bar = ProgressBar(mode="lines", unit="Mb", every=10)
    for done in range(0, 35_000_001, 1_000_000):
        bar(done, 35_000_000, "evaluate")
    bar.close()
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "evaluate: 10.0 Mb of 35.0 Mb (28.6%)", "evaluate: 20.0 Mb of 35.0 Mb (57.1%)",
        "evaluate: 30.0 Mb of 35.0 Mb (85.7%)"]


def test_progress_bar_on_a_terminal_and_off(capsys):
    from genorm.cli.common import ProgressBar

    bar = ProgressBar(mode="bar", min_interval=0)
    bar(5_000_000, 10_000_000, "x.fa")
    bar.close()
    err = capsys.readouterr().err
    assert err.startswith("\rx.fa") and "50.0%" in err and err.endswith("\n")
    bar = ProgressBar(mode="off")
    bar(5_000_000, 10_000_000, "x.fa")
    bar.close()
    assert capsys.readouterr().err == ""
