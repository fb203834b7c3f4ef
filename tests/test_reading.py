"""The genome reader (genorm.reading): edge cases as tables of tiny inputs, Biopython equivalence, properties."""

from __future__ import annotations

import gzip
import io
import os
import re
import subprocess
import sys

from pathlib import Path

import numpy as np
import pytest
from Bio import SeqIO
from Bio.Seq import Seq
from Bio.SeqRecord import SeqRecord
from hypothesis import given, settings
from hypothesis import strategies as st

import genorm
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


# ------------------------------------------------------------------------------------------
# Biopython under every read: sample data, GenBank, EMBL, 2bit, in-memory records


SAMPLE_FILES = sorted(p.name for p in (Path(__file__).resolve().parent.parent / "sample_data").iterdir()
                      if p.name.endswith((".fa", ".fa.gz", ".fna.gz")))


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_every_sample_file_equals_seqio_parse(sample_data, name):
    path = sample_data / name
    with (gzip.open(path, "rt") if name.endswith(".gz") else open(path)) as handle:
        expected = [(r.id, str(r.seq)) for r in SeqIO.parse(handle, "fasta")]
    got = [(r.name, r.sequence) for r in read_fasta(path)]
    assert [n for n, _ in got] == [n for n, _ in expected]
    for (_, seq), (_, ref) in zip(got, expected):
        assert seq == re.sub("[rysw kmbdhv]", "n", re.sub("[RYSWKMBDHV]", "N", ref))


def _seqrecords():
    return [SeqRecord(Seq("ACGTNNNNACGTTGCA" * 3), id="chrA.1", name="chrA", description="first",
                      annotations={"molecule_type": "DNA"}),
            SeqRecord(Seq("GGGCCCNAT"), id="chrB.2", name="chrB", description="second",
                      annotations={"molecule_type": "DNA"})]


def _written(fmt: str) -> bytes:
    handle = io.StringIO()
    SeqIO.write(_seqrecords(), handle, fmt)
    return handle.getvalue().encode()


@pytest.mark.parametrize("fmt", ["genbank", "embl"])
@pytest.mark.parametrize("compress", ["plain", "gzip", "bgzf"])
def test_genbank_and_embl_records_come_through(tmp_path, fmt, compress):
    data = _written(fmt)
    path = tmp_path / "genome.dat"
    if compress == "gzip":
        data = gzip.compress(data)
    if compress == "bgzf":
        from Bio import bgzf

        with bgzf.BgzfWriter(str(path), "wb") as h:
            h.write(data)
    else:
        path.write_bytes(data)
    got = list(read_fasta(path))
    assert [(r.name, r.sequence) for r in got] == [(r.id, str(r.seq)) for r in _seqrecords()]
    assert got[0].stats.n_runs == 3 and got[0].stats.longest_n_run == 4 and got[0].stats.soft_masked == 0
    assert [r.name for r in read_fasta(path, format=fmt)] == ["chrA.1", "chrB.2"]
    assert genorm.read_genome(path).sources[0]["format"] == fmt
    assert genorm.read_genome(path).sources[0]["compression"] == compress


def _twobit(records: list[tuple[str, str]], version: int = 0, count: int | None = None) -> bytes:
    """A UCSC .2bit file (version 0, little-endian) of ``records``; lower case -> mask blocks, N -> N blocks."""
    import struct

    def runs(flags):
        out, start = [], None
        for i, f in enumerate(list(flags) + [False]):
            if f and start is None:
                start = i
            elif not f and start is not None:
                out.append((start, i - start))
                start = None
        return out

    bodies = []
    for _, seq in records:
        n_blocks = runs(c in "Nn" for c in seq)
        masks = runs(c.islower() for c in seq)
        codes = ["TCAG".find(c) if c in "TCAG" else 0 for c in seq.upper()]
        codes += [0] * (-len(codes) % 4)
        dna = bytes((a << 6) | (b << 4) | (c << 2) | d for a, b, c, d in zip(*[iter(codes)] * 4))
        body = struct.pack("<II", len(seq), len(n_blocks))
        body += b"".join(struct.pack("<I", s) for s, _ in n_blocks) + b"".join(struct.pack("<I", n) for _, n in n_blocks)
        body += struct.pack("<I", len(masks))
        body += b"".join(struct.pack("<I", s) for s, _ in masks) + b"".join(struct.pack("<I", n) for _, n in masks)
        bodies.append(body + struct.pack("<I", 0) + dna)
    index_size = sum(1 + len(name) + 4 for name, _ in records)
    offset = 16 + index_size
    index = b""
    for (name, _), body in zip(records, bodies):
        index += bytes([len(name)]) + name.encode() + struct.pack("<I", offset)
        offset += len(body)
    header = struct.pack("<IIII", 0x1A412743, version, len(records) if count is None else count, 0)
    return header + index + b"".join(bodies)


TWOBIT_RECORDS = [("chr1", "ACGTacgtNNNNNNacgTTGCAnnA"), ("chrM", "GATTACA")]


def test_twobit_soft_mask_and_n_runs(tmp_path):
    path = tmp_path / "g.2bit"
    path.write_bytes(_twobit(TWOBIT_RECORDS))
    got = list(read_fasta(path))
    assert [(r.name, r.sequence) for r in got] == TWOBIT_RECORDS
    assert [r.name for r in read_fasta(path, records=["chrM"])] == ["chrM"]
    with open(path, "rb") as h:  # Biopython's own reading, for equivalence
        assert [str(r.seq) for r in SeqIO.parse(h, "twobit")] == [r.sequence for r in got]
    s = got[0].stats
    assert (s.length, s.n, s.n_runs, s.longest_n_run, s.soft_masked) == (25, 8, 2, 6, 9)
    assert genorm.read_genome(path).sources[0]["format"] == "2bit"
    gz = tmp_path / "g.2bit.gz"  # a compressed or streamed 2bit is spooled to a temporary file
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert [r.sequence for r in read_fasta(gz)] == [r.sequence for r in got]
    assert [r.sequence for r in read_fasta(io.BytesIO(path.read_bytes()))] == [r.sequence for r in got]


@pytest.mark.parametrize("data, message", [
    (_twobit(TWOBIT_RECORDS, version=1), r"a version-1 2bit file \(64-bit offsets.*Biopython cannot read.*twoBitToFa"),
    (_twobit(TWOBIT_RECORDS, version=7), r"2bit version 7, which Biopython cannot read"),
    (_twobit(TWOBIT_RECORDS, count=4_000_000_000), r"corrupt 2bit file \(the header claims 4,000,000,000 records"),
    (_twobit(TWOBIT_RECORDS)[:-3], r"corrupt 2bit file \(record b'chrM' claims 7 bases"),
    (_twobit(TWOBIT_RECORDS)[:10], r"corrupt 2bit file \(the 16-byte header is cut short"),
])
def test_twobit_variants_and_damage_are_named(tmp_path, data, message):
    path = tmp_path / "g.2bit"
    path.write_bytes(data)
    with pytest.raises(FastaFormatError, match=message):
        list(read_fasta(path))


PROTEIN = [SeqRecord(Seq("MKTAYIAKQR"), id="P1.1", name="P1", annotations={"molecule_type": "protein"})]
CON = """LOCUS       CON1                     100 bp    DNA     linear   CON 01-JAN-1980
DEFINITION  contig.
ACCESSION   CON1
VERSION     CON1.1
KEYWORDS    .
SOURCE      .
  ORGANISM  .
            .
FEATURES             Location/Qualifiers
CONTIG      join(AB000001.1:1..100)
//
"""


@pytest.mark.parametrize("fmt", ["genbank", "embl"])
def test_protein_entries_are_refused_as_protein(tmp_path, fmt):
    handle = io.StringIO()
    SeqIO.write(PROTEIN, handle, fmt)
    path = tmp_path / "p.dat"
    path.write_text(handle.getvalue())
    with pytest.raises(FastaFormatError, match=r"p.dat, record 'P1.1': is a protein entry \(molecule type "
                                               r"'(protein|PROTEIN)'\); genorm models DNA"):
        list(read_fasta(path))


@pytest.mark.parametrize("text, message", [
    (CON, r"record 'CON1.1': the entry has no sequence, only its length \(a CON/contig record"),
    ("LOCUS       X 10 bp DNA\nORIGIN\n        1 acgtac\n//\n",
     r"record 1: the GenBank sequence is damaged \(Biopython: Expected sequence length 10, found 6"),
    ("LOCUS       X\n", r"record 1: not a valid GenBank entry \(Biopython: .*\)\. Check the file"),
    ("ID   X; SV 1; linear; DNA; STD; UNC; 4 BP.\nSQ   Sequence 4 BP;\n     ac1t    4\n//\n",
     r"record 'X.1', base 3: invalid character '1'|not a valid EMBL entry"),
])
def test_biopython_errors_become_genorm_errors(tmp_path, text, message):
    path = tmp_path / "x.dat"
    path.write_text(text)
    with pytest.raises(FastaFormatError, match=message) as info:
        list(read_fasta(path))
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_format_is_sniffed_and_can_be_forced(tmp_path):
    path = tmp_path / "x.gb"
    path.write_bytes(b"\n>a\nACGT\n")
    assert [r.name for r in read_fasta(path)] == ["a"]
    with pytest.raises(FastaFormatError, match=r"x.gb: no genbank records found \(the content starts with '>a"):
        list(read_fasta(path, format="genbank"))
    with pytest.raises(FastaFormatError, match=r"not a 2bit file"):
        list(read_fasta(path, format="2bit"))
    with pytest.raises(ConfigError, match=r"`format`, expected one of fasta, genbank, embl, 2bit"):
        list(read_fasta(path, format="fastq"))


# ------------------------------------------------------------------------------------------
# Issue 12's reader cases: BOM, old-Mac line ends, FIFOs, non-UTF-8 names, files that change


def test_utf8_bom_is_accepted_not_called_binary(tmp_path):
    assert records(b"\xef\xbb\xbf>a\nACGT\n") == [("a", "ACGT")]
    p = tmp_path / "bom.fa.gz"
    p.write_bytes(gzip.compress(b"\xef\xbb\xbf>a\r\nAC\r\n"))
    assert [r.sequence for r in read_fasta(p)] == ["AC"]


def test_old_mac_cr_line_endings_are_read():
    assert records(b">a one\rACGT\rac\r>b\rNN\r") == [("a", "ACGTac"), ("b", "NN")]
    with pytest.raises(FastaFormatError, match=r"record 'b', line 4, column 2: invalid character '1'"):
        records(b">a\rAC\r>b\rG1\r")


def test_fifo_without_writer_is_an_error_not_a_hang(tmp_path):
    fifo = tmp_path / "pipe.fa"
    os.mkfifo(fifo)
    code = f"import genorm; genorm.read_genome({str(fifo)!r})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert b"is a named pipe (FIFO) with no writer: nothing to read. Start the program" in out.stderr


def test_fifo_with_a_writer_is_read(tmp_path, monkeypatch):
    from genorm import reading

    monkeypatch.setattr(reading, "FIFO_WAIT", 60.0)  # a loaded machine may start the writer late
    fifo = tmp_path / "pipe.fa"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"printf '>a\\nACGT\\n' > {fifo}"])
    try:
        assert [r.sequence for r in read_fasta(fifo)] == ["ACGT"]
    finally:
        writer.wait(timeout=30)


def test_record_names_must_be_utf8_and_utf8_names_are_kept(tmp_path):
    assert records(">chré ü\nAC\n".encode()) == [("chré", "AC")]
    assert [r.name for r in read_fasta(io.StringIO(">chré\nAC\n"))] == ["chré"]
    with pytest.raises(FastaFormatError, match=r"line 3: the record name b'chr\\xe9' is not valid UTF-8 \(byte 0xe9\)"
                                               r".*rename the record"):
        records(b">a\nAC\n>chr\xe9\nGT\n")
    path = tmp_path / "latin1.fa"
    path.write_bytes(b">x\xff\nAC\n")
    out = subprocess.run([sys.executable, "-m", "genorm.cli", "info", str(path)], capture_output=True, timeout=120)
    assert out.returncode == 2 and out.stderr.decode().count("\n") == 1
    assert "the record name b'x\\xff' is not valid UTF-8" in out.stderr.decode()


def test_a_file_that_changes_while_it_is_read_is_an_error(tmp_path):
    path = tmp_path / "growing.fa"
    path.write_bytes(b">a\n" + b"ACGT" * 100 + b"\n>b\n" + b"GGCC" * 100 + b"\n")
    it = read_fasta(path)
    assert next(it).name == "a"
    with open(path, "r+b") as h:  # truncated after the first record was read
        h.truncate(200)
    with pytest.raises(InputFileError, match=r"growing.fa: the file changed while it was read \(size at open 808 bytes"
                                             r", now 200 bytes"):
        list(it)


def test_stdin_terminal_is_refused(monkeypatch):
    class Tty(io.BytesIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdin", Tty())
    with pytest.raises(InputFileError, match=r"standard input is a terminal, not a file: pipe a genome in"):
        list(read_fasta("-"))


# ------------------------------------------------------------------------------------------
# In-memory records and FASTA writing


def test_seqrecords_and_pairs_are_read_like_files(tmp_path):
    handle = io.StringIO(_written("genbank").decode())
    got = [(r.name, r.sequence) for r in read_fasta(SeqIO.parse(handle, "genbank"))]
    assert got == [("chrA.1", "ACGTNNNNACGTTGCA" * 3), ("chrB.2", "GGGCCCNAT")]
    g = genorm.read_genome([("a", "ACgtR"), ("b", b"NNA"), ("c", Seq("T"))])
    assert g.names == ["a", "b", "c"] and g.sequence(0) == "ACgtN" and g.stats[0].iupac == {"R": 1}
    assert g.sources == [{"path": "<records>", "format": "records", "compression": "none", "size": None}]
    assert genorm.cached_genome([("a", "ACGT")]).names == ["a"]
    assert genorm.read_genome({"x": "AC", "y": "GT"}).names == ["x", "y"]
    from genorm.reading import in_memory_provenance

    prov = in_memory_provenance(g)
    assert prov["records"] == [{"name": "a", "length": 5}, {"name": "b", "length": 3}, {"name": "c", "length": 1}]
    assert prov["sha256"] == __import__("hashlib").sha256(bytes(g.packed)).hexdigest()


@pytest.mark.parametrize("items, error, message", [
    ([("a", "AC1")], FastaFormatError, r"<records>, record 'a', base 3: invalid character '1'"),
    ([("a", "ACé")], FastaFormatError, r"<records>, record 'a', base 3: invalid character 'é'"),
    ([("a", "AC"), ("a", "GT")], FastaFormatError, r"<records>, record 2: duplicate record name 'a'"),
    ([("a b", "AC")], FastaFormatError, r"item 1: the record name 'a b' is empty or holds white space"),
    ([("a", 5)], FastaFormatError, r"record 'a': expected the sequence as a str, bytes or Bio.Seq.Seq, got int"),
    ([SeqRecord(Seq(None, length=10), id="u")], FastaFormatError, r"record 'u': the entry has no sequence"),
    (PROTEIN, FastaFormatError, r"record 'P1.1': is a protein entry"),
    ([("a", "ACU")], EncodingPolicyError, r"Found 'U' in <records>, record 'a', base 3"),
])
def test_in_memory_record_errors(items, error, message):
    with pytest.raises(error, match=message):
        list(read_fasta(items))


def test_write_fasta_round_trips_through_biopython():
    from genorm.reading import write_fasta

    handle = io.StringIO()
    assert write_fasta([("s1", "ACGT" * 20, "made by a test"), ("s2", "nnAC")], handle, wrap=60) == 2
    text = handle.getvalue()
    assert text.splitlines()[:3] == [">s1 made by a test", "ACGT" * 15, "ACGT" * 5]
    assert records(text) == [("s1", "ACGT" * 20), ("s2", "nnAC")]
    with pytest.raises(ConfigError, match=r"invalid record name 'a b'"):
        write_fasta([("a b", "AC")], io.StringIO())
    with pytest.raises(ConfigError, match=r"description with a line break"):
        write_fasta([("a", "AC", "x\n>evil")], io.StringIO())


def test_info_prints_what_biopython_reads_for_genbank_embl_and_2bit(tmp_path, capsys):
    from genorm.cli import main

    for name, data in [("g.gb", _written("genbank")), ("g.embl", _written("embl"))]:
        (tmp_path / name).write_bytes(data)
    (tmp_path / "g.2bit").write_bytes(_twobit(TWOBIT_RECORDS))
    for name, fmt, rows in [("g.gb", "genbank", [["chrA.1", "48"], ["chrB.2", "9"]]),
                            ("g.embl", "embl", [["chrA.1", "48"], ["chrB.2", "9"]]),
                            ("g.2bit", "2bit", [["chr1", "25"], ["chrM", "7"]])]:
        assert main(["info", "--tsv", str(tmp_path / name)]) == 0
        out = capsys.readouterr().out.splitlines()
        assert [line.split("\t")[:2] for line in out[1:-1]] == rows
        assert main(["info", "--format", fmt, str(tmp_path / name)]) == 0
        assert f"({fmt}, plain" in capsys.readouterr().out
    assert main(["info", "--format", "embl", str(tmp_path / "g.gb")]) == 2
    assert "g.gb: no embl records found (the content starts with 'LOCUS" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------
# Robustness: random bytes as input give records or a GenormError, quickly


PREFIXES = [b"", b">", b"LOCUS       ", b"ID   ", b"\x43\x27\x41\x1a", b"\x43\x27\x41\x1a\x00\x00\x00\x00", b"\xef\xbb\xbf>"]


@settings(max_examples=150, deadline=None)
@given(prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=300), compress=st.booleans())
def test_random_bytes_only_raise_genorm_errors_and_never_hang(prefix, body, compress):
    import time

    data = prefix + body
    data = gzip.compress(data) if compress else data
    start = time.monotonic()
    try:
        for rec in read_fasta(io.BytesIO(data)):
            assert rec.codes.max() <= 4
    except GenormError:
        pass
    assert time.monotonic() - start < 10  # bounded time per example (a hang would be caught by the CI timeout)


# ------------------------------------------------------------------------------------------
# The Python API end to end: SeqIO.parse(...) and (name, sequence) pairs through train and evaluate


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["seqio", "pairs"])
def test_train_and_evaluate_on_in_memory_records(tmp_path, kind):
    import json

    from genorm.model import ModelConfig
    from genorm.train import TrainConfig

    rng = np.random.default_rng(0)
    seqs = {"r1": "".join(rng.choice(list("ACGT"), 3000)), "r2": "ACGTTGCA" * 250}
    if kind == "seqio":
        handle = io.StringIO()
        SeqIO.write([SeqRecord(Seq(s), id=n, description="", annotations={"molecule_type": "DNA"})
                     for n, s in seqs.items()], handle, "genbank")
        handle.seek(0)
        source = SeqIO.parse(handle, "genbank")
    else:
        source = iter(seqs.items())
    config = TrainConfig(model=ModelConfig(cell="gru", units=8, layers=1), window=24, batch_size=8, epochs=1,
                         bases_per_epoch=8 * 24 * 4, max_val_bases=500, seed=1, baselines=False)
    run = genorm.train(source, config, out_dir=tmp_path / "run")
    prov = json.loads((tmp_path / "run" / "provenance.json").read_text())
    (inp,) = prov["inputs"]
    genome = genorm.read_genome(list(seqs.items()))
    assert inp["path"] == "<records>" and inp["kind"] == "in-memory records"
    assert inp["records"] == [{"name": "r1", "length": 3000}, {"name": "r2", "length": 2000}]
    assert inp["sha256"] == __import__("hashlib").sha256(bytes(genome.packed)).hexdigest()
    report = genorm.evaluate(run.model, list(seqs.items()))
    row = report.summary.iloc[0]
    assert row["bases"] == 5000 and 0.0 <= row["accuracy"] <= 1.0
    loaded = genorm.load(tmp_path / "run")
    assert loaded.evaluate([("r2", seqs["r2"])]).summary.iloc[0]["bases"] == 2000
    with pytest.raises(GenormError, match=r"trained on in-memory records: there is no file to re-read"):
        loaded.genome
