"""tools/check_layout.py: each limit and review flag is found in a tiny package; the limits hold on genorm itself,
the review flags never fail."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def layout():
    spec = importlib.util.spec_from_file_location("check_layout", REPO / "tools" / "check_layout.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_layout"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("check_layout", None)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


LONG_FUNCTION = "def long():\n" + "    x = 1\n" * 80 + "    return x\n"  # 82 lines
MANY_PARAMETERS = ("def many(a, b, c, d, e, f, g, h, i):\n    return a\n"  # 9: flagged
                   "class K:\n    def m(self, a, b, c, d, e, f, g, h, *args, **kwargs):\n        return a\n")  # 8: not

BAD = {
    "genorm/__init__.py": "",
    "genorm/a.py": "from genorm import b\n",
    "genorm/b.py": "def f():\n    from genorm.a import x  # a function-level import closes the cycle\n",
    "genorm/c.py": textwrap.dedent("""\
        import sys
        from typing import TYPE_CHECKING
        import tensorflow as tf
        from keras.src import tree
        if TYPE_CHECKING:
            from genorm import a  # never runs: no edge
        def g(model, strategy):
            model._symbolic_build(data_batch=None)
            setattr(model, "_maybe_symbolic_build", None)
            self.model._x = 1
            strategy.extended._in_multi_worker_mode()
            return tf.python.ops, tf.distribute._private, tree
        sys.modules[__name__].__class__ = object
        """) + LONG_FUNCTION + MANY_PARAMETERS + "# filler\n" * 505,
    "genorm/_compat.py": "from keras.src import tree\n\ndef h(model):\n    return model._symbolic_build, tree\n",
    # packages p and q import each other through different modules: no module cycle, a package cycle
    "genorm/p/__init__.py": "",
    "genorm/p/x.py": "from genorm.q import y\n",
    "genorm/p/w.py": "",
    "genorm/q/__init__.py": "",
    "genorm/q/y.py": "",
    "genorm/q/z.py": "def f():\n    from genorm.p.w import v  # function level counts\n",
    # a top-level module is its own node: genorm.d and package r
    "genorm/d.py": "from .r import v\n",
    "genorm/r/__init__.py": "",
    "genorm/r/u.py": "import genorm.d\n",
    "genorm/r/v.py": "",
    "tests/test_a.py": "", "tests/test_b.py": "", "tests/test__compat.py": "", "tests/test_d.py": "",
    "tests/test_x.py": "", "tests/test_w.py": "", "tests/test_y.py": "", "tests/test_z.py": "", "tests/test_u.py": "",
    "tests/r/test_v.py": "",
}


def test_finds_every_broken_limit(layout, tmp_path):
    findings, modules = layout.check(_tree(tmp_path, BAD))
    assert findings.cycles == ["genorm.a, genorm.b: genorm.a (line 1) -> genorm.b (line 2) -> genorm.a"]
    assert findings.package_cycles == [
        "genorm.d, genorm.r: genorm.d (genorm/d.py:1 imports genorm.r.v) -> "
        "genorm.r (genorm/r/u.py:1 imports genorm.d) -> genorm.d",
        "genorm.p, genorm.q: genorm.p (genorm/p/x.py:1 imports genorm.q.y) -> "
        "genorm.q (genorm/q/z.py:2 imports genorm.p.w) -> genorm.p",
    ]
    assert findings.private_api == [
        "genorm/c.py:4 keras.src",
        "genorm/c.py:8 model._symbolic_build",
        "genorm/c.py:9 setattr(model, '_maybe_symbolic_build')",
        "genorm/c.py:10 self.model._x",
        "genorm/c.py:11 strategy.extended._in_multi_worker_mode",
        "genorm/c.py:12 tensorflow.distribute._private",
        "genorm/c.py:12 tensorflow.python.ops",
    ]
    assert findings.module_patches == ["genorm/c.py:13 sys.modules[__name__].__class__ = ..."]
    assert findings.total == 1 + 2 + 7 + 1
    # review flags: listed, not counted as problems
    assert findings.long_modules == ["genorm/c.py: 605 lines"]
    assert findings.long_functions == ["genorm/c.py:14 long: 82 lines"]
    assert findings.many_parameters == ["genorm/c.py:96 many: 9 parameters"]
    assert findings.untested == ["genorm/c.py: no tests/test_c.py"]
    assert findings.flagged == 4
    assert "genorm.a" not in modules["genorm.c"].imports  # TYPE_CHECKING


def test_exit_status(layout, tmp_path, capsys):
    root = str(_tree(tmp_path, BAD))
    assert layout.main(["--root", root]) == 1
    assert layout.main(["--root", root, "--report-only", "--summary"]) == 0
    out = capsys.readouterr().out
    assert "limit, import cycles between genorm modules: 1" in out and "limit, sys.modules patches: 1" in out
    assert "limit, import cycles between genorm packages: 2" in out
    assert "review flag, modules over 600 lines: 1" in out
    assert "layer  0" in out and "11 problem(s) and 4 review flag(s) in 15 modules" in out
    assert "  genorm.p  <- q" in out and "  genorm.r  <- d" in out  # the package summary


def test_review_flags_never_fail(layout, tmp_path, capsys):
    """A long module, a long function, many parameters and a module without tests: listed, exit 0."""
    root = _tree(tmp_path, {"genorm/__init__.py": "",
                            "genorm/big.py": LONG_FUNCTION + MANY_PARAMETERS + "# filler\n" * 600})
    findings, _ = layout.check(root)
    assert findings.total == 0 and findings.flagged == 4
    assert layout.main(["--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "review flag, functions with more than 8 parameters: 1\n  genorm/big.py:83 many: 9 parameters" in out
    assert "review flag, modules without tests/test_<module>.py: 1\n  genorm/big.py: no tests/test_big.py" in out
    assert "0 problem(s) and 4 review flag(s) in 2 modules" in out


def test_clean_package_passes(layout, tmp_path, capsys):
    root = _tree(tmp_path, {"genorm/__init__.py": "from genorm.x import f\n",
                            "genorm/x.py": "from . import y\n\ndef f():\n    return y\n",
                            "genorm/y.py": "import numpy as np\n\ndef g(a):\n    return a._private\n",
                            "genorm/s/__init__.py": "", "genorm/s/t.py": "from genorm import y\n",
                            "tests/test_x.py": "", "tests/test_y.py": "", "tests/test_t.py": ""})
    assert layout.main(["--root", str(root), "--summary"]) == 0
    out = capsys.readouterr().out
    assert "0 problem(s) and 0 review flag(s) in 5 modules" in out
    assert "layer  0      4  genorm.y" in out and "layer  1      4  genorm.x  <- y" in out
    assert "  genorm.s  <- y" in out


def test_no_package_is_an_error(layout, tmp_path, capsys):
    assert layout.main(["--root", str(tmp_path)]) == 2
    assert "is not a directory; pass the repository root with --root" in capsys.readouterr().err


def test_report_on_this_tree(layout, capsys):
    """The report runs on genorm itself; review flags are printed and do not change the exit status."""
    findings, _ = layout.check(REPO)
    assert layout.main(["--summary"]) == (1 if findings.total else 0)
    out = capsys.readouterr().out
    assert "limit, private Keras/TensorFlow API outside genorm/_compat.py: none" in out
    assert "review flag, modules over 600 lines:" in out and "packages (" in out


def test_layout_limits_hold(layout):
    """No import cycle between modules or packages, no private Keras/TF API outside _compat.py, no sys.modules
    patch. (Review flags are not checked here: they are for a reader, see tools/check_layout.py.)"""
    findings, _ = layout.check(REPO)
    assert findings.total == 0, "\n".join(f"{t}: {items}" for t, items in findings.limits() if items)
