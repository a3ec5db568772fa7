"""topi elementwise and broadcast operators: default CPU schedules against numpy.

Every op is built through ``topi.default_schedule`` (the path the graph layer takes) on
random shapes (size-1 and odd extents, broadcasting on either side, some symbolic) and
compared with numpy; large shapes take the parallel and vector branches of the rules.
Gradient kernels are checked against central finite differences of the forward kernel
in float64.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from tvmini import te, topi
from strategies import assert_matches, examples, random_array, run_default, unique

UNARY = {
    "negative": np.negative, "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs,
    "relu": lambda x: np.maximum(x, 0), "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "tanh": np.tanh,
    "cos": np.cos, "sin": np.sin, "square": np.square, "reciprocal": np.reciprocal,
    "sign": np.sign, "identity": lambda x: x,
}
POSITIVE = {"log", "sqrt", "reciprocal"}
BINARY = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
    "maximum": np.maximum, "minimum": np.minimum, "equal": np.equal, "not_equal": np.not_equal,
    "less": np.less, "less_equal": np.less_equal, "greater": np.greater, "greater_equal": np.greater_equal,
}
SHAPE = st.lists(st.sampled_from([1, 1, 2, 3, 5, 8, 9, 16, 17, 33]), min_size=0, max_size=3)


def symbolic(data, shape, label):
    """Some extents of ``shape`` replaced by te.vars (the same var for equal positions)."""
    exprs, binds = [], {}
    for k, n in enumerate(shape):
        if n > 1 and data.draw(st.booleans(), label=f"{label} axis {k} symbolic"):
            v = te.var(f"n{k}")
            exprs.append(v)
            binds[v] = n
        else:
            exprs.append(n)
    return exprs, binds


@examples(20)
@given(st.data())
def test_unary_ops(data):
    name = data.draw(st.sampled_from(sorted(UNARY)), label="op")
    dtype = data.draw(st.sampled_from(["float32", "float64"]), label="dtype")
    shape = data.draw(SHAPE, label="shape")
    exprs, binds = symbolic(data, shape, "x")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    low = 0.1 if name in POSITIVE else -2.0
    x = rng.uniform(low, 2.0, size=shape).astype(dtype)
    X = te.placeholder(exprs, name="X", dtype=dtype)
    out = getattr(topi, name)(X)
    assert out.dtype == dtype and out.op.tag == "elemwise"
    assert_matches(run_default(out, [X], [x], binds), UNARY[name](x).astype(dtype), dtype, what=name)


@examples(20)
@given(st.data())
def test_floor_divide_and_mod_round_as_python_and_never_trap(data):
    """``//`` rounds toward negative infinity and ``%`` takes the divisor's sign, for every
    dtype, with broadcasting, as numpy; an integer divisor of 0 gives 0 (numpy's answer)
    and the most negative integer over -1 wraps, with no hardware trap. Floats are
    multiples of 1/8, so no quotient rounds onto an integer (where numpy's fmod-based
    float rounding and floor(a / b) may differ by one)."""
    dtype = data.draw(st.sampled_from(["int8", "uint8", "int32", "int64", "float32", "float64"]), label="dtype")
    shape = data.draw(st.lists(st.sampled_from([1, 2, 3, 7, 16]), min_size=1, max_size=2), label="shape")
    b_shape = [n if data.draw(st.booleans(), label=f"b keeps axis {k}") else 1 for k, n in enumerate(shape)]
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    if dtype.startswith("float"):
        a = (rng.integers(-64, 65, size=shape) / 8).astype(dtype)
        b = (rng.choice(np.r_[-64:0, 1:65], size=b_shape) / 8).astype(dtype)
    else:
        info = np.iinfo(dtype)
        a = rng.integers(max(info.min, -1000), min(info.max, 1000), size=shape, endpoint=True).astype(dtype)
        b = rng.integers(max(info.min, -9), 10, size=b_shape, endpoint=True).astype(dtype)
        a.flat[0], b.flat[0] = info.min, (-1 if info.min < 0 else 0)
        b.flat[-1] = 0
    A, B = te.placeholder(shape, name="A", dtype=dtype), te.placeholder(b_shape, name="B", dtype=dtype)
    with np.errstate(all="ignore"):
        for name, want in (("floor_divide", np.floor_divide(a, b)), ("floor_mod", np.remainder(a, b))):
            got = run_default(getattr(topi, name)(A, B), [A, B], [a, b])
            assert got.dtype == dtype
            np.testing.assert_array_equal(got, want, err_msg=f"{name} {dtype}")


def division_operands(rng, dtype, n):
    """(a, b) of ``dtype`` with the dtype's extremes, divisors 0 and (signed) -1, and
    the most negative integer over -1 among them."""
    info = np.iinfo(dtype)
    a = rng.integers(info.min, info.max, size=n, endpoint=True).astype(dtype)
    b = rng.choice(np.array([0, 1, 2, 3, 7, info.max, info.min] + ([-1, -2, -7] if info.min else []),
                            dtype=np.int64), size=n).astype(dtype)
    a[:3] = [info.min, info.max, info.min]
    b[:3] = [-1 if info.min else 0, 0, 0]
    return a, b


@examples(20)
@given(st.data())
def test_te_integer_division_never_traps(data):
    """te's ``//`` and ``%`` on integers, by a tensor's element, a runtime scalar or a
    constant, are numpy's for every divisor: 0 gives 0, the most negative integer over
    -1 wraps (``tir.passes.guard_division``; they killed the process with SIGFPE)."""
    dtype = data.draw(st.sampled_from(["int8", "uint8", "int32", "int64"]), label="dtype")
    n = data.draw(st.integers(3, 40), label="n")
    a, b = division_operands(np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed")), dtype, n)
    divisor = data.draw(st.sampled_from(["tensor", "scalar", "constant"]), label="divisor")
    A, B = te.placeholder((n,), name="A", dtype=dtype), te.placeholder((n,), name="B", dtype=dtype)
    d = te.var("d", dtype="int32")
    const = data.draw(st.sampled_from([0, 1, 3] + ([-1] if dtype != "uint8" else [])), label="constant")
    by = {"tensor": lambda i: B[i], "scalar": lambda i: d.astype(dtype), "constant": lambda i: te.const(const, dtype)}
    Q = te.compute((n,), lambda i: A[i] // by[divisor](i), name="Q")
    R = te.compute((n,), lambda i: A[i] % by[divisor](i), name="R")
    s = te.create_schedule([Q.op, R.op])
    if data.draw(st.booleans(), label="split"):
        s[Q].split(Q.op.axis[0], factor=4)
    f = tm.build(s, [A, B, d, Q, R])
    scalar = int(b[data.draw(st.integers(0, 2), label="scalar divisor")])       # -1 or 0
    want_b = {"tensor": b, "scalar": np.full(n, scalar).astype(dtype), "constant": np.full(n, const).astype(dtype)}
    q, r = np.ones(n, dtype), np.ones(n, dtype)
    f(a, b, scalar, q, r)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(q, a // want_b[divisor])
        np.testing.assert_array_equal(r, a % want_b[divisor])


FLOAT_SPECIALS = [0.0, -0.0, 0.1, -0.1, 0.7, 3.0, -3.0, 7.5, -7.5, 1e20, -1e20, 1e30, 1e-30, np.inf, -np.inf, np.nan]


def float_division_operands(dtype):
    """Every pair of the special values above (as ``dtype``): (dividends, divisors)."""
    values = np.array(FLOAT_SPECIALS, dtype)
    return np.repeat(values, len(values)), np.tile(values, len(values))


def float_floor_quotient_and_remainder(A, B):
    Q = te.compute(A.shape, lambda i: A[i] // B[i], name="Q")
    R = te.compute(A.shape, lambda i: A[i] % B[i], name="R")
    return Q, R


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("vectorized", [False, True])
def test_float_floor_division_and_remainder_are_numpys(dtype, vectorized):
    """Float ``//`` and ``%`` follow numpy (Python's rule: from the exact ``fmod``):
    ``a - floor(a / b) * b`` gave ``1e20 % 3 == 0``, ``7.5 % inf == nan`` and
    ``3 // 0.1 == 30``. Every pair of special values, in scalar and vector code."""
    a, b = float_division_operands(dtype)
    A, B = te.placeholder(a.shape, name="A", dtype=dtype), te.placeholder(a.shape, name="B", dtype=dtype)
    Q, R = float_floor_quotient_and_remainder(A, B)
    s = te.create_schedule([Q.op, R.op])
    if vectorized:
        for T in (Q, R):
            s[T].vectorize(s[T].split(T.op.axis[0], factor=8)[1])
    f = tm.build(s, [A, B, Q, R], name=f"float_divmod_{dtype}_{vectorized}")
    q, r = np.zeros_like(a), np.zeros_like(a)
    f(a, b, q, r)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(q, a // b)
        np.testing.assert_array_equal(r, a % b)
        assert (np.signbit(q) == np.signbit(a // b)).all() and (np.signbit(r) == np.signbit(a % b)).all()


def test_division_by_the_zero_extent_of_another_argument_gives_zero():
    """An extent is 0 while another loop runs (``A[i] // n``, ``n`` the length of an
    empty C): the division is guarded (it killed the process with SIGFPE)."""
    m, n = te.var("m"), te.var("n")
    A = te.placeholder((m,), name="A", dtype="int32")
    C = te.placeholder((n,), name="C", dtype="int32")
    B = te.compute((m,), lambda i: A[i] // n + A[i] % n, name="B")
    f = tm.build(te.create_schedule(B.op), [A, C, B], name="div_by_empty_extent")
    a, b = np.arange(-2, 3, dtype="int32"), np.ones(5, "int32")
    f(a, np.zeros(0, "int32"), b)
    np.testing.assert_array_equal(b, np.zeros(5, "int32"))
    f(a, np.zeros(3, "int32"), b)
    np.testing.assert_array_equal(b, a // 3 + a % 3)


def test_index_division_by_extents_stays_plain():
    """Fused and split loops over symbolic extents divide by those extents: no guard."""
    n, m = te.var("n"), te.var("m")
    A = te.placeholder((n, m), name="A")
    B = te.compute((n, m), lambda i, j: A[i, j] * 2, name="B")
    s = te.create_schedule(B.op)
    s[B].split(s[B].fuse(*B.op.axis), nparts=3)
    text = str(tm.lower(s, [A, B]))
    assert "// m" in text and "select" not in text, text


@pytest.mark.parametrize("dtype", ["int32", "uint8", "float32"])
def test_floor_divide_and_mod_take_python_numbers_on_either_side(dtype):
    a = np.array([7, 200, 0, 3, 1] if dtype == "uint8" else [7, -7, 0, 3, -1], dtype)
    A = te.placeholder((5,), name="A", dtype=dtype)
    with np.errstate(all="ignore"):
        for out, want in ((topi.floor_divide(A, 2), a // np.array(2, dtype)), (topi.floor_mod(7, A), np.array(7, dtype) % a),
                          (topi.floor_divide(A, 0), a // np.array(0, dtype))):
            np.testing.assert_array_equal(run_default(out, [A], [a]), want)


@examples(20)
@given(st.data())
def test_binary_broadcast(data):
    name = data.draw(st.sampled_from(sorted(BINARY)), label="op")
    dtype = data.draw(st.sampled_from(["float32", "float64", "int32"]), label="dtype")
    out_shape = data.draw(SHAPE, label="out shape")
    a_shape = [n if data.draw(st.booleans(), label=f"a keeps axis {k}") else 1 for k, n in enumerate(out_shape)]
    b_rank = data.draw(st.integers(0, len(out_shape)), label="b rank")
    b_shape = [n if data.draw(st.booleans(), label=f"b keeps axis {k}") else 1
               for k, n in enumerate(out_shape[len(out_shape) - b_rank:])]
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    a = random_array(rng, a_shape, dtype)
    b = random_array(rng, b_shape, dtype)
    if name == "divide" and dtype == "int32":
        b[b == 0] = 3
    A = te.placeholder(a_shape, name="A", dtype=dtype)
    B = te.placeholder(b_shape, name="B", dtype=dtype)
    scalar = data.draw(st.sampled_from([None, "left", "right"]), label="scalar operand")
    if scalar == "left":
        out, want, ins, arrays = getattr(topi, name)(2, B), BINARY[name](np.array(2, dtype), b), [B], [b]
    elif scalar == "right":
        out, want, ins, arrays = getattr(topi, name)(A, 2), BINARY[name](a, np.array(2, dtype)), [A], [a]
    else:
        out, want, ins, arrays = getattr(topi, name)(A, B), BINARY[name](a, b), [A, B], [a, b]
    want = np.asarray(want)
    if dtype == "int32" and name == "divide":
        want = want.astype("float32")
    assert out.dtype == want.dtype.name, (out.dtype, want.dtype)
    assert_matches(run_default(out, ins, arrays), want, out.dtype, what=name)


@pytest.mark.parametrize("n", [1, 7, 64, 1000])
def test_maximum_minimum_and_relu_propagate_nan(n):
    """NaN in, NaN out, as numpy's maximum/minimum and torch's relu; infinities are
    ordered as usual and of two equal zeros the second operand is the result, sign and
    all, as numpy's (scalar, vector and tail paths)."""
    rng = np.random.default_rng(n)
    a = rng.standard_normal(n).astype("float32")
    b = rng.standard_normal(n).astype("float32")
    a[rng.random(n) < 0.3] = np.nan
    b[rng.random(n) < 0.3] = np.nan
    b[:3] = [np.inf, -np.inf, -0.0][:min(3, n)]
    if n >= 7:
        a[3:7], b[3:7] = [0.0, -0.0, 0.0, -0.0], [-0.0, 0.0, 0.0, -0.0]
    A, B = te.placeholder((n,), name="A"), te.placeholder((n,), name="B")
    for name in ("maximum", "minimum"):
        got = run_default(getattr(topi, name)(A, B), [A, B], [a, b])
        want = getattr(np, name)(a, b)
        np.testing.assert_array_equal(got, want, err_msg=name)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want), err_msg=f"{name}: signs of zeros")
    np.testing.assert_array_equal(run_default(topi.relu(A), [A], [a]), np.where(np.isnan(a), a, np.maximum(a, 0)))


@pytest.mark.parametrize("shape_a, shape_b", [
    ((256, 256), (256, 256)),          # fused, split by 8, parallel
    ((301, 299), (299,)),              # broadcast, odd extents, parallel rows
    ((300, 1, 7), (1, 251, 7)),        # both operands broadcast, short inner axis
    ((1, 70001), (70001,)),            # one huge row
])
def test_large_shapes_take_parallel_and_vector_paths(shape_a, shape_b):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(shape_a).astype("float32"), rng.standard_normal(shape_b).astype("float32")
    A, B = te.placeholder(shape_a, name="A"), te.placeholder(shape_b, name="B")
    out = topi.multiply(topi.add(A, B), B)
    np.testing.assert_allclose(run_default(out, [A, B], [a, b]), (a + b) * b, rtol=1e-6)


def test_scalar_te_var_operand_is_a_runtime_argument():
    X = te.placeholder((37, 5), name="X")
    a, b = te.var("a", "float32"), te.var("b", "float32")
    out = topi.scale_shift(X, a, b)
    f = tm.build(topi.default_schedule(out), [X, a, b, out], name=unique("scale_shift"))
    x = np.random.rand(37, 5).astype("float32")
    y = np.empty_like(x)
    for sa, sb in ((2.0, 1.0), (-0.5, 3.0)):
        f(x, sa, sb, y)
        np.testing.assert_allclose(y, sa * x + sb, rtol=1e-6)


def test_where_power_and_cast():
    rng = np.random.default_rng(1)
    c = rng.random((4, 1)) < 0.5
    a = rng.uniform(0.5, 2, (4, 6)).astype("float32")
    C, A = te.placeholder((4, 1), name="C", dtype="bool"), te.placeholder((4, 6), name="A")
    np.testing.assert_array_equal(run_default(topi.where(C, A, -1.0), [C, A], [c, a]), np.where(c, a, -1.0))
    np.testing.assert_allclose(run_default(topi.power(A, 3), [A], [a]), a ** 3, rtol=1e-5)
    np.testing.assert_array_equal(run_default(topi.cast(A, "int32"), [A], [a]), a.astype("int32"))
    np.testing.assert_array_equal(run_default(topi.cast(topi.subtract(A, 1.0), "bool"), [A], [a]), (a - 1) != 0)


GRADS = [  # (grad op, forward op, whether the grad takes the forward output, positive domain)
    ("relu_grad", "relu", False, False), ("sigmoid_grad", "sigmoid", True, False),
    ("tanh_grad", "tanh", True, False), ("exp_grad", "exp", True, False),
    ("cos_grad", "cos", False, False), ("sin_grad", "sin", False, False),
    ("log_grad", "log", False, True), ("sqrt_grad", "sqrt", True, True),
    ("abs_grad", "abs", False, False), ("power_grad", "power", False, True),
]


@pytest.mark.parametrize("grad, forward, uses_output, positive", GRADS)
def test_gradient_kernels_match_finite_differences(grad, forward, uses_output, positive):
    rng = np.random.default_rng(2)
    shape = (3, 7)
    x = rng.uniform(0.2 if positive else -2, 2, shape)
    x[np.abs(x) < 0.05] = 0.3                          # keep away from kinks of relu/abs
    g = rng.standard_normal(shape)
    X, G = te.placeholder(shape, name="X", dtype="float64"), te.placeholder(shape, name="G", dtype="float64")
    fwd_args = (X, 2.5) if forward == "power" else (X,)
    Y = getattr(topi, forward)(*fwd_args)
    fwd = tm.build(topi.default_schedule(Y), [X, Y], name=unique(forward))

    def f(v):
        out = np.empty(shape)
        fwd(np.ascontiguousarray(v), out)
        return out
    h = 1e-6
    numeric = (f(x + h) - f(x - h)) / (2 * h) * g
    extra = (2.5,) if grad == "power_grad" else ()
    first = f(x) if uses_output else x
    D = getattr(topi, grad)(X, G, *extra)
    np.testing.assert_allclose(run_default(D, [X, G], [first, g]), numeric, rtol=1e-6, atol=1e-8)


def test_errors_name_op_and_shapes():
    A, B = te.placeholder((3, 4), name="A"), te.placeholder((5,), name="B")
    with pytest.raises(tm.errors.ShapeError, match=r"add.*\(3, 4\).*\(5,\)"):
        topi.add(A, B)
    with pytest.raises(tm.errors.ShapeError, match="broadcast"):
        topi.broadcast_shape((2, te.var("n")), (2, te.var("m")))
    assert [int(e.value) for e in topi.broadcast_shape((3, 1, 5), (4, 1))] == [3, 4, 5]
    with pytest.raises(tm.TVMiniError, match="maximum"):
        topi.maximum(1.0, 2.0)
    with pytest.raises(tm.errors.DTypeError, match="where"):
        topi.where(A, A, A)


@pytest.mark.parametrize("n, lanes", [(64, "host"), (40, 8), (21, 0)])
def test_elementwise_default_lanes_fill_the_host_vector(n, lanes):
    """The default vector width of an elementwise kernel is a full host vector
    (``HOST_LANES``: 16 float32 with AVX-512) where it divides the loop, else 8 lanes,
    else none (never a bounds guard); results agree with numpy either way."""
    from tvmini.topi.schedule_cpu import HOST_LANES
    X = te.placeholder((3, n), name="X")
    out = topi.exp(X)
    (tensor, knobs), = topi.tunable(out)
    want = HOST_LANES if lanes == "host" else lanes
    assert knobs.default["lanes"] == want
    ir = str(tm.lower(topi.default_schedule(out), [X, out], name=f"exp_lanes_{n}"))
    assert (f"vectorized for i0.i1.fused.inner in range({want})" in ir) == (want > 0), ir
    x = np.random.default_rng(0).standard_normal((3, n)).astype("float32")
    np.testing.assert_allclose(run_default(out, [X], [x]), np.exp(x), rtol=1e-6)
