"""Fault suite, run side: options, run directories, kills and loading, driven through the CLI.

Every case checks what a user sees: the exit status, exactly one ``error:`` line on stderr that
names the value / file and what to do, no traceback, and no output left behind (or the previous
output intact). The option tables run through ``genorm.cli.main`` in one separate Python process
(importing TensorFlow once instead of once per case); kills use real ``python -m genorm.cli``
processes. ``docs/robustness.md`` is the table of these cases.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from cli_checks import assert_one_error

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
LAMBDA = ROOT / "sample_data" / "phage_lambda_NC_001416.1.fa"
ECOLI = ROOT / "sample_data" / "ecoli_K12_MG1655_NC_000913.3.fna.gz"
TINY = ["--no-context", "--units", "8", "--layers", "1", "--window", "20", "--batch-size", "16", "--bases-per-epoch", "2000",
        "--epochs", "2", "--max-val-bases", "1000"]
HUGE = "99999999999999999999"  # 1e20: more than any machine's memory, more than int64

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}

DRIVER = r"""
import contextlib, io, json, logging, sys, traceback
from genorm.cli import main
results = []
for argv in json.load(sys.stdin):
    err, out = io.StringIO(), io.StringIO()
    for handler in list(logging.root.handlers):  # basicConfig binds to the current (redirected) stderr
        logging.root.removeHandler(handler)
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            rc = main(argv)
        except SystemExit as exc:
            rc = exc.code
        except BaseException:
            traceback.print_exc()
            rc = 1
    results.append({"rc": rc, "stderr": err.getvalue(), "stdout": out.getvalue()})
sys.__stdout__.write(json.dumps(results))
"""


def cli_many(argvs: list[list[str]], timeout: float = 300) -> list[dict]:
    """Run ``genorm.cli.main(argv)`` for every argv, in one fresh Python process."""
    out = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(argvs), capture_output=True, text=True,
                         timeout=timeout, env=ENV, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def genorm(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m genorm.cli ARGS`` as a user runs it."""
    return subprocess.run([sys.executable, "-m", "genorm.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=ENV)


def popen(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "genorm.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def wait_for(predicate, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


# ------------------------------------------------------------------------------------------
# fixtures: one tiny run, trained once, copied per test


@pytest.fixture
def base_run(tiny_cli_run) -> Path:
    """``genorm train LAMBDA ... TINY`` (conftest's session run, shared with test_faults_models.py)."""
    return tiny_cli_run


@pytest.fixture
def run_copy(base_run, tmp_path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(base_run, dst)
    return dst


# ------------------------------------------------------------------------------------------
# options: every numeric option at 0, negative, absurdly large (and NaN where it is a float)

TRAIN_OPTIONS = [
    # (flag, value, what the error line says)
    ("--units", "0", "`units`, expected a positive integer, got 0"),
    ("--units", "-3", "`units`, expected a positive integer, got -3"),
    ("--units", HUGE, "needs about"),
    ("--units", "1e30", "argument --units: invalid int value: '1e30'"),
    ("--layers", "0", "`layers`, expected a positive integer, got 0"),
    ("--layers", "-1", "`layers`, expected a positive integer"),
    ("--layers", HUGE, "needs about"),
    ("--window", "0", "`window`, expected an integer >= 2, got 0"),
    ("--window", "-1", "`window`, expected an integer >= 2"),
    ("--window", "1", "`window`, expected an integer >= 2, got 1"),
    ("--window", HUGE, "needs about"),
    ("--batch-size", "0", "`batch_size`, expected a positive integer, got 0"),
    ("--batch-size", "-1", "`batch_size`, expected a positive integer"),
    ("--batch-size", HUGE, "needs about"),
    ("--epochs", "0", "`epochs`, expected a positive integer, got 0"),
    ("--epochs", "-1", "`epochs`, expected a positive integer"),
    ("--epochs", "1.5", "argument --epochs: invalid int value"),
    ("--bases-per-epoch", "0", "`bases_per_epoch`, expected a positive integer"),
    ("--bases-per-epoch", "-1", "`bases_per_epoch`, expected a positive integer"),
    ("--bases-per-epoch", HUGE, "`bases_per_epoch`, expected a positive integer up to 1e+12"),
    ("--learning-rate", "0", "`learning_rate`, expected a positive number below 10, got 0.0"),
    ("--learning-rate", "-1", "`learning_rate`, expected a positive number below 10"),
    ("--learning-rate", HUGE, "`learning_rate`, expected a positive number below 10, got 1e+20"),
    ("--learning-rate", "nan", "`learning_rate`, expected a positive number below 10, got nan"),
    ("--clipnorm", "0", "`clipnorm`, expected a positive number"),
    ("--clipnorm", "-1", "`clipnorm`, expected a positive number"),
    ("--clipnorm", "inf", "`clipnorm`, expected a positive number, got inf"),
    ("--clipnorm", "1e39", "`clipnorm`, expected a positive number up to 1e+10 (float32 gradients times a larger norm "
                           "overflow to NaN; 1e+10 already means no clipping), got 1e+39"),
    ("--learning-rate", "1e-320", "`learning_rate`, expected a positive number below 10 and at least 1.18e-38 "
                                  "(training runs in float32, where a smaller rate is 0 and nothing is learnt), got 1e-320"),
    ("--lr-patience", "0", "`lr_patience`, expected a positive integer"),
    ("--lr-patience", "-1", "`lr_patience`, expected a positive integer"),
    ("--patience", "0", "`patience`, expected a positive integer"),
    ("--patience", "-1", "`patience`, expected a positive integer"),
    ("--max-time", "0", "`max_time`, expected a positive duration"),
    ("--max-time", "-1", "`max_time`, expected a duration like '90s'"),
    ("--max-time", "nan", "`max_time`, expected a duration like '90s'"),
    ("--max-time", "soon", "`max_time`, expected a duration like '90s'"),
    ("--seed", "-1", "`seed`, expected an integer in [0, 2**32), got -1"),
    ("--seed", HUGE, "`seed`, expected an integer in [0, 2**32)"),
    ("--soft-mask-weight", "-1", "`soft_mask_weight`, expected a number in [0, 1000], got -1.0"),
    ("--soft-mask-weight", "nan", "`soft_mask_weight`, expected a number in [0, 1000], got nan"),
    ("--max-n-fraction", "-1", "`max_n_fraction`, expected a number in [0, 1]"),
    ("--max-n-fraction", HUGE, "`max_n_fraction`, expected a number in [0, 1]"),
    ("--val-fraction", "0", "The validation split is empty"),
    ("--val-fraction", "1", "`val_fraction`, expected a number in [0, 1), got 1.0"),
    ("--val-fraction", "-1", "`val_fraction`, expected a number in [0, 1)"),
    ("--val-fraction", HUGE, "`val_fraction`, expected a number in [0, 1)"),
    ("--val-fraction", "nan", "`val_fraction`, expected a number in [0, 1), got nan"),
    ("--test-fraction", "1", "`test_fraction`, expected a number in [0, 1), got 1.0"),
    ("--test-fraction", "-1", "`test_fraction`, expected a number in [0, 1)"),
    ("--max-val-bases", "0", "`max_val_bases`, expected a positive integer"),
    ("--max-val-bases", "-1", "`max_val_bases`, expected a positive integer"),
    ("--dropout", "1", "`dropout`, expected a number in [0, 1), got 1.0"),
    ("--dropout", "-1", "`dropout`, expected a number in [0, 1)"),
    ("--dropout", HUGE, "`dropout`, expected a number in [0, 1)"),
    ("--cell", "transformer", "`cell`, expected one of simple_rnn, gru, lstm, got 'transformer'"),
    ("--records", "chrX,chrY", "Record(s) not found: chrX, chrY. Available records: gi|9626243|"),
    ("--val-records", "chrX", "`val_records` names record(s) not in the genome: chrX"),
    ("--window", "60000", "no record is long enough to split (longest 48,502 bases; window 60000"),
]


def test_train_option_table(tmp_path):
    """Each bad option of `genorm train`: one error line, and no run directory left behind."""
    argvs = []
    for i, (flag, value, _) in enumerate(TRAIN_OPTIONS):
        argvs.append(["train", str(LAMBDA), "--out", str(tmp_path / f"r{i}"), *TINY, f"{flag}={value}"])
    argvs.append(["train", str(LAMBDA), "--out", str(tmp_path / "rsum"), *TINY, "--val-fraction", "0.6",
                  "--test-fraction", "0.6"])
    results = cli_many(argvs)
    for i, ((flag, value, needle), res) in enumerate(zip(TRAIN_OPTIONS, results)):
        line = assert_one_error(res["rc"], res["stderr"], needle)
        if needle == "needs about":
            assert "GB of memory, but this machine has" in line and "reduce --units, --layers" in line
        assert not (tmp_path / f"r{i}").exists(), (flag, value, sorted(os.listdir(tmp_path / f"r{i}")))
    assert_one_error(results[-1]["rc"], results[-1]["stderr"], "val_fraction + test_fraction must be < 1")


def test_analysis_option_table(base_run, tmp_path):
    """The numeric options of evaluate, predict, generate and explain."""
    r, fa = str(base_run), str(LAMBDA)
    out = tmp_path / "o.fa"
    cases = [
        (["evaluate", r, "--batch-size", "0"], "argument --batch-size: expected a positive integer, got 0"),
        (["evaluate", r, "--batch-size", "-1"], "argument --batch-size: expected a positive integer"),
        (["evaluate", r, "--batch-size", "1e30"], "argument --batch-size: expected a positive integer, got '1e30'"),
        (["evaluate", r, "--chunk", "0"], "argument --chunk: expected a positive integer, got 0"),
        (["evaluate", r, "--chunk", "-5"], "argument --chunk: expected a positive integer"),
        (["evaluate", r, "--warmup", "-1"], "--warmup must be 0 or more bases, got -1"),
        (["evaluate", r, "--warmup", "10", "--segment", "0"], "argument --segment: expected a positive integer"),
        (["evaluate", r, "--records", "chrX"], "No record named 'chrX'"),
        (["evaluate", r, fa, "--records", "chrX"], "Record(s) not found: chrX"),
        (["evaluate", r, "-o", str(tmp_path / "r.csv")], "expected a file name ending in .json or .tsv"),
        (["predict", r, fa, "--records", "chrX", "-o", str(tmp_path / "p.tsv")], "Record(s) not found: chrX"),
        (["score", r, fa, "--records", "chrX", "-o", str(tmp_path / "s.tsv")], "Record(s) not found: chrX"),
        (["generate", r, "--length", "0", "-o", str(out)], "argument --length: expected a positive integer, got 0"),
        (["generate", r, "--length", "-1", "-o", str(out)], "argument --length: expected a positive integer"),
        (["generate", r, "--length", HUGE, "-o", str(out)], "needs about"),
        (["generate", r, "--length", "5", "--temperature", "-1", "-o", str(out)], "`temperature`, expected a finite number >= 0, got -1.0"),
        (["generate", r, "--length", "5", "--temperature", "nan", "-o", str(out)], "`temperature`, expected a finite number >= 0, got nan"),
        (["generate", r, "--length", "5", "--seed", "-1", "-o", str(out)], "argument --seed: expected a seed in"),
        (["generate", r, "--length", "5", "--seed", HUGE, "-o", str(out)], "argument --seed: expected a seed in"),
        (["explain", "ACGT", "--hidden", "0"], "argument --hidden: expected a positive integer, got 0"),
        (["explain", "ACGT", "--hidden", HUGE], "`hidden`, expected a positive integer up to 64"),
        (["explain", "ACGT", "--seed", "-1"], "argument --seed: expected a seed in [0, 4294967295], got -1"),
        (["train", fa, "--out", str(tmp_path / "x"), "--bogus", "1"], "unrecognized arguments: --bogus 1"),
        (["predict", r, fa, "-o", str(base_run)], f"Cannot write {base_run}: it is a directory"),
        (["evaluate", r, "--plot", str(LAMBDA / "x.png")], f"Cannot write {LAMBDA / 'x.png'}: {LAMBDA} is a file, not a dir"),
        (["generate", r, "--length", "5", "-o", str(base_run)], "it is a directory"),
        (["score", r, fa, "-o", str(base_run)], "it is a directory"),
        (["predict", r, fa, "-o", fa], f"Cannot write {fa}: it is an input of this command"),
        (["evaluate", r, "--plot", str(tmp_path / "fig.txt")], "unknown figure format 'txt'; use a file name ending"),
        (["evaluate", r, fa, "-o", str(tmp_path / "r.json"), "--plot", fa], "it is an input of this command"),
    ]
    results = cli_many([argv for argv, _ in cases])
    for (argv, needle), res in zip(cases, results):
        assert_one_error(res["rc"], res["stderr"], needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no report, prediction or sample written
    assert LAMBDA.read_bytes().startswith(b">gi|9626243|ref|NC_001416.1| Enterobacteria phage lambda")


def test_explicit_files_holding_training_bases_are_refused(base_run, tmp_path):
    """Issue 23: the run's own training FASTA (or a gzip or renamed copy) was scored as new bases, labelled only
    "explicit files"; LoadedRun.evaluate(split="train") called the training bases held out."""
    import gzip

    from genorm.errors import ConfigError
    from genorm.trained import load

    run = load(base_run)
    train = run.splits.bases()["train"]
    gz, renamed = tmp_path / "lambda.fa.gz", tmp_path / "renamed.fa"
    gz.write_bytes(gzip.compress(LAMBDA.read_bytes()))
    renamed.write_text(">renamed\n" + "".join(LAMBDA.read_text().splitlines()[1:]) + "\n")
    r, report = str(base_run), tmp_path / "r.json"
    refused = f"are bases the run in {r} was trained on (records compared by sequence, not by name): the model and " \
              "the baselines were fitted on them"
    cases = [
        (["evaluate", r, str(LAMBDA)], f"{train:,} of the 48,502 bases of {LAMBDA} {refused}"),
        (["evaluate", r, str(gz)], f"{train:,} of the 48,502 bases of {gz} {refused}"),
        (["evaluate", r, str(renamed)], f"{train:,} of the 48,502 bases of {renamed} {refused}"),
        (["evaluate", r, str(renamed)], "or pass --allow-train-overlap (allow_train_overlap=True) to score them"),
        (["evaluate", r, "--allow-train-overlap"], "--allow-train-overlap applies to --intervals or FASTA files that "
                                                   "hold training bases; the run's own split never does"),
    ]
    allowed = ["evaluate", r, str(renamed), "--allow-train-overlap", "--no-adapt", "-o", str(report)]
    results = cli_many([argv for argv, _ in cases] + [allowed])
    for (argv, needle), res in zip(cases, results):
        assert_one_error(res["rc"], res["stderr"], needle)
    assert results[-1]["rc"] == 0, results[-1]["stderr"]
    label = f"1 record(s) of {renamed} (explicit files, NOT the run's split; {train:,} of its bases in the training " \
            "split)"
    assert f"evaluated 48,502 bases of {label}" in results[-1]["stdout"]
    assert json.loads(report.read_text())["meta"]["targets"] == {
        "kind": "files", "run_split": False, "description": label, "train_overlap_bases": train}
    with pytest.raises(ConfigError, match=r"^Received an invalid value for `split`, expected \"test\" or \"val\" \(the "
                                          r"run's held-out splits\), got 'train': the training split is not held out"):
        run.evaluate(split="train")
    with pytest.raises(ConfigError, match="^" + re.escape(f"{train:,} of the 48,502 bases of a genome given by the "
                                                          f"caller {refused}")):
        run.evaluate(run.genome)


def test_all_n_genome_and_config_file_errors(tmp_path):
    all_n = tmp_path / "alln.fa"
    all_n.write_text(">gap\n" + "N" * 5000 + "\nRYKM" * 10 + "\n")
    mostly_n = tmp_path / "mostlyN.fa"
    mostly_n.write_text(">gap\n" + "N" * 5000 + "ACGT" * 10 + "\n")
    escape = tmp_path / "escape.json"
    escape.write_text(json.dumps({"units": 8, "out": "../../etc", "model_path": "/etc/passwd"}))
    notjson = tmp_path / "bad.json"
    notjson.write_text("{units: 8")
    typed = {"model": ({"model": "gru"}, "`model`, expected a JSON object of model options"),
             "records": ({"records": 5}, "`records`, expected a list of record names, got 5"),
             "baselines": ({"baselines": "no"}, "`baselines`, expected true or false, got 'no'"),
             "list": ([{"units": 8}], "A training configuration must be a JSON object, got list")}
    for name, (content, _) in typed.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(content))
    cases = [
        *[(["train", str(LAMBDA), "--out", str(tmp_path / f"t{name}"), "--config", str(tmp_path / f"{name}.json")],
           [needle]) for name, (_, needle) in typed.items()],
        (["train", str(all_n), "--out", str(tmp_path / "a"), *TINY], [str(all_n), "every base is N"]),
        (["train", str(mostly_n), "--out", str(tmp_path / "m"), *TINY],
         ["No training target carries any weight (4,243 are N or follow an N)", "check the input"]),
        (["train", str(LAMBDA), "--out", str(tmp_path / "b"), "--config", str(escape)],
         ["Unknown training option(s) ['model_path', 'out']"]),
        (["train", str(LAMBDA), "--out", str(tmp_path / "c"), "--config", str(notjson)],
         [str(notjson), "is not valid JSON"]),
        (["train", str(LAMBDA), "--out", str(tmp_path / "d"), "--config", str(tmp_path / "nope.json")],
         ["Cannot read --config", "No such file or directory"]),
    ]
    for (argv, needles), res in zip(cases, cli_many([argv for argv, _ in cases])):
        assert_one_error(res["rc"], res["stderr"], *needles)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".genorm")) == [
        "alln.fa", "bad.json", "baselines.json", "escape.json", "list.json", "model.json", "mostlyN.fa",
        "records.json"]  # no run directory (the genome cache is not one)


# ------------------------------------------------------------------------------------------
# run directories


def test_broken_run_directories(base_run, tmp_path, hold_lock):
    def copy(name: str) -> Path:
        dst = tmp_path / name
        shutil.copytree(base_run, dst)
        return dst

    empty = tmp_path / "empty"
    empty.mkdir()
    garbage = copy("garbage")
    (garbage / "model.keras").write_bytes(os.urandom(4096))
    newer = copy("newer")
    cfg = json.loads((newer / "config.json").read_text())
    (newer / "config.json").write_text(json.dumps({**cfg, "format_version": 99}))
    bad_prov = copy("badprov")
    prov = json.loads((bad_prov / "provenance.json").read_text())
    (bad_prov / "provenance.json").write_text(json.dumps({**prov, "inputs": [{"path": 5}]}))
    bad_bed = copy("badbed")
    (bad_bed / "splits.bed").write_bytes(bytes(range(128, 256)))
    cfg_garbage = copy("cfggarbage")
    (cfg_garbage / "config.json").write_text("\x00\x01 not json")
    first_epoch = tmp_path / "training"  # a run another process is still in its first epoch of
    first_epoch.mkdir()
    live_pid = hold_lock(first_epoch)
    missing = tmp_path / "missing"
    prev = tmp_path / "previous.tsv"
    prev.write_text("the previous output\n")
    fa = str(LAMBDA)
    cases = [
        (["predict", str(missing), fa, "-o", str(prev)], [str(missing), "does not exist", "genorm train"]),
        (["evaluate", str(empty), "-o", str(prev)], [str(empty / "config.json"), "is missing"]),
        (["predict", str(garbage), fa, "-o", str(prev)], [str(garbage / "model.keras"), "cannot be loaded",
                                                          "corrupt or not a genorm model"]),
        (["score", str(garbage), fa], ["model.keras", "cannot be loaded"]),
        (["generate", str(newer), "--length", "5", "-o", str(prev)], ["format version 99", "upgrade genorm"]),
        (["evaluate", str(cfg_garbage), "-o", str(prev)], [str(cfg_garbage / "config.json"), "is corrupt"]),
        (["evaluate", str(bad_prov), "-o", str(prev)], [str(bad_prov / "provenance.json"), "is corrupt"]),
        (["evaluate", str(bad_bed), "-o", str(prev)], [str(bad_bed / "splits.bed"), "is not a text BED file"]),
        (["predict", str(first_epoch), fa, "-o", str(prev)], [f"still being trained by process {live_pid}",
                                                              "Wait for that epoch"]),
    ]
    results = cli_many([argv for argv, _ in cases])
    for (argv, needles), res in zip(cases, results):
        assert_one_error(res["rc"], res["stderr"], *needles)
    assert prev.read_text() == "the previous output\n"  # a failed command never touches its output
    assert not [p for p in tmp_path.rglob(".previous.tsv.*")]  # and leaves no temporary file


def test_locked_run_is_never_cleared_or_resumed_by_another_process(run_copy, hold_lock):
    live_pid = hold_lock(run_copy)
    before = sorted(p.name for p in run_copy.iterdir())
    *results, res = cli_many([["train", str(LAMBDA), "--out", str(run_copy), *TINY, "--force"],
                              ["train", str(LAMBDA), "--out", str(run_copy), "--resume", "--epochs", "3"],
                              ["train", str(LAMBDA), "--out", str(run_copy), *TINY],
                              ["predict", str(run_copy), str(LAMBDA), "--records", "gi|9626243|ref|NC_001416.1|",
                               "-o", str(run_copy.parent / "p.tsv")]])
    for r in results:
        assert_one_error(r["rc"], r["stderr"], f"is being written by process {live_pid}", str(run_copy / ".lock"))
    assert sorted(p.name for p in run_copy.iterdir()) == before  # --force deleted nothing
    assert res["rc"] == 0 and f"still being trained by process {live_pid}" in res["stderr"]  # a warning
    assert (run_copy.parent / "p.tsv").is_file()


def test_backup_paths_cannot_escape_the_run_directory(run_copy, tmp_path):
    outside = tmp_path / "outside.weights.h5"
    shutil.copy(next((run_copy / "backup").glob("*.weights.h5")), outside)
    state_file = run_copy / "backup" / "state.json"
    state = json.loads(state_file.read_text())
    state["state"]["stopped"] = "interrupted"
    bads = ("../../outside.weights.h5", str(outside), "..", "")
    runs = []
    for i, bad in enumerate(bads):
        runs.append(tmp_path / f"run{i}")
        shutil.copytree(run_copy, runs[-1])
        (runs[-1] / "backup" / "state.json").write_text(json.dumps({**state, "weights": bad}))
    garbled = tmp_path / "garbled"
    shutil.copytree(run_copy, garbled)
    (garbled / "backup" / "state.json").write_text(json.dumps({**state, "state": {"epochs_done": "x"}}))
    results = cli_many([["train", str(LAMBDA), "--out", str(r), "--resume", "--epochs", "3"]
                        for r in [*runs, garbled]])
    for r, bad, res in zip(runs, bads, results):
        assert_one_error(res["rc"], res["stderr"], str(r / "backup" / "state.json"), f"names the file {bad!r}",
                         "not a plain file name")
    assert_one_error(results[-1]["rc"], results[-1]["stderr"], str(garbled / "backup" / "state.json"),
                     "is corrupt (its training state is not what genorm writes)", "--force")


def test_loading_never_runs_code_from_the_run_directory(run_copy, tmp_path):
    """A model.keras with a Lambda layer (Python bytecode) is refused by Keras safe mode; the code never runs."""
    import keras

    sentinel = tmp_path / "pwned"
    path = str(sentinel)
    f = lambda x: (open(path, "w").write("ran"), x)[1]  # noqa: E731  (Keras saves its bytecode and closure)
    inp = keras.Input((None,), dtype="int32")
    out = keras.layers.Lambda(f)(keras.layers.Embedding(5, 4)(inp))
    keras.Model(inp, keras.layers.Dense(4)(out)).save(run_copy / "model.keras")
    sentinel.unlink(missing_ok=True)  # building the model above may have called f
    with zipfile.ZipFile(run_copy / "model.keras") as z:
        assert "Lambda" in z.read("config.json").decode()
    res = genorm("predict", run_copy, LAMBDA, "-o", tmp_path / "p.tsv")
    assert_one_error(res.returncode, res.stderr, "model.keras cannot be loaded", "corrupt or not a genorm model")
    assert not sentinel.exists() and not (tmp_path / "p.tsv").exists()


def test_no_pickle_or_eval_in_the_package():
    hits = []
    for path in sorted((ROOT / "genorm").glob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = re.sub(r"``.*?``", "", line.split("#")[0])  # not in comments or docstring literals
            if any(bad in code for bad in ("import pickle", "pickle.load", "allow_pickle=True", "eval(", "exec(",
                                           "safe_mode=False", "marshal")):
                hits.append(f"{path.name}:{n}: {line.strip()}")
            if "load_model(" in code and "safe_mode=True" not in code:
                hits.append(f"{path.name}:{n}: {line.strip()}")
            if "np.load(" in code and "allow_pickle=False" not in code:
                hits.append(f"{path.name}:{n}: {line.strip()}")
    assert hits == []


@pytest.mark.parametrize("content, needle", [
    (None, None),  # the run's own config.json, as is: accepted (issue 23: "Unknown option(s) [config, format_version]")
    ({"format_version": 99, "config": {}}, "is a run's config.json of format version 99, newer than this genorm"),
    ({"format_version": 1, "config": {}, "extra": 1}, "looks like a run's config.json (format_version and config) but "
                                                      "is not one genorm wrote (it also holds ['extra'])"),
    ({"format_version": 1, "config": [1]}, "give the options as one JSON object"),
])
def test_a_runs_own_config_json_as_config(base_run, tmp_path, capsys, content, needle):
    from genorm.cli import build_parser
    from genorm.cli.train import train_config_from_args
    from genorm.errors import ConfigError
    from genorm.trained import read_config

    path = base_run / "config.json"
    if content is not None:
        path = tmp_path / "c.json"
        path.write_text(json.dumps(content))
    args = build_parser().parse_args(["train", str(LAMBDA), "--out", str(tmp_path / "new"), "--config", str(path),
                                      "--epochs", "5"])
    if needle is None:
        assert train_config_from_args(args) == read_config(base_run).replace(epochs=5)  # flags still win
    else:
        with pytest.raises(ConfigError, match=re.escape(needle)):
            train_config_from_args(args)


# ------------------------------------------------------------------------------------------
# kills


def test_sigkill_during_training_then_resume(tmp_path):
    out = tmp_path / "killed"
    args = ["train", LAMBDA, "--out", out, *TINY, "--bases-per-epoch", "12000", "--epochs", "3", "--patience", "100"]
    proc = popen(*args)
    state = out / "backup" / "state.json"
    assert wait_for(state.exists, 120), proc.communicate(timeout=5)
    proc.kill()  # SIGKILL: no handler runs
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "training ended before the kill: make the epochs longer"
    done = json.loads(state.read_text())["state"]["epochs_done"]
    assert 1 <= done < 3
    assert (out / ".lock").exists()  # left by the killed process, but not locked: the kernel released its flock
    res = genorm(*args[:4], "--resume", timeout=300)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    history = pd.read_csv(out / "history.csv")
    assert history.epoch.tolist() == [1, 2, 3]  # the same epoch count as an uninterrupted run, no repeats
    assert history.bases.is_monotonic_increasing and history.bases.iloc[-1] == 3 * history.bases.iloc[0]
    saved = json.loads(state.read_text())["state"]
    assert saved["epochs_done"] == 3 and saved["stopped"] == "epochs"
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["status"] == "complete" and len(prov["resumed"]) == 1
    assert not (out / ".lock").exists()
    assert sorted(p.name for p in (out / "backup").iterdir()) == ["model.e3.weights.h5", "optimizer.e3.npz",
                                                                  "state.json"]


def test_sigterm_before_the_first_epoch_leaves_nothing_and_the_same_command_runs_again(tmp_path):
    """issue 23: SIGTERM (timeout, scancel, docker stop, Snakemake) is handled like Ctrl-C. Before the first
    epoch ended it left .lock, config.json, splits.bed and a "running" provenance, and the same command was
    then refused."""
    out = tmp_path / "run"
    args = ["train", LAMBDA, "--out", out, *TINY, "--bases-per-epoch", "400000", "--epochs", "1"]
    for attempt in range(2):  # the second attempt is the same command: it must start, not be refused
        proc = popen(*args)
        assert wait_for(lambda: (out / "splits.bed").exists() or proc.poll() is not None, 120)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 143, err
        assert "Traceback" not in err
        assert "interrupted before the first epoch ended: nothing to resume and nothing kept" in err, err
        assert not out.exists(), sorted(p.name for p in out.iterdir())


def test_sigkill_in_epoch_one_gives_one_piece_of_advice_that_works(tmp_path):
    """issue 23: after SIGKILL in epoch 1, evaluate said --resume, --resume said start a new run, and a new
    run said --force or --resume. Now each says: the same command with --force, and that works."""
    out = tmp_path / "run"
    args = ["train", LAMBDA, "--out", out, *TINY, "--bases-per-epoch", "400000", "--epochs", "1"]
    proc = popen(*args)
    assert wait_for(lambda: (out / "splits.bed").exists() or proc.poll() is not None, 120)
    time.sleep(0.5)
    proc.kill()
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL and not (out / "backup").exists()
    advice = f"The run in {out} stopped before its first epoch ended (it has no model and no backup): there is " \
             f"nothing to use or resume. Start it again with the same `genorm train ... --out {out}` command and " \
             "--force"
    results = cli_many([["evaluate", str(out)], [*map(str, args), "--resume"], [*map(str, args)],
                        ["predict", str(out), str(LAMBDA), "-o", str(tmp_path / "p.tsv")]])
    for res in results:
        assert_one_error(res["rc"], res["stderr"], advice)
    done = genorm(*args[:4], *TINY, "--force", timeout=300)
    assert done.returncode == 0, done.stderr
    assert (out / "model.keras").is_file()


def test_a_max_time_stop_does_not_count_its_partial_epoch_as_complete(tmp_path):
    """issue 23: --resume after a --max-time stop in epoch 1 ended "all epochs done" after a third of the
    configured bases. Now the resumed run trains the batches the partial epoch missed."""
    out = tmp_path / "run"
    args = ["train", LAMBDA, "--out", out, *TINY, "--bases-per-epoch", "1280000", "--epochs", "1", "--patience", "100"]
    first = genorm(*args, "--max-time", "4s", timeout=300)  # an epoch of 4,000 batches takes far longer
    assert first.returncode == 0, first.stderr
    state = json.loads((out / "backup" / "state.json").read_text())["state"]
    assert state["stopped"] == "time_budget" and 0 < state["batches_done"] < 4000, state
    res = genorm(*args, "--resume", "--max-time", "10m", timeout=300)
    assert res.returncode == 0, res.stderr
    assert "stopped: all epochs done" in res.stdout
    state = json.loads((out / "backup" / "state.json").read_text())["state"]
    assert state["batches_done"] == 4000 and state["bases_done"] == 1280000, state  # 1280000 / (16 × 20)
    history = pd.read_csv(out / "history.csv")
    assert history.steps.sum() == 4000 and history.steps.iloc[0] < 4000


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_sigkill_while_writing_leaves_no_partial_output(base_run, tmp_path, command):
    final = tmp_path / ("out.tsv" if command == "predict" else "report.json")
    if command == "predict":
        proc = popen("predict", base_run, ECOLI, "-o", final)
        started = lambda: any(tmp_path.glob(".out.tsv.*")) and next(tmp_path.glob(".out.tsv.*")).stat().st_size > 0
    else:
        final.write_text('{"previous": true}\n')
        proc = popen("evaluate", base_run, ECOLI, "-o", final)
        started = lambda: proc.poll() is None and time.sleep(4) is None  # well into reading / scoring E. coli
    assert wait_for(started, 120), proc.communicate(timeout=5)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    if command == "predict":
        assert not final.exists()  # only the hidden temporary file, never a partial out.tsv
        assert [p.name.startswith(".out.tsv.") for p in tmp_path.iterdir()] == [True]
    else:
        assert json.loads(final.read_text()) == {"previous": True}  # the previous report is intact


def test_docs_table_matches_the_cases():
    """docs/robustness.md shows each case of the option table with the message the test expects."""
    doc = (ROOT / "docs" / "robustness.md").read_text()
    rows = [line for line in doc.splitlines() if line.startswith("| `--")]
    for flag, value, needle in TRAIN_OPTIONS:
        shown = f"`{value}`"
        assert any(line.startswith(f"| `{flag}` |") and shown in line and needle.replace("|", "\\|") in line
                   and "| 2 | error: " in line for line in rows), (flag, value, needle)
