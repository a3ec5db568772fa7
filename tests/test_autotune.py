"""tvmini.autotune: every config of every tunable rule computes the numpy result, the
tuner measures the default and keeps the fastest, its JSON log round-trips, bad logs
raise DataError, and builds made after ``use_log`` (or with $TVMINI_AUTOTUNE_LOG) use
the logged config (checked on the lowered loop IR, never on time).

Tuning calls use a handful of trials and tiny shapes: correctness of the configs does
not depend on how long anything takes.
"""
import json

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import tvmini as tm
from tvmini import autotune, te, topi
from tvmini.autotune import ConfigSpace, LogEntry, TuningLog
from tvmini.codegen.llvm_target import vector_registers
from tvmini.topi.schedule_nn import L1_BYTES, L2_BYTES
from tvmini.errors import DataError, ScheduleError, TuningError
from tvmini.topi.conv_common import vector_lanes
from tvmini.topi.nn import gemm_block
from strategies import assert_matches, examples, unique
from test_topi_conv import np_conv2d, np_conv2d_grads

DIM = st.sampled_from([1, 2, 3, 5, 7, 8, 9, 16, 17, 31, 33])
# Reductions long enough for the "jki" tile order (k blocks of 128, 96, 100, 64).
K_BLOCKED = st.sampled_from([256, 192, 300, 130])
TINY = dict(number=1, repeat=1, min_repeat_ms=0)


@pytest.fixture(autouse=True)
def no_tuning_log(monkeypatch):
    """Each test starts with no tuning log (an outer $TVMINI_AUTOTUNE_LOG must not leak in)."""
    monkeypatch.delenv(autotune.ENV, raising=False)
    assert autotune.active_log() is None


def run(outs, inputs, arrays, configs=None):
    outs = [outs] if isinstance(outs, te.Tensor) else list(outs)
    f = tm.build(topi.default_schedule(outs, "llvm", configs=configs), list(inputs) + outs, name=unique("tuned"))
    results = [np.full([int(s.value) for s in t.shape], np.nan, t.dtype) for t in outs]
    f(*arrays, *results)
    return results[0] if len(results) == 1 else results


def only_task(outs):
    (tensor, knobs), = topi.tunable(outs)
    return tensor, knobs


def rand(rng, shape, dtype="float32"):
    return rng.uniform(-1, 1, shape).astype(dtype)


# --------------------------------------------------------------------------- every config is correct

@st.composite
def gemm_case(draw):
    op = draw(st.sampled_from(["matmul", "dense", "batch_matmul"]), label="op")
    M, N = draw(DIM, label="M"), draw(DIM, label="N")
    K = draw(st.one_of(DIM, K_BLOCKED), label="K")
    dtype = draw(st.sampled_from(["float32", "float64"]), label="dtype")
    ta, tb = draw(st.booleans(), label="transpose_a"), draw(st.booleans(), label="transpose_b")
    batch = draw(st.sampled_from([(1, 1), (2, 2), (1, 3), (3, 1)]), label="batches")
    return op, M, K, N, dtype, ta, tb, batch


def gemm_problem(rng, op, M, K, N, dtype, ta, tb, batch):
    """(output, placeholders, arrays, numpy result) of one GEMM-shaped op."""
    if op == "dense":
        x, w, b = rand(rng, (M, K), dtype), rand(rng, (N, K), dtype), rand(rng, (N,), dtype)
        ph = [te.placeholder(a.shape, name=n, dtype=dtype) for a, n in ((x, "x"), (w, "w"), (b, "b"))]
        return topi.dense(*ph), ph, [x, w, b], x @ w.T + b
    lead = (batch[0],) if op == "batch_matmul" else ()
    lead_b = (batch[1],) if op == "batch_matmul" else ()
    a = rand(rng, lead + ((K, M) if ta else (M, K)), dtype)
    b = rand(rng, lead_b + ((N, K) if tb else (K, N)), dtype)
    A, B = te.placeholder(a.shape, name="A", dtype=dtype), te.placeholder(b.shape, name="B", dtype=dtype)
    out = getattr(topi, op)(A, B, transpose_a=ta, transpose_b=tb)
    want = (np.swapaxes(a, -1, -2) if ta else a) @ (np.swapaxes(b, -1, -2) if tb else b)
    return out, [A, B], [a, b], want


@examples(20)
@given(st.data())
def test_every_gemm_config_matches_numpy(data):
    case = data.draw(gemm_case())
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    out, ph, arrays, want = gemm_problem(rng, *case)
    tensor, knobs = only_task(out)
    config = data.draw(st.sampled_from(list(knobs.configs())), label="config")
    assert_matches(run(out, ph, arrays, {tensor: config}), want, case[4], scale=np.sqrt(case[2]), what=str(config))


@examples(15)
@given(st.data())
def test_every_conv2d_config_matches_numpy(data):
    N, C, F = data.draw(st.integers(1, 2), label="N"), data.draw(st.integers(1, 3), label="C"), \
        data.draw(st.sampled_from([1, 2, 3, 5, 8, 17]), label="F")
    H, W = data.draw(st.integers(1, 9), label="H"), data.draw(st.sampled_from([1, 3, 8, 16, 17, 32]), label="W")
    KH, KW = data.draw(st.integers(1, 3), label="KH"), data.draw(st.integers(1, 3), label="KW")
    s, p, d = (data.draw(st.integers(lo, 2), label=what) for lo, what in ((1, "stride"), (0, "padding"),
                                                                          (1, "dilation")))
    assume(H + 2 * p >= d * (KH - 1) + 1 and W + 2 * p >= d * (KW - 1) + 1)     # the kernel fits
    grad_input = data.draw(st.booleans(), label="conv2d_grad_input")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    x, w = rand(rng, (N, C, H, W)), rand(rng, (F, C, KH, KW))
    X, Wt = te.placeholder(x.shape, name="x"), te.placeholder(w.shape, name="w")
    y = np_conv2d(x, w, (s, s), (p, p), (d, d))
    if grad_input:
        g = rand(rng, y.shape)
        G = te.placeholder(g.shape, name="g")
        out, ph, arrays = topi.conv2d_grad_input(G, Wt, x.shape, s, p, d), [G, Wt], [g, w]
        want = np_conv2d_grads(g, x, w, (s, s), (p, p), (d, d))[0]
    else:
        out, ph, arrays, want = topi.conv2d(X, Wt, s, p, d), [X, Wt], [x, w], y
    tensor, knobs = only_task(out)
    config = data.draw(st.sampled_from(list(knobs.configs())), label="config")
    assert_matches(run(out, ph, arrays, {tensor: config}), want, "float32", scale=np.sqrt(C * KH * KW),
                   what=str(config))


@examples(20)
@given(st.data())
def test_every_elementwise_config_matches_numpy(data):
    shape = data.draw(st.lists(DIM, min_size=1, max_size=3), label="shape")
    kind = data.draw(st.sampled_from(["relu", "add", "add_row", "pad", "take"]), label="op")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    x = rand(rng, shape)
    X = te.placeholder(shape, name="x")
    if kind == "relu":
        out, ph, arrays, want = topi.relu(X), [X], [x], np.maximum(x, 0)
    elif kind in ("add", "add_row"):
        y = rand(rng, shape if kind == "add" else shape[-1:])
        Y = te.placeholder(y.shape, name="y")
        out, ph, arrays, want = topi.add(X, Y), [X, Y], [x, y], x + y
    elif kind == "pad":
        out, ph, arrays, want = topi.pad(X, [1] * len(shape)), [X], [x], np.pad(x, 1)
    else:
        idx = rng.integers(0, shape[0], 5).astype("int32")
        Idx = te.placeholder(idx.shape, name="idx", dtype="int32")
        out, ph, arrays, want = topi.take(X, Idx), [X, Idx], [x, idx], np.take(x, idx, axis=0)
    tensor, knobs = only_task(out)
    config = data.draw(st.sampled_from(list(knobs.configs())), label="config")
    np.testing.assert_array_equal(run(out, ph, arrays, {tensor: config}), want.astype("float32"), err_msg=str(config))


@pytest.mark.parametrize("case", ["gemm", "conv2d", "broadcast"])
def test_whole_space_of_a_small_problem(case):
    """Every config of one small, non-divisible problem per rule (the hypothesis tests
    above sample configs of many problems)."""
    rng = np.random.default_rng(7)
    if case == "gemm":
        out, ph, arrays, want = gemm_problem(rng, "matmul", 3, 5, 20, "float32", False, True, None)
    elif case == "conv2d":
        x, w = rand(rng, (1, 2, 3, 16)), rand(rng, (2, 2, 3, 3))
        ph = [te.placeholder(x.shape, name="x"), te.placeholder(w.shape, name="w")]
        out, arrays, want = topi.conv2d(*ph, padding=1), [x, w], np_conv2d(x, w, (1, 1), (1, 1), (1, 1))
    else:
        x, y = rand(rng, (3, 32)), rand(rng, (32,))
        ph = [te.placeholder(x.shape, name="x"), te.placeholder(y.shape, name="y")]
        out, arrays, want = topi.add(*ph), [x, y], x + y
    tensor, knobs = only_task(out)
    assert knobs.default in list(knobs.configs())
    for config in knobs.configs():
        assert_matches(run(out, ph, arrays, {tensor: config}), want, "float32", scale=3, what=str(config))


def test_knobs_offer_sensible_candidates():
    A, B = te.placeholder((512, 512), name="A"), te.placeholder((512, 512), name="B")
    _, knobs = only_task(topi.matmul(A, B))
    block, rows = gemm_block("float32"), 8 if vector_registers() >= 32 else 6      # two vectors; 12 or 16 accumulators
    assert knobs.default == {"mi": rows, "bn": block, "order": "kij", "tiles": "ji", "parallel": True}
    assert knobs.choices["bn"] == [block, 2 * block] and rows in knobs.choices["mi"]
    X, W = te.placeholder((1, 64, 56, 56), name="x"), te.placeholder((64, 64, 3, 3), name="w")
    assert knobs.choices["tiles"] == ["ij", "ji", "jki"]
    # a transposed A (a weight gradient) with a long reduction: accumulated k block by k block
    G, H = te.placeholder((1024, 256), name="g"), te.placeholder((1024, 64), name="h")
    _, knobs = only_task(topi.matmul(G, H, transpose_a=True))
    assert knobs.default["tiles"] == "jki"
    _, knobs = only_task(topi.matmul(G, te.placeholder((1024, 16), name="h16"), transpose_a=True))
    assert knobs.default["tiles"] == "ji" and "jki" not in knobs.choices["tiles"]    # one column block
    _, knobs = only_task(topi.matmul(te.placeholder((16, 1021), name="p"), te.placeholder((1021, 64), name="q")))
    assert "jki" not in knobs.choices["tiles"]                                      # 1021 is prime
    # A read along its rows: k blocks once a panel of B spills from L1 while A fits in L2
    x = te.placeholder((128, 784), name="x")
    _, knobs = only_task(topi.matmul(x, te.placeholder((256, 784), name="w"), transpose_b=True))
    assert knobs.default["tiles"] == ("jki" if 784 * block * 4 > L1_BYTES and 128 * 784 * 4 <= L2_BYTES // 4
                                      else "ji")
    _, knobs = only_task(topi.matmul(te.placeholder((128, 256), name="x2"), te.placeholder((256, 256), name="w2"),
                                     transpose_b=True))
    assert knobs.default["tiles"] == ("jki" if 256 * block * 4 > L1_BYTES and 128 * 256 * 4 <= L2_BYTES // 4
                                      else "ji")
    _, knobs = only_task(topi.conv2d(X, W, padding=1))
    assert knobs.choices["yb"] == [1, 2, 4, 7]
    if vector_lanes("float32", 56) == 16:
        # AVX-512: the 56 columns are computed as 4 vectors of 16; 4 channels x a whole
        # row are 16 accumulators of the 32 registers
        assert knobs.choices["xb"] == [0, 8, 16, 32]
        assert (knobs.default["fb"], knobs.default["yb"], knobs.default["xb"]) == (4, 1, 0)
    else:
        assert knobs.choices["xb"] == [0, 8]                # 16 and 32 do not divide 56
        rows = 4 if vector_registers() >= 32 else 2     # 16 or 8 accumulators, as registers allow
        assert (knobs.default["fb"], knobs.default["yb"], knobs.default["xb"]) == (4, rows, 8)
    _, knobs = only_task(topi.relu(te.placeholder((3, 5, 7), name="x")))
    assert knobs.choices["lanes"] == [0] and knobs.default == {"lanes": 0, "parallel": False}
    inlined = topi.exp(topi.relu(te.placeholder((64,), name="x")))
    assert [t.op.name for t, _ in topi.tunable(inlined)] == ["exp"]    # relu is inlined: nothing to tune
    assert topi.tunable(topi.relu(te.placeholder((64,), name="x")), target="cuda") == []


def test_a_config_outside_the_space_is_a_schedule_error():
    A, B = te.placeholder((8, 8), name="A"), te.placeholder((8, 8), name="B")
    C = topi.matmul(A, B)
    for bad in ({"mi": 0, "bn": 8, "order": "kij", "parallel": False}, {"mi": 2}, {"mi": 2, "bn": 8, "order": "kij",
                                                                                  "parallel": 1, "x": 3}):
        with pytest.raises(ScheduleError, match="matmul"):
            topi.default_schedule(C, configs={C: bad})


# --------------------------------------------------------------------------- workloads

def test_workload_key_ignores_names_but_not_shapes_dtypes_or_transposes():
    def key(m=8, dtype="float32", names=("A", "B"), **kw):
        A = te.placeholder((m, 8), name=names[0], dtype=dtype)
        B = te.placeholder((8, 8), name=names[1], dtype=dtype)
        return topi.workload(topi.matmul(A, B, **kw)).key
    assert key() == key(names=("x0", "x1"))
    assert len({key(), key(m=9), key(dtype="float64"), key(transpose_b=True)}) == 4
    w = topi.workload(topi.matmul(te.placeholder((8, 4), name="A"), te.placeholder((4, 2), name="B")))
    assert (w.op, w.tag, w.inputs, w.output) == ("matmul", "gemm", [([8, 4], "float32"), ([4, 2], "float32")],
                                                 ([8, 2], "float32"))


# --------------------------------------------------------------------------- the search

def test_space_is_exhaustive_when_small_and_seeded_when_large():
    _, knobs = only_task(topi.matmul(te.placeholder((64, 64), name="A"), te.placeholder((64, 64), name="B")))
    space = ConfigSpace(knobs)
    assert len(space) == knobs.size() == 96
    every = space.candidates(100)
    assert every[0] == knobs.default and len(every) == 96 and {str(c) for c in every} == {str(c) for c in space.configs}
    some = space.candidates(5, seed=3)
    assert some == space.candidates(5, seed=3) and len(some) == 5 and some[0] == knobs.default
    assert len({str(c) for c in some}) == 5
    with pytest.raises(TuningError, match="trials"):
        space.candidates(0)


def test_tune_measures_the_default_first_and_keeps_the_fastest(tmp_path):
    result = autotune.tune("relu", (4, 16), trials=100, confirm=2, log=tmp_path / "log.json", **TINY)
    (task,) = result.tasks
    key = task.workload.key
    assert task.space_size == 10                                  # lanes {0, 4, 8, 16} x parallel
    assert len(result.measured) == 10 + 1 + 2                     # exhaustive, then 3 measured again
    configs = [c[key] for c, _ in result.measured]
    assert configs[0] == result.default_config and len({str(c) for c in configs[:10]}) == 10

    def fastest(config):
        return min(s for c, s in result.measured if c[key] == config)
    first_round = sorted(configs[1:10], key=fastest)
    assert configs[10] == result.default_config and set(map(str, configs[11:])) <= set(map(str, first_round))
    assert result.default_seconds == fastest(result.default_config)
    assert result.best_seconds == fastest(result.config) == min(s for _, s in result.measured)
    assert result.best_seconds <= result.default_seconds and result.speedup >= 1
    assert "relu" in str(result)


def test_tune_samples_within_the_trial_budget():
    A = te.placeholder((9, 20), name="A")
    result = autotune.tune("matmul", A, (20, 17), trials=4, seed=1, confirm=0, **TINY)
    assert len(result.measured) == 4 and result.best_seconds <= result.default_seconds
    assert result.config in list(result.tasks[0].knobs.configs())
    again = autotune.tune("matmul", A, (20, 17), trials=4, seed=1, confirm=0, **TINY)
    assert [c for c, _ in again.measured] == [c for c, _ in result.measured]      # same seed, same configs


def test_tune_an_op_with_two_tunable_outputs():
    def two(x, y):
        return [topi.add(x, y), topi.multiply(x, y)]
    result = autotune.tune(two, (8, 8), (8, 8), trials=3, confirm=0, **TINY)
    assert len(result.tasks) == 2 and len(result.measured) == 1 + 2 * 2 and len(result.entries) == 2
    with pytest.raises(TuningError, match="tasks"):
        result.config


def test_tune_refuses_what_it_cannot_tune():
    with pytest.raises(TuningError, match="no operator named"):
        autotune.tune("no_such_op", (4, 4))
    with pytest.raises(TuningError, match="nothing to tune"):
        autotune.tune("softmax", (4, 4))
    with pytest.raises(TuningError, match="host CPU"):
        autotune.tune("relu", (4, 4), target="cuda")
    with pytest.raises(TuningError, match="symbolic"):
        autotune.tune("relu", te.placeholder((te.var("n"), 4), name="x"))
    with pytest.raises(TuningError, match="shape"):
        autotune.tune("relu", "4x4")


# --------------------------------------------------------------------------- the log

def test_log_round_trips_and_keeps_one_entry_per_workload(tmp_path):
    path = tmp_path / "tuned.json"
    first = autotune.tune("matmul", (5, 7), (7, 3), trials=3, log=path, **TINY)
    assert autotune.load_log(path).entries == first.entries
    second = autotune.tune("relu", (3, 8), trials=2, log=path, **TINY)
    again = autotune.tune("matmul", (5, 7), (7, 3), trials=2, log=path, **TINY)
    entries = autotune.load_log(path).entries
    assert entries == again.entries + second.entries or entries == second.entries + again.entries
    assert len(entries) == 2
    assert json.loads(path.read_text())["format"] == "tvmini-autotune-log"
    log = TuningLog(entries)
    log.save(tmp_path / "copy.json")
    assert autotune.load_log(tmp_path / "copy.json").entries == entries


@pytest.mark.parametrize("text, match", [
    ("{not json", "not valid JSON"),
    ('["a list"]', "not a tvmini tuning log"),
    ('{"format": "something-else", "version": 1, "entries": []}', "not a tvmini tuning log"),
    ('{"format": "tvmini-autotune-log", "version": 99, "entries": []}', "version 99"),
    ('{"format": "tvmini-autotune-log", "version": 1, "entries": {}}', "must be a list"),
    ('{"format": "tvmini-autotune-log", "version": 1, "entries": [{"key": "k"}]}', "missing fields"),
    ('{"format": "tvmini-autotune-log", "version": 1, "entries": [{"key": "k", "target": "llvm", "op": "o", '
     '"tag": "t", "inputs": [], "output": [], "config": {"mi": [1]}, "seconds": 1}]}', "knob names"),
    ('{"format": "tvmini-autotune-log", "version": 1, "entries": [{"key": "k", "target": "llvm", "op": "o", '
     '"tag": "t", "inputs": [], "output": [], "config": {}, "seconds": -1}]}', "non-negative"),
])
def test_corrupt_or_foreign_logs_raise_data_error(tmp_path, text, match):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(DataError, match=match):
        autotune.use_log(path)
    with pytest.raises(DataError, match=match):
        autotune.tune("relu", (4, 4), log=path, **TINY)      # an unreadable log is never overwritten
    assert path.read_text() == text


def test_missing_log_raises_data_error(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="cannot read"):
        autotune.use_log(tmp_path / "nowhere.json")
    monkeypatch.setenv(autotune.ENV, str(tmp_path / "nowhere.json"))
    X = te.placeholder((4,), name="x")
    with autotune.use_log(None):
        topi.default_schedule(topi.relu(X))                   # use_log(None) overrides the variable
    with pytest.raises(DataError, match="nowhere.json"):
        topi.default_schedule(topi.relu(X))


def entry_for(tensor, config):
    w = topi.workload(tensor)
    return LogEntry(key=w.key, target=autotune.log.target_key("llvm"), op=w.op, tag=w.tag,
                    inputs=[[s, d] for s, d in w.inputs], output=list(w.output), config=config, seconds=1e-3)


def test_a_stale_config_in_the_log_raises_data_error(tmp_path):
    A, B = te.placeholder((16, 16), name="A"), te.placeholder((16, 16), name="B")
    C = topi.matmul(A, B)
    stale = {"mi": 5, "bn": gemm_block("float32"), "order": "kij", "tiles": "ij", "parallel": False}
    TuningLog([entry_for(C, stale)]).save(tmp_path / "old.json")
    with autotune.use_log(tmp_path / "old.json"):
        with pytest.raises(DataError, match=r"old.json.*mi.*=5 is not one of"):
            topi.default_schedule(C)


# --------------------------------------------------------------------------- builds read the log

def test_builds_after_use_log_use_the_tuned_config(tmp_path, monkeypatch):
    A, B = te.placeholder((24, 40), name="A"), te.placeholder((40, 48), name="B")
    C = topi.matmul(A, B)
    tuned = {"mi": 2, "bn": 32, "order": "ikj", "tiles": "ji", "parallel": True}
    assert tuned != only_task(C)[1].default
    path = tmp_path / "tuned.json"
    TuningLog([entry_for(C, tuned)]).save(path)

    def loops(sch):
        return str(tm.lower(sch, [A, B, C]))
    default_ir = loops(topi.default_schedule(C))
    default = only_task(C)[1].default
    tiles = -(-48 // default["bn"]) * -(-24 // default["mi"])          # 48/16 x 24/6 with AVX2
    assert f"for i1.outer.i0.outer.fused in range({tiles})" in default_ir and "parallel" not in default_ir
    with autotune.use_log(path):
        ir = loops(topi.default_schedule(C))
        assert ir == loops(topi.default_schedule(C, configs={C: tuned}))
        assert "parallel for i1.outer.i0.outer.fused in range(24)" in ir      # 48/32 x 24/2 tiles
        # another placeholder name, the same workload: the graph layer's kernels find it too
        X, Y = te.placeholder((24, 40), name="x0"), te.placeholder((40, 48), name="x1")
        Z = topi.matmul(X, Y)
        assert "parallel for i1.outer.i0.outer.fused in range(24)" in str(tm.lower(topi.default_schedule(Z), [X, Y, Z]))
        # another shape is not in the log: the heuristic
        D = topi.matmul(te.placeholder((24, 40), name="A"), te.placeholder((40, 64), name="B"))
        assert topi.default_schedule(D)[D].iter_kinds
        a, b = np.random.rand(24, 40).astype("float32"), np.random.rand(40, 48).astype("float32")
        np.testing.assert_allclose(run(C, [A, B], [a, b]), a @ b, rtol=1e-5)
    assert loops(topi.default_schedule(C)) == default_ir               # the with block restored "no log"
    monkeypatch.setenv(autotune.ENV, str(path))
    assert loops(topi.default_schedule(C)) == loops(topi.default_schedule(C, configs={C: tuned}))


def test_tune_then_build_picks_up_the_result(tmp_path):
    path = tmp_path / "tuned.json"
    X, W = te.placeholder((1, 2, 4, 16), name="x"), te.placeholder((3, 2, 3, 3), name="w")
    result = autotune.tune("conv2d", X, W, padding=1, trials=4, log=path, **TINY)
    out = topi.conv2d(X, W, padding=1)
    with autotune.use_log(path):
        picked = tm.lower(topi.default_schedule(out), [X, W, out])
    assert str(picked) == str(tm.lower(topi.default_schedule(out, configs={out: result.config}), [X, W, out]))


def test_graph_layer_kernels_read_the_log(tmp_path):
    """A graph op builds its kernel with topi.default_schedule, so it gets the tuned
    config of its workload (placeholders named x0, x1 there: same workload key)."""
    A, B = te.placeholder((23, 41), name="A"), te.placeholder((41, 47), name="B")
    C = topi.matmul(A, B)
    tuned = {"mi": 3, "bn": 32, "order": "ikj", "tiles": "ji", "parallel": False}
    TuningLog([entry_for(C, tuned)]).save(tmp_path / "tuned.json")
    found = []

    def spy(tensor, target, knobs):
        config = autotune.lookup(tensor, target, knobs)
        found.append((tensor.op.name, config))
        return config
    a, b = np.random.rand(23, 41).astype("float32"), np.random.rand(41, 47).astype("float32")
    topi.schedule.set_config_source(spy)
    try:
        with autotune.use_log(tmp_path / "tuned.json"):
            y = (tm.tensor(a) @ tm.tensor(b)).numpy()
    finally:
        topi.schedule.set_config_source(autotune.lookup)
    assert ("matmul", tuned) in found
    np.testing.assert_allclose(y, a @ b, rtol=1e-5)
