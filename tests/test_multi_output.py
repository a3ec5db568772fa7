"""Computes of several outputs and tuple reductions (TVM's argmax as an (index, value)
pair): the tutorial's program, random schedules against numpy and the reference, the
schedule primitives that rewrite such a stage, the build memo's key, and the errors."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tvmini as tm
from tvmini import te
from tvmini.codegen.schedule_key import schedule_key
from tvmini.testing import reference
from strategies import (MAYBE_EMPTY, Dims, check, examples, random_attach, random_schedule, rng_of, split_amount,
                        unique)
from test_cuda import needs_gpu, needs_nvcc


def first_argmax():
    """argmax over (index, value) pairs: the larger value, on ties the smaller index
    (numpy's first occurrence), so every regrouping a schedule makes gives one answer."""
    def fcombine(x, y):
        take = (x[1] > y[1]) | ((x[1] == y[1]) & (x[0] < y[0]))
        return te.if_then_else(take, x[0], y[0]), te.if_then_else(take, x[1], y[1])
    return te.comm_reducer(fcombine, lambda t0, t1: (te.max_value(t0), te.min_value(t1)), name="argmax")


def test_the_tvm_tutorial_argmax_over_symbolic_extents():
    """TVM's "general commutative reduction" tutorial, as written there."""
    def fcombine(x, y):
        lhs = te.if_then_else(x[1] >= y[1], x[0], y[0])
        rhs = te.if_then_else(x[1] >= y[1], x[1], y[1])
        return lhs, rhs

    def fidentity(t0, t1):
        return te.const(-1, t0), te.min_value(t1)
    argmax = te.comm_reducer(fcombine, fidentity, name="argmax")
    m, n = te.var("m"), te.var("n")
    idx = te.placeholder((m, n), name="idx", dtype="int32")
    val = te.placeholder((m, n), name="val", dtype="int32")
    k = te.reduce_axis((0, n), "k")
    T0, T1 = te.compute((m,), lambda i: argmax((idx[i, k], val[i, k]), axis=k), name="T")
    assert (T0.name, T1.name, T0.op is T1.op, T0.dtype) == ("T.v0", "T.v1", True, "int32")
    s = te.create_schedule(T0.op)
    text = str(tm.lower(s, [idx, val, T0, T1]))
    assert "T.v0[i] = T.v0.new" in text and "T.v1[i] = T.v1.new" in text
    f = tm.build(s, [idx, val, T0, T1])
    v = np.random.default_rng(0).permutation(7 * 13).reshape(7, 13).astype("int32")
    ix = np.tile(np.arange(13, dtype="int32"), (7, 1))
    t0, t1 = np.empty(7, "int32"), np.empty(7, "int32")
    f(ix, v, t0, t1)
    np.testing.assert_array_equal(t0, v.argmax(axis=1))
    np.testing.assert_array_equal(t1, v.max(axis=1))
    for got, want in zip(reference([T0, T1], {idx: ix, val: v, m: 7, n: 13}), (t0, t1)):
        np.testing.assert_array_equal(got, want)


@examples(25)
@given(st.data())
def test_argmax_under_random_schedules(data):
    """argmax (the reduce axis's index and the value) of rows and of matrices of random
    extents (0 and 1 included, constant or bound at call time) under random splits,
    fuses, reorders, unrolls, vectorize, parallel and rfactor (the factored stage at the
    root or computed at the output's loops), against numpy: small integers, so rows
    have ties and the smaller index must win."""
    dtype = data.draw(st.sampled_from(["float32", "int32", "float64", "int8"]), label="dtype")
    values = {"M": data.draw(MAYBE_EMPTY, label="M"), "K": data.draw(st.integers(1, 40), label="K")}
    d = Dims(data, values)
    A = te.placeholder((d["M"], d["K"]), name="A", dtype=dtype)
    k = te.reduce_axis((0, d["K"]), name="k")
    I, V = te.compute((d["M"],), lambda i: first_argmax()((k, A[i, k]), axis=k), name="R")
    s = te.create_schedule(I.op)
    if data.draw(st.booleans(), label="rfactor"):
        axis = k
        if data.draw(st.booleans(), label="split before rfactor"):
            ko, ki = s[I].split(k, factor=data.draw(split_amount(values["K"]), label="factor"))
            axis = data.draw(st.sampled_from([ko, ki]), label="rfactor outer/inner")
        IR, VR = s.rfactor(I, axis, factor_axis=data.draw(st.integers(0, 1), label="factor_axis"))
        assert s[IR] is s[VR]
        out_loops = random_schedule(data, s[I])
        where = random_attach(data, s[IR], out_loops, allow_inline=False)
        random_schedule(data, s[IR], parallel=where == "root")
    else:
        random_schedule(data, s[I])
    a = rng_of(data).integers(-3, 4, (values["M"], values["K"])).astype(dtype)
    check(s, [A, I, V], {A: a}, {I: a.argmax(axis=1).astype("int32"), V: a.max(axis=1)}, d.binds,
          name="argmax")


@examples(15)
@given(st.data())
def test_elementwise_outputs_under_random_schedules(data):
    """A compute of two elementwise values of different dtypes, random schedule; its
    consumer reads both; the pair is computed at the root, at one of the consumer's
    loops or inlined (each output substituted where it is read)."""
    values = {x: data.draw(MAYBE_EMPTY, label=x) for x in "MN"}
    d = Dims(data, values)
    A = te.placeholder((d["M"], d["N"]), name="A")
    P, Q = te.compute((d["M"], d["N"]), lambda i, j: (A[i, j] * 2.0, (A[i, j] > 0).astype("int32")), name="P")
    C = te.compute((d["M"], d["N"]), lambda i, j: P[i, j] + Q[i, j].astype("float32"), name="C")
    s = te.create_schedule(C.op)
    consumer = random_schedule(data, s[C])
    random_attach(data, s[P], consumer)
    a = rng_of(data).uniform(-1, 1, (values["M"], values["N"])).astype("float32")
    check(s, [A, C], {A: a}, {C: a * 2 + (a > 0)}, d.binds, name="pair")


def test_outputs_as_arguments_in_any_number():
    """Both outputs, one of them (the other lives in a temporary buffer) or one output of
    a pair and a consumer of the other."""
    A = te.placeholder((6,), name="A")
    P, Q = te.compute((6,), lambda i: (A[i] + 1.0, A[i] * A[i]), name="P")
    C = te.compute((6,), lambda i: Q[i] - 1.0, name="C")
    a = np.arange(6, dtype="float32")
    p, q, c = (np.zeros(6, "float32") for _ in range(3))
    tm.build(te.create_schedule(P.op), [A, P, Q])(a, p, q)
    np.testing.assert_array_equal(p, a + 1)
    np.testing.assert_array_equal(q, a * a)
    only = np.zeros(6, "float32")
    tm.build(te.create_schedule(Q.op), [A, Q])(a, only)
    np.testing.assert_array_equal(only, a * a)
    s = te.create_schedule([P.op, C.op])
    text = str(tm.lower(s, [A, P, C]))
    assert "allocate P.v1" in text
    tm.build(s, [A, P, C])(a, p, c)
    np.testing.assert_array_equal(p, a + 1)
    np.testing.assert_array_equal(c, a * a - 1)


def test_cache_write_of_a_tuple_reduction_returns_both_caches():
    A = te.placeholder((4, 9), name="A")
    k = te.reduce_axis((0, 9), name="k")
    I, V = te.compute((4,), lambda i: first_argmax()((k, A[i, k]), axis=k), name="R")
    s = te.create_schedule(I.op)
    IC, VC = s.cache_write(I, "local")
    assert (IC.name, VC.name) == ("R.local.v0", "R.local.v1")
    s[IC].compute_at(s[I], s[I].op.axis[0])
    a = np.random.default_rng(1).integers(-2, 3, (4, 9)).astype("float32")
    i, v = np.empty(4, "int32"), np.empty(4, "float32")
    tm.build(s, [A, I, V])(a, i, v)
    np.testing.assert_array_equal(i, a.argmax(axis=1))
    np.testing.assert_array_equal(v, a.max(axis=1))


def argmax_rows_in_threads():
    """argmax of 37 rows, rows bound to blocks and threads, each thread reducing its row
    serially."""
    A = te.placeholder((37, 11), name="A")
    k = te.reduce_axis((0, 11), name="k")
    I, V = te.compute((37,), lambda i: first_argmax()((k, A[i, k]), axis=k), name="R")
    s = te.create_schedule(I.op)
    bx, tx = s[I].split(s[I].op.axis[0], factor=16)
    s[I].bind(bx, te.thread_axis("blockIdx.x"))
    s[I].bind(tx, te.thread_axis("threadIdx.x"))
    return s, [A, I, V]


@needs_nvcc
def test_argmax_in_gpu_threads_compiles_to_ptx():
    s, args = argmax_rows_in_threads()
    f = tm.build(s, args, target="cuda", name=unique("argmax_rows"))
    source = f.get_source("cuda")
    assert source.count("__global__") == 1 and "R_v0[" in source and "R_v1[" in source
    assert ".entry" in f.get_source("ptx")


@needs_gpu
def test_argmax_in_gpu_threads_runs():
    s, args = argmax_rows_in_threads()
    f = tm.build(s, args, target="cuda", name=unique("argmax_rows"))
    dev = tm.cuda(0)
    a = np.random.default_rng(2).integers(-3, 4, (37, 11)).astype("float32")
    arrays = [tm.nd.array(a, device=dev), tm.nd.array(np.full(37, 9, "int32"), device=dev),
              tm.nd.array(np.full(37, np.nan, "float32"), device=dev)]
    f(*arrays)
    np.testing.assert_array_equal(arrays[1].numpy(), a.argmax(axis=1))
    np.testing.assert_array_equal(arrays[2].numpy(), a.max(axis=1))


def argmax_across_threads(rows, n, threads, rows_per_block):
    """argmax of each row, the row's elements spread over ``threads`` threads
    (threadIdx.x, the reduce axis split) and ``rows_per_block`` rows a block
    (threadIdx.y): each thread reduces its share, then a tree across threadIdx.x."""
    A = te.placeholder((rows, n), name="A")
    k = te.reduce_axis((0, n), name="k")
    I, V = te.compute((rows,), lambda i: first_argmax()((k, A[i, k]), axis=k), name="R")
    s = te.create_schedule(I.op)
    ko, ki = s[I].split(k, factor=threads)
    by, ty = s[I].split(s[I].op.axis[0], factor=rows_per_block)
    s[I].bind(by, te.thread_axis("blockIdx.x"))
    s[I].bind(ty, te.thread_axis("threadIdx.y"))
    s[I].bind(ki, te.thread_axis("threadIdx.x"))
    return s, [A, I, V]


def test_argmax_across_threads_lowers_to_one_all_reduce_of_both_values():
    s, args = argmax_across_threads(5, 40, 16, 2)
    text = str(tm.lower(s, args))
    assert "R.red.v0[0], R.red.v1[0] = argmax of R.red.v0[0], R.red.v1[0] across threadIdx.x" in text


@needs_nvcc
def test_argmax_across_threads_compiles_to_ptx():
    s, args = argmax_across_threads(5, 40, 16, 2)
    f = tm.build(s, args, target="cuda", name=unique("argmax_threads"))
    source = f.get_source("cuda")
    assert "R_red_v0_slots[" in source and "R_red_v1_slots[" in source and "__syncthreads();" in source
    assert ".entry" in f.get_source("ptx")


@needs_gpu
@pytest.mark.parametrize("rows, n, threads, rows_per_block", [(5, 40, 16, 2), (3, 7, 8, 1), (1, 1, 4, 4),
                                                               (9, 100, 32, 3)])
def test_argmax_across_threads_runs(rows, n, threads, rows_per_block):
    s, (A, I, V) = argmax_across_threads(rows, n, threads, rows_per_block)
    f = tm.build(s, [A, I, V], target="cuda", name=unique("argmax_threads"))
    dev = tm.cuda(0)
    a = np.random.default_rng(n).integers(-3, 4, (rows, n)).astype("float32")
    arrays = [tm.nd.array(a, device=dev), tm.nd.array(np.full(rows, 9, "int32"), device=dev),
              tm.nd.array(np.full(rows, np.nan, "float32"), device=dev)]
    f(*arrays)
    np.testing.assert_array_equal(arrays[1].numpy(), a.argmax(axis=1))
    np.testing.assert_array_equal(arrays[2].numpy(), a.max(axis=1))


def test_the_memo_key_tells_tuple_reducers_and_outputs_apart():
    def keyed(take_larger, outputs):
        def fcombine(x, y):
            take = (x[1] > y[1]) if take_larger else (x[1] < y[1])
            return te.if_then_else(take, x[0], y[0]), te.if_then_else(take, x[1], y[1])
        reducer = te.comm_reducer(fcombine, lambda t0, t1: (te.const(-1, t0), te.const(0.0, t1)), name="arg")
        A = te.placeholder((3, 5), name="A")
        k = te.reduce_axis((0, 5), name="k")
        I, V = te.compute((3,), lambda i: reducer((k, A[i, k]), axis=k), name="R")
        return schedule_key(te.create_schedule(I.op), [A] + [(I, V)[o] for o in outputs])
    keys = [keyed(True, [0, 1]), keyed(True, [0, 1]), keyed(False, [0, 1]), keyed(True, [1, 0]), keyed(True, [0])]
    assert None not in keys and keys[0] == keys[1] and len(set(keys)) == 4


def _pair_reducer(identity=lambda t0, t1: (0, 0.0), combine=None):
    return te.comm_reducer(combine or (lambda x, y: (x[0] + y[0], x[1] + y[1])), identity, name="pair")


@pytest.mark.parametrize("make, error, words", [
    (lambda A, k: (te.sum(A[0, k], axis=k), A[0, 0]), tm.TVMiniError, ["compute R", "one tuple reduction"]),
    (lambda A, k: _pair_reducer()((A[0, k].astype("int32"), A[0, k]), axis=k)[:1], tm.TVMiniError,
     ["compute R", "one tuple reduction"]),
    (lambda A, k: _pair_reducer(identity=lambda t0, t1: 0)((A[0, k].astype("int32"), A[0, k]), axis=k),
     tm.TVMiniError, ["pair", "fidentity gave one value", "2 values"]),
    (lambda A, k: _pair_reducer(combine=lambda x, y: x[0])((A[0, k].astype("int32"), A[0, k]), axis=k),
     tm.TVMiniError, ["pair", "fcombine gave one value"]),
    (lambda A, k: _pair_reducer(combine=lambda x, y: (x[0], x[0]))((A[0, k].astype("int32"), A[0, k]), axis=k),
     tm.DTypeError, ["pair", "value 1", "keep"]),
])
def test_malformed_tuple_computes_are_named_errors(make, error, words):
    A = te.placeholder((3, 4), name="A")
    k = te.reduce_axis((0, 4), name="k")
    with pytest.raises(error) as info:
        te.compute((3,), lambda i: make(A, k), name="R")
    assert all(w in str(info.value) for w in words), info.value


def test_what_a_tuple_reduction_cannot_do_is_refused_by_name():
    A = te.placeholder((8, 8), name="A")
    k = te.reduce_axis((0, 8), name="k")
    I, V = te.compute((8,), lambda i: first_argmax()((k, A[i, k]), axis=k), name="R")
    with pytest.raises(tm.ScheduleError, match="R has 2 outputs"):
        I.op.body
    B = te.placeholder((8,), name="B")
    P, Q = te.compute((8,), lambda i: (B[i] + 1.0, B[i] * 2.0), name="P")
    with pytest.raises(tm.BuildError, match="P.v0 is one of the 2 outputs of P"):
        tm.build(te.create_schedule(P.op), [B, P, Q], inplace={P: B})
    with pytest.raises(tm.BuildError, match="output P is not among the arguments"):
        tm.build(te.create_schedule(P.op), [B])
