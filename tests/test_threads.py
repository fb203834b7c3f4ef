"""--threads: TensorFlow's pools, the BLAS/OpenMP variables, checked once at the boundary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from genorm.errors import ConfigError
from genorm.threads import THREAD_VARIABLES, available_cores, resolve_threads

ROOT = Path(__file__).resolve().parent.parent


def test_default_is_the_cores_this_process_may_use():
    assert resolve_threads(None) == available_cores() == len(os.sched_getaffinity(0))
    assert resolve_threads(3) == 3


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_invalid_threads(bad):
    with pytest.raises(ConfigError, match=r"invalid value for `threads`, expected a positive integer"):
        resolve_threads(bad)


def test_threads_are_bounded_by_the_cores():
    """issue 23: --threads 99999 spent eight minutes creating threads, then TensorFlow aborted."""
    cores = available_cores()
    assert resolve_threads(4 * cores) == 4 * cores
    with pytest.raises(ConfigError, match=rf"`threads`, expected a positive integer up to {4 * cores} \(4 × the "
                                          rf"{cores} cores this process may use\), got {4 * cores + 1}\."):
        resolve_threads(4 * cores + 1)


def test_train_with_too_many_threads_is_refused_before_the_run_directory(tmp_path, capsys):
    from genorm.cli import main

    fasta = tmp_path / "g.fa"
    fasta.write_text(">a\n" + "ACGT" * 500 + "\n")
    rc = main(["train", str(fasta), "--out", str(tmp_path / "run"), "--threads", "99999"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("error: Received an invalid value for `threads`, expected a positive integer up to "), err
    assert err.endswith("got 99999."), err
    assert not (tmp_path / "run").exists()


@pytest.fixture
def tiny_run(trained):
    """conftest's session run (``generate`` only reads it): no training of its own."""
    return trained.run_dir


CHECK = r"""
import json, os, sys
from genorm.cli import main
rc = main(sys.argv[1:])
import tensorflow as tf
t = tf.config.threading
print(json.dumps({"rc": rc, "intra": t.get_intra_op_parallelism_threads(), "inter": t.get_inter_op_parallelism_threads(),
                  "env": {k: os.environ.get(k) for k in %r}}))
""" % (THREAD_VARIABLES,)


def test_cli_threads_1_configures_tensorflow_and_blas(tiny_run):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    for name in THREAD_VARIABLES:
        env.pop(name, None)
    proc = subprocess.run([sys.executable, "-c", CHECK, "-v", "generate", str(tiny_run), "--length", "5",
                           "--seed", "1", "--threads", "1"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"rc": 0, "intra": 1, "inter": 1, "env": {name: "1" for name in THREAD_VARIABLES}}
    assert "threads: 1 (TensorFlow intra-op and inter-op, tf.data, BLAS/OpenMP)" in proc.stderr


@pytest.mark.parametrize("value, message", [
    ("0", r"^error: Received an invalid value for `threads`, expected a positive integer, got 0\.$"),
    ("two", r"^error: argument --threads: invalid int value: 'two'"),
])
def test_cli_invalid_threads(tiny_run, capsys, value, message):
    import re

    from genorm.cli import main

    try:
        rc = main(["generate", str(tiny_run), "--length", "5", "--threads", value])
    except SystemExit as exc:  # argparse's own checks
        rc = exc.code
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(message, err), err


def test_threads_option_on_every_tensorflow_command(capsys):
    from genorm.cli import main

    for command in ("train", "evaluate", "predict", "score", "generate"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--threads N" in capsys.readouterr().out, command
    for command in ("info", "index", "explain"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--threads" not in capsys.readouterr().out, command
