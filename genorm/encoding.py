"""Canonical representations of a nucleotide sequence, and the encoding policy.

Every other module converts through this one. The representations:

=================  ===========================  =====================================================
name               shape, dtype                 meaning
=================  ===========================  =====================================================
string             ``str`` of length L          letters as in the FASTA file
codes              ``(L,) uint8``               A=0, C=1, G=2, T=3, N=4 (every non-ACGT base is N)
soft mask          ``(L,) bool``                True where the FASTA letter was lower case
packed             ``(L,) uint8``               ``codes | SOFT_MASK_FLAG`` (8) where soft-masked: one
                                                byte per base carries both; how genomes are stored
one-hot            ``(L, 4) float32``           channels A, C, G, T last (Keras order); N is all zeros
=================  ===========================  =====================================================

Converters are named ``x_to_y``. One-hot is made late (per batch, inside the stream
or the model), never for a whole genome.

The policy for letters that are not A/C/G/T (see :class:`EncodingPolicy`):

* lower case (soft-masked repeats) keeps its base; the mask is kept in bit 3 of the packed
  code and counted;
* ``N``/``n`` is code 4;
* IUPAC ambiguity codes ``R Y S W K M B D H V`` become N and are counted (``iupac="n"``, the
  default), or are an error (``iupac="error"``);
* ``U``/``u`` is read as T only with ``u_as_t=True``; otherwise it is an error;
* anything else (digits, ``*``, ``-``, ``.``, protein letters, control bytes) is an error.

>>> string_to_codes("ACgtN")
array([0, 1, 2, 3, 4], dtype=uint8)
>>> codes_to_onehot(string_to_codes("AN")).tolist()
[[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genorm.errors import EncodingPolicyError, FastaFormatError
from genorm.validate import invalid

A, C, G, T, N = 0, 1, 2, 3, 4
ALPHABET = "ACGTN"
"""Letter of each code: ``ALPHABET[code]``."""
BASES = "ACGT"
NUM_BASES = 4
SOFT_MASK_FLAG = 8
"""Bit set in a packed code where the base was lower case (soft-masked)."""
CODE_BITS = 7
"""``packed & CODE_BITS`` is the base code."""
IUPAC_AMBIGUITY = "RYSWKMBDHV"
"""IUPAC ambiguity letters (besides N); they become N or are an error."""

# Intermediate values the reader's byte table produces before the policy is applied
# (all >= SPECIAL): IUPAC letter i -> IUPAC_UPPER + i or IUPAC_LOWER + i; U -> U_UPPER / U_LOWER.
SPECIAL = 32
IUPAC_UPPER = 32
IUPAC_LOWER = 48
U_UPPER = 64
U_LOWER = 65
INVALID = 255

_COMPLEMENT = np.array([T, G, C, A, N], dtype=np.uint8)


@dataclass(frozen=True)
class EncodingPolicy:
    """How letters other than upper-case A/C/G/T are treated.

    Args:
        iupac: ``"n"`` (default) turns IUPAC ambiguity codes into N and counts them;
            ``"error"`` rejects them.
        u_as_t: read ``U``/``u`` (RNA) as ``T``. Default False: ``U`` is an error.
    """

    iupac: str = "n"
    u_as_t: bool = False

    def __post_init__(self) -> None:
        if self.iupac not in ("n", "error"):
            raise invalid("iupac", "'n' or 'error'", self.iupac)

    def describe(self) -> str:
        """One line saying what the policy does, for reports and provenance."""
        iupac = "IUPAC ambiguity codes -> N (counted)" if self.iupac == "n" else "IUPAC ambiguity codes are an error"
        u = "U read as T" if self.u_as_t else "U is an error"
        return f"A/C/G/T kept; lower case kept as soft mask; N -> N; {iupac}; {u}"

    def to_dict(self) -> dict:
        return {"iupac": self.iupac, "u_as_t": self.u_as_t}


def _reader_table() -> bytes:
    table = bytearray([INVALID] * 256)
    for code, letter in enumerate(ALPHABET):
        table[ord(letter)] = code
        table[ord(letter.lower())] = code | SOFT_MASK_FLAG
    for i, letter in enumerate(IUPAC_AMBIGUITY):
        table[ord(letter)] = IUPAC_UPPER + i
        table[ord(letter.lower())] = IUPAC_LOWER + i
    table[ord("U")] = U_UPPER
    table[ord("u")] = U_LOWER
    return bytes(table)


READER_TABLE = _reader_table()
"""256-entry byte table: raw FASTA letter -> packed code, an intermediate value (>= SPECIAL), or INVALID."""


def _fixup_table() -> bytes:
    table = bytearray(range(256))
    for i in range(len(IUPAC_AMBIGUITY)):
        table[IUPAC_UPPER + i] = N
        table[IUPAC_LOWER + i] = N | SOFT_MASK_FLAG
    table[U_UPPER] = T
    table[U_LOWER] = T | SOFT_MASK_FLAG
    return bytes(table)


FIXUP_TABLE = _fixup_table()
"""Maps the reader's intermediate values to final packed codes (IUPAC -> N, U -> T)."""


def check_special(values: np.ndarray, policy: EncodingPolicy) -> tuple[int, str] | None:
    """First position and letter that ``policy`` forbids among reader values ``(L,) uint8``, or None."""
    special = values >= SPECIAL
    if not special.any():
        return None
    if not policy.u_as_t:
        hits = np.flatnonzero((values == U_UPPER) | (values == U_LOWER))
        if hits.size:
            return int(hits[0]), "U" if values[hits[0]] == U_UPPER else "u"
    if policy.iupac == "error":
        hits = np.flatnonzero(special & (values < U_UPPER))
        if hits.size:
            v = int(values[hits[0]])
            letter = IUPAC_AMBIGUITY[v - IUPAC_UPPER] if v < IUPAC_LOWER else IUPAC_AMBIGUITY[v - IUPAC_LOWER].lower()
            return int(hits[0]), letter
    return None


def policy_error(letter: str, where: str) -> EncodingPolicyError:
    """The error for a letter the policy forbids, with advice on the option that allows it."""
    if letter in "Uu":
        return EncodingPolicyError(
            f"Found {letter!r} {where}: this looks like RNA. Pass --u-as-t (u_as_t=True) to read U as T."
        )
    return EncodingPolicyError(
        f"Found IUPAC ambiguity code {letter!r} {where}, and the policy is --iupac error. "
        "Use --iupac n (the default) to read ambiguity codes as N."
    )


def string_to_packed(seq: str | bytes, policy: EncodingPolicy | None = None) -> np.ndarray:
    """Encode a sequence string into packed codes ``(L,) uint8`` (base code | 8 if lower case).

    >>> string_to_packed("ACgtN").tolist()
    [0, 1, 10, 11, 4]

    Raises:
        FastaFormatError: a character is not a nucleotide letter.
        EncodingPolicyError: an IUPAC code or U is not allowed by ``policy``.
    """
    policy = policy or EncodingPolicy()
    raw = seq.encode("latin-1", errors="replace") if isinstance(seq, str) else bytes(seq)
    out = raw.translate(READER_TABLE)
    bad = out.find(INVALID)
    if bad >= 0:
        raise FastaFormatError(
            f"Invalid character {chr(raw[bad])!r} at position {bad + 1} of the sequence: expected "
            "A, C, G, T, N or an IUPAC nucleotide code."
        )
    arr = np.frombuffer(out, dtype=np.uint8)
    found = check_special(arr, policy)
    if found is not None:
        raise policy_error(found[1], f"at position {found[0] + 1} of the sequence")
    if arr.size and arr.max() >= SPECIAL:
        arr = np.frombuffer(out.translate(FIXUP_TABLE), dtype=np.uint8)
    return arr.copy()


def string_to_codes(seq: str | bytes, policy: EncodingPolicy | None = None) -> np.ndarray:
    """Encode a sequence string into codes ``(L,) uint8`` with A=0 C=1 G=2 T=3 N=4.

    Case is ignored (use :func:`string_to_packed` to keep the soft mask).

    >>> string_to_codes("acgtRN").tolist()
    [0, 1, 2, 3, 4, 4]
    """
    return packed_to_codes(string_to_packed(seq, policy))


def packed_to_codes(packed: np.ndarray) -> np.ndarray:
    """Base codes ``(L,) uint8`` of packed codes (drops the soft-mask bit)."""
    return np.bitwise_and(packed, CODE_BITS, dtype=np.uint8)


def packed_to_soft_mask(packed: np.ndarray) -> np.ndarray:
    """Soft mask ``(L,) bool`` of packed codes: True where the base was lower case."""
    return np.bitwise_and(packed, SOFT_MASK_FLAG).astype(bool)


def codes_to_packed(codes: np.ndarray, soft_mask: np.ndarray | None = None) -> np.ndarray:
    """Packed codes from codes ``(L,) uint8`` and an optional soft mask ``(L,) bool``."""
    codes = np.asarray(codes, dtype=np.uint8)
    if soft_mask is None:
        return codes.copy()
    return codes | (np.asarray(soft_mask, dtype=np.uint8) * np.uint8(SOFT_MASK_FLAG))


_UPPER = np.frombuffer(ALPHABET.encode(), dtype=np.uint8)
_LOWER = np.frombuffer(ALPHABET.lower().encode(), dtype=np.uint8)


def codes_to_string(codes: np.ndarray, soft_mask: np.ndarray | None = None) -> str:
    """Decode codes ``(L,) uint8`` (0-4) to a string; lower case where ``soft_mask`` is True.

    >>> codes_to_string(np.array([0, 1, 2, 3, 4], dtype=np.uint8))
    'ACGTN'
    """
    codes = np.asarray(codes)
    if codes.size and (codes.max() > N):
        raise ValueError(f"Received codes outside 0..4 (max {int(codes.max())}); decode packed codes with packed_to_string.")
    letters = _UPPER[codes]
    if soft_mask is not None:
        letters = np.where(np.asarray(soft_mask, dtype=bool), _LOWER[codes], letters)
    return letters.tobytes().decode("ascii")


def packed_to_string(packed: np.ndarray) -> str:
    """Decode packed codes to a string, soft-masked bases in lower case (inverse of :func:`string_to_packed`)."""
    return codes_to_string(packed_to_codes(packed), packed_to_soft_mask(packed))


_EYE = np.vstack([np.eye(NUM_BASES, dtype=np.float32), np.zeros((1, NUM_BASES), dtype=np.float32)])


def codes_to_onehot(codes: np.ndarray) -> np.ndarray:
    """One-hot ``(..., 4) float32`` of codes ``(...,) uint8``; N (4) is all zeros.

    For a batch, not a genome: it costs 16 bytes per base.
    """
    return _EYE[np.asarray(codes)]


def onehot_to_codes(onehot: np.ndarray) -> np.ndarray:
    """Codes ``(...,) uint8`` of a one-hot ``(..., 4)`` array; all-zero rows are N."""
    onehot = np.asarray(onehot)
    codes = np.argmax(onehot, axis=-1).astype(np.uint8)
    codes[onehot.max(axis=-1) <= 0] = N
    return codes


def reverse_complement(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of codes ``(..., L) uint8`` along the last axis (A<->T, C<->G, N->N); packed
    codes keep their mask bit. A ``(B, L)`` array gives the reverse complement of each row.

    >>> codes_to_string(reverse_complement(string_to_codes("AACGN")))
    'NCGTT'
    """
    codes = np.asarray(codes, dtype=np.uint8)
    base = _COMPLEMENT[codes & CODE_BITS]
    return (base | (codes & SOFT_MASK_FLAG))[..., ::-1].copy()


def n_runs(packed: np.ndarray, start: int = 0, end: int | None = None, longer_than: int = 0, *,
           block: int = 1 << 22) -> list[tuple[int, int]]:
    """``[(a, b), ...]``: the runs of N in ``packed[start:end]`` (packed or plain codes; soft-masked N and the
    IUPAC codes that read as N count) of more than ``longer_than`` bases, as half-open ranges of positions in
    ``packed``, in order. Read ``block`` bases at a time, so the extra memory is a few MB plus the list.

    >>> n_runs(np.array([0, 4, 4, 1, 4, 12, 12, 2], np.uint8))
    [(1, 3), (4, 7)]
    >>> n_runs(np.array([0, 4, 4, 1, 4, 12, 12, 2], np.uint8), 0, 8, 2)
    [(4, 7)]
    """
    end = packed.size if end is None else end
    runs: list[tuple[int, int]] = []
    open_at = None
    for a in range(start, end, block):
        b = min(a + block, end)
        is_n = (packed[a:b] & CODE_BITS) == N
        edges = np.flatnonzero(np.diff(np.concatenate([[0], is_n.view(np.int8), [0]])))
        starts, stops = edges[0::2] + a, edges[1::2] + a
        if starts.size and open_at is not None and starts[0] == a:
            starts[0] = open_at
        elif open_at is not None:
            runs.append((open_at, a))
        open_at = None
        if stops.size and stops[-1] == b and b < end:  # continues into the next block
            open_at, starts, stops = int(starts[-1]), starts[:-1], stops[:-1]
        runs += [(int(s), int(t)) for s, t in zip(starts, stops)]
    if open_at is not None:
        runs.append((open_at, end))
    return [(s, t) for s, t in runs if t - s > longer_than]
