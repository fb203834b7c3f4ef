"""Fault suite, output side: where outputs go, what they may overwrite, JSON that genorm reads, the run
lock, and interruptions or full disks while a run is written (issue 12, "Trust").

The CLI cases run in-process through ``genorm.cli.main`` on one tiny run trained once. Each checks
what a user sees: exit status 2, exactly one ``error:`` line naming the path and the reason, no
traceback, and nothing written or destroyed. ``docs/robustness.md`` ("Outputs, run directory and
interruption") is the table of these cases.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genorm.atomic import atomic_write_text, check_field, escape_text, remove_stale_temporaries
from genorm.cli import main
from genorm.errors import ConfigError, GenormError, OutputFileError, RunDirError
from cli_checks import assert_one_error

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--cell", "gru", "--units", "8", "--layers", "1", "--window", "24", "--batch-size", "16",
        "--bases-per-epoch", "2304", "--max-val-bases", "2000", "--seed", "3"]
H5_FULL = ("Can't decrement id ref count (file write failed: time = Wed Dec  2 11:00:00 2026, filename = "
           "'model.weights.h5', file descriptor = 5, errno = 28, error message = 'No space left on device', "
           "buf = 0x55d0, total write size = 4096, bytes this sub-write = 4096, bytes actually written = "
           "18446744073709551615, offset = 0)")
"""What h5py raises (as RuntimeError) when the disk fills while Keras writes a weights file."""


def cli(capsys, *argv) -> tuple[int, str, str]:
    """``genorm ARGV`` in this process: (exit status, stdout, stderr)."""
    for handler in list(logging.root.handlers):  # basicConfig binds to the stderr of its first call
        logging.root.removeHandler(handler)
    capsys.readouterr()
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def snapshot(run: Path) -> dict:
    return {p.relative_to(run): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def fasta(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "periodic.fa"
    path.write_text(">periodic\n" + "ACGTTGCAAC" * 500 + "\n>second\n" + "GGCATTACGA" * 300 + "\n")
    return path


@pytest.fixture(scope="module")
def base_run(fasta, tmp_path_factory) -> Path:
    from genorm.training.trainer import train
    from genorm.config import TrainConfig

    out = tmp_path_factory.mktemp("runs") / "run"
    config = TrainConfig().replace(cell="gru", units=8, layers=1, window=24, batch_size=16, bases_per_epoch=2304,
                                   max_val_bases=2000, seed=3, epochs=1, context_orders=())
    train([fasta], config, out_dir=out)
    return out


@pytest.fixture
def run_copy(base_run, tmp_path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(base_run, dst)
    return dst


# ------------------------------------------------------------------------------------------
# 1. where an output cannot go


def _locations(tmp: Path) -> dict:
    (tmp / "afile").write_text("a regular file\n")
    (tmp / "adir").mkdir()
    return {  # name: (path, what the error line says)
        "below a regular file": (tmp / "afile" / "out.json", "is a file, not a directory"),
        "two levels below a file": (tmp / "afile" / "sub" / "out.json", "is a file, not a directory"),
        "under /proc": (Path("/proc/self/out.json"), "'proc' is a kernel pseudo-filesystem"),
        "under /sys": (Path("/sys/out.json"), "'sys' is a kernel pseudo-filesystem"),
        "a directory": (tmp / "adir", "it is a directory"),
        "empty": ("", "The output path is empty"),
        "/dev/full": (Path("/dev/full"), "Cannot write /dev/full: No space left on device. Choose another output "
                                         "path."),  # issue 23: an OSError traceback
    }


@pytest.mark.parametrize("where", ["below a regular file", "two levels below a file", "under /proc", "under /sys",
                                   "a directory", "empty", "/dev/full"])
@pytest.mark.parametrize("command", ["predict", "score", "generate", "evaluate"])
def test_output_location_is_one_error(base_run, fasta, tmp_path, capsys, where, command):
    path, needle = _locations(tmp_path)[where]
    argv = {"predict": ["predict", base_run, fasta, "-o", path], "score": ["score", base_run, fasta, "-o", path],
            "generate": ["generate", base_run, "--length", "5", "-o", path],
            "evaluate": ["evaluate", base_run, "-o", path]}[command]
    if command == "evaluate" and where == "a directory":
        argv[-1] = tmp_path / "adir.json"
        (tmp_path / "adir.json").mkdir()
    if command == "evaluate" and where == "/dev/full":
        needle = "--output '/dev/full': expected a file name ending in .json or .tsv"
    rc, out, err = cli(capsys, *argv)
    assert_one_error(rc, err, needle)
    assert out == "" or where == "/dev/full"  # score prints its table before it writes /dev/full


@pytest.mark.parametrize("where, needle", [
    ("below a regular file", "is a file, not a directory"),
    ("under /proc", "'proc' is a kernel pseudo-filesystem"),
    ("under /sys", "'sys' is a kernel pseudo-filesystem"),
    ("empty", "--out '' is not a directory name"),
    ("a regular file", "it exists and is not a directory"),
])
def test_train_out_location_is_one_error(fasta, tmp_path, capsys, where, needle):
    _locations(tmp_path)
    out = {"below a regular file": tmp_path / "afile" / "run", "under /proc": Path("/proc/self/run"),
           "under /sys": Path("/sys/run"), "empty": "", "a regular file": tmp_path / "afile"}[where]
    rc, _, err = cli(capsys, "train", fasta, "--out", out, *TINY, "--epochs", "1")
    assert_one_error(rc, err, needle)
    assert not (Path("runs") / "periodic").exists()  # '' is not the default runs/<name of the FASTA>
    assert (tmp_path / "afile").read_text() == "a regular file\n"


def test_read_only_directory(base_run, fasta, tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root writes into a chmod 0555 directory; read-only is covered by /proc and /sys above")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        rc, _, err = cli(capsys, "predict", base_run, fasta, "-o", ro / "p.tsv")
        assert_one_error(rc, err, "permission denied in", "or it is read-only")
        rc, _, err = cli(capsys, "train", fasta, "--out", ro / "run", *TINY, "--epochs", "1")
        assert_one_error(rc, err, "permission denied in")
    finally:
        ro.chmod(0o755)


# ------------------------------------------------------------------------------------------
# 4. an output never overwrites an input or a file of the run it reads


def _aliases(run: Path, fasta: Path, tmp: Path) -> dict:
    (tmp / "sym.keras").symlink_to(run / "model.keras")
    os.link(run / "provenance.json", tmp / "hard.json")
    (tmp / "fa_link.tsv").symlink_to(fasta)
    os.link(fasta, tmp / "fa_hard.tsv")
    rel = Path(os.path.relpath(run, Path.cwd()))
    return {
        "evaluate RUN -o RUN/config.json": (["evaluate", run, "-o", run / "config.json"], "file of the run directory"),
        "evaluate RUN -o RUN/../RUN/provenance.json": (["evaluate", run, "-o", run / ".." / run.name / "provenance.json"],
                                                       "file of the run directory"),
        "evaluate RUN -o RUN/config.json (relative paths)": (["evaluate", rel, "-o", rel / "config.json"],
                                                             "file of the run directory"),
        "generate RUN -o RUN/model.keras": (["generate", run, "--length", "5", "-o", run / "model.keras"],
                                            "file of the run directory"),
        "generate RUN -o symlink to RUN/model.keras": (["generate", run, "--length", "5", "-o", tmp / "sym.keras"],
                                                       "file of the run directory"),
        "evaluate RUN -o hard link of RUN/provenance.json": (["evaluate", run, "-o", tmp / "hard.json"],
                                                             "file of the run directory"),
        "score RUN FA -o RUN/backup/state.json": (["score", run, fasta, "-o", run / "backup" / "state.json"],
                                                  "file of the run directory"),
        "predict RUN FA -o RUN/splits.bed": (["predict", run, fasta, "-o", run / "splits.bed"],
                                             "file of the run directory"),
        "predict RUN FA -o RUN/logs/p.tsv (not there yet)": (["predict", run, fasta, "-o", run / "logs" / "p.tsv"],
                                                             "file of the run directory"),
        "predict RUN FA -o FA": (["predict", run, fasta, "-o", fasta], "it is an input of this command"),
        "predict RUN FA -o symlink to FA": (["predict", run, fasta, "-o", tmp / "fa_link.tsv"], "input of this command"),
        "predict RUN FA -o hard link of FA": (["predict", run, fasta, "-o", tmp / "fa_hard.tsv"],
                                              "input of this command"),
        "info FA -o FA": (["info", fasta, "-o", fasta.parent / ".." / fasta.parent.name / fasta.name],
                          "input of this command"),
    }


def test_outputs_never_overwrite_inputs_or_run_files(run_copy, fasta, tmp_path, capsys):
    before, fasta_bytes = snapshot(run_copy), fasta.read_bytes()
    for name, (argv, needle) in _aliases(run_copy, fasta, tmp_path).items():
        rc, _, err = cli(capsys, *argv)
        assert_one_error(rc, err, needle, "Choose")
        assert snapshot(run_copy) == before, name
        assert fasta.read_bytes() == fasta_bytes, name
    assert (tmp_path / "sym.keras").is_symlink() and not (run_copy / "logs").exists()
    rc, _, err = cli(capsys, "score", run_copy, fasta, "-o", run_copy / "my_scores.tsv")  # not a run file: allowed
    assert rc == 0, err


@pytest.mark.parametrize("command", [["predict", "RUN", "-", "-o", "FA"], ["info", "-", "-o", "FA"]])
def test_output_that_is_the_file_on_standard_input_is_refused(base_run, fasta, tmp_path, command):
    """``genorm predict RUN - -o FILE < FILE`` (issue 23): standard input's device and inode are the output's."""
    copy = tmp_path / "in.fa"
    copy.write_bytes(fasta.read_bytes())
    argv = [str(base_run) if a == "RUN" else str(copy) if a == "FA" else a for a in command]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    with open(copy, "rb") as stdin:
        done = subprocess.run([sys.executable, "-m", "genorm", *argv], stdin=stdin, capture_output=True, env=env,
                              timeout=120)
    assert_one_error(done.returncode, done.stderr.decode(), f"Cannot write {copy}: it is the file standard input "
                     "('-') reads from, and would be overwritten. Choose another output path.")
    assert copy.read_bytes() == fasta.read_bytes()


# ------------------------------------------------------------------------------------------
# 5. -o on a symlink writes through; -o - is standard output


def test_symlink_output_is_written_through_atomically(base_run, tmp_path, capsys):
    real = tmp_path / "real"
    real.mkdir()
    (real / "sample.fa").write_text("old\n")
    link = tmp_path / "link.fa"
    link.symlink_to(real / "sample.fa")
    dangling = tmp_path / "dangling.fa"
    dangling.symlink_to(real / "new.fa")
    for path in (link, dangling):
        rc, out, err = cli(capsys, "generate", base_run, "--length", "7", "--seed", "1", "-o", path)
        assert rc == 0, err
        assert path.is_symlink()  # the link is kept ...
        assert path.read_text().startswith(">genorm_sample ")  # ... and its target replaced
    assert sorted(p.name for p in real.iterdir()) == ["new.fa", "sample.fa"]  # no temporary left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling.fa", "link.fa", "real"]


def test_atomic_write_text_rules(tmp_path, capsys):
    target = tmp_path / "t.txt"
    target.write_text("old")
    (tmp_path / "l.txt").symlink_to(target)
    atomic_write_text(tmp_path / "l.txt", "new")
    assert target.read_text() == "new" and (tmp_path / "l.txt").is_symlink()
    atomic_write_text("-", "to stdout\n")
    assert capsys.readouterr().out == "to stdout\n"
    atomic_write_text("/dev/null", "discarded")  # a device is written, never renamed over
    assert Path("/dev/null").is_char_device()
    with pytest.raises(OutputFileError, match="The output path is empty"):
        atomic_write_text("", "x")


@pytest.mark.parametrize("command, first", [
    ("predict", "record\tposition\tbase\tp_a"),
    ("predict-bedgraph", 'track type=bedGraph name="genorm surprisal"'),
    ("score", "record\tlength\tbases_scored"),
    ("generate", ">genorm_sample length=5"),
    ("evaluate", "{"),
    ("info", "record\tlength"),
])
def test_dash_writes_standard_output(base_run, fasta, capsys, command, first):
    argv = {"predict": ["predict", base_run, fasta, "-o", "-"],
            "predict-bedgraph": ["predict", base_run, fasta, "-o", "-", "--format", "bedgraph"],
            "score": ["score", base_run, fasta, "-o", "-"],
            "generate": ["generate", base_run, "--length", "5", "-o", "-"],
            "evaluate": ["evaluate", base_run, "-o", "-"], "info": ["info", fasta, "-o", "-"]}[command]
    rc, out, err = cli(capsys, *argv)
    assert rc == 0, err
    assert out.startswith(first), out[:200]
    if command == "evaluate":
        assert json.loads(out)["summary"]  # only the JSON on stdout; the printed report went to stderr
        assert "per nucleotide" in err
    if command == "score":
        assert len(out.splitlines()) == 3 and "bits_per_base" in err  # TSV on stdout, the table on stderr
    assert not list(Path.cwd().glob(".-.*"))  # no temporary file named after '-'


def test_binary_output_to_dash_is_refused(base_run, capsys):
    rc, _, err = cli(capsys, "evaluate", base_run, "--plot", "-")
    assert_one_error(rc, err, "'-' (standard output) is for text outputs")


# ------------------------------------------------------------------------------------------
# 6. user text never breaks an output format


@pytest.mark.parametrize("name", ["a\tb", "a b", "a\nACGT", "x\r", "", "\x01"])
def test_generate_name_that_would_break_fasta_is_refused(base_run, tmp_path, capsys, name):
    rc, _, err = cli(capsys, "generate", base_run, "--length", "5", "--name", name, "-o", tmp_path / "s.fa")
    assert_one_error(rc, err, "FASTA record name (--name)", "would break the output format")
    assert not (tmp_path / "s.fa").exists()


def test_generate_description_stays_on_its_line(base_run, tmp_path, capsys):
    odd = tmp_path / "run\twith\nnewline"
    shutil.copytree(base_run, odd)
    rc, out, err = cli(capsys, "generate", odd, "--length", "5", "-o", "-")
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].endswith("run\\twith\\nnewline") and set(lines[1]) <= set("ACGT")


@pytest.mark.parametrize("value, ok", [("chr1", True), ("gi|9626243|ref|NC_001416.1|", True), ("a\tb", False),
                                       ("a\nb", False), ("a\rb", False), ("a b", False), ("", False)])
def test_check_field(value, ok):
    if ok:
        assert check_field(value, "record name") == value
    else:
        with pytest.raises(OutputFileError, match="record name .* cannot be written"):
            check_field(value, "record name")
    assert "\n" not in escape_text(value) and "\t" not in escape_text(value)


# ------------------------------------------------------------------------------------------
# 3. JSON read from --config, a run's config.json / provenance.json, TF_CONFIG


JSON_CASES = {  # name: (bytes, what the message says)
    "not UTF-8": (b'{"units": 8, "cell": "gru\xff"}', "is not UTF-8 text (byte 0xff at offset 25)"),
    "nested 100,000 deep": (b"[" * 100_000 + b"]" * 100_000, "is nested too deeply to be read"),
    "an object nested deeply": (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "is nested too deeply to be read"),
    "a 5,000-digit number": (b'{"units": ' + b"9" * 5000 + b"}", "cannot be read as JSON"),
}


@pytest.mark.parametrize("case", list(JSON_CASES))
@pytest.mark.parametrize("source", ["--config", "config.json", "provenance.json", "TF_CONFIG"])
def test_json_that_cannot_be_read_is_one_error(run_copy, fasta, tmp_path, capsys, source, case):
    data, needle = JSON_CASES[case]
    if source == "--config":
        (tmp_path / "c.json").write_bytes(data)
        rc, _, err = cli(capsys, "train", fasta, "--out", tmp_path / "new", "--config", tmp_path / "c.json")
        assert_one_error(rc, err, f"--config {tmp_path / 'c.json'} {needle}")
        assert not (tmp_path / "new").exists()
    elif source == "TF_CONFIG":
        from genorm.training.distribute import parse_tf_config

        if case == "not UTF-8":
            pytest.skip("an environment variable is text already (os.environ decodes it with surrogateescape)")
        with pytest.raises(ConfigError, match=f"TF_CONFIG {needle}"):
            parse_tf_config({"TF_CONFIG": data.decode()})
    else:
        (run_copy / source).write_bytes(data)
        rc, _, err = cli(capsys, "evaluate", run_copy)
        assert_one_error(rc, err, f"{run_copy / source} {needle}", "re-run `genorm train`")


# ------------------------------------------------------------------------------------------
# 7. the run lock: 20 processes that take it at once, over a stale lock file


TAKER = r"""
import os, sys, time
from pathlib import Path
from genorm.errors import RunDirError
from genorm.rundir import lock
run, start = Path(sys.argv[1]), float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
try:
    with lock(run):
        marker = run / "holders" / str(os.getpid())
        marker.touch()
        n = len(os.listdir(run / "holders"))
        time.sleep(0.3)
        marker.unlink()
        print("held", n)
except RunDirError as exc:
    print("refused", "being written by" in str(exc))
"""


def test_twenty_concurrent_takers_never_two_holders(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    run = tmp_path / "run"
    (run / "holders").mkdir(parents=True)
    (run / ".lock").write_text(f"{gone.pid} host\n")  # a stale lock file left by a dead process
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.time() + 4
    procs = [subprocess.Popen([sys.executable, "-c", TAKER, str(run), str(start)], stdout=subprocess.PIPE,
                              text=True, env=env) for _ in range(20)]
    results = [p.communicate(timeout=120)[0].split() for p in procs]
    held = [r for r in results if r[0] == "held"]
    assert held and all(r[1] == "1" for r in held), results  # never two holders at once
    assert all(r == ["refused", "True"] for r in results if r[0] != "held"), results
    assert not (run / ".lock").exists()


PERMISSION_COMMANDS = {
    "score": lambda run, fasta, tmp: ["score", run, fasta],
    "evaluate": lambda run, fasta, tmp: ["evaluate", run],
    "predict": lambda run, fasta, tmp: ["predict", run, fasta, "-o", tmp / "p.tsv"],
    "--resume": lambda run, fasta, tmp: ["train", fasta, "--out", run, "--resume", "--epochs", "2"],
}


@pytest.mark.parametrize("denied", [".", "config.json", "model.keras", "backup/state.json", "backup"])
@pytest.mark.parametrize("command", sorted(PERMISSION_COMMANDS))
def test_another_users_run_is_one_error_not_a_traceback(run_copy, fasta, tmp_path, capsys, monkeypatch, command,
                                                        denied):
    """issue 23: PermissionError tracebacks (or "the run directory is corrupt") for another user's run. As
    root nothing is denied, so os.access is made to deny the one path."""
    target = (run_copy / denied).resolve()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if Path(p).resolve() == target
                        else real_access(p, mode, *a, **k))
    before = snapshot(run_copy)
    rc, _, err = cli(capsys, *PERMISSION_COMMANDS[command](run_copy, fasta, tmp_path))
    shown = "the run directory " + str(run_copy) if denied == "." else str(run_copy / denied)
    if command == "--resume" and denied == ".":  # --resume writes there: that is checked first
        line = assert_one_error(rc, err, f"Cannot write {run_copy}: permission denied in {run_copy}")
    else:
        line = assert_one_error(rc, err, f"Cannot read {shown}: permission denied", "Ask ")
    assert "corrupt" not in line
    assert snapshot(run_copy) == before


def test_another_users_genome_is_one_error(run_copy, fasta, capsys, monkeypatch):
    import genorm.hashing

    def denied(path):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(genorm.hashing, "_hash", denied)
    monkeypatch.setenv("GENORM_CACHE", "")
    rc, _, err = cli(capsys, "evaluate", run_copy)
    assert_one_error(rc, err, f"Cannot read {fasta}, the genome the run {run_copy} was trained on: permission denied",
                     "ask its owner for read access")


def test_any_other_permission_error_is_one_line(run_copy, capsys, monkeypatch):
    """The CLI's last net: a PermissionError no check names becomes one error line with the file."""
    from genorm import rundir

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", "/somewhere/theirs.json")

    monkeypatch.setattr(rundir, "read_json", denied)
    rc, _, err = cli(capsys, "evaluate", run_copy)
    assert_one_error(rc, err, "error: /somewhere/theirs.json: permission denied. genorm needs to read (or write) it")


LOCK_CASES = {  # issue 23: each was a traceback (IsADirectoryError, PermissionError) or locked through a link
    "a directory": "is a directory, not the lock file genorm writes; genorm will not lock or remove it. Remove it "
                   "yourself (rm -r",
    "a symlink": "is a symbolic link, not the lock file genorm writes",
    "a dangling symlink": "is a symbolic link, not the lock file genorm writes",
    "another user's": "Cannot open the lock file",
}


@pytest.mark.parametrize("case", sorted(LOCK_CASES))
def test_a_lock_file_genorm_did_not_write_is_one_error(fasta, tmp_path, capsys, monkeypatch, case):
    out = tmp_path / "run"
    out.mkdir()
    lock, elsewhere = out / ".lock", tmp_path / "precious.txt"
    elsewhere.write_text("precious\n")
    if case == "a directory":
        lock.mkdir()
    elif case == "a symlink":
        lock.symlink_to(elsewhere)
    elif case == "a dangling symlink":
        lock.symlink_to(tmp_path / "nowhere")
    else:  # a stale .lock of another user: as root chmod cannot deny, so open() is made to say so
        lock.write_text("123 otherhost\n")
        real_open = os.open

        def denied(path, flags, *args):
            if Path(path) == lock and flags & os.O_RDWR:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_open(path, flags, *args)

        monkeypatch.setattr(os, "open", denied)
    rc, _, err = cli(capsys, "train", fasta, "--out", out, *TINY, "--epochs", "1")
    line = assert_one_error(rc, err, str(lock), LOCK_CASES[case], "choose another --out")
    if case == "another user's":
        assert "permission denied" in line
    assert elsewhere.read_text() == "precious\n" and not (tmp_path / "nowhere").exists()
    assert os.path.lexists(lock)  # left for its owner


def test_lock_is_released_when_its_holder_is_killed(tmp_path, hold_lock):
    from genorm.rundir import lock, lock_holder

    pid = hold_lock(tmp_path)
    assert lock_holder(tmp_path) == pid
    with pytest.raises(RunDirError, match=f"being written by process {pid}"):
        with lock(tmp_path):
            pass
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while lock_holder(tmp_path) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lock_holder(tmp_path) is None  # the kernel released it; the file is still there
    with lock(tmp_path):
        assert lock_holder(tmp_path) is None  # held by this process
    assert not (tmp_path / ".lock").exists()


# ------------------------------------------------------------------------------------------
# 2 and 8. a full disk or Ctrl-C while an epoch's model or backup is written


def _fail_on_call(monkeypatch, owner, name: str, call: int, exc: BaseException):
    real = getattr(owner, name)
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise exc
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, failing)


def _state_epochs(run: Path) -> int:
    return json.loads((run / "backup" / "state.json").read_text())["state"]["epochs_done"]


@pytest.mark.parametrize("exc", [OSError(errno.ENOSPC, "No space left on device"), RuntimeError(H5_FULL),
                                 OSError(H5_FULL)], ids=["ENOSPC", "h5py RuntimeError", "h5py OSError"])
def test_disk_full_while_writing_the_backup_then_resume(fasta, tmp_path, capsys, monkeypatch, exc):
    import keras

    out = tmp_path / "run"
    _fail_on_call(monkeypatch, keras.Model, "save_weights", 2, exc)  # the backup of epoch 2
    rc, _, err = cli(capsys, "-q", "train", fasta, "--out", out, *TINY, "--epochs", "3")  # -q: errors only
    assert_one_error(rc, err, "No space left on device", "stays resumable from epoch 1", "--resume")
    assert _state_epochs(out) == 1 and len(open(out / "history.csv").readlines()) == 2
    assert not [p for p in out.rglob(".*") if p.name != ".lock"]  # no temporary left behind
    monkeypatch.undo()
    rc, out_text, err = cli(capsys, "train", fasta, "--out", out, *TINY, "--epochs", "3", "--resume")
    assert rc == 0, err
    assert _state_epochs(out) == 3
    assert json.loads((out / "provenance.json").read_text())["summary"]["epochs"] == 3


def test_disk_full_while_writing_the_first_model(fasta, tmp_path, capsys, monkeypatch):
    import keras

    _fail_on_call(monkeypatch, keras.Model, "save", 1, RuntimeError(H5_FULL))
    rc, _, err = cli(capsys, "-q", "train", fasta, "--out", tmp_path / "run", *TINY, "--epochs", "2")
    assert_one_error(rc, err, "No space left on device", "nothing to resume", "start the run again")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("where, resumable", [("weights", 1), ("after state.json", 2)])
def test_ctrl_c_inside_the_backup_write(fasta, tmp_path, capsys, monkeypatch, where, resumable):
    import keras

    from genorm.training import backup

    if where == "weights":
        _fail_on_call(monkeypatch, keras.Model, "save_weights", 2, KeyboardInterrupt())
    else:
        real = backup._write_json

        def write_then_interrupt(path, obj):
            real(path, obj)
            if Path(path).name == "state.json" and obj["state"]["epochs_done"] == 2:
                raise KeyboardInterrupt  # the backup of epoch 2 is complete; its old files not yet removed

        monkeypatch.setattr(backup, "_write_json", write_then_interrupt)
    out = tmp_path / "run"
    rc, _, err = cli(capsys, "train", fasta, "--out", out, *TINY, "--epochs", "3")
    assert rc == 130, err
    assert f"saved up to epoch {resumable}, its last complete backup" in err
    assert _state_epochs(out) == resumable
    history = [line.split(",")[0] for line in open(out / "history.csv").read().splitlines()[1:]]
    assert history == [str(e) for e in range(1, resumable + 1)]
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["status"] == "interrupted" and prov["summary"]["epochs"] == resumable
    monkeypatch.undo()
    rc, _, err = cli(capsys, "train", fasta, "--out", out, *TINY, "--epochs", "3", "--resume")
    assert rc == 0, err
    history = [line.split(",")[0] for line in open(out / "history.csv").read().splitlines()[1:]]
    assert history == ["1", "2", "3"]


# ------------------------------------------------------------------------------------------
# 9. temporaries left by a killed process are removed by the next run


def test_stale_index_temporaries_are_removed(fasta, tmp_path, capsys):
    fa = tmp_path / "g.fa"
    shutil.copy(fasta, fa)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.2)
        dead_tmp = tmp_path / f".g.fa.genorm.{gone.pid}.abcd1234.tmp"  # SIGKILL'ed `genorm index`
        live_tmp = tmp_path / f".g.fa.genorm.{alive.pid}.abcd1234.tmp"  # an index being built now
        reused = tmp_path / f".g.fa.genorm.{alive.pid}.zzzz9999.old"  # older than its pid's process
        other = tmp_path / f".g.fa.genorm.{gone.pid}.abcd1234"  # not a genorm temporary name
        for d in (dead_tmp, live_tmp, reused, other):
            d.mkdir()
            (d / "packed.npy").write_bytes(b"x" * 1000)
        os.utime(reused, (time.time() - 86400, time.time() - 86400))
        rc, out, err = cli(capsys, "index", fa)
        assert rc == 0, err
        assert not dead_tmp.exists() and not reused.exists()
        assert live_tmp.exists() and other.exists()
        assert "a temporary cache left by a process that no longer runs" in err
    finally:
        alive.kill()
        alive.wait()


def test_stale_output_temporaries_are_removed(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = tmp_path / f".out.tsv.{gone.pid}.k3j4h5g6.tmp"
    stale.write_text("half a file")
    mine = tmp_path / f".out.tsv.{os.getpid()}.k3j4h5g6.tmp"
    mine.write_text("this process")
    atomic_write_text(tmp_path / "out.tsv", "done\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, "out.tsv"])
    assert remove_stale_temporaries(tmp_path, "out.tsv") == []


# ------------------------------------------------------------------------------------------
# 10. random JSON as --config and as a run's config.json / provenance.json


def test_random_json_in_config_and_run_files_gives_only_genorm_errors(run_copy, tmp_path):
    import argparse

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from genorm.cli.train import train_config_from_args as _train_config_from_args
    from genorm.trained import load

    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
    keys = st.sampled_from(["units", "cell", "window", "model", "records", "learning_rate", "max_time", "seed",
                            "format_version", "config", "inputs", "path", "epochs", "val_fraction"])
    objects = st.dictionaries(keys, values, max_size=5)
    content = (objects.map(json.dumps) | values.map(json.dumps)).map(str.encode) | st.binary(max_size=64)
    (run_copy / "good_config.json").write_bytes((run_copy / "config.json").read_bytes())

    def alarm(*_):
        raise TimeoutError("one example took more than 30 s")

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(data=content, where=st.sampled_from(["--config", "config.json", "provenance.json"]),
           wrap=st.booleans())
    def check(data, where, wrap):
        if wrap and where == "config.json" and _is_json(data):  # past the format check, into the options
            data = json.dumps({"format_version": 1, "config": json.loads(data)}).encode()
        old = signal.signal(signal.SIGALRM, alarm)
        signal.alarm(30)
        try:
            if where == "--config":
                (tmp_path / "c.json").write_bytes(data)
                _train_config_from_args(argparse.Namespace(config=str(tmp_path / "c.json"), resume=False, out=None))
            else:
                (run_copy / where).write_bytes(data)
                try:
                    load(run_copy)
                finally:
                    shutil.copy(run_copy / "good_config.json", run_copy / "config.json")
        except GenormError:
            pass
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)

    check()


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True
