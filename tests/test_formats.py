"""The formats (genorm.reading.formats): FASTA, GenBank, EMBL and 2bit through Bio.SeqIO, and Biopython's errors as genorm's."""

from __future__ import annotations

import gzip
import io
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from Bio import SeqIO
from Bio.Seq import Seq
from Bio.SeqRecord import SeqRecord
from hypothesis import given, settings
from hypothesis import strategies as st

import genorm
from genorm.errors import ConfigError, FastaFormatError, GenormError
from genorm.reading.formats import check_twobit_index
from genorm.reading.records import read_fasta


def records(data: bytes | str, **kw) -> list[tuple[str, str]]:
    data = data.encode() if isinstance(data, str) else data
    return [(r.name, r.sequence) for r in read_fasta(io.BytesIO(data), **kw)]


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


def _twobit_named(name: bytes) -> bytes:
    """A one-record 2bit file whose record is called ``name`` (any bytes)."""
    data = _twobit([("x" * len(name), "ACGTACGT")])
    return data.replace(bytes([len(name)]) + b"x" * len(name), bytes([len(name)]) + name, 1)


def _twobit_block(which: int, start: int, size: int) -> bytes:
    """A 2bit file whose first N block (``which`` 0) or mask block (1) is at ``start``, ``size`` bases long."""
    data = bytearray(_twobit([("chr1", "ACGTNNNNacgt" * 10)]))
    offset = 16 + 1 + 4 + 4
    bases, n_blocks = struct.unpack_from("<II", data, offset)
    at = offset + 8 if which == 0 else offset + 12 + 8 * n_blocks
    count = n_blocks if which == 0 else struct.unpack_from("<I", data, offset + 8 + 8 * n_blocks)[0]
    struct.pack_into("<I", data, at, start)
    struct.pack_into("<I", data, at + 4 * count, size)
    return bytes(data)


@pytest.mark.parametrize("data, message", [
    # issue 23: block coordinates Biopython would add in uint32 and index with unchecked (a segfault)
    (_twobit_block(0, 100, 0xFFFFFFF0), r"corrupt 2bit file \(record b'chr1' has an N block of 4,294,967,280 bases at "
                                         r"100, past its end at 120\)"),
    (_twobit_block(0, 0xFFFFFFF0, 4), r"has an N block of 4 bases at 4,294,967,280, past its end at 120"),
    (_twobit_block(1, 118, 8), r"has a mask block of 8 bases at 118, past its end at 120"),
    # issue 23: names Biopython cannot decode, or that a BED/TSV/FASTA file cannot hold
    (_twobit_named("chré".encode()), r"record 1: the record name b'chr\\xc3\\xa9' is not ASCII, and Biopython's 2bit "
                                      r"reader reads ASCII names only"),
    (_twobit_named(b"chr\xe9"), r"record 1: the record name b'chr\\xe9' is not ASCII"),
    (_twobit_named(b"a\tb"), r"record 1: the record name 'a\\tb' holds '\\t' \(white space or a control character\)"),
    (_twobit_named(b"a\nb"), r"the record name 'a\\nb' holds '\\n'"),
    (_twobit_named(b""), r"record 1: the record has an empty name"),
    (_twobit(TWOBIT_RECORDS, version=1), r"a version-1 2bit file \(64-bit offsets.*Biopython cannot read.*twoBitToFa"),
    (_twobit(TWOBIT_RECORDS, version=7), r"2bit version 7, which Biopython cannot read"),
    (_twobit(TWOBIT_RECORDS, count=4_000_000_000), r"corrupt 2bit file \(the header claims 4,000,000,000 records"),
    (_twobit(TWOBIT_RECORDS)[:-3], r"corrupt 2bit file \(record b'chrM' claims 7 bases"),
    (_twobit(TWOBIT_RECORDS)[:10], r"corrupt 2bit file \(the 16-byte header is cut short"),
    # issue 23: Biopython kept one of two records of the same name, silently
    (_twobit([("chr1", "ACGT"), ("chrM", "GATTACA"), ("chr1", "TTTT")]),
     r"g\.2bit: duplicate record name 'chr1' \(records 1 and 3 of the 2bit index\)\. Record names must be unique: "
     r"rename one of them"),
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


def test_old_mac_cr_line_endings_are_read():
    assert records(b">a one\rACGT\rac\r>b\rNN\r") == [("a", "ACGTac"), ("b", "NN")]
    with pytest.raises(FastaFormatError, match=r"record 'b', line 4, column 2: invalid character '1'"):
        records(b">a\rAC\r>b\rG1\r")


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


@pytest.mark.parametrize("data, message", [
    (b"\x00" * 16, r"x.2bit: not a 2bit file \(no 2bit signature"),
    (struct.pack("<IIII", 0x1A412743, 0, 1, 0) + bytes([255]) + b"chr" * 4, r"corrupt 2bit file \(the index is cut short\)"),
    (struct.pack("<IIII", 0x1A412743, 0, 1, 1) + bytes(40), r"the header claims 1 records in 56 bytes"),
])
def test_check_twobit_index_before_biopython_trusts_it(data, message):
    with pytest.raises(FastaFormatError, match=message):
        check_twobit_index(io.BytesIO(data), len(data), "x.2bit")
