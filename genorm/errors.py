"""The exceptions genorm raises.

Every error a user can cause is a :class:`GenormError`. Each subclass also
subclasses the matching built-in, so callers can catch either
(``except FastaFormatError`` or ``except ValueError``). Messages say what was
found, where (file, record, line), and what to do. The CLI prints them as one
``error: ...`` line and exits with status 2.
"""

from __future__ import annotations

from collections.abc import Iterable


def first_names(names: Iterable[str], limit: int = 10) -> str:
    """The first ``limit`` names joined by commas, with `` ...`` when there are more: how messages list
    records.

    >>> first_names(["chr1", "chr2"]), first_names(map(str, range(12)))
    ('chr1, chr2', '0, 1, 2, 3, 4, 5, 6, 7, 8, 9 ...')
    """
    names = list(names)
    return ", ".join(names[:limit]) + (" ..." if len(names) > limit else "")


class GenormError(Exception):
    """Base class of every error genorm raises on bad input or bad state."""


class FastaFormatError(GenormError, ValueError):
    """The input is not a FASTA file genorm can read (or contains bad characters)."""


class EncodingPolicyError(GenormError, ValueError):
    """A base is not allowed by the active encoding policy (e.g. IUPAC codes set to 'error')."""


class InputFileError(GenormError, OSError):
    """A file is missing, unreadable, a directory, or a corrupt compressed stream."""


class OutputFileError(GenormError, OSError):
    """An output file cannot be written: the path is a directory, or its folder is not writable or full."""


class RecordSelectionError(GenormError, KeyError):
    """Records asked for by name do not exist in the input."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class ConfigError(GenormError, ValueError):
    """An option or configuration value is invalid."""


class SplitError(GenormError, ValueError):
    """A train/validation/test split cannot be made as asked."""


class CacheError(GenormError, OSError):
    """The on-disk genome cache is unreadable or does not match its FASTA."""


class RunDirError(GenormError, OSError):
    """A run directory is missing, incomplete, corrupt, or would be overwritten."""
