"""genorm.cli.inputs: `genorm info` and `genorm index`."""

from __future__ import annotations

import shutil

import pytest

from genorm.cli import main


def test_info_table(capsys, sample_data):
    assert main(["info", str(sample_data / "vertebrate6_ucsc_softmasked_segments.fa.gz")]) == 0
    out = capsys.readouterr().out
    assert "monDom5" in out and "540,519" in out and "total" in out
    assert "IUPAC ambiguity codes -> N" in out


def test_info_tsv(capsys, sample_data):
    assert main(["info", "--tsv", str(sample_data / "a_thaliana_1pct_chromosomes.fa.gz"), "--records", "Chr2,ChrM"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split("\t")
    assert header[:3] == ["record", "length", "gc_fraction"]
    rows = {line.split("\t")[0]: dict(zip(header, line.split("\t"))) for line in lines[1:]}
    assert set(rows) == {"Chr2", "ChrM", "total"}
    assert rows["Chr2"]["length"] == "196982"
    assert rows["Chr2"]["iupac_codes"] == "K:3,S:1,Y:1"
    assert rows["Chr2"]["longest_n_run"] == "1000"


@pytest.mark.parametrize(
    "content, args, message",
    [
        (b"@r\nACGT\n+\nIIII\n", [], r"^error: .*x\.fa: this is FASTQ, not FASTA"),
        (b">a\nACRT\n", ["--iupac", "error"], r"^error: Found IUPAC ambiguity code 'R' in .*x\.fa, record 'a', base 3"),
        (b">a\nACGT\n", ["--records", "b"], r"^error: Record\(s\) not found: b\. Available records: a\.$"),
        (b">a\nAC%T\n", [], r"^error: .*x\.fa, record 'a', line 2, column 3: invalid character '%'"),
    ],
)
def test_info_errors_are_one_line(capsys, write_fasta, content, args, message):
    path = write_fasta(content)
    assert main(["info", str(path), *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    import re

    assert re.search(message, err.strip())


def test_info_output_file_is_the_tsv(capsys, sample_data, tmp_path):
    out = tmp_path / "info.tsv"
    assert main(["info", str(sample_data / "phiX174_NC_001422.fa"), "-o", str(out)]) == 0
    assert capsys.readouterr().out == ""
    assert out.read_text().splitlines()[0].startswith("record\tlength\tgc_fraction")


def test_index_builds_then_is_up_to_date(capsys, sample_data, tmp_path):
    fasta = tmp_path / "phix.fa"
    shutil.copy(sample_data / "phiX174_NC_001422.fa", fasta)
    cache = tmp_path / "cache"
    assert main(["index", str(fasta), "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"cache: {cache} (built)"
    assert out[1].startswith("records: 1; bases: 5,386; size on disk: ")
    assert main(["index", str(fasta), "--cache-dir", str(cache)]) == 0
    assert capsys.readouterr().out.startswith(f"cache: {cache} (up to date)")


def test_index_refuses_standard_input(capsys):
    assert main(["index", "-"]) == 2
    assert capsys.readouterr().err == ("error: Standard input cannot be indexed: genorm index needs FASTA files on "
                                       "disk.\n")
