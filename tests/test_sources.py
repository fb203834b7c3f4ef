"""Opening inputs (genorm.reading.sources): paths, '-', handles, compression and format sniffing, FIFOs, BOM, changed files."""

from __future__ import annotations

import gzip
import io
import os
import re
import subprocess
import sys

import pytest

from genorm.reading import sources
from genorm.errors import InputFileError
from genorm.reading.records import read_fasta
from genorm.reading.sources import sniff_compression, sniff_format


def records(data: bytes | str, **kw) -> list[tuple[str, str]]:
    data = data.encode() if isinstance(data, str) else data
    return [(r.name, r.sequence) for r in read_fasta(io.BytesIO(data), **kw)]


@pytest.mark.parametrize("head, compression", [
    (b">a\nACGT\n", "plain"),
    (b"", "plain"),
    (gzip.compress(b">a\n")[:18], "gzip"),
    (b"\x1f\x8b\x08\x04" + bytes(8) + b"BC\x02\x00", "bgzf"),
    (b"BZh91AY&SY", "bzip2"),
    (b"\xfd7zXZ\x00\x00", "xz"),
    (b"\x28\xb5\x2f\xfd\x00", "zstd"),
    (b"PK\x03\x04", "zip"),
])
def test_sniff_compression_reads_the_first_bytes(head, compression):
    assert sniff_compression(head) == compression


@pytest.mark.parametrize("head, fmt", [
    (b">a\nACGT\n", "fasta"),
    (b"\n\nLOCUS       X", "genbank"),
    (b"ID   X; SV 1;", "embl"),
    (b"\x43\x27\x41\x1a\x00", "2bit"),
    (b"\x1a\x41\x27\x43\x00", "2bit"),
    (b"ACGT\n", "fasta"),  # anything else is given to the FASTA reader, which says what is wrong
])
def test_sniff_format_reads_the_first_decompressed_bytes(head, fmt):
    assert sniff_format(head) == fmt


def test_an_unsupported_compression_is_named():
    with pytest.raises(InputFileError, match=r"<handle>: is xz-compressed; genorm reads plain, gzip and bgzip files"):
        records(b"\xfd7zXZ\x00\x00" + bytes(20))


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


def _bgzf_blocks(path, text_parts: list[bytes]) -> list[bytes]:
    """A bgzip file of ``text_parts`` written to ``path``, one BGZF block each, as its blocks (the last one the
    end-of-file block)."""
    from Bio import bgzf

    with bgzf.BgzfWriter(str(path), "wb") as h:
        for part in text_parts:
            h.write(part)
            h.flush()  # ends the block
    data, blocks = path.read_bytes(), []
    while data:
        size = int.from_bytes(data[16:18], "little") + 1  # BSIZE: the block's size minus 1
        blocks.append(data[:size])
        data = data[size:]
    return blocks


def test_bgzf_cut_at_a_block_boundary_is_refused(tmp_path):
    """Issue 23: a BGZF file without its end-of-file block read as a complete, shorter genome."""
    whole = tmp_path / "whole.fa.gz"
    blocks = _bgzf_blocks(whole, [b">a\nACGT\n", b">b\nGGCC\n", b">c\nTTAA\n"])
    assert len(blocks) == 4 and blocks[-1] == sources.BGZF_EOF
    assert [r.name for r in read_fasta(whole)] == ["a", "b", "c"]
    cut = tmp_path / "cut.fa.gz"
    cut.write_bytes(b"".join(blocks[:2]))  # gzip -t and Python's gzip read this without complaint
    assert gzip.decompress(cut.read_bytes()) == b">a\nACGT\n>b\nGGCC\n"
    with pytest.raises(InputFileError, match=rf"^{re.escape(str(cut))}: the bgzip file has no BGZF end-of-file marker "
                                             r"\(the empty block bgzip writes last\): it was probably cut short while "
                                             r"downloading or copying.*Fetch it again \(`bgzip -t` tests it\)"):
        list(read_fasta(cut))


def test_corrupt_gzip():
    gz = gzip.compress(b">a\n" + b"ACGT" * 10000 + b"\n")
    with pytest.raises(InputFileError, match=r"gzip stream is truncated.*fetch it again"):
        records(gz[: len(gz) // 2])
    with pytest.raises(InputFileError, match=r"corrupt gzip data"):
        records(gz + b"trailing garbage")


def test_stdin(tmp_path):
    code = "import genorm; print([r.sequence for r in genorm.read_fasta('-')])"
    out = subprocess.run([sys.executable, "-c", code], input=gzip.compress(b">a\nACGT\n"), capture_output=True, check=True)
    assert out.stdout.decode().strip() == "['ACGT']"


def test_utf8_bom_is_accepted_not_called_binary(tmp_path):
    assert records(b"\xef\xbb\xbf>a\nACGT\n") == [("a", "ACGT")]
    p = tmp_path / "bom.fa.gz"
    p.write_bytes(gzip.compress(b"\xef\xbb\xbf>a\r\nAC\r\n"))
    assert [r.sequence for r in read_fasta(p)] == ["AC"]


def test_fifo_without_writer_is_an_error_not_a_hang(tmp_path):
    fifo = tmp_path / "pipe.fa"
    os.mkfifo(fifo)
    code = f"import genorm; genorm.read_genome({str(fifo)!r})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert b"is a named pipe (FIFO) with no writer: nothing to read. Start the program" in out.stderr


def test_fifo_with_a_writer_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "FIFO_WAIT", 60.0)  # a loaded machine may start the writer late
    fifo = tmp_path / "pipe.fa"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"printf '>a\\nACGT\\n' > {fifo}"])
    try:
        assert [r.sequence for r in read_fasta(fifo)] == ["ACGT"]
    finally:
        writer.wait(timeout=30)


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
