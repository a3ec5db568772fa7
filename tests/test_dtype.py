"""dtypes: the promotion rules written in ``tvmini/tir/dtype.py``, floor division and
modulo on negative numbers, casts, boolean expressions, and the math intrinsics, each
compiled and compared with Python / numpy.
"""
import itertools

import numpy as np
import pytest

import tvmini as tm
from tvmini import te

LADDER = ["bool", "int8", "uint8", "int32", "int64", "float16", "float32", "float64"]
N = 64


def documented_promotion(a, b):
    """The rule as documented: the higher on the ladder; int8 with uint8 gives int32."""
    if {a, b} == {"int8", "uint8"}:
        return "int32"
    return max(a, b, key=LADDER.index)


def loads(*dtypes):
    """One 1-D placeholder per dtype, and their loads at a fresh index."""
    ps = [te.placeholder((N,), name=f"P{k}", dtype=d) for k, d in enumerate(dtypes)]
    i = te.var("i")
    return ps, [p[i] for p in ps]


def build1(fcompute, in_dtypes, name):
    """Build ``out[i] = fcompute(*loads)`` over N elements; returns (f, inputs, out)."""
    ps = [te.placeholder((N,), name=f"X{k}", dtype=d) for k, d in enumerate(in_dtypes)]
    out = te.compute((N,), lambda i: fcompute(*[p[i] for p in ps]), name="out")
    s = te.create_schedule(out.op)
    return tm.build(s, ps + [out], name=name), ps, out


def run1(fcompute, arrays, name="k"):
    f, ps, out = build1(fcompute, [a.dtype.name for a in arrays], name)
    res = np.zeros(N, out.dtype)
    f(*[np.ascontiguousarray(a) for a in arrays], res)
    return res, out.dtype


# --------------------------------------------------------------------------- promotion

@pytest.mark.parametrize("a,b", [(a, b) for a, b in itertools.product(LADDER, LADDER)
                                 if not (a == "bool" and b == "bool")])
def test_binary_promotion_follows_the_ladder(a, b):
    _, (x, y) = loads(a, b)
    want = documented_promotion(a, b)
    for e in (x + y, x - y, x * y, y + x):
        expected = want if e is not (y + x) else want
        assert e.dtype == expected, f"{a} op {b} gave {e.dtype}, expected {expected}"


@pytest.mark.parametrize("dtype", [d for d in LADDER if d != "bool"])
def test_python_int_takes_the_expression_dtype(dtype):
    _, (x,) = loads(dtype)
    for e in (x + 1, 1 + x, x * 3, x - 2, 2 - x, x // 2, x % 3):
        assert e.dtype == dtype, e


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_python_float_takes_a_float_expression_dtype(dtype):
    _, (x,) = loads(dtype)
    for e in (x + 1.5, 1.5 + x, x * 0.25, 2.0 - x):
        assert e.dtype == dtype, e


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "int64"])
def test_python_float_next_to_an_integer_expression_is_float32(dtype):
    _, (x,) = loads(dtype)
    for e in (x + 1.5, 1.5 * x, x - 0.5):
        assert e.dtype == "float32", e


def test_bool_expression_next_to_python_numbers():
    _, (x,) = loads("float64")
    cond = x > 0
    assert cond.dtype == "bool"
    assert (cond + 1).dtype == "int32"
    assert (1 + cond).dtype == "int32"
    assert (cond * 1.5).dtype == "float32"


@pytest.mark.parametrize("a,b", [("int32", "int32"), ("int8", "int8"), ("int64", "int64"), ("uint8", "int32")])
def test_true_division_of_integers_is_float32(a, b):
    _, (x, y) = loads(a, b)
    assert (x / y).dtype == "float32"
    assert (x / 2).dtype == "float32"


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_true_division_of_floats_keeps_dtype(dtype):
    _, (x, y) = loads(dtype, dtype)
    assert (x / y).dtype == dtype


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "float32", "float64"])
def test_floordiv_and_mod_keep_dtype(dtype):
    _, (x, y) = loads(dtype, dtype)
    assert (x // y).dtype == dtype
    assert (x % y).dtype == dtype


@pytest.mark.parametrize("a,b", [("int32", "float32"), ("float64", "float64"), ("int8", "uint8"), ("bool", "bool")])
def test_comparisons_and_logic_give_bool(a, b):
    _, (x, y) = loads(a, b)
    for e in (x < y, x <= y, x > y, x >= y, x == y, x != y):
        assert e.dtype == "bool"
    c1, c2 = x < y, x > y
    assert (c1 & c2).dtype == "bool"
    assert (c1 | c2).dtype == "bool"
    assert (~c1).dtype == "bool"
    assert te.all(c1, c2, x == y).dtype == "bool"
    assert te.any(c1, c2).dtype == "bool"


def test_logic_needs_bool_operands_and_integers_are_bitwise():
    _, (x, y, f, b) = loads("int32", "int32", "float32", "bool")
    assert (x & y).dtype == "int32" and (~x).dtype == "int32" and (b & b).dtype == "bool"
    for bad in (lambda: x & f, lambda: ~f, lambda: f << 1, lambda: b << 1, lambda: te.if_then_else(x, 1, 2)):
        with pytest.raises(tm.DTypeError):
            bad()


def test_expression_has_no_python_truth_value():
    _, (x,) = loads("int32")
    with pytest.raises(tm.DTypeError):
        if x > 0:
            pass


def test_unknown_dtype_is_a_dtype_error():
    with pytest.raises(tm.DTypeError):
        te.placeholder((4,), name="A", dtype="complex64")
    with pytest.raises(tm.DTypeError):
        te.var("n", dtype="bool")


def test_constants():
    assert te.const(3).dtype == "int32"
    assert te.const(2**40).dtype == "int64"
    assert te.const(1.5).dtype == "float32"
    assert te.const(True).dtype == "bool"
    assert te.const(3, "float64").dtype == "float64"


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "int64"])
def test_integer_constant_outside_its_dtype_is_refused(dtype):
    """An integer that does not fit its dtype is a DTypeError naming value and dtype,
    as in TVM, for te.const and for a Python int next to an expression (``A[i] + 2**40``
    with int32 ``A`` added 0: the constant wrapped silently)."""
    info = np.iinfo(dtype)
    assert te.const(int(info.min), dtype).value == info.min and te.const(np.int64(info.max), dtype).value == info.max
    (p,), (x,) = loads(dtype)
    assert (x + int(info.max)).dtype == dtype
    for value in (int(info.max) + 1, int(info.min) - 1, 2**70):
        with pytest.raises(tm.DTypeError, match=f"{value}.*{dtype}"):
            te.const(value, dtype)
        for make in (lambda: x + value, lambda: value * x, lambda: te.max(x, value)):
            with pytest.raises(tm.DTypeError, match=f"{value}.*{dtype}"):
                make()


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_intrinsic_dtypes(dtype):
    _, (x,) = loads(dtype)
    want = dtype if dtype.startswith("float") else "float32"
    for fn in (te.exp, te.log, te.sqrt, te.tanh, te.sigmoid, te.cos, te.sin, te.floor):
        assert fn(x).dtype == want, fn.__name__
    assert te.power(x, 2).dtype == want
    assert te.abs(x).dtype == dtype


def test_mixed_dtype_arithmetic_computes_in_the_promoted_type():
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, N).astype(np.int8)
    b = rng.integers(0, 256, N).astype(np.uint8)
    got, dtype = run1(lambda x, y: x + y * 2, [a, b], "i8u8")
    assert dtype == "int32"
    # ``y * 2`` stays uint8 (a Python int takes the expression's dtype) and wraps, as in numpy.
    np.testing.assert_array_equal(got, a.astype(np.int32) + (b * np.uint8(2)).astype(np.int32))

    c = rng.integers(-1000, 1000, N).astype(np.int32)
    d = rng.uniform(-1, 1, N).astype(np.float64)
    got, dtype = run1(lambda x, y: x * y + 1, [c, d], "i32f64")
    assert dtype == "float64"
    np.testing.assert_allclose(got, c * d + 1, rtol=1e-12)

    got, dtype = run1(lambda x, y: x / y, [c, np.where(c == 0, 1, c).astype(np.int32)[::-1].copy()], "idiv")
    assert dtype == "float32"
    np.testing.assert_allclose(got, (c / np.where(c == 0, 1, c)[::-1]).astype(np.float32), rtol=1e-6)


# --------------------------------------------------------------------------- floor division / modulo

def test_python_floor_semantics_reminder():
    assert (-7 // 2, -7 % 2, 7 // -2, 7 % -2, -7 // -2, -7 % -2) == (-4, 1, -4, -1, 3, -1)


@pytest.mark.parametrize("dtype", ["int32", "int64", "int8"])
def test_floordiv_floormod_by_variable_on_negative_ints(dtype):
    a = np.array([x for x in range(-20, 21) for _ in (0, 1)][:N] + [0] * max(0, N - 82), dtype)[:N]
    b = np.array(([-7, -3, -2, -1, 1, 2, 3, 5] * (N // 8 + 1))[:N], dtype)
    rng = np.random.default_rng(1)
    rng.shuffle(b)
    q, _ = run1(lambda x, y: x // y, [a, b], "fdiv_" + dtype)
    r, _ = run1(lambda x, y: x % y, [a, b], "fmod_" + dtype)
    want_q = np.array([int(x) // int(y) for x, y in zip(a, b)], dtype)
    want_r = np.array([int(x) % int(y) for x, y in zip(a, b)], dtype)
    np.testing.assert_array_equal(q, want_q)
    np.testing.assert_array_equal(r, want_r)


@pytest.mark.parametrize("divisor", [1, 2, 3, 4, 8, -1, -3, -8, 7])
def test_floordiv_floormod_by_constant_on_negative_ints(divisor):
    a = np.arange(-N // 2, N // 2, dtype=np.int32) * 3
    q, _ = run1(lambda x: x // divisor, [a], f"cdiv_{divisor}".replace("-", "m"))
    r, _ = run1(lambda x: x % divisor, [a], f"cmod_{divisor}".replace("-", "m"))
    np.testing.assert_array_equal(q, [int(x) // divisor for x in a])
    np.testing.assert_array_equal(r, [int(x) % divisor for x in a])


def test_floordiv_floormod_of_shifted_index():
    """Index arithmetic like (i - 30) // 4 is floor division, also when negative."""
    A = te.placeholder((N,), name="A", dtype="int32")
    q = te.compute((N,), lambda i: (i - 30) // 4 + A[i] * 0, name="q")
    r = te.compute((N,), lambda i: (i - 30) % 4 + A[i] * 0, name="r")
    for T, op in ((q, lambda x: x // 4), (r, lambda x: x % 4)):
        s = te.create_schedule(T.op)
        io, ii = s[T].split(T.op.axis[0], factor=8)
        f = tm.build(s, [A, T], name="shift_" + T.name)
        out = np.zeros(N, np.int32)
        f(np.zeros(N, np.int32), out)
        np.testing.assert_array_equal(out, [op(i - 30) for i in range(N)])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_floordiv_floormod_of_floats(dtype):
    rng = np.random.default_rng(2)
    a = rng.uniform(-10, 10, N).astype(dtype)
    b = rng.choice([-3.5, -2.0, -0.75, 0.5, 1.0, 2.5], N).astype(dtype)
    q, dq = run1(lambda x, y: x // y, [a, b], "ffdiv_" + dtype)
    r, dr = run1(lambda x, y: x % y, [a, b], "ffmod_" + dtype)
    assert dq == dr == dtype
    np.testing.assert_allclose(q, np.floor_divide(a, b), rtol=1e-6)
    np.testing.assert_allclose(r, np.mod(a, b), rtol=1e-5, atol=1e-5)
    assert (np.sign(r[r != 0]) == np.sign(b[r != 0])).all(), "the modulo takes the divisor's sign"


# --------------------------------------------------------------------------- casts

CASTS = [
    ("float32", "int32", np.array([-2.7, -1.5, -0.5, 0.0, 0.5, 1.5, 2.7, 1e6, -1e6] * 8)[:N]),
    ("float64", "int64", np.array([-2.7, -1.5, -0.2, 0.0, 0.9, 3.99, 1e12, -1e12] * 8)[:N]),
    ("float64", "float32", np.linspace(-1e5, 1e5, N) / 3),
    ("int32", "float32", np.arange(-N // 2, N // 2) * 12345),
    ("int32", "float64", np.arange(-N // 2, N // 2) * 987654),
    ("int32", "int64", np.arange(-N // 2, N // 2) * 2**24),
    ("int64", "int32", np.arange(-N // 2, N // 2) * 1000),
    ("int32", "uint8", np.arange(-N // 2, N // 2) * 9),
    ("uint8", "int32", np.arange(N) * 4 % 256),
    ("int8", "float32", np.arange(-N // 2, N // 2) * 4 % 256 - 128),
    ("int32", "bool", np.arange(-N // 2, N // 2) % 3 - 1),
    ("float32", "bool", np.array([-0.5, 0.0, 0.25, 2.0] * (N // 4))),
    ("bool", "int32", np.arange(N) % 3 == 0),
    ("bool", "float64", np.arange(N) % 2 == 0),
    ("float32", "float16", np.linspace(-100, 100, N)),
]


@pytest.mark.parametrize("src,dst,values", CASTS, ids=[f"{a}->{b}" for a, b, _ in CASTS])
def test_cast(src, dst, values):
    a = np.asarray(values).astype(src)
    got, dtype = run1(lambda x: x.astype(dst), [a], f"cast_{src}_{dst}")
    assert dtype == dst
    want = a.astype(dst) if dst != "bool" else (a != 0)
    if dst.startswith("float"):
        np.testing.assert_allclose(got, want, rtol=1e-3 if dst == "float16" else 1e-7)
    else:
        np.testing.assert_array_equal(got, want)


def test_cast_is_a_no_op_for_the_same_dtype():
    _, (x,) = loads("float32")
    assert x.astype("float32") is x


# --------------------------------------------------------------------------- booleans

@pytest.mark.parametrize("reducer", ["max", "min", "sum"])
def test_reductions_over_bool(reducer):
    """max/min of bools are bools ("any"/"all", as numpy's maximum/minimum); a sum of
    bools counts them in int32. The combine promoted bools to int32 and the store into
    the bool buffer did not compile (LLVM: invalid cast zext i32 to i8)."""
    A = te.placeholder((6, 9), name="A", dtype="bool")
    k = te.reduce_axis((0, 9), name="k")
    C = te.compute((6,), lambda i: getattr(te, reducer)(A[i, k], axis=k), name="C")
    assert C.dtype == ("int32" if reducer == "sum" else "bool")
    a = np.random.default_rng(0).random((6, 9)) > 0.5
    a[0], a[1] = True, False
    c = np.zeros(6, C.dtype)
    tm.build(te.create_schedule(C.op), [A, C], name=f"bool_{reducer}")(a, c)
    np.testing.assert_array_equal(c, getattr(a, reducer)(1))



def test_boolean_expressions():
    rng = np.random.default_rng(3)
    a = rng.uniform(-1, 1, N).astype(np.float32)
    b = rng.integers(-3, 4, N).astype(np.int32)
    cases = {
        "cmp": (lambda x, y: x < 0.25, lambda a, b: a < 0.25),
        "and": (lambda x, y: (x > 0) & (y != 0), lambda a, b: (a > 0) & (b != 0)),
        "or": (lambda x, y: (x > 0.5) | (y <= -2), lambda a, b: (a > 0.5) | (b <= -2)),
        "not": (lambda x, y: ~(x >= 0), lambda a, b: ~(a >= 0)),
        "all": (lambda x, y: te.all(x > -0.5, y >= 0, x < 0.5), lambda a, b: (a > -0.5) & (b >= 0) & (a < 0.5)),
        "any": (lambda x, y: te.any(x > 0.9, y == 3, x < -0.9), lambda a, b: (a > 0.9) | (b == 3) | (a < -0.9)),
        "eq": (lambda x, y: y == 1, lambda a, b: b == 1),
        "mixed": (lambda x, y: x < y, lambda a, b: a < b),
    }
    for name, (expr, ref) in cases.items():
        got, dtype = run1(expr, [a, b], "bool_" + name)
        assert dtype == "bool", name
        np.testing.assert_array_equal(got, ref(a, b), err_msg=name)


def test_bool_select_and_bool_inputs():
    rng = np.random.default_rng(4)
    m = rng.random(N) < 0.5
    a = rng.uniform(-1, 1, N).astype(np.float64)
    got, dtype = run1(lambda c, x: te.if_then_else(c & (x > 0), x, -x * 2), [m, a], "bool_select")
    assert dtype == "float64"
    np.testing.assert_allclose(got, np.where(m & (a > 0), a, -a * 2))
    got, dtype = run1(lambda c, x: c.astype("int32") + (x > 0).astype("int32"), [m, a], "bool_count")
    np.testing.assert_array_equal(got, m.astype(np.int32) + (a > 0))


def test_te_all_any_with_one_condition_and_none():
    _, (x,) = loads("int32")
    assert te.all(x > 0).dtype == "bool"
    assert te.any(x > 0).dtype == "bool"
    assert te.all().dtype == "bool" and te.any().dtype == "bool"


# --------------------------------------------------------------------------- intrinsics

def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


INTRINSICS = {
    "exp": (te.exp, np.exp, (-10, 10)),
    "log": (te.log, np.log, (0.01, 100)),
    "sqrt": (te.sqrt, np.sqrt, (0, 100)),
    "tanh": (te.tanh, np.tanh, (-6, 6)),
    "sigmoid": (te.sigmoid, _sigmoid, (-12, 12)),
    "cos": (te.cos, np.cos, (-10, 10)),
    "sin": (te.sin, np.sin, (-10, 10)),
    "abs": (te.abs, np.abs, (-5, 5)),
    "floor": (te.floor, np.floor, (-5.5, 5.5)),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(INTRINSICS))
def test_intrinsic(name, dtype):
    fn, ref, (lo, hi) = INTRINSICS[name]
    x = np.linspace(lo, hi, N).astype(dtype)
    if name == "floor":
        x[:8] = [-3.0, -2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]
    got, out_dtype = run1(fn, [x], f"{name}_{dtype}")
    assert out_dtype == dtype
    want = ref(x.astype(np.float64))
    if dtype == "float32":
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_power(dtype):
    rng = np.random.default_rng(5)
    base = rng.uniform(0.1, 4, N).astype(dtype)
    expo = rng.uniform(-2, 3, N).astype(dtype)
    got, out_dtype = run1(lambda x, y: te.power(x, y), [base, expo], f"pow_{dtype}")
    assert out_dtype == dtype
    tol = dict(rtol=1e-5) if dtype == "float32" else dict(rtol=1e-13)
    np.testing.assert_allclose(got, np.power(base.astype(np.float64), expo), **tol)
    got, _ = run1(lambda x: x ** 2, [base], f"sq_{dtype}")
    np.testing.assert_allclose(got, base.astype(np.float64) ** 2, **tol)


def test_abs_of_integers_keeps_dtype():
    a = np.arange(-N // 2, N // 2, dtype=np.int32) * 7
    got, dtype = run1(te.abs, [a], "iabs")
    assert dtype == "int32"
    np.testing.assert_array_equal(got, np.abs(a))


def test_intrinsic_of_integer_computes_in_float32():
    a = np.arange(1, N + 1, dtype=np.int32)
    got, dtype = run1(te.sqrt, [a], "isqrt")
    assert dtype == "float32"
    np.testing.assert_allclose(got, np.sqrt(a), rtol=1e-6)


def test_elementwise_max_min_with_mixed_dtypes():
    rng = np.random.default_rng(6)
    a = rng.integers(-5, 5, N).astype(np.int32)
    b = rng.uniform(-5, 5, N).astype(np.float64)
    got, dtype = run1(lambda x, y: te.max(x, y), [a, b], "mixmax")
    assert dtype == "float64"
    np.testing.assert_array_equal(got, np.maximum(a, b))
    got, dtype = run1(lambda x, y: te.min(x, y), [a, b], "mixmin")
    np.testing.assert_array_equal(got, np.minimum(a, b))


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "int64"])
@pytest.mark.parametrize("vectorized", [False, True])
def test_bitwise_operators_match_numpy(dtype, vectorized):
    """``& | ^ ~ << >>`` on integers, every value and every shift count from -3 to the
    width + 2: counts outside [0, width) give 0 (``>>`` of a negative value: -1), never the
    hardware's undefined result; scalar and vector code agree with the reference."""
    from tvmini.testing import reference
    width = np.dtype(dtype).itemsize * 8
    rng = np.random.default_rng(width)
    info = np.iinfo(dtype)
    a = rng.integers(info.min, info.max, N, dtype=dtype, endpoint=True)
    counts = np.resize(np.arange(-3 if info.min < 0 else 0, width + 3), N).astype(dtype)
    (A, B), (x, y) = loads(dtype, dtype)
    ops = {"and": lambda p, q: p & q, "or": lambda p, q: p | q, "xor": lambda p, q: p ^ q, "not": lambda p, q: ~p,
           "shl": lambda p, q: p << q, "shr": lambda p, q: p >> q, "const": lambda p, q: (p >> 1) ^ 0x55}
    outs = [te.compute((N,), (lambda f: lambda i: f(A[i], B[i]))(f), name=n) for n, f in ops.items()]
    s = te.create_schedule([o.op for o in outs])
    if vectorized:
        for o in outs:
            s[o].vectorize(s[o].op.axis[0])
    results = [np.zeros(N, o.dtype) for o in outs]
    tm.build(s, [A, B] + outs)(a, counts, *results)
    for o, got, want in zip(outs, results, reference(outs, {A: a, B: counts})):
        np.testing.assert_array_equal(got, want, err_msg=o.name)
    np.testing.assert_array_equal(results[0], a & counts)
    np.testing.assert_array_equal(results[4][(counts >= 0) & (counts < width)],
                                  np.left_shift(a, counts)[(counts >= 0) & (counts < width)])


@pytest.mark.parametrize("source", ["float64", "float32", "int64", "int32", "uint8", "int8", "bool"])
@pytest.mark.parametrize("vectorized", [False, True])
def test_conversions_to_and_from_float16_match_numpy(source, vectorized):
    """Every dtype to float16 and back. float64 -> float16 is a libgcc call on x86 (no
    instruction does it); it used to crash the process (the JIT could not resolve it)."""
    rng = np.random.default_rng(1)
    values = {"bool": rng.random(N) > 0.5}.get(source)
    if values is None:
        values = (rng.normal(0, 300, N)).astype(source) if source.startswith("float") else \
            rng.integers(np.iinfo(source).min, np.iinfo(source).max, N, dtype=source, endpoint=True)
    if source == "float64":
        values[:6] = [np.inf, -np.inf, np.nan, 65519.0, 1e-8, -0.0]
    with np.errstate(over="ignore"):            # large integers are inf as float16, in numpy as here
        halves = values.astype("float16")
    for a, b, x in ((source, "float16", values), ("float16", source, halves)):
        A = te.placeholder((N,), dtype=a, name="A")
        B = te.compute((N,), lambda i: A[i].astype(b), name="B")
        s = te.create_schedule(B.op)
        if vectorized:
            s[B].vectorize(B.op.axis[0])
        out = np.zeros(N, b)
        tm.build(s, [A, B])(x, out)
        with np.errstate(all="ignore"):
            want = x.astype(b)
        finite = np.isfinite(x.astype("float64")) if b != "float16" else np.ones(N, bool)
        np.testing.assert_array_equal(out[finite], want[finite], err_msg=f"{a} -> {b}")


def test_float64_to_float16_without_libgcc_goes_through_float32(monkeypatch):
    """Where libgcc lacks __truncdfhf2 (GCC < 12) the conversion rounds through float32
    instead of calling a function the JIT cannot resolve."""
    from tvmini.codegen import llvm as codegen_llvm
    monkeypatch.setattr(codegen_llvm, "runtime_has", lambda symbol: False)
    A = te.placeholder((N,), dtype="float64", name="A")
    B = te.compute((N,), lambda i: A[i].astype("float16"), name="B")
    f = tm.build(te.create_schedule(B.op), [A, B], name="half_through_float")
    assert "__truncdfhf2" not in f.get_source("ll")
    x = np.linspace(-70000, 70000, N)
    out = np.zeros(N, "float16")
    f(x, out)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(out, x.astype("float32").astype("float16"))


# --------------------------------------------------------------------------- TVM's te functions

SPECIAL_INTS = [7, -7, 3, -3, 6, -6, 1, -1, 0, 2**31 - 1, -2**31]
SPECIAL_FLOATS = [7.5, -7.5, 3.0, -3.0, 6.0, -6.0, 0.7, -0.7, 0.0, -0.0, 1e3, -1e-3, np.inf, -np.inf, np.nan]


def operand_grid(values, dtype):
    """Every pair of ``values`` (as ``dtype``), as two arrays."""
    with np.errstate(over="ignore"):                # 2**31 - 1 is inf in float16
        a, b = (np.array(side).astype(dtype) for side in zip(*itertools.product(values, values)))
    return a, b


def apply(fn, *arrays, target="llvm", name="tvm_fn"):
    """``out[i] = fn(A[i], B[i], ...)`` built for ``target`` and run on ``arrays``
    (on the current CUDA device for "cuda"); returns ``out``."""
    n = len(arrays[0])
    ps = [te.placeholder((n,), name=f"X{k}", dtype=a.dtype.name) for k, a in enumerate(arrays)]
    out = te.compute((n,), lambda i: fn(*[p[i] for p in ps]), name="out")
    s = te.create_schedule(out.op)
    if target == "cuda":
        bx, tx = s[out].split(out.op.axis[0], factor=64)
        s[out].bind(bx, te.thread_axis("blockIdx.x"))
        s[out].bind(tx, te.thread_axis("threadIdx.x"))
    dev = tm.cuda(0) if target == "cuda" else tm.cpu(0)
    args = [tm.nd.array(a, dev) for a in arrays] + [tm.nd.empty((n,), out.dtype, dev)]
    tm.build(s, ps + [out], target=target, name=name)(*args)
    return args[-1].numpy()


def truncdiv_reference(a, b):
    """C's integer ``/`` (0 for a division by zero, wrapping as numpy does)."""
    bits = a.dtype.itemsize * 8
    q = [0 if y == 0 else abs(x) // abs(y) * (1 if (x < 0) == (y < 0) else -1) for x, y in zip(a.tolist(), b.tolist())]
    return np.array([(v + 2**(bits - 1)) % 2**bits - 2**(bits - 1) for v in q], a.dtype)


#: name -> (te function, numpy reference) of integer operands
INTEGER_FUNCTIONS = {
    "floordiv": (te.floordiv, np.floor_divide),
    "floormod": (te.floormod, np.remainder),
    "truncdiv": (te.truncdiv, truncdiv_reference),
    "truncmod": (te.truncmod, np.fmod),
    "fmod": (te.fmod, np.fmod),
}


def assert_same_floats(got, want):
    """Equal, NaN where NaN, and zeros of the same sign."""
    np.testing.assert_array_equal(got, want)
    assert (np.signbit(got) == np.signbit(want))[~np.isnan(want)].all(), "a zero of the wrong sign"


@pytest.mark.parametrize("dtype", ["int32", "int64", "int8"])
@pytest.mark.parametrize("name", sorted(INTEGER_FUNCTIONS))
def test_tvm_integer_division_functions_match_numpy(name, dtype):
    """te.floordiv/floormod/truncdiv/truncmod/fmod on every pair of negative, positive,
    zero and extreme operands: TVM's semantics, numpy's answers (a division by zero
    gives 0; the most negative integer divided by -1 wraps)."""
    fn, ref = INTEGER_FUNCTIONS[name]
    info = np.iinfo(dtype)
    a, b = operand_grid([int(np.clip(v, info.min, info.max)) for v in SPECIAL_INTS], dtype)
    got = apply(fn, a, b, name=f"{name}_{dtype}")
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(got, ref(a, b))
    assert got.dtype == dtype


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tvm_floordiv_floormod_of_floats_are_the_operators(dtype):
    a, b = operand_grid(SPECIAL_FLOATS, dtype)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(apply(te.floordiv, a, b), apply(lambda x, y: x // y, a, b))
        np.testing.assert_array_equal(apply(te.floormod, a, b), apply(lambda x, y: x % y, a, b))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("fn", [te.fmod, te.truncmod], ids=["fmod", "truncmod"])
def test_tvm_fmod_of_floats_matches_numpy(fn, dtype):
    """C's fmod (TVM's te.fmod, and te.truncmod of floats): the sign of the dividend,
    zeros included; NaN for a NaN, an infinite dividend or a zero divisor; x for an
    infinite divisor."""
    a, b = operand_grid(SPECIAL_FLOATS, dtype)
    with np.errstate(all="ignore"):
        want = np.fmod(a, b)
    assert_same_floats(apply(fn, a, b, name=f"fmod_{dtype}"), want)
    rng = np.random.default_rng(7)
    a, b = (rng.normal(0, 1e4, 500) * rng.random(500)).astype(dtype), rng.normal(0, 3, 500).astype(dtype)
    assert_same_floats(apply(fn, a, b), np.fmod(a, b))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tvm_fmod_is_exact_for_any_quotient(dtype):
    """fmod is the exact remainder (LLVM's ``frem``, CUDA's fmod) however large the
    quotient: ``1e30 % 3``, tiny and subnormal divisors."""
    a = np.array([2.0**40 * 0.75, -2.0**60, 7.5, 1.0, 1e-30, 1e30, 1e30, -1e-30], dtype)
    b = np.array([1.0, 1.5, -0.001, 1e30, 1e-20, 3.0, 1e-30, 7e-45 if dtype == "float32" else 5e-324], dtype)
    assert_same_floats(apply(te.fmod, a, b, name=f"fmod_exact_{dtype}"), np.fmod(a, b))


def test_tvm_division_functions_of_mixed_and_python_operands():
    x = te.placeholder((1,), name="x", dtype="int64")[0]
    assert te.truncdiv(x, 2).dtype == te.truncmod(7, x).dtype == te.floordiv(x, 2).dtype == "int64"
    assert te.fmod(x, 2.5).dtype == "float32" and te.fmod(x.astype("float64"), 2).dtype == "float64"
    a = np.array([-7, 7, -8], "int32")
    np.testing.assert_array_equal(apply(lambda v: te.truncdiv(v, 2) * 10 + te.truncmod(v, 3), a), [-31, 31, -42])
    big, b = np.array([2**30 + 1, -2**30 - 3, 16777217, 7], "int32"), np.array([3.0, 7.0, 2.0, 0.5], "float32")
    np.testing.assert_array_equal(apply(te.fmod, big, b), np.fmod(big.astype("float32"), b))   # as float32 holds them
    with pytest.raises(tm.DTypeError, match="te.truncdiv takes integers"):
        te.truncdiv(x.astype("float32"), 2)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32"])
def test_tvm_float_classification_matches_numpy(dtype):
    """te.isnan/isinf/isfinite: numpy's answers for floats; integers are never NaN or
    infinite."""
    a = operand_grid(SPECIAL_FLOATS if dtype.startswith("float") else SPECIAL_INTS, dtype)[0]
    for fn, ref in ((te.isnan, np.isnan), (te.isinf, np.isinf), (te.isfinite, np.isfinite)):
        got = apply(fn, a, name=f"{fn.__name__}_{dtype}")
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(got, ref(a), err_msg=fn.__name__)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_tvm_rsqrt(dtype):
    a = np.array([4.0, 0.25, 2.0, 1e6, 0.0, -0.0, np.inf, -1.0, np.nan][:5 if dtype == "int32" else None]).astype(dtype)
    got = apply(te.rsqrt, a)
    assert got.dtype == ("float32" if dtype == "int32" else dtype)
    with np.errstate(all="ignore"):
        want = 1 / np.sqrt(a.astype(got.dtype))
    np.testing.assert_allclose(got, want, rtol=1e-6 if got.dtype == np.float32 else 1e-15)   # -0.0 gives -inf


@pytest.mark.parametrize("dtype", LADDER)
def test_tvm_min_max_value_are_the_finite_extremes(dtype):
    """TVM's te.min_value/max_value: the dtype's finite extremes (floats: not -inf/inf,
    the identities tvmini's max/min reductions use), usable in a kernel."""
    if dtype == "bool":
        lo, hi = False, True
    else:
        info = np.finfo(dtype) if dtype.startswith("float") else np.iinfo(dtype)
        lo, hi = info.min, info.max
    assert (te.min_value(dtype).dtype, te.max_value(dtype).dtype) == (dtype, dtype)
    assert (te.min_value(dtype).value, te.max_value(dtype).value) == (lo, hi)
    a = np.array([0, 1], dtype)
    got = apply(lambda v: te.if_then_else(v == a[0], te.min_value(dtype), te.max_value(dtype)), a)
    np.testing.assert_array_equal(got, np.array([lo, hi], dtype))


def test_tvm_aliases_indexdiv_indexmod_and_nearbyint():
    """TVM's names: ``indexdiv``/``indexmod`` are floordiv/floormod, ``nearbyint`` rounds
    half to even (as ``te.round``)."""
    assert te.indexdiv is te.floordiv and te.indexmod is te.floormod
    a = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 3.7], "float32")
    np.testing.assert_array_equal(apply(te.nearbyint, a), np.rint(a))


def test_a_bool_array_of_any_nonzero_bytes_reads_as_numpy_reads_it():
    """A uint8 buffer viewed as bool holds bytes other than 0 and 1; numpy (and the
    graph layer) read any nonzero byte as True, kernels read the byte's low bit (2 was
    False). The CUDA C reads the byte too."""
    A = te.placeholder((6,), name="A", dtype="bool")
    B = te.compute((6,), lambda i: A[i].astype("int32") + te.if_then_else(A[i], 10, 0), name="B")
    s = te.create_schedule(B.op)
    mask = np.array([0, 1, 2, 4, 128, 255], "uint8").view(bool)
    out = np.zeros(6, "int32")
    tm.build(s, [A, B])(mask, out)
    np.testing.assert_array_equal(out, [0, 11, 11, 11, 11, 11])
    assert tm.tensor(mask).sum().item() == 5 == np.count_nonzero(mask)
    bx, tx = s[B].split(B.op.axis[0], factor=2)
    s[B].bind(bx, te.thread_axis("blockIdx.x"))
    s[B].bind(tx, te.thread_axis("threadIdx.x"))
    assert "((const unsigned char *)A)[" in tm.build(s, [A, B], target="cuda").get_source("cuda")


def test_tvms_select_wants_one_dtype_where_if_then_else_promotes():
    """``tir.Select`` as TVM's: int8 and float32 branches failed inside llvmlite with a
    bare AssertionError, int8 and uint8 gave int8 (uint8 130 read as -126), a Python
    number as a branch raised AttributeError."""
    A = te.placeholder((4,), name="A", dtype="int8")
    F = te.placeholder((4,), name="F")
    with pytest.raises(tm.DTypeError, match="the branches are int8 and float32"):
        tm.tir.Select(A[0] > 0, A[0], F[0])
    with pytest.raises(tm.DTypeError, match="the branches are int8 and int32"):
        tm.tir.Select(A[0] > 0, A[0], 3)
    B = te.compute((4,), lambda i: tm.tir.Select(A[i] > 0, A[i], te.const(-1, "int8")), name="B")
    b = np.zeros(4, "int8")
    tm.build(te.create_schedule(B.op), [A, B])(np.array([3, -3, 0, 127], "int8"), b)
    np.testing.assert_array_equal(b, [3, -1, -1, 127])
    C = te.compute((4,), lambda i: te.if_then_else(A[i] > 0, A[i], F[i]), name="C")
    assert C.dtype == "float32"
