"""Tests of genorm.rundir: the run directory's files, life cycle (prepare, lock) and configuration."""

from __future__ import annotations

import json

import pytest

from genorm.atomic import check_output
from genorm.errors import OutputFileError, RunDirError
from genorm import rundir
from genorm.rundir import LOCK
from genorm.training.trainer import train

from conftest import TINY_TRAIN as TINY


def test_run_files_lists_the_run_and_its_backup(trained):
    files = rundir.run_files(trained.run_dir)
    names = {p.relative_to(trained.run_dir).as_posix() for p in files}
    assert {"model.keras", "config.json", "provenance.json", "splits.bed", "history.csv", "baselines.npz",
            ".lock", "backup", "backup/state.json", "backup/model.e6.weights.h5"} <= names
    assert all(p.parent in (trained.run_dir, trained.run_dir / "backup") for p in files)


def test_check_output_refuses_the_run_files_only(trained, tmp_path):
    protected = rundir.run_files(trained.run_dir)
    for name in ("config.json", "backup/state.json", "logs/new.tsv"):
        with pytest.raises(OutputFileError, match=f"file of the run directory {trained.run_dir}, which this"):
            check_output(trained.run_dir / name, protected=protected)
    link = tmp_path / "hard.json"
    link.hardlink_to(trained.run_dir / "provenance.json")
    with pytest.raises(OutputFileError, match="file of the run directory"):
        check_output(link, protected=protected)
    assert check_output(trained.run_dir / "my_scores.tsv", protected=protected).name == "my_scores.tsv"


def test_prepare_resume_needs_a_backup(tmp_path):
    (tmp_path / "r").mkdir()
    with pytest.raises(RunDirError, match="Nothing to resume in .*: it has no backup/state.json"):
        rundir.prepare(tmp_path / "r", resume=True)


def test_prepare_force_clears_only_genorm_files(tmp_path):
    run = tmp_path / "r"
    (run / "backup").mkdir(parents=True)
    (run / "config.json").write_text('{"format_version": 1, "config": {}}')
    (run / "backup" / "state.json").write_text("{}")
    (run / ".hidden").write_text("kept")
    assert rundir.prepare(run, force=True) == run
    assert sorted(p.name for p in run.iterdir()) == [".hidden"]


@pytest.mark.parametrize("files", [
    {"config.json": '{"units": 8}', "history.csv": "epoch,loss\n1,0.5\n"},  # issue 23: a user's own files
    {"config.json": "not json", "history.csv": ""},
    {"config.json": '{"format_version": 1}'},
    {"backup/state.json": "{}"},
    {"provenance.json": "[]"},
])
def test_prepare_force_never_replaces_a_directory_genorm_did_not_write(tmp_path, files):
    mine = tmp_path / "mine"
    for name, text in files.items():
        (mine / name).parent.mkdir(parents=True, exist_ok=True)
        (mine / name).write_text(text)
    with pytest.raises(RunDirError, match=r"Refusing to overwrite .*mine: it is not a genorm run directory \(none of "
                                          r"its config.json, provenance.json or backup/state.json is one genorm wrote\)"):
        rundir.prepare(mine, force=True)
    assert {str(p.relative_to(mine)): p.read_text() for p in mine.rglob("*") if p.is_file()} == files


@pytest.mark.parametrize("name, text", [("config.json", '{"format_version": 1, "config": {}}'),
                                        ("provenance.json", '{"format_version": 1, "inputs": []}'),
                                        ("backup/state.json", '{"format_version": 1, "weights": "w.h5"}')])
def test_prepare_force_replaces_a_run_any_of_genorms_files_identify(tmp_path, name, text):
    run = tmp_path / "r"
    (run / name).parent.mkdir(parents=True, exist_ok=True)
    (run / name).write_text(text)
    (run / "history.csv").write_text("epoch\n")
    assert rundir.prepare(run, force=True) == run
    assert list(run.iterdir()) == []


def test_read_config_dict_checks_the_format(tmp_path):
    rundir.write_config(tmp_path, TINY)
    assert rundir.read_config_dict(tmp_path) == TINY.to_dict()
    (tmp_path / "config.json").write_text(json.dumps({"format_version": 99, "config": {}}))
    with pytest.raises(RunDirError, match="format version 99, newer than this genorm understands"):
        rundir.read_config_dict(tmp_path)


def test_refuses_to_overwrite(trained, periodic_fasta, tmp_path):
    with pytest.raises(RunDirError, match="already exists.*--force"):
        train([periodic_fasta], TINY, out_dir=trained.run_dir)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(RunDirError, match="not a genorm run directory"):
        train([periodic_fasta], TINY, out_dir=foreign, force=True)
    assert (foreign / "thesis.tex").read_text() == "precious"


def test_lock_held_by_live_process(periodic_fasta, tmp_path, hold_lock):
    out = tmp_path / "locked"
    out.mkdir()
    pid = hold_lock(out)
    with pytest.raises(RunDirError, match=f"being written by process {pid}"):
        train([periodic_fasta], TINY, out_dir=out)


def test_stale_lock_is_taken_over(periodic_fasta, tmp_path):
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    out = tmp_path / "stale"
    out.mkdir()
    (out / LOCK).write_text(f"{gone.pid} host\n")
    run = train([periodic_fasta], TINY.replace(epochs=1), out_dir=out)
    assert run.summary["epochs"] == 1 and not (out / LOCK).exists()
