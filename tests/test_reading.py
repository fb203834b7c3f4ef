"""The genome reader (genorm.reading): edge cases as tables of tiny inputs, Biopython equivalence, properties."""

from __future__ import annotations

import gzip
import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from Bio import SeqIO
from hypothesis import given, settings
from hypothesis import strategies as st

from genorm import encoding
from genorm.encoding import EncodingPolicy
from genorm.errors import EncodingPolicyError, FastaFormatError, GenormError, InputFileError, RecordSelectionError
from genorm.reading import read_fasta, sniff_compression


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


def test_record_selection_keeps_order_of_file_and_reports_missing():
    data = b">a\nAC\n>b\nGG\n>c\nTT\n"
    assert records(data, records=["c", "a"]) == [("a", "AC"), ("c", "TT")]
    with pytest.raises(RecordSelectionError, match=r"Record\(s\) not found: chrZ\. Available records: a, b, c"):
        records(data, records=["a", "chrZ"])


def test_missing_file_directory_and_permissions(tmp_path):
    with pytest.raises(InputFileError, match=r"no such file"):
        list(read_fasta(tmp_path / "missing.fa"))
    with pytest.raises(InputFileError, match=r"is a directory, not a FASTA file"):
        list(read_fasta(tmp_path))
    if os.geteuid() != 0:  # root reads anything
        p = tmp_path / "locked.fa"
        p.write_text(">a\nAC\n")
        p.chmod(0)
        with pytest.raises(InputFileError, match=r"permission denied"):
            list(read_fasta(p))


def test_gzip_bgzf_and_plain_detected_by_content_not_name(tmp_path):
    text = b">a\nACGT\n>b\nGGCC\n"
    misnamed = tmp_path / "plain_looking.fa"
    misnamed.write_bytes(gzip.compress(text))
    assert [r.sequence for r in read_fasta(misnamed)] == ["ACGT", "GGCC"]
    from Bio import bgzf

    bgz = tmp_path / "x.fa.bgz"
    with bgzf.BgzfWriter(str(bgz), "wb") as h:
        h.write(text)
    assert sniff_compression(bgz.read_bytes()[:18]) == "bgzf"
    assert sniff_compression(misnamed.read_bytes()[:18]) == "gzip"
    assert [r.sequence for r in read_fasta(bgz)] == ["ACGT", "GGCC"]
    plain_gz_name = tmp_path / "x.fa.gz"
    plain_gz_name.write_bytes(text)
    assert [r.sequence for r in read_fasta(plain_gz_name)] == ["ACGT", "GGCC"]


def test_corrupt_gzip():
    gz = gzip.compress(b">a\n" + b"ACGT" * 10000 + b"\n")
    with pytest.raises(InputFileError, match=r"gzip stream is truncated.*fetch it again"):
        records(gz[: len(gz) // 2])
    with pytest.raises(InputFileError, match=r"corrupt gzip data"):
        records(gz + b"trailing garbage")


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


def test_stdin(tmp_path):
    code = "import genorm; print([r.sequence for r in genorm.read_fasta('-')])"
    out = subprocess.run([sys.executable, "-c", code], input=gzip.compress(b">a\nACGT\n"), capture_output=True, check=True)
    assert out.stdout.decode().strip() == "['ACGT']"


def test_records_span_read_blocks(monkeypatch):
    """Headers and sequence split across the reader's block boundaries."""
    from genorm import reading as fasta

    monkeypatch.setattr(fasta, "CHUNK_SIZE", 7)
    data = b">first record\r\nACGTACGTAC\r\nacgtNN\r\n>second\nGGGG\nCC\n>third x\nT"
    assert records(data) == [("first", "ACGTACGTACacgtNN"), ("second", "GGGGCC"), ("third", "T")]
    with pytest.raises(FastaFormatError, match=r"record 'second', line 5, column 2: invalid character '1'"):
        records(b">first\nACGTACGTAC\nACGT\n>second\nG1GG\n")


@pytest.mark.parametrize("name", ["phage_lambda_NC_001416.1.fa", "vertebrate6_ucsc_softmasked_segments.fa.gz",
                                  "a_thaliana_1pct_chromosomes.fa.gz"])
def test_agrees_with_biopython_on_sample_data(sample_data, name):
    path = sample_data / name
    handle = gzip.open(path, "rt") if name.endswith(".gz") else open(path)
    with handle:
        expected = [(r.id, str(r.seq)) for r in SeqIO.parse(handle, "fasta")]
    got = [(r.name, r.sequence) for r in read_fasta(path)]
    ambiguity = re.compile("[RYSWKMBDHV]")
    assert [n for n, _ in got] == [n for n, _ in expected]
    for (_, seq), (_, ref) in zip(got, expected):
        ref = ambiguity.sub("N", ref)
        ref = re.sub("[rysw kmbdhv]", "n", ref)
        assert seq == ref


@settings(max_examples=60, deadline=None)
@given(
    seqs=st.lists(st.text(alphabet="ACGTNacgtn", min_size=1, max_size=300), min_size=1, max_size=4),
    width=st.integers(min_value=1, max_value=120),
    crlf=st.booleans(),
    chunk=st.sampled_from([3, 64, 1 << 21]),
)
def test_round_trip_property(seqs, width, crlf, chunk):
    from genorm import reading as fasta

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
