"""The evaluation package: its NumPy-only modules import without TensorFlow, Keras or pandas."""

from __future__ import annotations

import subprocess
import sys


def test_metrics_and_the_textbook_rnn_stay_numpy_only():
    code = ("import sys, genorm.metrics, genorm.engine, genorm.textbook_rnn; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
