"""genorm.batches.walks: stateful lanes of consecutive windows (the stream of ``--tbptt``)."""

from __future__ import annotations

import numpy as np
import pytest

from genorm.encoding import CODE_BITS, N, n_runs, reverse_complement
from genorm.errors import ConfigError, SplitError
from genorm.genome.array import Genome
from genorm.genome.splits import Interval, make_splits
from genorm.batches.walks import WalkSampler, pieces
from genorm.batches.windows import StreamConfig


def _random_genome(lengths, seed=0, n_runs_at=()):
    rng = np.random.default_rng(seed)
    seqs = {}
    for i, n in enumerate(lengths):
        s = rng.choice(list("ACGTacgt"), n)
        for rec, a, b in n_runs_at:
            if rec == i:
                s[a:b] = "N"
        seqs[f"r{i}"] = "".join(s)
    return Genome.from_strings(seqs)


def _walk(sampler, batches):
    return [sampler.walks(k) for k in range(batches)], [sampler.batch(k) for k in range(batches)]


@pytest.mark.parametrize("rc", [False, True])
def test_each_lane_continues_where_it_stopped(rc):
    g = _random_genome([3000, 700])
    cfg = StreamConfig(window=20, batch_size=8, walk=6, rc_augment=rc)
    s = WalkSampler(g, [Interval(0, 0, 3000), Interval(1, 0, 700)], cfg, seed=5)
    walks, batches = _walk(s, 40)
    continued = 0
    for k in range(1, 40):
        piece, off, flip, fresh = walks[k]
        windows, keep = batches[k]
        np.testing.assert_array_equal(keep, (~fresh).astype(np.float32))
        if k % 6 == 0:
            assert fresh.all()  # every lane is re-seated at the first batch of a block
        prev_piece, prev_off, prev_flip, _ = walks[k - 1]
        for b in np.flatnonzero(~fresh):
            continued += 1
            assert (piece[b], flip[b], off[b]) == (prev_piece[b], prev_flip[b], prev_off[b] + 20)
            assert windows[b, 0] == batches[k - 1][0][b, -1]  # the last target is the next first input
    assert continued > 150
    assert any(w[2].any() for w in walks) == rc


def test_windows_read_the_genome_on_the_walked_strand():
    g = _random_genome([500])
    s = WalkSampler(g, [Interval(0, 100, 400)], StreamConfig(window=10, batch_size=16, walk=4, rc_augment=True), 1)
    record = g.packed_record(0)
    for k in range(8):
        piece, off, flip, _ = s.walks(k)
        windows, _ = s.batch(k)
        for b in range(16):
            a, e = 100 + off[b], min(100 + off[b] + 11, 400)
            if flip[b]:
                hi = 400 - off[b]
                want = reverse_complement(record[max(100, hi - 11):hi])
            else:
                want = record[a:e]
            np.testing.assert_array_equal(windows[b, :want.size], want)
            assert (windows[b, want.size:] & CODE_BITS == N).all()  # padded past the piece's end


def test_walks_never_leave_the_training_intervals_nor_enter_long_n_runs():
    g = _random_genome([5000, 2000], n_runs_at=[(0, 1000, 1400), (1, 300, 320)])
    splits = make_splits(g, 50, val_fraction=0.1, test_fraction=0.1)
    s = WalkSampler(g, splits.train, StreamConfig(window=50, batch_size=32, walk=5, max_n_fraction=0.5))
    assert s.piece_start.size == 3  # record 0 cut at its 400-N run; record 1's 20-N run (<= 25 N) is not
    allowed = np.zeros(g.packed.size, dtype=bool)
    for iv in splits.train:
        allowed[g.offsets[iv.record] + iv.start:g.offsets[iv.record] + iv.end] = True
    allowed[g.offsets[0] + 1000:g.offsets[0] + 1400] = False
    for k in range(60):
        piece, off, _, _ = s.walks(k)
        a, n = s.piece_start[piece], s.piece_end[piece] - s.piece_start[piece]
        assert (off <= n - 2).all()  # at least one target in the piece
        for b in range(32):
            pos = a[b] + off[b] + np.arange(min(51, n[b] - off[b]))
            assert allowed[pos].all()


def test_batches_depend_only_on_seed_and_index():
    g = _random_genome([4000])
    cfg = StreamConfig(window=16, batch_size=4, walk=7, rc_augment=True)
    a, b = WalkSampler(g, [Interval(0, 0, 4000)], cfg, 9), WalkSampler(g, [Interval(0, 0, 4000)], cfg, 9)
    for k in (13, 2, 40, 13):
        for x, y in zip(a.batch(k), b.batch(k)):
            np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.batch(3)[0], WalkSampler(g, [Interval(0, 0, 4000)], cfg, 10).batch(3)[0])


def test_every_base_is_covered_about_equally():
    g = _random_genome([300, 9000])  # a short piece and a long one: covered alike
    s = WalkSampler(g, [Interval(0, 0, 300), Interval(1, 0, 9000)], StreamConfig(window=30, batch_size=64, walk=10))
    cover = np.zeros(g.packed.size)
    for k in range(400):
        piece, off, _, _ = s.walks(k)
        for p, o in zip(s.piece_start[piece] + off, s.piece_end[piece] - s.piece_start[piece] - off):
            cover[p:p + min(31, o)] += 1
    short, long_ = cover[50:250].mean(), cover[300 + 1000:300 + 8000].mean()
    assert 0.7 < short / long_ < 1.3


def test_n_runs_across_blocks():
    packed = np.array([0, 4, 4, 4, 4, 4, 1, 4, 4, 2, 4], np.uint8)
    assert n_runs(packed, 0, 11, 0, block=4) == [(1, 6), (7, 9), (10, 11)]
    assert n_runs(packed, 0, 11, 2, block=4) == [(1, 6)]
    assert n_runs(packed, 2, 8, 0, block=4) == [(2, 6), (7, 8)]
    assert n_runs(packed, block=4) == n_runs(packed) == [(1, 6), (7, 9), (10, 11)]
    for block in (1, 2, 3, 5, 11):  # a run closed exactly at a block edge is filtered like any other
        assert n_runs(packed, 0, 11, 1, block=block) == [(1, 6), (7, 9)]


def test_all_n_is_an_error():
    g = Genome.from_strings({"x": "N" * 500})
    with pytest.raises(SplitError, match="Every training interval is N"):
        pieces(g, [Interval(0, 0, 500)], 10)


def test_walk_needs_random_mode():
    with pytest.raises(ConfigError, match="shuffle=False with walk set"):
        StreamConfig(walk=5, shuffle=False)
    with pytest.raises(ConfigError, match="walk"):
        StreamConfig(walk=0)
