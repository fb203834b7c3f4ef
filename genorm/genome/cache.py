"""The on-disk genome cache: parse FASTA once, memory-map it afterwards.

A cache is a directory (by default ``<first FASTA>.genorm/`` beside the file)::

    packed.npy     (G,) uint8 packed codes, records end to end (``np.load(mmap_mode="r")``)
    offsets.npy    (R + 1,) int64 record offsets
    genome.json    format version, names, per-record stats, sources, policy, fingerprint, and the
                   SHA-256 of packed.npy and offsets.npy (checked on every load: an edited array is
                   a damaged cache, rebuilt, never trained on)

``genome.json`` is written last, and the directory is built under a temporary name and renamed
into place, so a cache is either complete or absent. The *fingerprint* (each FASTA's absolute
path, size and SHA-256, the encoding policy, the selected records) decides whether a cache is
current; when the FASTA's content changes, the cache is rebuilt. The key is the content, not
the modification time: an edit that keeps the size and restores the ``mtime`` is still seen.
The SHA-256 is the one a run's provenance records, remembered by :mod:`genorm.hashing` so an
unchanged file is not hashed again on every command. A ``genome.json`` that is not what genorm
writes (corrupt, or valid JSON of another shape) makes the cache stale: it is rebuilt.

Loaded with ``mmap=True`` the genome's bases stay in the page cache, not in the process's
anonymous memory, so a genome larger than memory can be streamed.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "x.fa").write_text(">a\\nACGT\\n>b\\nNNa\\n")
>>> g = cached_genome(d / "x.fa")
>>> g.names, g.total_length, type(g.packed).__name__, (d / "x.fa.genorm" / "packed.npy").exists()
(['a', 'b'], 7, 'memmap', True)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genorm.atomic import remove_stale_temporaries, temp_prefix
from genorm.encoding import EncodingPolicy
from genorm.errors import CacheError
from genorm.reading.records import RecordStats
from genorm.genome.array import Genome, read_genome

logger = logging.getLogger(__name__)

CACHE_FORMAT = "genorm-genome-cache"
CACHE_VERSION = 1
PACKED_FILE = "packed.npy"
OFFSETS_FILE = "offsets.npy"
META_FILE = "genome.json"
SUFFIX = ".genorm"


def _paths(fasta_paths) -> list:
    if isinstance(fasta_paths, (str, os.PathLike)) or hasattr(fasta_paths, "read"):
        return [fasta_paths]
    return list(fasta_paths)


def fingerprint(fasta_paths, policy: EncodingPolicy | None = None, records: Iterable[str] | None = None) -> dict:
    """What a cache must match to be current: each file's absolute path, size and SHA-256
    (:func:`genorm.hashing.sha256_of`), the policy and the selected records.

    Raises:
        OSError: a file cannot be stat'ed or read.
    """
    from genorm.hashing import sha256_of

    files = []
    for p in _paths(fasta_paths):
        st = os.stat(p)
        files.append({"path": str(Path(p).resolve()), "size": st.st_size, "sha256": sha256_of(p)})
    return {
        "version": CACHE_VERSION,
        "files": files,
        "policy": (policy or EncodingPolicy()).to_dict(),
        "records": None if records is None else list(records),
    }


def default_cache_dir(fasta_paths) -> Path:
    """``<first FASTA>.genorm`` beside the first file."""
    return Path(str(_paths(fasta_paths)[0]) + SUFFIX)


def _not_regular(path: str | os.PathLike) -> bool:
    """True for an existing path that is not a regular file (a named pipe, /dev/stdin on a pipe): hashing
    it would consume what the reader needs, or wait for ever for a writer."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _is_cache(path: Path) -> bool:
    return (path / META_FILE).is_file() or (path / PACKED_FILE).is_file()


def save_genome(genome: Genome, cache_dir: str | os.PathLike, fingerprint: dict | None = None) -> Path:
    """Write ``genome`` as a cache directory, atomically (a temporary directory, then a rename).

    An existing cache at ``cache_dir`` is replaced; a directory that is not a genorm cache (and
    not empty) is left alone.

    Returns:
        The cache directory.

    Raises:
        CacheError: ``cache_dir`` exists and is something else, or cannot be written.
    """
    cache_dir = Path(cache_dir)
    if cache_dir.exists() and not (cache_dir.is_dir() and (_is_cache(cache_dir) or not any(cache_dir.iterdir()))):
        raise CacheError(
            f"{cache_dir} exists and is not a genorm cache; genorm will not overwrite it. "
            "Choose another cache directory (--cache-dir)."
        )
    meta = {
        "format": CACHE_FORMAT,
        "version": CACHE_VERSION,
        "names": list(genome.names),
        "total_length": genome.total_length,
        "stats": [s.to_dict() for s in genome.stats],
        "sources": genome.sources,
        "policy": genome.policy.to_dict(),
        "fingerprint": fingerprint,
    }
    try:
        cache_dir.parent.mkdir(parents=True, exist_ok=True)
        for stale in remove_stale_temporaries(cache_dir.parent, cache_dir.name):  # left by a killed `genorm index`
            logger.warning("Removed %s, a temporary cache left by a process that no longer runs.", stale)
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(cache_dir.name), suffix=".tmp", dir=cache_dir.parent))
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a cache is as readable as its FASTA
    except OSError as exc:
        raise CacheError(f"Cannot create the genome cache in {cache_dir.parent}: {exc.strerror or exc}. "
                         "Choose a writable cache directory (--cache-dir).") from None
    old = None
    try:
        for name, arr in ((PACKED_FILE, genome.packed), (OFFSETS_FILE, np.asarray(genome.offsets, np.int64))):
            with open(tmp / name, "wb") as fh:
                np.save(fh, np.asarray(arr), allow_pickle=False)
                fh.flush()
                os.fsync(fh.fileno())
        meta["content_sha256"] = _content_hashes(tmp)
        with open(tmp / META_FILE, "w", encoding="utf-8") as fh:
            json.dump(meta, fh, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        if cache_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=temp_prefix(cache_dir.name), suffix=".old", dir=cache_dir.parent))
            os.replace(cache_dir, old / "cache")
        os.replace(tmp, cache_dir)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CacheError(f"Cannot write the genome cache {cache_dir}: {exc.strerror or exc}. "
                         "Check free disk space and permissions, or choose another --cache-dir.") from None
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)  # open memory maps of the old files stay valid
    logger.info("wrote genome cache %s (%d records, %s bases)", cache_dir, len(genome), f"{genome.total_length:,}")
    return cache_dir


def _content_hashes(cache_dir: Path) -> dict[str, str]:
    """The SHA-256 of ``packed.npy`` and ``offsets.npy`` (remembered while unchanged: :mod:`genorm.hashing`)."""
    from genorm.hashing import sha256_of

    return {name: sha256_of(cache_dir / name) for name in (PACKED_FILE, OFFSETS_FILE)}


def _check_content(cache_dir: Path, meta: dict) -> None:
    """The arrays must be the ones written: an edited ``packed.npy`` of the same shape is otherwise trained on."""
    want = meta.get("content_sha256")
    if not isinstance(want, dict):
        raise CacheError(f"The genome cache {cache_dir} records no SHA-256 of its arrays (written by an older genorm), "
                         "so its content cannot be verified; delete it and run `genorm index` again.")
    try:
        got = _content_hashes(cache_dir)
    except OSError as exc:
        raise CacheError(f"The genome cache {cache_dir} is unreadable ({exc}); delete it and run "
                         "`genorm index` again.") from None
    for name, sha in got.items():
        if want.get(name) != sha:
            raise CacheError(f"The genome cache {cache_dir} is damaged: {name} is not the file genorm wrote (its "
                             f"SHA-256 is {sha[:16]}..., {META_FILE} records {str(want.get(name))[:16]}...); delete "
                             "it and run `genorm index` again.")


def _read_meta(cache_dir: Path) -> dict:
    try:
        with open(cache_dir / META_FILE, encoding="utf-8") as fh:
            meta = json.load(fh)
    except FileNotFoundError:
        raise CacheError(f"{cache_dir} is not a genorm genome cache (no {META_FILE}). "
                         "Build one with `genorm index GENOME.fa`.") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise CacheError(f"The genome cache {cache_dir} is unreadable ({exc}); delete it and run "
                         "`genorm index` again.") from None
    if not isinstance(meta, dict):
        raise CacheError(f"The genome cache {cache_dir} is corrupt ({META_FILE} holds a JSON "
                         f"{type(meta).__name__}, not an object); delete it and run `genorm index` again.")
    if meta.get("format") != CACHE_FORMAT or meta.get("version") != CACHE_VERSION:
        raise CacheError(f"The genome cache {cache_dir} has format {meta.get('format')!r} version "
                         f"{meta.get('version')!r}, expected {CACHE_FORMAT!r} version {CACHE_VERSION}; "
                         "delete it and run `genorm index` again.")
    return meta


def load_genome(cache_dir: str | os.PathLike, mmap: bool = True) -> Genome:
    """Load a cached genome.

    Args:
        cache_dir: a directory written by :func:`save_genome`.
        mmap: True (default): ``packed`` is a read-only ``np.memmap`` (bases are read from disk
            on demand); False: read it into memory (one byte per base).

    Returns:
        :class:`~genorm.genome.array.Genome`.

    Raises:
        CacheError: missing, incomplete, corrupt or wrong-version cache.
    """
    cache_dir = Path(cache_dir)
    meta = _read_meta(cache_dir)
    try:
        packed = np.load(cache_dir / PACKED_FILE, mmap_mode="r" if mmap else None, allow_pickle=False)
        offsets = np.load(cache_dir / OFFSETS_FILE, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise CacheError(f"The genome cache {cache_dir} is damaged ({exc}); delete it and run "
                         "`genorm index` again.") from None
    names, stats, policy = _check_meta(cache_dir, meta)
    _check_content(cache_dir, meta)
    if (packed.dtype != np.uint8 or packed.ndim != 1 or offsets.shape != (len(names) + 1,)
            or int(offsets[-1]) != packed.shape[0] or packed.shape[0] != meta["total_length"]):
        raise CacheError(f"The genome cache {cache_dir} is inconsistent ({packed.shape[0]:,} bases stored, "
                         f"{meta['total_length']:,} expected); delete it and run `genorm index` again.")
    return Genome(packed=packed, offsets=offsets, names=names, stats=stats, sources=meta["sources"], policy=policy)


def _check_meta(cache_dir: Path, meta: dict) -> tuple[list[str], list[RecordStats], EncodingPolicy]:
    """The names, stats and policy of ``genome.json``; anything of another shape is a :class:`CacheError`."""
    names, stats, total = meta.get("names"), meta.get("stats"), meta.get("total_length")
    ok = (isinstance(names, list) and all(isinstance(n, str) for n in names) and isinstance(stats, list)
          and len(stats) == len(names) and all(isinstance(s, dict) for s in stats)
          and isinstance(total, int) and not isinstance(total, bool) and isinstance(meta.get("policy"), dict)
          and isinstance(meta.get("sources"), list))
    try:
        if ok:
            return names, [RecordStats.from_dict(s) for s in stats], EncodingPolicy(**meta["policy"])
    except (TypeError, ValueError, KeyError, AttributeError):
        pass
    raise CacheError(f"The genome cache {cache_dir} is corrupt ({META_FILE} is not what genorm writes: names, "
                     "stats, total_length, sources or policy missing or of the wrong type); delete it and run "
                     "`genorm index` again.")


@dataclass
class CacheResult:
    """What :func:`index_genome` did: the genome, where its cache is, and whether it was (re)built."""

    genome: Genome
    path: Path | None
    built: bool


def index_genome(
    fasta_paths,
    policy: EncodingPolicy | None = None,
    records: Iterable[str] | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: Callable[[int, int | None, str], None] | None = None,
    force: bool = False,
) -> CacheResult:
    """Make sure the cache of ``fasta_paths`` is current (building it if needed) and load it.

    Args and raises: as :func:`cached_genome`; ``force`` rebuilds even a current cache.
    """
    sources = _paths(fasta_paths)
    records = None if records is None else list(records)
    if any(not isinstance(p, (str, os.PathLike)) or str(p) == "-" or _not_regular(p) for p in sources):
        logger.info("standard input, a pipe or an open handle cannot be cached; reading it directly")
        return CacheResult(read_genome(sources, policy=policy, records=records, progress=progress), None, False)
    try:
        want = fingerprint(sources, policy, records)
    except OSError:
        # let the reader produce its message for a missing or unreadable file
        return CacheResult(read_genome(sources, policy=policy, records=records, progress=progress), None, False)
    explicit = cache_dir is not None
    path = Path(cache_dir) if explicit else default_cache_dir(sources)
    if not force and (path / META_FILE).is_file():
        try:
            meta = _read_meta(path)
            if meta.get("fingerprint") == want and isinstance(meta.get("content_sha256"), dict):
                genome = load_genome(path, mmap=True)  # a damaged cache: CacheError, rebuilt below
                logger.info("using genome cache %s", path)
                return CacheResult(genome, path, False)
            logger.info("genome cache %s is out of date (the FASTA, policy or records changed, or an older genorm "
                        "wrote it): rebuilding", path)
        except CacheError as exc:
            logger.warning("%s Rebuilding it.", exc)
    genome = read_genome(sources, policy=policy, records=records, progress=progress)
    try:
        save_genome(genome, path, want)
    except CacheError as exc:
        if explicit:
            raise
        logger.warning("%s Continuing without a cache.", exc)
        return CacheResult(genome, None, False)
    del genome
    return CacheResult(load_genome(path, mmap=True), path, True)


def cached_genome(
    fasta_paths,
    policy: EncodingPolicy | None = None,
    records: Iterable[str] | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: Callable[[int, int | None, str], None] | None = None,
) -> Genome:
    """The genome of ``fasta_paths``, from its cache (built on first use, rebuilt when stale).

    Args:
        fasta_paths: a FASTA path or a list of them (plain, gzip or bgzip). Standard input and
            open handles are read directly, without a cache.
        policy: the :class:`~genorm.encoding.EncodingPolicy` (part of the fingerprint).
        records: record names to keep (part of the fingerprint).
        cache_dir: where the cache lives. Default None: ``<first FASTA>.genorm/`` beside the
            file; if that cannot be written, a warning is logged and the genome is read into
            memory instead.
        progress: ``progress(bytes_read, total_or_None, label)`` while the FASTA is parsed.

    Returns:
        :class:`~genorm.genome.array.Genome` whose ``packed`` is a read-only memory map of the cache
        (or an in-memory array when no cache could be used).

    Raises:
        CacheError: an explicit ``cache_dir`` cannot be written or is not a genorm cache.
        FastaFormatError, InputFileError, RecordSelectionError, EncodingPolicyError: from reading.
    """
    return index_genome(fasta_paths, policy, records, cache_dir, progress).genome
