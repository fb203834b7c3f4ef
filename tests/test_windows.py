"""Tests of genorm.windows: alignment, boundaries, N, padding, reverse complement, determinism."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genorm.encoding import reverse_complement
from genorm.errors import ConfigError, SplitError
from genorm.genome import Genome, read_genome
from genorm.splits import Interval, make_splits
from genorm.windows import (
    StreamConfig,
    WindowSampler,
    make_dataset,
    reverse_complement_windows,
    steps_per_epoch,
    windows_to_arrays,
)

tf = pytest.importorskip("tensorflow")


def random_genome(lengths, seed=0, alphabets=None) -> Genome:
    rng = np.random.default_rng(seed)
    seqs = {}
    for i, n in enumerate(lengths):
        letters = list(alphabets[i % len(alphabets)]) if alphabets else list("ACGTacgtN")
        seqs[f"r{i}"] = "".join(rng.choice(letters, n))
    return Genome.from_strings(seqs)


def whole(genome) -> list[Interval]:
    return [Interval(i, 0, int(n)) for i, n in enumerate(genome.lengths)]


def take(ds, n):
    return [tuple(t.numpy() for t in b) for b in ds.take(n)]


# -- config -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    (dict(window=0), r"Received an invalid value for `window`, expected an integer >= 2, got 0\."),
    (dict(window=1.5), r"`window`, expected an integer >= 2, got 1.5"),
    (dict(batch_size=0), r"`batch_size`, expected an integer >= 1, got 0"),
    (dict(bases_per_epoch=-1), r"`bases_per_epoch`, expected an integer >= 1, got -1"),
    (dict(stride=0), r"`stride`, expected an integer >= 1, got 0"),
    (dict(shuffle="yes"), r"`shuffle`, expected True or False, got 'yes'"),
    (dict(rc_augment=1), r"`rc_augment`, expected True or False, got 1"),
    (dict(max_n_fraction=1.5), r"`max_n_fraction`, expected a number in \[0, 1\], got 1.5"),
    (dict(soft_mask_weight=-1.0), r"`soft_mask_weight`, expected a number in \[0, 1000\], got -1.0"),
])
def test_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        StreamConfig(**kwargs)


def test_interval_errors():
    g = random_genome([100])
    cfg = StreamConfig(window=10)
    with pytest.raises(SplitError, match=r"empty list of intervals"):
        make_dataset(g, [], cfg)
    with pytest.raises(SplitError, match=r"Interval\(record=0, start=50, end=150\) is not inside record 0 of length 100"):
        make_dataset(g, [Interval(0, 50, 150)], cfg)
    with pytest.raises(SplitError, match=r"record=3.*\(no such record\)"):
        make_dataset(g, [Interval(3, 0, 10)], cfg)
    with pytest.raises(SplitError, match=r"No interval has 2 or more bases"):
        make_dataset(g, [Interval(0, 5, 6)], cfg)
    with pytest.raises(ConfigError, match=r"`seed`, expected an integer >= 0, got -1"):
        make_dataset(g, whole(g), cfg, seed=-1)


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


# -- the TF dataset -----------------------------------------------------------------------------------

def test_dataset_equals_numpy_reference_and_is_deterministic():
    g = random_genome([500, 300, 50], seed=3)
    cfg = StreamConfig(window=20, batch_size=8, rc_augment=True, soft_mask_weight=0.5, max_n_fraction=0.3)
    ds = make_dataset(g, whole(g), cfg, seed=7)
    got = take(ds, 4)
    sampler = WindowSampler(g, whole(g), cfg, seed=7)
    for k, (x, y, w) in enumerate(got):
        ref = windows_to_arrays(sampler.batch(k), soft_mask_weight=0.5)
        assert x.shape == (8, 20) and x.dtype == np.int32 and w.dtype == np.float32
        for a, b in zip((x, y, w), ref):
            np.testing.assert_array_equal(a, b)
        assert x.max() <= 4 and y.max() <= 3
    again = take(make_dataset(g, whole(g), cfg, seed=7), 4)
    other = take(make_dataset(g, whole(g), cfg, seed=8), 4)
    assert all((a == b).all() for ga, gb in zip(got, again) for a, b in zip(ga, gb))
    assert any((a != b).any() for ga, gb in zip(got, other) for a, b in zip(ga, gb))


def test_epochs_draw_fresh_windows():
    g = random_genome([2000])
    cfg = StreamConfig(window=10, batch_size=4, bases_per_epoch=80)
    assert steps_per_epoch(g, whole(g), cfg) == 2
    b = take(make_dataset(g, whole(g), cfg), 4)
    assert not (b[0][0] == b[2][0]).all()


def test_strided_pass_covers_every_target_once():
    g = random_genome([103, 57, 20, 5, 9], seed=1)
    g.packed[:] &= 3  # no N, no soft mask
    cfg = StreamConfig(window=10, batch_size=4, shuffle=False)
    ivs = whole(g)
    steps = steps_per_epoch(g, ivs, cfg)
    batches = take(make_dataset(g, ivs, cfg, repeat=False), 100)
    assert len(batches) == steps == math.ceil(sum(math.ceil((n - 1) / 10) for n in (103, 57, 20, 5, 9)) / 4)
    assert sum(float(w.sum()) for _, _, w in batches) == sum(n - 1 for n in (103, 57, 20, 5, 9))
    assert batches[-1][0].shape[0] < 4  # the last batch is short, nothing is repeated


def test_short_record_is_padded_with_zero_weight():
    g = Genome.from_strings({"tiny": "ACGTA"})
    cfg = StreamConfig(window=8, batch_size=2)
    sampler = WindowSampler(g, whole(g), cfg)
    assert sampler.padded_intervals == 1
    x, y, w = take(make_dataset(g, whole(g), cfg), 1)[0]
    assert x[0].tolist() == [0, 1, 2, 3, 0, 4, 4, 4]
    assert y[0].tolist() == [1, 2, 3, 0, 0, 0, 0, 0]
    assert w[0].tolist() == [1, 1, 1, 1, 0, 0, 0, 0]


def test_all_n_gives_zero_weight_and_finite_loss():
    g = Genome.from_strings({"gap": "N" * 300, "ok": "ACGT" * 10 + "N" * 260})
    cfg = StreamConfig(window=16, batch_size=32)
    x, y, w = take(make_dataset(g, [Interval(0, 0, 300)], cfg), 1)[0]
    assert (w == 0).all() and (x == 4).all()
    logits = tf.zeros((32, 16, 4))
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits, sample_weight=w)
    assert np.isfinite(loss.numpy())
    # mostly-N windows are redrawn (in record "ok" only starts in the first 33 bases qualify);
    # one still mostly N after the redraws becomes all N, weight 0
    x, y, w = take(make_dataset(g, [Interval(1, 0, 300)], cfg), 1)[0]
    kept = (x == 4).mean(axis=1) <= 0.5
    assert kept.sum() >= 24 and (w[~kept] == 0).all() and (x[~kept] == 4).all()


def test_strided_mostly_n_windows_are_counted():
    g = Genome.from_strings({"a": "ACGT" * 25 + "N" * 100})
    sampler = WindowSampler(g, whole(g), StreamConfig(window=10, shuffle=False))
    assert sampler.skipped_windows == 10 and sampler.window_starts.size == 10
    with pytest.raises(SplitError, match=r"Every strided window is more than 0.5 N"):
        WindowSampler(Genome.from_strings({"a": "N" * 50}), [Interval(0, 0, 50)], StreamConfig(window=10, shuffle=False))


def test_keras_fit_consumes_the_stream():
    keras = pytest.importorskip("keras")
    g = random_genome([3000])
    cfg = StreamConfig(window=12, batch_size=8, bases_per_epoch=8 * 12 * 3)
    model = keras.Sequential([keras.Input((12,), dtype="int32"), keras.layers.Embedding(5, 4),
                              keras.layers.GRU(8, return_sequences=True), keras.layers.Dense(4)])
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="adam")
    hist = model.fit(make_dataset(g, whole(g), cfg), steps_per_epoch=steps_per_epoch(g, whole(g), cfg),
                     epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])


def test_rc_augment_flips_about_half_the_windows():
    g = random_genome([5000], alphabets=["AC"])
    sampler = WindowSampler(g, whole(g), StreamConfig(window=20, batch_size=400, rc_augment=True))
    windows = sampler.batch(0)
    reversed_strand = ((windows & 7) >= 2).all(axis=1)  # the reverse complement of A/C is G/T
    assert 150 < reversed_strand.sum() < 250 and (((windows & 7) <= 1).all(axis=1) | reversed_strand).all()


@pytest.mark.slow
def test_process_exits_with_live_iterators(tmp_path):
    """Exiting while tf.data threads are in tf.numpy_function must not hang (atexit waits for idle)."""
    import subprocess
    import sys

    script = tmp_path / "exit.py"
    script.write_text(
        "import numpy as np\n"
        "from genorm.genome import Genome\n"
        "from genorm.splits import Interval\n"
        "from genorm.windows import StreamConfig, make_dataset\n"
        "g = Genome.from_strings({'a': 'ACGT' * 50000})\n"
        "its = [iter(make_dataset(g, [Interval(0, 0, 200000)], StreamConfig(window=50, batch_size=64), seed=i))"
        " for i in range(6)]\n"
        "[next(it) for it in its]\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(script)], timeout=120, env=env, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]


def test_docstring_example():
    import doctest

    import genorm.windows

    assert doctest.testmod(genorm.windows).failed == 0


def test_strided_with_bases_per_epoch_cycles_in_full_batches():
    g = random_genome([101], seed=2)  # 10 strided windows of 10
    cfg = StreamConfig(window=10, batch_size=4, shuffle=False, bases_per_epoch=120, max_n_fraction=1.0)
    sampler = WindowSampler(g, whole(g), cfg)
    assert sampler.steps == 3 and sampler.window_starts.tolist() == list(range(0, 100, 10))
    ds = make_dataset(g, whole(g), cfg, repeat=False)
    batches = take(ds, 10)
    assert len(batches) == 3 and all(x.shape == (4, 10) for x, _, _ in batches)
    codes = g.packed & 7
    starts = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 0, 10]  # window 11 wraps to the first
    got = np.concatenate([x for x, _, _ in batches])
    np.testing.assert_array_equal(got, np.stack([codes[s:s + 10] for s in starts]))


def _cached(genome, tmp_path):
    from genorm.cache import load_genome, save_genome

    return load_genome(save_genome(genome, tmp_path / "cache"), mmap=True)


@pytest.mark.parametrize("budget", [None, 0])
def test_memory_mapped_genome_gives_the_same_batches(tmp_path, monkeypatch, budget):
    """From the cache (the stream's own mapping, pages released or not): the same windows as from memory."""
    import genorm.windows

    if budget is not None:
        monkeypatch.setattr(genorm.windows, "_MAP_BUDGET", budget)  # release after every read
    rng = np.random.default_rng(4)
    g = Genome.from_strings({"a": "".join(rng.choice(list("ACGTacgt"), 50_000)), "b": "ACGTN" * 1000 + "N" * 3000,
                             "c": "ACGTA", "d": "".join(rng.choice(list("ACGTN"), 3000))})
    mapped = _cached(g, tmp_path)
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
    cfg = StreamConfig(window=50, batch_size=16, rc_augment=True, soft_mask_weight=0.5)
    for a, b in zip(take(make_dataset(g, ivs, cfg, seed=3), 5), take(make_dataset(mapped, ivs, cfg, seed=3), 5)):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_mapping_of_a_memmap_slice_starts_at_the_slice(tmp_path):
    from genorm.windows import _MappedGenome

    mapped = _cached(Genome.from_strings({"a": "ACGTNacgtn" * 100}), tmp_path)
    view = mapped.packed[13:507]
    m = _MappedGenome.of(view, random=True)
    np.testing.assert_array_equal(m.packed, view)
    assert _MappedGenome.of(np.asarray(view).copy(), random=True) is None
    assert _MappedGenome.of(mapped.packed[::2], random=True) is None


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads RssFile from /proc (Linux)")
def test_cache_pages_are_released_as_training_moves_on(tmp_path, monkeypatch):
    """Pages mapped by reading windows are unmapped past the budget: the resident set does not keep them."""
    import genorm.windows

    def rss_file():
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("RssFile:"))

    rng = np.random.default_rng(0)
    g = read_genome([("big", np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, 16_000_000)].tobytes().decode())])
    mapped = _cached(g, tmp_path)
    cfg = StreamConfig(window=100, batch_size=64)
    WindowSampler(g, whole(g), cfg, seed=0).batch(0)  # code paths loaded before measuring
    grown = {}
    for budget in (1 << 40, 1 << 20):
        monkeypatch.setattr(genorm.windows, "_MAP_BUDGET", budget)
        sampler = WindowSampler(mapped, whole(g), cfg, seed=budget % 7)
        before = rss_file()
        for k in range(20):
            sampler.batch(k)
        grown[budget] = rss_file() - before
        del sampler
    assert grown[1 << 20] < 2 << 20 < grown[1 << 40], grown


def test_threads_bounds_the_pipeline_not_the_batches():
    g = random_genome([3000], seed=5)
    cfg = StreamConfig(window=20, batch_size=8, rc_augment=True)
    one, auto = take(make_dataset(g, whole(g), cfg, seed=2, threads=1), 4), take(make_dataset(g, whole(g), cfg, seed=2), 4)
    assert all((a == b).all() for ga, gb in zip(one, auto) for a, b in zip(ga, gb))
    for bad in (0, 1.5, True):
        with pytest.raises(ConfigError, match=r"Received an invalid value for `threads`, expected an integer >= 1"):
            make_dataset(g, whole(g), cfg, threads=bad)
