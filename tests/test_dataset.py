"""Tests of genorm.batches.dataset (the tf.data batches): equal to the NumPy reference, deterministic, epochs,
strided passes, padding and all-N weights, Keras fit, threads, clean exit."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from genorm.genome.array import Genome
from genorm.genome.splits import Interval
from genorm.batches.windows import WindowSampler, windows_to_arrays
from genomes import cached, random_genome, take, whole

tf = pytest.importorskip("tensorflow")

from genorm.batches.dataset import StreamConfig, make_dataset, steps_per_epoch  # noqa: E402
from genorm.errors import ConfigError  # noqa: E402


def test_stream_config_is_the_windows_one():
    import genorm
    import genorm.batches.windows

    assert StreamConfig is genorm.batches.windows.StreamConfig is genorm.StreamConfig
    assert make_dataset is genorm.make_dataset


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

@pytest.mark.slow
def test_process_exits_with_live_iterators(tmp_path):
    """Exiting while tf.data threads are in tf.numpy_function must not hang (atexit waits for idle)."""
    import subprocess
    import sys

    script = tmp_path / "exit.py"
    script.write_text(
        "import numpy as np\n"
        "from genorm.genome.array import Genome\n"
        "from genorm.genome.splits import Interval\n"
        "from genorm.batches.dataset import StreamConfig, make_dataset\n"
        "g = Genome.from_strings({'a': 'ACGT' * 50000})\n"
        "its = [iter(make_dataset(g, [Interval(0, 0, 200000)], StreamConfig(window=50, batch_size=64), seed=i))"
        " for i in range(6)]\n"
        "[next(it) for it in its]\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(script)], timeout=120, env=env, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]

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

def test_threads_bounds_the_pipeline_not_the_batches():
    g = random_genome([3000], seed=5)
    cfg = StreamConfig(window=20, batch_size=8, rc_augment=True)
    one, auto = take(make_dataset(g, whole(g), cfg, seed=2, threads=1), 4), take(make_dataset(g, whole(g), cfg, seed=2), 4)
    assert all((a == b).all() for ga, gb in zip(one, auto) for a, b in zip(ga, gb))
    for bad in (0, 1.5, True):
        with pytest.raises(ConfigError, match=r"Received an invalid value for `threads`, expected an integer >= 1"):
            make_dataset(g, whole(g), cfg, threads=bad)


def test_memory_mapped_genome_gives_the_same_dataset(tmp_path):
    rng = np.random.default_rng(4)
    g = Genome.from_strings({"a": "".join(rng.choice(list("ACGTacgt"), 5_000)), "b": "ACGTN" * 200})
    mapped = cached(g, tmp_path)
    ivs = [Interval(0, 0, 5_000), Interval(1, 0, 1000)]
    cfg = StreamConfig(window=50, batch_size=16, rc_augment=True, soft_mask_weight=0.5)
    for a, b in zip(take(make_dataset(g, ivs, cfg, seed=3), 5), take(make_dataset(mapped, ivs, cfg, seed=3), 5)):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_docstring_example():
    import doctest

    import genorm.batches.dataset

    assert doctest.testmod(genorm.batches.dataset).failed == 0
