"""The wheel holds every module: a plain (non-editable) install must have what the editable install reads.

An editable install reads the source tree, so a package list that forgets a subpackage (``genorm.cli``,
``genorm.training``, ``genorm.evaluation``) passes every other test and breaks every user who runs
``pip install .``. This test builds the wheel from a copy of the sources and compares its file list with
every ``.py`` file under ``genorm/``. ``.ci/run`` goes further: it installs the wheel into a fresh venv and
runs the CLI from outside the source tree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setuptools_builds_offline() -> bool:
    """True when the installed setuptools meets pyproject's build requirement (>= 77), so the wheel can be built
    without build isolation, that is without the network."""
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 77


def source_modules() -> set[str]:
    """Every ``.py`` file under ``genorm/``, as wheel paths (``genorm/cli/train.py``)."""
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / "genorm").rglob("*.py") if "__pycache__" not in p.parts}


def test_source_modules_include_the_subpackages():
    modules = source_modules()
    assert {"genorm/cli/__init__.py", "genorm/training/trainer.py", "genorm/evaluation/evaluate.py"} <= modules


def test_wheel_holds_every_module(tmp_path):
    src = tmp_path / "src"  # a copy: building in the checkout would leave build/ (and its stale files) behind
    shutil.copytree(ROOT / "genorm", src / "genorm", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path / "dist"), str(src)]
    if _setuptools_builds_offline():
        cmd.insert(4, "--no-build-isolation")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = (tmp_path / "dist").glob("genorm-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    in_package = {n for n in names if n.startswith("genorm/")}
    assert in_package == source_modules(), (
        f"missing from the wheel: {sorted(source_modules() - in_package)}; "
        f"in the wheel but not in genorm/: {sorted(in_package - source_modules())}")
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(wheel) as zf:
        assert "genorm = genorm.cli:main" in zf.read(entry_points).decode()
