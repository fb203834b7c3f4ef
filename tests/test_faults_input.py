"""Fault suite, input side: the CLI run as a user runs it, on every kind of bad FASTA.

Each case checks the exit status, a single ``error:`` line naming the file and what to do,
and no traceback.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys

import pytest

from test_formats import _twobit_block, _twobit_named

pytestmark = pytest.mark.slow


def genorm(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genorm.cli", *args], input=stdin, capture_output=True, timeout=120)


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


GOOD = b">a\n" + bytes(b"ACGT"[i] for i in __import__("numpy").random.default_rng(0).integers(0, 4, 20000)) + b"\n"

CASES = {
    "empty file": (b"", r"the file is empty"),
    "header only": (b">chr1\n", r"no sequence: 1 header line\(s\) but every record is empty"),
    "no header": (b"ACGTACGT\n", r"no FASTA header: expected a line starting with '>' at line 1"),
    "fastq": (b"@read1\nACGT\n+\nIIII\n", r"this is FASTQ, not FASTA"),
    "protein": (b">sp|P69905|HBA_HUMAN\nMVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYF\n", r"looks like a protein FASTA"),
    "binary": (bytes(range(256)) * 16, r"binary file, not FASTA"),
    "truncated gzip": (_gz(GOOD)[:200], r"gzip stream is truncated"),
    "gzip with trailing garbage": (_gz(GOOD) + b"this is not gzip", r"corrupt gzip data"),
    "duplicate names": (b">a\nAC\n>b\nGG\n>a\nTT\n", r"line 5: duplicate record name 'a'"),
    "gap characters": (b">a\nACGT-ACGT\n", r"record 'a', line 2, column 5: invalid character '-'"),
    "bzip2": (b"BZh91AY&SY" + bytes(40), r"bzip2-compressed"),
    # issue 23: a segfault in Biopython before; then a TSV with a quoted tab, a traceback
    "2bit N block past 2**32": (_twobit_block(0, 100, 0xFFFFFFF0), r"corrupt 2bit file \(record b'chr1' has an N block"),
    "2bit name with a tab": (_twobit_named(b"a\tb"), r"the record name 'a\\tb' holds '\\t'"),
    "2bit name not ASCII": (_twobit_named(b"chr\xe9"), r"the record name b'chr\\xe9' is not ASCII"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_fasta_gives_one_line_error(tmp_path, case):
    content, message = CASES[case]
    path = tmp_path / "input.fa"
    path.write_bytes(content)
    out = genorm("info", str(path))
    err = out.stderr.decode()
    assert out.returncode == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert str(path) in lines[0]
    import re

    assert re.search(message, lines[0]), lines[0]


def test_directory_missing_and_unreadable(tmp_path):
    out = genorm("info", str(tmp_path))
    assert out.returncode == 2 and b"is a directory, not a FASTA file" in out.stderr
    out = genorm("info", str(tmp_path / "nope.fa"))
    assert out.returncode == 2 and b"no such file" in out.stderr
    if os.geteuid() != 0:
        p = tmp_path / "locked.fa"
        p.write_bytes(GOOD)
        p.chmod(0)
        out = genorm("info", str(p))
        assert out.returncode == 2 and b"permission denied" in out.stderr


def test_names_with_spaces_tabs_and_windows_line_endings(tmp_path):
    p = tmp_path / "win.fa"
    p.write_bytes(b">chr1 some\tdescription here\r\nACGT\r\nAC\r\n>chr2\t\tx\r\nGG\r\n")
    out = genorm("info", "--tsv", str(p))
    assert out.returncode == 0, out.stderr
    rows = [line.split("\t")[:2] for line in out.stdout.decode().splitlines()[1:]]
    assert rows == [["chr1", "6"], ["chr2", "2"], ["total", "8"]]


def test_all_n_genome_is_reported_not_crashed(tmp_path):
    p = tmp_path / "n.fa"
    p.write_bytes(b">n\n" + b"N" * 1000 + b"\n")
    out = genorm("info", "--tsv", str(p))
    assert out.returncode == 0
    row = out.stdout.decode().splitlines()[1].split("\t")
    assert row[0] == "n" and row[1] == "1000" and row[2] == "NA" and row[3] == "1000"


def test_huge_single_line_is_streamed(tmp_path):
    """A 200 MB sequence on one line with no final newline: read within the memory budget."""
    p = tmp_path / "oneline.fa"
    with open(p, "wb") as fh:
        fh.write(b">long\n")
        block = b"ACGT" * (1 << 18)  # 1 MiB
        for _ in range(200):
            fh.write(block)
    # VmHWM, not ru_maxrss: ru_maxrss survives exec and would report the parent's (pytest + TensorFlow) peak.
    code = ("import genorm; g = genorm.read_genome(%r); "
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
            "print(g.total_length, int(hwm) // 1024)") % str(p)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=300, check=True)
    length, peak_mb = map(int, out.stdout.split())
    assert length == 200 * (1 << 20)
    # issue 13's budget: 6 B/base of the largest record (Biopython's line, its bytes, their codes) + 1.2 B/base
    # of the genome + the interpreter
    assert peak_mb < 200 * 1.05 * (6 + 1.2) + 120


def test_stdin_is_read(tmp_path):
    out = genorm("info", "--tsv", "-", stdin=_gz(b">s\nACGTNN\n"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().splitlines()[1].split("\t")[:2] == ["s", "6"]


@pytest.mark.parametrize("command, needle", [
    (["index"], "genorm index hashes the file and caches its genome beside it"),
    (["train", "--out", "RUN"], "genorm train records each input's path and SHA-256"),
])
def test_a_named_pipe_is_refused_where_a_file_is_needed(tmp_path, command, needle):
    """issue 23: ``index`` on a FIFO with no writer hung (hashing it); ``train`` said "not found"."""
    fifo = tmp_path / "pipe.fa"
    os.mkfifo(fifo)
    argv = [str(tmp_path / "run") if a == "RUN" else a for a in command]
    out = genorm(argv[0], str(fifo), *argv[1:])
    from cli_checks import assert_one_error

    assert_one_error(out.returncode, out.stderr.decode(), f"{fifo}: is a named pipe (FIFO), not a regular file: "
                     f"{needle}", "Save it to a file first")
    assert not (tmp_path / "run").exists()


def test_train_on_dev_stdin_from_a_pipe_is_refused(tmp_path):
    out = genorm("train", "/dev/stdin", "--out", str(tmp_path / "run"), stdin=GOOD)
    from cli_checks import assert_one_error

    assert_one_error(out.returncode, out.stderr.decode(), "/dev/stdin: is a named pipe (FIFO), not a regular file")
    assert not (tmp_path / "run").exists()
