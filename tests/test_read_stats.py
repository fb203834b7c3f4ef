"""genome.read_stats (what `genorm info` reads, issue 23's speed): the statistics of read_genome, the same
checks and errors, a chunk at a time."""

from __future__ import annotations

import io

import pytest

from genorm.reading import records as reading
from genorm.encoding import EncodingPolicy
from genorm.errors import EncodingPolicyError, FastaFormatError
from genorm.genome.array import read_genome, read_stats

CASES = {
    "plain": b">a desc\nACGTACGTNNNNacgtnnAC\nGT\n>b\nNNNNNNNN\nACGT\n",
    "runs across chunks": b">a\n" + b"ACGNNN" * 50 + b"nnnAC" * 7 + b"\n>b\nN\n",
    "iupac and u": b">a\nACGRYKMacgrykmUuNNN\n>b\nBDHVbdhv\n",
    "tabs in sequence lines": b">a\nAC\tGT\nNN\tNN\n",
    "empty record skipped": b">e\n>a\nACGT\n",
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("chunk", [1, 4, 7, 1 << 20])
def test_read_stats_equals_read_genome(monkeypatch, case, chunk):
    monkeypatch.setattr(reading, "_STATS_CHUNK", chunk)
    policy = EncodingPolicy(u_as_t=True)
    want = [s.to_dict() for s in read_genome(io.BytesIO(CASES[case]), policy=policy).stats]
    got, sources = read_stats(io.BytesIO(CASES[case]), policy=policy)
    assert [s.to_dict() for s in got] == want
    assert sources[0]["format"] == "fasta"


@pytest.mark.parametrize("data, policy, error, message", [
    (b">a\nACGT\nACGT-ACGT\n", EncodingPolicy(), FastaFormatError, r"record 'a', line 3, column 5: invalid character '-'"),
    (b">a\nACGTACGTU\n", EncodingPolicy(), EncodingPolicyError, r"Found 'U' in <handle>, record 'a', base 9"),
    (b">a\nACGTRACGTU\n", EncodingPolicy(iupac="error", u_as_t=False), EncodingPolicyError, r"Found 'U'"),
    (b">a\nACGTRACGT\n", EncodingPolicy(iupac="error", u_as_t=True), EncodingPolicyError,
     r"IUPAC ambiguity code 'R' in <handle>, record 'a', base 5"),
    (b">a\nAC\n>a\nGT\n", EncodingPolicy(), FastaFormatError, r"duplicate record name 'a'"),
])
def test_read_stats_raises_what_read_genome_raises(monkeypatch, data, policy, error, message):
    monkeypatch.setattr(reading, "_STATS_CHUNK", 4)  # the bad letter lies in a later chunk than the first
    with pytest.raises(error, match=message):
        read_genome(io.BytesIO(data), policy=policy)
    with pytest.raises(error, match=message):
        read_stats(io.BytesIO(data), policy=policy)
