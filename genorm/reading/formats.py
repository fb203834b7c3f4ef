"""The formats genorm reads, through ``Bio.SeqIO``: one record iterator per format.

Each iterator takes an :class:`~genorm.reading.sources.Opened` input and yields plain
``(index, name, description, sequence)`` tuples, ``sequence`` being the record's bytes (FASTA: its
latin-1 text as Biopython returns it, one byte per character once encoded; GenBank/EMBL/2bit: a
function that returns the bytes, so that a record not selected is never decoded). FASTA goes
through ``Bio.SeqIO.FastaIO.SimpleFastaParser``; GenBank, EMBL and 2bit through ``Bio.SeqIO.parse``. Biopython's exceptions and warnings become
:class:`~genorm.errors.FastaFormatError`\\ s; a 2bit index is bounds-checked before Biopython
trusts it (:func:`check_twobit_index`).

The error path lives here too: where in a FASTA file a record or a bad character is (line and
column, found by reading the input again, only when there is an error to report), and what the
bad character most likely means (protein, alignment gaps, a binary file).
"""

from __future__ import annotations

import io
import itertools
import logging
import stat
import tempfile
import warnings
import zlib
from collections.abc import Callable, Iterator

from genorm import encoding
from genorm.reading import sources
from genorm.errors import ConfigError, FastaFormatError, GenormError
from genorm.validate import invalid
from genorm.reading.sources import TWOBIT_SIGNATURES, Opened, guard_read, guarded, io_error

logger = logging.getLogger(__name__)

FORMATS = ("fasta", "genbank", "embl", "2bit")
"""Formats genorm reads; ``format=None`` detects them from the content."""
_FORMAT_NAMES = {"fasta": "fasta", "genbank": "genbank", "embl": "embl", "2bit": "twobit"}
_PROTEIN_ONLY = set("EFILPQJOXZefilpqjoxz")


def check_format(format: str | None) -> str | None:
    """``format`` if it is None or one of :data:`FORMATS`, else a ConfigError."""
    if format is not None and format not in FORMATS:
        raise invalid("format", f"one of {', '.join(FORMATS)} (or None to detect it)", format)
    return format


# --------------------------------------------------------------------------------------------
# What Biopython hands over: (index, name, description, sequence bytes) per record


def _name_text(name: str, where: Callable[[], str]) -> str:
    """A record name read as latin-1, as UTF-8 text; names that are not UTF-8 are an error."""
    if name.isascii():
        return name
    try:
        return name.encode("latin-1").decode("utf-8")
    except UnicodeEncodeError:  # already text (SeqRecords, pairs)
        return name
    except UnicodeDecodeError as exc:
        bad = name.encode("latin-1")[exc.start]
        raise FastaFormatError(
            f"{where()}: the record name {name.encode('latin-1')!r} is not valid UTF-8 (byte 0x{bad:02x}). "
            "genorm writes record names into BED, TSV and bedGraph outputs: rename the record in UTF-8 (or ASCII)."
        ) from None


def _description_text(text: str) -> str:
    return text if text.isascii() else text.encode("latin-1", "replace").decode("utf-8", "replace")


def fasta_records(o: Opened) -> Iterator[tuple[int, str, str, bytes]]:
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    _check_fasta_start(o)
    text = o.text = io.TextIOWrapper(o.stream, encoding="latin-1", newline=None)  # held by `o`: its
    index = -1                                                                    # collection would close the file
    for title, seq in guarded(SimpleFastaParser(text), o.label):  # not enumerate(): it would keep `seq` alive
        index += 1
        parts = title.split(None, 1)
        if not parts:
            line = _locate(o, index)
            raise FastaFormatError(f"{o.label}, line {line[0] if line else '?'}: the header line has no record "
                                   "name. Give every record a name, e.g. '>chr1'.")
        name = _name_text(parts[0], lambda: where(o, index, None))
        box = [(index, name, _description_text(parts[1]) if len(parts) > 1 else "", seq)]  # latin-1 text: the
        del seq                                                                             # reader encodes it
        yield box.pop()


def _check_fasta_start(o: Opened) -> None:
    """Biopython skips any text before the first '>': genorm says what it is instead."""
    data = o.head
    stripped = data.lstrip()
    k = len(data) - len(stripped)
    if stripped[:1] == b">" and data[k - 1:k] in (b"", b"\n", b"\r"):  # '>' starts its line
        return
    raise _preamble_error(o.label, data)


def _preamble_error(label: str, data: bytes) -> FastaFormatError:
    stripped = data.lstrip()
    if not data:
        return FastaFormatError(f"{label}: the file is empty. Give a FASTA file with at least one record.")
    if not stripped:
        return FastaFormatError(
            f"{label}: no FASTA records: the file holds only blank lines. Give a FASTA file with at least one record."
        )
    if stripped[:1] == b"@":
        return FastaFormatError(
            f"{label}: this is FASTQ, not FASTA (line 1 starts with '@'). Convert it first, "
            "e.g. `seqkit fq2fa` or `awk 'NR%4==1{print \">\"substr($0,2)} NR%4==2'`."
        )
    if any(b >= 0x80 or (b < 0x20 and b not in (9, 10, 13)) for b in stripped[:64]):
        return FastaFormatError(
            f"{label}: this looks like a binary file, not FASTA (first bytes {stripped[:8]!r}). "
            "Give a plain, gzip or bgzip FASTA, GenBank, EMBL or 2bit file."
        )
    before = data[: len(data) - len(stripped)]
    line_no = before.count(b"\n") + (before.count(b"\r") if b"\n" not in before else 0) + 1
    shown = stripped.splitlines()[0][:40].decode("latin-1") if stripped else ""
    return FastaFormatError(
        f"{label}: no FASTA header: expected a line starting with '>' at line {line_no}, got {shown!r}. "
        "Add a header line such as '>chr1' before the sequence (or name the format with --format)."
    )


def seqio_records(o: Opened) -> Iterator[tuple[int, str, str, bytes]]:
    """GenBank, EMBL (text) or 2bit (binary, random access) records through Bio.SeqIO."""
    from Bio import SeqIO

    kind = {"genbank": "GenBank", "embl": "EMBL", "2bit": "2bit"}[o.format]
    if o.format == "2bit":
        handle = _twobit_handle(o)
    else:
        handle = o.text = io.TextIOWrapper(o.stream, encoding="latin-1", newline=None)
    it = SeqIO.parse(handle, _FORMAT_NAMES[o.format])
    for index in itertools.count():
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                rec = next(it, None)
        except GenormError:
            raise
        except (EOFError, OSError, zlib.error) as exc:
            raise io_error(o.label, exc) from None
        except Exception as exc:  # noqa: BLE001 - Biopython's parse errors: ValueError, AssertionError, ...
            raise _biopython_error(o, kind, index, exc) from None
        for w in caught:  # a sequence Biopython only warns about (cut short, wrong length) is an error here
            text = " ".join(str(w.message).split())
            if "sequence" in text.lower():
                raise FastaFormatError(f"{o.label}, record {index + 1}: the {kind} sequence is damaged (Biopython: "
                                       f"{text}). The file was probably cut short or edited: fetch it again.")
            logger.warning("%s, record %d: Biopython: %s", o.label, index + 1, text)
        if rec is None:
            return
        name = check_record_name(_name_text(str(rec.id), lambda: f"{o.label}, record {index + 1}"),
                                 lambda: f"{o.label}, record {index + 1}")
        # the sequence is read (a 2bit record decoded) only if the record is selected
        yield index, name, _description_text(str(rec.description)), lambda r=rec, n=name: record_bytes(r, o.label, n, kind)


def _biopython_error(o: Opened, kind: str, index: int, exc: Exception) -> FastaFormatError:
    text = " ".join(str(exc).split())[:300] or type(exc).__name__
    if o.format == "2bit":
        return FastaFormatError(f"{o.label}: Biopython cannot read this 2bit file ({text}). Convert it with UCSC "
                                "`twoBitToFa` and give the FASTA.")
    return FastaFormatError(
        f"{o.label}, record {index + 1}: not a valid {kind} entry (Biopython: {text}). Check the file "
        f"(a {kind} file cut short, or another format: force it with --format)."
    )


def record_bytes(rec, label: str, name: str, kind: str) -> bytes:
    """The sequence bytes of a SeqRecord; protein and undefined (CON) sequences are errors."""
    from Bio.Seq import UndefinedSequenceError

    molecule = str(rec.annotations.get("molecule_type", "")) if hasattr(rec, "annotations") else ""
    if "protein" in molecule.lower():
        raise FastaFormatError(f"{label}, record {name!r}: is a protein entry (molecule type {molecule!r}); "
                               f"genorm models DNA: give a nucleotide {kind} file.")
    try:
        return bytes(rec.seq)
    except UndefinedSequenceError:
        raise FastaFormatError(
            f"{label}, record {name!r}: the entry has no sequence, only its length (a CON/contig record that "
            f"lists its parts, or an entry without ORIGIN/SQ). Download it with its sequence (e.g. NCBI's "
            "'GenBank (full)' / efetch rettype=gbwithparts) or as FASTA."
        ) from None
    except Exception as exc:  # noqa: BLE001 - a lazily read 2bit record
        raise FastaFormatError(f"{label}, record {name!r}: cannot read its sequence ({exc}).") from None


def _twobit_handle(o: Opened):
    """A real, seekable binary file for Biopython's 2bit reader (spooled if the input is a stream)."""
    raw = o.raw
    if o.compression == "plain" and o.stat is not None and stat.S_ISREG(o.stat.st_mode):
        raw.seek(0)
        size = o.stat.st_size
    else:
        raw = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the input
        close = o.close
        o.close = lambda: (raw.close(), close())
        while True:
            block = guard_read(lambda: o.stream.read(sources.CHUNK_SIZE), o.label)
            if not block:
                break
            raw.write(block)
        size = raw.tell()
        raw.seek(0)
    check_twobit_index(raw, size, o.label)
    raw.seek(0)
    return raw


def check_twobit_index(fh, size: int, label: str) -> None:
    """Bounds-check a 2bit index before Biopython reads it.

    Biopython trusts the header: a corrupt record count makes it loop billions of times, and a
    corrupt length makes it allocate gigabytes. This checks each count and length against the
    file's size, and names the variant it cannot read.
    """
    import struct

    def corrupt(what: str) -> FastaFormatError:
        return FastaFormatError(f"{label}: a truncated or corrupt 2bit file ({what}). Fetch it again, or convert "
                                "it with UCSC `twoBitToFa` and give the FASTA.")

    head = fh.read(16)
    order = TWOBIT_SIGNATURES.get(head[:4])
    if order is None:
        raise FastaFormatError(f"{label}: not a 2bit file (no 2bit signature; --format 2bit was forced?).")
    if len(head) < 16:
        raise corrupt("the 16-byte header is cut short")
    version, count, reserved = struct.unpack(order + "III", head[4:16])
    if version == 1:
        raise FastaFormatError(f"{label}: a version-1 2bit file (64-bit offsets, for genomes over 4 GB), which "
                               "Biopython cannot read. Convert it with UCSC `twoBitToFa` and give the FASTA.")
    if version != 0:
        raise FastaFormatError(f"{label}: 2bit version {version}, which Biopython cannot read (it reads "
                               "version 0). Convert it with UCSC `twoBitToFa` and give the FASTA.")
    if reserved or count * 5 > size - 16:
        raise corrupt(f"the header claims {count:,} records in {size:,} bytes")
    entries = []
    for k in range(count):
        n = fh.read(1)
        name = fh.read(n[0]) if n else b""
        offset = fh.read(4)
        if not n or len(name) < n[0] or len(offset) < 4:
            raise corrupt("the index is cut short")
        _check_twobit_name(name, label, k)
        entries.append((name, struct.unpack(order + "I", offset)[0]))
    first: dict[bytes, int] = {}
    for i, (name, _) in enumerate(entries):  # Biopython keeps them in a dict: a duplicate would hide a record
        if first.setdefault(name, i) != i:
            raise FastaFormatError(f"{label}: duplicate record name {name.decode('latin-1')!r} (records "
                                   f"{first[name] + 1} and {i + 1} of the 2bit index). Record names must be unique: "
                                   "rename one of them (twoBitToFa, edit the FASTA, faToTwoBit).")
    for name, offset in entries:
        fh.seek(offset)
        dna_n = fh.read(8)
        if len(dna_n) < 8:
            raise corrupt(f"record {name!r} starts past the end of the file")
        bases, n_blocks = struct.unpack(order + "II", dna_n)
        fh.seek(offset + 8 + 8 * n_blocks)
        m = fh.read(4)
        masks = struct.unpack(order + "I", m)[0] if len(m) == 4 else 0
        end = offset + 16 + 8 * n_blocks + 8 * masks + (bases + 3) // 4
        if len(m) < 4 or end > size:
            raise corrupt(f"record {name!r} claims {bases:,} bases, which the file does not hold")
        # Biopython adds start + size in uint32 and indexes the sequence with it unchecked: a block past
        # the record's end (or one that wraps past 2**32) makes it read outside its buffer (a segfault)
        for what, at, count_ in (("N", offset + 8, n_blocks), ("mask", offset + 12 + 8 * n_blocks, masks)):
            fh.seek(at)
            raw = fh.read(8 * count_)
            values = struct.unpack(f"{order}{2 * count_}I", raw)
            for start, length in zip(values[:count_], values[count_:]):
                if start + length > bases:
                    raise corrupt(f"record {name!r} has {'an' if what == 'N' else 'a'} {what} block of "
                                  f"{length:,} bases at {start:,}, past its end at {bases:,}")


def _check_twobit_name(name: bytes, label: str, index: int) -> None:
    """A 2bit record name by FASTA's rules (non-empty, no white space or control characters), and in
    ASCII, the only names Biopython's 2bit reader decodes."""
    if not name.isascii():
        raise FastaFormatError(
            f"{label}, record {index + 1}: the record name {name!r} is not ASCII, and Biopython's 2bit reader "
            "reads ASCII names only. Rename the record in ASCII, or convert the file with UCSC `twoBitToFa` "
            "and give the FASTA."
        )
    check_record_name(name.decode("ascii"), lambda: f"{label}, record {index + 1}")


def check_record_name(name: str, where: Callable[[], str]) -> str:
    """``name`` if it is a record name FASTA can hold: not empty, no white space or control characters
    (genorm writes names into BED, TSV and FASTA outputs, which must read back). Every format is held to it."""
    if not name:
        raise FastaFormatError(f"{where()}: the record has an empty name. Give every record a name, e.g. 'chr1'.")
    bad = next((c for c in name if c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F), None)
    if bad is not None:
        raise FastaFormatError(
            f"{where()}: the record name {name!r} holds {bad!r} (white space or a control character), which "
            "a FASTA header, a BED or a TSV file cannot hold. Rename the record without it."
        )
    return name


# --------------------------------------------------------------------------------------------
# Error path: where in the file a record or a character is (re-reads the input)


_LOCATE_TABLE = bytes(0 if b in b" \t" else v for b, v in enumerate(encoding.READER_TABLE))


def _locate(o: Opened, index: int, char: bool = False) -> tuple[int, int | None] | None:
    """``(line, None)`` of record ``index``'s header, or ``(line, column)`` of its first invalid
    character; None when the input cannot be read again (standard input, a pipe)."""
    if o.reopen is None or o.format != "fasta":
        return None
    try:
        again = o.reopen()
    except (GenormError, OSError, ValueError):
        return None
    try:
        headers = -1
        for line_no, line in enumerate(io.TextIOWrapper(again.stream, encoding="latin-1", newline=None), 1):
            if line[:1] == ">":
                headers += 1
                if headers == index and not char:
                    return line_no, None
                if headers > index:
                    return None
            elif char and headers == index:
                col = line.rstrip().encode("latin-1").translate(_LOCATE_TABLE).find(encoding.INVALID)
                if col >= 0:
                    return line_no, col + 1
    except (GenormError, OSError, EOFError, ValueError, zlib.error):
        return None
    finally:
        again.close()
    return None


def where(o: Opened, index: int, name: str | None) -> str:
    """'file, line L' of a record's header (FASTA that can be re-read), else 'file, record K'."""
    loc = _locate(o, index)
    return f"{o.label}, line {loc[0]}" if loc else f"{o.label}, record {index + 1}" + (f" {name!r}" if name else "")


def bad_character_error(o: Opened, index: int, name: str, raw: bytes) -> FastaFormatError:
    """The error for the first invalid byte of record ``name``'s sequence ``raw``: where it is, what it likely is."""
    i = raw.translate(_LOCATE_TABLE).find(encoding.INVALID)
    byte = raw[i]
    loc = _locate(o, index, char=True)
    where = f"{o.label}, record {name!r}, " + (f"line {loc[0]}, column {loc[1]}" if loc else f"base {i + 1}")
    what = "FASTA" if o.format == "fasta" else "sequence"
    if (byte >= 0x80 and o.format != "records") or (byte < 0x20 and byte not in (9, 10, 13)):
        return FastaFormatError(
            f"{where}: byte 0x{byte:02x} is not text; this looks like a binary file, not {what}. "
            "Give a plain, gzip or bgzip FASTA, GenBank, EMBL or 2bit file."
        )
    char = chr(byte)
    if char in _PROTEIN_ONLY:
        return FastaFormatError(
            f"{where}: found {char!r}, which is not a nucleotide; this looks like a protein {what}. "
            "genorm models DNA: give a nucleotide sequence."
        )
    if char == ">":
        return FastaFormatError(
            f"{where}: found '>' inside a sequence line. A header must start its own line: fix the line break."
        )
    hint = {
        "-": "Gaps ('-', '.') are alignment symbols, not bases: remove them before training.",
        ".": "Gaps ('-', '.') are alignment symbols, not bases: remove them before training.",
        "*": "'*' is a stop symbol of protein FASTA, not a base.",
    }.get(char, "Digits, punctuation and other symbols are not bases: clean the file, or replace them with N.")
    return FastaFormatError(
        f"{where}: invalid character {char!r}; expected A, C, G, T, N or an IUPAC nucleotide code. {hint}"
    )

