"""A trained model's analysis API: per-position probabilities, scores, sampling, and writers.

Alignment (the thing users of other DNA models keep getting off by one): for a sequence of
length L, :meth:`Predictor.predict_proba` returns ``(L, 4)`` where **row i is P(base i | bases
0..i-1)**. Row 0 is the prediction from an empty context (the output layer at the zero
state); row i for i >= 1 is the model's output after reading base i-1. So ``proba[i,
codes[i]]`` is the probability the model gave to the base that is actually at position i.

N in the input is read as the all-zero one-hot vector (no evidence) and is never scored:
its row of probabilities is still given, its surprisal is NaN and it is left out of scores.

Prediction is exact: each record is run as one lane from its first base, a chunk at a time,
with the recurrent state carried between chunks, so memory is bounded whatever the length.
"""

from __future__ import annotations

import io
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from genorm import encoding
from genorm.encoding import EncodingPolicy
from genorm.engine import Lane, Reader, Sequences, in_blocks, stream
from genorm.errors import ConfigError, GenormError
from genorm.metrics import softmax
from genorm.validate import check_int, check_number, check_positive_int, check_sequence, invalid

logger = logging.getLogger(__name__)



def sequence_to_packed(seq, policy: EncodingPolicy | None = None, what: str = "sequence",
                       name: str = "seq") -> np.ndarray:
    """Packed codes ``(L,) uint8`` of a string, ``bytes``, ``Bio.Seq.Seq``, ``Bio.SeqRecord.SeqRecord``
    or an array of codes (0-4, optionally with the soft-mask bit 8); ``name`` is the argument the
    caller was given it as (for messages).

    Raises:
        GenormError: another type, the sequence is empty, or holds letters that are not nucleotides.
    """
    seq = check_sequence(name, seq)
    if isinstance(seq, np.ndarray):
        if seq.ndim != 1 or not np.issubdtype(seq.dtype, np.integer):
            raise invalid(what, "a 1-D integer array of codes", shown=f"dtype {seq.dtype} and shape {seq.shape}")
        if seq.size and (seq.min() < 0 or (np.bitwise_and(seq, encoding.CODE_BITS) > encoding.N).any()
                         or seq.max() > (encoding.N | encoding.SOFT_MASK_FLAG)):
            raise invalid(what, "codes 0-4 (A C G T N), optionally | 8 for soft-masked",
                          shown=f"values {np.unique(seq)[:8].tolist()}")
        packed = seq.astype(np.uint8)
    else:
        if not isinstance(seq, (str, bytes)):
            seq = str(seq)  # Bio.Seq.Seq and friends
        try:
            packed = encoding.string_to_packed(seq, policy)
        except GenormError as exc:
            raise type(exc)(f"{what}: {exc}") from None
    if packed.size == 0:
        raise ConfigError(f"Received an empty {what}: give at least one base.")
    return packed


@dataclass
class Predictor:
    """Predictions of a trained model. Usually obtained from ``genorm.load(run_dir)``.

    Args:
        stepper: a :class:`genorm.stepper.Stepper` (or anything with ``initial_state``,
            ``step`` and ``initial_logits``).
        chunk: bases per forward call (memory per call is about ``chunk * units * 4`` bytes
            per layer).
        policy: encoding policy for string inputs.
        lanes: most records run together as the rows of one batch by :meth:`iter_records_proba`
            (short records only: a batch holds at most ``chunk`` bases, padding included).
        adapt: None (static), or an :class:`~genorm.evaluation.adapt.AdaptConfig`: probabilities
            and scores come from the model adapting while it reads each sequence (every base
            predicted before the model's gradient step on it). The methods' ``adapt=`` argument
            overrides it for one call (``adapt=False``: static).

    >>> from genorm.model import ModelConfig, build_model
    >>> from genorm.stepper import make_stepper
    >>> predictor = Predictor(make_stepper(build_model(ModelConfig(units=4, layers=1))))
    >>> predictor.predict_proba("ACGTN").shape
    (5, 4)
    >>> len(predictor.sample(10, prime="ACG", seed=0))
    10
    """

    stepper: object
    chunk: int = 65536
    policy: EncodingPolicy | None = None
    lanes: int = 256
    adapt: object = None

    def __post_init__(self) -> None:
        self.chunk = check_positive_int("chunk", self.chunk)
        self.lanes = check_positive_int("lanes", self.lanes)
        self._adaptive = None

    # -- adaptive ---------------------------------------------------------------------------
    def _adapt_of(self, adapt):
        from genorm.evaluation.adapt import resolve_adapt

        return resolve_adapt(adapt, self.adapt)

    def _iter_adaptive(self, seq, config, fresh: bool = True) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """:meth:`iter_proba`, adaptive; the weights restart unless ``config`` carries them and not ``fresh``."""
        from genorm.evaluation.adapt import adaptive_logits, make_adaptive

        if fresh or not config.carry or self._adaptive is None:
            self._adaptive = make_adaptive(self.stepper, config)  # made once per optimizer, reset
        packed = sequence_to_packed(seq, self.policy)
        for start, logits in adaptive_logits(self._adaptive, encoding.packed_to_codes(packed), self.chunk):
            yield start, packed[start:start + len(logits)], softmax(logits).astype(np.float32)

    # -- probabilities ----------------------------------------------------------------------
    def iter_proba(self, seq, adapt=None) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Yields ``(start, packed_chunk, proba_chunk)`` along the sequence: ``proba_chunk[j]``
        is P(base start+j | bases before it); ``(len(chunk), 4) float32``. Bounded memory (adaptive
        with more than one lane: 16 bytes per base). ``adapt``: see the class."""
        config = self._adapt_of(adapt)
        if config is not None:
            yield from self._iter_adaptive(seq, config)
            return
        packed = sequence_to_packed(seq, self.policy)
        scored = stream(self.stepper, Sequences([packed]), [Lane(0, 0, 0, packed.size)], batch_size=1,
                        chunk=self.chunk, label="predict")
        for start, logits in in_blocks(scored, packed.size, self.chunk):
            yield start, packed[start:start + len(logits)], softmax(logits).astype(np.float32)

    def iter_records_proba(self, records, adapt=None
                           ) -> Iterator[tuple[object, Iterator[tuple[int, np.ndarray, np.ndarray]]]]:
        """For each record (anything with ``.packed``), in order: ``(record, parts)``, where ``parts``
        yields what :meth:`iter_proba` yields for ``record.packed``; consume it before the next record.

        Short records run together, each as one row (lane) of a batch padded with N, up to
        ``lanes`` rows and ``chunk`` bases in all: a record is still predicted from its first base
        on its own (the model is causal and each row starts from the zero state), so the numbers
        are those of one record at a time (to float32 round-off), at a fraction of the calls.
        Adaptive (``adapt``, see the class): one record at a time, the weights restarting at each
        record unless the configuration carries them (then from record to record, in order).
        """
        config = self._adapt_of(adapt)
        if config is not None:
            for k, rec in enumerate(records):
                yield rec, self._iter_adaptive(rec.packed, config, fresh=k == 0)
            return
        group: list = []
        width = 0  # longest record of the group
        for rec in records:
            n = len(rec.packed)
            short = 0 < n <= self.chunk // 2
            if group and (not short or len(group) >= self.lanes or (len(group) + 1) * max(width, n) > self.chunk):
                yield from self._group_proba(group)
                group, width = [], 0
            if short:
                group.append(rec)
                width = max(width, n)
            else:  # long (streamed in chunks) or empty (iter_proba says so)
                yield rec, self.iter_proba(rec.packed)
        if group:
            yield from self._group_proba(group)

    def _group_proba(self, group: list) -> Iterator[tuple[object, Iterator]]:
        packed = [sequence_to_packed(rec.packed, self.policy) for rec in group]
        probs = [np.empty((p.size, 4), np.float32) for p in packed]
        lanes = [Lane(i, 0, 0, p.size) for i, p in enumerate(packed)]
        for rec, pos, logits in stream(self.stepper, Sequences(packed), lanes, batch_size=len(group),
                                       chunk=max(p.size for p in packed), label="predict"):
            proba = softmax(logits)
            cuts = np.flatnonzero(np.diff(rec)) + 1  # the loop yields each lane's positions as one run
            for a, b in zip([0, *cuts.tolist()], [*cuts.tolist(), rec.size]):
                probs[int(rec[a])][pos[a:b]] = proba[a:b]
        for rec, p, proba in zip(group, packed, probs):
            yield rec, iter([(0, p, proba)])

    def predict_proba(self, seq, adapt=None) -> np.ndarray:
        """``(L, 4) float32``: row i is P(base i | bases 0..i-1) over A, C, G, T; rows sum to 1.

        Args:
            seq: a string, ``Bio.Seq.Seq``, ``SeqRecord`` or codes ``(L,)``; case and N follow
                the encoding policy.
            adapt: None (the predictor's ``adapt``), False (static) or an
                :class:`~genorm.evaluation.adapt.AdaptConfig` (adaptive; see the class).
        """
        return np.concatenate([p for _, _, p in self.iter_proba(seq, adapt)], axis=0)

    def predict_frame(self, seq, adapt=None) -> "pandas.DataFrame":  # noqa: F821
        """The same as a table: ``position`` (0-based), ``base``, ``p_a``, ``p_c``, ``p_g``, ``p_t``,
        ``p_true`` and ``surprisal_bits`` (``-log2 P(true base)``, NaN at N)."""
        import pandas as pd

        frames = [frame_of(start, packed, proba) for start, packed, proba in self.iter_proba(seq, adapt)]
        return pd.concat(frames, ignore_index=True)

    # -- scores -----------------------------------------------------------------------------
    def log2_probs(self, seq, adapt=None) -> np.ndarray:
        """``(L,) float64`` log2 P(base i | bases before it); NaN where base i is N."""
        out = []
        for _, packed, proba in self.iter_proba(seq, adapt):
            out.append(true_base_log2(packed, proba))
        return np.concatenate(out)

    def score(self, seq, adapt=None) -> float:
        """Log-likelihood of the sequence in bits (log2; negative), summed over its non-N bases.

        ``-score(seq) / bases`` is the bits per base; see :meth:`score_details`.
        """
        return self.score_details(seq, adapt)["log2_likelihood"]

    def score_details(self, seq, adapt=None) -> dict:
        """``{"length", "bases_scored", "log2_likelihood", "bits_per_base"}`` for one sequence."""
        return _score_of(self.log2_probs(seq, adapt))

    def score_records(self, sources, records=None, format: str | None = None,
                      adapt=None) -> "pandas.DataFrame":  # noqa: F821
        """One row per record of ``sources`` (paths, handles, SeqRecords or ``(name, sequence)``
        pairs; ``format`` as :func:`genorm.reading.records.read_fasta`): ``record``, ``length``,
        ``bases_scored``, ``log2_likelihood``, ``bits_per_base``."""
        import pandas as pd

        from genorm.reading.records import read_fasta

        rows = []
        recs = read_fasta(sources, policy=self.policy, records=records, format=format)
        for rec, parts in self.iter_records_proba(recs, adapt):
            lp = np.concatenate([true_base_log2(packed, proba) for _, packed, proba in parts])
            rows.append({"record": rec.name, **_score_of(lp)})
        return pd.DataFrame(rows, columns=["record", "length", "bases_scored", "log2_likelihood", "bits_per_base"])

    # -- sampling ---------------------------------------------------------------------------
    def sample(self, length: int, prime="", temperature: float = 1.0, seed: int | None = None) -> str:
        """Sample ``length`` bases that follow ``prime`` (the prime is not included).

        Args:
            length: bases to generate (>= 1).
            prime: a sequence the model reads first (may be empty).
            temperature: > 1 flatter, < 1 sharper; 0 takes the most probable base every time.
            seed: makes the result reproducible.

        Returns:
            the sampled bases as an upper-case string of A/C/G/T.
        """
        length = check_positive_int("length", length)
        temperature = check_number("temperature", temperature, 0.0)
        if seed is not None:
            seed = check_int("seed", seed, 0)
        from genorm.memory import check_memory

        check_memory(3 * int(length), f"Sampling {int(length):,} bases", "ask for fewer bases (--length)")
        rng = np.random.default_rng(seed)
        reader = Reader(self.stepper)
        logits = self.stepper.initial_logits()
        if prime is not None and len(check_sequence("prime", prime)) > 0:
            codes = encoding.packed_to_codes(sequence_to_packed(prime, self.policy, what="prime", name="prime")
                                             ).astype(np.int32)
            for start in range(0, codes.size, self.chunk):
                logits = reader.read(codes[None, start:start + self.chunk])[0, -1]
        result = np.empty(int(length), dtype=np.uint8)
        for i in range(int(length)):
            if temperature == 0:
                base = int(np.argmax(logits))
            else:
                base = int(rng.choice(4, p=softmax(logits, temperature)))
            result[i] = base
            if i + 1 < length:
                logits = reader.read(np.array([[base]], dtype=np.int32))[0, -1]
        return encoding.codes_to_string(result)


# ------------------------------------------------------------------------------------------
# Helpers shared by the writers


def _score_of(lp: np.ndarray) -> dict:
    """``length, bases_scored, log2_likelihood, bits_per_base`` of ``(L,)`` log2 P(true base) (NaN at N)."""
    ok = ~np.isnan(lp)
    total = float(lp[ok].sum())
    n = int(ok.sum())
    return {"length": int(lp.size), "bases_scored": n, "log2_likelihood": total,
            "bits_per_base": -total / n if n else float("nan")}


def true_base_log2(packed: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """``(L,) float64`` log2 of the probability of the true base; NaN at N."""
    codes = encoding.packed_to_codes(packed)
    is_n = codes == encoding.N
    p = proba[np.arange(codes.size), np.minimum(codes, 3)].astype(np.float64)
    with np.errstate(divide="ignore"):
        out = np.log2(p)
    out[is_n] = np.nan
    return out


def frame_of(start: int, packed: np.ndarray, proba: np.ndarray) -> "pandas.DataFrame":  # noqa: F821
    import pandas as pd

    codes = encoding.packed_to_codes(packed)
    lp = true_base_log2(packed, proba)
    p_true = np.where(codes == encoding.N, np.nan, np.exp2(lp))
    letters = np.frombuffer(encoding.ALPHABET.encode(), dtype="S1")[codes].astype(str)
    return pd.DataFrame({
        "position": np.arange(start, start + codes.size, dtype=np.int64),
        "base": letters,
        "p_a": proba[:, 0], "p_c": proba[:, 1], "p_g": proba[:, 2], "p_t": proba[:, 3],
        "p_true": p_true,
        "surprisal_bits": -lp,
    })


_SPOOL = np.dtype([("start", "<i8"), ("value", "<f4")])
"""One track value on disk while a track is being sorted: 12 bytes per non-N base."""


def write_predictions(predictor: Predictor, sources, handle: io.TextIOBase, fmt: str = "tsv",
                      records=None, progress: Callable[[str, int, int], None] | None = None,
                      input_format: str | None = None) -> int:
    """Stream per-base predictions of every record to ``handle``; returns bases predicted.

    ``fmt="tsv"``: a header, then ``record position base p_a p_c p_g p_t p_true surprisal_bits``
    per base (0-based position), records in input order. ``fmt="bedgraph"``: a track line, then
    ``record start end surprisal`` per non-N base in genome coordinates (0-based, half-open),
    sorted the way ``bedGraphToBigWig`` requires: by record name in byte order (what
    ``LC_COLLATE=C sort -k1,1 -k2,2n`` gives: ``chr10`` before ``chr2``, upper case before lower
    case), then by start. Sorting keeps 12 bytes per base in a temporary file (in ``$TMPDIR``).
    ``sources``: as :func:`genorm.reading.records.read_fasta` (``input_format`` is its ``format``).
    """
    from genorm.reading.records import read_fasta

    if fmt not in ("tsv", "bedgraph"):
        raise invalid("format", "'tsv' or 'bedgraph'", fmt)
    if fmt == "bedgraph":
        with tempfile.TemporaryFile() as spool:
            index = _spool_surprisal(predictor, sources, records, progress, spool, input_format)
            handle.write('track type=bedGraph name="genorm surprisal" description="-log2 P(base | preceding bases)"\n')
            for name, _, block in _sorted_track(index, spool):
                handle.write("".join(f"{name}\t{s}\t{s + 1}\t{v:.6g}\n" for s, v in zip(block["start"].tolist(),
                                                                                     block["value"].tolist())))
        return sum(length for _, length, _, _ in index)
    handle.write("record\tposition\tbase\tp_a\tp_c\tp_g\tp_t\tp_true\tsurprisal_bits\n")
    total = 0
    from genorm.atomic import check_field

    pending, rows = [], 0  # TSV parts of short records, written together (one to_csv per ~chunk rows)
    records_read = read_fasta(sources, policy=predictor.policy, records=records, format=input_format)
    for rec, parts in predictor.iter_records_proba(records_read):
        check_field(rec.name, "record name")  # a tab or newline in it would break every line's columns
        for start, packed, proba in parts:
            pending.append((rec.name, start, packed, proba))
            rows += packed.size
            if rows >= predictor.chunk:
                _write_tsv(pending, handle)
                pending, rows = [], 0
            total += packed.size
            if progress is not None:
                progress(rec.name, start + packed.size, len(rec))
    _write_tsv(pending, handle)
    return total


def _spool_surprisal(predictor: Predictor, sources, records, progress, spool,
                     input_format: str | None = None) -> list[tuple[str, int, int, int]]:
    """Write ``(start, surprisal)`` of every non-N base to ``spool``, record after record.

    Returns one ``(name, length, offset in spool, values)`` per record, in input order.
    """
    from genorm.atomic import check_field
    from genorm.reading.records import read_fasta

    index = []
    records_read = read_fasta(sources, policy=predictor.policy, records=records, format=input_format)
    for rec, parts in predictor.iter_records_proba(records_read):
        check_field(rec.name, "record name")  # a tab or newline in it would break the track's columns
        offset, count = spool.tell(), 0
        for start, packed, proba in parts:
            lp = true_base_log2(packed, proba)
            ok = ~np.isnan(lp)
            block = np.empty(int(ok.sum()), dtype=_SPOOL)
            block["start"] = np.arange(start, start + packed.size, dtype=np.int64)[ok]
            block["value"] = -lp[ok]
            spool.write(block.tobytes())
            count += block.size
            if progress is not None:
                progress(rec.name, start + packed.size, len(rec))
        index.append((rec.name, len(rec), offset, count))
    return index


def _sorted_track(index: list[tuple[str, int, int, int]], spool, block: int = 1 << 20):
    """Yields ``(name, length, values)`` blocks from the spool, records in byte order of their names."""
    for name, length, offset, count in sorted(index, key=lambda item: item[0].encode()):
        spool.seek(offset)
        for done in range(0, count, block):
            n = min(block, count - done)
            yield name, length, np.frombuffer(spool.read(n * _SPOOL.itemsize), dtype=_SPOOL)


def require_pybigtools():
    """The ``pybigtools`` module, or a :class:`ConfigError` that says how to install it."""
    try:
        import pybigtools
    except ImportError:
        raise ConfigError("bigWig output needs the optional pybigtools package: pip install genorm[tracks] (or pip "
                          "install pybigtools); or write a bedGraph (-o FILE.bedgraph).") from None
    return pybigtools


def write_bigwig(predictor: Predictor, sources, path, records=None,
                 progress: Callable[[str, int, int], None] | None = None, input_format: str | None = None) -> int:
    """Write the per-base surprisal of every record as a bigWig file; returns bases predicted.

    The same values as the bedGraph of :func:`write_predictions` (N bases have no value), with
    chromosome sizes from the records' lengths. Needs the optional ``pybigtools`` package
    (``pip install genorm[tracks]``). Written to a temporary file and renamed when complete.

    Raises:
        ConfigError: ``pybigtools`` is not installed, or no record has a non-N base.
    """
    pybigtools = require_pybigtools()
    from genorm.atomic import atomic_path, check_output

    check_output(path)
    with tempfile.TemporaryFile() as spool:
        index = _spool_surprisal(predictor, sources, records, progress, spool, input_format)
        if not any(count for *_, count in index):
            raise ConfigError(f"Nothing to write to {path}: every base of the input is N (a bigWig needs at least "
                              "one value).")
        chroms = {name: length for name, length, _, _ in sorted(index, key=lambda item: item[0].encode())}
        values = ((name, s, s + 1, v) for name, _, block in _sorted_track(index, spool)
                  for s, v in zip(block["start"].tolist(), block["value"].tolist()))
        with atomic_path(path, suffix=".bw") as tmp:
            pybigtools.open(str(tmp), "w").write(chroms, values)
    return sum(length for _, length, _, _ in index)


def _write_tsv(parts: list, handle: io.TextIOBase) -> None:
    """Write ``(record name, start, packed, proba)`` parts as TSV rows, one table for them all."""
    if not parts:
        return
    names, starts, packed, proba = zip(*parts)
    df = frame_of(0, np.concatenate(packed), np.concatenate(proba))
    df["position"] = np.concatenate([np.arange(s, s + p.size, dtype=np.int64) for s, p in zip(starts, packed)])
    df.insert(0, "record", np.repeat(np.array(names, dtype=object), [p.size for p in packed]))
    df.to_csv(handle, sep="\t", header=False, index=False, float_format="%.6g", na_rep="NA")


TRACK_FORMATS = ("tsv", "bedgraph", "bigwig")
"""Formats of per-base predictions: a TSV table, or surprisal tracks (bedGraph, bigWig) that list
records in byte order of their names (``LC_COLLATE=C``)."""


def track_format(path: str, fmt: str | None = None) -> str:
    """The format of a predictions file: ``fmt`` when given, else told from the extension of ``path``.

    ``.bedgraph`` / ``.bg`` / ``.bedgraph.gz``: ``"bedgraph"``; ``.bw`` / ``.bigwig``: ``"bigwig"``;
    anything else (``-`` included): ``"tsv"``.

    >>> track_format("x.bedGraph"), track_format("x.bw"), track_format("-"), track_format("x.bg", "tsv")
    ('bedgraph', 'bigwig', 'tsv', 'tsv')
    """
    if fmt:
        if fmt not in TRACK_FORMATS:
            raise invalid("format", f"one of {', '.join(TRACK_FORMATS)}", fmt)
        return fmt
    low = str(path).lower()
    if low.endswith((".bedgraph", ".bg", ".bedgraph.gz")):
        return "bedgraph"
    if low.endswith((".bw", ".bigwig")):
        return "bigwig"
    return "tsv"


def write_track(predictor: Predictor, sources, path, fmt: str = "tsv", records=None,
                progress: Callable[[str, int, int], None] | None = None, input_format: str | None = None) -> int:
    """Write per-base predictions of ``sources`` to ``path`` in ``fmt``; returns bases predicted.

    ``"tsv"`` / ``"bedgraph"``: :func:`write_predictions` (``path`` ``-``: standard output);
    ``"bigwig"``: :func:`write_bigwig`. The file appears only when complete (atomic rename).
    """
    from genorm.atomic import atomic_open

    if fmt == "bigwig":
        return write_bigwig(predictor, sources, path, records=records, progress=progress, input_format=input_format)
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        return write_predictions(predictor, sources, handle, fmt=fmt, records=records, progress=progress,
                                 input_format=input_format)
