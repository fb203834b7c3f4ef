"""Memory readings shared by the benchmarks (Linux ``/proc/self/status``).

``VmHWM`` (peak resident set) is read rather than ``ru_maxrss``, which survives ``exec`` and
would report the parent process's peak.
"""

from __future__ import annotations


def proc_status(keys: tuple[str, ...] = ("VmHWM", "VmRSS", "RssAnon", "RssFile")) -> dict:
    """Bytes of each of ``keys`` from ``/proc/self/status``."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in keys:
                out[key] = int(value.split()[0]) * 1024
    return out
