"""Fault suite, Python API side (issue 23): a bad argument to a public function is a GenormError that names the
argument in the one template of :mod:`genorm.validate` ("Received an invalid value for `x`, expected ..., got
..."), never a bare TypeError, AttributeError or UndefinedSequenceError, nor an empty genome."""

from __future__ import annotations

import re

import pytest
from Bio.Seq import Seq

import genorm
from genorm.errors import ConfigError, GenormError
from genorm.predict import Predictor

SOURCES = ("a path, '-', a binary file handle or a list of them, or in-memory records (SeqRecords, (name, sequence) "
           "pairs with a str name, or a {name: sequence} mapping)")
SEQ_TYPES = "a string, bytes, Bio.Seq.Seq, SeqRecord or a 1-D integer array of codes 0-4"


def _predictor() -> Predictor:
    from tests.steppers import ConstantStepper

    return Predictor(ConstantStepper())


CASES = [
    # (call, the argument, what the message says after "expected ", the value shown)
    (lambda: genorm.read_genome(None), "sources", SOURCES, "None"),
    (lambda: genorm.read_genome(5), "sources", SOURCES, "5"),
    (lambda: genorm.read_genome(b"ACGT"), "sources", SOURCES + " (bytes are not read as a genome: wrap them in "
                                                              "io.BytesIO)", "b'ACGT'"),
    (lambda: genorm.read_genome([]), "sources", "at least one path or record", "[]"),
    (lambda: genorm.read_genome([(5, "ACGT")]), "sources", SOURCES, "(5, 'ACGT')"),
    (lambda: genorm.read_genome(["x.fa", ("a", "ACGT")]), "sources",
     SOURCES + "; files and in-memory records cannot be mixed", "('a', 'ACGT')"),
    (lambda: genorm.read_genome([("a", "ACGT")], policy="strict"), "policy",
     "an EncodingPolicy (genorm.encoding.EncodingPolicy) or None", "'strict'"),
    (lambda: genorm.read_genome([("a", "ACGT")], records=5), "records", "a list of record names", "5"),
    (lambda: genorm.load(None), "run_dir", "the path of a run directory written by genorm train (str or os.PathLike)",
     "None"),
    (lambda: genorm.load(5), "run_dir", "the path of a run directory written by genorm train (str or os.PathLike)",
     "5"),
    (lambda: genorm.train(None), "fasta_paths", SOURCES, "None"),
    (lambda: genorm.train([("a", "ACGT" * 100)], out_dir=None), "out_dir",
     "the path of the run directory to write (str or os.PathLike)", "None"),
    (lambda: _predictor().sample(5, prime=5), "prime", SEQ_TYPES, "5"),
    (lambda: _predictor().predict_proba(Seq(None, length=10)), "seq",
     "a sequence whose bases are defined (this Bio.Seq.Seq holds only its length, 10)", "Seq(None, length=10)"),
    (lambda: _predictor().predict_proba(float("nan")), "seq", SEQ_TYPES, "nan"),
    (lambda: _predictor().predict_proba(None), "seq", SEQ_TYPES, "None"),
    (lambda: _predictor().predict_proba(123), "seq", SEQ_TYPES, "123"),
    (lambda: _predictor().predict_proba(list("ACGT")), "seq", SEQ_TYPES, "['A', 'C', 'G', 'T']"),
]


@pytest.mark.parametrize("call, name, expected, got", CASES, ids=[f"{i}-{c[1]}" for i, c in enumerate(CASES)])
def test_bad_api_arguments_name_the_argument(call, name, expected, got):
    message = f"Received an invalid value for `{name}`, expected {expected}, got {got}."
    with pytest.raises(ConfigError, match="^" + re.escape(message) + "$") as info:
        call()
    assert isinstance(info.value, GenormError) and isinstance(info.value, ValueError)
