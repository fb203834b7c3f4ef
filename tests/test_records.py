"""The reader's public front (genorm.reading.records): edge cases as tables of tiny inputs, properties, FASTA writing.

Opening and sniffing inputs are tested in test_sources.py, the formats and Biopython's errors in
test_formats.py, records already in memory in test_in_memory.py."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genorm import encoding
from genorm.encoding import EncodingPolicy
from genorm.errors import (
    ConfigError,
    EncodingPolicyError,
    FastaFormatError,
    GenormError,
    InputFileError,
    RecordSelectionError,
)
from genorm.reading.records import read_fasta


def records(data: bytes | str, **kw) -> list[tuple[str, str]]:
    data = data.encode() if isinstance(data, str) else data
    return [(r.name, r.sequence) for r in read_fasta(io.BytesIO(data), **kw)]


@pytest.mark.parametrize(
    "text, expected",
    [
        (">a\nACGT\n", [("a", "ACGT")]),
        (">a\nACGT", [("a", "ACGT")]),                                   # no final newline
        (">a desc\r\nAC\r\nGT\r\n>b\r\nNN\r\n", [("a", "ACGT"), ("b", "NN")]),  # Windows line endings
        ("\n\n>a\nAC\n\nGT\n\n>b\nT", [("a", "ACGT"), ("b", "T")]),     # blank lines
        (">a\nA\nC\nG\nT\n", [("a", "ACGT")]),                           # 1-column lines
        (">a\nACGTACGTACGTACGT\nAC\n", [("a", "ACGTACGTACGTACGTAC")]),  # ragged widths
        (">a\nacgtNNnn\n", [("a", "acgtNNnn")]),                         # soft mask kept
        (">a\nRYKMSWBDHV\n", [("a", "NNNNNNNNNN")]),                     # IUPAC -> N
        (">a\nAC GT \n", [("a", "ACGT")]),                               # stray spaces
        (">a\tb c\nAC\n", [("a", "AC")]),                                # tab in header
        (">a\n>b\nAC\n", [("b", "AC")]),                                 # empty record skipped
        (">" + "x" * 5000 + "\nAC\n", [("x" * 5000, "AC")]),            # long header
    ],
)
def test_good_inputs(text, expected):
    assert records(text) == expected


@pytest.mark.parametrize(
    "data, error, message",
    [
        (b"", FastaFormatError, r"the file is empty"),
        (b"\n\n  \n", FastaFormatError, r"no FASTA records: the file holds only blank lines"),
        (b">a\n", FastaFormatError, r"no sequence: 1 header line\(s\) but every record is empty"),
        (b"ACGT\nACGT\n", FastaFormatError, r"no FASTA header: expected a line starting with '>' at line 1, got 'ACGT'"),
        (b"@r1\nACGT\n+\nIIII\n", FastaFormatError, r"this is FASTQ, not FASTA"),
        (b">p\nMKTAYIAKQRQISFVKSHFSRQ\n", FastaFormatError, r"record 'p', line 2, column 6: found 'I'.*protein FASTA"),
        (b">a\nACGT\nAC1T\n", FastaFormatError, r"record 'a', line 3, column 3: invalid character '1'"),
        (b">a\nACGT\nAC-T\n", FastaFormatError, r"line 3, column 3: invalid character '-'.*Gaps"),
        (b">a\nAC.T\n", FastaFormatError, r"invalid character '\.'.*Gaps"),
        (b">a\nAC*T\n", FastaFormatError, r"invalid character '\*'.*stop symbol"),
        (bytes(range(256)) * 4, FastaFormatError, r"looks like a binary file"),
        (b">a\nAC\x00GT\n", FastaFormatError, r"line 2, column 3: byte 0x00 is not text.*binary"),
        (b">a\nAC\n>a\nGT\n", FastaFormatError, r"line 3: duplicate record name 'a' \(first seen at .*line 1\)"),
        (b">\nAC\n", FastaFormatError, r"line 1: the header line has no record name"),
        (b">a\nAC>GT\n", FastaFormatError, r"line 2, column 3: found '>' inside a sequence line"),
        (b">a\nACU\n", EncodingPolicyError, r"Found 'U' in <handle>, record 'a', base 3: this looks like RNA.*--u-as-t"),
        (b"BZh91AY&SY", InputFileError, r"is bzip2-compressed"),
    ],
)
def test_bad_inputs(data, error, message):
    with pytest.raises(error, match=message):
        records(data)


def test_every_error_is_a_genorm_error_and_a_builtin():
    with pytest.raises(GenormError):
        records(b"@fastq\n")
    with pytest.raises(ValueError):
        records(b"@fastq\n")
    with pytest.raises(OSError):
        list(read_fasta("/nonexistent/genome.fa"))
    with pytest.raises(KeyError):
        records(b">a\nAC\n", records=["b"])


def test_iupac_policy_error_names_record_and_base():
    with pytest.raises(EncodingPolicyError, match=r"IUPAC ambiguity code 'r' in <handle>, record 'b', base 2.*--iupac n"):
        records(b">a\nAC\n>b\nArG\n", policy=EncodingPolicy(iupac="error"))


def test_u_as_t():
    assert records(b">a\nACUu\n", policy=EncodingPolicy(u_as_t=True)) == [("a", "ACTt")]


def test_iupac_counted():
    (rec,) = read_fasta(io.BytesIO(b">a\nAKKSyN\n"))
    assert rec.stats.iupac == {"K": 2, "S": 1, "Y": 1}
    assert rec.stats.n == 5 and rec.stats.soft_masked == 1
    assert rec.codes.tolist() == [0, 4, 4, 4, 4, 4]


def test_stats():
    (rec,) = read_fasta(io.BytesIO(b">a\nACGGnnNtAN\n"))
    s = rec.stats
    assert (s.length, s.a, s.c, s.g, s.t, s.n, s.soft_masked) == (10, 2, 1, 2, 1, 4, 3)
    assert (s.n_runs, s.longest_n_run) == (2, 3)
    assert s.gc_fraction == pytest.approx(3 / 6)


def test_n_runs_of_iupac_only_record():
    """Stats count runs with the one n_runs (genorm.encoding), IUPAC codes read as N included."""
    (rec,) = read_fasta(io.BytesIO(b">a\nACRYT\n"))
    assert rec.stats.n == 2 and (rec.stats.n_runs, rec.stats.longest_n_run) == (1, 2)


def test_record_selection_keeps_order_of_file_and_reports_missing():
    data = b">a\nAC\n>b\nGG\n>c\nTT\n"
    assert records(data, records=["c", "a"]) == [("a", "AC"), ("c", "TT")]
    with pytest.raises(RecordSelectionError, match=r"Record\(s\) not found: chrZ\. Available records: a, b, c"):
        records(data, records=["a", "chrZ"])


def test_handles_text_and_binary_and_lists(tmp_path):
    assert [r.sequence for r in read_fasta(io.StringIO(">a\nACgt\n"))] == ["ACgt"]
    p1 = tmp_path / "1.fa"
    p2 = tmp_path / "2.fa"
    p1.write_text(">a\nAC\n")
    p2.write_text(">b\nGT\n")
    assert [(r.name, r.source) for r in read_fasta([p1, str(p2)])] == [("a", str(p1)), ("b", str(p2))]
    p2.write_text(">a\nGT\n")
    with pytest.raises(FastaFormatError, match=r"duplicate record name 'a'"):
        list(read_fasta([p1, p2]))


def test_records_span_read_blocks(monkeypatch):
    """Headers and sequence split across the reader's block boundaries."""
    from genorm.reading import sources as fasta  # the reader's block size is set where inputs are opened

    monkeypatch.setattr(fasta, "CHUNK_SIZE", 7)
    data = b">first record\r\nACGTACGTAC\r\nacgtNN\r\n>second\nGGGG\nCC\n>third x\nT"
    assert records(data) == [("first", "ACGTACGTACacgtNN"), ("second", "GGGGCC"), ("third", "T")]
    with pytest.raises(FastaFormatError, match=r"record 'second', line 5, column 2: invalid character '1'"):
        records(b">first\nACGTACGTAC\nACGT\n>second\nG1GG\n")


@settings(max_examples=60, deadline=None)
@given(
    seqs=st.lists(st.text(alphabet="ACGTNacgtn", min_size=1, max_size=300), min_size=1, max_size=4),
    width=st.integers(min_value=1, max_value=120),
    crlf=st.booleans(),
    chunk=st.sampled_from([3, 64, 1 << 21]),
)
def test_round_trip_property(seqs, width, crlf, chunk):
    from genorm.reading import sources as fasta  # the reader's block size is set where inputs are opened

    old = fasta.CHUNK_SIZE
    fasta.CHUNK_SIZE = chunk
    try:
        nl = "\r\n" if crlf else "\n"
        text = "".join(f">r{i}{nl}" + nl.join(s[j:j + width] for j in range(0, len(s), width)) + nl
                       for i, s in enumerate(seqs))
        got = list(read_fasta(io.BytesIO(text.encode())))
    finally:
        fasta.CHUNK_SIZE = old
    assert [r.name for r in got] == [f"r{i}" for i in range(len(seqs))]
    for rec, s in zip(got, seqs):
        np.testing.assert_array_equal(rec.codes, encoding.string_to_codes(s))
        np.testing.assert_array_equal(rec.soft_mask, np.array([c.islower() for c in s], dtype=bool))


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=400) | st.text(alphabet=">ACGTNacgtn \r\n@-1xUR", max_size=200).map(str.encode))
def test_arbitrary_bytes_give_records_or_a_genorm_error(data):
    try:
        for rec in read_fasta(io.BytesIO(data)):
            assert rec.packed.dtype == np.uint8 and len(rec) > 0
            assert rec.codes.max() <= 4
    except GenormError:
        pass


# ------------------------------------------------------------------------------------------
# FASTA writing


def test_write_fasta_round_trips_through_biopython():
    from genorm.reading.records import write_fasta

    handle = io.StringIO()
    assert write_fasta([("s1", "ACGT" * 20, "made by a test"), ("s2", "nnAC")], handle, wrap=60) == 2
    text = handle.getvalue()
    assert text.splitlines()[:3] == [">s1 made by a test", "ACGT" * 15, "ACGT" * 5]
    assert records(text) == [("s1", "ACGT" * 20), ("s2", "nnAC")]
    with pytest.raises(ConfigError, match=r"invalid record name 'a b'"):
        write_fasta([("a b", "AC")], io.StringIO())
    with pytest.raises(ConfigError, match=r"description with a line break"):
        write_fasta([("a", "AC", "x\n>evil")], io.StringIO())
