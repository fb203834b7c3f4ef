"""genorm.atomic: outputs appear whole or not at all, and never over an input."""

import os

import pytest

from genorm.atomic import (atomic_open, atomic_write_text, check_field, check_output, escape_text, is_stdout,
                           remove_stale_temporaries, temp_prefix)
from genorm.errors import OutputFileError


def test_a_failed_write_leaves_the_previous_file(tmp_path):
    path = tmp_path / "out.tsv"
    atomic_write_text(path, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(path) as handle:
            handle.write("half")
            raise RuntimeError("interrupted")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tsv"]


def test_check_output_refuses_inputs_and_empty_paths(tmp_path):
    genome = tmp_path / "g.fa"
    genome.write_text(">a\nACGT\n")
    with pytest.raises(OutputFileError, match=r"it is an input of this command"):
        check_output(tmp_path / "." / "g.fa", inputs=[genome])
    with pytest.raises(OutputFileError, match=r"The output path is empty"):
        check_output("", inputs=[genome])
    assert is_stdout("-") and check_output("-").name == "-"


def test_fields_and_free_text():
    assert check_field("chr1", "record name") == "chr1"
    with pytest.raises(OutputFileError, match=r"The record name 'a\\tb' cannot be written: it contains '\\t'"):
        check_field("a\tb", "record name")
    assert escape_text("two\nlines") == "two\\nlines"


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    dead = tmp_path / (temp_prefix("out.tsv").replace(str(os.getpid()), "999999999") + "abcdefgh.tmp")
    dead.write_text("left by a killed process")
    mine = tmp_path / (temp_prefix("out.tsv") + "ijklmnop.tmp")
    mine.write_text("being written")
    removed = remove_stale_temporaries(tmp_path, "out.tsv")
    assert dead in removed and not dead.exists() and mine.exists()
