"""Small genomes and intervals shared by tests/test_windows.py and tests/test_dataset.py."""

from __future__ import annotations

import numpy as np

from genorm.genome.array import Genome
from genorm.genome.splits import Interval


def random_genome(lengths, seed=0, alphabets=None) -> Genome:
    """Records ``r0, r1, ...`` of random letters (``alphabets`` cycled over records)."""
    rng = np.random.default_rng(seed)
    seqs = {}
    for i, n in enumerate(lengths):
        letters = list(alphabets[i % len(alphabets)]) if alphabets else list("ACGTacgtN")
        seqs[f"r{i}"] = "".join(rng.choice(letters, n))
    return Genome.from_strings(seqs)


def whole(genome) -> list[Interval]:
    """Every record whole."""
    return [Interval(i, 0, int(n)) for i, n in enumerate(genome.lengths)]


def take(ds, n):
    """The first ``n`` batches of a dataset as NumPy tuples."""
    return [tuple(t.numpy() for t in b) for b in ds.take(n)]


def cached(genome, tmp_path):
    """``genome`` saved to the cache under ``tmp_path`` and loaded memory-mapped."""
    from genorm.genome.cache import load_genome, save_genome

    return load_genome(save_genome(genome, tmp_path / "cache"), mmap=True)
