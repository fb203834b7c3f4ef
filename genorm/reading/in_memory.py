"""Records already in memory as one input: ``SeqRecord`` objects, ``(name, sequence)`` pairs or a mapping.

:func:`as_sources` tells a group of in-memory records from paths and handles; the group is read
like a file (the same checks, the same :class:`~genorm.errors.FastaFormatError`\\ s), with
:data:`IN_MEMORY` in place of a file name in messages and provenance. A run trained on them
records names, lengths and the SHA-256 of the encoded sequence (:func:`in_memory_provenance`),
since there is no file to hash or re-read.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from genorm.errors import FastaFormatError
from genorm.reading.formats import record_bytes
from genorm.reading.sources import Opened

IN_MEMORY = "<records>"
"""The label of in-memory records (SeqRecords or (name, sequence) pairs) in messages and provenance."""


class InMemory:
    """An iterable of SeqRecords or (name, sequence) pairs, as one input."""

    def __init__(self, items: Iterator):
        self.items = items


def _is_record(item) -> bool:
    from Bio.SeqRecord import SeqRecord

    return isinstance(item, SeqRecord) or (isinstance(item, (tuple, list)) and len(item) == 2
                                           and isinstance(item[0], str))


SOURCES = ("a path, '-', a binary file handle or a list of them, or in-memory records (SeqRecords, (name, sequence) "
           "pairs with a str name, or a {name: sequence} mapping)")


def _is_file(item) -> bool:
    return isinstance(item, (str, os.PathLike)) or hasattr(item, "read")


def as_sources(sources, name: str = "sources") -> list:
    """A list of inputs: paths, ``"-"``, handles, or one group of in-memory records.

    ``sources`` may be one path or handle, a list of them, an iterable (a list, a generator,
    ``SeqIO.parse(...)``) of ``SeqRecord`` objects or ``(name, sequence)`` pairs, or a
    ``{name: sequence}`` mapping. ``name``: the caller's argument, for messages.

    Raises:
        ConfigError: anything else (None, a number, bytes, an empty list, files and records mixed).
    """
    from genorm.validate import Brief, invalid

    if _is_file(sources) or isinstance(sources, InMemory):
        return [sources]
    if isinstance(sources, Mapping):  # {name: sequence}
        return [InMemory(iter(sources.items()))]
    if isinstance(sources, (bytes, bytearray, memoryview)) or not isinstance(sources, Iterable):
        hint = " (bytes are not read as a genome: wrap them in io.BytesIO)" if isinstance(sources, bytes) else ""
        raise invalid(name, SOURCES + hint, Brief(sources))
    items = iter(sources)
    first = next(items, InMemory)
    if first is InMemory:
        raise invalid(name, "at least one path or record", Brief(sources))
    if _is_record(first):
        return [InMemory(itertools.chain([first], items))]
    rest = list(items)
    for item in (first, *rest):
        if not (_is_file(item) or isinstance(item, InMemory)):
            mixed = "; files and in-memory records cannot be mixed" if _is_record(item) else ""
            raise invalid(name, SOURCES + mixed, Brief(item))
    return [first, *rest]


def is_in_memory(sources: list) -> bool:
    """Whether a list from :func:`as_sources` holds in-memory records (nothing to re-read or hash)."""
    return any(isinstance(s, InMemory) for s in sources)


def _sequence_bytes(seq, name: str) -> bytes:
    if isinstance(seq, str):
        try:
            return seq.encode("latin-1")
        except UnicodeEncodeError as exc:
            raise FastaFormatError(f"{IN_MEMORY}, record {name!r}, base {exc.start + 1}: invalid character "
                                   f"{seq[exc.start]!r}; expected A, C, G, T, N or an IUPAC nucleotide code.") from None
    if isinstance(seq, (bytes, bytearray, memoryview)):
        return bytes(seq)
    from Bio.Seq import Seq
    from Bio.SeqRecord import SeqRecord

    if isinstance(seq, Seq):
        return record_bytes(SeqRecord(seq, id=name), IN_MEMORY, name, "record")
    raise FastaFormatError(f"{IN_MEMORY}, record {name!r}: expected the sequence as a str, bytes or Bio.Seq.Seq, "
                           f"got {type(seq).__name__}.")


def in_memory_records(items: Iterator) -> Iterator[tuple[int, str, str, bytes]]:
    """``(index, name, description, sequence bytes)`` per item, as :mod:`genorm.reading.formats` yields them for files."""
    from Bio.SeqRecord import SeqRecord

    for index, item in enumerate(items):
        if isinstance(item, SeqRecord):
            name, desc = str(item.id), str(item.description)
            raw = record_bytes(item, IN_MEMORY, name, "record")
        elif _is_record(item):
            (name, seq), desc = item, ""
            raw = _sequence_bytes(seq, name)
        else:
            raise FastaFormatError(f"{IN_MEMORY}, item {index + 1}: expected a Bio.SeqRecord.SeqRecord or a "
                                   f"(name, sequence) pair, got {type(item).__name__}.")
        if not name or len(name.split()) != 1 or name.split()[0] != name:
            raise FastaFormatError(f"{IN_MEMORY}, item {index + 1}: the record name {name!r} is empty or holds "
                                   "white space; give every record a one-word name (it is written into outputs).")
        yield index, name, desc, raw


def in_memory_provenance(genome) -> dict:
    """What a run records for in-memory input: names, lengths and the SHA-256 of the packed codes."""
    digest = hashlib.sha256()
    packed = np.ascontiguousarray(genome.packed)
    for i in range(0, packed.size, 1 << 24):
        digest.update(memoryview(packed[i:i + (1 << 24)]))
    return {"path": IN_MEMORY, "kind": "in-memory records", "size": int(genome.total_length),
            "sha256": digest.hexdigest(), "sha256_of": "the encoded (packed) sequence, records end to end",
            "records": [{"name": n, "length": int(n_)} for n, n_ in zip(genome.names, genome.lengths.tolist())]}



def open_in_memory(group: InMemory) -> Opened:
    """A group of in-memory records as an opened input (format ``"records"``; nothing to close)."""
    return Opened(stream=group.items, label=IN_MEMORY, compression="none", format="records", size=None,
                  raw=None, close=lambda: None)
