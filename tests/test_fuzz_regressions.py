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
