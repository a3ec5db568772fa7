"""Out-of-bounds safety: generated code never touches memory outside its buffers.

Every argument of the kernels below is a numpy array placed directly against a
``PROT_NONE`` guard page (``tvmini.testing.guard.guarded_array``): first with the
page right after the array's last byte (``where="end"``), then right before its
first byte (``where="start"``). Any read or write past either edge kills the
process with SIGSEGV, so each case runs in a child interpreter
(``assert_no_fault``). Splits are non-divisible on purpose; results are also
checked against numpy inside the child.
"""
import signal
import textwrap

import pytest

from tvmini.testing.guard import assert_no_fault, run_isolated

PRELUDE = textwrap.dedent('''
    import numpy as np
    import tvmini as tm
    from tvmini import te
    from tvmini.testing.guard import guarded_array

    rng = np.random.default_rng(0)

    def rand(*shape, dtype="float32"):
        return rng.uniform(-1, 1, size=shape).astype(dtype)

    def out(*shape, dtype="float32"):
        return np.full(shape, np.nan, dtype)

    def run_guarded(f, args, expected, rtol=1e-5, atol=1e-5):
        """Run ``f`` on guarded copies of ``args`` (both edges); ``expected`` maps
        argument positions of outputs to their numpy values."""
        for where in ("end", "start"):
            guarded = []
            for a in args:
                g = guarded_array(a.shape, a.dtype, where=where)
                g[...] = a
                guarded.append(g)
            f(*guarded)
            for i, want in expected.items():
                np.testing.assert_allclose(guarded[i], want, rtol=rtol, atol=atol,
                                           err_msg=f"output {i}, guard at the {where}")
''')


def run_case(body):
    """Run PRELUDE + ``body`` in a child; fail on any signal or exception."""
    result = assert_no_fault(PRELUDE + textwrap.dedent(body), timeout=180)
    assert "DONE" in result.stdout, result.stdout + result.stderr


# --------------------------------------------------------------------------- kernels

ELEMENTWISE = '''
n = te.var("n")
A = te.placeholder((n,), name="A")
B = te.placeholder((n,), name="B")
C = te.compute((n,), lambda i: A[i] * B[i] + 1.0, name="C")
for factor in (1, 3, 8, 64, 1500):
    for inner in ("serial", "vectorize", "unroll"):
        s = te.create_schedule(C.op)
        xo, xi = s[C].split(C.op.axis[0], factor=factor)
        if inner == "vectorize":
            s[C].vectorize(xi)
        elif inner == "unroll" and factor <= 8:
            s[C].unroll(xi)
        s[C].parallel(xo)
        f = tm.build(s, [A, B, C], name=f"ew_{factor}_{inner}")
        for size in (1, 5, 1021):
            a, b = rand(size), rand(size)
            run_guarded(f, [a, b, out(size)], {2: a * b + 1.0})
print("DONE")
'''

ELEMENTWISE_2D = '''
M, N = 37, 29
A = te.placeholder((M, N), name="A")
B = te.placeholder((N,), name="B")
C = te.compute((M, N), lambda i, j: A[i, j] - B[j], name="C")
for fx, fy in ((8, 8), (5, 7), (64, 3), (1, 30)):
    s = te.create_schedule(C.op)
    xo, yo, xi, yi = s[C].tile(C.op.axis[0], C.op.axis[1], fx, fy)
    fused = s[C].fuse(xo, yo)
    s[C].parallel(fused)
    s[C].vectorize(yi)
    f = tm.build(s, [A, B, C], name=f"ew2_{fx}_{fy}")
    a, b = rand(M, N), rand(N)
    run_guarded(f, [a, b, out(M, N)], {2: a - b})
    s = te.create_schedule(C.op)
    fused = s[C].fuse(*C.op.axis)
    fo, fi = s[C].split(fused, factor=fx * fy + 1)
    f = tm.build(s, [A, B, C], name=f"ew2f_{fx}_{fy}")
    run_guarded(f, [a, b, out(M, N)], {2: a - b})
print("DONE")
'''

REDUCTION = '''
M, K = 23, 61
A = te.placeholder((M, K), name="A")
k = te.reduce_axis((0, K), name="k")
R = te.compute((M,), lambda i: te.sum(A[i, k], axis=k), name="R")
a = rand(M, K)
for fi, fk in ((4, 8), (5, 7), (32, 64), (1, 100)):
    s = te.create_schedule(R.op)
    io, ii = s[R].split(R.op.axis[0], factor=fi)
    ko, ki = s[R].split(R.op.reduce_axis[0], factor=fk)
    s[R].reorder(io, ko, ii, ki)
    f = tm.build(s, [A, R], name=f"red_{fi}_{fk}")
    run_guarded(f, [a, out(M)], {1: a.sum(1)}, atol=1e-4)
    # rfactor of the inner part of the split reduce axis
    s = te.create_schedule(R.op)
    ko, ki = s[R].split(R.op.reduce_axis[0], factor=fk)
    RF = s.rfactor(R, ki)
    s[RF].compute_at(s[R], R.op.axis[0])
    f = tm.build(s, [A, R], name=f"rf_{fi}_{fk}")
    run_guarded(f, [a, out(M)], {1: a.sum(1)}, atol=1e-4)
# a where condition that reads A under a split that does not divide K: the split's guard
# is tested before the condition's read (LLVM evaluates both sides of an &&)
W = te.compute((M,), lambda i: te.sum(A[i, k], axis=k, where=A[i, k] > 0), name="W")
for fk in (4, 7):
    for factored in (False, True):
        s = te.create_schedule(W.op)
        ko, ki = s[W].split(W.op.reduce_axis[0], factor=fk)
        if factored:
            s.rfactor(W, ki)
        f = tm.build(s, [A, W], name=f"where_{fk}_{factored}")
        run_guarded(f, [a, out(M)], {1: np.where(a > 0, a, 0).sum(1)}, atol=1e-4)
# max over both axes of a symbolic tensor
n = te.var("n")
X = te.placeholder((n, 13), name="X")
k1, k2 = te.reduce_axis((0, n), "k1"), te.reduce_axis((0, 13), "k2")
Y = te.compute((1,), lambda z: te.max(X[k1, k2], axis=[k1, k2]), name="Y")
s = te.create_schedule(Y.op)
s[Y].split(k1, factor=6)
s[Y].split(k2, nparts=4)
f = tm.build(s, [X, Y], name="max_all")
for rows in (1, 7, 50):
    x = rand(rows, 13)
    run_guarded(f, [x, out(1)], {1: x.max(keepdims=True).reshape(1)})
print("DONE")
'''

MATMUL = '''
M, N, K = 33, 17, 29
A = te.placeholder((M, K), name="A")
B = te.placeholder((K, N), name="B")
k = te.reduce_axis((0, K), name="k")
C = te.compute((M, N), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
a, b = rand(M, K), rand(K, N)
for fx, fy, fk, at in ((8, 8, 4, "yo"), (5, 6, 7, "xo"), (64, 3, 30, "yo"), (7, 16, 1, "xo")):
    s = te.create_schedule(C.op)
    CC = s.cache_write(C, "local")
    xo, yo, xi, yi = s[C].tile(C.op.axis[0], C.op.axis[1], fx, fy)
    s[CC].compute_at(s[C], yo if at == "yo" else xo)
    ko, ki = s[CC].split(CC.op.reduce_axis[0], factor=fk)
    xc, yc = CC.op.axis
    s[CC].reorder(ko, xc, ki, yc)
    s[CC].vectorize(yc)
    AA = s.cache_read(A, "local", [CC])
    s[AA].compute_at(s[CC], ko)
    s[C].parallel(xo)
    f = tm.build(s, [A, B, C], name=f"mm_{fx}_{fy}_{fk}_{at}")
    run_guarded(f, [a, b, out(M, N)], {2: a @ b}, atol=1e-4)
print("DONE")
'''

CONV = '''
def conv(n, c, h, w, f, kh, kw, stride, pad):
    X = te.placeholder((n, c, h, w), name="X")
    W = te.placeholder((f, c, kh, kw), name="W")
    P = te.compute((n, c, h + 2 * pad, w + 2 * pad),
                   lambda a, b, y, x: te.if_then_else(
                       te.all(y >= pad, y < h + pad, x >= pad, x < w + pad), X[a, b, y - pad, x - pad], 0.0),
                   name="P")
    oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    rc, ry, rx = te.reduce_axis((0, c), "rc"), te.reduce_axis((0, kh), "ry"), te.reduce_axis((0, kw), "rx")
    Y = te.compute((n, f, oh, ow), lambda a, ff, y, x: te.sum(
        P[a, rc, y * stride + ry, x * stride + rx] * W[ff, rc, ry, rx], axis=[rc, ry, rx]), name="Y")
    return X, W, P, Y, oh, ow

def np_conv(x, wt, stride, pad, oh, ow):
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    res = np.zeros((x.shape[0], wt.shape[0], oh, ow))
    for ry in range(wt.shape[2]):
        for rx in range(wt.shape[3]):
            win = xp[:, :, ry:ry + stride * (oh - 1) + 1:stride, rx:rx + stride * (ow - 1) + 1:stride]
            res += np.einsum("nchw,fc->nfhw", win, wt[:, :, ry, rx])
    return res

for (n, c, h, w, f, kh, kw, stride, pad) in ((1, 3, 9, 7, 4, 3, 3, 1, 1), (2, 2, 10, 11, 3, 3, 2, 2, 2),
                                              (1, 1, 5, 5, 2, 1, 1, 1, 2)):
    X, W, P, Y, oh, ow = conv(n, c, h, w, f, kh, kw, stride, pad)
    x, wt = rand(n, c, h, w), rand(f, c, kh, kw)
    want = np_conv(x, wt, stride, pad, oh, ow)
    for mode in ("inline", "root", "at_y", "at_x"):
        s = te.create_schedule(Y.op)
        yo, yi = s[Y].split(Y.op.axis[2], factor=3)
        xo, xi = s[Y].split(Y.op.axis[3], factor=4)
        s[Y].reorder(Y.op.axis[0], Y.op.axis[1], yo, xo, yi, xi)
        if mode == "inline":
            s[P].compute_inline()
        elif mode == "at_y":
            s[P].compute_at(s[Y], yo)
        elif mode == "at_x":
            s[P].compute_at(s[Y], xo)
        f_ = tm.build(s, [X, W, Y], name=f"conv_{n}{c}{h}{w}_{mode}")
        run_guarded(f_, [x, wt, out(n, f, oh, ow)], {2: want}, atol=1e-4)
print("DONE")
'''

STENCIL_CHAIN = '''
n = te.var("n")
A = te.placeholder((n,), name="A")
P = te.compute((n,), lambda i: A[i] * 2.0, name="P")
Q = te.compute((n,), lambda i: P[te.max(i - 1, 0)] + P[i] + P[te.min(i + 1, n - 1)], name="Q")
for factor in (1, 4, 7, 100):
    for mode in ("root", "inline", "at"):
        s = te.create_schedule(Q.op)
        qo, qi = s[Q].split(Q.op.axis[0], factor=factor)
        if mode == "inline":
            s[P].compute_inline()
        elif mode == "at":
            s[P].compute_at(s[Q], qo)
        f = tm.build(s, [A, Q], name=f"stencil_{factor}_{mode}")
        for size in (1, 2, 9, 1000):
            a = rand(size)
            p = a * 2
            want = p[np.maximum(np.arange(size) - 1, 0)] + p + p[np.minimum(np.arange(size) + 1, size - 1)]
            run_guarded(f, [a, out(size)], {1: want})
print("DONE")
'''

POOL_SOFTMAX = '''
# max pooling with -inf padding, pad stage at a loop of the pool
N, C, H, W, k, stride, pad = 1, 2, 11, 9, 3, 2, 1
X = te.placeholder((N, C, H, W), name="X")
P = te.compute((N, C, H + 2 * pad, W + 2 * pad), lambda a, b, y, x: te.if_then_else(
    te.all(y >= pad, y < H + pad, x >= pad, x < W + pad), X[a, b, y - pad, x - pad], float("-inf")), name="P")
oh, ow = (H + 2 * pad - k) // stride + 1, (W + 2 * pad - k) // stride + 1
ry, rx = te.reduce_axis((0, k), "ry"), te.reduce_axis((0, k), "rx")
Y = te.compute((N, C, oh, ow), lambda a, b, y, x: te.max(P[a, b, y * stride + ry, x * stride + rx], axis=[ry, rx]),
               name="Y")
x = rand(N, C, H, W)
xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-np.inf)
want = np.full((N, C, oh, ow), -np.inf, "float32")
for i in range(k):
    for j in range(k):
        want = np.maximum(want, xp[:, :, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride])
for mode in ("inline", "at"):
    s = te.create_schedule(Y.op)
    yo, yi = s[Y].split(Y.op.axis[2], factor=4)
    if mode == "inline":
        s[P].compute_inline()
    else:
        s[P].compute_at(s[Y], yo)
    f = tm.build(s, [X, Y], name=f"pool_{mode}")
    run_guarded(f, [x, out(N, C, oh, ow)], {1: want})

# row softmax over symbolic extents, reductions split non-divisibly
m, n = te.var("m"), te.var("n")
X = te.placeholder((m, n), name="X")
k1, k2 = te.reduce_axis((0, n), "k1"), te.reduce_axis((0, n), "k2")
Mx = te.compute((m,), lambda i: te.max(X[i, k1], axis=k1), name="Mx")
E = te.compute((m, n), lambda i, j: te.exp(X[i, j] - Mx[i]), name="E")
S = te.compute((m,), lambda i: te.sum(E[i, k2], axis=k2), name="S")
Z = te.compute((m, n), lambda i, j: E[i, j] / S[i], name="Z")
s = te.create_schedule(Z.op)
zo, zi = s[Z].split(Z.op.axis[1], factor=8)
s[S].compute_at(s[Z], Z.op.axis[0])
s[S].split(k2, factor=5)
s[E].compute_inline()
s[Mx].split(k1, factor=3)
f = tm.build(s, [X, Z], name="softmax")
for rows, cols in ((1, 1), (3, 17), (9, 64)):
    x = rand(rows, cols)
    e = np.exp(x - x.max(1, keepdims=True))
    run_guarded(f, [x, out(rows, cols)], {1: e / e.sum(1, keepdims=True)})
print("DONE")
'''

GUARDED_SELECTS = '''
# Select arms whose loads are proven inside their buffers run unguarded (no branch, no
# mask); loads one element past either edge stay guarded. Vectorized and scalar.
n = 37
A = te.placeholder((n,), name="A")
B = te.placeholder((n,), name="B")
C = te.compute((n,), lambda i: te.if_then_else(A[i] > 0, B[te.min(i * 2, n - 1)], B[(i + 1) // 2])
               + te.if_then_else(i >= 1, B[i - 1], 0.0) + te.if_then_else(i < n - 1, B[i + 1], 0.0), name="C")
a, b = rand(n), rand(n)
idx = np.arange(n)
prev = np.where(idx >= 1, b[np.maximum(idx - 1, 0)], 0)
nxt = np.where(idx < n - 1, b[np.minimum(idx + 1, n - 1)], 0)
want = np.where(a > 0, b[np.minimum(idx * 2, n - 1)], b[(idx + 1) // 2]) + prev + nxt
for factor in (None, 8, 5):
    s = te.create_schedule(C.op)
    if factor:
        _, xi = s[C].split(C.op.axis[0], factor=factor)
        s[C].vectorize(xi)
    f = tm.build(s, [A, B, C], name=f"selects_{factor}")
    run_guarded(f, [a, b, out(n)], {2: want})

# the pooling gradients (clamped window indices) with their default schedules
from tvmini import topi
for (shape, k, stride, pad) in (((2, 3, 9, 7), 2, 2, 0), ((2, 3, 9, 7), 3, 2, 1), ((1, 2, 5, 6), 3, 1, 1)):
    X = te.placeholder(shape, name="X")
    oh, ow = (d.value for d in topi.max_pool2d(X, k, stride, pad).shape[2:])
    G = te.placeholder((shape[0], shape[1], oh, ow), name="G")
    x, g = rand(*shape), rand(shape[0], shape[1], oh, ow)
    M = topi.max_pool2d_grad(G, X, k, stride, pad)
    fm = tm.build(topi.default_schedule(M), [G, X, M], name="max_pool_grad")
    want = np.zeros(shape, "float32")
    fm(g, x, want)
    run_guarded(fm, [g, x, out(*shape)], {2: want})
    V = topi.avg_pool2d_grad(G, shape, k, stride, pad)
    fv = tm.build(topi.default_schedule(V), [G, V], name="avg_pool_grad")
    want = np.zeros(shape, "float32")
    fv(g, want)
    run_guarded(fv, [g, out(*shape)], {1: want})
print("DONE")
'''

CLAMPED_ROWS = '''
# rows read clamped to the last one (the GEMM's row padding), staged per tile of rows:
# the tile-sized window of A sits inside A at the last tiles
for M, pad, factor in ((10, 14, 4), (23, 1, 23), (7, 30, 6), (64, 8, 16), (5, 3, 9)):
    A = te.placeholder((M, 3), name="A")
    Out = te.compute((M + pad, 3), lambda i, j: A[te.min(i, M - 1), j] * 2.0, name="Out")
    s = te.create_schedule(Out.op)
    cache = s.cache_read(A, "local", [Out])
    io, _ = s[Out].split(Out.op.axis[0], factor=factor)
    s[cache].compute_at(s[Out], io)
    f = tm.build(s, [A, Out], name=f"clamped_{M}_{pad}_{factor}")
    a = rand(M, 3)
    run_guarded(f, [a, out(M + pad, 3)], {1: a[np.minimum(np.arange(M + pad), M - 1)] * 2})
print("DONE")
'''

CASES = {
    "clamped_rows_cached": CLAMPED_ROWS,
    "elementwise_1d_symbolic": ELEMENTWISE,
    "elementwise_2d_tile_fuse": ELEMENTWISE_2D,
    "reduction_split_rfactor": REDUCTION,
    "matmul_cache_write_compute_at": MATMUL,
    "conv2d_padding": CONV,
    "stencil_chain": STENCIL_CHAIN,
    "pool_and_softmax": POOL_SOFTMAX,
    "guarded_selects": GUARDED_SELECTS,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_no_access_outside_buffers(case):
    run_case(CASES[case])


# --------------------------------------------------------------------------- the harness itself

def test_harness_catches_numpy_write_past_the_end():
    code = PRELUDE + textwrap.dedent('''
        a = guarded_array((1001,), "float32", where="end")
        a[-1] = 1.0                              # the last element is fine
        print("inside ok", flush=True)
        past = np.lib.stride_tricks.as_strided(a, shape=(1002,))
        past[-1] = 1.0                           # one element past the end
        print("not reached", flush=True)
    ''')
    result = run_isolated(code)
    assert result.returncode != 0
    assert result.returncode == -signal.SIGSEGV, result.stderr
    assert "inside ok" in result.stdout and "not reached" not in result.stdout
    with pytest.raises(AssertionError, match="SIGSEGV"):
        assert_no_fault(code)


def test_harness_catches_numpy_read_before_the_start():
    code = PRELUDE + textwrap.dedent('''
        a = guarded_array((16,), "float64", where="start")
        print(a[0], flush=True)                  # the first element is fine
        before = np.lib.stride_tricks.as_strided(a[1:], shape=(2,), strides=(-16,))
        print(before[1], flush=True)             # a.data - 8 bytes: one element before the start
        print("not reached", flush=True)
    ''')
    result = run_isolated(code)
    assert result.returncode == -signal.SIGSEGV, result.stderr
    assert "not reached" not in result.stdout


def test_harness_catches_a_kernel_that_reads_past_its_input():
    """A te definition that reads A at indices it is given in another tensor, shifted
    past A's ends (a user error tvmini cannot see: ``A[i + 1]`` is refused, see
    test_reads_outside_a_tensor_are_refused): the guarded input makes the compiled kernel
    fault, so the OOB cases above would catch overruns of generated code."""
    body = '''
        n = te.var("n")
        A = te.placeholder((n,), name="A")
        I = te.placeholder((n,), name="I", dtype="int32")
        B = te.compute((n,), lambda i: A[I[i]], name="B")
        s = te.create_schedule(B.op)
        f = tm.build(s, [A, I, B], name="overrun")
        a = guarded_array((1000,), "float32", where="{where}")
        b = np.zeros(1000, "float32")
        f(a, np.arange(1000, dtype="int32") + {shift}, b)
        print("DONE")
    '''
    ok = run_isolated(PRELUDE + textwrap.dedent(body.format(shift=0, where="end")))
    assert ok.returncode == 0 and "DONE" in ok.stdout, ok.stderr
    past_end = run_isolated(PRELUDE + textwrap.dedent(body.format(shift=1, where="end")))
    assert past_end.returncode == -signal.SIGSEGV, past_end.stdout + past_end.stderr
    before_start = run_isolated(PRELUDE + textwrap.dedent(body.format(shift=-1, where="start")))
    assert before_start.returncode == -signal.SIGSEGV, before_start.stdout + before_start.stderr


# --------------------------------------------------------------------------- random schedules

RANDOM_SCHEDULES = '''
import os, sys
sys.path.insert(0, {tests_dir!r})
from hypothesis import HealthCheck, Phase, settings
settings.register_profile("oob", max_examples={examples}, deadline=None, database=None, derandomize=True,
                          phases=[Phase.generate], suppress_health_check=list(HealthCheck))
settings.load_profile("oob")
import numpy as np
import strategies
from tvmini.testing.guard import guarded_array
strategies.GUARD = lambda shape, dtype, where: guarded_array(shape, dtype, where=where)
import test_schedule_props
test_schedule_props.{family}()
print("DONE")
'''

FAMILIES = ["test_elementwise_broadcast", "test_elementwise_chain_inline_and_compute_at", "test_reduction",
            "test_matmul", "test_batched_matmul", "test_transpose_reshape", "test_conv2d_nchw", "test_pooling",
            "test_row_softmax", "test_empty_extents"]


@pytest.mark.parametrize("family", FAMILIES)
def test_random_schedules_stay_inside_buffers(family):
    """The property tests' random shapes and schedules, run in a child on guarded
    arrays (the guard after, then before every argument). On a crash the child's
    output ends with the lowered IR of the kernel that faulted."""
    import os
    code = RANDOM_SCHEDULES.format(tests_dir=os.path.dirname(os.path.abspath(__file__)),
                                   examples=8, family=family)
    result = assert_no_fault(code, timeout=300)
    assert "DONE" in result.stdout, result.stdout[-5000:] + result.stderr
