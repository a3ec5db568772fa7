"""TVM te idioms a porter writes first (TOPI's traversal, tutorials' calls): each works
as in TVM, or names what tvmini does not support instead of a raw Python error."""
import numpy as np
import pytest

import tvmini as tm
from tvmini import te
from strategies import unique


def test_topi_style_traversal_call_syntax_and_constant_extents():
    A = te.placeholder((3, 4), name="A")
    B = te.compute(A.shape, lambda *i: A(*i) + 1.0, name="B")          # TOPI's elementwise idiom
    C = te.compute((int(A.shape[0]), 4), lambda i, j: B[i, j] * 2.0, name="C")
    assert [t.name for t in C.op.input_tensors] == ["B"]               # a property, as TVM's
    assert [t.name for t in C.op.input_tensors[0].op.input_tensors] == ["A"]
    with pytest.raises(tm.DTypeError, match="only a constant converts to int"):
        int(te.var("n"))
    n = te.size_var("n")
    assert n.dtype == "int32"
    s = te.create_schedule(C.op)
    assert s.normalize() is s
    f = tm.build(s, [A, C], target_host="llvm")
    assert f[f.entry_name] is f
    a, c = np.ones((3, 4), "float32"), tm.nd.array(np.zeros((3, 4), "float32"))
    f(a, c)
    np.testing.assert_array_equal(c.asnumpy(), np.full((3, 4), 4.0))


def test_set_store_predicate_and_set_scope():
    """The reduction tutorial's ``set_store_predicate(tx.var.equal(0))`` (tvmini stores
    a cross-thread reduction from one thread anyway), and a predicate on a CPU stage:
    elements where it fails are not written."""
    A = te.placeholder((6,), name="A")
    B = te.compute((6,), lambda i: A[i] * 2.0, name="B")
    s = te.create_schedule(B.op)
    s[B].set_store_predicate(B.op.axis[0] % 2 == 0)
    out = np.full(6, -1.0, "float32")
    tm.build(s, [A, B], name=unique("predicated"))(np.arange(6, dtype="float32"), out)
    np.testing.assert_array_equal(out, [0, -1, 4, -1, 8, -1])
    with pytest.raises(tm.ScheduleError, match="store predicate .* is int32, not bool"):
        s[B].set_store_predicate(B.op.axis[0] + 1)

    n = 37
    X = te.placeholder((4, n), name="X")
    k = te.reduce_axis((0, n), name="k")
    R = te.compute((4,), lambda i: te.sum(X[i, k], axis=k), name="R")
    s = te.create_schedule(R.op)
    ko, ki = s[R].split(k, factor=16)
    tx = te.thread_axis("threadIdx.x")
    s[R].bind(R.op.axis[0], te.thread_axis("blockIdx.x"))
    s[R].bind(ki, tx)
    s[R].set_store_predicate(tx.var.equal(0))
    text = str(tm.lower(s, [X, R]))
    assert "sum of R.red[0] across threadIdx.x" in text and "k.inner == 0" in text
    T = te.compute((4, n), lambda i, j: X[i, j] + 1.0, name="T")
    U = te.compute((4, n), lambda i, j: T[i, j] * 2.0, name="U")
    s = te.create_schedule(U.op)
    s[T].set_scope("local")
    assert "in local" in str(tm.lower(s, [X, U]))
    with pytest.raises(tm.ScheduleError, match="unknown scope 'texture'"):
        s[T].set_scope("texture")


@pytest.mark.parametrize("call, words", [
    (lambda s, B, A: s[B].pragma(B.op.axis[0], "auto_unroll_max_step", 16), r"pragma \(TVM's\) is not supported"),
    (lambda s, B, A: s[B].storage_align(B.op.axis[0], 32, 1), "storage_align"),
    (lambda s, B, A: s[B].double_buffer(), "double_buffer"),
    (lambda s, B, A: s[B].tensorize(B.op.axis[1], None), "tensorize"),
    (lambda s, B, A: s[B].env_threads([te.thread_axis("threadIdx.x")]), "env_threads"),
    (lambda s, B, A: s.create_group(outputs=B, inputs=A), "create_group"),
    (lambda s, B, A: te.extern, r"te.extern \(TVM's\) is not supported"),
    (lambda s, B, A: te.scan, "te.scan"),
    (lambda s, B, A: te.sum(A[0, te.reduce_axis((0, 4))], axis=te.reduce_axis((0, 4)), init=1.0), "init="),
    (lambda s, B, A: tm.build(s, [A, B], target="c"), "not C source"),
    (lambda s, B, A: tm.build(s, [A, B], target_host="cuda"), "target_host 'cuda'"),
])
def test_what_tvmini_lacks_is_named(call, words):
    A = te.placeholder((3, 4), name="A")
    B = te.compute((3, 4), lambda i, j: A[i, j] * 2.0, name="B")
    s = te.create_schedule(B.op)
    with pytest.raises(tm.TVMiniError, match=words):
        call(s, B, A)
    with pytest.raises(AttributeError, match="no attribute 'no_such_thing'"):
        te.no_such_thing
