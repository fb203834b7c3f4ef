"""Distributed training: strategy choice, TF_CONFIG, per-worker seeds, two CPU workers, the JAX backend."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from genorm.config import TrainConfig
from genorm.training.distribute import (SINGLE, choose_strategy, make_distribution, parse_tf_config, split_batch,
                               worker_scratch, worker_seed)
from genorm.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def _tf_config(workers: int, index: int, chief: bool = False, task_type: str = "worker") -> dict:
    cluster = {"worker": [f"127.0.0.1:{20000 + i}" for i in range(workers)]}
    if chief:
        cluster["chief"] = ["127.0.0.1:19999"]
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})}


# ------------------------------------------------------------------------------------------
# choice and TF_CONFIG


@pytest.mark.parametrize("name, backend, workers, gpus, expected", [
    ("auto", "tensorflow", None, 0, "one"),
    ("auto", "tensorflow", None, 1, "one"),
    ("auto", "tensorflow", None, 2, "mirrored"),
    ("auto", "tensorflow", 1, 2, "mirrored"),
    ("auto", "tensorflow", 2, 0, "multiworker"),
    ("auto", "tensorflow", 3, 8, "multiworker"),
    ("auto", "jax", 2, 8, "one"),
    ("auto", "torch", None, 2, "one"),
    ("one", "tensorflow", 2, 8, "one"),
    ("one", "jax", None, 0, "one"),
    ("mirrored", "tensorflow", None, 0, "mirrored"),
    ("multiworker", "tensorflow", 2, 0, "multiworker"),
])
def test_choose_strategy(name, backend, workers, gpus, expected):
    cluster = None if workers is None else parse_tf_config(_tf_config(workers, 0))
    assert choose_strategy(name, backend, cluster, gpus) == expected


@pytest.mark.parametrize("name, backend, cluster, message", [
    ("mirrored", "jax", None, "--strategy mirrored needs the TensorFlow backend"),
    ("multiworker", "jax", SINGLE, "--strategy multiworker needs the TensorFlow backend"),
    ("multiworker", "tensorflow", None, "needs the TF_CONFIG environment variable"),
    ("ring", "tensorflow", None, "`strategy`, expected one of auto, one, mirrored, multiworker, got 'ring'"),
])
def test_choose_strategy_errors(name, backend, cluster, message):
    with pytest.raises(ConfigError, match=message):
        choose_strategy(name, backend, cluster, 0)


def test_config_strategy():
    assert TrainConfig().strategy == "auto"
    assert TrainConfig.from_dict(TrainConfig(strategy="mirrored").to_dict()).strategy == "mirrored"
    with pytest.raises(ConfigError, match="`strategy`, expected one of auto, one, mirrored, multiworker"):
        TrainConfig(strategy="gpus")


@pytest.mark.parametrize("env, expected", [
    ({}, None),
    ({"TF_CONFIG": ""}, None),
    (_tf_config(2, 0), (2, 0, True)),
    (_tf_config(2, 1), (2, 1, False)),
    (_tf_config(2, 0, chief=True, task_type="chief"), (3, 0, True)),
    (_tf_config(2, 0, chief=True), (3, 1, False)),
    (_tf_config(2, 1, chief=True), (3, 2, False)),
])
def test_parse_tf_config(env, expected):
    c = parse_tf_config(env)
    assert (c if c is None else (c.num_workers, c.worker_index, c.is_chief)) == expected


@pytest.mark.parametrize("text, message", [
    ("{not json", "TF_CONFIG is not valid"),
    ('{"cluster": {}, "task": {"type": "worker", "index": 0}}', "at least one worker"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}', "task index 3 is outside"),
    ('{"cluster": {"worker": ["a:1"], "ps": ["b:2"]}, "task": {"type": "ps", "index": 0}}', "does not train"),
])
def test_parse_tf_config_errors(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_tf_config({"TF_CONFIG": text})


def test_one_device_default():
    dist = make_distribution("auto", env={})
    assert (dist.name, dist.strategy, dist.replicas, dist.is_chief) == ("one", None, 1, True)


def test_worker_seeds_differ_and_keep_single_worker_seed():
    assert worker_seed(5, 0, 1) == 5
    seeds = [worker_seed(5, w, 4) for w in range(4)]
    assert len(set(seeds)) == 4 and seeds == [worker_seed(5, w, 4) for w in range(4)]
    assert worker_seed(5, 0, 2) != worker_seed(6, 0, 2)


def test_split_batch():
    assert split_batch(256, 1, 1) == (256, 256)
    assert split_batch(256, 8, 2) == (128, 32)
    with pytest.raises(ConfigError, match="must be divisible by 3; use 255 or 258"):
        split_batch(256, 3, 1)


def test_worker_streams_draw_different_windows():
    from genorm.genome.array import Genome
    from genorm.genome.splits import Interval
    from genorm.batches.dataset import StreamConfig
    from genorm.batches.windows import WindowSampler

    rng = np.random.default_rng(0)
    g = Genome.from_strings({"r": "".join(rng.choice(list("ACGT"), 5000))})
    cfg = StreamConfig(window=20, batch_size=8)
    batches = [WindowSampler(g, [Interval(0, 0, 5000)], cfg, seed=worker_seed(3, w, 2)).batch(0) for w in range(2)]
    assert not np.array_equal(batches[0], batches[1])


def test_worker_scratch_is_removed(tmp_path):
    run = tmp_path / "run"
    (run / "backup").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    (run / "backup" / "state.json").write_text("{}")
    with worker_scratch(run, resume=True) as scratch:
        assert (scratch / "config.json").is_file() and (scratch / "backup" / "state.json").is_file()
    assert not scratch.exists()
    assert sorted(p.name for p in run.iterdir()) == ["backup", "config.json"]


# ------------------------------------------------------------------------------------------
# two workers on 127.0.0.1


WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    strategies = []
    class MultiWorker(tf.distribute.MultiWorkerMirroredStrategy):  # genorm makes it; the probes below reuse it
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            strategies.append(self)
    tf.distribute.MultiWorkerMirroredStrategy = MultiWorker
    import genorm
    from genorm.config import ModelConfig, TrainConfig

    fasta, out, weights, epochs, resume = sys.argv[1:6]
    config = TrainConfig(model=ModelConfig(cell="gru", units=8, layers=1), window=20, batch_size=16,
                         epochs=int(epochs), bases_per_epoch=16 * 20 * 8, max_val_bases=400, learning_rate=1e-2,
                         seed=2, baselines=False, strategy="multiworker", context_orders=())
    run = genorm.train([fasta], config, out_dir=out, resume=resume == "resume")
    np.savez(weights, *run.model.get_weights())
    print("summary", run.summary["strategy"], run.summary["replicas"], run.summary["is_chief"],
          run.summary["bases_trained"], flush=True)
    if resume == "resume":
        sys.exit(0)

    # genorm._compat's two workarounds, on a bare Keras model: is each still needed (test__compat.py has the fast
    # checks; only two real workers show that plain fit, and fit with build_for_fit alone, still fail)
    import keras
    from genorm import _compat
    strategy, = strategies
    ds = strategy.distribute_datasets_from_function(
        lambda ctx: tf.data.Dataset.from_tensors((tf.zeros((2, 4), tf.int32), tf.ones((2, 4, 1)))).repeat())
    batch = (np.zeros((1, 4), np.int32), np.zeros((1, 4, 1), np.float32))
    results = {}
    for mode in ("keras", "build_only", "both"):
        with strategy.scope():
            model = keras.Sequential([keras.Input((4,), dtype="int32"), keras.layers.Embedding(5, 2),
                                      keras.layers.Dense(1)])
            model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", metrics=["mae"])
        try:
            if mode == "keras":
                model.fit(ds, epochs=1, steps_per_epoch=2, verbose=0)
            else:
                _compat.build_for_fit(model, strategy, batch)
                with _compat.fit_without_build_batch(model):
                    if mode == "build_only":
                        model.fit(ds, epochs=1, steps_per_epoch=2, verbose=0)
                    else:
                        with _compat.multiworker_scalar_reduce():
                            model.fit(ds, epochs=1, steps_per_epoch=2, verbose=0)
            results[mode] = "ok"
        except ValueError as exc:
            results[mode] = str(exc)[:300]
    print("RESULTS " + json.dumps(results), flush=True)
""")


def _free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _child_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "KERAS_BACKEND")}
    env.update(CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO), **extra)
    return env


def _run_two_workers(tmp_path: Path, fasta: Path, out: Path, epochs: int, resume: bool, tag: str,
                     timeout: float = 120) -> list[str]:
    """Both workers to the end (or killed at ``timeout``); their logs. Asserts they exited with 0."""
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs, logs = [], []
    for i in range(2):
        scratch = tmp_path / f"tmp{i}"
        scratch.mkdir(exist_ok=True)
        env = _child_env(TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
                         TMPDIR=str(scratch))
        log = open(tmp_path / f"{tag}{i}.log", "w")
        logs.append(log)
        procs.append(subprocess.Popen([sys.executable, str(tmp_path / "worker.py"), str(fasta), str(out),
                                       str(tmp_path / f"{tag}{i}.npz"), str(epochs), "resume" if resume else "new"],
                                      env=env, stdout=log, stderr=subprocess.STDOUT))
    deadline = time.monotonic() + timeout
    try:
        for p in procs:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        for log in logs:
            log.close()
    texts = [(tmp_path / f"{tag}{i}.log").read_text() for i in range(2)]
    for i, (p, text) in enumerate(zip(procs, texts)):
        assert p.returncode == 0, f"worker {i} exited with {p.returncode}:\n{text[-3000:]}"
    return texts


def _same_weights(a_path: Path, b_path: Path) -> None:
    with np.load(a_path) as a, np.load(b_path) as b:
        assert a.files == b.files and len(a.files) > 0
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])


def _assert_both_workarounds_still_needed(texts: list[str]) -> None:
    """The workers' RESULTS line: genorm's two ``_compat`` workarounds make multi-worker fit work, and each is
    still needed (it fails the day Keras fixes the bug a workaround avoids: then delete that workaround)."""
    for text in texts:
        results = json.loads(text.split("RESULTS ", 1)[1].splitlines()[0])
        assert results["both"] == "ok"
        if "PerReplica" not in results["keras"]:
            pytest.fail(f"workaround _compat.fit_without_build_batch no longer needed (plain fit: {results['keras']!r})"
                        "; delete it and build_for_fit")
        if "Invalid reduction dimension 0 for input with 0 dimensions" not in results["build_only"]:
            pytest.fail("workaround _compat.multiworker_scalar_reduce no longer needed (fit without it: "
                        f"{results['build_only']!r}); delete it")


@pytest.mark.slow
def test_two_workers(tmp_path):
    """genorm trains and resumes on two workers; the same worker processes then check that both of genorm._compat's
    multi-worker workarounds are still needed (one two-worker start for both claims)."""
    rng = np.random.default_rng(1)
    fasta = tmp_path / "g.fa"
    fasta.write_text(">a\n" + "ACGTTGCA" * 400 + "\n>b\n" + "".join(rng.choice(list("ACGT"), 3000)) + "\n")
    (tmp_path / "worker.py").write_text(WORKER)
    out = tmp_path / "run"
    texts = _run_two_workers(tmp_path, fasta, out, epochs=1, resume=False, tag="first")
    assert "summary multiworker 2 True 2560" in texts[0]
    assert "summary multiworker 2 False 2560" in texts[1]
    _same_weights(tmp_path / "first0.npz", tmp_path / "first1.npz")
    _assert_both_workarounds_still_needed(texts)
    # exactly one run directory (the chief's); the other worker's scratch is gone
    dirs = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert dirs == ["g.fa.genorm", "run", "tmp0", "tmp1"]  # the genome cache, the run, the workers' TMPDIRs
    assert [p.parent.name for p in tmp_path.rglob("config.json")] == ["run"]
    assert (out / "model.keras").is_file() and (out / "backup" / "state.json").is_file()
    assert list((tmp_path / "tmp0").iterdir()) == [] and list((tmp_path / "tmp1").iterdir()) == []
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["distribution"] == {"strategy": "multiworker", "replicas": 2, "workers": 2}

    # --resume under the strategy: one more epoch, from the chief's backup
    texts = _run_two_workers(tmp_path, fasta, out, epochs=2, resume=True, tag="resumed")
    assert "summary multiworker 2 True 5120" in texts[0]
    _same_weights(tmp_path / "resumed0.npz", tmp_path / "resumed1.npz")
    history = (out / "history.csv").read_text().splitlines()
    assert len(history) == 3 and history[2].startswith("2,8,5120,")
    assert list((tmp_path / "tmp1").iterdir()) == []


MIRRORED = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    devices = ["/cpu:0", "/cpu:1"]
    Mirrored = tf.distribute.MirroredStrategy
    tf.distribute.MirroredStrategy = lambda *a, **k: Mirrored(devices)  # the two logical CPUs stand for two GPUs

    import genorm
    from genorm.config import ModelConfig, TrainConfig

    fasta, out = sys.argv[1:3]
    if sys.argv[3] == "clip":  # genorm._compat.clip_after_all_reduce: does Keras still clip each replica's share?
        import contextlib, json, keras
        from genorm import _compat
        strategy, results = Mirrored(devices), {}
        for mode in ("keras", "workaround"):
            with strategy.scope():
                v = keras.Variable(np.zeros(2, np.float32))
                opt = keras.optimizers.SGD(1.0, clipnorm=1.0)
                opt.build([v])
            shares = strategy.experimental_distribute_values_from_function(
                lambda ctx: tf.constant([0.8, 0.0]) if ctx.replica_id_in_sync_group == 0 else tf.constant([0.0, 0.8]))
            with _compat.clip_after_all_reduce(opt) if mode == "workaround" else contextlib.nullcontext():
                tf.function(lambda g: strategy.run(lambda g: opt.apply_gradients([(g, v)]), args=(g,)))(shares)
            results["clip_" + mode] = v.numpy().astype(float).round(4).tolist()
        print("RESULTS " + json.dumps(results), flush=True)
        sys.exit(0)
    config = TrainConfig(model=ModelConfig(cell="gru", units=8, layers=1), window=20, batch_size=16, epochs=2,
                         bases_per_epoch=16 * 20 * 4, max_val_bases=400, learning_rate=1e-2, seed=2,
                         baselines=False, context_orders=())
    orders = tuple(int(k) for k in sys.argv[3].split(",") if k)  # the plain network, or one that reads counts
    runs = {s: genorm.train([fasta], config.replace(strategy=s, context_orders=orders), out_dir=f"{out}/{s}")
            for s in ("mirrored", "one")}
    assert runs["mirrored"].summary["replicas"] == 2 and runs["one"].summary["replicas"] == 1
    assert runs["mirrored"].summary["bases_trained"] == runs["one"].summary["bases_trained"] == 2 * 16 * 20 * 4
    assert runs["one"].config.model.context == 5 * len(orders)
    for a, b in zip(runs["mirrored"].model.get_weights(), runs["one"].model.get_weights()):
        np.testing.assert_allclose(a, b, atol=2e-4)
    print("same", flush=True)
    if orders:
        sys.exit(0)

    # genorm._compat.fit_without_build_batch: still needed when a batch of 3 windows is split over two replicas?
    import json, keras
    from genorm import _compat
    strategy = Mirrored(devices)
    ds = tf.data.Dataset.from_tensors((tf.zeros((3, 4), tf.int32), tf.ones((3, 4, 1))))  # 2 + 1 windows
    results = {}
    for mode in ("keras", "workaround"):
        with strategy.scope():
            model = keras.Sequential([keras.Input((4,), dtype="int32"), keras.layers.Embedding(5, 2),
                                      keras.layers.Dense(1)])
            model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
        try:
            if mode == "keras":
                model.evaluate(ds, verbose=0)
            else:
                _compat.build_for_fit(model, strategy, (np.zeros((1, 4), np.int32), np.zeros((1, 4, 1), np.float32)))
                with _compat.fit_without_build_batch(model):
                    model.evaluate(ds, verbose=0)
            results[mode] = "ok"
        except Exception as exc:
            results[mode] = f"{type(exc).__name__}: {str(exc)[:300]}"
    print("RESULTS " + json.dumps(results), flush=True)
""")


@pytest.mark.slow
def test_mirrored_equals_one_device(tmp_path):
    """Two replicas with half the batch each train the same model as one device (the batch/LR rule, gradients clipped
    after they are summed), with and without count models (their features are computed in tf.data and split with
    the batch); a third process checks that Keras alone still clips each replica's share. The same
    process (two logical CPUs) then checks that genorm._compat.fit_without_build_batch is still needed: plain Keras
    cannot evaluate a batch of 3 windows split unevenly over two replicas, as genorm's validation inside fit does."""
    fasta = tmp_path / "g.fa"
    fasta.write_text(">a\n" + "ACGTTGCA" * 300 + "\n>b\n" + "".join(np.random.default_rng(3).choice(list("ACGT"), 2000))
                     + "\n")
    (tmp_path / "mirrored.py").write_text(MIRRORED)
    results = {}
    for what in ("1,2,4,8", "", "clip"):  # one process each: a second MirroredStrategy in one process clashes
        r = subprocess.run([sys.executable, str(tmp_path / "mirrored.py"), str(fasta), str(tmp_path / f"runs{what}"),
                            what], env=_child_env(), capture_output=True, text=True, timeout=180)
        assert r.returncode == 0 and ("same" in r.stdout or what == "clip"), r.stderr[-3000:]
        if what in ("", "clip"):
            results.update(json.loads(r.stdout.split("RESULTS ", 1)[1].splitlines()[0]))
    assert results["workaround"] == "ok"
    assert results["clip_workaround"] == [-0.7071, -0.7071]  # the summed gradient [0.8, 0.8] clipped to norm 1
    if results["clip_keras"] != [-0.8, -0.8]:
        pytest.fail("workaround _compat.clip_after_all_reduce no longer needed: Keras clips the summed gradient now "
                    f"({results['clip_keras']}); delete it")
    if "must have the same size and shape" not in results["keras"]:
        pytest.fail("workaround _compat.fit_without_build_batch no longer needed: Keras evaluates a batch split "
                    f"unevenly over two replicas now ({results['keras']!r}); delete it (and build_for_fit) unless "
                    "test_two_workers still needs it")


# ------------------------------------------------------------------------------------------
# the JAX backend, fed by tf.data


JAX_RUN = textwrap.dedent("""
    import sys
    import numpy as np
    import genorm
    from genorm.cli import main

    fasta, run, report, probs = sys.argv[1:5]
    rc = main(["train", fasta, "--out", run, "--units", "8", "--layers", "1", "--window", "24", "--batch-size", "16",
               "--epochs", "2", "--bases-per-epoch", "3000", "--learning-rate", "0.01", "--no-baselines"])
    print(f"train exit {rc}", flush=True)
    if rc == 0:
        rc = main(["evaluate", run, "-o", report])
        print(f"evaluate exit {rc}", flush=True)
    if rc == 0:
        import keras
        print("backend", keras.backend.backend(), flush=True)
        np.save(probs, genorm.load(run).predict_proba("ACGTTGCAACGTTGCA"))
""")


@pytest.mark.slow
def test_jax_backend_train_and_evaluate(tmp_path):
    """``genorm train`` + ``genorm evaluate`` under KERAS_BACKEND=jax (both commands in one JAX process, to start
    JAX and TensorFlow once); the saved model then predicts the same here, under TensorFlow's backend."""
    pytest.importorskip("jax")
    import keras

    import genorm

    rng = np.random.default_rng(2)
    fasta = tmp_path / "g.fa"
    fasta.write_text(">p\n" + "ACGTTGCA" * 500 + "\n>q\n" + "".join(rng.choice(list("ACGT"), 2000)) + "\n")
    run, report, probs = tmp_path / "run", tmp_path / "report.json", tmp_path / "p.npy"
    r = subprocess.run([sys.executable, "-c", JAX_RUN, str(fasta), str(run), str(report), str(probs)],
                       env=_child_env(KERAS_BACKEND="jax"), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert "train exit 0" in r.stdout and "run written to" in r.stdout, r.stdout + r.stderr[-3000:]
    assert "evaluate exit 0" in r.stdout and "per nucleotide" in r.stdout and report.is_file()
    assert "backend jax" in r.stdout
    config = json.loads((run / "config.json").read_text())["config"]
    assert config["strategy"] == "auto"
    prov = json.loads((run / "provenance.json").read_text())
    assert prov["versions"].get("keras_backend", "jax") == "jax"
    assert prov["distribution"]["strategy"] == "one"
    # the model the JAX run saved loads and predicts the same under TensorFlow's backend
    p_jax = np.load(probs)
    assert keras.backend.backend() == "tensorflow"
    p = genorm.load(run).predict_proba("ACGTTGCAACGTTGCA")
    for q in (p_jax, p):
        assert q.shape == (16, 4) and np.allclose(q.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(p, p_jax, atol=1e-5)
