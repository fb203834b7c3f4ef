"""The process-wide record of an interrupt that Python may have lost.

Python raises ``KeyboardInterrupt`` wherever the main thread is when a signal's handler raises.
Inside a garbage-collection callback (JAX registers one, and Keras imports JAX when it is
installed) the exception is printed as "Exception ignored" and lost, and the command carries on:
a SIGTERM sent while ``genorm train`` was still setting up could leave a run that then trained to
the end. So the CLI's SIGTERM handler :func:`record` s the interrupt before it raises, and
training's batch loop (:func:`genorm.training.callbacks.interrupt_between_batches`) starts from
the record: an interrupt lost before the first batch stops training at its first batch boundary.

>>> record(); pending()
True
>>> clear(); pending()
False
"""

from __future__ import annotations

_STATE = {"pending": False}


def record() -> None:
    """Note that an interrupt (SIGTERM, Ctrl-C) arrived."""
    _STATE["pending"] = True


def pending() -> bool:
    """Whether an interrupt arrived since the last :func:`clear`."""
    return _STATE["pending"]


def clear() -> None:
    """Forget the record (a command ends, handled or not)."""
    _STATE["pending"] = False


__all__ = ["clear", "pending", "record"]
