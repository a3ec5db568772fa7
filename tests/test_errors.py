"""Every misuse raises a TVMiniError subclass whose message names what is wrong.

Schedule misuse raises ``ScheduleError`` naming the stage and the axis (or tensor);
runtime argument errors are checked before the native call and name the kernel and
the argument.
"""
import contextlib

import numpy as np
import pytest

import tvmini as tm
from tvmini import te


@contextlib.contextmanager
def raises(exc, *fragments):
    """Like ``pytest.raises(exc)``, and the message contains every fragment."""
    with pytest.raises(exc) as info:
        yield info
    message = str(info.value)
    assert isinstance(info.value, tm.TVMiniError), f"{type(info.value).__name__} is not a TVMiniError"
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in error message {message!r}"


def chain():
    """A -> B -> C -> D (all 16x16)."""
    A = te.placeholder((16, 16), name="A")
    B = te.compute((16, 16), lambda i, j: A[i, j] + 1, name="B")
    C = te.compute((16, 16), lambda i, j: B[i, j] * 2, name="C")
    D = te.compute((16, 16), lambda i, j: C[i, j] - 1, name="D")
    return A, B, C, D


def rowsum():
    A = te.placeholder((16, 16), name="A")
    k = te.reduce_axis((0, 16), name="k")
    R = te.compute((16,), lambda i: te.sum(A[i, k], axis=k), name="R")
    E = te.compute((16,), lambda i: R[i] + 1, name="E")
    return A, R, E


# --------------------------------------------------------------------------- schedule misuse

def test_split_axis_of_another_stage():
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    with raises(tm.ScheduleError, "stage C", "axis i", "another stage"):
        s[C].split(B.op.axis[0], factor=4)


def test_annotate_axis_of_another_stage():
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    with raises(tm.ScheduleError, "stage D", "axis j"):
        s[D].vectorize(C.op.axis[1])
    with raises(tm.ScheduleError, "stage D", "axis i"):
        s[D].parallel(C.op.axis[0])
    with raises(tm.ScheduleError, "stage D", "axis j"):
        s[D].unroll(B.op.axis[1])


def test_split_same_axis_twice():
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    s[D].split(D.op.axis[0], factor=4)
    with raises(tm.ScheduleError, "stage D", "axis i", "already split"):
        s[D].split(D.op.axis[0], factor=2)


def test_fuse_then_split_original_axis():
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    s[D].fuse(D.op.axis[0], D.op.axis[1])
    with raises(tm.ScheduleError, "stage D", "axis j"):
        s[D].split(D.op.axis[1], factor=2)


def test_reorder_with_axis_of_another_stage():
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    with raises(tm.ScheduleError, "stage D", "axis i", "another stage"):
        s[D].reorder(D.op.axis[1], C.op.axis[0])


def test_reorder_same_axis_twice():
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    i, j = D.op.axis
    with raises(tm.ScheduleError, "stage D", "i"):
        s[D].reorder(i, i)


def test_fuse_non_consecutive_axes():
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    io, ii = s[D].split(D.op.axis[0], factor=4)
    with raises(tm.ScheduleError, "stage D", "i.outer", "j", "consecutive"):
        s[D].fuse(io, D.op.axis[1])


def test_fuse_out_of_order_axes():
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    i, j = D.op.axis
    with raises(tm.ScheduleError, "stage D", "i", "j"):
        s[D].fuse(j, i)


def test_split_factor_zero():
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    with raises(tm.ScheduleError, "stage D", "i", "0"):
        s[D].split(D.op.axis[0], factor=0)
    with raises(tm.ScheduleError, "stage D", "j"):
        s[D].split(D.op.axis[1], nparts=0)
    with raises(tm.ScheduleError, "stage D", "j"):
        s[D].split(D.op.axis[1], factor=-2)
    with raises(tm.ScheduleError, "stage D", "j"):
        s[D].split(D.op.axis[1])
    with raises(tm.ScheduleError, "stage D", "j"):
        s[D].split(D.op.axis[1], factor=2, nparts=2)


def test_compute_at_cycle():
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    s[B].compute_at(s[C], C.op.axis[0])
    with raises(tm.ScheduleError, "stage C", "B.j", "cycle"):
        s[C].compute_at(s[B], B.op.axis[1])


def test_compute_at_longer_cycle():
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    s[C].compute_at(s[D], D.op.axis[0])
    s[B].compute_at(s[C], C.op.axis[1])
    E = te.compute((16, 16), lambda i, j: D[i, j] + 1, name="E")
    s = te.create_schedule(E.op)
    s[B].compute_at(s[C], C.op.axis[0])
    s[C].compute_at(s[D], D.op.axis[0])
    with raises(tm.ScheduleError, "stage D", "B.i", "cycle"):
        s[D].compute_at(s[B], B.op.axis[0])


def test_compute_at_own_axis():
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    with raises(tm.ScheduleError, "stage C", "i"):
        s[C].compute_at(s[C], C.op.axis[0])


def test_compute_at_non_leaf_axis():
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    s[C].split(C.op.axis[0], factor=4)
    with raises(tm.ScheduleError, "stage C", "axis i"):
        s[B].compute_at(s[C], C.op.axis[0])


def test_compute_at_output():
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    with raises(tm.ScheduleError, "stage D", "output", "C.i"):
        s[D].compute_at(s[C], C.op.axis[0])


def test_compute_at_stage_read_outside_its_loop():
    """B computed at C.j is also read by D, a root stage: D would read B outside that loop."""
    A = te.placeholder((16, 16), name="A")
    B = te.compute((16, 16), lambda i, j: A[i, j] + 1, name="B")
    C = te.compute((16, 16), lambda i, j: B[i, j] * 2, name="C")
    D = te.compute((16, 16), lambda i, j: B[i, j] + C[i, j], name="D")
    s = te.create_schedule(D.op)
    s[B].compute_at(s[C], C.op.axis[1])
    with raises(tm.ScheduleError, "stage B", "C.j", "D reads it outside that loop"):
        tm.lower(s, [A, D])
    with raises(tm.ScheduleError, "stage B", "C.j"):
        tm.build(s, [A, D])


def test_compute_at_after_reader_was_inlined_is_checked():
    """B at C, then C inlined into D: B's only reader is now D, not C."""
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    s[B].compute_at(s[C], C.op.axis[0])
    s[C].compute_inline()
    with raises(tm.ScheduleError, "stage B", "C.i"):
        tm.lower(s, [A, D])


def test_inline_reduction():
    A, R, E = rowsum()
    s = te.create_schedule(E.op)
    with raises(tm.ScheduleError, "stage R", "reduction", "k"):
        s[R].compute_inline()


def test_inline_output():
    A, R, E = rowsum()
    s = te.create_schedule(E.op)
    with raises(tm.ScheduleError, "stage E", "output"):
        s[E].compute_inline()


def test_vectorize_reduce_axis():
    A, R, E = rowsum()
    s = te.create_schedule(E.op)
    with raises(tm.ScheduleError, "stage R", "vectorize", "reduce axis k"):
        s[R].vectorize(R.op.reduce_axis[0])


def test_vectorize_split_reduce_axis():
    A, R, E = rowsum()
    s = te.create_schedule(E.op)
    ko, ki = s[R].split(R.op.reduce_axis[0], factor=4)
    with raises(tm.ScheduleError, "stage R", "vectorize", "k.inner"):
        s[R].vectorize(ki)


def test_vectorize_fused_reduce_axes():
    A = te.placeholder((8, 8, 8), name="A")
    k1, k2 = te.reduce_axis((0, 8), "k1"), te.reduce_axis((0, 8), "k2")
    R = te.compute((8,), lambda i: te.sum(A[i, k1, k2], axis=[k1, k2]), name="R")
    s = te.create_schedule(R.op)
    fused = s[R].fuse(k1, k2)
    with raises(tm.ScheduleError, "stage R", fused.name):
        s[R].vectorize(fused)


def test_parallel_reduce_axis():
    A, R, E = rowsum()
    s = te.create_schedule(E.op)
    with raises(tm.ScheduleError, "stage R", "parallel", "reduce axis k"):
        s[R].parallel(R.op.reduce_axis[0])
    ko, ki = s[R].split(R.op.reduce_axis[0], nparts=2)
    with raises(tm.ScheduleError, "stage R", "parallel", "k.outer"):
        s[R].parallel(ko)


def test_fuse_data_with_reduce_axis():
    A, R, E = rowsum()
    s = te.create_schedule(E.op)
    with raises(tm.ScheduleError, "stage R", "i", "k"):
        s[R].fuse(R.op.axis[0], R.op.reduce_axis[0])


def test_bind_on_cpu_target():
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    bx, tx = s[D].split(D.op.axis[0], factor=4)
    s[D].bind(bx, te.thread_axis("blockIdx.x"))
    s[D].bind(tx, te.thread_axis("threadIdx.x"))
    with raises(tm.ScheduleError, "stage D", "i.outer", "blockIdx.x", "llvm"):
        tm.build(s, [A, D], target="llvm")


def test_bind_needs_thread_axis():
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    with raises(tm.ScheduleError, "stage D", "i"):
        s[D].bind(D.op.axis[0], D.op.axis[1])


def test_unknown_thread_axis_tag():
    with raises(tm.ScheduleError, "blockIdx.w"):
        te.thread_axis("blockIdx.w")


def test_thread_axis_with_tvms_range_form():
    """te.thread_axis((0, 32), "threadIdx.x") (TVM's form, a range first) was refused as
    an unknown tag; the range must count from 0 with a constant extent."""
    from tvmini.tir.expr import Range, const
    for dom in [(0, 32), [0, 32], Range(const(0), const(32))]:
        tx = te.thread_axis(dom, "threadIdx.x")
        assert (tx.thread_tag, tx.name, tx.dom.extent.value) == ("threadIdx.x", "threadIdx.x", 32)
    assert te.thread_axis("threadIdx.x", "tx").name == "tx" and te.thread_axis("threadIdx.x").dom is None
    assert te.thread_axis(tag="blockIdx.y", name="by").name == "by"
    for dom in [(1, 32), (0, 0), (0, 2.5), 32, (0, te.var("n")), (0,)]:
        with raises(tm.ScheduleError, "thread_axis threadIdx.x", "must be (0, extent)"):
            te.thread_axis(dom, "threadIdx.x")
    with raises(tm.ScheduleError, "blockIdx.w"):
        te.thread_axis((0, 4), "blockIdx.w")


def test_thread_axis_range_must_match_the_bound_loop():
    """A declared thread extent is checked at build time against the extent of the loop
    bound to it, where the schedule gives it (a stage computed at the root)."""
    A = te.placeholder((64,), name="A")
    B = te.compute((64,), lambda i: A[i] * 2, name="B")
    for factor in (32, 16):
        s = te.create_schedule(B.op)
        bo, bi = s[B].split(B.op.axis[0], factor=factor)
        s[B].bind(bo, te.thread_axis((0, 64 // factor), "blockIdx.x"))
        s[B].bind(bi, te.thread_axis((0, 32), "threadIdx.x"))
        if factor == 32:
            assert "threadIdx.x" in tm.build(s, [A, B], target="cuda").get_source("cuda")
        else:
            with raises(tm.ScheduleError, "stage B", "i.inner", "extent 16", "threadIdx.x", "(0, 32)", "(0, 16)"):
                tm.build(s, [A, B], target="cuda")


@pytest.mark.parametrize("tag", ["blockIdx.x", "blockIdx.y"])
def test_bind_reduce_axis_to_blocks(tag):
    """A reduction can span a block's threads (they meet in shared memory;
    test_cuda_cross_thread.py), not blocks: binding a reduce axis to blockIdx is an error."""
    for part in (None, 0, 1):
        A, R, E = rowsum()
        s = te.create_schedule(E.op)
        axis = R.op.reduce_axis[0]
        if part is not None:
            axis = s[R].split(axis, factor=4)[part]
        with raises(tm.ScheduleError, "stage R", axis.name, tag, "threadIdx", "rfactor"):
            s[R].bind(axis, te.thread_axis(tag))


@pytest.mark.parametrize("how", ["bind", "vectorize", "unroll", "parallel"])
def test_split_or_fuse_of_a_bound_or_annotated_axis(how):
    """The binding (annotation) stayed on an axis that was no longer a loop: the build
    then failed saying the new loops were unbound, not mentioning the split."""
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    i, j = D.op.axis
    if how == "bind":
        s[D].bind(j, te.thread_axis("threadIdx.x"))
    else:
        getattr(s[D], how)(j)
    label = "bound to threadIdx.x" if how == "bind" else {"vectorize": "vectorized", "unroll": "unrolled",
                                                           "parallel": "parallel"}[how]
    with raises(tm.ScheduleError, "stage D", "split", "axis j", label):
        s[D].split(j, factor=2)
    with raises(tm.ScheduleError, "stage D", "fuse", "axis j", label):
        s[D].fuse(i, j)


def test_bind_two_axes_of_a_stage_to_one_thread_axis():
    """Both loops would take the thread's index: only the diagonal was computed."""
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    i, j = D.op.axis
    s[D].bind(i, te.thread_axis("threadIdx.x"))
    with raises(tm.ScheduleError, "stage D", "i", "j", "threadIdx.x"):
        s[D].bind(j, te.thread_axis("threadIdx.x"))
    s[D].bind(i, te.thread_axis("threadIdx.x"))      # binding the same axis again is fine
    s[D].bind(j, te.thread_axis("threadIdx.y"))


def test_split_factor_any_integer_type():
    """numpy integers (a shape's entries, ``np.prod``) are positive ints too."""
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    xo, xi = s[D].split(D.op.axis[0], factor=np.int64(4))
    s[D].split(D.op.axis[1], nparts=np.uint8(2))
    with raises(tm.ScheduleError, "stage D", "i.inner"):
        s[D].split(xi, factor=True)
    with raises(tm.ScheduleError, "stage D", "i.inner"):
        s[D].split(xi, factor=4.0)
    a = np.random.rand(16, 16).astype("float32")
    d = np.zeros_like(a)
    tm.build(s, [A, D])(a, d)
    np.testing.assert_allclose(d, (a + 1) * 2 - 1, rtol=1e-6)


def test_cache_read_for_non_reader():
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    with raises(tm.ScheduleError, "stage C", "A"):
        s.cache_read(A, "local", [C])


def test_cache_read_unknown_scope():
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    with raises(tm.ScheduleError, "A", "texture"):
        s.cache_read(A, "texture", [B])


def test_cache_write_after_split():
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    s[D].split(D.op.axis[0], factor=4)
    with raises(tm.ScheduleError, "D"):
        s.cache_write(D, "local")


def test_rfactor_of_non_reduce_axis():
    A, R, E = rowsum()
    s = te.create_schedule(E.op)
    with raises(tm.ScheduleError, "stage R", "axis i"):
        s.rfactor(R, R.op.axis[0])


def test_rfactor_of_non_reduction():
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    with raises(tm.ScheduleError, "stage C"):
        s.rfactor(C, C.op.axis[0])


def test_schedule_of_placeholder():
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    with raises(tm.ScheduleError, "A", "placeholder"):
        s[A].split(A.op.shape[0], factor=2)


def test_stage_of_tensor_outside_schedule():
    A, B, C, D = chain()
    s = te.create_schedule(C.op)
    with raises(tm.ScheduleError, "D"):
        s[D]


# --------------------------------------------------------------------------- lowering / build

def test_placeholder_missing_from_args():
    n = te.var("n")
    X = te.placeholder((n, 4), name="X")
    Y = te.placeholder((n,), name="Y")
    Z = te.compute((n, 4), lambda i, j: X[i, j] + Y[i], name="Z")
    s = te.create_schedule(Z.op)
    with raises(tm.BuildError, "placeholder Y", "Z"):
        tm.lower(s, [X, Z])
    with raises(tm.BuildError, "placeholder Y", "Z"):
        tm.build(s, [X, Z])


def test_output_missing_from_args():
    X = te.placeholder((4,), name="X")
    Z = te.compute((4,), lambda i: X[i] * 2, name="Z")
    s = te.create_schedule(Z.op)
    with raises(tm.BuildError, "output Z"):
        tm.lower(s, [X])
    with raises(tm.BuildError, "output Z"):
        tm.build(s, [X])


def test_tensor_twice_in_args():
    X = te.placeholder((4,), name="X")
    Z = te.compute((4,), lambda i: X[i] * 2, name="Z")
    s = te.create_schedule(Z.op)
    with raises(tm.BuildError, "X"):
        tm.build(s, [X, X, Z])


def test_unknown_target():
    X = te.placeholder((4,), name="X")
    Z = te.compute((4,), lambda i: X[i] * 2, name="Z")
    s = te.create_schedule(Z.op)
    with raises(tm.BuildError, "opencl"):
        tm.build(s, [X, Z], target="opencl")



def test_tvm_dict_target():
    """TVM's dict form {"kind": ...} builds; other keys, or a target that is neither a
    str nor a dict, are a BuildError (a dict raised a raw TypeError: unhashable)."""
    X = te.placeholder((4,), name="X")
    Z = te.compute((4,), lambda i: X[i] * 2, name="Z")
    s = te.create_schedule(Z.op)
    f = tm.build(s, [X, Z], target={"kind": "llvm"})
    z = np.zeros(4, "float32")
    f(np.arange(4, dtype="float32"), z)
    np.testing.assert_array_equal(z, [0, 2, 4, 6])
    with raises(tm.BuildError, "opencl"):
        tm.build(s, [X, Z], target={"kind": "opencl"})
    with raises(tm.BuildError, "only 'kind'", "'mcpu'"):
        tm.build(s, [X, Z], target={"kind": "llvm", "mcpu": "skylake"})
    with raises(tm.BuildError, "only 'kind'"):
        tm.build(s, [X, Z], target={"device": "cpu"})
    with raises(tm.BuildError, "list", "'llvm'"):
        tm.build(s, [X, Z], target=["llvm"])


# --------------------------------------------------------------------------- runtime arguments

@pytest.fixture(scope="module")
def addk():
    """Z[i, j] = X[i, j] + Y[i] over a symbolic n."""
    n = te.var("n")
    X = te.placeholder((n, 4), name="X")
    Y = te.placeholder((n,), name="Y")
    Z = te.compute((n, 4), lambda i, j: X[i, j] + Y[i], name="Z")
    s = te.create_schedule(Z.op)
    return tm.build(s, [X, Y, Z], name="addk")


def arrays(n=5):
    return (np.ones((n, 4), "float32"), np.arange(n, dtype="float32"), np.zeros((n, 4), "float32"))


def test_read_only_input_is_accepted_and_read_only_output_refused():
    """A read-only numpy array passed as an input the kernel only reads (a
    memory-mapped weight) was refused with "kernels write their outputs in place"."""
    A = te.placeholder((8,), name="A")
    C = te.compute((8,), lambda i: A[i] * 2, name="C")
    f = tm.build(te.create_schedule(C.op), [A, C], name="double")
    a, c = np.arange(8, dtype="float32"), np.zeros(8, "float32")
    a.flags.writeable = False
    f(a, c)
    np.testing.assert_array_equal(c, 2 * a)
    with raises(tm.ShapeError, "kernel 'double': argument C is a read-only numpy array, and the kernel writes it",
                "C.copy()"):
        f(c, a)

def test_call_works(addk):
    x, y, z = arrays()
    addk(x, y, z)
    np.testing.assert_allclose(z, x + y[:, None])
    z2 = tm.nd.empty((5, 4), "float32")
    addk(tm.nd.array(x), tm.nd.array(y), z2)
    np.testing.assert_allclose(z2.numpy(), x + y[:, None])


def test_wrong_argument_count(addk):
    x, y, z = arrays()
    with raises(TypeError, "addk", "3 arguments", "got 2"):
        addk(x, y)
    with raises(TypeError, "addk", "3 arguments", "got 4"):
        addk(x, y, z, z)


def test_wrong_shape(addk):
    x, y, z = arrays()
    with raises(tm.ShapeError, "addk", "argument Z", "(5, 3)", "axis 1"):
        addk(x, y, np.zeros((5, 3), "float32"))
    with raises(tm.ShapeError, "addk", "argument Z", "dimensions"):
        addk(x, y, np.zeros((5, 4, 1), "float32"))
    with raises(tm.ShapeError, "addk", "argument Y"):
        addk(x, np.zeros((5, 1), "float32"), z)


def test_inconsistent_symbolic_extent(addk):
    x, y, z = arrays()
    with raises(tm.ShapeError, "addk", "n", "5", "6", "X", "Y"):
        addk(x, np.zeros(6, "float32"), z)
    with raises(tm.ShapeError, "addk", "n", "Z"):
        addk(x, y, np.zeros((7, 4), "float32"))


def test_wrong_dtype(addk):
    x, y, z = arrays()
    with raises(tm.DTypeError, "addk", "argument Y", "float64", "float32"):
        addk(x, y.astype("float64"), z)
    with raises(tm.DTypeError, "addk", "argument Z", "int32", "float32"):
        addk(x, y, tm.nd.array(z.astype("int32")))


def test_not_an_array(addk):
    x, y, z = arrays()
    with raises(tm.DTypeError, "addk", "argument Y", "list"):
        addk(x, [0.0] * 5, z)


def test_non_contiguous_numpy_array(addk):
    x, y, z = arrays()
    with raises(tm.ShapeError, "addk", "argument X", "contiguous"):
        addk(np.ones((4, 5), "float32").T, y, z)
    with raises(tm.ShapeError, "addk", "argument Z", "contiguous"):
        addk(x, y, np.zeros((5, 8), "float32")[:, ::2])


def test_read_only_numpy_array(addk):
    x, y, z = arrays()
    z.setflags(write=False)
    with raises(tm.ShapeError, "addk", "argument Z", "read-only"):
        addk(x, y, z)


def test_misaligned_numpy_array(addk):
    x, y, z = arrays()
    raw = np.zeros(4 * 20 + 1, np.uint8)
    bad = raw[1:].view(np.float32).reshape(5, 4)
    with raises(tm.ShapeError, "addk", "argument X", "aligned"):
        addk(bad, y, z)


def test_failed_call_writes_nothing(addk):
    x, y, _ = arrays()
    z = np.full((5, 4), 7.0, "float32")
    with pytest.raises(tm.TVMiniError):
        addk(x, np.zeros(6, "float32"), z)
    assert (z == 7.0).all()


def test_split_after_compute_at_moves_the_attachment_inside():
    A = te.placeholder((16, 15), name="A")
    B = te.compute((16, 15), lambda i, j: A[i, j] * 2, name="B")
    C = te.compute((16, 15), lambda i, j: B[i, j] + 1, name="C")
    s = te.create_schedule(C.op)
    i, j = C.op.axis
    s[B].compute_at(s[C], j)
    _, ji = s[C].split(j, factor=4)
    assert s[B].attach_point() is ji
    f = tm.build(s, [A, C], name="attach_after_split")
    a = np.random.rand(16, 15).astype("float32")
    c = np.zeros_like(a)
    f(a, c)
    np.testing.assert_allclose(c, a * 2 + 1)


def test_fusing_the_attach_axis_as_outer_is_a_schedule_error():
    A = te.placeholder((16, 15), name="A")
    B = te.compute((16, 15), lambda i, j: A[i, j] * 2, name="B")
    C = te.compute((16, 15), lambda i, j: B[i, j] + 1, name="C")
    s = te.create_schedule(C.op)
    i, j = C.op.axis
    s[B].compute_at(s[C], i)
    s[C].fuse(i, j)
    with raises(tm.ScheduleError, "stage B is computed at C.i", "fused as the outer axis"):
        tm.lower(s, [A, C])


def test_unnamed_tensors_build_together():
    """Placeholders/computes without name= share the default name; as arguments they
    get placeholder, placeholder_1, ... in argument order (they were a BuildError)."""
    A, B = te.placeholder((4,)), te.placeholder((4,))
    C = te.compute((4,), lambda i: A[i] - B[i])
    f = tm.build(te.create_schedule(C.op), [A, B, C])
    assert [spec.name for spec in f.arg_specs] == ["placeholder", "placeholder_1", "compute"]
    a, b, c = np.arange(4, dtype="float32"), np.ones(4, "float32"), np.zeros(4, "float32")
    f(a, b, c)
    np.testing.assert_array_equal(c, a - b)


def test_two_tensors_the_user_named_alike():
    A, B = te.placeholder((4,), name="X"), te.placeholder((4,), name="X")
    C = te.compute((4,), lambda i: A[i] + B[i], name="C")
    with raises(tm.BuildError, "'X'", "different names"):
        tm.build(te.create_schedule(C.op), [A, B, C])


def test_inlined_stage_as_an_argument():
    """An inlined stage gets no loops: as an argument it was silently left unwritten."""
    A, B, C, D = chain()
    s = te.create_schedule(D.op)
    s[B].compute_inline()
    with raises(tm.ScheduleError, "stage B", "inlined", "argument"):
        tm.build(s, [A, B, D])


def test_int64_var_as_an_extent():
    n = te.var("n", dtype="int64")
    with raises(tm.ShapeError, "placeholder A", "n", "int64", "int32"):
        te.placeholder((n,), name="A")


def test_a_reduce_axis_listed_twice_or_used_outside_its_reduction():
    """``te.sum(..., axis=[k, k])`` ran two loops over k (a row sum of ones gave 64);
    a stray reduce axis was reported as a missing scalar argument."""
    A = te.placeholder((8, 8), name="A")
    k, k2 = te.reduce_axis((0, 8), "k"), te.reduce_axis((0, 8), "k2")
    with raises(tm.TVMiniError, "te.sum", "reduce axis k is listed twice"):
        te.compute((8,), lambda i: te.sum(A[i, k], axis=[k, k]), name="C")
    with raises(tm.ScheduleError, "compute D", "reduce axis k2 is used outside a reduction"):
        te.compute((8,), lambda i: A[i, k2] + 1.0, name="D")
    with raises(tm.ScheduleError, "compute E", "reduce axis k2"):
        te.compute((8,), lambda i: te.sum(A[i, k] * A[k2, i], axis=k), name="E")


def test_compute_at_a_loop_that_rfactor_or_cache_write_removed():
    """The attach point vanished when the stage's loops were rebuilt (a raw ValueError)."""
    for rewrite in ("rfactor", "cache_write"):
        A = te.placeholder((6, 10), name="A")
        B = te.compute((6, 10), lambda i, j: A[i, j] + 1.0, name="B")
        k = te.reduce_axis((0, 10), "k")
        C = te.compute((6,), lambda i: te.sum(B[i, k] * 2.0, axis=k), name="C")
        s = te.create_schedule(C.op)
        s[B].compute_at(s[C], k)
        if rewrite == "rfactor":
            s.rfactor(C, s[C].split(k, factor=3)[1])
        else:
            s.cache_write(C, "global")
        with raises(tm.ScheduleError, "stage B is computed at C.k", "no longer has", "call compute_at after"):
            tm.build(s, [A, C])


def test_compute_at_a_producer_says_it_does_not_read_the_stage():
    A = te.placeholder((6, 6), name="A")
    B = te.compute((6, 6), lambda i, j: A[i, j] + 1, name="B")
    C = te.compute((6, 6), lambda i, j: B[i, j] * 2, name="C")
    D = te.compute((6, 6), lambda i, j: C[i, j] - 1, name="D")
    s = te.create_schedule(D.op)
    s[C].compute_at(s[B], B.op.axis[0])
    with raises(tm.ScheduleError, "stage C is computed at B.i", "B does not read C"):
        tm.build(s, [A, D])
