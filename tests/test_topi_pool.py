"""topi max/avg pooling and their gradients against numpy (random shapes, kernels,
strides, padding; ties in max pooling) and central finite differences in float64."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from tvmini import te, topi
from strategies import examples
from test_topi_nn import numeric_grad, rng_of, run, tol


def np_windows(x, k, s, p, fill):
    """(taps stacked on axis 0, (oh, ow), the padded input) of every pooling window."""
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), constant_values=fill)
    oh = (x.shape[2] + 2 * p[0] - k[0]) // s[0] + 1
    ow = (x.shape[3] + 2 * p[1] - k[1]) // s[1] + 1
    taps = [xp[:, :, ky:ky + s[0] * (oh - 1) + 1:s[0], kx:kx + s[1] * (ow - 1) + 1:s[1]]
            for ky in range(k[0]) for kx in range(k[1])]
    return np.stack(taps), (oh, ow), xp


def np_pool_grad(g, x, k, s, p, kind):
    taps, (oh, ow), xp = np_windows(x, k, s, p, -np.inf if kind == "max" else 0)
    first = taps.argmax(axis=0)
    grad = np.zeros(xp.shape, x.dtype)
    for t in range(k[0] * k[1]):
        ky, kx = divmod(t, k[1])
        share = (first == t) * g if kind == "max" else g / (k[0] * k[1])
        grad[:, :, ky:ky + s[0] * (oh - 1) + 1:s[0], kx:kx + s[1] * (ow - 1) + 1:s[1]] += share
    return grad[:, :, p[0]:p[0] + x.shape[2], p[1]:p[1] + x.shape[3]]


@st.composite
def pool_case(draw):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    H = draw(st.integers(max(1, k[0] - 2 * p[0]), 13))
    W = draw(st.integers(max(1, k[1] - 2 * p[1]), 13))
    return (draw(st.integers(1, 3)), draw(st.integers(1, 4)), H, W), k, s, p


@examples(14)
@given(st.data())
def test_pooling_forward_and_gradients(data):
    shape, k, s, p = data.draw(pool_case(), label="case")
    kind = data.draw(st.sampled_from(["max", "avg"]), label="kind")
    dtype = data.draw(st.sampled_from(["float32", "float64"]), label="dtype")
    rng = rng_of(data)
    # few distinct values, so max pooling windows have ties
    x_np = rng.integers(-3, 4, shape).astype(dtype)
    x = te.placeholder(shape, name="x", dtype=dtype)
    strides = s or k
    taps, out_hw, _ = np_windows(x_np, k, strides, p, -np.inf if kind == "max" else 0)
    forward = topi.max_pool2d if kind == "max" else topi.avg_pool2d
    (y,) = run(forward(x, k, s, p), {x: x_np})
    np.testing.assert_allclose(y, taps.max(axis=0) if kind == "max" else taps.mean(axis=0), **tol(dtype, 1))
    g_np = rng.standard_normal(y.shape).astype(dtype)
    g = te.placeholder(y.shape, name="g", dtype=dtype)
    if kind == "max":
        (grad,) = run(topi.max_pool2d_grad(g, x, k, s, p), {g: g_np, x: x_np})
    else:
        (grad,) = run(topi.avg_pool2d_grad(g, shape, k, s, p), {g: g_np})
    np.testing.assert_allclose(grad, np_pool_grad(g_np, x_np, k, strides, p, kind), **tol(dtype, 16))


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_gradients_match_finite_differences(kind):
    rng = np.random.default_rng(5)
    shape, k, s, p = (2, 2, 5, 6), (3, 2), (2, 2), (1, 1)
    x_np = rng.permutation(np.arange(np.prod(shape), dtype="float64")).reshape(shape) / 7  # no ties
    x = te.placeholder(shape, name="x", dtype="float64")
    _, (oh, ow), _ = np_windows(x_np, k, s, p, 0)
    g_np = rng.standard_normal((2, 2, oh, ow))
    g = te.placeholder(g_np.shape, name="g", dtype="float64")
    if kind == "max":
        (grad,) = run(topi.max_pool2d_grad(g, x, k, s, p), {g: g_np, x: x_np})
        loss = lambda v: float(np.sum(g_np * np_windows(v, k, s, p, -np.inf)[0].max(axis=0)))  # noqa: E731
    else:
        (grad,) = run(topi.avg_pool2d_grad(g, shape, k, s, p), {g: g_np})
        loss = lambda v: float(np.sum(g_np * np_windows(v, k, s, p, 0)[0].mean(axis=0)))  # noqa: E731
    np.testing.assert_allclose(grad, numeric_grad(loss, x_np, eps=1e-4), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("k, s, p", [(2, None, 0), (3, 2, 1)])
def test_max_pooling_nan_is_the_maximum(k, s, p):
    """A window holding a NaN pools to NaN and sends its gradient to its first NaN, as
    PyTorch does (the reference takes numpy's argmax, which picks the first NaN)."""
    rng = np.random.default_rng(k)
    shape = (2, 3, 8, 7)
    x_np = rng.standard_normal(shape).astype("float32")
    x_np[rng.random(shape) < 0.15] = np.nan
    x = te.placeholder(shape, name="x")
    taps, out_hw, _ = np_windows(x_np, (k, k), (s or k, s or k), (p, p), -np.inf)
    (y,) = run(topi.max_pool2d(x, k, s, p), {x: x_np})
    np.testing.assert_array_equal(y, taps.max(axis=0))
    g = te.placeholder(y.shape, name="g")
    g_np = rng.standard_normal(y.shape).astype("float32")
    (grad,) = run(topi.max_pool2d_grad(g, x, k, s, p), {g: g_np, x: x_np})
    np.testing.assert_allclose(grad, np_pool_grad(g_np, x_np, (k, k), (s or k, s or k), (p, p), "max"), rtol=1e-6)


def test_pooling_errors():
    x = te.placeholder((1, 2, 6, 6), name="x")
    with pytest.raises(tm.errors.ShapeError, match="at most half the kernel"):
        topi.max_pool2d(x, 2, padding=2)
    with pytest.raises(tm.errors.ShapeError, match="does not fit"):
        topi.avg_pool2d(x, 7)
    with pytest.raises(tm.errors.ShapeError, match="forward output shape"):
        topi.max_pool2d_grad(te.placeholder((1, 2, 2, 2), name="g"), x, 2)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_padding_is_a_stage_computed_where_the_windows_read_it(kind):
    """Padded pooling reads a padded copy of the input computed plane by plane (or row
    of windows by row) right before its windows, so the window loops read it with no
    border test and run as vector code; forward and gradient agree with numpy at a
    ResNet-like shape (3x3 stride 2 padding 1, 14x14 -> 7x7: odd output widths). The
    gradients of these overlapping windows are summed phase by phase."""
    shape, k, s, p = (4, 8, 14, 14), (3, 3), (2, 2), (1, 1)
    x = te.placeholder(shape, name="x")
    forward = topi.max_pool2d if kind == "max" else topi.avg_pool2d
    y = forward(x, k, s, p)
    ir = str(tm.lower(topi.default_schedule(y), [x, y], name=f"padded_{kind}_pool"))
    assert "x.pool_pad" in ir and "vectorized for ox" in ir, ir
    window_reads = [line for line in ir.splitlines() if "x.pool_pad[" in line and "=" in line.split("x.pool_pad[")[0]
                    and "select" in line and not line.strip().startswith("x.pool_pad[")]
    assert window_reads == [], window_reads          # the only select is the padding's own
    rng = np.random.default_rng(3)
    x_np = rng.standard_normal(shape).astype("float32")
    taps, (oh, ow), _ = np_windows(x_np, k, s, p, -np.inf if kind == "max" else 0)
    (y_np,) = run(y, {x: x_np})
    np.testing.assert_allclose(y_np, taps.max(axis=0) if kind == "max" else taps.mean(axis=0), rtol=1e-6)
    g_np = rng.standard_normal(y_np.shape).astype("float32")
    g = te.placeholder(y_np.shape, name="g")
    grad = topi.max_pool2d_grad(g, x, k, s, p) if kind == "max" else topi.avg_pool2d_grad(g, shape, k, s, p)
    grad_ir = str(tm.lower(topi.default_schedule(grad), [g, x, grad], name=f"padded_{kind}_pool_grad"))
    # overlapping windows: the gradient sums by phase, on vector loads of bordered windows
    assert f"{kind}_pool2d_grad.phases" in grad_ir and "vectorized for qx" in grad_ir, grad_ir
    assert "g.bordered" in grad_ir, grad_ir
    (grad_np,) = run(grad, {g: g_np, x: x_np} if kind == "max" else {g: g_np})
    np.testing.assert_allclose(grad_np, np_pool_grad(g_np, x_np, k, s, p, kind), rtol=1e-5, atol=1e-6)
