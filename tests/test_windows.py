"""Tests of genorm.batches.windows (NumPy sampling): alignment, boundaries, N, padding, reverse complement,
determinism, the mapped genome. The tf.data side: tests/test_dataset.py."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genorm.encoding import reverse_complement
from genorm.errors import ConfigError, SplitError
from genorm.genome.array import Genome
from genorm.genome.splits import Interval, make_splits
from genorm.batches.windows import (
    StreamConfig,
    WindowSampler,
    flat_intervals,
    reverse_complement_windows,
    windows_to_arrays,
)
from genomes import cached, random_genome, whole


# -- config -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    (dict(window=0), r"Received an invalid value for `window`, expected an integer >= 2, got 0\."),
    (dict(window=1.5), r"`window`, expected an integer >= 2, got 1.5"),
    (dict(batch_size=0), r"`batch_size`, expected a positive integer, got 0"),  # TrainConfig's rules
    (dict(bases_per_epoch=-1), r"`bases_per_epoch`, expected a positive integer, got -1"),
    (dict(bases_per_epoch=10**13), r"`bases_per_epoch`, expected a positive integer up to 1e\+12"),
    (dict(stride=0), r"`stride`, expected an integer >= 1, got 0"),
    (dict(shuffle="yes"), r"`shuffle`, expected true or false, got 'yes'"),
    (dict(rc_augment=1), r"`rc_augment`, expected true or false, got 1"),
    (dict(walk=1001), r"`walk`, expected an integer in \[1, 1000\] \(windows\), got 1001"),
    (dict(max_n_fraction=1.5), r"`max_n_fraction`, expected a number in \[0, 1\], got 1.5"),
    (dict(soft_mask_weight=-1.0), r"`soft_mask_weight`, expected a number in \[0, 1000\], got -1.0"),
])
def test_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        StreamConfig(**kwargs)


@pytest.mark.parametrize("name, value", [("window", 1), ("batch_size", 0), ("batch_size", 2.0),
                                         ("rc_augment", "no"), ("bases_per_epoch", 10**13), ("walk", 1001),
                                         ("max_n_fraction", 1.5), ("soft_mask_weight", 1e4)])
def test_stream_and_train_config_share_each_rule(name, value):
    """A field both configurations have is refused by both, with the same message (one rule, genorm.validate)."""
    from genorm.config import TrainConfig

    with pytest.raises(ConfigError) as train:
        TrainConfig(**{name: value})
    with pytest.raises(ConfigError) as stream:
        StreamConfig(**{name: value})
    assert str(train.value) == str(stream.value)


def test_interval_errors():
    g = random_genome([100])
    cfg = StreamConfig(window=10)
    with pytest.raises(SplitError, match=r"empty list of intervals"):
        WindowSampler(g, [], cfg)
    with pytest.raises(SplitError, match=r"Interval\(record=0, start=50, end=150\) is not inside record 0 of length 100"):
        WindowSampler(g, [Interval(0, 50, 150)], cfg)
    with pytest.raises(SplitError, match=r"record=3.*\(no such record\)"):
        WindowSampler(g, [Interval(3, 0, 10)], cfg)
    with pytest.raises(SplitError, match=r"No interval has 2 or more bases"):
        WindowSampler(g, [Interval(0, 5, 6)], cfg)
    with pytest.raises(ConfigError, match=r"expected Interval, got \(0, 0, 10\)"):
        flat_intervals(g, [(0, 0, 10)])
    with pytest.raises(ConfigError, match=r"`seed`, expected an integer >= 0, got -1"):
        WindowSampler(g, whole(g), cfg, seed=-1)
    with pytest.raises(ConfigError, match=r"`config`, expected a StreamConfig, got 'x'"):
        WindowSampler(g, whole(g), "x")


def test_flat_intervals_drop_the_unusable_and_mark_records_with_n():
    g = Genome.from_strings({"a": "ACGT", "b": "ACNNA"})
    flat = flat_intervals(g, [Interval(0, 0, 4), Interval(1, 1, 2), Interval(1, 0, 5)])
    assert flat.start.tolist() == [0, 4] and flat.end.tolist() == [4, 9] and flat.unusable == 1
    assert flat.has_n.tolist() == [False, True]


# -- the batch arithmetic (NumPy reference) ------------------------------------------------------

def test_targets_are_the_next_base():
    w = np.array([[0, 1, 2, 3, 4, 0]], dtype=np.uint8)  # A C G T N A
    x, y, wt = windows_to_arrays(w)
    assert x.tolist() == [[0, 1, 2, 3, 4]]
    assert y.tolist() == [[1, 2, 3, 0, 0]]            # T's next base is N: target 0
    assert wt.tolist() == [[1, 1, 1, 0, 0]]           # N target, then N input: weight 0
    assert (x.dtype, y.dtype, wt.dtype) == (np.int32, np.int32, np.float32)


def test_soft_mask_weight_and_reverse_complement_alignment():
    w = np.array([[0, 0, 1 | 8, 2, 3]], dtype=np.uint8)  # A A c G T
    x, y, wt = windows_to_arrays(w, soft_mask_weight=0.25)
    assert wt.tolist() == [[1, 0.25, 1, 1]]
    rc = reverse_complement_windows(w)
    assert rc.tolist() == [[0, 1, 2 | 8, 3, 3]] and (rc & 7).tolist() == [reverse_complement(w[0] & 7).tolist()]
    x, y, wt = windows_to_arrays(rc, soft_mask_weight=0.25)
    # reverse complement of AAcGT is ACgTT: inputs A C G T, targets C G T T, the soft base now at 2
    assert x.tolist() == [[0, 1, 2, 3]] and y.tolist() == [[1, 2, 3, 3]] and wt.tolist() == [[1, 0.25, 1, 1]]


# -- sampled windows (properties) -------------------------------------------------------------------

def _locate(genome, ivs, window: np.ndarray, L: int) -> bool:
    """True if ``window`` (packed, L+1) is a substring of one interval, possibly N-padded at its end."""
    codes = window & 7
    real = L + 1
    while real > 2 and codes[real - 1] == 4:
        real -= 1
    needle = bytes(window[:real])
    for iv in ivs:
        hay = bytes(genome.packed[genome.offsets[iv.record] + iv.start:genome.offsets[iv.record] + iv.end])
        pos = hay.find(needle)
        while pos >= 0:
            if (codes[real:] == 4).all() and (pos + L + 1 <= len(hay) or (codes[len(hay) - pos:] == 4).all()):
                return True
            pos = hay.find(needle, pos + 1)
    return False


@settings(max_examples=25, deadline=None)
@given(lengths=st.lists(st.integers(2, 400), min_size=1, max_size=5), L=st.integers(2, 40),
       shuffle=st.booleans(), rc=st.booleans(), seed=st.integers(0, 2**16))
def test_windows_stay_inside_one_interval(lengths, L, shuffle, rc, seed):
    """Records use disjoint alphabets, so a window crossing a boundary could match no interval."""
    g = random_genome(lengths, seed=seed, alphabets=["AC", "GT", "acN"])
    ivs = whole(g)
    cfg = StreamConfig(window=L, batch_size=16, shuffle=shuffle, rc_augment=rc, max_n_fraction=1.0)
    sampler = WindowSampler(g, ivs, cfg, seed=seed)
    flipped = 0
    for k in range(min(sampler.steps, 3)):
        windows = sampler.batch(k)
        assert windows.shape[1] == L + 1
        for w in windows:
            forward = _locate(g, ivs, w, L)
            flipped += not forward
            assert forward or (rc and _locate(g, ivs, reverse_complement_windows(w[None])[0], L))
        # targets are the next base of the (possibly reversed) strand
        x, y, wt = windows_to_arrays(windows)
        assert (x == (windows[:, :-1] & 7)).all() and (y == np.where((windows[:, 1:] & 7) == 4, 0, windows[:, 1:] & 7)).all()
        inner = x[:, 1:] != 4
        assert (y[:, :-1][inner] == x[:, 1:][inner]).all()
    if rc and sampler.steps >= 3 and len(lengths) == 1 and lengths[0] > 3 * L:
        assert flipped > 0


@settings(max_examples=20, deadline=None)
@given(lengths=st.lists(st.integers(300, 2000), min_size=1, max_size=4), L=st.integers(2, 50),
       seed=st.integers(0, 1000))
def test_no_training_window_covers_a_heldout_target(lengths, L, seed):
    g = random_genome(lengths, seed=seed)
    s = make_splits(g, window=L, val_fraction=0.1, test_fraction=0.1)
    sampler = WindowSampler(g, s.train, StreamConfig(window=L), seed=seed)
    starts, _ = sampler._sample(np.random.default_rng(seed), 5000)
    covered = np.zeros(g.total_length + L + 1, dtype=bool)
    for a in np.unique(starts):
        covered[a:a + L + 1] = True
    for iv in s.val + s.test:
        a = g.offsets[iv.record] + iv.start
        assert not covered[a:a + iv.length].any()


def test_strided_mostly_n_windows_are_counted():
    g = Genome.from_strings({"a": "ACGT" * 25 + "N" * 100})
    sampler = WindowSampler(g, whole(g), StreamConfig(window=10, shuffle=False))
    assert sampler.skipped_windows == 10 and sampler.window_starts.size == 10
    with pytest.raises(SplitError, match=r"Every strided window is more than 0.5 N"):
        WindowSampler(Genome.from_strings({"a": "N" * 50}), [Interval(0, 0, 50)], StreamConfig(window=10, shuffle=False))


def test_rc_augment_flips_about_half_the_windows():
    g = random_genome([5000], alphabets=["AC"])
    sampler = WindowSampler(g, whole(g), StreamConfig(window=20, batch_size=400, rc_augment=True))
    windows = sampler.batch(0)
    reversed_strand = ((windows & 7) >= 2).all(axis=1)  # the reverse complement of A/C is G/T
    assert 150 < reversed_strand.sum() < 250 and (((windows & 7) <= 1).all(axis=1) | reversed_strand).all()


def test_docstring_example():
    import doctest

    import genorm.batches.windows

    assert doctest.testmod(genorm.batches.windows).failed == 0


@pytest.mark.parametrize("budget", [None, 0])
def test_memory_mapped_genome_gives_the_same_batches(tmp_path, monkeypatch, budget):
    """From the cache (the stream's own mapping, pages released or not): the same windows as from memory."""
    import genorm.batches.windows

    if budget is not None:
        monkeypatch.setattr(genorm.batches.windows, "_MAP_BUDGET", budget)  # release after every read
    rng = np.random.default_rng(4)
    g = Genome.from_strings({"a": "".join(rng.choice(list("ACGTacgt"), 50_000)), "b": "ACGTN" * 1000 + "N" * 3000,
                             "c": "ACGTA", "d": "".join(rng.choice(list("ACGTN"), 3000))})
    mapped = cached(g, tmp_path)
    ivs = [Interval(0, 0, 50_000), Interval(1, 0, 8000), Interval(2, 0, 5), Interval(3, 100, 2900)]
    for cfg in (StreamConfig(window=50, batch_size=16), StreamConfig(window=50, batch_size=16, shuffle=False),
                StreamConfig(window=50, batch_size=16, rc_augment=True, max_n_fraction=0.2),
                StreamConfig(window=7, batch_size=300, shuffle=False, stride=3, max_n_fraction=0.3)):
        in_memory, on_disk = WindowSampler(g, ivs, cfg, seed=1), WindowSampler(mapped, ivs, cfg, seed=1)
        assert on_disk._mapped is not None and in_memory._mapped is None
        assert on_disk.skipped_windows == in_memory.skipped_windows and on_disk.steps == in_memory.steps
        for k in range(30):
            np.testing.assert_array_equal(in_memory.batch(k), on_disk.batch(k))
        assert (on_disk._mapped.releases > 0) is (budget == 0)


def test_mapping_of_a_memmap_slice_starts_at_the_slice(tmp_path):
    from genorm.batches.windows import _MappedGenome

    mapped = cached(Genome.from_strings({"a": "ACGTNacgtn" * 100}), tmp_path)
    view = mapped.packed[13:507]
    m = _MappedGenome.of(view, random=True)
    np.testing.assert_array_equal(m.packed, view)
    assert _MappedGenome.of(np.asarray(view).copy(), random=True) is None
    assert _MappedGenome.of(mapped.packed[::2], random=True) is None


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads RssFile from /proc (Linux)")
def test_cache_pages_are_released_as_training_moves_on(tmp_path, monkeypatch):
    """Pages mapped by reading windows are unmapped past the budget: the resident set does not keep them."""
    import genorm.batches.windows

    def rss_file():
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("RssFile:"))

    rng = np.random.default_rng(0)
    from genorm.reading.records import RecordStats

    packed = rng.integers(0, 4, 16_000_000, dtype=np.uint8)
    counts = np.bincount(packed, minlength=4)
    stats = [RecordStats("big", 16_000_000, *(int(c) for c in counts))]  # the cache keeps the record stats
    g = Genome(packed=packed, offsets=np.array([0, 16_000_000]), names=["big"], stats=stats)
    mapped = cached(g, tmp_path)
    cfg = StreamConfig(window=100, batch_size=64)
    WindowSampler(g, whole(g), cfg, seed=0).batch(0)  # code paths loaded before measuring
    grown = {}
    for budget in (1 << 40, 1 << 20):
        monkeypatch.setattr(genorm.batches.windows, "_MAP_BUDGET", budget)
        sampler = WindowSampler(mapped, whole(g), cfg, seed=budget % 7)
        before = rss_file()
        for k in range(20):
            sampler.batch(k)
        grown[budget] = rss_file() - before
        del sampler
    assert grown[1 << 20] < 2 << 20 < grown[1 << 40], grown


