"""genorm.counts: tables against a plain-Python count, leave-one-out, predict-then-update, files, bounds."""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import pytest

import genorm.counts as counts_module
from genorm.counts import CountConfig, CountTables, cell_of, features_from_counts, plan_sizes
from genorm.errors import ConfigError, RunDirError

ORDERS = (1, 2, 3, 5, 8)


def random_pieces(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 4, 120).astype(np.uint8)
    a[[30, 31, 77]] = 4  # N breaks contexts
    a[5:15] |= 8  # soft-masked bases count as their base
    return [a, rng.integers(0, 4, 70).astype(np.uint8)]


def repeat_pieces(seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    unit = rng.integers(0, 4, 40).astype(np.uint8)
    copies = []
    for _ in range(3):
        c = unit.copy()
        c[rng.integers(0, 40, 2)] = rng.integers(0, 4, 2)
        copies.append(c)
    rc = (3 - unit[::-1]).astype(np.uint8)
    return [np.concatenate(copies + [np.array([4], np.uint8), rc]), unit[:25].copy()]


SEQUENCES = {"random": random_pieces, "repeats": repeat_pieces}
# "direct": every table direct; "hashed": orders 5 and 8 hashed into 64 cells (many collisions)
LAYOUTS = {"direct": 8 * 1024**2, "hashed": 8 * (4 + 16 + 64 + 64 + 64)}


def config(layout: str, both: bool, orders=ORDERS) -> CountConfig:
    return CountConfig(orders=orders, both_strands=both, max_bytes=LAYOUTS[layout])


# ------------------------------------------------------------------------------------------
# plain-Python references


def ref_tables(pieces, cfg: CountConfig, skip=None) -> list[dict]:
    """Per order, {cell: [n_A, n_C, n_G, n_T]}, counted one occurrence at a time (``skip`` = (piece, t) left out)."""
    sizes, direct = plan_sizes(cfg.orders, cfg.max_bytes)
    out = []
    for k, size, d in zip(cfg.orders, sizes, direct):
        table = defaultdict(lambda: [0, 0, 0, 0])
        for pi, p in enumerate(pieces):
            x = [int(v) & 7 for v in p]
            for t in range(k - 1, len(x) - 1):
                word = x[t - k + 1:t + 2]
                if (pi, t) == skip or max(word) >= 4:
                    continue
                table[cell_of(k, word[:k], size, d)][word[k]] += 1
                if cfg.both_strands:
                    rc = [3 - v for v in reversed(word)]
                    table[cell_of(k, rc[:k], size, d)][rc[k]] += 1
        out.append(table)
    return out


def ref_query(tables: list[dict], x, t: int, cfg: CountConfig) -> np.ndarray:
    """Counts ``(n_orders, 4)`` at position t of ``x`` (the context codes[t-k+1..t])."""
    sizes, direct = plan_sizes(cfg.orders, cfg.max_bytes)
    out = np.zeros((len(cfg.orders), 4))
    for i, (k, size, d) in enumerate(zip(cfg.orders, sizes, direct)):
        ctx = [int(v) & 7 for v in x[max(t - k + 1, 0):t + 1]]
        if len(ctx) == k and max(ctx) < 4:
            out[i] = tables[i].get(cell_of(k, ctx, size, d), [0, 0, 0, 0])
    return out


def ref_stream_counts(tables, cfg, stream_codes) -> np.ndarray:
    """Counts ``(L, n_orders, 4)`` of a stream: tables plus the stream's occurrences at j < t."""
    x = [int(v) & 7 for v in stream_codes]
    out = np.zeros((len(x), len(cfg.orders), 4))
    for t in range(len(x)):
        own = ref_tables([np.array(x[:t + 1], np.uint8)], cfg)  # occurrences at j < t: next base <= t
        merged = [{c: [a + b for a, b in zip(tab.get(c, [0] * 4), own_i.get(c, [0] * 4))]
                   for c in set(tab) | set(own_i)} for tab, own_i in zip(tables, own)]
        out[t] = ref_query(merged, x, t, cfg)
    return out


# ------------------------------------------------------------------------------------------
# tables


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("both", [False, True])
@pytest.mark.parametrize("seq", SEQUENCES)
def test_table_counts_equal_a_python_count(seq, both, layout):
    pieces = SEQUENCES[seq]()
    cfg = config(layout, both)
    tables = CountTables.build(pieces, cfg)
    assert tables.direct == ((True,) * 5 if layout == "direct" else (True, True, True, False, False))
    ref = ref_tables(pieces, cfg)
    for i, table in enumerate(tables.tables):
        expected = np.zeros(table.shape, np.int64)
        for cell, n in ref[i].items():
            expected[cell] = n
        np.testing.assert_array_equal(table, expected)
    for p in pieces:
        static = tables.counts_static(p)
        assert static.shape == (p.size, len(ORDERS), 4) and static.dtype == np.float32
        np.testing.assert_array_equal(static, [ref_query(ref, p, t, cfg) for t in range(p.size)])


def test_long_orders_are_hashed_and_counted():
    pieces = random_pieces(3)
    cfg = CountConfig(orders=(2, 20, 32), max_bytes=8 * (16 + 4096 + 4096))
    tables = CountTables.build(pieces, cfg)
    assert tables.direct == (True, False, False) and tables.sizes == (16, 4096, 4096)
    ref = ref_tables(pieces, cfg)
    for p in pieces:
        np.testing.assert_array_equal(tables.counts_static(p), [ref_query(ref, p, t, cfg) for t in range(p.size)])


def test_saturated_cells_are_halved():
    x = np.zeros(70_000, np.uint8)  # A after A, 69 999 times: over 65 535
    tables = CountTables.build([x], CountConfig(orders=(1,), both_strands=False, max_bytes=1024))
    assert tables.tables[0][0].tolist() == [69_999 // 2, 0, 0, 0]


# ------------------------------------------------------------------------------------------
# leave-one-out


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("both", [False, True])
@pytest.mark.parametrize("seq", SEQUENCES)
def test_train_features_leave_their_own_occurrence_out(seq, both, layout):
    pieces = SEQUENCES[seq]()
    cfg = config(layout, both)
    tables = CountTables.build(pieces, cfg)
    for pi, p in enumerate(pieces):
        got = tables.train_features(p)
        assert got.shape == (p.size, tables.n_features) and got.dtype == np.float32
        expected = np.stack([ref_query(ref_tables(pieces, cfg, skip=(pi, t)), p, t, cfg) for t in range(p.size)])
        np.testing.assert_array_equal(got, cfg.features(expected))
    out = np.zeros((pieces[0].size, tables.n_features), np.float32)
    assert tables.train_features(pieces[0], out=out) is out


# ------------------------------------------------------------------------------------------
# streams


def stream_in_chunks(tables: CountTables, x: np.ndarray, sizes) -> np.ndarray:
    stream, rows, a = tables.stream(), [], 0
    for s in sizes:
        rows.append(stream.features(x[a:a + s]))
        a += s
    return np.concatenate(rows)


@pytest.mark.parametrize("bucket_bits", [18, 2])  # 2: most lone cells share a bucket, the slow path
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("seq", SEQUENCES)
def test_stream_counts_are_table_plus_earlier_occurrences(seq, layout, bucket_bits, monkeypatch):
    monkeypatch.setattr(counts_module, "_BUCKET_BITS", bucket_bits)
    pieces = SEQUENCES[seq]()
    cfg = config(layout, True)
    tables = CountTables.build(pieces[1:], cfg)
    x = pieces[0]
    stream = tables.stream()
    got = np.concatenate([stream.counts(x[:50]), stream.counts(x[50:51]), stream.counts(x[51:])])
    np.testing.assert_array_equal(got, ref_stream_counts(ref_tables(pieces[1:], cfg), cfg, x))


@pytest.mark.parametrize("seq", SEQUENCES)
def test_stream_features_do_not_see_the_base_they_predict(seq):
    pieces = SEQUENCES[seq]()
    tables = CountTables.build(pieces[1:], config("hashed", True))
    x = pieces[0]
    base = stream_in_chunks(tables, x, [37, 1, 200])
    for t in [0, 10, 39, 40, 77, x.size - 2]:
        y = x.copy()
        y[t + 1:] = (np.bitwise_and(x[t + 1:], 7) + 1) % 5  # every later base changed (N included)
        changed = stream_in_chunks(tables, y, [13, 50, 200])
        np.testing.assert_array_equal(changed[:t + 1], base[:t + 1])
        assert not np.array_equal(changed[t + 1:], base[t + 1:])


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("seq", SEQUENCES)
def test_chunked_streaming_equals_one_base_at_a_time(seq, layout):
    pieces = SEQUENCES[seq]()
    tables = CountTables.build(pieces[1:], config(layout, True))
    x = np.concatenate([pieces[0], pieces[0][:60]])  # repeats the stream's own bases
    one = stream_in_chunks(tables, x, [1] * x.size)
    rng = np.random.default_rng(2)
    for _ in range(3):
        sizes = rng.integers(0, 40, 40)
        np.testing.assert_array_equal(stream_in_chunks(tables, x, list(sizes) + [x.size]), one)


@pytest.mark.parametrize("seq", SEQUENCES)
def test_copy_and_reset(seq):
    pieces = SEQUENCES[seq]()
    tables = CountTables.build(pieces[1:], config("hashed", True))
    x = pieces[0]
    a = tables.stream()
    a.features(x[:90])
    b = a.copy()
    rest_b = b.features(x[90:])
    b.features(x)  # b moves on; a must not see it
    np.testing.assert_array_equal(a.features(x[90:]), rest_b)
    a.reset()
    np.testing.assert_array_equal(a.features(x), tables.stream().features(x))
    assert a.features(x[:0]).shape == (0, tables.n_features)
    sized = tables.stream(expected_bases=x.size)  # sized at the start: the same numbers
    np.testing.assert_array_equal(np.concatenate([sized.features(x[:50]), sized.features(x[50:])]),
                                  stream_in_chunks(tables, x, [50, 200]))
    with pytest.raises(ConfigError, match=r"`expected_bases`, expected a positive integer, got 0"):
        tables.stream(expected_bases=0)


# ------------------------------------------------------------------------------------------
# files


def test_save_load_round_trip(tmp_path):
    pieces = repeat_pieces()
    tables = CountTables.build(pieces, config("hashed", True))
    tables.save(tmp_path / "counts")
    loaded = CountTables.load(tmp_path / "counts")
    assert isinstance(loaded.tables[0], np.memmap) and loaded.config == tables.config
    assert loaded.bases == tables.bases and loaded.nbytes == tables.nbytes
    for p in pieces:
        np.testing.assert_array_equal(loaded.train_features(p), tables.train_features(p))
        np.testing.assert_array_equal(loaded.stream().features(p), tables.stream().features(p))
    assert CountTables.load(tmp_path / "counts", mmap=False).tables[0].flags.writeable


def test_truncated_table_file_is_named(tmp_path):
    CountTables.build(random_pieces(), config("hashed", True)).save(tmp_path)
    f = tmp_path / "order_08.npy"
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(RunDirError, match=r"order_08\.npy.*Rebuild the tables"):
        CountTables.load(tmp_path)


@pytest.mark.parametrize("edit", [
    lambda d: d.update(budget=d["budget"] // 4),  # sizes no longer match
    lambda d: d.update(format_version=99),
    lambda d: d["config"].update(orders=[2, 1]),
    lambda d: d.pop("sizes"),
])
def test_edited_index_is_named(tmp_path, edit):
    CountTables.build(random_pieces(), config("hashed", True)).save(tmp_path)
    index = json.loads((tmp_path / "counts.json").read_text())
    edit(index)
    (tmp_path / "counts.json").write_text(json.dumps(index))
    with pytest.raises(RunDirError, match=r"counts\.json.*Rebuild the tables"):
        CountTables.load(tmp_path)


def test_missing_directory_is_named(tmp_path):
    with pytest.raises(RunDirError, match=r"counts\.json"):
        CountTables.load(tmp_path / "nothing")


# ------------------------------------------------------------------------------------------
# memory bound and arguments


@pytest.mark.parametrize("max_bytes", [2080, 5000, 10**5, 3 * 10**6])
def test_tables_stay_within_max_bytes(max_bytes):
    cfg = CountConfig(orders=(1, 4, 12, 20, 24), max_bytes=max_bytes)
    tables = CountTables.build(random_pieces(), cfg)
    assert tables.nbytes <= max_bytes
    assert [t.shape[0] for t in tables.tables] == list(tables.sizes)


def test_default_layout_fits_the_default_bound():
    sizes, direct = plan_sizes(CountConfig().orders, CountConfig().max_bytes)
    assert direct == (True,) * 8 + (False,) * 5 and sum(sizes) * 8 <= 2 * 1024**3


def test_a_bound_too_small_is_refused():
    with pytest.raises(ConfigError, match=r"`max_bytes`, expected at least 2080 bytes .* got 1000"):
        CountConfig(orders=(1, 4, 12, 20, 24), max_bytes=1000)


def test_config_round_trip():
    cfg = CountConfig(orders=[2, 5], both_strands=False, max_bytes=10**6, alpha=0.5)
    assert cfg.orders == (2, 5) and CountConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("kwargs, message", [
    ({"orders": (3, 2)},
     r"`orders`, expected a non-empty, strictly increasing list of integers in 1\.\.32, got \(3, 2\)"),
    ({"orders": (0,)}, r"`orders`, expected .* got \(0,\)"),
    ({"orders": (33,)}, r"`orders`, expected .* got \(33,\)"),
    ({"orders": ()}, r"`orders`, expected .* got \(\)"),
    ({"orders": "12"}, r"`orders`, expected .* got '12'"),
    ({"both_strands": 1}, r"`both_strands`, expected true or false, got 1"),
    ({"max_bytes": -1}, r"`max_bytes`, expected a positive integer, got -1"),
    ({"alpha": 0}, r"`alpha`, expected a finite number > 0, got 0"),
])
def test_invalid_config(kwargs, message):
    with pytest.raises(ConfigError, match=r"Received an invalid value for " + message):
        CountConfig(**kwargs)


def test_invalid_arrays():
    tables = CountTables.build(random_pieces(), config("direct", True))
    with pytest.raises(ConfigError, match=r"Received an invalid value for `piece_codes`, expected a 1-D array"):
        tables.train_features(np.zeros((3, 2), np.uint8))
    with pytest.raises(ConfigError, match=r"`out`, expected a float32 array of shape \(4, 25\)"):
        tables.train_features(np.zeros(4, np.uint8), out=np.zeros((4, 25)))
    with pytest.raises(ConfigError, match=r"`pieces`, expected a list of 1-D code arrays"):
        CountTables.build(np.zeros(4, np.uint8), config("direct", True))
    with pytest.raises(ConfigError, match=r"`chunk_codes`, expected a 1-D array"):
        tables.stream().features(np.array(["A"]))
    with pytest.raises(ConfigError, match=r"`config`, expected a CountConfig"):
        CountTables.build([], {"orders": (1,)})
