"""Miscompiles and crashes found by the program fuzzer (tests/test_fuzz_programs.py),
each as the minimal te program and schedule it shrank to, checked against numpy."""
import numpy as np

import tvmini as tm
from tvmini import te


def test_a_cache_read_that_an_inlining_leaves_unread_is_dropped():
    """``S[i, j] = P[i, J[j]]`` with ``J`` cached at S's ``j`` and ``P[i, j] = A[i, 0] * 2``
    inlined: the inlined body ignores its column, so nothing reads the cache of J any
    more. Bound inference indexed the (empty) list of its consumers' accesses
    (IndexError); the unread stage is now left out of the kernel."""
    A = te.placeholder((4, 3), name="A")
    J = te.placeholder((3,), name="J", dtype="int32")
    P = te.compute((4, 3), lambda i, j: A[i, 0] * 2.0, name="P")
    S = te.compute((4, 3), lambda i, j: P[i, J[j]], name="S")
    s = te.create_schedule(S.op)
    JL = s.cache_read(J, "local", [S])
    s[JL].compute_at(s[S], S.op.axis[1])
    s[P].compute_inline()
    assert "J.local" not in str(tm.lower(s, [A, J, S]))
    f = tm.build(s, [A, J, S], name="unread_cache")
    a = np.random.default_rng(0).random((4, 3)).astype("float32")
    out = np.full((4, 3), np.nan, "float32")
    f(a, np.array([2, 0, 1], "int32"), out)
    np.testing.assert_array_equal(out, np.repeat(a[:, :1] * 2, 3, axis=1))


def test_a_shared_stage_updated_under_a_thread_dependent_where_needs_no_barrier(emulated_gpu):
    """``R[i] = sum(B[k] for k < 2 where i < 5)`` in shared memory at the block loop of
    ``S[i] = 2 R[i]``, one row per block: the ``where`` guards R's update loop with a
    condition on the thread's row. Each thread updates only its own R[i], but barriers
    were placed per shared buffer, so the update loop got one at the end of its body,
    under that condition: a BuildError ("a barrier would sit under a condition that
    differs between threads"). A write and read of the same index, naming a thread,
    now need no barrier (TVM's rule); other shared accesses keep theirs."""
    B = te.placeholder((2,), name="B")
    k = te.reduce_axis((0, 2), name="k")
    R = te.compute((8,), lambda i: te.sum(B[k], axis=k, where=i < 5), name="R")
    S = te.compute((8,), lambda i: R[i] * 2.0, name="S")
    s = te.create_schedule(S.op)
    bx, tx = s[S].split(S.op.axis[0], factor=1)
    s[S].bind(bx, te.thread_axis("blockIdx.x"))
    s[S].bind(tx, te.thread_axis("threadIdx.x"))
    s[R].set_scope("shared")
    s[R].compute_at(s[S], bx)
    s[R].bind(s[R].op.axis[0], te.thread_axis("threadIdx.x"))
    f = tm.build(s, [B, S], target="cuda", name="shared_where")
    source = f.get_source("cuda")
    assert source.count("__syncthreads()") == 1          # between R's stores and S's read only
    dev = tm.cuda(0)
    out = tm.nd.array(np.full(8, np.nan, "float32"), device=dev)
    f(tm.nd.array(np.array([1.5, -0.25], "float32"), device=dev), out)
    np.testing.assert_allclose(out.numpy(), np.where(np.arange(8) < 5, 2.5, 0.0))
