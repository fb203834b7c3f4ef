"""Tests of genorm.genome.splits: layout, leakage, named records, errors, BED round trip."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genorm.errors import ConfigError, SplitError
from genorm.genome.array import Genome
from genorm.genome.splits import Interval, Splits, make_splits


def genome_of(lengths: dict[str, int], seed: int = 0) -> Genome:
    rng = np.random.default_rng(seed)
    return Genome.from_strings({name: "".join(rng.choice(list("ACGT"), n)) for name, n in lengths.items()})


def test_tail_layout_exact():
    g = genome_of({"a": 1000, "b": 2000})
    s = make_splits(g, window=10, val_fraction=0.1, test_fraction=0.1)
    assert s.train == [Interval(0, 0, 780), Interval(1, 0, 1580)]
    assert s.val == [Interval(0, 790, 890), Interval(1, 1590, 1790)]
    assert s.test == [Interval(0, 900, 1000), Interval(1, 1800, 2000)]
    assert (s.window, s.gap, s.names, s.short_records) == (10, 10, ["a", "b"], [])
    assert s.bases() == {"train": 2360, "val": 300, "test": 300}


def test_zero_val_fraction_has_one_gap():
    s = make_splits(genome_of({"a": 1000}), window=10, val_fraction=0.0, test_fraction=0.1)
    assert s.train == [Interval(0, 0, 890)] and s.val == [] and s.test == [Interval(0, 900, 1000)]


def test_named_records_go_whole_and_disable_that_fraction():
    g = genome_of({"a": 1000, "b": 500, "c": 400})
    s = make_splits(g, window=10, val_records=["b"], test_fraction=0.1)
    assert s.val == [Interval(1, 0, 500)]
    assert s.test == [Interval(0, 900, 1000), Interval(2, 360, 400)]
    assert s.train == [Interval(0, 0, 890), Interval(2, 0, 350)]
    s = make_splits(g, window=10, val_records=["b"], test_records=["c"])
    assert (s.train, s.val, s.test) == ([Interval(0, 0, 1000)], [Interval(1, 0, 500)], [Interval(2, 0, 400)])


def test_short_records_go_to_train_and_are_reported(caplog):
    g = genome_of({"long": 5000, "tiny": 30, "mid": 150})
    with caplog.at_level(logging.WARNING, logger="genorm.genome.splits"):
        s = make_splits(g, window=50)
    assert s.short_records == ["tiny", "mid"]
    assert Interval(1, 0, 30) in s.train and Interval(2, 0, 150) in s.train
    assert "2 record(s) too short to split" in caplog.text and "tiny, mid" in caplog.text


@pytest.mark.parametrize("kwargs, match", [
    (dict(val_fraction=1.2), r"`val_fraction`, expected a number in \[0, 1\), got 1.2"),
    (dict(test_fraction=-0.1), r"`test_fraction`, expected a number in \[0, 1\), got -0.1"),
    (dict(val_fraction=0.5, test_fraction=0.5), r"val_fraction \+ test_fraction must be < 1, got 0.5 \+ 0.5"),
    (dict(val_records=["chrX"]), r"`val_records` names record\(s\) not in the genome: chrX. Records: a, b"),
    (dict(val_records=[]), r"`val_records` is an empty list"),
    (dict(val_records=["a"], test_records=["a"]), r"named in both val_records and test_records: a"),
    (dict(val_records=["a"], test_records=["b"]), r"training split is empty: all 2 record\(s\) are named"),
])
def test_impossible_requests(kwargs, match):
    with pytest.raises(SplitError, match=match):
        make_splits(genome_of({"a": 1000, "b": 1000}), window=10, **kwargs)


def test_empty_split_names_the_numbers():
    with pytest.raises(SplitError, match=r"validation split is empty: no record is long enough to split "
                                         r"\(longest 300 bases; window 200"):
        make_splits(genome_of({"a": 300}), window=200)


@pytest.mark.parametrize("window", [0, -5, 2.5, True, "200"])
def test_bad_window(window):
    with pytest.raises(ConfigError, match=r"Received an invalid value for `window`, expected an integer >= 1"):
        make_splits(genome_of({"a": 1000}), window=window)


@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(1, 3000), min_size=1, max_size=6),
       window=st.integers(1, 120),
       vf=st.sampled_from([0.0, 0.05, 0.1, 0.3]), tf=st.sampled_from([0.0, 0.1, 0.2]))
def test_no_leak_property(lengths, window, vf, tf):
    """Every base is in at most one split; no val/test base is within one window of a train base."""
    g = Genome.from_strings({f"r{i}": "A" * n for i, n in enumerate(lengths)})
    try:
        s = make_splits(g, window=window, val_fraction=vf, test_fraction=tf)
    except SplitError as exc:
        assert "empty" in str(exc)
        return
    for i, n in enumerate(lengths):
        owner = np.zeros(n, dtype=np.int8)
        for code, split in ((1, s.train), (2, s.val), (3, s.test)):
            for iv in split:
                if iv.record == i:
                    assert 0 <= iv.start < iv.end <= n
                    assert not owner[iv.start:iv.end].any()
                    owner[iv.start:iv.end] = code
        held = np.flatnonzero(owner >= 2)
        for iv in (iv for iv in s.train if iv.record == i):
            # a training window of window+1 bases inside iv covers [iv.start, iv.end); no held-out base there,
            # nor within one window of it
            assert not ((held >= iv.start - window) & (held < iv.end + window)).any()
        if f"r{i}" not in s.short_records:
            assert owner[0] == 1 and (tf == 0 or owner[-1] == 3)
        else:
            assert (owner == 1).all()
    again = make_splits(g, window=window, val_fraction=vf, test_fraction=tf)
    assert again.sha256() == s.sha256()


def test_bed_round_trip_and_hash(tmp_path):
    g = genome_of({"a": 1000, "b": 2000})
    s = make_splits(g, window=10)
    path = tmp_path / "splits.bed"
    s.to_bed(path)
    lines = path.read_text().splitlines()
    assert lines[0] == f"# genorm-splits-v2 window=10 gap=10 sha256={s.sha256()}"
    assert lines[1:4] == ["a\t0\t830\ttrain", "a\t840\t890\tval", "a\t900\t1000\ttest"]
    back = Splits.from_bed(path, g)
    assert (back.train, back.val, back.test, back.window, back.sha256()) == (s.train, s.val, s.test, 10, s.sha256())
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_hash_is_stable_and_sensitive():
    g = genome_of({"a": 1000})
    s = make_splits(g, window=10)
    assert s.sha256() == make_splits(g, window=10, seed=5).sha256()
    assert s.sha256() != make_splits(g, window=11).sha256()
    assert len(s.sha256()) == 64


def test_edited_bed_is_rejected(tmp_path):
    g = genome_of({"a": 1000})
    path = tmp_path / "s.bed"
    make_splits(g, window=10).to_bed(path)
    path.write_text(path.read_text().replace("a\t0\t830", "a\t0\t845"))
    with pytest.raises(SplitError, match=r"do not match the sha256 in its header.*edited"):
        Splits.from_bed(path, g)


@pytest.mark.parametrize("row, match", [
    ("chrZ\t0\t10\ttrain", r"line 1: record 'chrZ' is not in the genome \(records: a\)"),
    ("a\t0\t2000\ttrain", r"line 1: interval 0-2000 is not inside record 'a' of length 1000"),
    ("a\t0\t10\tdev", r"split must be one of train, val, test; got 'dev'"),
    ("a\tx\t10\ttrain", r"start and end must be integers, got 'x' and '10'"),
    ("a\t0\t10", r"expected 4 columns \(record, start, end, split\), got 3"),
])
def test_bad_bed_rows(tmp_path, row, match):
    path = tmp_path / "s.bed"
    path.write_text(row + "\n")
    with pytest.raises(SplitError, match=match):
        Splits.from_bed(path, genome_of({"a": 1000}), window=10)


def test_user_bed_needs_window_and_must_not_overlap(tmp_path):
    g = genome_of({"a": 1000})
    path = tmp_path / "s.bed"
    path.write_text("a\t0\t500\ttrain\na\t400\t1000\ttest\n")
    with pytest.raises(SplitError, match=r"has no genorm header with the window length: pass window="):
        Splits.from_bed(path, g)
    with pytest.raises(SplitError, match=r"overlap in record 'a': train 0-500 and test 400-1000"):
        Splits.from_bed(path, g, window=10)
    with pytest.raises(SplitError, match=r"Cannot read split file"):
        Splits.from_bed(tmp_path / "missing.bed", g)


def test_docstring_examples():
    import doctest

    import genorm.genome.cache
    import genorm.genome.splits

    for module in (genorm.genome.splits, genorm.genome.cache):
        assert doctest.testmod(module).failed == 0
