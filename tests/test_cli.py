"""The CLI, in process: exit codes, one-line errors, tables."""

from __future__ import annotations

import subprocess
import sys

import pytest

from genorm import __version__
from genorm.cli import main


def test_help_and_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"genorm {__version__}"
    assert main([]) == 0
    assert "info" in capsys.readouterr().out


def test_help_does_not_import_tensorflow():
    code = "import sys; from genorm.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass\nprint('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("False")


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


def test_missing_file_exit_status_from_a_real_process(tmp_path):
    out = subprocess.run([sys.executable, "-m", "genorm.cli", "info", str(tmp_path / "nope.fa")], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip() == f"error: {tmp_path / 'nope.fa'}: no such file. Check the path."
    assert "Traceback" not in out.stderr


# ------------------------------------------------------------------------------------------
# logs: progress off a terminal, --quiet, --verbose


def test_progress_in_a_log_is_one_line_per_step_without_carriage_returns(capsys):
    from genorm.cli import ProgressBar

    bar = ProgressBar(mode="lines", unit="Mb", every=10)
    for done in range(0, 35_000_001, 1_000_000):
        bar(done, 35_000_000, "evaluate")
    bar.close()
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "evaluate: 10.0 Mb of 35.0 Mb (28.6%)", "evaluate: 20.0 Mb of 35.0 Mb (57.1%)",
        "evaluate: 30.0 Mb of 35.0 Mb (85.7%)"]


def test_progress_bar_on_a_terminal_and_off(capsys):
    from genorm.cli import ProgressBar

    bar = ProgressBar(mode="bar", min_interval=0)
    bar(5_000_000, 10_000_000, "x.fa")
    bar.close()
    err = capsys.readouterr().err
    assert err.startswith("\rx.fa") and "50.0%" in err and err.endswith("\n")
    bar = ProgressBar(mode="off")
    bar(5_000_000, 10_000_000, "x.fa")
    bar.close()
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("flags", [["-q"], ["--quiet"]])
def test_quiet_before_or_after_the_command(capsys, sample_data, flags):
    fasta = str(sample_data / "phiX174_NC_001422.fa")
    for argv in ([*flags, "info", "--tsv", fasta], ["info", "--tsv", fasta, *flags]):
        assert main(argv) == 0
        out, err = capsys.readouterr()
        assert out.startswith("record\tlength") and err == ""
    assert main(["-q", "info", str(sample_data / "nope.fa")]) == 2  # errors still show
    assert capsys.readouterr().err.startswith("error: ")


def test_quiet_and_verbose_exclude_each_other(capsys, sample_data):
    with pytest.raises(SystemExit) as exc:
        main(["info", str(sample_data / "phiX174_NC_001422.fa"), "-q", "-v"])
    assert exc.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_verbose_logs_details_on_stderr_only(capsys, sample_data, tmp_path):
    import shutil

    fasta = tmp_path / "phix.fa"
    shutil.copy(sample_data / "phiX174_NC_001422.fa", fasta)
    assert main(["index", str(fasta), "-v"]) == 0
    out, err = capsys.readouterr()
    assert "wrote genome cache" in err and "wrote genome cache" not in out
    assert out.startswith("cache: ")
