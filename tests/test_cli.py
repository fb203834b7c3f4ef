"""genorm.cli (the package front): main, the parser, exit codes, -q/-v. Each command module has its own
tests/test_cli_<module>.py."""

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


def test_missing_file_exit_status_from_a_real_process(tmp_path):
    out = subprocess.run([sys.executable, "-m", "genorm.cli", "info", str(tmp_path / "nope.fa")], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip() == f"error: {tmp_path / 'nope.fa'}: no such file. Check the path."
    assert "Traceback" not in out.stderr


# ------------------------------------------------------------------------------------------
# logs: --quiet, --verbose


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


# ------------------------------------------------------------------------------------------
# exit codes


def test_usage_error_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["info"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the following arguments are required: fasta; see `genorm info --help`.")
    assert len(err.strip().splitlines()) == 1


def test_every_command_is_declared():
    from genorm.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == ["evaluate", "explain", "generate", "index", "info", "predict", "score", "train"]


def test_ctrl_c_is_exit_130_and_one_line(capsys, monkeypatch):
    from genorm.cli import inputs

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(inputs, "cmd_info", interrupted)
    assert main(["info", "x.fa"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_genorm_error_is_one_line_and_exit_2(capsys, monkeypatch):
    from genorm.cli import inputs
    from genorm.errors import ConfigError

    def fails(args):
        raise ConfigError("Received an invalid value for `x`, expected 1, got 2.")

    monkeypatch.setattr(inputs, "cmd_info", fails)
    assert main(["info", "x.fa"]) == 2
    assert capsys.readouterr().err == "error: Received an invalid value for `x`, expected 1, got 2.\n"
