"""Tests of genorm.training.data: the inputs a run trains on, checked before anything is written
(the zero-weight check is in test_faults_models.py, the run's genome errors in test_trainer.py)."""

from __future__ import annotations

import pytest

from genorm.errors import ConfigError
from genorm.training import data

from conftest import TINY_TRAIN


def test_check_inputs_paths_and_in_memory_records(periodic_fasta):
    assert data.check_inputs([periodic_fasta], TINY_TRAIN) == ([str(periodic_fasta)], None)
    paths, genome = data.check_inputs([("a", "ACGT" * 20)], TINY_TRAIN)
    assert paths == [] and genome.names == ["a"]


@pytest.mark.parametrize("given, message", [
    ([], "No FASTA file given: genorm train needs at least one genome file"),
    (["-"], r"genorm train cannot read standard input \('-'\).*save the FASTA to a file first"),
])
def test_check_inputs_refuses(given, message):
    with pytest.raises(ConfigError, match=message):
        data.check_inputs(given, TINY_TRAIN)


def test_load_genome_reads_as_the_config_says(periodic_fasta):
    genome = data.load_genome([str(periodic_fasta)], TINY_TRAIN.replace(records=["periodic"]))
    assert genome.names == ["periodic"] and int(genome.lengths[0]) == 4800
