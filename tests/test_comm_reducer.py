"""te.comm_reducer: reductions the user defines (TVM's "general commutative reduction").

Random schedules of a user's reducer are drawn by test_schedule_props.py::test_reduction
("absmax") and, across GPU threads, by test_cuda_cross_thread.py; here the TVM tutorial's
product, the build memo's keying of such reducers, and the errors.
"""
import numpy as np
import pytest

import tvmini as tm
from tvmini import te
from tvmini.codegen.schedule_key import schedule_key
from tvmini.testing import reference


def product_rows(reducer):
    n, m = te.var("n"), te.var("m")
    A = te.placeholder((n, m), name="A")
    k = te.reduce_axis((0, m), name="k")
    B = te.compute((n,), lambda i: reducer(A[i, k], axis=k), name="B")
    return n, m, A, B


def test_the_tvm_tutorial_product_over_symbolic_extents():
    product = te.comm_reducer(lambda x, y: x * y, lambda t: te.const(1, dtype=t), name="product")
    n, m, A, B = product_rows(product)
    s = te.create_schedule(B.op)
    ko, ki = s[B].split(B.op.reduce_axis[0], factor=4)
    s.rfactor(B, ki)
    assert "B.rf[" in str(tm.lower(s, [A, B])) and "product(" in str(B.op.body)
    f = tm.build(s, [A, B], name="product_rows")
    a = np.random.default_rng(0).uniform(0.5, 1.5, (7, 10)).astype("float32")
    b = np.empty(7, "float32")
    f(a, b)
    np.testing.assert_allclose(b, a.prod(axis=1), rtol=1e-5)
    np.testing.assert_allclose(reference([B], {A: a, n: 7, m: 10})[0], a.prod(axis=1), rtol=1e-5)


def test_two_reducers_of_one_name_are_two_kernels():
    """The build memo keys a user's reducer by its combining expression and identity,
    not by its name: equal definitions share a kernel, different ones do not."""
    a = np.arange(1, 13, dtype="int32").reshape(3, 4)
    results, keys = [], []
    for combine, identity in ((lambda x, y: x | y, 0), (lambda x, y: x ^ y, 0), (lambda x, y: x | y, 0)):
        reducer = te.comm_reducer(combine, lambda t, v=identity: v, name="bits")
        A = te.placeholder((3, 4), name="A", dtype="int32")
        k = te.reduce_axis((0, 4), name="k")
        B = te.compute((3,), lambda i: reducer(A[i, k], axis=k), name="B")
        s = te.create_schedule(B.op)
        keys.append(schedule_key(s, [A, B]))
        f = tm.build(s, [A, B], name="bits")
        out = np.empty(3, "int32")
        f(a, out)
        results.append(out)
    np.testing.assert_array_equal(results[0], np.bitwise_or.reduce(a, axis=1))
    np.testing.assert_array_equal(results[1], np.bitwise_xor.reduce(a, axis=1))
    np.testing.assert_array_equal(results[2], results[0])
    assert keys[0] == keys[2] != keys[1] and None not in keys


@pytest.mark.parametrize("combine, identity, error, words", [
    (lambda x, y: (x, y), lambda t: 0, tm.TVMiniError, ["pair", "2 values", "reduce a tuple"]),
    (lambda x, y: x + te.var("z", "float32"), lambda t: 0, tm.TVMiniError, ["pair", "only its two arguments"]),
    (lambda x, y: (x + y).astype("float64"), lambda t: 0, tm.DTypeError, ["pair", "float64", "keep"]),
])
def test_bad_reducers_are_named_errors(combine, identity, error, words):
    reducer = te.comm_reducer(combine, identity, name="pair")
    A = te.placeholder((3, 4), name="A")
    k = te.reduce_axis((0, 4), name="k")
    with pytest.raises(error) as info:
        te.compute((3,), lambda i: reducer(A[i, k], axis=k), name="B")
    assert all(w in str(info.value) for w in words), info.value
    with pytest.raises(tm.TVMiniError, match="needs axis="):
        reducer(A[0, 0])


def test_the_memo_key_of_a_reducer_never_borrows_a_freed_expression():
    """The key wrote each reducer's combining expression over fresh variables that were
    freed at once: a later reducer's variables could reuse their ids and take their
    labels (x and y swapped), so x - y and y - x shared a kernel now and then."""
    keys = set()
    combines = [lambda x, y: x - y, lambda x, y: y - x, lambda x, y: x + y, lambda x, y: y + x]
    for f in combines:
        for g in combines:
            A = te.placeholder((3, 4), name="A")
            source = A
            for h in (f, g):
                k = te.reduce_axis((0, 4), name="k")
                red = te.comm_reducer(h, lambda t: 0.0, name="r")
                src = source
                source = te.compute((3, 4), lambda i, j: red(src[i, k] + j, axis=k), name="R")
            keys.add(schedule_key(te.create_schedule(source.op), [A, source]))
    assert len(keys) == 16 and None not in keys


@pytest.mark.parametrize("identity, fragment", [
    (lambda t: float("inf"), "not a whole number"), (lambda t: np.int64(0), None), (lambda t: np.float32(0), None),
])
def test_identities_from_numbers_of_any_kind(identity, fragment):
    reducer = te.comm_reducer(lambda x, y: te.max(x, y), identity, name="m")
    A = te.placeholder((3, 4), name="A", dtype="int32")
    k = te.reduce_axis((0, 4), name="k")
    if fragment is not None:
        with pytest.raises(tm.DTypeError, match=fragment):
            te.compute((3,), lambda i: reducer(A[i, k], axis=k), name="B")
        return
    B = te.compute((3,), lambda i: reducer(A[i, k], axis=k), name="B")
    a = np.arange(12, dtype="int32").reshape(3, 4)
    np.testing.assert_array_equal(reference([B], {A: a})[0], a.max(axis=1))


def test_a_reducer_reading_a_tensor_is_refused_and_a_constant_one_broadcasts():
    S = te.placeholder((1,), name="S")
    A = te.placeholder((3, 4), name="A")
    k = te.reduce_axis((0, 4), name="k")
    scaled = te.comm_reducer(lambda x, y: x + y * S[0], lambda t: 0.0, name="scaled")
    with pytest.raises(tm.TVMiniError, match="fcombine reads tensor S"):
        te.compute((3,), lambda i: scaled(A[i, k], axis=k), name="B")
    seven = te.comm_reducer(lambda x, y: te.const(7.0, "float32"), lambda t: 0.0, name="seven")
    B = te.compute((3,), lambda i: seven(A[i, k], axis=k), name="B")
    np.testing.assert_array_equal(reference([B], {A: np.ones((3, 4), "float32")})[0], np.full(3, 7.0))

